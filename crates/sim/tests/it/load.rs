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
    let lineup = &rows[0];
    assert_eq!(lineup.name, "lineup");
    // Slot, result and claim for winners; slot, result and at most one re-check for the
    // waitlist (a ticket taken after the draw learns its place in the slot answer itself).
    // A claim sent a few milliseconds before the admission instant (the engine's clock is
    // anchored on the campaign's `server_time`, whole milliseconds) is refused with 409
    // `not_admitted` and asked again: those retries are counted apart, and stay rare.
    let early = scenario.server_metrics["lineup"]
        .get("lineup_requests_total{status=409}")
        .copied()
        .unwrap_or(0.0) as u64;
    assert!(
        lineup.requests_total - early.min(lineup.requests_total) <= 3 * 300,
        "{lineup:?}"
    );
    assert!(early <= 15, "{early} early claims: {lineup:?}");
    assert_eq!(lineup.shed_total, 0);
    assert!(lineup.fairness >= 0.99, "{lineup:?}");
    // The server's own counters agree on what was issued.
    let m = &scenario.server_metrics["lineup"];
    assert_eq!(m.get("lineup_issued_total").copied(), Some(60.0), "{m:?}");
}
