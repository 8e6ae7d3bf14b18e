//! Command-line flags shared by both modes, and how they become a [`Scenario`].

use crate::model::Issuance;
use crate::scenario::{Costs, Scenario, WaitlistChecks};
use crate::strategy::Strategy;
use clap::Args;
use std::path::PathBuf;

/// The surge: who wants what from whom.
#[derive(Debug, Clone, Args)]
pub struct SurgeArgs {
    /// People who want a voucher (N).
    #[arg(long, env = "LINEUP_SIM_CLIENTS", default_value_t = 100_000)]
    pub clients: u32,
    /// Vouchers on offer (V).
    #[arg(long, env = "LINEUP_SIM_VOUCHERS", default_value_t = 20_000)]
    pub vouchers: u32,
    /// Issuances per second the server can sustain (C).
    #[arg(long, env = "LINEUP_SIM_CAPACITY", default_value_t = 2_000.0)]
    pub capacity: f64,
    /// Strategies to compare, comma-separated.
    #[arg(
        long,
        env = "LINEUP_SIM_STRATEGIES",
        value_delimiter = ',',
        default_value = "hammer,fixed,exponential,full-jitter,decorrelated-jitter,lineup"
    )]
    pub strategies: Vec<Strategy>,
    /// Seed of every random choice (same seed, same results).
    #[arg(long, env = "LINEUP_SIM_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Print one JSON object on stdout (the table then goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Draw requests per second over time per strategy into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// The model's server and network parameters.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Cost of a 503 in issuances; several values (comma-separated) sweep it in one run.
    #[arg(long, env = "LINEUP_SIM_REJECT_COST", value_delimiter = ',', default_value = "0.02")]
    pub reject_cost: Vec<f64>,
    /// Cost of an issuance (the unit of capacity).
    #[arg(long, default_value_t = 1.0)]
    pub cost_issue: f64,
    /// Cost of any other answered request (ticket, status, refused claim), in issuances.
    #[arg(long, default_value_t = 0.05)]
    pub cost_read: f64,
    /// Pre-queue window before opening, seconds.
    #[arg(long, default_value_t = 600.0)]
    pub prequeue_s: f64,
    /// Seconds between the draw and opening.
    #[arg(long, default_value_t = 60.0)]
    pub draw_lead_s: f64,
    /// Admission rate as a share of capacity.
    #[arg(long, default_value_t = 0.97)]
    pub admission_share: f64,
    /// Seconds an admitted person has to claim.
    #[arg(long, default_value_t = 300.0)]
    pub admission_window_s: f64,
    /// The server answers 503 to a request that would wait longer than this, seconds.
    #[arg(long, default_value_t = 0.5)]
    pub max_queue_s: f64,
    /// Beyond this much queued work, connections are dropped (free for the server), seconds.
    #[arg(long, default_value_t = 2.0)]
    pub max_backlog_s: f64,
    /// Network round trip, milliseconds.
    #[arg(long, default_value_t = 40.0)]
    pub rtt_ms: f64,
    /// A client's timeout for a reply that never comes, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub client_timeout_s: f64,
    /// Share of replies lost on the way back (exercises exactly-once).
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Baselines make their first attempt within this many seconds around opening.
    #[arg(long, default_value_t = 2.0)]
    pub crowd_spread_s: f64,
    /// When the model server tells waitlisted tickets to check again.
    #[arg(long, value_enum, default_value = "spread")]
    pub waitlist_check: WaitlistChecks,
    /// Who issues a `lineup` winner's voucher: the server at its turn (row `lineup-auto`; the
    /// client opted in when taking its place), the client with an explicit claim (row
    /// `lineup`), or both side by side.
    #[arg(long, value_enum, default_value = "both")]
    pub issuance: Issuance,
    /// Share of `lineup` people silent from just after taking their place until after closing
    /// (a suspended phone); each then makes one request.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub sleepy: f64,
    /// Server-side issuance: a winner fetches its voucher this long after its `admit_at`, seconds.
    #[arg(long, default_value_t = 1.0)]
    pub fetch_lag_s: f64,
    /// Server-side issuance: the issuer commits a batch every this many milliseconds.
    #[arg(long, default_value_t = 20.0)]
    pub issue_batch_ms: f64,
    /// Server-side issuance: at most this many vouchers per batch.
    #[arg(long, default_value_t = 5_000)]
    pub issue_batch_max: u32,
    /// Server-side issuance: cost of one voucher inside a batch, in issuances (1 = no gain
    /// from group commit; issue 10 measured 844 lone claims/s against 50,000+ batched
    /// inserts/s on SQLite, so 0.1 leaves a wide margin).
    #[arg(long, default_value_t = 0.1)]
    pub cost_batch_issue: f64,
    /// Worker threads (runs of different strategies are independent).
    #[arg(long, env = "LINEUP_SIM_THREADS", default_value_t = 2)]
    pub threads: usize,
}

impl ModelArgs {
    /// The scenario with the first rejection cost (the others are swept by the runner).
    pub fn scenario(&self, surge: &SurgeArgs) -> Scenario {
        Scenario {
            clients: surge.clients,
            vouchers: surge.vouchers,
            capacity: surge.capacity,
            prequeue_s: self.prequeue_s,
            draw_lead_s: self.draw_lead_s,
            admission_share: self.admission_share,
            admission_window_s: self.admission_window_s,
            costs: Costs {
                issue: self.cost_issue,
                read: self.cost_read,
                reject: self.reject_cost.first().copied().unwrap_or(0.02),
                batch_issue: self.cost_batch_issue,
            },
            max_queue_s: self.max_queue_s,
            max_backlog_s: self.max_backlog_s,
            rtt_ms: self.rtt_ms,
            client_timeout_s: self.client_timeout_s,
            loss: self.loss,
            crowd_spread_s: self.crowd_spread_s,
            waitlist_checks: self.waitlist_check,
            sleepy: self.sleepy,
            fetch_lag_s: self.fetch_lag_s,
            issue_batch_ms: self.issue_batch_ms,
            issue_batch_max: self.issue_batch_max,
            seed: surge.seed,
            ..Scenario::default()
        }
    }
}
