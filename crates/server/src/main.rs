//! The `lineup-server` binary: flags (also `LINEUP_*` environment variables), logging, and a
//! server that runs until Ctrl-C or SIGTERM.

use anyhow::Context as _;
use clap::Parser;
use lineup_server::{DbLocation, DemoOptions, ServerConfig, ticket_cache};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "lineup-server", version, about = "Lineup reference claim server")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "LINEUP_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Data directory (issuer key; SQLite file unless --db is given).
    #[arg(long, env = "LINEUP_DATA_DIR", default_value = "lineup-data")]
    data_dir: PathBuf,
    /// Database: an SQLite file path (default <data-dir>/lineup.db) or a postgres:// URL.
    #[arg(long, env = "LINEUP_DB")]
    db: Option<String>,
    /// TOML file with [[campaign]] tables.
    #[arg(long, env = "LINEUP_CONFIG")]
    config: Option<PathBuf>,
    /// Create the demo campaign `demo`.
    #[arg(long, env = "LINEUP_DEMO")]
    demo: bool,
    /// Seconds from the first start until the demo opens.
    #[arg(long, env = "LINEUP_DEMO_OPEN_IN", default_value_t = 60)]
    demo_open_in: u64,
    /// Demo supply.
    #[arg(long, env = "LINEUP_DEMO_VOUCHERS", default_value_t = 1000)]
    demo_vouchers: u64,
    /// Demo admissions per second.
    #[arg(long, env = "LINEUP_DEMO_RATE", default_value_t = 100)]
    demo_rate: u32,
    /// Demo admission window in seconds.
    #[arg(long, env = "LINEUP_DEMO_ADMISSION_WINDOW", default_value_t = 300)]
    demo_admission_window: u64,
    /// Seconds between the demo draw and opening (default min(30, open_in / 2)).
    #[arg(long, env = "LINEUP_DEMO_DRAW_LEAD")]
    demo_draw_lead: Option<u64>,
    /// Requests handled at once; more are shed with 503 + Retry-After.
    #[arg(long, env = "LINEUP_MAX_CONCURRENCY", default_value_t = 512)]
    max_concurrency: usize,
    /// Open connections at most; past it a connection gets 503 at once and is closed.
    #[arg(long, env = "LINEUP_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// How long a client has to send a request's headers (also: how long a kept-alive
    /// connection may sit idle), in milliseconds.
    #[arg(long, env = "LINEUP_HEADER_READ_TIMEOUT_MS", default_value_t = 30_000)]
    header_read_timeout_ms: u64,
    /// How long a request's body may take to arrive, in milliseconds (then 408).
    #[arg(long, env = "LINEUP_BODY_TIMEOUT_MS", default_value_t = 5_000)]
    body_timeout_ms: u64,
    /// Longest time a request may take, in milliseconds.
    #[arg(long, env = "LINEUP_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    request_timeout_ms: u64,
    /// PostgreSQL: connections this instance may open (keep the sum over instances under the
    /// database's max_connections).
    #[arg(long, env = "LINEUP_DB_MAX_CONNECTIONS", default_value_t = 16)]
    db_max_connections: u32,
    /// PostgreSQL: connections kept open while idle.
    #[arg(long, env = "LINEUP_DB_MIN_CONNECTIONS", default_value_t = 1)]
    db_min_connections: u32,
    /// PostgreSQL: milliseconds a request waits for a free connection before failing.
    #[arg(long, env = "LINEUP_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 10_000)]
    db_acquire_timeout_ms: u64,
    /// PostgreSQL: milliseconds after which the database aborts a statement.
    #[arg(long, env = "LINEUP_DB_STATEMENT_TIMEOUT_MS", default_value_t = 30_000)]
    db_statement_timeout_ms: u64,
    /// Milliseconds a ticket row may answer `GET .../tickets/me` from this instance's memory:
    /// how stale a status may be after a claim or redemption made through another instance.
    /// 0 reads the database on every status request.
    #[arg(long, env = "LINEUP_TICKET_CACHE_TTL_MS", default_value_t = ticket_cache::DEFAULT_TTL.as_millis() as u64)]
    ticket_cache_ttl_ms: u64,
    /// Ticket rows this instance keeps in memory at most.
    #[arg(long, env = "LINEUP_TICKET_CACHE_CAPACITY", default_value_t = ticket_cache::DEFAULT_CAPACITY)]
    ticket_cache_capacity: usize,
    /// Requests per second per client address on /v1 (IPv6: per /64); 0 turns the limit off.
    #[arg(long, env = "LINEUP_RATE_PER_ADDRESS", default_value_t = 100)]
    rate_per_address: u32,
    /// Burst allowed above --rate-per-address.
    #[arg(long, env = "LINEUP_BURST_PER_ADDRESS", default_value_t = 1000)]
    burst_per_address: u32,
    /// Requests per second per signing identity; 0 turns the limit off.
    #[arg(long, env = "LINEUP_RATE_PER_IDENTITY", default_value_t = 2)]
    rate_per_identity: u32,
    /// Burst allowed above --rate-per-identity.
    #[arg(long, env = "LINEUP_BURST_PER_IDENTITY", default_value_t = 20)]
    burst_per_identity: u32,
    /// A reverse proxy whose X-Forwarded-For is believed (address or CIDR prefix; repeat, or
    /// comma-separated in the variable). Behind a proxy that is not listed, every person shares
    /// the proxy's address budget.
    #[arg(long = "trusted-proxy", env = "LINEUP_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<lineup_server::limit::IpPrefix>,
    /// The origin clients reach this server at (e.g. https://lineup.example; repeat, or
    /// comma-separated in the variable): signed requests must name one. Without any, a request's
    /// own Host header gives the origin, which a forwarding server can set: list the origins on
    /// any server reachable beyond loopback.
    #[arg(long = "public-origin", env = "LINEUP_PUBLIC_ORIGINS", value_delimiter = ',')]
    public_origins: Vec<lineup_protocol::auth::Origin>,
    /// Serve /metrics on this address only (e.g. 127.0.0.1:9090) instead of on --addr.
    #[arg(long, env = "LINEUP_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Log as JSON lines.
    #[arg(long, env = "LINEUP_LOG_JSON")]
    log_json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINEUP_LOG").unwrap_or_else(|_| "info".into());
    if args.log_json {
        tracing_subscriber::fmt().json().with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let mut config = ServerConfig::new(&args.data_dir);
    config.addr = args.addr;
    if let Some(db) = &args.db {
        config.db = DbLocation::parse(db);
    }
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        config.campaigns =
            lineup_server::config::parse_config(&text).with_context(|| format!("campaigns in {}", path.display()))?;
    }
    if args.demo {
        config.demo = Some(DemoOptions {
            vouchers: args.demo_vouchers,
            open_in: Duration::from_secs(args.demo_open_in),
            draw_lead: args.demo_draw_lead.map(Duration::from_secs),
            admission_rate_per_s: args.demo_rate,
            admission_window: Duration::from_secs(args.demo_admission_window),
            ..DemoOptions::default()
        });
    }
    config.max_concurrency = args.max_concurrency;
    config.body_timeout = Duration::from_millis(args.body_timeout_ms.max(1));
    config.connections.max_connections = args.max_connections;
    config.connections.header_read_timeout = Duration::from_millis(args.header_read_timeout_ms.max(1));
    config.request_timeout = Duration::from_millis(args.request_timeout_ms);
    config.pg_pool = lineup_server::store::postgres::PgPoolConfig {
        max_connections: args.db_max_connections,
        min_connections: args.db_min_connections,
        acquire_timeout: Duration::from_millis(args.db_acquire_timeout_ms),
        statement_timeout: Duration::from_millis(args.db_statement_timeout_ms),
    };
    config.ticket_cache = ticket_cache::TicketCacheConfig {
        ttl: Duration::from_millis(args.ticket_cache_ttl_ms),
        capacity: args.ticket_cache_capacity,
    };
    config.rate_limits = lineup_server::limit::RateLimitConfig {
        per_address: rate(args.rate_per_address, args.burst_per_address),
        per_identity: rate(args.rate_per_identity, args.burst_per_identity),
        trusted_proxies: args.trusted_proxies.clone(),
    };
    config.metrics_addr = args.metrics_addr;
    if args.public_origins.is_empty() && !args.addr.ip().is_loopback() {
        tracing::warn!(
            "no --public-origin: signatures are checked against each request's own Host; list the origins clients use"
        );
    }
    config.public_origins = args.public_origins.clone();
    let running = lineup_server::spawn(config).await.context("starting the server")?;
    println!("Lineup server listening on {}", running.url);
    if let Some(at) = running.metrics_addr {
        println!("Metrics on http://{at}/metrics");
    }
    if let Some(token) = &running.demo_staff_token {
        println!("Demo campaign: {}/v1/campaigns/demo", running.url);
        println!("Demo staff token: {token}");
    }
    println!("Issuer key id: {} (public key {})", running.kid, running.public_key);
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// A limit from flags: 0 requests per second is no limit; a burst below the rate is the rate.
fn rate(per_second: u32, burst: u32) -> Option<lineup_server::limit::Rate> {
    let per_second = std::num::NonZeroU32::new(per_second)?;
    let burst = std::num::NonZeroU32::new(burst.max(per_second.get()))?;
    Some(lineup_server::limit::Rate::new(per_second, burst))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
