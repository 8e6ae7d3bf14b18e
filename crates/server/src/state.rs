//! Shared state of a running server: the store, the issuer key, the clock, metrics, and small
//! caches that keep the hot path (`GET .../tickets/me`) off the database. The caches hold facts
//! that never change (campaign specs, registered keys), counters at most [`COUNTERS_TTL`] old,
//! and ticket rows under the rules of [`crate::ticket_cache`]; every decision that must be
//! exactly-once is made by the store.

use crate::clock::Clock;
use crate::issuer::Issuer;
use crate::metrics::{Metrics, TicketSource};
use crate::problem::ApiError;
use crate::store::{CampaignCounters, CampaignRow, Store, TicketRow};
use crate::ticket_cache::{TicketCache, TicketCacheConfig};
use chrono::{DateTime, Utc};
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
    identities: Mutex<HashSet<[u8; 32]>>,
    tickets: TicketCache,
    claims: crate::batch::Batcher<crate::store::ClaimInput, crate::store::ClaimOutcome>,
    joins: crate::batch::Batcher<crate::store::JoinInput, crate::store::TakeOutcome>,
    draws: crate::draw::DrawCache,
    staff_guard: crate::staff_guard::StaffGuard,
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
                identities: Mutex::default(),
                tickets: TicketCache::new(tickets),
                claims,
                joins,
                draws: crate::draw::DrawCache::default(),
                staff_guard: crate::staff_guard::StaffGuard::default(),
            }),
        }
    }

    /// Carries out an explicit claim together with the others waiting (see [`crate::batch`]).
    pub async fn claim(
        &self,
        input: crate::store::ClaimInput,
    ) -> Result<crate::store::ClaimOutcome, crate::store::StoreError> {
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

    pub fn issuer(&self) -> &Issuer {
        &self.inner.issuer
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
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

    /// Whether `key` is a registered identity (positive answers are cached: identities are never
    /// removed).
    pub async fn identity_known(&self, key: &IdentityKey) -> Result<bool, ApiError> {
        if lock(&self.inner.identities).contains(&key.0) {
            return Ok(true);
        }
        let known = self.inner.store.identity_exists(key).await?;
        if known {
            lock(&self.inner.identities).insert(key.0);
        }
        Ok(known)
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

/// Locks a cache; a panic while holding one cannot leave it inconsistent (every critical
/// section is a single map operation), so a poisoned lock is used as is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
