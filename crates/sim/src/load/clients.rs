//! The load run's people: their identities, registration, the `lineup` client (the shipped
//! engine driven through the shipped API client) and the read-back that finds lost and
//! duplicated vouchers.

use super::server::{CAMPAIGN_ID, Route};
use super::{LoadError, Shared};
use crate::scenario::Micros;
use ed25519_dalek::SigningKey;
use lineup_core::api::{ApiClient, ApiConfig};
use lineup_core::clock::{Clock, MonotonicClock};
use lineup_core::engine::{ClaimRecord, Engine, EngineConfig, Outcome, Reply, Request, Step, new_idempotency_key};
use lineup_protocol::{Campaign, CampaignId, Contact, ProblemCode, TicketState};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::sync::Arc;
use std::time::Duration;

/// The campaign id of a load run.
pub fn campaign_id() -> Result<CampaignId, LoadError> {
    CAMPAIGN_ID
        .parse()
        .map_err(|e| LoadError::Invalid(format!("campaign id: {e}")))
}

/// An API client for `url` signing as `key`.
pub fn api_for(url: &str, key: SigningKey, timeout_s: u64) -> Result<ApiClient, LoadError> {
    let config = ApiConfig {
        connect_timeout: Duration::from_secs(timeout_s),
        request_timeout: Duration::from_secs(timeout_s),
        // Tens of thousands of people share this process's file descriptors with the server:
        // a connection is dropped half a second after its last use (each person's requests are
        // seconds apart, so nothing is lost).
        idle_timeout: Duration::from_millis(500),
    };
    Ok(ApiClient::new(url, config)
        .map_err(|e| LoadError::Setup(format!("API client: {e}")))?
        .with_identity(key))
}

/// One person's way to the servers during the scenario: an API client per instance it uses
/// (each with its own connections, as separate devices would have) and which one is next.
pub struct Conn {
    /// (instance index, client for it), never empty.
    apis: Vec<(usize, ApiClient)>,
    sent: usize,
}

impl Conn {
    /// Person `client`'s clients over `urls` (the instances, in start order): instance
    /// `client mod n` only (`Route::Client`), or every instance starting there (`Route::Request`).
    pub fn new(
        client: usize,
        urls: &[String],
        route: Route,
        key: &SigningKey,
        timeout_s: u64,
    ) -> Result<Conn, LoadError> {
        let n = urls.len();
        if n == 0 {
            return Err(LoadError::Server("no server instance is running".into()));
        }
        let uses = match route {
            Route::Client => 1,
            Route::Request => n,
        };
        let apis = (0..uses)
            .map(|k| {
                let i = (client + k) % n;
                Ok((i, api_for(&urls[i], key.clone(), timeout_s)?))
            })
            .collect::<Result<Vec<_>, LoadError>>()?;
        Ok(Conn { apis, sent: 0 })
    }

    /// Every person's [`Conn`], made on all cores: each `ApiClient` brings its own HTTP client
    /// and TLS set-up (milliseconds each, seconds for thousands).
    pub async fn make_all(
        keys: &[SigningKey],
        urls: &[String],
        route: Route,
        timeout_s: u64,
    ) -> Result<Vec<Conn>, LoadError> {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        let chunk = keys.len().div_ceil(workers).max(1);
        let mut jobs = Vec::new();
        for (c, part) in keys.chunks(chunk).enumerate() {
            let (part, urls) = (part.to_vec(), urls.to_vec());
            jobs.push(tokio::task::spawn_blocking(move || {
                part.iter()
                    .enumerate()
                    .map(|(j, key)| Conn::new(c * chunk + j, &urls, route, key, timeout_s))
                    .collect::<Result<Vec<_>, _>>()
            }));
        }
        let mut conns = Vec::with_capacity(keys.len());
        for job in jobs {
            conns.extend(
                job.await
                    .map_err(|e| LoadError::Setup(format!("making clients: {e}")))??,
            );
        }
        Ok(conns)
    }

    /// Sends `req` to the next instance in this person's rotation, counting it per instance.
    pub async fn execute(&mut self, shared: &Shared, cid: &CampaignId, req: &Request) -> Reply {
        let (instance, api) = &self.apis[self.sent % self.apis.len()];
        self.sent += 1;
        shared.sent_to(*instance);
        api.execute(cid, req).await
    }
}

/// Makes `n` identities from `seed` and registers them, `concurrency` at a time; person i
/// registers on instance i+1 of `urls` (mod n), not the one it runs the scenario on, so a
/// multi-instance run also checks that an identity registered on one instance works on others.
pub async fn register_all(
    urls: &[String],
    n: u32,
    seed: u64,
    concurrency: usize,
) -> Result<Vec<SigningKey>, LoadError> {
    let mut rng = Pcg64::seed_from_u64(seed ^ 0x6b657973);
    let keys: Vec<SigningKey> = (0..n)
        .map(|_| {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            SigningKey::from_bytes(&bytes)
        })
        .collect();
    let bases = urls
        .iter()
        .map(|url| ApiClient::new(url, ApiConfig::default()).map_err(|e| LoadError::Setup(format!("API client: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if bases.is_empty() {
        return Err(LoadError::Server("no server instance is running".into()));
    }
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, key) in keys.iter().enumerate() {
        let api = bases[(i + 1) % bases.len()].clone().with_identity(key.clone());
        let sem = sem.clone();
        let contact: Contact = format!("+8210{i:08}")
            .parse()
            .map_err(|e| LoadError::Setup(format!("contact: {e}")))?;
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            register_retrying(&api, contact)
                .await
                .map_err(|last| LoadError::Setup(format!("registration failed: {last}")))
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| LoadError::Setup(format!("registration task: {e}")))??;
    }
    Ok(keys)
}

/// `GET /v1/campaigns/sim`.
pub async fn fetch_campaign(url: &str) -> Result<Campaign, LoadError> {
    let api = ApiClient::new(url, ApiConfig::default()).map_err(|e| LoadError::Setup(format!("API client: {e}")))?;
    api.campaign(&campaign_id()?)
        .await
        .map_err(|e| LoadError::Setup(format!("campaign: {e}")))
}

/// Whether a reply tells the person their fate (as in the model: a waitlist place counts).
pub fn tells_fate(reply: &Reply) -> bool {
    match reply {
        Reply::Ticket(t) => matches!(
            t.state,
            TicketState::Claimed
                | TicketState::Waitlisted
                | TicketState::SoldOut
                | TicketState::Expired
                | TicketState::Closed
        ),
        Reply::Voucher(_) => true,
        Reply::Vouchers(v) => !v.vouchers.is_empty(),
        Reply::Problem { problem, .. } => matches!(
            problem.code,
            ProblemCode::SoldOut | ProblemCode::AdmissionExpired | ProblemCode::CampaignClosed
        ),
        Reply::Transport(_) => false,
    }
}

/// Whether a reply is a refusal for load (503) or no answer at all.
pub fn is_shed(reply: &Reply) -> bool {
    match reply {
        Reply::Problem { problem, .. } => matches!(problem.code, ProblemCode::Overloaded | ProblemCode::Timeout),
        Reply::Transport(_) => true,
        _ => false,
    }
}

/// Records one request and its reply.
pub fn record_exchange(shared: &Shared, client: u32, sent_at: Micros, reply: &Reply) {
    let at = shared.now();
    shared.record(|r| {
        r.request(client, sent_at);
        if is_shed(reply) {
            r.shed();
        }
        if tells_fate(reply) {
            r.knows(client, at);
        }
    });
}

/// One `lineup` client: the engine the app ships, driven as `lineup_core::driver::run_claim`
/// drives it, with the claim record kept in memory (a run never restarts) and every request
/// counted.
pub async fn run_lineup(client: u32, conn: Conn, shared: Arc<Shared>, seed: u64) {
    drive_lineup(client, &shared, seed, conn).await;
}

/// How a driven person's requests reach the server.
pub trait Transport: Send {
    fn send(&mut self, shared: &Shared, cid: &CampaignId, req: &Request) -> impl Future<Output = Reply> + Send;
}

impl Transport for Conn {
    fn send(&mut self, shared: &Shared, cid: &CampaignId, req: &Request) -> impl Future<Output = Reply> + Send {
        self.execute(shared, cid, req)
    }
}

/// The engine of person `client` from the campaign `shared` holds to its outcome, each request
/// sent through `transport` and recorded (the moment the person knows their fate, the voucher
/// they hold). `None` when the run's campaign id is not valid.
pub async fn drive_lineup(client: u32, shared: &Shared, seed: u64, mut transport: impl Transport) -> Option<Outcome> {
    let cid = campaign_id().ok()?;
    let clock = MonotonicClock::new();
    let mut rng = Pcg64::seed_from_u64(seed);
    let record = ClaimRecord::new(cid.clone(), new_idempotency_key(&mut rng));
    // The campaign body was fetched moments ago; the engine anchors on its `server_time`,
    // which is as good as now on loopback.
    let age_ms = (chrono::Utc::now() - shared.campaign.server_time)
        .num_milliseconds()
        .max(0)
        .unsigned_abs();
    let fetched_at = clock.now().saturating_sub(age_ms);
    let mut engine = Engine::new(&shared.campaign, fetched_at, record, EngineConfig::default(), rng);
    loop {
        match engine.next_step(clock.now()) {
            Step::Send(req) => {
                let sent_at = shared.now();
                let reply = transport.send(shared, &cid, &req).await;
                record_exchange(shared, client, sent_at, &reply);
                engine.on_reply(clock.now(), reply);
            }
            Step::WaitUntil(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(clock.instant(t))).await,
            Step::AwaitReply => tokio::task::yield_now().await,
            Step::Done(outcome) => {
                let at = shared.now();
                shared.record(|r| {
                    if let Outcome::Holding(v) = &outcome {
                        r.received(client, v.serial);
                    }
                    r.knows(client, at);
                });
                return Some(outcome);
            }
        }
    }
}

/// Registers `api`'s identity with `contact`, retrying (registration comes before the surge
/// and is not measured); the last failure when 20 tries did not do.
pub async fn register_retrying(api: &ApiClient, contact: Contact) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..20u64 {
        match api.register(contact.clone(), true).await {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50 * (attempt + 1))).await;
    }
    Err(last)
}

/// What the server holds for person `client` after the run, asked with their own `api`: their
/// place in the queue order and the vouchers of the run's campaign (not counted as requests).
pub async fn read_one(api: &ApiClient, cid: &CampaignId, client: u32, shared: &Shared) -> Result<(), String> {
    let ticket = api.ticket(cid).await.ok();
    let vouchers = api.vouchers().await.map_err(|e| e.to_string())?;
    shared.record(|r| {
        if let Some(p) = ticket.and_then(|t| t.position) {
            r.set_rank(client, p.0);
        }
        for v in vouchers.vouchers.iter().filter(|v| &v.campaign_id == cid) {
            let at = (v.issued_at - shared.origin)
                .num_microseconds()
                .map_or(0, |m| u64::try_from(m).unwrap_or(0));
            r.issued(v.serial, client, at);
        }
    });
    Ok(())
}

/// After the run: each identity's ticket (its place in the queue order) and the vouchers the
/// server holds for it (the server's truth), asked of instance i+2 (mod n) for person i: with
/// three or more instances, yet another one than it registered and ran on. These requests are
/// not counted.
pub async fn read_back(
    urls: &[String],
    keys: &[SigningKey],
    shared: &Arc<Shared>,
    concurrency: usize,
) -> Result<(), LoadError> {
    let cid = campaign_id()?;
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    if urls.is_empty() {
        return Err(LoadError::Server("no server instance is running".into()));
    }
    for (i, key) in keys.iter().enumerate() {
        let api = api_for(&urls[(i + 2) % urls.len()], key.clone(), 30)?;
        let (sem, shared, cid) = (sem.clone(), shared.clone(), cid.clone());
        let client = u32::try_from(i).map_err(|_| LoadError::Invalid("too many clients".into()))?;
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            read_one(&api, &cid, client, &shared).await
        });
    }
    let mut failures = 0usize;
    while let Some(r) = tasks.join_next().await {
        if !matches!(r, Ok(Ok(()))) {
            failures += 1;
        }
    }
    if failures > 0 {
        return Err(LoadError::Setup(format!("{failures} read-backs failed")));
    }
    Ok(())
}
