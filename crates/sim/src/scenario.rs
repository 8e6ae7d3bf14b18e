//! The surge being simulated: how many people, how many vouchers, what the server can do and
//! what each kind of request costs it. Everything the results depend on lives here, so a run
//! prints its scenario next to its numbers.

use serde::Serialize;

/// Virtual time in microseconds since the pre-queue opened.
pub type Micros = u64;

/// Microseconds per second.
pub const SEC: Micros = 1_000_000;

/// Converts seconds (as typed on the command line) to virtual microseconds.
pub fn secs(s: f64) -> Micros {
    (s.max(0.0) * SEC as f64).round() as Micros
}

/// What a request costs the server, in units of one issuance (a claim that writes a voucher).
/// The server can do `capacity` units per second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Costs {
    /// A claim that writes a voucher durably.
    pub issue: f64,
    /// Any other request the server answers from its state: taking or reading a ticket, a
    /// refused claim (409/410), a replayed claim.
    pub read: f64,
    /// A request refused at the door with 503 `overloaded` (accept, TLS, parse, answer).
    pub reject: f64,
    /// One voucher issued by the server itself inside a batch (server-side issuance), in
    /// issuances: 0.1 by default (group commit: one transaction, signatures outside it;
    /// issue 10 measured 844 lone claims/s against 50,000+ batched inserts/s on SQLite).
    pub batch_issue: f64,
}

/// Why a scenario cannot be run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    #[error("{name} must be a finite number >= 0 (got {value})")]
    Negative { name: &'static str, value: f64 },
    #[error("the draw lead ({lead_s} s) must be shorter than the pre-queue window ({window_s} s)")]
    DrawLead { lead_s: f64, window_s: f64 },
    #[error("the server's queue bound ({queue_s} s) must not exceed its backlog bound ({backlog_s} s)")]
    Bounds { queue_s: f64, backlog_s: f64 },
    #[error("the loss rate must be in [0, 1) (got {0})")]
    Loss(f64),
    #[error("the sleepy share must be in [0, 1] (got {0})")]
    Sleepy(f64),
    #[error("the issuance batch interval must be > 0 ms (got {0})")]
    BatchInterval(f64),
}

/// One surge, as the model sees it. Virtual time 0 is when the pre-queue opens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// People who want a voucher (one registered identity each).
    pub clients: u32,
    /// Vouchers on offer (V).
    pub vouchers: u32,
    /// Issuances per second the server can sustain (C); every other cost is a fraction of one.
    pub capacity: f64,
    /// Length of the pre-queue window before opening, seconds.
    pub prequeue_s: f64,
    /// `opens_at - draw_at`, seconds.
    pub draw_lead_s: f64,
    /// Admissions per second as a share of `capacity` (a little under 1 so stragglers never
    /// push the server into shedding).
    pub admission_share: f64,
    /// How long an admitted person has to claim, seconds.
    pub admission_window_s: f64,
    /// Request costs.
    pub costs: Costs,
    /// The server refuses (503) a request that would wait longer than this for capacity.
    pub max_queue_s: f64,
    /// Beyond this much queued work the listen queue is full: connections are dropped at no
    /// cost and the client only notices when its timeout fires.
    pub max_backlog_s: f64,
    /// Network round trip, milliseconds (half each way).
    pub rtt_ms: f64,
    /// How long a client waits for a reply that never comes, seconds.
    pub client_timeout_s: f64,
    /// Share of replies lost on the way back (the server did the work; the client times out).
    pub loss: f64,
    /// Baselines stop after this many seconds of failing.
    pub give_up_s: f64,
    /// Baselines make their first attempt uniformly within this many seconds centred on
    /// opening (people are at their screens at the announced second).
    pub crowd_spread_s: f64,
    /// How long the campaign stays open after `opens_at`, seconds.
    pub open_for_s: f64,
    /// How the model server spreads the waitlist's re-checks.
    pub waitlist_checks: WaitlistChecks,
    /// Share of people silent from just after taking their place until after closing (a
    /// suspended phone); they then make one request.
    pub sleepy: f64,
    /// Server-side issuance: an opted-in winner is told to fetch its voucher this long after
    /// its `admit_at` (`check_at = admit_at + lag`), seconds.
    pub fetch_lag_s: f64,
    /// Server-side issuance: the issuer commits a batch every this many milliseconds.
    pub issue_batch_ms: f64,
    /// Server-side issuance: at most this many vouchers per batch (transaction).
    pub issue_batch_max: u32,
    pub seed: u64,
}

/// When the server tells a waitlisted ticket to check again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum WaitlistChecks {
    /// The earliest a returned voucher could reach waitlist place k: the first unclaimed
    /// admission's deadline plus (k - 1) admission intervals.
    Spread,
    /// The first unclaimed admission's deadline, the same instant for every waitlisted ticket
    /// (the literal reading of `docs/protocol.md`).
    Earliest,
}

impl Default for Scenario {
    /// The reference surge of `surge-design.md`.
    fn default() -> Self {
        Scenario {
            clients: 100_000,
            vouchers: 20_000,
            capacity: 2_000.0,
            prequeue_s: 600.0,
            draw_lead_s: 60.0,
            admission_share: 0.97,
            admission_window_s: 300.0,
            costs: Costs {
                issue: 1.0,
                read: 0.05,
                reject: 0.02,
                batch_issue: 0.1,
            },
            max_queue_s: 0.5,
            max_backlog_s: 2.0,
            rtt_ms: 40.0,
            client_timeout_s: 10.0,
            loss: 0.0,
            give_up_s: 300.0,
            crowd_spread_s: 2.0,
            open_for_s: 3_600.0,
            waitlist_checks: WaitlistChecks::Spread,
            sleepy: 0.0,
            fetch_lag_s: 1.0,
            issue_batch_ms: 20.0,
            issue_batch_max: 5_000,
            seed: 1,
        }
    }
}

impl Scenario {
    /// Checks the parameters once, so the simulation can trust them.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.clients == 0 {
            return Err(ScenarioError::Zero("clients"));
        }
        if self.vouchers == 0 {
            return Err(ScenarioError::Zero("vouchers"));
        }
        if !(self.capacity.is_finite() && self.capacity >= 1.0) {
            return Err(ScenarioError::Zero("capacity"));
        }
        for (name, value) in [
            ("prequeue_s", self.prequeue_s),
            ("draw_lead_s", self.draw_lead_s),
            ("admission_window_s", self.admission_window_s),
            ("cost_issue", self.costs.issue),
            ("cost_read", self.costs.read),
            ("reject_cost", self.costs.reject),
            ("cost_batch_issue", self.costs.batch_issue),
            ("fetch_lag_s", self.fetch_lag_s),
            ("max_queue_s", self.max_queue_s),
            ("max_backlog_s", self.max_backlog_s),
            ("rtt_ms", self.rtt_ms),
            ("client_timeout_s", self.client_timeout_s),
            ("give_up_s", self.give_up_s),
            ("crowd_spread_s", self.crowd_spread_s),
            ("open_for_s", self.open_for_s),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ScenarioError::Negative { name, value });
            }
        }
        if !(self.admission_share.is_finite() && self.admission_share > 0.0) {
            return Err(ScenarioError::Negative {
                name: "admission_share",
                value: self.admission_share,
            });
        }
        if self.draw_lead_s >= self.prequeue_s {
            return Err(ScenarioError::DrawLead {
                lead_s: self.draw_lead_s,
                window_s: self.prequeue_s,
            });
        }
        if self.max_queue_s > self.max_backlog_s {
            return Err(ScenarioError::Bounds {
                queue_s: self.max_queue_s,
                backlog_s: self.max_backlog_s,
            });
        }
        if !(0.0..1.0).contains(&self.loss) {
            return Err(ScenarioError::Loss(self.loss));
        }
        if !(0.0..=1.0).contains(&self.sleepy) {
            return Err(ScenarioError::Sleepy(self.sleepy));
        }
        if !(self.issue_batch_ms.is_finite() && self.issue_batch_ms > 0.0) {
            return Err(ScenarioError::BatchInterval(self.issue_batch_ms));
        }
        if self.issue_batch_max == 0 {
            return Err(ScenarioError::Zero("issue_batch_max"));
        }
        Ok(())
    }

    pub fn draw_at(&self) -> Micros {
        secs(self.prequeue_s - self.draw_lead_s)
    }

    pub fn opens_at(&self) -> Micros {
        secs(self.prequeue_s)
    }

    pub fn closes_at(&self) -> Micros {
        secs(self.prequeue_s + self.open_for_s)
    }

    /// Admissions per second the server schedules (whole, as the wire carries it).
    pub fn admission_rate(&self) -> u32 {
        ((self.capacity * self.admission_share).floor() as u32).max(1)
    }

    /// The physical limit on the drain: `V / C` seconds.
    pub fn drain_floor_s(&self) -> f64 {
        f64::from(self.vouchers) / self.capacity
    }

    /// The request floor per person: take a place, learn the fate, and (winners) claim.
    pub fn request_floor(&self) -> f64 {
        2.0 + f64::from(self.vouchers.min(self.clients)) / f64::from(self.clients)
    }

    pub fn one_way(&self) -> Micros {
        secs(self.rtt_ms / 2_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_scenario_is_valid_and_has_the_published_limits() {
        let s = Scenario::default();
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.drain_floor_s(), 10.0);
        assert!((s.request_floor() - 2.2).abs() < 1e-12);
        assert_eq!(s.admission_rate(), 1940);
        assert_eq!(s.opens_at() - s.draw_at(), 60 * SEC);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let s = Scenario {
            clients: 0,
            ..Scenario::default()
        };
        assert_eq!(s.validate(), Err(ScenarioError::Zero("clients")));
        let s = Scenario {
            draw_lead_s: 700.0,
            ..Scenario::default()
        };
        assert!(matches!(s.validate(), Err(ScenarioError::DrawLead { .. })));
        let mut s = Scenario::default();
        s.costs.reject = f64::NAN;
        assert!(matches!(
            s.validate(),
            Err(ScenarioError::Negative {
                name: "reject_cost",
                ..
            })
        ));
        let s = Scenario {
            loss: 1.0,
            ..Scenario::default()
        };
        assert_eq!(s.validate(), Err(ScenarioError::Loss(1.0)));
        let s = Scenario {
            sleepy: 1.5,
            ..Scenario::default()
        };
        assert_eq!(s.validate(), Err(ScenarioError::Sleepy(1.5)));
        let s = Scenario {
            issue_batch_ms: 0.0,
            ..Scenario::default()
        };
        assert_eq!(s.validate(), Err(ScenarioError::BatchInterval(0.0)));
    }
}
