//! A per-instance cache of ticket rows, so that `GET .../tickets/me` (the request a waiting
//! crowd repeats) does not read the database every time.
//!
//! The database stays the only truth: several instances share it and none of them is told about
//! another's writes. What is cached is the stored *row* of (campaign, identity), not an answer:
//! every response is still derived from the row, fresh campaign counters and the current time
//! by [`crate::schedule::ticket_view`], so every purely time-driven change (in line -> admitted,
//! pre-queue check moments, `ahead`) is exact. A row itself changes only through writes:
//!
//! | write | who | how the cache stays right |
//! |---|---|---|
//! | draw (position set) | any instance, at or after `draw_at` | a row without a position is kept only until `draw_at`, and dropped as soon as the counters say the draw is done |
//! | returned voucher reaches a waitlisted ticket (admission set) | any instance | dropped as soon as the counters' `reach` covers its position (counters are at most [`crate::state::COUNTERS_TTL`] old) |
//! | claim (voucher attached) | this instance | dropped (and fenced, see below) when the claim returns |
//! | claim | another instance | **stale for at most the TTL** |
//! | redemption (voucher redeemed) | this instance / another instance | dropped / **stale for at most the TTL** |
//!
//! A row without a voucher is also never kept past the first instant its state turns final
//! (`admit_until` -> `expired`, `closes_at` -> `closed`): a final state without a voucher is
//! only ever shown from a row read after that instant, so a ticket claimed elsewhere just before
//! its deadline is never told `expired` from an old row. The worst a stale row can say is
//! "admitted" to someone who already claimed through another instance; claiming again returns
//! the same voucher (claims are exactly-once in the database, not here).
//!
//! Fencing: a read that started before this instance's own write to the same key may finish
//! after the write and would cache the old row. A write therefore leaves a tombstone with its
//! time, and a row read before that time is not stored.
//!
//! Memory: entries live at most the TTL; at capacity, expired entries are swept first and then
//! arbitrary rows are evicted down to three quarters of the capacity (each sweep is paid for by
//! at least an eighth of the capacity in inserts), so a million identities cannot grow it.

use crate::config::CampaignSpec;
use crate::store::{CampaignCounters, TicketRow};
use chrono::{DateTime, Utc};
use lineup_protocol::{CampaignId, IdentityKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long a row may be answered from the cache at most (real time, since other instances'
/// writes happen in real time).
pub const DEFAULT_TTL: Duration = Duration::from_secs(1);

/// Rows (and tombstones) kept at most. A row with its voucher is well under 1 KiB.
pub const DEFAULT_CAPACITY: usize = 50_000;

/// Sizing of the ticket cache (`ServerConfig::ticket_cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketCacheConfig {
    /// The staleness bound for writes made through other instances; zero turns the cache off.
    pub ttl: Duration,
    pub capacity: usize,
}

impl Default for TicketCacheConfig {
    fn default() -> Self {
        TicketCacheConfig {
            ttl: DEFAULT_TTL,
            capacity: DEFAULT_CAPACITY,
        }
    }
}

enum Slot {
    Row {
        row: Arc<TicketRow>,
        /// When the read that produced the row started: the row is the truth as of then or later.
        read_at: Instant,
        /// Server-clock instant from which the row must be read again (see [`reread_at`]).
        until: Option<DateTime<Utc>>,
    },
    /// This instance wrote the row at this moment; reads started earlier are not stored.
    Gone(Instant),
}

#[derive(Default)]
struct Slots {
    by_campaign: HashMap<CampaignId, HashMap<[u8; 32], Slot>>,
    len: usize,
}

pub struct TicketCache {
    config: TicketCacheConfig,
    slots: Mutex<Slots>,
}

impl TicketCache {
    pub fn new(config: TicketCacheConfig) -> Self {
        TicketCache {
            config,
            slots: Mutex::default(),
        }
    }

    /// Whether the cache is on (a zero TTL or capacity turns it off).
    pub fn enabled(&self) -> bool {
        !self.config.ttl.is_zero() && self.config.capacity > 0
    }

    /// The cached row of `identity` in campaign `spec`, if it may still answer at `now` given the
    /// campaign's current `counters`. An entry that may not is dropped.
    pub fn get(
        &self,
        spec: &CampaignSpec,
        identity: &IdentityKey,
        counters: &CampaignCounters,
        now: DateTime<Utc>,
    ) -> Option<Arc<TicketRow>> {
        if !self.enabled() {
            return None;
        }
        let mut slots = self.lock();
        let slot = slots.by_campaign.get_mut(&spec.id)?.get_mut(&identity.0)?;
        let Slot::Row { row, read_at, until } = slot else {
            return None;
        };
        if read_at.elapsed() < self.config.ttl && until.is_none_or(|u| now < u) && agrees(row, counters) {
            return Some(row.clone());
        }
        // The row goes; what it fenced off (reads older than it) stays fenced off.
        *slot = Slot::Gone(*read_at);
        None
    }

    /// Stores a row read from the database by a read that started at `read_started`, unless it
    /// is already too old, may not be kept at `now`, or this instance wrote the row since the
    /// read started. Returns the row for the caller's answer either way.
    pub fn put(
        &self,
        spec: &CampaignSpec,
        row: TicketRow,
        read_started: Instant,
        now: DateTime<Utc>,
    ) -> Arc<TicketRow> {
        let row = Arc::new(row);
        if !self.enabled() || read_started.elapsed() >= self.config.ttl {
            return row;
        }
        let until = reread_at(spec, &row, now);
        if until.is_some_and(|u| u <= now) {
            return row;
        }
        let mut slots = self.lock();
        let map = slots.by_campaign.entry(spec.id.clone()).or_default();
        let slot = Slot::Row {
            row: row.clone(),
            read_at: read_started,
            until,
        };
        match map.get_mut(&row.identity.0) {
            // Written by this instance after this read started, or already holding a row read
            // later (which itself may be newer than such a write): keep what is there.
            Some(Slot::Gone(written)) if read_started <= *written => {}
            Some(Slot::Row { read_at, .. }) if read_started < *read_at => {}
            Some(existing) => *existing = slot,
            None => {
                map.insert(row.identity.0, slot);
                slots.len += 1;
                self.shrink(&mut slots);
            }
        }
        row
    }

    /// Forgets the row of `identity` in campaign `id` because this instance just wrote it (a
    /// claim, a redemption), and fences off reads that started before now.
    pub fn invalidate(&self, id: &CampaignId, identity: &IdentityKey) {
        if !self.enabled() {
            return;
        }
        let mut slots = self.lock();
        let map = slots.by_campaign.entry(id.clone()).or_default();
        if map.insert(identity.0, Slot::Gone(Instant::now())).is_none() {
            slots.len += 1;
            self.shrink(&mut slots);
        }
    }

    /// Rows and tombstones held now.
    pub fn len(&self) -> usize {
        self.lock().len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the cache within its capacity: first drops what has outlived the TTL (rows and
    /// tombstones alike: a read older than the TTL is never stored, so an old tombstone fences
    /// nothing), then, if that freed less than an eighth, evicts rows and finally tombstones
    /// until three quarters are left.
    fn shrink(&self, slots: &mut Slots) {
        let cap = self.config.capacity;
        if slots.len <= cap {
            return;
        }
        let ttl = self.config.ttl;
        let fresh = |s: &Slot| match s {
            Slot::Row { read_at, .. } => read_at.elapsed() < ttl,
            Slot::Gone(at) => at.elapsed() < ttl,
        };
        retain(slots, fresh);
        if slots.len > cap - cap / 8 {
            let target = cap - cap / 4;
            let mut excess = slots.len - target;
            retain(slots, |s| {
                if excess > 0 && matches!(s, Slot::Row { .. }) {
                    excess -= 1;
                    false
                } else {
                    true
                }
            });
            // Only under a flood of this instance's own writes; losing a fence only lets a row
            // read before the write live for the TTL, the bound that holds for other instances.
            retain(slots, |_| {
                if excess > 0 {
                    excess -= 1;
                    false
                } else {
                    true
                }
            });
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // Every critical section leaves the maps and `len` consistent before anything can panic.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps the slots for which `keep` holds, counting what is left.
fn retain(slots: &mut Slots, mut keep: impl FnMut(&Slot) -> bool) {
    let mut len = 0;
    slots.by_campaign.retain(|_, map| {
        map.retain(|_, s| keep(s));
        len += map.len();
        !map.is_empty()
    });
    slots.len = len;
}

/// Whether a cached row is still consistent with counters read later: the draw and the arrival
/// of a returned voucher are visible in the counters before they can be seen in the row.
fn agrees(row: &TicketRow, c: &CampaignCounters) -> bool {
    match (row.position, row.admit_at) {
        // Drawn since the row was read: it has a position now.
        (None, _) => !c.drawn,
        // Every position within reach has an admission (draw, late join and release set it in
        // the same transaction that moves reach over it).
        (Some(p), None) => p > c.reach,
        (Some(_), Some(_)) => true,
    }
}

/// The server-clock instant from which a row read at `now` must be read again even within the
/// TTL: the draw for a row without a position, and for a row without a voucher the first moment
/// its state turns final (its admission deadline, the campaign's close), so that a final state
/// without a voucher is always shown from a row read after it became final. `None` means only
/// the TTL applies (a claimed row: only a redemption changes it).
fn reread_at(spec: &CampaignSpec, row: &TicketRow, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if row.voucher.is_some() {
        return None;
    }
    if row.position.is_none() {
        // Not cacheable at all once the draw is due (`draw_at <= now`).
        return Some(spec.draw_at.min(spec.closes_at));
    }
    // An opted-in ticket's voucher is written by the server's issuer (on any instance) from
    // `admit_at` on: from then, only a fresh read may answer.
    let issued_from = row.auto_issue.then_some(row.admit_at).flatten();
    [Some(spec.closes_at), row.admit_until, issued_from]
        .into_iter()
        .flatten()
        .filter(|&t| t > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::tests::{spec, voucher};
    use chrono::Duration as ChronoDuration;

    fn row(n: u32, position: Option<u64>) -> TicketRow {
        let s = spec();
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&n.to_be_bytes());
        let (admit_at, admit_until) = match position {
            Some(p) if p <= s.supply => {
                let a = crate::schedule::scheduled_admit_at(&s, p);
                (Some(a), Some(a + s.admission_window()))
            }
            _ => (None, None),
        };
        TicketRow {
            id: format!("t{n}"),
            campaign_id: s.id.clone(),
            identity: IdentityKey(key),
            seq: 1,
            joined_at: s.prequeue_opens_at,
            auto_issue: false,
            in_draw: true,
            prequeue_check_at: Some(s.draw_at),
            position,
            admit_at,
            admit_until,
            expired_at: None,
            returned_at: None,
            voucher: None,
        }
    }

    fn drawn(reach: u64) -> CampaignCounters {
        CampaignCounters {
            drawn: true,
            reach,
            ..Default::default()
        }
    }

    fn cache(capacity: usize) -> TicketCache {
        TicketCache::new(TicketCacheConfig {
            ttl: Duration::from_secs(60),
            capacity,
        })
    }

    #[test]
    fn answers_until_the_row_could_have_changed() {
        let s = spec();
        let c = cache(100);
        let t = row(1, Some(3));
        let id = t.identity;
        let after_draw = s.draw_at + ChronoDuration::seconds(1);
        c.put(&s, t.clone(), Instant::now(), after_draw);
        // In line, then admitted: the row is the same, only the time moves.
        assert_eq!(c.get(&s, &id, &drawn(10), after_draw).as_deref(), Some(&t));
        let deadline = t.admit_until.unwrap();
        assert!(
            c.get(&s, &id, &drawn(10), deadline - ChronoDuration::milliseconds(1))
                .is_some()
        );
        // From the deadline on the state would be final ("expired"): read again.
        assert!(c.get(&s, &id, &drawn(10), deadline).is_none());
        // Read after the deadline, the expired row may be kept (until the close).
        std::thread::sleep(Duration::from_millis(2));
        c.put(&s, t.clone(), Instant::now(), deadline);
        assert!(
            c.get(&s, &id, &drawn(10), deadline + ChronoDuration::seconds(5))
                .is_some()
        );
        assert!(c.get(&s, &id, &drawn(10), s.closes_at).is_none());
    }

    #[test]
    fn prequeue_rows_end_at_the_draw() {
        let s = spec();
        let c = cache(100);
        let t = row(1, None);
        let id = t.identity;
        c.put(&s, t.clone(), Instant::now(), s.prequeue_opens_at);
        assert!(
            c.get(&s, &id, &CampaignCounters::default(), s.prequeue_opens_at)
                .is_some()
        );
        // The counters say drawn (another instance drew early in our clock): read again.
        assert!(c.get(&s, &id, &drawn(10), s.prequeue_opens_at).is_none());
        std::thread::sleep(Duration::from_millis(2));
        c.put(&s, t.clone(), Instant::now(), s.prequeue_opens_at);
        assert!(c.get(&s, &id, &CampaignCounters::default(), s.draw_at).is_none());
        // A row without a position read once the draw is due is not kept.
        std::thread::sleep(Duration::from_millis(2));
        c.put(&s, t, Instant::now(), s.draw_at);
        assert!(c.get(&s, &id, &CampaignCounters::default(), s.draw_at).is_none());
    }

    #[test]
    fn waitlisted_rows_end_when_reach_covers_them() {
        let s = spec();
        let c = cache(100);
        let t = row(1, Some(12));
        let id = t.identity;
        let now = s.opens_at;
        c.put(&s, t, Instant::now(), now);
        assert!(c.get(&s, &id, &drawn(11), now).is_some());
        assert!(c.get(&s, &id, &drawn(12), now).is_none());
    }

    #[test]
    fn claimed_rows_live_for_the_ttl_only() {
        let s = spec();
        let c = TicketCache::new(TicketCacheConfig {
            ttl: Duration::from_millis(30),
            capacity: 10,
        });
        let mut t = row(1, Some(1));
        t.voucher = Some(voucher(&s, &t));
        let id = t.identity;
        let late = s.closes_at + ChronoDuration::days(1);
        c.put(&s, t, Instant::now(), late);
        assert!(c.get(&s, &id, &drawn(10), late).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(c.get(&s, &id, &drawn(10), late).is_none());
        // A read that is already older than the TTL is not stored.
        let old = Instant::now() - Duration::from_millis(40);
        let second = row(2, Some(2));
        c.put(&s, second.clone(), old, s.opens_at);
        assert!(c.get(&s, &second.identity, &drawn(10), s.opens_at).is_none());
    }

    #[test]
    fn own_writes_fence_off_older_reads() {
        let s = spec();
        let c = cache(100);
        let t = row(1, Some(1));
        let id = t.identity;
        let now = s.opens_at;
        let read_started = Instant::now();
        c.put(&s, t.clone(), read_started, now);
        c.invalidate(&s.id, &id);
        assert!(c.get(&s, &id, &drawn(10), now).is_none());
        // A read that began before the write finishes after it: not stored.
        c.put(&s, t.clone(), read_started, now);
        assert!(c.get(&s, &id, &drawn(10), now).is_none());
        // A read that began after the write is.
        std::thread::sleep(Duration::from_millis(2));
        c.put(&s, t, Instant::now(), now);
        assert!(c.get(&s, &id, &drawn(10), now).is_some());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn capacity_bounds_memory() {
        let s = spec();
        let c = cache(64);
        let now = s.opens_at;
        for n in 0..10_000 {
            c.put(&s, row(n, Some(u64::from(n) + 11)), Instant::now(), now);
            assert!(c.len() <= 64, "{} entries after {n}", c.len());
        }
        // Within the TTL nothing expires, so the bound came from eviction; rows still answer.
        let hits = (0..10_000)
            .filter(|&n| c.get(&s, &row(n, None).identity, &drawn(10), now).is_some())
            .count();
        assert!((48..=64).contains(&hits), "{hits}");
        // Tombstones of this instance's writes are bounded too.
        for n in 0..10_000 {
            c.invalidate(&s.id, &row(n + 1_000_000, None).identity);
            assert!(c.len() <= 64, "{} entries after {n}", c.len());
        }
    }

    #[test]
    fn an_older_read_never_replaces_a_newer_row() {
        let s = spec();
        let c = cache(100);
        let now = s.opens_at;
        let older = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        let mut newer = row(1, Some(1));
        newer.expired_at = Some(now);
        c.put(&s, newer.clone(), Instant::now(), now);
        c.put(&s, row(1, Some(1)), older, now);
        assert_eq!(c.get(&s, &newer.identity, &drawn(10), now).as_deref(), Some(&newer));
    }

    #[test]
    fn zero_ttl_turns_it_off() {
        let s = spec();
        let c = TicketCache::new(TicketCacheConfig {
            ttl: Duration::ZERO,
            capacity: 10,
        });
        let t = row(1, Some(1));
        c.put(&s, t.clone(), Instant::now(), s.opens_at);
        c.invalidate(&s.id, &t.identity);
        assert!(c.is_empty());
        assert!(c.get(&s, &t.identity, &drawn(10), s.opens_at).is_none());
    }
}
