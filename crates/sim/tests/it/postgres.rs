//! The load mode on three `lineup-server` instances sharing one PostgreSQL, every request of a
//! person going to the next instance.
//!
//! Needs `LINEUP_TEST_DATABASE_URL` (an admin URL; `scripts/test` starts a throwaway cluster and
//! sets it). Without it the test fails, unless `LINEUP_SKIP_POSTGRES=1` says to skip it, which
//! is for a quick local run only (the same convention as the server's PostgreSQL tests).

use clap::Parser;
use lineup_sim::cli::SurgeArgs;
use lineup_sim::load::{LoadArgs, ServerArgs, run};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    surge: SurgeArgs,
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    servers: ServerArgs,
}

/// The admin URL of the test PostgreSQL; `None` only when skipping was asked for explicitly.
fn admin_url() -> Option<String> {
    match std::env::var("LINEUP_TEST_DATABASE_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ if std::env::var("LINEUP_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("NOTICE: LINEUP_SKIP_POSTGRES=1 and no LINEUP_TEST_DATABASE_URL: PostgreSQL load run skipped");
            None
        }
        _ => panic!(
            "LINEUP_TEST_DATABASE_URL is not set. Run scripts/test (it starts a throwaway PostgreSQL), \
             give an admin URL such as postgres://lineup@127.0.0.1:5432/postgres, \
             or set LINEUP_SKIP_POSTGRES=1 to skip the PostgreSQL variants locally"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_postgresql_lose_and_double_nothing_whichever_instance_answers() {
    let Some(url) = admin_url() else { return };
    // `lineup` only, and a short line (admission 97/s, waitlist re-checks over 2.5 s): the
    // baselines run on this path in the SQLite test, and CI time is precious.
    let args = Args::parse_from([
        "lineup-sim",
        "--clients",
        "300",
        "--vouchers",
        "60",
        "--capacity",
        "100",
        "--strategies",
        "lineup",
        "--prequeue-s",
        "4",
        "--draw-lead-s",
        "2",
        "--admission-window-s",
        "3",
        "--servers",
        "3",
        "--route",
        "request",
        "--db",
        &url,
    ]);
    let setup = args.servers.setup().unwrap();
    let (scenario, rows) = run(&args.surge, &args.load, &setup).await.unwrap();
    assert_eq!(scenario.servers, 3);
    assert!(scenario.db.starts_with("postgres"), "{}", scenario.db);
    assert_eq!(scenario.route, "request");
    assert_eq!(rows.len(), 1);
    for r in &rows {
        assert_eq!(r.clients, 300);
        assert_eq!(r.vouchers_issued, 60, "{r:?}");
        assert_eq!((r.lost, r.duplicates), (0, 0), "{r:?}");

        // Every instance served a fair share of the scenario (person i's k-th request goes to
        // instance i+k mod 3), and its own counters say so too.
        let sent = &scenario.instance_requests[r.name.as_str()];
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert_eq!(sent.iter().sum::<u64>(), r.requests_total, "{sent:?} {r:?}");
        for &n in sent {
            assert!(n * 6 >= r.requests_total, "{} unbalanced: {sent:?}", r.name);
        }
        let m = &scenario.server_metrics[r.name.as_str()];
        for k in 0..3 {
            let served = m.get(&format!("lineup_requests_total{{instance={k}}}")).copied();
            assert!(served.is_some_and(|n| n > 0.0), "instance {k} of {}: {m:?}", r.name);
        }
        // Campaign totals come from the shared database: counted once, not once per instance.
        assert_eq!(m.get("lineup_issued_total").copied(), Some(60.0), "{m:?}");
    }
    super::assert_lineup_targets(&scenario, &rows[0]);
}
