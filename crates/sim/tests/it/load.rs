//! The load mode against a real `lineup-server` on loopback, small enough to take seconds.

use clap::Parser;
use lineup_sim::cli::SurgeArgs;
use lineup_sim::load::{LoadArgs, ServerSetup, run};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    surge: SurgeArgs,
    #[command(flatten)]
    load: LoadArgs,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_surge_on_a_real_server_loses_and_doubles_nothing() {
    let args = Args::parse_from([
        "lineup-sim",
        "--clients",
        "300",
        "--vouchers",
        "60",
        "--capacity",
        "40",
        "--strategies",
        "lineup,hammer",
        "--prequeue-s",
        "5",
        "--draw-lead-s",
        "2.5",
        "--admission-window-s",
        "3",
    ]);
    let (scenario, rows) = run(&args.surge, &args.load, &ServerSetup::default()).await.unwrap();
    assert_eq!(scenario.registration_requests, 300);
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.clients, 300);
        assert_eq!(r.vouchers_issued, 60, "{r:?}");
        assert_eq!((r.lost, r.duplicates), (0, 0), "{r:?}");
    }
    // Whichever instance answers each request (one here, three in `postgres`).
    super::assert_lineup_targets(&scenario, &rows[0]);
    // The server's own counters agree on what was issued.
    let m = &scenario.server_metrics["lineup"];
    assert_eq!(m.get("lineup_issued_total").copied(), Some(60.0), "{m:?}");
}
