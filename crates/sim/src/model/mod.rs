//! `lineup-sim model`: the surge as a discrete-event simulation in virtual time. Each
//! (strategy, reject cost) pair runs against its own fresh server with the same scenario and
//! seed; the runs are independent, so they are spread over the machine's cores.

pub mod baseline;
pub mod first_come;
pub mod line;
pub mod lineup;

use crate::scenario::Scenario;
use crate::stats::StrategyReport;
use crate::strategy::Strategy;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs one strategy under `s` (whose `costs.reject` is the rejection cost of this run).
pub fn run_one(s: &Scenario, strategy: Strategy) -> StrategyReport {
    match strategy {
        Strategy::Lineup => lineup::run(s),
        other => baseline::run(s, other),
    }
}

/// Runs every strategy for every rejection cost on up to `threads` threads; rows come back
/// grouped by rejection cost, strategies in the order given.
pub fn run_all(s: &Scenario, strategies: &[Strategy], reject_costs: &[f64], threads: usize) -> Vec<StrategyReport> {
    let jobs: Vec<(f64, Strategy)> = reject_costs
        .iter()
        .flat_map(|&rc| strategies.iter().map(move |&st| (rc, st)))
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<StrategyReport>>> = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(rc, strategy)) = jobs.get(i) else { break };
                    let mut scenario = s.clone();
                    scenario.costs.reject = rc;
                    let started = std::time::Instant::now();
                    let row = run_one(&scenario, strategy);
                    tracing::info!(
                        strategy = strategy.name(),
                        reject_cost = rc,
                        secs = started.elapsed().as_secs_f64(),
                        "simulated"
                    );
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(row);
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_default().into_iter().flatten().collect()
}
