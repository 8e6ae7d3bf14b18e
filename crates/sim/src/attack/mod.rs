//! `lineup-sim attack`: what attackers running alongside calm `lineup` clients do to them and to
//! the server. The calm load (the `load` mode's `lineup` people on a fresh database) runs once
//! without attackers (the baseline) and once per attack (and, with `--together`, once with all
//! of them at once); each run reports the calm people's requests per person, shed requests,
//! latency and endings, the server's memory and open descriptors (sampled from `/proc` of the
//! `lineup-server` child process), and what each attacker sent and was answered.
//!
//! Each calm person connects from their own loopback address (127.1.x.y, [`people`]); each
//! attacker from one address of its own (127.0.0.2, .3, ...), so limits per address can tell
//! them apart as they would real hosts.

pub mod bots;
pub mod calm;
pub mod people;
pub mod proc;
pub mod raw;
pub mod report;
pub mod tally;
pub mod target;

use crate::load::clients;
use crate::load::server::campaign_spec;
use crate::load::{LoadArgs, ServerSetup, Shared};
use crate::stats::{Recorder, StrategyReport};
use crate::strategy::Strategy;
use clap::{Args, ValueEnum};
use ed25519_dalek::SigningKey;
use lineup_core::api::{ApiClient, ApiConfig};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

pub use target::{ServerKind, ServerLimits};

/// Why an attack run failed.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    #[error("server: {0}")]
    Server(String),
    #[error("setup failed: {0}")]
    Setup(String),
    #[error("invalid parameters: {0}")]
    Invalid(String),
    #[error(transparent)]
    Load(#[from] crate::load::LoadError),
}

/// One attack of the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attack {
    /// Connections sending their headers a byte at a time.
    SlowHeaders,
    /// Claims declaring a 16,000-byte body, sent a byte at a time.
    SlowBodies,
    /// Connections that send nothing.
    Idle,
    /// One registered identity sending hundreds of signed requests per second (its status and
    /// claims; it takes a ticket just after the draw).
    HammerIdentity,
    /// One address sending hundreds of unsigned or badly signed requests per second.
    HammerAddress,
    /// Registered identities claiming tickets they do not hold, a fresh key each time.
    JunkClaims,
    /// Registrations of fresh keys and contacts.
    RegistrationFlood,
}

impl Attack {
    pub const ALL: [Attack; 7] = [
        Attack::SlowHeaders,
        Attack::SlowBodies,
        Attack::Idle,
        Attack::HammerIdentity,
        Attack::HammerAddress,
        Attack::JunkClaims,
        Attack::RegistrationFlood,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Attack::SlowHeaders => "slow-headers",
            Attack::SlowBodies => "slow-bodies",
            Attack::Idle => "idle",
            Attack::HammerIdentity => "hammer-identity",
            Attack::HammerAddress => "hammer-address",
            Attack::JunkClaims => "junk-claims",
            Attack::RegistrationFlood => "registration-flood",
        }
    }

    /// The loopback address this attacker connects from (calm clients use 127.0.0.1).
    pub fn source(self) -> IpAddr {
        let k = Attack::ALL.iter().position(|a| *a == self).unwrap_or(0) as u8;
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + k))
    }
}

/// How hard each attacker pushes when it runs.
#[derive(Debug, Clone, Args)]
pub struct Strength {
    /// Slow-header connections held at once.
    #[arg(long, default_value_t = 1_000)]
    pub slow_headers: usize,
    /// Slow-body connections held at once.
    #[arg(long, default_value_t = 1_000)]
    pub slow_bodies: usize,
    /// Idle connections held at once.
    #[arg(long, default_value_t = 10_000)]
    pub idle: usize,
    /// Milliseconds between two bytes of a slow request.
    #[arg(long, default_value_t = 2_000)]
    pub drip_ms: u64,
    /// Requests per second of the hammering identity.
    #[arg(long, default_value_t = 500)]
    pub hammer_identity_rps: u32,
    /// Requests per second of the hammering address.
    #[arg(long, default_value_t = 500)]
    pub hammer_address_rps: u32,
    /// Junk claims per second (spread over --junk-identities).
    #[arg(long, default_value_t = 500)]
    pub junk_claims_rps: u32,
    /// Registered identities sending junk claims.
    #[arg(long, default_value_t = 20)]
    pub junk_identities: usize,
    /// Registrations per second of the flood.
    #[arg(long, default_value_t = 300)]
    pub registration_rps: u32,
    /// Requests in flight at most per HTTP attacker.
    #[arg(long, default_value_t = 256)]
    pub bot_in_flight: usize,
    /// Seconds the attackers run before the calm clients start (connection attackers open
    /// their connections over this time).
    #[arg(long, default_value_t = 3.0)]
    pub ramp_s: f64,
}

impl Default for Strength {
    fn default() -> Self {
        Strength {
            slow_headers: 1_000,
            slow_bodies: 1_000,
            idle: 10_000,
            drip_ms: 2_000,
            hammer_identity_rps: 500,
            hammer_address_rps: 500,
            junk_claims_rps: 500,
            junk_identities: 20,
            registration_rps: 300,
            bot_in_flight: 256,
            ramp_s: 3.0,
        }
    }
}

/// The calm people of a run.
#[derive(Debug, Clone)]
pub struct Calm {
    pub clients: u32,
    pub vouchers: u32,
    /// Issuances per second the campaign is sized for.
    pub capacity: f64,
    pub seed: u64,
    pub load: LoadArgs,
    /// Seconds the calm people get from their start; who has not finished by then is stopped
    /// and counted as failed (a locked-out crowd would otherwise keep a run going for ever).
    pub deadline_s: f64,
}

/// The server of every run.
#[derive(Debug, Clone)]
pub struct ServerPlan {
    pub kind: ServerKind,
    pub limits: ServerLimits,
    /// The database (SQLite, or a fresh PostgreSQL database per run).
    pub setup: ServerSetup,
}

/// One run's results.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    /// `baseline`, an attack's name, or `together`.
    pub name: String,
    pub attacks: Vec<Attack>,
    pub calm: StrategyReport,
    pub calm_detail: calm::CalmSummary,
    pub server: proc::ProcSummary,
    /// Whether `server` is the server alone (a child process) or this whole process.
    pub server_separate: bool,
    pub attackers: BTreeMap<String, tally::TallySnapshot>,
    /// The server's own counters from `/metrics`.
    pub server_metrics: BTreeMap<String, f64>,
}

/// Identities registered before the campaign starts: calm people, then the bots.
struct People {
    calm: Vec<people::Person>,
    hammer: SigningKey,
    junk: Vec<SigningKey>,
}

async fn register_bots(url: &str, seed: u64, junk: usize) -> Result<(SigningKey, Vec<SigningKey>), AttackError> {
    let mut rng = Pcg64::seed_from_u64(seed ^ 0x626f7473);
    let mut key = || {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        SigningKey::from_bytes(&b)
    };
    let hammer = key();
    let junk: Vec<SigningKey> = (0..junk.max(1)).map(|_| key()).collect();
    let base = ApiClient::new(url, ApiConfig::default()).map_err(|e| AttackError::Setup(e.to_string()))?;
    for (i, k) in std::iter::once(&hammer).chain(&junk).enumerate() {
        let contact = format!("+8211{i:08}")
            .parse()
            .map_err(|e| AttackError::Setup(format!("contact: {e}")))?;
        base.clone()
            .with_identity(k.clone())
            .register(contact, true)
            .await
            .map_err(|e| AttackError::Setup(format!("registering a bot: {e}")))?;
    }
    Ok((hammer, junk))
}

/// Each attacker's counters, by attack name.
type Tallies = BTreeMap<String, Arc<tally::Tally>>;

/// Starts the attackers of `attacks` against the server at `url`.
fn start_attackers(
    attacks: &[Attack],
    strength: &Strength,
    people: &People,
    target: &target::Target,
    draw_at: chrono::DateTime<chrono::Utc>,
    seed: u64,
    stop: &watch::Receiver<bool>,
) -> Result<(tokio::task::JoinSet<()>, Tallies), AttackError> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut tallies = BTreeMap::new();
    let drip = Duration::from_millis(strength.drip_ms.max(1));
    let ramp = Duration::from_secs_f64(strength.ramp_s.max(0.0) * 0.8);
    for &attack in attacks {
        let tally = Arc::new(tally::Tally::default());
        tallies.insert(attack.name().to_owned(), tally.clone());
        let source = attack.source();
        let crowd = |kind, n| raw::Crowd {
            kind,
            n,
            source,
            drip,
            ramp,
        };
        let bot = |kind, rps| bots::Bot {
            kind,
            rps,
            source,
            in_flight: strength.bot_in_flight,
            seed: seed ^ ((attack as u64) << 40),
        };
        match attack {
            Attack::SlowHeaders => raw::spawn(
                &mut tasks,
                crowd(raw::RawKind::SlowHeaders, strength.slow_headers),
                target.addr,
                stop,
                &tally,
            ),
            Attack::SlowBodies => raw::spawn(
                &mut tasks,
                crowd(raw::RawKind::SlowBodies, strength.slow_bodies),
                target.addr,
                stop,
                &tally,
            ),
            Attack::Idle => raw::spawn(
                &mut tasks,
                crowd(raw::RawKind::Idle, strength.idle),
                target.addr,
                stop,
                &tally,
            ),
            Attack::HammerIdentity => bots::spawn(
                &mut tasks,
                bot(
                    bots::BotKind::HammerIdentity(
                        Box::new(people.hammer.clone()),
                        draw_at + chrono::Duration::milliseconds(500),
                    ),
                    strength.hammer_identity_rps,
                ),
                target.url.clone(),
                stop,
                &tally,
            )?,
            Attack::HammerAddress => bots::spawn(
                &mut tasks,
                bot(bots::BotKind::HammerAddress, strength.hammer_address_rps),
                target.url.clone(),
                stop,
                &tally,
            )?,
            Attack::JunkClaims => bots::spawn(
                &mut tasks,
                bot(bots::BotKind::JunkClaims(people.junk.clone()), strength.junk_claims_rps),
                target.url.clone(),
                stop,
                &tally,
            )?,
            Attack::RegistrationFlood => bots::spawn(
                &mut tasks,
                bot(bots::BotKind::RegistrationFlood, strength.registration_rps),
                target.url.clone(),
                stop,
                &tally,
            )?,
        }
    }
    Ok((tasks, tallies))
}

/// One run: the calm people on a fresh database, with `attacks` running alongside (none for
/// the baseline).
pub async fn run_one(
    name: &str,
    calm: &Calm,
    attacks: &[Attack],
    strength: &Strength,
    server: &ServerPlan,
) -> Result<RunRow, AttackError> {
    let data = tempfile::tempdir().map_err(|e| AttackError::Setup(format!("temporary directory: {e}")))?;
    let db = server.setup.fresh_db(Strategy::Lineup, data.path()).await?;
    let result = run_on(name, calm, attacks, strength, server, data.path(), &db.location).await;
    let released = server.setup.release(db).await;
    let row = result?;
    released?;
    Ok(row)
}

async fn run_on(
    name: &str,
    calm: &Calm,
    attacks: &[Attack],
    strength: &Strength,
    server: &ServerPlan,
    data: &std::path::Path,
    db: &lineup_server::DbLocation,
) -> Result<RunRow, AttackError> {
    if calm.clients == 0 || calm.vouchers == 0 || !(calm.capacity.is_finite() && calm.capacity >= 1.0) {
        return Err(AttackError::Invalid(
            "clients, vouchers and capacity must be at least 1".into(),
        ));
    }
    let load = &calm.load;
    // Register everyone on a server without the campaign, then restart it on the same database
    // and address with a campaign whose pre-queue opens now (as `load` does).
    let first = target::start(&server.kind, data, db, None, &server.limits, None).await?;
    let url = first.url.clone();
    let registered = async {
        let calm_people = people::make(&url, calm.clients, calm.seed, load.client_timeout_s).await?;
        people::register(&calm_people, load.setup_concurrency).await?;
        let (hammer, junk) = register_bots(&url, calm.seed, strength.junk_identities).await?;
        Ok::<_, AttackError>(People {
            calm: calm_people,
            hammer,
            junk,
        })
    }
    .await;
    let addr = first.addr;
    first.shutdown().await;
    let people = registered?;

    // The attackers get `ramp_s` before the calm people start; the pre-queue is that much
    // longer, so the calm people's own schedule is the load mode's.
    let ramp = Duration::from_secs_f64(strength.ramp_s.max(0.0));
    let mut shifted = load.clone();
    shifted.prequeue_s += ramp.as_secs_f64();
    let surge = crate::cli::SurgeArgs {
        clients: calm.clients,
        vouchers: calm.vouchers,
        capacity: calm.capacity,
        strategies: vec![Strategy::Lineup],
        seed: calm.seed,
        json: false,
        plot: None,
    };
    let rate = ((calm.capacity * load.admission_share).floor() as u32).max(1);
    let spec = campaign_spec(&surge, &shifted, rate)?;
    let origin = spec.prequeue_opens_at;
    let running = target::start(&server.kind, data, db, Some(&spec), &server.limits, Some(addr)).await?;
    if running.url != url {
        running.shutdown().await;
        return Err(AttackError::Server(
            "the restarted server did not get its address back".into(),
        ));
    }
    let result = attack_and_drive(name, calm, attacks, strength, &running, &people, origin, ramp).await;
    let metrics = crate::load::server::scrape_metrics(std::slice::from_ref(&url)).await;
    running.shutdown().await;
    let mut row = result?;
    row.server_metrics = metrics;
    Ok(row)
}

#[allow(clippy::too_many_arguments)]
async fn attack_and_drive(
    name: &str,
    calm: &Calm,
    attacks: &[Attack],
    strength: &Strength,
    running: &target::Target,
    people: &People,
    origin: chrono::DateTime<chrono::Utc>,
    ramp: Duration,
) -> Result<RunRow, AttackError> {
    let mut summary = proc::ProcSummary {
        before: proc::sample(running.pid).unwrap_or_default(),
        ..proc::ProcSummary::default()
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(proc::watch_peaks(
        running.pid,
        Duration::from_millis(200),
        stop_rx.clone(),
    ));
    // People read the campaign before the rush (the app shows it days ahead).
    let campaign = clients::fetch_campaign(&running.url).await?;
    let (mut attackers, tallies) = start_attackers(
        attacks,
        strength,
        people,
        running,
        campaign.draw_at,
        calm.seed,
        &stop_rx,
    )?;
    tokio::time::sleep(ramp).await;

    let driven = drive_calm(calm, campaign, &people.calm, origin).await;

    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(Duration::from_secs(15), async {
        while attackers.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        attackers.abort_all();
    }
    let peaks = sampler.await.unwrap_or_default();
    summary.peak_rss_kib = peaks.peak_rss_kib;
    summary.peak_fds = peaks.peak_fds;
    summary.samples = peaks.samples;
    // The attackers' sockets are closed; give the server a moment to see it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    summary.after = proc::sample(running.pid).unwrap_or_default();
    // Read back once the attack is over: an attack that locks people out would lock the
    // read-back out too.
    let (shared, log, ended) = driven?;
    people::read_back(&people.calm, &shared, calm.load.setup_concurrency).await?;
    let report = match shared.recorder.lock() {
        Ok(r) => r.finish("lineup", calm.vouchers, calm.capacity, None, ended),
        Err(_) => return Err(AttackError::Setup("a client panicked while recording".into())),
    };
    let detail = log.summary();
    Ok(RunRow {
        name: name.to_owned(),
        attacks: attacks.to_vec(),
        calm: report,
        calm_detail: detail,
        server: summary,
        server_separate: running.separate,
        attackers: tallies.into_iter().map(|(k, t)| (k, t.snapshot())).collect(),
        server_metrics: BTreeMap::new(),
    })
}

/// The calm people from the campaign's pre-queue to their endings (or the calm deadline):
/// what they recorded and when they ended.
async fn drive_calm(
    calm: &Calm,
    campaign: lineup_protocol::Campaign,
    crowd: &[people::Person],
    origin: chrono::DateTime<chrono::Utc>,
) -> Result<(Arc<Shared>, Arc<calm::CalmLog>, crate::scenario::Micros), AttackError> {
    let opens_at = u64::try_from((campaign.opens_at - origin).num_microseconds().unwrap_or(0)).unwrap_or(0);
    let mut recorder = Recorder::new(calm.clients, opens_at);
    recorder.setup_requests(u64::from(calm.clients) + 1);
    let shared = Arc::new(Shared {
        campaign,
        origin,
        recorder: Mutex::new(recorder),
        per_instance: vec![AtomicU64::new(0)],
    });
    let log = Arc::new(calm::CalmLog::default());
    let mut tasks = tokio::task::JoinSet::new();
    for (i, person) in crowd.iter().enumerate() {
        let client = u32::try_from(i).map_err(|_| AttackError::Invalid("too many clients".into()))?;
        let seed = calm.seed ^ Strategy::Lineup.salt() ^ (u64::from(client) << 20);
        tasks.spawn(calm::run(client, person.api.clone(), shared.clone(), log.clone(), seed));
    }
    let deadline = tokio::time::sleep(Duration::from_secs_f64(calm.deadline_s.max(1.0)));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = tasks.join_next() => if next.is_none() { break },
            () = &mut deadline => {
                log.unfinished(tasks.len() as u64);
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
    }
    let ended = shared.now();
    Ok((shared, log, ended))
}

/// Flags of `lineup-sim attack`.
#[derive(Debug, Clone, Args)]
pub struct AttackArgs {
    /// Calm people (running the `lineup` engine).
    #[arg(long, default_value_t = 2_000)]
    pub clients: u32,
    /// Vouchers on offer.
    #[arg(long, default_value_t = 500)]
    pub vouchers: u32,
    /// Issuances per second the campaign is sized for (admission runs at a share of it).
    #[arg(long, default_value_t = 200.0)]
    pub capacity: f64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seconds the calm people get from their start; who has not finished by then is stopped
    /// and counted as failed.
    #[arg(long, default_value_t = 300.0)]
    pub calm_deadline_s: f64,
    /// Attacks to run, one run each after the baseline (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "slow-headers,slow-bodies,idle,hammer-identity,hammer-address,junk-claims,registration-flood"
    )]
    pub attacks: Vec<Attack>,
    /// Also one run with every attack of --attacks at once.
    #[arg(long)]
    pub together: bool,
    #[command(flatten)]
    pub strength: Strength,
    /// The `lineup-server` binary to attack (default: the one next to this program). Its
    /// memory and descriptors are read from /proc.
    #[arg(long, value_name = "PATH")]
    pub server_bin: Option<PathBuf>,
    /// Run the server inside this process instead (memory and descriptors are then this
    /// whole process's, attackers included).
    #[arg(long, conflicts_with = "server_bin")]
    pub in_process: bool,
    /// The server's cap on open connections.
    #[arg(long, default_value_t = lineup_server::listen::ConnectionLimits::default().max_connections)]
    pub max_connections: usize,
    /// The server's deadline for a request's headers, milliseconds.
    #[arg(long, default_value_t = ServerLimits::default().header_read_timeout_ms)]
    pub header_read_timeout_ms: u64,
    /// The server's deadline for a request's body, milliseconds.
    #[arg(long, default_value_t = 5_000)]
    pub body_timeout_ms: u64,
    /// A further `lineup-server` flag, passed as is (repeat for several), e.g.
    /// `--server-arg=--some-limit=100`.
    #[arg(long = "server-arg", value_name = "FLAG", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// `sqlite` (default) or a PostgreSQL admin URL: every run gets a fresh database.
    #[arg(long, value_name = "URL", env = "LINEUP_SIM_DB", hide_env_values = true)]
    pub db: Option<String>,
    /// Print one JSON object on stdout (the table then goes to stderr).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub load: LoadArgs,
}

impl AttackArgs {
    pub fn calm(&self) -> Calm {
        Calm {
            clients: self.clients,
            vouchers: self.vouchers,
            capacity: self.capacity,
            seed: self.seed,
            load: self.load.clone(),
            deadline_s: self.calm_deadline_s,
        }
    }

    /// The server plan: the binary found, the limits, the database.
    pub fn server(&self) -> Result<ServerPlan, AttackError> {
        let kind = if self.in_process {
            ServerKind::InProcess
        } else {
            let bin = match &self.server_bin {
                Some(b) => b.clone(),
                None => std::env::current_exe()
                    .map_err(|e| AttackError::Setup(format!("where this program is: {e}")))?
                    .with_file_name("lineup-server"),
            };
            if !bin.is_file() {
                return Err(AttackError::Invalid(format!(
                    "no server binary at {} (build it with `cargo build -p lineup-server`, give --server-bin, or use --in-process)",
                    bin.display()
                )));
            }
            ServerKind::Child(bin)
        };
        let setup = crate::load::ServerArgs {
            db: self.db.clone(),
            ..crate::load::ServerArgs::default()
        }
        .setup()?;
        Ok(ServerPlan {
            kind,
            limits: ServerLimits {
                max_concurrency: self.load.max_concurrency,
                max_connections: self.max_connections,
                header_read_timeout_ms: self.header_read_timeout_ms,
                body_timeout_ms: self.body_timeout_ms,
                extra_args: self.server_args.clone(),
            },
            setup,
        })
    }
}

/// The baseline, then each attack, then (with `--together`) all of them at once.
pub async fn run_all(args: &AttackArgs) -> Result<Vec<RunRow>, AttackError> {
    let server = args.server()?;
    let calm = args.calm();
    let mut attacks = args.attacks.clone();
    attacks.sort();
    attacks.dedup();
    // This process holds one descriptor per attacking connection and calm person (and, with
    // the server inside, the server's end of each too).
    let held = |a: Attack, n: usize| if attacks.contains(&a) { n as u64 } else { 0 };
    let s = &args.strength;
    let ends = if args.in_process { 2 } else { 1 };
    let need = ends
        * (held(Attack::Idle, s.idle)
            + held(Attack::SlowHeaders, s.slow_headers)
            + held(Attack::SlowBodies, s.slow_bodies)
            + u64::from(args.clients))
        + 4 * s.bot_in_flight as u64
        + 4_096;
    let limit = proc::raise_nofile(need);
    if limit < need {
        tracing::warn!(
            limit,
            need,
            "could not raise the open-file limit as far as the attack needs"
        );
    }
    let mut rows = vec![run_one("baseline", &calm, &[], &args.strength, &server).await?];
    tracing::info!("baseline done");
    for &attack in &attacks {
        rows.push(run_one(attack.name(), &calm, &[attack], &args.strength, &server).await?);
        tracing::info!(attack = attack.name(), "attack run done");
    }
    if args.together && attacks.len() > 1 {
        rows.push(run_one("together", &calm, &attacks, &args.strength, &server).await?);
    }
    Ok(rows)
}
