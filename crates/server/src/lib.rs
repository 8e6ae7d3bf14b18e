//! `lineup-server`: the reference Lineup claim server. A waiting room with a draw before
//! opening, server-paced admission, exactly-once claims, signed vouchers and a box office,
//! behind bounded concurrency and load shedding. The wire contract is `docs/protocol.md`.
//!
//! [`spawn`] runs a server in-process (tests bind port 0); `src/main.rs` is the binary.

pub mod batch;
pub mod clock;
pub mod config;
pub mod draw;
pub mod extract;
pub mod http;
pub mod issuance;
pub mod issuer;
pub mod limit;
pub mod listen;
pub mod metrics;
pub mod openapi;
pub mod private_fs;
pub mod problem;
pub mod push;
pub mod routes;
pub mod schedule;
pub mod staff_guard;
pub mod state;
pub mod store;
pub mod ticket_cache;
pub mod verify;

pub use clock::Clock;
pub use config::{CampaignSpec, ConfiguredCampaign};
pub use state::AppState;
pub use store::{DbLocation, Store};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The demo campaign `demo` (6,000-won cinema discount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOptions {
    /// Supply.
    pub vouchers: u64,
    /// Opening, from the server's first start.
    pub open_in: Duration,
    /// How long before opening the draw is; default `min(30 s, open_in / 2)`.
    pub draw_lead: Option<Duration>,
    pub admission_rate_per_s: u32,
    pub admission_window: Duration,
    /// Closing, after opening.
    pub closes_after: Duration,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            vouchers: 1000,
            open_in: Duration::from_secs(60),
            draw_lead: None,
            admission_rate_per_s: 100,
            admission_window: Duration::from_secs(300),
            closes_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// Everything a server needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (port 0 picks a free port).
    pub addr: SocketAddr,
    pub db: DbLocation,
    /// Holds the issuer key (and, by default, the SQLite file).
    pub data_dir: PathBuf,
    /// Create the demo campaign (kept as first created on later starts).
    pub demo: Option<DemoOptions>,
    /// Campaigns from a `--config` file (already parsed).
    pub campaigns: Vec<ConfiguredCampaign>,
    /// Requests handled at once under `/v1`; the excess gets 503 `overloaded`.
    pub max_concurrency: usize,
    pub request_timeout: Duration,
    /// How long a request's body may take to arrive (read before the request takes a
    /// concurrency slot); past it, 408 `body_timeout`.
    pub body_timeout: Duration,
    /// How often the background task performs due draws and releases expired admissions.
    pub tick: Duration,
    pub clock: Clock,
    /// PostgreSQL pool sizing and timeouts (unused with SQLite).
    pub pg_pool: store::postgres::PgPoolConfig,
    /// Ticket rows cached for `GET .../tickets/me`: the TTL bounds how stale a status may be
    /// after a write through another instance.
    pub ticket_cache: ticket_cache::TicketCacheConfig,
    /// Open connections at most and the deadline for a request's headers.
    pub connections: listen::ConnectionLimits,
    /// Per-address and per-identity request rates on `/v1`.
    pub rate_limits: limit::RateLimitConfig,
    /// Serve `/metrics` on this address only (not on `addr`); `None`: on `addr`.
    pub metrics_addr: Option<SocketAddr>,
    /// The origins clients reach this server at, which signed requests must name; empty: the
    /// origin of each request's own `Host` (enough on loopback; a server reachable under
    /// several names, or behind a proxy, should list them).
    pub public_origins: Vec<lineup_protocol::auth::Origin>,
    /// Web Push (see [`push`]).
    pub push: push::PushConfig,
    /// Contact verification (off by default: registration at once).
    pub verify: verify::VerifyConfig,
}

impl ServerConfig {
    /// Defaults: `127.0.0.1:0`, SQLite at `<data_dir>/lineup.db`, no campaigns.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            db: DbLocation::Sqlite(data_dir.join("lineup.db")),
            data_dir,
            demo: None,
            campaigns: Vec::new(),
            max_concurrency: 512,
            request_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(5),
            tick: Duration::from_millis(200),
            clock: Clock::system(),
            pg_pool: store::postgres::PgPoolConfig::default(),
            ticket_cache: ticket_cache::TicketCacheConfig::default(),
            connections: listen::ConnectionLimits::default(),
            rate_limits: limit::RateLimitConfig::default(),
            metrics_addr: None,
            public_origins: Vec::new(),
            push: push::PushConfig::default(),
            verify: verify::VerifyConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Issuer(#[from] issuer::IssuerError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Spec(#[from] config::SpecError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Push(#[from] push::webpush::WebPushError),
    #[error("cannot build the push client: {0}")]
    PushClient(String),
    #[error(transparent)]
    Verify(#[from] verify::VerifyError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A server running in this process.
pub struct Running {
    pub addr: SocketAddr,
    /// `http://<addr>`
    pub url: String,
    /// Where `/metrics` is served when it has a listener of its own.
    pub metrics_addr: Option<SocketAddr>,
    /// The demo campaign's box-office token (the same on every start with the same data dir).
    pub demo_staff_token: Option<String>,
    /// Key id vouchers are signed with.
    pub kid: u32,
    /// The issuer public key (unpadded base64url).
    pub public_key: String,
    pub state: AppState,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    ticker: JoinHandle<()>,
    issuer: JoinHandle<()>,
    push: Option<JoinHandle<()>>,
}

impl Running {
    /// The server's clock (tests move it forward).
    pub fn clock(&self) -> &Clock {
        self.state.clock()
    }

    /// Stops accepting, lets requests in progress finish, and closes the database. A later
    /// [`spawn`] on the same data directory and database keeps every ticket and voucher.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "server ended with an error"),
            Err(e) => tracing::warn!(error = %e, "server task failed"),
        }
        let _ = self.ticker.await;
        let _ = self.issuer.await;
        if let Some(p) = self.push {
            let _ = p.await;
        }
        if let Err(e) = self.state.store().leave().await {
            tracing::warn!(error = %e, "cannot remove this instance's heartbeat");
        }
        self.state.store().close().await;
    }
}

/// The application router over `state` with default limits (for in-process `oneshot` tests).
pub fn app(state: AppState) -> axum::Router {
    http::router(
        state,
        http::Limits {
            max_concurrency: 512,
            request_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(5),
            metrics_here: true,
        },
    )
}

/// Opens the store, stores the configured campaigns, binds and serves in a background task.
pub async fn spawn(config: ServerConfig) -> Result<Running, ServerError> {
    private_fs::private_dir(&config.data_dir).map_err(|source| ServerError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    // Refused before anything is opened: a demo sender on a public address would hand out codes
    // to whoever reads the log.
    let verifier = verify::Verifier::new(config.verify.clone(), config.addr)?;
    if let DbLocation::Sqlite(db) = &config.db {
        private_fs::sqlite_files(db).map_err(|source| ServerError::DataDir {
            path: db.display().to_string(),
            source,
        })?;
    }
    let store = Store::open_with(&config.db, &config.pg_pool).await?;
    store.heartbeat(config.clock.now()).await?;
    let now = config.clock.now();
    let issuer = issuer::Issuer::open(&config.data_dir, &store, now).await?;
    for c in &config.campaigns {
        store::keys::ensure_configured_campaign(&store, &c.spec, c.staff_token_hash, seed()?, issuer::random_bytes()?)
            .await?;
    }
    let demo_staff_token = match &config.demo {
        Some(d) => {
            let spec = config::demo_spec(
                &config::DemoSpecInput {
                    vouchers: d.vouchers,
                    open_in: d.open_in,
                    draw_lead: d.draw_lead,
                    admission_rate_per_s: d.admission_rate_per_s,
                    admission_window: d.admission_window,
                    closes_after: d.closes_after,
                },
                now,
            )?;
            let token = issuer.demo_staff_token();
            let stored = store::keys::ensure_configured_campaign(
                &store,
                &spec,
                issuer::staff_token_hash(&token),
                seed()?,
                issuer::random_bytes()?,
            )
            .await?;
            tracing::info!(opens_at = %stored.spec.opens_at, draw_at = %stored.spec.draw_at, supply = stored.spec.supply, "demo campaign");
            Some(token)
        }
        None => None,
    };
    let kid = issuer.kid();
    let public_key = issuer.signing_public_key();
    let state = AppState::with_options(
        store,
        issuer,
        config.clock.clone(),
        metrics::Metrics::new(),
        config.ticket_cache,
        &config.rate_limits,
        config.public_origins.clone(),
    );
    state.revocations_seen_up_to(state.store().last_revocation().await?);
    announce_verification(&verifier, config.addr, state.store()).await?;
    state.set_verifier(verifier);
    let router = http::router(
        state.clone(),
        http::Limits {
            max_concurrency: config.max_concurrency,
            request_timeout: config.request_timeout,
            body_timeout: config.body_timeout,
            metrics_here: config.metrics_addr.is_none(),
        },
    );
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.addr,
        source,
    })?;
    let connections = config.connections;
    let (stop, stopped) = watch::channel(false);
    let metrics_addr = match config.metrics_addr {
        Some(at) => {
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .map_err(|source| ServerError::Bind { addr: at, source })?;
            let bound = listener
                .local_addr()
                .map_err(|source| ServerError::Bind { addr: at, source })?;
            let app = http::metrics_router(state.clone());
            let mut stop_metrics = stopped.clone();
            let limits = listen::ConnectionLimits {
                max_connections: 64,
                ..connections
            };
            tokio::spawn(async move {
                listen::serve(listener, app, limits, async move {
                    let _ = stop_metrics.wait_for(|s| *s).await;
                })
                .await
            });
            Some(bound)
        }
        None => None,
    };
    let mut stop_server = stopped.clone();
    let server = tokio::spawn(async move {
        listen::serve(listener, router, connections, async move {
            let _ = stop_server.wait_for(|s| *s).await;
        })
        .await
    });
    let push = spawn_push(&config, &state, stopped.clone())?;
    let issuer = tokio::spawn(issuance::run(state.clone(), stopped.clone()));
    let ticker = tokio::spawn(tick_loop(state.clone(), config.tick, stopped));
    Ok(Running {
        addr,
        url: format!("http://{addr}"),
        metrics_addr,
        demo_staff_token,
        kid,
        public_key,
        state,
        stop,
        server,
        ticker,
        issuer,
        push,
    })
}

/// Sets up Web Push on `state` (the VAPID key is made on first start, next to the issuer key)
/// and starts its tasks unless sending is disabled.
fn spawn_push(
    config: &ServerConfig,
    state: &AppState,
    stopped: watch::Receiver<bool>,
) -> Result<Option<JoinHandle<()>>, ServerError> {
    let vapid = push::webpush::VapidKey::load_or_create(&config.data_dir)?;
    let hub = std::sync::Arc::new(push::PushHub::new(config.push.clone(), vapid, state.metrics().clone()));
    state.set_push(hub.clone());
    if !config.push.enabled {
        return Ok(None);
    }
    let sender = push::sender::WebPushSender::new(
        hub.vapid.clone(),
        config.push.contact.clone(),
        config.push.timeout,
        config.push.allow_private_endpoints,
        config.clock.clone(),
    )
    .map_err(|e| ServerError::PushClient(e.to_string()))?;
    Ok(Some(tokio::spawn(push::worker::run(
        state.clone(),
        hub,
        std::sync::Arc::new(sender),
        stopped,
    ))))
}

/// Says in the log how registrations are verified, and warns where that is weak.
async fn announce_verification(
    verifier: &verify::Verifier,
    addr: SocketAddr,
    store: &Store,
) -> Result<(), ServerError> {
    match verifier.config().mode {
        verify::VerifyMode::Off if !addr.ip().is_loopback() => tracing::warn!(
            %addr,
            "contacts are NOT verified (--verify-contacts off): anyone can register any contact; configure --smtp-url or --sms-url before serving the public"
        ),
        verify::VerifyMode::Off => tracing::info!("contacts are not verified (--verify-contacts off)"),
        verify::VerifyMode::Log => tracing::warn!(
            "DEMO — NOT FOR PRODUCTION: one-time codes are printed to this log instead of being sent (--verify-contacts log)"
        ),
        mode => tracing::info!(?mode, "contacts are verified with one-time codes"),
    }
    let legacy = store.legacy_digests().await?;
    if legacy > 0 {
        tracing::warn!(
            identities = legacy,
            "identities still stored with the plain contact digest (reversible); each moves to the keyed digest when its contact registers again"
        );
    }
    Ok(())
}

/// `lineup-server rotate-key`: makes the next issuer key in `config.data_dir` and pins it in
/// the database; servers started afterwards sign with it, and every older key keeps verifying.
/// Returns the new key id and public key.
pub async fn rotate_issuer_key(config: &ServerConfig) -> Result<(u32, String), ServerError> {
    private_fs::private_dir(&config.data_dir).map_err(|source| ServerError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    if let DbLocation::Sqlite(db) = &config.db {
        private_fs::sqlite_files(db).map_err(|source| ServerError::DataDir {
            path: db.display().to_string(),
            source,
        })?;
    }
    let store = Store::open_with(&config.db, &config.pg_pool).await?;
    let rotated = issuer::Issuer::rotate(&config.data_dir, &store, config.clock.now()).await;
    store.close().await;
    Ok(rotated?)
}

fn seed() -> Result<u64, ServerError> {
    Ok(u64::from_le_bytes(issuer::random_bytes::<8>()?))
}

/// How often the background tick refreshes what `/metrics` shows from the database.
pub const GAUGES_EVERY: Duration = Duration::from_secs(1);

/// How long an idempotency key is remembered after its first use (published in docs/protocol.md).
pub const IDEMPOTENCY_KEY_TTL: Duration = Duration::from_secs(24 * 3600);

/// How often expired idempotency keys are swept.
pub const EXPIRE_KEYS_EVERY: Duration = Duration::from_secs(60);

/// How often the rate limiters forget clients back to a full budget.
pub const FORGET_IDLE_EVERY: Duration = Duration::from_secs(5);

/// Push messages delivered (or given up) are kept this long, then forgotten: the cursors, not
/// the rows, say what was derived, so nothing is sent twice.
pub const PUSH_DONE_KEPT: Duration = Duration::from_secs(24 * 3600);

/// Performs due draws and returns expired admissions' vouchers without waiting for a request,
/// so waitlisted people are admitted at the time they were told to check; refreshes the
/// gauges `/metrics` renders and trims the rate limiters' memory.
async fn tick_loop(state: AppState, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut gauges_at = std::time::Instant::now();
    let mut trimmed_at = std::time::Instant::now();
    // The first sweep runs at the first tick: keys that expired while the server was down go at once.
    let mut swept_at: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        // First, and whatever else fails: a revoked key stops signing here within a tick.
        if let Err(e) = state.forget_revoked_keys().await {
            tracing::warn!(problem = %e.0, "tick: cannot read key revocations");
        }
        let campaigns = match state.campaigns().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(problem = %e.0, "tick: cannot list campaigns");
                continue;
            }
        };
        let now = state.now();
        for c in &campaigns {
            match state.settle(c, now).await {
                // Seal the join order seconds after the draw, before anyone is admitted.
                Ok(k) if k.drawn => routes::draw::seal_soon(&state, &c.spec.id),
                Ok(_) => {}
                Err(e) => tracing::warn!(campaign = %c.spec.id, problem = %e.0, "tick failed"),
            }
        }
        if gauges_at.elapsed() >= GAUGES_EVERY {
            gauges_at = std::time::Instant::now();
            if let Err(e) = state.store().heartbeat(now).await {
                tracing::warn!(error = %e, "cannot record this instance's heartbeat");
            }
            refresh_gauges(&state, &campaigns, now).await;
        }
        if swept_at.is_none_or(|t| t.elapsed() >= EXPIRE_KEYS_EVERY) {
            swept_at = Some(std::time::Instant::now());
            let before = now - chrono::Duration::from_std(IDEMPOTENCY_KEY_TTL).unwrap_or(chrono::Duration::MAX);
            match state.store().expire_idempotency_keys(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(keys = n, "expired idempotency keys forgotten"),
                Err(e) => tracing::warn!(error = %e, "cannot expire idempotency keys"),
            }
            if let Err(e) = state.store().sweep_verification(now).await {
                tracing::warn!(error = %e, "cannot forget old code sends");
            }
            let done_before = now - chrono::Duration::from_std(PUSH_DONE_KEPT).unwrap_or(chrono::Duration::MAX);
            match state.store().prune_push_outbox(done_before).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(rows = n, "delivered pushes forgotten"),
                Err(e) => tracing::warn!(error = %e, "cannot forget delivered pushes"),
            }
        }
        if trimmed_at.elapsed() >= FORGET_IDLE_EVERY {
            trimmed_at = std::time::Instant::now();
            let held = state.limits().forget_idle();
            state.metrics().rate_limit_keys(held);
        }
    }
}

/// Reads the campaign figures `/metrics` shows (one counter read and one count per campaign).
async fn refresh_gauges(
    state: &AppState,
    campaigns: &[std::sync::Arc<store::CampaignRow>],
    now: chrono::DateTime<chrono::Utc>,
) {
    if let Some(hub) = state.push() {
        match state.store().push_pending().await {
            Ok(pending) => state
                .metrics()
                .push_queue(hub.stats.in_flight.load(std::sync::atomic::Ordering::Relaxed), pending),
            Err(e) => tracing::warn!(error = %e, "cannot count waiting pushes"),
        }
    }
    for c in campaigns {
        let id = &c.spec.id;
        let figures = async {
            let k = state.fresh_counters(id).await?;
            let admitted = state.store().admitted_count(id, now).await?;
            Ok::<_, problem::ApiError>((k, admitted))
        }
        .await;
        match figures {
            Ok((k, admitted)) => state.metrics().observe_admission(id, k.tickets, admitted),
            Err(e) => tracing::warn!(campaign = %id, problem = %e.0, "cannot refresh the metrics"),
        }
    }
}
