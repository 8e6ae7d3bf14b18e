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
    /// Web Push: the VAPID contact push services may reach the operator at (mailto: or https:).
    #[arg(long, env = "LINEUP_PUSH_CONTACT", default_value = lineup_server::push::DEFAULT_CONTACT)]
    push_contact: String,
    /// Web Push: pushes per second at most from this instance (draw bursts are paced by it).
    #[arg(long, env = "LINEUP_PUSH_RATE", default_value_t = 2000)]
    push_rate: u32,
    /// Web Push: seconds over which the draw's results are spread.
    #[arg(long, env = "LINEUP_PUSH_DRAW_WINDOW", default_value_t = 60)]
    push_draw_window: u64,
    /// Web Push: push requests open at once.
    #[arg(long, env = "LINEUP_PUSH_IN_FLIGHT", default_value_t = 256)]
    push_in_flight: usize,
    /// Web Push: subscriptions one identity may hold.
    #[arg(long, env = "LINEUP_PUSH_MAX_SUBSCRIPTIONS", default_value_t = 10)]
    push_max_subscriptions: u32,
    /// Web Push: accept http endpoints and private, loopback and link-local hosts. A push
    /// endpoint is a URL the server POSTs to: leave this off outside tests.
    #[arg(long, env = "LINEUP_PUSH_ALLOW_PRIVATE_ENDPOINTS")]
    push_allow_private_endpoints: bool,
    /// Web Push: accept subscriptions but send nothing.
    #[arg(long, env = "LINEUP_PUSH_DISABLED")]
    push_disabled: bool,
    /// How registrations are verified: off (registered at once; trusts any contact: benchmarks
    /// and tests), log (DEMO — codes printed to the log; loopback only), smtp, sms. Default: smtp
    /// when --smtp-url is set, else sms when --sms-url is set, else log with --demo, else off.
    #[arg(long, env = "LINEUP_VERIFY_CONTACTS", value_enum)]
    verify_contacts: Option<lineup_server::verify::VerifyMode>,
    /// SMTP relay for e-mail codes: smtps://user:pass@host, smtp://host:587?tls=required, smtp://127.0.0.1:25.
    #[arg(long, env = "LINEUP_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// From address of e-mail codes.
    #[arg(long, env = "LINEUP_SMTP_FROM", default_value = "Lineup <no-reply@localhost>")]
    smtp_from: String,
    /// SMS provider endpoint: POST {"to","from","text"} with Authorization: Bearer <--sms-api-key>.
    #[arg(long, env = "LINEUP_SMS_URL", hide_env_values = true)]
    sms_url: Option<String>,
    /// SMS provider key (sent as a bearer token).
    #[arg(long, env = "LINEUP_SMS_API_KEY", hide_env_values = true)]
    sms_api_key: Option<String>,
    /// SMS sender number or name registered with the provider.
    #[arg(long, env = "LINEUP_SMS_FROM", default_value = "Lineup")]
    sms_from: String,
    /// Codes sent per client address and hour (0: no limit).
    #[arg(long, env = "LINEUP_VERIFY_SENDS_PER_ADDRESS", default_value_t = 60)]
    verify_sends_per_address: u32,
    /// Log as JSON lines.
    #[arg(long, env = "LINEUP_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Make the next issuer key (kid + 1) in --data-dir, pin it in --db and exit. Servers
    /// started afterwards sign with it (copy the new key file to every instance's data
    /// directory first); vouchers signed with older keys keep verifying.
    RotateKey,
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
    if let Some(Command::RotateKey) = args.command {
        let (kid, public_key) = lineup_server::rotate_issuer_key(&config)
            .await
            .context("rotating the issuer key")?;
        println!("Issuer key id {kid} (public key {public_key}) made and pinned; restart the servers to sign with it");
        return Ok(());
    }
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
    anyhow::ensure!(
        args.push_contact.starts_with("mailto:") || args.push_contact.starts_with("https://"),
        "--push-contact must be a mailto: or https:// URI"
    );
    config.push.contact = args.push_contact.clone();
    config.push.rate_per_s = args.push_rate.max(1);
    config.push.burst = (args.push_rate / 10).max(1);
    config.push.draw_window = Duration::from_secs(args.push_draw_window.max(1));
    config.push.in_flight = args.push_in_flight.max(1);
    config.push.max_subscriptions = args.push_max_subscriptions.max(1);
    config.push.allow_private_endpoints = args.push_allow_private_endpoints;
    config.push.enabled = !args.push_disabled;
    config.verify = verify_config(&args);
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
    if let Some(push) = running.state.push() {
        println!("Web Push VAPID key: {}", push.vapid.public_key());
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// Verification from flags: the mode named, else the one the configured sender implies.
fn verify_config(args: &Args) -> lineup_server::verify::VerifyConfig {
    use lineup_server::verify::{SmsConfig, SmtpConfig, VerifyConfig, VerifyMode};
    let mode = args.verify_contacts.unwrap_or(if args.smtp_url.is_some() {
        VerifyMode::Smtp
    } else if args.sms_url.is_some() {
        VerifyMode::Sms
    } else if args.demo {
        // The demo verifies contacts as a real server does, with the codes in its log (and
        // refuses to start so on an address other than loopback).
        VerifyMode::Log
    } else {
        VerifyMode::Off
    });
    VerifyConfig {
        mode,
        per_address_per_hour: std::num::NonZeroU32::new(args.verify_sends_per_address),
        smtp: args.smtp_url.as_ref().map(|url| SmtpConfig {
            url: url.clone(),
            from: args.smtp_from.clone(),
        }),
        sms: args.sms_url.as_ref().map(|url| SmsConfig {
            url: url.clone(),
            api_key: args.sms_api_key.clone(),
            from: args.sms_from.clone(),
        }),
        ..VerifyConfig::default()
    }
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
