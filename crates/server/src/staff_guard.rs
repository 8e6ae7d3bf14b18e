//! Throttling of wrong staff tokens at the box office. Each refused staff token counts against
//! the caller's address, and, once the voucher's campaign is known, against that address and
//! campaign; after [`Policy::max_failures`] refusals within [`Policy::window`] the key is
//! blocked for [`Policy::lockout`]: every box-office request it makes meanwhile is 429
//! `rate_limited` with `Retry-After`, before any token is compared. The state is this
//! instance's memory (bounded; several instances each count their own).
//!
//! Pure logic with the time passed in, so it is tested without sleeping.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use chrono::{DateTime, Duration, Utc};
use lineup_protocol::CampaignId;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

/// The caller's address: the client behind trusted proxies, as the rate limits see it
/// (`None` for in-process requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer(pub Option<IpAddr>);

impl FromRequestParts<crate::state::AppState> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &crate::state::AppState) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| state.limits().client_key(c.0.ip(), &parts.headers)),
        ))
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("in-process"),
        }
    }
}

/// What is counted: an address, or an address and a campaign.
pub type Key = (Peer, Option<CampaignId>);

/// How many failures block whom for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_failures: u32,
    pub window: Duration,
    pub lockout: Duration,
    /// Keys kept at most (the oldest windows are dropped first when full).
    pub capacity: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_failures: 5,
            window: Duration::seconds(60),
            lockout: Duration::seconds(60),
            capacity: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    since: DateTime<Utc>,
    blocked_until: Option<DateTime<Utc>>,
}

/// Failed staff-token attempts by key.
#[derive(Debug, Default)]
pub struct StaffGuard {
    policy: Policy,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl StaffGuard {
    pub fn new(policy: Policy) -> Self {
        StaffGuard {
            policy,
            entries: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(seconds)` while `key` is blocked: how long until it may try again (rounded up).
    pub fn check(&self, key: &Key, now: DateTime<Utc>) -> Result<(), u64> {
        match self.lock().get(key).and_then(|e| e.blocked_until) {
            Some(until) if until > now => {
                let ms = (until - now).num_milliseconds().max(1) as u64;
                Err(ms.div_ceil(1000))
            }
            _ => Ok(()),
        }
    }

    /// Records a refused token for `key`; returns the failures counted in the current window.
    pub fn failed(&self, key: &Key, now: DateTime<Utc>) -> u32 {
        let p = self.policy;
        let mut m = self.lock();
        if m.len() >= p.capacity && !m.contains_key(key) {
            // Drop what no longer counts; if still full, the oldest windows.
            m.retain(|_, e| now - e.since < p.window || e.blocked_until.is_some_and(|u| u > now));
            while m.len() >= p.capacity {
                let Some(oldest) = m.iter().min_by_key(|(_, e)| e.since).map(|(k, _)| k.clone()) else {
                    break;
                };
                m.remove(&oldest);
            }
        }
        let e = m.entry(key.clone()).or_insert(Entry {
            failures: 0,
            since: now,
            blocked_until: None,
        });
        if now - e.since >= p.window && e.blocked_until.is_none_or(|u| u <= now) {
            *e = Entry {
                failures: 0,
                since: now,
                blocked_until: None,
            };
        }
        e.failures += 1;
        if e.failures >= p.max_failures {
            e.blocked_until = Some(now + p.lockout);
        }
        e.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + s, 0).unwrap()
    }

    #[test]
    fn blocks_after_the_limit_then_lets_go() {
        let g = StaffGuard::new(Policy::default());
        let a: Key = (Peer(Some([10, 0, 0, 1].into())), None);
        let b: Key = (Peer(Some([10, 0, 0, 2].into())), None);
        for i in 1..=4 {
            assert_eq!(g.failed(&a, t(i)), i as u32);
            assert_eq!(g.check(&a, t(i)), Ok(()));
        }
        assert_eq!(g.failed(&a, t(5)), 5);
        assert_eq!(g.check(&a, t(5)), Err(60));
        assert_eq!(g.check(&a, t(30)), Err(35));
        // Another address is not affected.
        assert_eq!(g.check(&b, t(30)), Ok(()));
        // The lockout ends; the count starts again.
        assert_eq!(g.check(&a, t(65)), Ok(()));
        assert_eq!(g.failed(&a, t(66)), 1);
    }

    #[test]
    fn failures_spread_over_more_than_a_window_never_block() {
        let g = StaffGuard::new(Policy::default());
        let a: Key = (Peer(None), Some("demo".parse().unwrap()));
        for i in 0..20 {
            g.failed(&a, t(i * 20));
            assert_eq!(g.check(&a, t(i * 20)), Ok(()), "failure {i}");
        }
    }

    #[test]
    fn memory_is_bounded() {
        let g = StaffGuard::new(Policy {
            capacity: 8,
            ..Policy::default()
        });
        for i in 0..100u32 {
            g.failed(&(Peer(Some(std::net::Ipv4Addr::from(i).into())), None), t(i64::from(i)));
        }
        assert!(g.lock().len() <= 8);
    }
}
