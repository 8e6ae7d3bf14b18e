//! What a run measured for one strategy, and how the headline numbers are derived from it.
//! Both modes (`model` and `load`) fill the same [`Recorder`], so their rows mean the same.

use crate::scenario::{Micros, SEC};
use serde::Serialize;

const NONE: Micros = Micros::MAX;

/// Raw observations of one strategy's run, indexed by client (0-based) and by voucher serial.
#[derive(Debug, Clone)]
pub struct Recorder {
    opens_at: Micros,
    per_sec: Vec<u32>,
    requests: u64,
    setup_requests: u64,
    shed: u64,
    first_request: Vec<Micros>,
    knows_at: Vec<Micros>,
    held: Vec<u64>,
    double_holders: Vec<bool>,
    rank: Vec<u64>,
    next_arrival_rank: u64,
    /// `issued_to[serial - 1]` = the client the server issued that voucher to.
    issued_to: Vec<u32>,
    last_issue_at: Micros,
    sleepy: Vec<bool>,
}

impl Recorder {
    pub fn new(clients: u32, opens_at: Micros) -> Self {
        let n = clients as usize;
        Recorder {
            opens_at,
            per_sec: Vec::new(),
            requests: 0,
            setup_requests: 0,
            shed: 0,
            first_request: vec![NONE; n],
            knows_at: vec![NONE; n],
            held: vec![0; n],
            double_holders: vec![false; n],
            rank: vec![0; n],
            next_arrival_rank: 0,
            issued_to: Vec::new(),
            last_issue_at: 0,
            sleepy: vec![false; n],
        }
    }

    /// The client is silent from just after taking its place until after closing.
    pub fn sleepy(&mut self, client: u32) {
        self.sleepy[client as usize] = true;
    }

    /// A request of the scenario reached the server at `at` (registration is not one).
    pub fn request(&mut self, client: u32, at: Micros) {
        self.requests += 1;
        let bin = (at / SEC) as usize;
        if bin >= self.per_sec.len() {
            self.per_sec.resize(bin + 1, 0);
        }
        self.per_sec[bin] += 1;
        let first = &mut self.first_request[client as usize];
        if *first == NONE {
            *first = at;
        }
    }

    /// Requests made before the scenario (registration, the campaign fetch).
    pub fn setup_requests(&mut self, n: u64) {
        self.setup_requests += n;
    }

    /// The request was refused with 503 or dropped.
    pub fn shed(&mut self) {
        self.shed += 1;
    }

    /// Ranks a client by the order its first request reached the server (the first-come
    /// order); the lineup server ranks by draw position instead with [`Recorder::set_rank`].
    pub fn rank_by_arrival(&mut self, client: u32) {
        let r = &mut self.rank[client as usize];
        if *r == 0 {
            self.next_arrival_rank += 1;
            *r = self.next_arrival_rank;
        }
    }

    /// The client's place in the server's queue order (1-based).
    pub fn set_rank(&mut self, client: u32, rank: u64) {
        self.rank[client as usize] = rank;
    }

    /// The server issued voucher `serial` (1-based, dense) to `client` at `at`.
    pub fn issued(&mut self, serial: u64, client: u32, at: Micros) {
        let i = (serial - 1) as usize;
        if self.issued_to.len() <= i {
            self.issued_to.resize(i + 1, u32::MAX);
        }
        self.issued_to[i] = client;
        self.last_issue_at = self.last_issue_at.max(at);
    }

    /// The client received voucher `serial`.
    pub fn received(&mut self, client: u32, serial: u64) {
        let held = &mut self.held[client as usize];
        if *held != 0 && *held != serial {
            self.double_holders[client as usize] = true;
        }
        *held = serial;
    }

    /// The client learned its fate (a voucher, or that the supply will not reach it) at `at`.
    /// Only the first time counts.
    pub fn knows(&mut self, client: u32, at: Micros) {
        let k = &mut self.knows_at[client as usize];
        if *k == NONE {
            *k = at;
        }
    }

    /// Derives the row of the results table.
    pub fn finish(
        &self,
        name: &str,
        vouchers: u32,
        capacity: f64,
        reject_cost: Option<f64>,
        ended_at: Micros,
    ) -> StrategyReport {
        let clients = self.first_request.len() as u64;
        let issued = self.issued_to.iter().filter(|&&c| c != u32::MAX).count() as u64;
        let target = u64::from(vouchers).min(clients);
        let drain_seconds = (issued >= target && issued > 0)
            .then(|| self.last_issue_at.saturating_sub(self.opens_at) as f64 / SEC as f64);
        let drain_floor = target as f64 / capacity;
        let drain_ratio = drain_seconds.map(|d| d / drain_floor);

        let mut waits: Vec<Micros> = self
            .first_request
            .iter()
            .zip(&self.knows_at)
            .filter(|(first, _)| **first != NONE)
            .map(|(&first, &knows)| {
                let knows = if knows == NONE { ended_at } else { knows };
                knows.saturating_sub(first.max(self.opens_at))
            })
            .collect();
        let (p50, p99) = (quantile(&mut waits, 0.50), quantile(&mut waits, 0.99));

        // Vouchers that went to someone within the first `issued` places of the queue order.
        let in_order = self
            .issued_to
            .iter()
            .filter(|&&c| c != u32::MAX)
            .filter(|&&c| {
                let r = self.rank[c as usize];
                r != 0 && r <= issued
            })
            .count() as u64;
        let fairness = if issued == 0 {
            1.0
        } else {
            in_order as f64 / issued as f64
        };

        let lost = self
            .issued_to
            .iter()
            .enumerate()
            .filter(|&(i, &c)| c == u32::MAX || self.held[c as usize] != i as u64 + 1)
            .count() as u64;
        let mut per_client = vec![0u8; clients as usize];
        for &c in self.issued_to.iter().filter(|&&c| c != u32::MAX) {
            per_client[c as usize] = per_client[c as usize].saturating_add(1);
        }
        let duplicates = per_client
            .iter()
            .zip(&self.double_holders)
            .filter(|&(&n, &d)| n > 1 || d)
            .count() as u64;

        let requests_per_client = self.requests as f64 / clients.max(1) as f64;
        let request_floor = 2.0 + target as f64 / clients.max(1) as f64;
        let sleepy = || self.sleepy.iter().enumerate().filter(|&(_, &s)| s).map(|(c, _)| c);
        let sleepy_winners = sleepy()
            .filter(|&c| self.rank[c] != 0 && self.rank[c] <= u64::from(vouchers))
            .count() as u64;
        let sleepy_holding = sleepy().filter(|&c| self.held[c] != 0).count() as u64;

        StrategyReport {
            name: name.to_owned(),
            reject_cost,
            clients,
            vouchers_issued: issued,
            requests_total: self.requests,
            requests_per_client,
            request_floor,
            floor_ratio: requests_per_client / request_floor,
            setup_requests: self.setup_requests,
            peak_rps: u64::from(self.per_sec.iter().copied().max().unwrap_or(0)),
            shed_total: self.shed,
            drain_seconds,
            drain_ratio,
            p50_wait_s: p50 as f64 / SEC as f64,
            p99_wait_s: p99 as f64 / SEC as f64,
            fairness,
            lost,
            duplicates,
            sleepy_clients: sleepy().count() as u64,
            sleepy_winners,
            sleepy_holding,
            per_sec: self.per_sec.clone(),
        }
    }
}

/// The `q` quantile (nearest rank) of `v`, 0 when empty. Reorders `v`.
fn quantile(v: &mut [Micros], q: f64) -> Micros {
    if v.is_empty() {
        return 0;
    }
    let k = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    *v.select_nth_unstable(k).1
}

/// One row of the results: what a strategy cost the server and the people.
#[derive(Clone, PartialEq, Serialize)]
pub struct StrategyReport {
    pub name: String,
    /// The cost of a 503, in issuances, this row was run with (model mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_cost: Option<f64>,
    pub clients: u64,
    pub vouchers_issued: u64,
    /// Every request during the scenario (registration excluded).
    pub requests_total: u64,
    pub requests_per_client: f64,
    /// `2 + V / N`: take a place, learn the result, and (winners) receive the voucher.
    pub request_floor: f64,
    /// `requests_per_client / request_floor`.
    pub floor_ratio: f64,
    /// Requests before the scenario (registration and, for `lineup`, nothing else).
    pub setup_requests: u64,
    /// The most requests reaching the server in one second.
    pub peak_rps: u64,
    /// Requests refused with 503 or dropped by a full listen queue.
    pub shed_total: u64,
    /// From opening to the last voucher issued; absent when not every voucher was issued.
    pub drain_seconds: Option<f64>,
    /// `drain_seconds / (V / C)`.
    pub drain_ratio: Option<f64>,
    /// From opening (or the person's first request, if later) until they know their fate.
    pub p50_wait_s: f64,
    pub p99_wait_s: f64,
    /// Share of vouchers issued to people within the first `vouchers_issued` places of the
    /// queue order (draw position for `lineup`, first arrival for the first-come baselines).
    pub fairness: f64,
    /// Vouchers issued on the server that no client holds.
    pub lost: u64,
    /// Identities holding more than one voucher.
    pub duplicates: u64,
    /// People silent from just after taking their place until after closing (`--sleepy`).
    pub sleepy_clients: u64,
    /// Sleepy people whose place in the queue order is within the supply (the draw made them
    /// winners).
    pub sleepy_winners: u64,
    /// Sleepy people holding a voucher at the end.
    pub sleepy_holding: u64,
    /// Requests reaching the server in each second since the pre-queue opened (for the plot).
    #[serde(skip)]
    pub per_sec: Vec<u32>,
}

impl std::fmt::Debug for StrategyReport {
    /// The row as its JSON (the per-second series left out: it is thousands of numbers).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match serde_json::to_string(self) {
            Ok(json) => f.write_str(&json),
            Err(_) => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_derived_from_observations() {
        let opens = 10 * SEC;
        let mut r = Recorder::new(4, opens);
        r.setup_requests(4);
        // Clients 0..4 arrive in order; 0 and 2 win.
        for c in 0..4u32 {
            r.request(c, opens + u64::from(c) * 1000);
            r.rank_by_arrival(c);
        }
        r.request(0, opens + SEC / 2);
        r.shed();
        r.issued(1, 0, opens + 2 * SEC);
        r.issued(2, 2, opens + 3 * SEC);
        r.received(0, 1);
        r.received(2, 2);
        for c in 0..4u32 {
            r.knows(c, opens + 3 * SEC);
        }
        let row = r.finish("x", 2, 1.0, Some(0.0), opens + 5 * SEC);
        assert_eq!(row.vouchers_issued, 2);
        assert_eq!(row.requests_total, 5);
        assert_eq!(row.setup_requests, 4);
        assert_eq!(row.peak_rps, 5);
        assert_eq!(row.shed_total, 1);
        assert_eq!(row.drain_seconds, Some(3.0));
        assert_eq!(row.drain_ratio, Some(1.5));
        // Client 2 is third in line but got a voucher ahead of client 1: half in order.
        assert_eq!(row.fairness, 0.5);
        assert_eq!((row.lost, row.duplicates), (0, 0));
        assert!((row.p50_wait_s - 3.0).abs() < 0.01);
        // 5 requests for 4 people against a floor of 2 + 2/4.
        assert_eq!(row.request_floor, 2.5);
        assert_eq!(row.floor_ratio, 0.5);
        assert_eq!((row.sleepy_clients, row.sleepy_winners, row.sleepy_holding), (0, 0, 0));
    }

    #[test]
    fn sleepy_winners_and_holders_are_counted() {
        let mut r = Recorder::new(4, 0);
        for c in 0..4u32 {
            r.request(c, 1);
            r.set_rank(c, u64::from(4 - c));
        }
        // Clients 2 and 3 are sleepy; 3 (rank 1) and 2 (rank 2) are winners of 2 vouchers;
        // only 3 ends holding one, the other went to client 1 (rank 3).
        r.sleepy(2);
        r.sleepy(3);
        r.issued(1, 3, 5);
        r.issued(2, 1, 6);
        r.received(3, 1);
        r.received(1, 2);
        let row = r.finish("x", 2, 1.0, None, 10);
        assert_eq!((row.sleepy_clients, row.sleepy_winners, row.sleepy_holding), (2, 2, 1));
        assert_eq!(row.fairness, 0.5);
    }

    #[test]
    fn lost_and_duplicated_vouchers_are_counted() {
        let mut r = Recorder::new(3, 0);
        for c in 0..3u32 {
            r.request(c, 1);
        }
        // Serial 1's reply never reached client 0; client 1 got two different vouchers.
        r.issued(1, 0, 5);
        r.issued(2, 1, 6);
        r.issued(3, 1, 7);
        r.received(1, 2);
        r.received(1, 3);
        let row = r.finish("x", 3, 1.0, None, 10);
        assert_eq!(row.lost, 2, "serial 1 (never received) and serial 2 (replaced)");
        assert_eq!(row.duplicates, 1);
        // Every voucher issued: the drain ends at the last one (7 µs after opening).
        assert!(row.drain_seconds.is_some_and(|d| (d - 7e-6).abs() < 1e-12));
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let mut v: Vec<Micros> = (1..=100).collect();
        assert_eq!(quantile(&mut v, 0.5), 50);
        assert_eq!(quantile(&mut v, 0.99), 99);
        assert_eq!(quantile(&mut [], 0.5), 0);
    }
}
