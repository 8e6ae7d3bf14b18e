//! The calm clients: people running the shipped `lineup` engine through the shipped API client,
//! as `load` runs them, with two more things kept for the attack report: each request's
//! latency and how each person's claim ended.

use crate::load::Shared;
use crate::load::clients::{Transport, drive_lineup};
use lineup_core::api::ApiClient;
use lineup_core::engine::{Outcome, Reply, Request};
use lineup_protocol::CampaignId;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The ending of people stopped at the calm deadline (counted as failed).
pub const UNFINISHED: &str = "failed: unfinished at the calm deadline";

/// What the calm clients saw beyond the load mode's [`crate::stats::Recorder`].
#[derive(Debug, Default)]
pub struct CalmLog {
    latencies_us: Mutex<Vec<u64>>,
    outcomes: Mutex<BTreeMap<String, u64>>,
}

/// Request latencies and endings, summarized.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CalmSummary {
    pub requests: u64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    /// People by how their claim ended: `holding`, `sold_out`, `waitlisted`, ...,
    /// `failed: <reason>`.
    pub outcomes: BTreeMap<String, u64>,
}

impl CalmSummary {
    /// People whose claim ended in failure (no voucher and no final answer from the server).
    pub fn failed(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(k, _)| k.starts_with("failed"))
            .map(|(_, v)| v)
            .sum()
    }
}

/// The `q` quantile (nearest rank) of sorted `v`.
pub fn quantile_sorted(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let k = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[k]
}

impl CalmLog {
    fn latency(&self, us: u64) {
        if let Ok(mut v) = self.latencies_us.lock() {
            v.push(us);
        }
    }

    fn ended(&self, outcome: &Outcome) {
        let what = match outcome {
            Outcome::Holding(_) => "holding".to_owned(),
            Outcome::Waitlisted => "waitlisted".to_owned(),
            Outcome::SoldOut => "sold_out".to_owned(),
            Outcome::Expired => "expired".to_owned(),
            Outcome::Closed => "closed".to_owned(),
            Outcome::Returned => "returned".to_owned(),
            Outcome::Failed(reason) => format!("failed: {reason:?}"),
        };
        if let Ok(mut m) = self.outcomes.lock() {
            *m.entry(what).or_insert(0) += 1;
        }
    }

    /// `n` people stopped at the calm deadline without an ending.
    pub fn unfinished(&self, n: u64) {
        if n > 0
            && let Ok(mut m) = self.outcomes.lock()
        {
            *m.entry(UNFINISHED.to_owned()).or_insert(0) += n;
        }
    }

    pub fn summary(&self) -> CalmSummary {
        let mut v = self.latencies_us.lock().map(|v| v.clone()).unwrap_or_default();
        v.sort_unstable();
        let ms = |us: u64| us as f64 / 1000.0;
        CalmSummary {
            requests: v.len() as u64,
            latency_p50_ms: ms(quantile_sorted(&v, 0.50)),
            latency_p99_ms: ms(quantile_sorted(&v, 0.99)),
            latency_max_ms: ms(v.last().copied().unwrap_or(0)),
            outcomes: self.outcomes.lock().map(|m| m.clone()).unwrap_or_default(),
        }
    }
}

/// One calm person, as `load::clients::run_lineup` (the engine the app ships, the claim record
/// in memory) through their own client ([`super::people`]), timing every request.
pub(crate) async fn run(client: u32, api: ApiClient, shared: Arc<Shared>, log: Arc<CalmLog>, seed: u64) {
    let timed = Timed { api, log: log.clone() };
    if let Some(outcome) = drive_lineup(client, &shared, seed, timed).await {
        log.ended(&outcome);
    }
}

/// A calm person's client, timing each request.
struct Timed {
    api: ApiClient,
    log: Arc<CalmLog>,
}

impl Transport for Timed {
    async fn send(&mut self, shared: &Shared, cid: &CampaignId, req: &Request) -> Reply {
        let started = Instant::now();
        shared.sent_to(0);
        let reply = self.api.execute(cid, req).await;
        self.log
            .latency(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_failures() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile_sorted(&v, 0.5), 50);
        assert_eq!(quantile_sorted(&v, 0.99), 99);
        assert_eq!(quantile_sorted(&[], 0.99), 0);
        let s = CalmSummary {
            outcomes: [
                ("holding".into(), 3),
                ("failed: GaveUp".into(), 2),
                ("sold_out".into(), 1),
            ]
            .into(),
            ..CalmSummary::default()
        };
        assert_eq!(s.failed(), 2);
        let log = CalmLog::default();
        log.unfinished(0);
        log.unfinished(3);
        assert_eq!(log.summary().failed(), 3);
        assert_eq!(log.summary().outcomes[UNFINISHED], 3);
    }
}
