//! `lineup-sim model`: the surge as a discrete-event simulation in virtual time. Each
//! (strategy, reject cost) pair runs against its own fresh server with the same scenario and
//! seed; the runs are independent, so they are spread over the machine's cores.
//!
//! `lineup` runs in one or both issuance modes (`--issuance`): `client` (row `lineup`), the
//! explicit claim each winner sends at its admission instant, driven by the engine the app
//! ships; `server` (row `lineup-auto`), where each client opts in when taking its place and the
//! server issues its voucher at its turn (`auto.rs`).

pub mod auto;
pub mod baseline;
pub mod first_come;
pub mod line;
pub mod lineup;

use crate::scenario::{Micros, SEC, Scenario};
use crate::stats::StrategyReport;
use crate::strategy::Strategy;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Who issues a `lineup` winner's voucher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Issuance {
    /// The server, at the ticket's `admit_at` (the client opted in when taking its place).
    Server,
    /// The client, with an explicit claim at its admission instant.
    Client,
    /// Both, side by side (rows `lineup` and `lineup-auto`).
    Both,
}

impl Issuance {
    pub fn name(self) -> &'static str {
        match self {
            Issuance::Server => "server",
            Issuance::Client => "client",
            Issuance::Both => "both",
        }
    }

    /// The `lineup` variants this choice runs, explicit claims first.
    pub fn variants(self) -> &'static [Variant] {
        match self {
            Issuance::Server => &[Variant::LineupAuto],
            Issuance::Client => &[Variant::Plain(Strategy::Lineup)],
            Issuance::Both => &[Variant::Plain(Strategy::Lineup), Variant::LineupAuto],
        }
    }
}

/// One row's client population.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// A strategy as it is (`lineup`: explicit claims through the engine).
    Plain(Strategy),
    /// `lineup` clients opted in to server-side issuance.
    LineupAuto,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Plain(s) => s.name(),
            Variant::LineupAuto => auto::NAME,
        }
    }
}

/// Salt of the choice of sleepy people (the same people in every row of a run).
const SLEEPY_SALT: u64 = 0x736c65657079;
/// Sleepy people come back within this long after closing.
pub const SLEEPY_RETURN_SPREAD: Micros = 60 * SEC;

/// When each person wakes after sleeping through the drop (`closes_at` plus up to a minute),
/// or `None` for the people who stay awake; a share `s.sleepy` of them sleeps.
pub fn sleepers(s: &Scenario) -> Vec<Option<Micros>> {
    let mut rng = Pcg64::seed_from_u64(s.seed ^ SLEEPY_SALT);
    (0..s.clients)
        .map(|_| {
            let sleeps = rng.random::<f64>() < s.sleepy;
            let at = s.closes_at() + rng.random_range(0..=SLEEPY_RETURN_SPREAD);
            sleeps.then_some(at)
        })
        .collect()
}

/// Runs one strategy under `s` (whose `costs.reject` is the rejection cost of this run);
/// `lineup` with explicit claims.
pub fn run_one(s: &Scenario, strategy: Strategy) -> StrategyReport {
    run_variant(s, Variant::Plain(strategy))
}

/// Runs one row's population under `s`.
pub fn run_variant(s: &Scenario, variant: Variant) -> StrategyReport {
    match variant {
        Variant::Plain(Strategy::Lineup) => lineup::run(s),
        Variant::Plain(other) => baseline::run(s, other),
        Variant::LineupAuto => auto::run(s),
    }
}

/// Runs every strategy for every rejection cost on up to `threads` threads; rows come back
/// grouped by rejection cost, strategies in the order given. `lineup` uses explicit claims.
pub fn run_all(s: &Scenario, strategies: &[Strategy], reject_costs: &[f64], threads: usize) -> Vec<StrategyReport> {
    run_all_issuance(s, strategies, Issuance::Client, reject_costs, threads)
}

/// As [`run_all`], with `lineup` expanded into the rows `issuance` asks for.
pub fn run_all_issuance(
    s: &Scenario,
    strategies: &[Strategy],
    issuance: Issuance,
    reject_costs: &[f64],
    threads: usize,
) -> Vec<StrategyReport> {
    let variants: Vec<Variant> = strategies
        .iter()
        .flat_map(|&st| match st {
            Strategy::Lineup => issuance.variants().to_vec(),
            other => vec![Variant::Plain(other)],
        })
        .collect();
    let jobs: Vec<(f64, Variant)> = reject_costs
        .iter()
        .flat_map(|&rc| variants.iter().map(move |&v| (rc, v)))
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<StrategyReport>>> = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(rc, variant)) = jobs.get(i) else { break };
                    let mut scenario = s.clone();
                    scenario.costs.reject = rc;
                    let started = std::time::Instant::now();
                    let row = run_variant(&scenario, variant);
                    tracing::info!(
                        strategy = variant.name(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleepers_are_a_seeded_share_who_wake_after_closing() {
        let s = Scenario {
            clients: 10_000,
            sleepy: 0.3,
            ..Scenario::default()
        };
        let a = sleepers(&s);
        assert_eq!(a, sleepers(&s));
        let n = a.iter().flatten().count();
        assert!((2_800..=3_200).contains(&n), "{n}");
        assert!(
            a.iter()
                .flatten()
                .all(|&t| t >= s.closes_at() && t <= s.closes_at() + SLEEPY_RETURN_SPREAD)
        );
        assert!(
            sleepers(&Scenario {
                sleepy: 0.0,
                ..s.clone()
            })
            .iter()
            .all(Option::is_none)
        );
        assert!(sleepers(&Scenario { sleepy: 1.0, ..s }).iter().all(Option::is_some));
    }

    #[test]
    fn issuance_expands_lineup_only() {
        let names = |i: Issuance| i.variants().iter().map(|v| v.name()).collect::<Vec<_>>();
        assert_eq!(names(Issuance::Both), ["lineup", "lineup-auto"]);
        assert_eq!(names(Issuance::Server), ["lineup-auto"]);
        assert_eq!(names(Issuance::Client), ["lineup"]);
    }
}
