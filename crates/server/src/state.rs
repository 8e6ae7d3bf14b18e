//! Shared state of a running server: the store, the issuer key, the clock, metrics, and small
//! caches that keep the hot path (`GET .../tickets/me`) off the database. The caches hold facts
//! that never change (campaign specs, registered keys), counters at most [`COUNTERS_TTL`] old,
//! and ticket rows under the rules of [`crate::ticket_cache`]; every decision that must be
//! exactly-once is made by the store.

use crate::clock::Clock;
use crate::issuer::Issuer;
use crate::limit::{RateLimitConfig, RateLimits};
use crate::metrics::{Metrics, TicketSource};
use crate::problem::ApiError;
use crate::store::{CampaignCounters, CampaignRow, Store, TicketRow};
use crate::ticket_cache::{TicketCache, TicketCacheConfig};
use chrono::{DateTime, Utc};
use lineup_protocol::auth::Origin;
use lineup_protocol::{CampaignId, IdentityKey, ProblemCode};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How old cached campaign counters may be.
pub const COUNTERS_TTL: Duration = Duration::from_millis(100);

/// How old the cached list of campaigns may be (campaigns are only ever added, by an instance
/// starting with a new configuration).
pub const CAMPAIGN_LIST_TTL: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    issuer: Issuer,
    clock: Clock,
    metrics: Metrics,
    campaigns: Mutex<HashMap<CampaignId, Arc<CampaignRow>>>,
    campaign_list: Mutex<Option<(Instant, Vec<Arc<CampaignRow>>)>>,
    counters: Mutex<HashMap<CampaignId, (Instant, CampaignCounters)>>,
    identities: Mutex<KnownKeys>,
    tickets: TicketCache,
    limits: RateLimits,
    /// The origins clients reach this server at (`--public-origin`); empty: the request's own
    /// `Host`, over http or https.
    origins: Vec<Origin>,
    claims: crate::batch::Batcher<crate::store::ClaimInput, crate::store::ClaimOutcome>,
    joins: crate::batch::Batcher<crate::store::JoinInput, crate::store::TakeOutcome>,
    push: std::sync::OnceLock<Arc<crate::push::PushHub>>,
    /// Contact verification (`None` until set: off).
    verifier: std::sync::OnceLock<Arc<crate::verify::Verifier>>,
    /// The contact secret, read from the database at the first registration.
    contact_key: tokio::sync::OnceCell<crate::verify::ContactKey>,
    draws: crate::draw::DrawCache,
    staff_guard: crate::staff_guard::StaffGuard,
    /// The last key revocation this instance has applied to `identities` (-1: not yet looked).
    revoked_seen: std::sync::atomic::AtomicI64,
    /// How many times keys were forgotten from `identities` (see `identity_known`).
    forgotten: std::sync::atomic::AtomicU64,
}

impl AppState {
    pub fn new(store: Store, issuer: Issuer, clock: Clock, metrics: Metrics) -> Self {
        Self::with_ticket_cache(store, issuer, clock, metrics, TicketCacheConfig::default())
    }

    /// [`AppState::new`] with the ticket cache sized by `tickets`.
    pub fn with_ticket_cache(
        store: Store,
        issuer: Issuer,
        clock: Clock,
        metrics: Metrics,
        tickets: TicketCacheConfig,
    ) -> Self {
        Self::with_options(
            store,
            issuer,
            clock,
            metrics,
            tickets,
            &RateLimitConfig::default(),
            Vec::new(),
        )
    }

    /// [`AppState::with_ticket_cache`] with the rate limits `limits`.
    pub fn with_options(
        store: Store,
        issuer: Issuer,
        clock: Clock,
        metrics: Metrics,
        tickets: TicketCacheConfig,
        limits: &RateLimitConfig,
        origins: Vec<Origin>,
    ) -> Self {
        let claims = crate::batch::claims(store.clone(), issuer.clone(), clock.clone());
        let joins = crate::batch::joins(store.clone());
        AppState {
            inner: Arc::new(Inner {
                store,
                issuer,
                clock,
                metrics,
                campaigns: Mutex::default(),
                campaign_list: Mutex::default(),
                counters: Mutex::default(),
                identities: Mutex::new(KnownKeys::new(KNOWN_KEYS)),
                tickets: TicketCache::new(tickets),
                limits: RateLimits::new(limits),
                origins,
                claims,
                joins,
                push: std::sync::OnceLock::new(),
                verifier: std::sync::OnceLock::new(),
                contact_key: tokio::sync::OnceCell::new(),
                draws: crate::draw::DrawCache::default(),
                staff_guard: crate::staff_guard::StaffGuard::default(),
                revoked_seen: std::sync::atomic::AtomicI64::new(-1),
                forgotten: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Carries out an explicit claim together with the others waiting (see [`crate::batch`]).
    pub async fn claim(
        &self,
        input: crate::store::ClaimInput,
    ) -> Result<crate::store::ClaimOutcome, crate::store::StoreError> {
        // Refusals and replays a read can answer never queue for the writer.
        if let Some(answer) = self.inner.store.claim_precheck(&input, self.now()).await? {
            return Ok(answer);
        }
        let id = input.campaign_id.clone();
        self.inner.claims.submit(&id, input).await
    }

    /// Takes a place in line together with the other joins waiting (see [`crate::batch`]).
    pub async fn join(
        &self,
        input: crate::store::JoinInput,
    ) -> Result<crate::store::TakeOutcome, crate::store::StoreError> {
        let id = input.campaign_id.clone();
        self.inner.joins.submit(&id, input).await
    }

    /// Web Push, once [`crate::spawn`] set it up (`None`: subscriptions are not served).
    pub fn push(&self) -> Option<&Arc<crate::push::PushHub>> {
        self.inner.push.get()
    }

    /// Sets up Web Push (once; later calls are ignored).
    pub fn set_push(&self, hub: Arc<crate::push::PushHub>) {
        let _ = self.inner.push.set(hub);
    }

    /// Sealed draws (see [`crate::draw::DrawCache`]).
    pub fn draws(&self) -> &crate::draw::DrawCache {
        &self.inner.draws
    }

    /// Failed staff-token attempts (see [`crate::staff_guard`]).
    pub fn staff_guard(&self) -> &crate::staff_guard::StaffGuard {
        &self.inner.staff_guard
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Sets how registrations are verified (once, at start-up; later calls change nothing and
    /// return false).
    pub fn set_verifier(&self, v: crate::verify::Verifier) -> bool {
        self.inner.verifier.set(Arc::new(v)).is_ok()
    }

    /// How registrations are verified (off unless set).
    pub fn verifier(&self) -> Arc<crate::verify::Verifier> {
        self.inner
            .verifier
            .get_or_init(|| Arc::new(crate::verify::Verifier::off()))
            .clone()
    }

    /// The last one-time code the demo sender (`--verify-contacts log`) printed for `contact`:
    /// the test seam that completes verification in-process without reading logs.
    pub fn demo_code(&self, contact: &lineup_protocol::Contact) -> Option<String> {
        self.verifier().outbox()?.latest(contact)
    }

    /// The secret keying contact digests, shared by every instance on the database.
    pub async fn contact_key(&self) -> Result<&crate::verify::ContactKey, ApiError> {
        self.inner
            .contact_key
            .get_or_try_init(|| async {
                let fresh = crate::issuer::random_bytes::<32>().map_err(ApiError::internal)?;
                let secret = self
                    .inner
                    .store
                    .shared_secret(crate::verify::digest::SECRET_NAME, fresh)
                    .await?;
                Ok::<_, ApiError>(crate::verify::ContactKey::new(secret))
            })
            .await
    }

    pub fn issuer(&self) -> &Issuer {
        &self.inner.issuer
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The origins a request's signature may name: the configured ones, or else those of the
    /// authority the request was sent to (its `Host`).
    pub fn origins_for(&self, authority: Option<&str>) -> Vec<Origin> {
        if !self.inner.origins.is_empty() {
            return self.inner.origins.clone();
        }
        authority
            .into_iter()
            .flat_map(|a| ["https", "http"].map(|scheme| Origin::from_parts(scheme, a)))
            .filter_map(Result::ok)
            .collect()
    }

    pub fn limits(&self) -> &RateLimits {
        &self.inner.limits
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// A campaign's stored row (specs never change once stored, so this is cached).
    pub async fn campaign(&self, id: &CampaignId) -> Result<Arc<CampaignRow>, ApiError> {
        if let Some(c) = lock(&self.inner.campaigns).get(id) {
            return Ok(c.clone());
        }
        match self.inner.store.campaign(id).await? {
            Some(row) => {
                let row = Arc::new(row);
                lock(&self.inner.campaigns).insert(id.clone(), row.clone());
                Ok(row)
            }
            None => Err(ApiError::new(
                ProblemCode::UnknownCampaign,
                format!("There is no campaign {id}."),
            )),
        }
    }

    /// Every campaign, listed from the store at most [`CAMPAIGN_LIST_TTL`] ago.
    pub async fn campaigns(&self) -> Result<Vec<Arc<CampaignRow>>, ApiError> {
        if let Some((at, list)) = &*lock(&self.inner.campaign_list)
            && at.elapsed() < CAMPAIGN_LIST_TTL
        {
            return Ok(list.clone());
        }
        let listed = Instant::now();
        let rows = self.inner.store.campaigns().await?;
        let list: Vec<Arc<CampaignRow>> = {
            let mut cache = lock(&self.inner.campaigns);
            rows.into_iter()
                .map(|r| {
                    let r = Arc::new(r);
                    cache.insert(r.spec.id.clone(), r.clone());
                    r
                })
                .collect()
        };
        *lock(&self.inner.campaign_list) = Some((listed, list.clone()));
        Ok(list)
    }

    /// Counters at most [`COUNTERS_TTL`] old.
    pub async fn counters(&self, id: &CampaignId) -> Result<CampaignCounters, ApiError> {
        if let Some((at, c)) = lock(&self.inner.counters).get(id)
            && at.elapsed() < COUNTERS_TTL
        {
            return Ok(*c);
        }
        self.fresh_counters(id).await
    }

    /// Counters read now (after a write that changed them).
    pub async fn fresh_counters(&self, id: &CampaignId) -> Result<CampaignCounters, ApiError> {
        let c = self
            .inner
            .store
            .campaign_counters(id)
            .await?
            .ok_or_else(|| ApiError::new(ProblemCode::UnknownCampaign, format!("There is no campaign {id}.")))?;
        lock(&self.inner.counters).insert(id.clone(), (Instant::now(), c));
        self.inner.metrics.observe_counters(id, &c);
        Ok(c)
    }

    /// Brings the stored state of campaign `c` up to `now`: performs the draw when due and
    /// returns expired admissions' vouchers to the line, then gives current counters. Both steps
    /// are idempotent transactions, so any request (or instance) may do them first.
    pub async fn settle(&self, c: &CampaignRow, now: DateTime<Utc>) -> Result<CampaignCounters, ApiError> {
        let id = &c.spec.id;
        let mut counters = self.counters(id).await?;
        let mut changed = false;
        if !counters.drawn && now >= c.spec.draw_at {
            changed |= self.inner.store.ensure_draw(id, now).await?;
            counters = self.fresh_counters(id).await?;
        }
        if counters.next_release_at.is_some_and(|t| t <= now) {
            changed |= self.inner.store.release_expired(id, now).await? > 0;
        }
        if changed {
            counters = self.fresh_counters(id).await?;
        }
        Ok(counters)
    }

    /// Whether `key` is a registered identity (positive answers are cached, at most
    /// [`KNOWN_KEYS`] of them: identities are never removed).
    pub async fn identity_known(&self, key: &IdentityKey) -> Result<bool, ApiError> {
        use std::sync::atomic::Ordering::SeqCst;
        if lock(&self.inner.identities).contains(&key.0) {
            return Ok(true);
        }
        // A key revoked (and forgotten) while this read was under way must not be cached by it:
        // when anything was forgotten meanwhile, the answer is read again, after the forgetting.
        for _ in 0..2 {
            let forgotten = self.inner.forgotten.load(SeqCst);
            let known = self.inner.store.identity_exists(key).await?;
            let mut cache = lock(&self.inner.identities);
            if self.inner.forgotten.load(SeqCst) == forgotten {
                if known {
                    cache.insert(key.0);
                }
                return Ok(known);
            }
        }
        // Revocations keep coming: answer from the database without caching.
        Ok(self.inner.store.identity_exists(key).await?)
    }

    /// Forgets keys revoked since this instance last looked (by any instance on the database),
    /// so a key cached as registered stops signing within a tick of its move.
    pub async fn forget_revoked_keys(&self) -> Result<usize, ApiError> {
        use std::sync::atomic::Ordering::Relaxed;
        if self.inner.revoked_seen.load(Relaxed) < 0 {
            // The first look (at start-up, before serving): nothing is cached yet, so the keys
            // revoked so far need no forgetting; watch from the newest.
            let last = self.inner.store.last_revocation().await?;
            self.inner.revoked_seen.store(last, Relaxed);
            return Ok(0);
        }
        let recent = self.now() - chrono::Duration::seconds(REVOCATION_OVERLAP_S);
        let again = self.inner.store.revocations_since(recent, 10_000).await?;
        self.forget_keys(again.iter());
        let mut forgotten = 0;
        loop {
            let after = self.inner.revoked_seen.load(Relaxed);
            let batch = self.inner.store.revocations_after(after, 1000).await?;
            let Some(&(last, _)) = batch.last() else {
                return Ok(forgotten);
            };
            self.forget_keys(batch.iter().map(|(_, k)| k));
            forgotten += batch.len();
            self.inner.revoked_seen.store(last, Relaxed);
            if batch.len() < 1000 {
                return Ok(forgotten);
            }
        }
    }

    /// Forgets `keys`; any key at all counts as a forgetting for `identity_known`, cached or
    /// not (a read under way may be about to cache it).
    fn forget_keys<'k>(&self, keys: impl Iterator<Item = &'k IdentityKey>) {
        let mut known = lock(&self.inner.identities);
        let mut any = false;
        for key in keys {
            known.remove(&key.0);
            any = true;
        }
        if any {
            self.inner.forgotten.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Where [`AppState::forget_revoked_keys`] starts: the newest revocation at start-up
    /// (nothing is cached yet, so the ones before need no forgetting).
    pub fn revocations_seen_up_to(&self, seq: i64) {
        self.inner.revoked_seen.store(seq, std::sync::atomic::Ordering::Relaxed);
    }

    /// Forgets `key` at once (this instance revoked it).
    pub fn forget_identity(&self, key: &IdentityKey) {
        lock(&self.inner.identities).remove(&key.0);
        self.inner.forgotten.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// The ticket of `identity` in campaign `c` at `now`, given counters just settled: from this
    /// instance's cache while [`crate::ticket_cache`] allows, else one indexed store read (which
    /// is then cached). `None`: no ticket (never cached, so a join elsewhere shows at once).
    pub async fn ticket(
        &self,
        c: &CampaignRow,
        identity: &IdentityKey,
        counters: &CampaignCounters,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<TicketRow>>, ApiError> {
        if let Some(t) = self.cached_ticket(c, identity, counters, now) {
            return Ok(Some(t));
        }
        let cache = &self.inner.tickets;
        let started = Instant::now();
        let row = self.inner.store.ticket_status_row(&c.spec.id, identity).await?;
        let row = row.map(|t| cache.put(&c.spec, t, started, now));
        self.inner.metrics.ticket_read(TicketSource::Store, cache.len());
        Ok(row)
    }

    /// The cached ticket of `identity` in campaign `c`, if the cache may answer (no store read).
    pub fn cached_ticket(
        &self,
        c: &CampaignRow,
        identity: &IdentityKey,
        counters: &CampaignCounters,
        now: DateTime<Utc>,
    ) -> Option<Arc<TicketRow>> {
        let cache = &self.inner.tickets;
        let t = cache.get(&c.spec, identity, counters, now)?;
        self.inner.metrics.ticket_read(TicketSource::Cache, cache.len());
        Some(t)
    }

    /// Caches a ticket row that a store write returned (a join), read no earlier than `started`.
    pub fn remember_ticket(
        &self,
        c: &CampaignRow,
        t: TicketRow,
        started: Instant,
        now: DateTime<Utc>,
    ) -> Arc<TicketRow> {
        self.inner.tickets.put(&c.spec, t, started, now)
    }

    /// Forgets the cached ticket of `identity` in campaign `id`: this instance just wrote it (a
    /// claim, a redemption).
    pub fn forget_ticket(&self, id: &CampaignId, identity: &IdentityKey) {
        self.inner.tickets.invalidate(id, identity);
    }

    /// Forgets cached counters of `id` (after this instance changed them).
    pub fn invalidate(&self, id: &CampaignId) {
        lock(&self.inner.counters).remove(id);
    }
}

/// Revocations of the last this many seconds are read again at every tick (see
/// `Store::revocations_after`).
pub const REVOCATION_OVERLAP_S: i64 = 60;

/// Registered keys remembered at most (32 bytes each, in two generations: about 13 MB).
pub const KNOWN_KEYS: usize = 200_000;

/// A bounded set of keys known to be registered: two generations, the older dropped whole when
/// the newer fills up, so a key in use stays (a hit moves it to the newer generation) and memory
/// never passes `cap` keys however many identities register.
#[derive(Debug)]
pub struct KnownKeys {
    current: HashSet<[u8; 32]>,
    previous: HashSet<[u8; 32]>,
    cap: usize,
}

impl KnownKeys {
    pub fn new(cap: usize) -> Self {
        KnownKeys {
            current: HashSet::new(),
            previous: HashSet::new(),
            cap: cap.max(2),
        }
    }

    pub fn contains(&mut self, key: &[u8; 32]) -> bool {
        if self.current.contains(key) {
            return true;
        }
        if self.previous.remove(key) {
            self.insert(*key);
            return true;
        }
        false
    }

    /// Forgets `key` (revoked: it moved to a new device).
    pub fn remove(&mut self, key: &[u8; 32]) {
        self.current.remove(key);
        self.previous.remove(key);
    }

    pub fn insert(&mut self, key: [u8; 32]) {
        if self.current.len() >= self.cap / 2 {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key);
    }

    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Locks a cache; a panic while holding one cannot leave it inconsistent (every critical
/// section is a single map operation), so a poisoned lock is used as is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::KnownKeys;

    #[test]
    fn known_keys_stay_bounded_and_keep_the_keys_in_use() {
        let mut k = KnownKeys::new(100);
        let hot = [255u8; 32];
        k.insert(hot);
        for i in 0..10_000u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            k.insert(key);
            assert!(k.contains(&hot), "a key in use is kept (round {i})");
            assert!(k.len() <= 100);
        }
        let mut old = [0u8; 32];
        old[..4].copy_from_slice(&0u32.to_le_bytes());
        assert!(
            !k.contains(&old),
            "a key not seen for long is forgotten (then read again)"
        );
    }
}
