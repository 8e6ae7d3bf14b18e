//! `lineup-sim load`: real HTTP against real `lineup-server` instances spawned in this process
//! on loopback, on a fresh database per strategy (SQLite in a temporary directory, or a fresh
//! PostgreSQL database shared by `--servers` instances). Identities are registered first
//! (reported separately); then every client runs at once: `lineup` through `lineup_core`'s API
//! client and engine, the baselines through the same API client with `lineup_core::backoff`
//! delays. Afterwards each client's ticket and vouchers are read back (not counted) to find lost
//! and duplicated vouchers, and every instance's `/metrics` is kept.
//!
//! With several instances, person i registers on instance i+1, runs the scenario on instance i
//! (`--route client`) or on i, i+1, ... request by request (`--route request`), and is read
//! back on instance i+2 (all mod n): the protocol ties a person's place and vouchers to their
//! identity in the shared database, never to the instance that answered.
//!
//! Clients and server share this machine's cores, so the server's capacity here is whatever is
//! left after thousands of clients run; compare strategies with each other, not with a
//! dedicated server.

mod baseline;
pub(crate) mod clients;
pub(crate) mod server;

use crate::cli::SurgeArgs;
use crate::scenario::Micros;
use crate::stats::{Recorder, StrategyReport};
use crate::strategy::Strategy;
use clap::Args;
use lineup_protocol::Campaign;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use server::{Route, ServerArgs, ServerSetup};

/// Flags of the load mode.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Seconds between the end of registration and the draw during which `lineup` clients
    /// take their places (the pre-queue window, shortened for a benchmark).
    #[arg(long, default_value_t = 20.0)]
    pub prequeue_s: f64,
    /// Seconds between the draw and opening.
    #[arg(long, default_value_t = 10.0)]
    pub draw_lead_s: f64,
    /// Admission rate as a share of `--capacity`.
    #[arg(long, default_value_t = 0.97)]
    pub admission_share: f64,
    /// Seconds an admitted person has to claim.
    #[arg(long, default_value_t = 300)]
    pub admission_window_s: u64,
    /// The server's bound on concurrent requests (the excess gets 503).
    #[arg(long, env = "LINEUP_SIM_MAX_CONCURRENCY", default_value_t = 512)]
    pub max_concurrency: usize,
    /// Client request timeout, seconds.
    #[arg(long, default_value_t = 15)]
    pub client_timeout_s: u64,
    /// Baselines make their first attempt within this many seconds around opening.
    #[arg(long, default_value_t = 2.0)]
    pub crowd_spread_s: f64,
    /// Registrations (and read-backs) in flight at once.
    #[arg(long, default_value_t = 64)]
    pub setup_concurrency: usize,
}

/// Why a load run failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("could not start the server: {0}")]
    Server(String),
    #[error("setup failed: {0}")]
    Setup(String),
    #[error("invalid parameters: {0}")]
    Invalid(String),
}

/// The scenario block of a load run's JSON.
#[derive(Debug, Clone, Serialize)]
pub struct LoadScenario {
    pub mode: &'static str,
    pub clients: u32,
    pub vouchers: u32,
    /// The issuance rate the campaign is sized for (C); admission runs at `admission_rate_per_s`.
    pub capacity: f64,
    pub admission_rate_per_s: u32,
    pub admission_window_s: u64,
    pub prequeue_s: f64,
    pub draw_lead_s: f64,
    pub max_concurrency: usize,
    pub client_timeout_s: u64,
    pub crowd_spread_s: f64,
    pub seed: u64,
    pub strategies: Vec<&'static str>,
    pub servers: usize,
    /// `sqlite`, or the PostgreSQL server (no password, database or parameters): every
    /// strategy ran on a fresh database made there.
    pub db: String,
    /// Connections each instance could open to PostgreSQL (`None` with SQLite).
    pub db_max_connections: Option<u32>,
    /// `client`: each person sticks to one instance; `request`: each request goes to the next.
    pub route: &'static str,
    /// Per strategy: scenario requests sent to each instance (in start order), counted by the
    /// clients.
    pub instance_requests: BTreeMap<String, Vec<u64>>,
    pub drain_floor_s: f64,
    pub request_floor: f64,
    /// One registration per person, before the scenario (not in `requests_total`).
    pub registration_requests: u32,
    /// Seconds each strategy's registration took, in strategy order.
    pub registration_seconds: Vec<f64>,
    /// Per strategy: the servers' own counters from `/metrics`, summed over labels and over
    /// instances (campaign totals, which every instance mirrors from the shared database, are
    /// counted once), with `lineup_requests_total{instance=K}` per instance when there are
    /// several.
    pub server_metrics: BTreeMap<String, BTreeMap<String, f64>>,
    pub cores: usize,
    pub wall_seconds: f64,
}

/// Runs every strategy in `surge` against its own fresh server, one after the other.
pub async fn run(
    surge: &SurgeArgs,
    args: &LoadArgs,
    setup: &ServerSetup,
) -> Result<(LoadScenario, Vec<StrategyReport>), LoadError> {
    if surge.clients == 0 || surge.vouchers == 0 {
        return Err(LoadError::Invalid("clients and vouchers must be at least 1".into()));
    }
    if !(surge.capacity.is_finite() && surge.capacity >= 1.0) {
        return Err(LoadError::Invalid("capacity must be at least 1".into()));
    }
    if !(args.prequeue_s > args.draw_lead_s && args.draw_lead_s > 0.0) {
        return Err(LoadError::Invalid("need prequeue_s > draw_lead_s > 0".into()));
    }
    let rate = ((surge.capacity * args.admission_share).floor() as u32).max(1);
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    let mut registration_seconds = Vec::new();
    let mut server_metrics = BTreeMap::new();
    let mut instance_requests = BTreeMap::new();
    for &strategy in &surge.strategies {
        let done = run_strategy(surge, args, setup, strategy, rate).await?;
        tracing::info!(strategy = strategy.name(), "load run finished");
        rows.push(done.row);
        registration_seconds.push(done.registration_s);
        server_metrics.insert(strategy.name().to_owned(), done.metrics);
        instance_requests.insert(strategy.name().to_owned(), done.per_instance);
    }
    let scenario = LoadScenario {
        mode: "load",
        clients: surge.clients,
        vouchers: surge.vouchers,
        capacity: surge.capacity,
        admission_rate_per_s: rate,
        admission_window_s: args.admission_window_s,
        prequeue_s: args.prequeue_s,
        draw_lead_s: args.draw_lead_s,
        max_concurrency: args.max_concurrency,
        client_timeout_s: args.client_timeout_s,
        crowd_spread_s: args.crowd_spread_s,
        seed: surge.seed,
        strategies: surge.strategies.iter().map(|s| s.name()).collect(),
        servers: setup.servers,
        db: setup.db_label(),
        db_max_connections: setup.db.as_ref().map(|_| setup.pg_pool.max_connections),
        route: setup.route.name(),
        instance_requests,
        drain_floor_s: f64::from(surge.vouchers.min(surge.clients)) / surge.capacity,
        request_floor: 2.0 + f64::from(surge.vouchers.min(surge.clients)) / f64::from(surge.clients),
        registration_requests: surge.clients,
        registration_seconds,
        server_metrics,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    Ok((scenario, rows))
}

/// What the clients of one run share: the campaign, the clock origin and the recorder.
pub(crate) struct Shared {
    pub campaign: Campaign,
    /// The pre-queue's opening on the (shared, loopback) wall clock: virtual time 0.
    pub origin: chrono::DateTime<chrono::Utc>,
    pub recorder: Mutex<Recorder>,
    /// Scenario requests sent to each instance.
    pub per_instance: Vec<AtomicU64>,
}

impl Shared {
    /// Microseconds since the pre-queue opened, on this machine's clock (the server's too).
    pub fn now(&self) -> Micros {
        (chrono::Utc::now() - self.origin)
            .num_microseconds()
            .map_or(0, |m| u64::try_from(m).unwrap_or(0))
    }

    /// Counts a request sent to instance `k`.
    pub fn sent_to(&self, k: usize) {
        if let Some(c) = self.per_instance.get(k) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn record(&self, f: impl FnOnce(&mut Recorder)) {
        if let Ok(mut r) = self.recorder.lock() {
            f(&mut r);
        }
    }
}

/// What one strategy's run gives the report.
struct StrategyRun {
    row: StrategyReport,
    registration_s: f64,
    metrics: BTreeMap<String, f64>,
    per_instance: Vec<u64>,
}

/// One strategy on its own fresh database, which is dropped afterwards whatever happened.
async fn run_strategy(
    surge: &SurgeArgs,
    args: &LoadArgs,
    setup: &ServerSetup,
    strategy: Strategy,
    rate: u32,
) -> Result<StrategyRun, LoadError> {
    // Holds the issuer key (shared by the instances) and, with SQLite, the database.
    let data = tempfile::tempdir().map_err(|e| LoadError::Setup(format!("temporary directory: {e}")))?;
    let db = setup.fresh_db(strategy, data.path()).await?;
    let result = run_on(surge, args, setup, strategy, rate, data.path(), &db).await;
    let released = setup.release(db).await;
    match (result, released) {
        (Ok(run), Ok(())) => Ok(run),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), released) => {
            if let Err(r) = released {
                tracing::warn!(%r, "after a failed run");
            }
            Err(e)
        }
    }
}

async fn run_on(
    surge: &SurgeArgs,
    args: &LoadArgs,
    setup: &ServerSetup,
    strategy: Strategy,
    rate: u32,
    data: &std::path::Path,
    db: &server::StrategyDb,
) -> Result<StrategyRun, LoadError> {
    // Register everyone on servers without campaigns, then restart them on the same database
    // and addresses with a campaign whose pre-queue opens now: neither registration nor making
    // the clients eats into the window.
    let first = setup.spawn(data, db, None, args, &[]).await?;
    let reg_started = std::time::Instant::now();
    let urls = first.urls();
    let identities = clients::register_all(&urls, surge.clients, surge.seed, args.setup_concurrency).await;
    let registration_s = reg_started.elapsed().as_secs_f64();
    let addrs = first.addrs();
    first.shutdown().await;
    let identities = identities?;
    // One HTTP client per person and instance it uses, made now: making thousands (each with
    // its TLS set-up) takes seconds, which inside the pre-queue would start people late.
    let made = std::time::Instant::now();
    let conns = clients::Conn::make_all(&identities, &urls, setup.route, args.client_timeout_s).await?;
    tracing::info!(
        clients = conns.len(),
        seconds = made.elapsed().as_secs_f64(),
        "clients made"
    );

    let spec = server::campaign_spec(surge, args, rate)?;
    let origin = spec.prequeue_opens_at;
    let running = setup.spawn(data, db, Some(spec), args, &addrs).await?;
    let result = if running.urls() == urls {
        drive(surge, args, strategy, &running, conns, &identities, origin).await
    } else {
        Err(LoadError::Server(
            "a restarted instance did not get its address back".into(),
        ))
    };
    let metrics = server::scrape_metrics(&running.urls()).await;
    running.shutdown().await;
    let (row, per_instance) = result?;
    Ok(StrategyRun {
        row,
        registration_s,
        metrics,
        per_instance,
    })
}

/// The scenario itself on running instances, then the read-back.
async fn drive(
    surge: &SurgeArgs,
    args: &LoadArgs,
    strategy: Strategy,
    running: &server::Instances,
    conns: Vec<clients::Conn>,
    identities: &[ed25519_dalek::SigningKey],
    origin: chrono::DateTime<chrono::Utc>,
) -> Result<(StrategyReport, Vec<u64>), LoadError> {
    let campaign = clients::fetch_campaign(&running.url).await?;
    let opens_at = u64::try_from((campaign.opens_at - origin).num_microseconds().unwrap_or(0)).unwrap_or(0);
    let mut recorder = Recorder::new(surge.clients, opens_at);
    recorder.setup_requests(u64::from(surge.clients) + 1);
    let urls = running.urls();
    let shared = Arc::new(Shared {
        campaign,
        origin,
        recorder: Mutex::new(recorder),
        per_instance: urls.iter().map(|_| AtomicU64::new(0)).collect(),
    });

    let mut tasks = tokio::task::JoinSet::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let shared = shared.clone();
        let client = u32::try_from(i).map_err(|_| LoadError::Invalid("too many clients".into()))?;
        let seed = surge.seed ^ strategy.salt() ^ (u64::from(client) << 20);
        let spread = args.crowd_spread_s;
        tasks.spawn(async move {
            match strategy {
                Strategy::Lineup => clients::run_lineup(client, conn, shared, seed).await,
                other => baseline::run(client, other, conn, shared, seed, spread).await,
            }
        });
    }
    tracing::info!(since_origin_ms = shared.now() / 1000, "clients started");
    while tasks.join_next().await.is_some() {}
    let ended = shared.now();

    clients::read_back(&urls, identities, &shared, args.setup_concurrency).await?;
    let per_instance = shared.per_instance.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let row = match shared.recorder.lock() {
        Ok(r) => r.finish(strategy.name(), surge.vouchers, surge.capacity, None, ended),
        Err(_) => return Err(LoadError::Setup("a client panicked while recording".into())),
    };
    Ok((row, per_instance))
}
