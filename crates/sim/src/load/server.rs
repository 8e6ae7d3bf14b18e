//! Starting the real `lineup-server` instances of a load run, their database, and reading
//! their `/metrics`.
//!
//! [`ServerSetup`] says how many instances a run starts, on which database, and how clients
//! are spread over them. SQLite (the default) is one instance on a fresh file in each
//! strategy's temporary directory; with a PostgreSQL server every strategy gets a fresh
//! database made through the given URL (and dropped afterwards), shared by all its instances,
//! so strategies never see each other's identities, tickets or vouchers.

use super::{LoadArgs, LoadError};
use crate::cli::SurgeArgs;
use crate::strategy::Strategy;
use chrono::{Duration as ChronoDuration, Utc};
use clap::{Args, ValueEnum};
use lineup_server::store::postgres::{PgPoolConfig, create_database, drop_database};
use lineup_server::{CampaignSpec, ConfiguredCampaign, DbLocation, Running, ServerConfig};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The id of the campaign a load run creates.
pub const CAMPAIGN_ID: &str = "sim";

/// The flags that choose the servers of a load run (turned into a [`ServerSetup`]).
#[derive(Clone, Args)]
pub struct ServerArgs {
    /// Server instances per strategy, all on one database (more than 1 needs PostgreSQL).
    #[arg(long, env = "LINEUP_SIM_SERVERS", default_value_t = 1)]
    pub servers: usize,
    /// `sqlite` (default: a fresh file per strategy in the run's temporary directory) or a
    /// PostgreSQL URL (postgres://user[:password]@host[:port][/db]) whose user may create
    /// databases: each strategy runs on a fresh database made through it and dropped afterwards.
    #[arg(long, value_name = "URL", env = "LINEUP_SIM_DB", hide_env_values = true)]
    pub db: Option<String>,
    /// Connections each instance may open to PostgreSQL (instances x this must stay under the
    /// database's max_connections).
    #[arg(long, default_value_t = PgPoolConfig::default().max_connections)]
    pub db_max_connections: u32,
    /// How clients are spread over the instances: each client sticks to one (round-robin by
    /// client, like a connection-affine balancer) or every request goes to the next instance.
    #[arg(long, value_enum, default_value = "client")]
    pub route: Route,
}

// By hand: the URL may carry a password, and `Debug` output ends up in logs.
impl std::fmt::Debug for ServerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerArgs")
            .field("servers", &self.servers)
            .field("db", &self.db.as_ref().map(|_| "<given>"))
            .field("db_max_connections", &self.db_max_connections)
            .field("route", &self.route)
            .finish()
    }
}

impl Default for ServerArgs {
    fn default() -> Self {
        ServerArgs {
            servers: 1,
            db: None,
            db_max_connections: PgPoolConfig::default().max_connections,
            route: Route::Client,
        }
    }
}

impl ServerArgs {
    /// Checks the flags. Errors never repeat the URL (it may carry a password).
    pub fn setup(&self) -> Result<ServerSetup, LoadError> {
        if self.servers == 0 {
            return Err(LoadError::Invalid("--servers must be at least 1".into()));
        }
        let db = match self.db.as_deref().map(str::trim) {
            None | Some("" | "sqlite") => None,
            Some(url) => Some(PgServer::parse(url)?),
        };
        if db.is_none() && self.servers > 1 {
            return Err(LoadError::Invalid(
                "--servers above 1 needs --db postgres://... (SQLite is a single-instance store)".into(),
            ));
        }
        if self.db_max_connections == 0 {
            return Err(LoadError::Invalid("--db-max-connections must be at least 1".into()));
        }
        Ok(ServerSetup {
            servers: self.servers,
            db,
            pg_pool: PgPoolConfig {
                max_connections: self.db_max_connections,
                ..PgPoolConfig::default()
            },
            route: self.route,
        })
    }
}

/// How a client's requests are spread over the instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Route {
    /// Client i sends every scenario request to instance i mod n.
    Client,
    /// Client i sends its k-th scenario request to instance (i + k) mod n.
    Request,
}

impl Route {
    pub fn name(self) -> &'static str {
        match self {
            Route::Client => "client",
            Route::Request => "request",
        }
    }
}

/// A PostgreSQL server reached through a URL whose user may create databases.
#[derive(Clone)]
pub struct PgServer {
    /// The URL as given: fresh databases are made through it.
    admin_url: String,
    /// The URL without password, database and parameters: what reports show.
    shown: String,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PgServer").field(&self.shown).finish()
    }
}

impl PgServer {
    /// Accepts `postgres://` / `postgresql://` URLs with a host.
    pub fn parse(url: &str) -> Result<PgServer, LoadError> {
        const USAGE: &str = "--db takes `sqlite` or a URL like postgres://user[:password]@host[:port][/db]";
        let parsed = reqwest::Url::parse(url).map_err(|e| LoadError::Invalid(format!("{USAGE} ({e})")))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(LoadError::Invalid(format!(
                "{USAGE} (the scheme is not postgres or postgresql)"
            )));
        }
        let host = parsed.host_str().unwrap_or_default();
        if host.is_empty() {
            return Err(LoadError::Invalid(format!("{USAGE} (the URL names no host)")));
        }
        let user = match parsed.username() {
            "" => String::new(),
            u => format!("{u}@"),
        };
        let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
        Ok(PgServer {
            admin_url: url.to_owned(),
            shown: format!("{}://{user}{host}{port}", parsed.scheme()),
        })
    }

    /// Where the server is, without secrets.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// How many server instances a run starts, on which database, and how clients reach them.
#[derive(Debug, Clone)]
pub struct ServerSetup {
    pub servers: usize,
    /// `None`: SQLite in each strategy's data directory.
    pub db: Option<PgServer>,
    /// Pool of each instance (PostgreSQL only).
    pub pg_pool: PgPoolConfig,
    pub route: Route,
}

impl Default for ServerSetup {
    fn default() -> Self {
        ServerSetup {
            servers: 1,
            db: None,
            pg_pool: PgPoolConfig::default(),
            route: Route::Client,
        }
    }
}

/// The running instances of one strategy's server.
pub struct Instances {
    running: Vec<Running>,
    /// The first instance's base URL (the campaign fetch goes there).
    pub url: String,
}

impl Instances {
    /// Base URLs of every instance, for spreading clients round-robin.
    pub fn urls(&self) -> Vec<String> {
        self.running.iter().map(|r| r.url.clone()).collect()
    }

    /// Where every instance listens (a restart may listen there again).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.running.iter().map(|r| r.addr).collect()
    }

    pub async fn shutdown(self) {
        for r in self.running {
            r.shutdown().await;
        }
    }
}

/// The database one strategy runs on.
pub struct StrategyDb {
    pub location: DbLocation,
    /// The PostgreSQL database made for this strategy (dropped by [`ServerSetup::release`]).
    made: Option<String>,
}

impl ServerSetup {
    /// What the report says about the database: `sqlite`, or the PostgreSQL server without
    /// password, database or parameters.
    pub fn db_label(&self) -> String {
        match &self.db {
            None => "sqlite".into(),
            Some(pg) => pg.shown().to_owned(),
        }
    }

    /// A fresh database for `strategy`: SQLite in `data_dir`, or a new PostgreSQL database.
    pub async fn fresh_db(&self, strategy: Strategy, data_dir: &Path) -> Result<StrategyDb, LoadError> {
        let Some(pg) = &self.db else {
            return Ok(StrategyDb {
                location: DbLocation::Sqlite(data_dir.join("lineup.db")),
                made: None,
            });
        };
        let name = db_name(strategy);
        let url = create_database(&pg.admin_url, &name)
            .await
            .map_err(|e| LoadError::Server(format!("creating database {name} on {}: {e}", pg.shown())))?;
        tracing::info!(database = %name, server = %pg.shown(), "fresh database");
        Ok(StrategyDb {
            location: DbLocation::Postgres(url),
            made: Some(name),
        })
    }

    /// Drops the database [`ServerSetup::fresh_db`] made, if any.
    pub async fn release(&self, db: StrategyDb) -> Result<(), LoadError> {
        match (&self.db, db.made) {
            (Some(pg), Some(name)) => drop_database(&pg.admin_url, &name)
                .await
                .map_err(|e| LoadError::Server(format!("dropping database {name} on {}: {e}", pg.shown()))),
            _ => Ok(()),
        }
    }

    /// Starts the instances on `db` (the issuer key in `data_dir`, shared by all of them so
    /// every instance signs with the same key), with `campaign` configured if given; instance k
    /// listens on `at[k]` if given (a restart keeps its URLs), else on a free port.
    pub async fn spawn(
        &self,
        data_dir: &Path,
        db: &StrategyDb,
        campaign: Option<CampaignSpec>,
        args: &LoadArgs,
        at: &[SocketAddr],
    ) -> Result<Instances, LoadError> {
        let mut running = Vec::new();
        for k in 0..self.servers.max(1) {
            let mut config = ServerConfig::new(data_dir);
            if let Some(addr) = at.get(k) {
                config.addr = *addr;
            }
            config.db = db.location.clone();
            config.pg_pool = self.pg_pool.clone();
            config.max_concurrency = args.max_concurrency;
            // A load run's crowd shares one loopback address, and the baselines' refreshing is
            // what is measured: no rate limits here (`lineup-sim attack` measures them).
            config.rate_limits = lineup_server::limit::RateLimitConfig::off();
            config.campaigns = campaign
                .iter()
                .map(|spec| ConfiguredCampaign {
                    spec: spec.clone(),
                    staff_token_hash: lineup_server::issuer::staff_token_hash("lineup-sim-staff"),
                })
                .collect();
            match lineup_server::spawn(config).await {
                Ok(r) => running.push(r),
                Err(e) => {
                    // Leave nothing running (and holding database connections) behind.
                    for r in running {
                        r.shutdown().await;
                    }
                    return Err(LoadError::Server(e.to_string()));
                }
            }
        }
        let url = running.first().map(|r| r.url.clone()).unwrap_or_default();
        Ok(Instances { running, url })
    }
}

/// `lineup_sim_<strategy>_<random>`: unique per run, so runs against one server never collide.
fn db_name(strategy: Strategy) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // Nanoseconds and the process id mixed (splitmix64's finalizer): distinct for runs started
    // at once by different processes, and for strategies one after the other in one process.
    let mut x = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    format!("lineup_sim_{}_{x:016x}", strategy.name().replace('-', "_"))
}

/// The campaign of a load run: its pre-queue opens now.
pub fn campaign_spec(surge: &SurgeArgs, args: &LoadArgs, rate: u32) -> Result<CampaignSpec, LoadError> {
    let now = Utc::now();
    let ms = |s: f64| ChronoDuration::milliseconds((s * 1000.0).round() as i64);
    let opens_at = now + ms(args.prequeue_s);
    let spec = CampaignSpec {
        id: CAMPAIGN_ID
            .parse()
            .map_err(|e| LoadError::Invalid(format!("campaign id: {e}")))?,
        title: "영화 할인권 6,000원 (부하 시험)".into(),
        title_en: "6,000-won cinema voucher (load test)".into(),
        issuer: "lineup-sim".into(),
        brands: vec!["CGV".into(), "Lotte Cinema".into(), "Megabox".into()],
        amount: 6000,
        currency: *b"KRW",
        supply: u64::from(surge.vouchers),
        prequeue_opens_at: now,
        draw_at: opens_at - ms(args.draw_lead_s),
        opens_at,
        closes_at: opens_at + ChronoDuration::hours(1),
        voucher_expires_at: opens_at + ChronoDuration::days(30),
        admission_rate_per_s: rate,
        admission_window_s: args.admission_window_s,
    };
    spec.validate().map_err(|e| LoadError::Invalid(e.to_string()))?;
    Ok(spec)
}

/// Every instance's `/metrics`, merged by [`merge_metrics`]. An instance whose `/metrics`
/// cannot be read is left out (with a warning).
pub async fn scrape_metrics(urls: &[String]) -> BTreeMap<String, f64> {
    let mut instances = Vec::new();
    for url in urls {
        match fetch_text(&format!("{url}/metrics")).await {
            Ok(text) => instances.push(Some(summarize_metrics(&text))),
            Err(e) => {
                tracing::warn!(%e, %url, "could not read /metrics");
                instances.push(None);
            }
        }
    }
    merge_metrics(&instances)
}

async fn fetch_text(url: &str) -> Result<String, reqwest::Error> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    client.get(url).send().await?.error_for_status()?.text().await
}

/// One instance's samples, summed by metric name (and `lineup_requests_total` also by status),
/// kept apart by what they count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceMetrics {
    /// What this instance itself did (requests, refusals, latency sums and counts).
    pub own: BTreeMap<String, f64>,
    /// Series with a `campaign` label: the server mirrors the database's campaign totals
    /// (issued, admitted, redeemed, queue length) into them, so every instance on one
    /// database reports the same campaign-wide numbers.
    pub campaign: BTreeMap<String, f64>,
}

/// Sums Prometheus samples by metric name, skipping histogram buckets.
pub fn summarize_metrics(text: &str) -> InstanceMetrics {
    let mut out = InstanceMetrics::default();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        if name.ends_with("_bucket") {
            continue;
        }
        let label = |key: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.trim().strip_prefix(key)?.strip_prefix("=\""))
                .and_then(|s| s.split('"').next())
                .map(str::to_owned)
        };
        let map = if label("campaign").is_some() {
            &mut out.campaign
        } else {
            &mut out.own
        };
        *map.entry(name.to_owned()).or_insert(0.0) += value;
        if name == "lineup_requests_total"
            && let Some(status) = label("status")
        {
            *map.entry(format!("lineup_requests_total{{status={status}}}"))
                .or_insert(0.0) += value;
        }
    }
    out
}

/// The run's view over all instances (`None`: an instance that could not be read): what each
/// instance did is summed; campaign-wide mirrors are taken from the instance that reports the
/// most (summing them would count the shared database once per instance; the largest is the
/// freshest, as the totals only grow while the line drains). Each instance's own request count
/// is also kept as `lineup_requests_total{instance=K}` (K from 0, in start order).
pub fn merge_metrics(instances: &[Option<InstanceMetrics>]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (k, m) in instances.iter().enumerate() {
        let Some(m) = m else { continue };
        for (name, v) in &m.own {
            *out.entry(name.clone()).or_insert(0.0) += v;
        }
        if instances.len() > 1 {
            let own = m.own.get("lineup_requests_total").copied().unwrap_or(0.0);
            out.insert(format!("lineup_requests_total{{instance={k}}}"), own);
        }
    }
    for m in instances.iter().flatten() {
        for (name, v) in &m.campaign {
            let e = out.entry(name.clone()).or_insert(*v);
            *e = e.max(*v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "# HELP x\n\
        lineup_requests_total{route=\"/a\",status=\"200\"} 3\n\
        lineup_requests_total{route=\"/b\",status=\"503\"} 2\n\
        lineup_requests_total{route=\"/c\",status=\"200\"} 1\n\
        lineup_shed_total 2\n\
        lineup_request_duration_seconds_bucket{le=\"0.1\"} 9\n\
        lineup_issued_total{campaign=\"sim\"} 5\n\
        lineup_queue_length{campaign=\"sim\"} 7\n";

    #[test]
    fn metrics_are_summed_by_name_and_status() {
        let m = merge_metrics(&[Some(summarize_metrics(ONE))]);
        assert_eq!(m["lineup_requests_total"], 6.0);
        assert_eq!(m["lineup_requests_total{status=200}"], 4.0);
        assert_eq!(m["lineup_requests_total{status=503}"], 2.0);
        assert_eq!(m["lineup_shed_total"], 2.0);
        assert_eq!(m["lineup_issued_total"], 5.0);
        assert!(!m.contains_key("lineup_request_duration_seconds_bucket"));
        assert!(!m.contains_key("lineup_requests_total{instance=0}"));
    }

    #[test]
    fn instances_add_their_own_counts_and_share_the_campaign_totals() {
        let two = "lineup_requests_total{route=\"/a\",status=\"200\"} 10\n\
            lineup_shed_total 1\n\
            lineup_issued_total{campaign=\"sim\"} 6\n\
            lineup_queue_length{campaign=\"sim\"} 7\n";
        let m = merge_metrics(&[Some(summarize_metrics(ONE)), None, Some(summarize_metrics(two))]);
        assert_eq!(m["lineup_requests_total"], 16.0);
        assert_eq!(m["lineup_requests_total{status=200}"], 14.0);
        assert_eq!(m["lineup_shed_total"], 3.0);
        assert_eq!(m["lineup_requests_total{instance=0}"], 6.0);
        assert_eq!(m["lineup_requests_total{instance=2}"], 10.0);
        assert!(!m.contains_key("lineup_requests_total{instance=1}"));
        // One database: 6 vouchers issued, not 11.
        assert_eq!(m["lineup_issued_total"], 6.0);
        assert_eq!(m["lineup_queue_length"], 7.0);
    }

    fn setup(servers: usize, db: Option<&str>) -> Result<ServerSetup, LoadError> {
        ServerArgs {
            servers,
            db: db.map(str::to_owned),
            ..ServerArgs::default()
        }
        .setup()
    }

    #[test]
    fn database_urls_are_checked_and_never_shown_with_their_password() {
        let s = setup(
            3,
            Some("postgres://lineup:s3cret@127.0.0.1:5432/postgres?sslmode=disable"),
        )
        .unwrap();
        assert_eq!(s.db_label(), "postgres://lineup@127.0.0.1:5432");
        assert!(!format!("{s:?}").contains("s3cret"));
        let args = ServerArgs {
            db: Some("postgres://u:s3cret@h/db".into()),
            ..ServerArgs::default()
        };
        assert!(!format!("{args:?}").contains("s3cret"));
        assert_eq!(
            setup(1, Some("postgresql://db.example/x")).unwrap().db_label(),
            "postgresql://db.example"
        );
        assert_eq!(setup(1, None).unwrap().db_label(), "sqlite");
        assert_eq!(setup(1, Some("sqlite")).unwrap().db_label(), "sqlite");
        for bad in [
            "mysql://u:s3cret@h/db",
            "postgres://u:s3cret@/db",
            "u:s3cret@localhost",
            "/tmp/x.db",
        ] {
            let e = setup(1, Some(bad)).unwrap_err().to_string();
            assert!(e.contains("--db takes"), "{bad}: {e}");
            assert!(!e.contains("s3cret") && !e.contains('\n'), "{bad}: {e}");
        }
        assert!(setup(3, None).unwrap_err().to_string().contains("needs --db postgres"));
        assert!(setup(0, None).is_err());
    }

    #[test]
    fn database_names_are_valid_and_distinct() {
        let a = db_name(Strategy::DecorrelatedJitter);
        std::thread::sleep(Duration::from_millis(1));
        let b = db_name(Strategy::DecorrelatedJitter);
        assert_ne!(a, b);
        assert!(a.len() <= 63, "{a}");
        assert!(a.starts_with("lineup_sim_decorrelated_jitter_"), "{a}");
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        );
    }
}
