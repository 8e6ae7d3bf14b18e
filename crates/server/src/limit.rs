//! Per-address and per-identity rate limits (GCRA, the `governor` crate), the client address
//! behind trusted reverse proxies, and the IETF `RateLimit-Policy` / `RateLimit` header fields
//! (draft-ietf-httpapi-ratelimit-headers).
//!
//! The address limit runs first on every `/v1` request, before its body is read or a concurrency
//! slot is taken; the identity limit runs once the signature is checked (a limit keyed on an
//! unverified key would let anyone spend someone else's budget). A calm Lineup client makes a few
//! requests per campaign (docs/benchmarks.md: 2.2 per person), so both limits only ever meet
//! clients that ignore `Retry-After`.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use governor::clock::{Clock, MonotonicClock};
use governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

/// A sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    pub const fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Rate { per_second, burst }
    }

    fn quota(&self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }

    /// The window of the published policy: the time a full burst takes to come back.
    fn window_s(&self) -> u64 {
        u64::from(self.burst.get())
            .div_ceil(u64::from(self.per_second.get()))
            .max(1)
    }
}

/// What the rate limits are (`ServerConfig::rate_limits`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Requests per client address (IPv6: per /64); `None` turns the limit off.
    pub per_address: Option<Rate>,
    /// Requests per signing identity; `None` turns the limit off.
    pub per_identity: Option<Rate>,
    /// Reverse proxies whose `X-Forwarded-For` is believed. Without any, the connection's peer
    /// address is the client's.
    pub trusted_proxies: Vec<IpPrefix>,
}

/// Defaults: 100 requests/s per address with bursts of 1,000 (a carrier-grade NAT puts many
/// people behind one address; at 2.2 requests per person a thousand of them joining in the same
/// second fit the burst), 2 requests/s per identity with bursts of 20 (an app start reads keys,
/// campaigns, its tickets and its wallet at once).
impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_address: Some(Rate::new(nz(100), nz(1000))),
            per_identity: Some(Rate::new(nz(2), nz(20))),
            trusted_proxies: Vec::new(),
        }
    }
}

impl RateLimitConfig {
    /// No limits (benchmarks and tests that run a crowd from one loopback address).
    pub fn off() -> Self {
        RateLimitConfig {
            per_address: None,
            per_identity: None,
            trusted_proxies: Vec::new(),
        }
    }
}

const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => panic!("zero"),
    }
}

/// An address or network in CIDR notation (`10.0.0.0/8`, `::1`, `192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPrefix {
    net: IpAddr,
    len: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not an IP address or CIDR prefix (e.g. 10.0.0.0/8, ::1)")]
pub struct BadPrefix(String);

impl FromStr for IpPrefix {
    type Err = BadPrefix;

    fn from_str(s: &str) -> Result<Self, BadPrefix> {
        let bad = || BadPrefix(s.to_owned());
        let (addr, len) = match s.trim().split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let len = len.unwrap_or(max);
        if len > max {
            return Err(bad());
        }
        Ok(IpPrefix {
            net: mask(net, len),
            len,
        })
    }
}

impl IpPrefix {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.net.is_ipv4() && mask(ip, self.len) == self.net
    }
}

fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// IPv4-mapped IPv6 addresses (a dual-stack listener's view of IPv4 clients) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The key an address is limited under: IPv4 as is, IPv6 by its /64 (one subscriber usually
/// holds a whole /64, and rotating through it must not multiply the budget).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
    }
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the rightmost
/// `X-Forwarded-For` entry that is not a trusted proxy. Entries left of it are the client's own
/// claims and are ignored; an entry that does not parse stops the walk at the last hop known.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpPrefix]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|p| p.contains(ip));
    let mut client = canonical(peer);
    if !is_trusted(client) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = canonical(ip);
        if !is_trusted(client) {
            break;
        }
    }
    client
}

/// Which limit a verdict is about (the policy's name in the header fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Address,
    Identity,
}

impl Policy {
    fn name(self) -> &'static str {
        match self {
            Policy::Address => "address",
            Policy::Identity => "identity",
        }
    }
}

/// The header fields that describe a limit to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitHeaders {
    /// `RateLimit-Policy: "address";q=1000;w=10`
    pub policy: String,
    /// `RateLimit: "address";r=999;t=1`
    pub state: String,
}

impl LimitHeaders {
    pub fn apply(&self, h: &mut HeaderMap) {
        for (name, value) in [("ratelimit-policy", &self.policy), ("ratelimit", &self.state)] {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(HeaderName::from_static(name), v);
            }
        }
    }
}

/// A rate-limit decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No limit applies.
    Unlimited,
    Allowed(LimitHeaders),
    /// Over the limit: come back after `retry_after_s`.
    Limited {
        retry_after_s: u64,
        headers: LimitHeaders,
    },
}

type Keyed<K, C> = RateLimiter<K, DashMapStateStore<K>, C, StateInformationMiddleware>;

struct Limit<K: Hash + Eq + Clone, C: Clock> {
    rate: Rate,
    policy: Policy,
    keyed: Keyed<K, C>,
}

impl<K: Hash + Eq + Clone, C: Clock> Limit<K, C> {
    fn new(rate: Rate, policy: Policy, clock: C) -> Self {
        Limit {
            rate,
            policy,
            keyed: RateLimiter::<K, DashMapStateStore<K>, C, NoOpMiddleware<C::Instant>>::new(
                rate.quota(),
                DashMapStateStore::default(),
                clock,
            )
            .with_middleware::<StateInformationMiddleware>(),
        }
    }

    fn check(&self, key: &K) -> Verdict {
        let policy = format!(
            "\"{}\";q={};w={}",
            self.policy.name(),
            self.rate.burst,
            self.rate.window_s()
        );
        let per_s = u64::from(self.rate.per_second.get());
        match self.keyed.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                // Time until the whole burst is back.
                let used = u64::from(self.rate.burst.get().saturating_sub(remaining));
                let reset = used.div_ceil(per_s);
                Verdict::Allowed(LimitHeaders {
                    policy,
                    state: format!("\"{}\";r={remaining};t={reset}", self.policy.name()),
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.keyed.clock().now());
                let retry_after_s = ceil_secs(wait);
                Verdict::Limited {
                    retry_after_s,
                    headers: LimitHeaders {
                        policy,
                        state: format!("\"{}\";r=0;t={retry_after_s}", self.policy.name()),
                    },
                }
            }
        }
    }

    fn forget_idle(&self) -> usize {
        self.keyed.retain_recent();
        self.keyed.shrink_to_fit();
        self.keyed.len()
    }
}

fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs();
    if d.subsec_nanos() > 0 { s + 1 } else { s.max(1) }
}

/// The server's limiters.
pub struct RateLimits<C: Clock = MonotonicClock> {
    address: Option<Limit<IpAddr, C>>,
    identity: Option<Limit<[u8; 32], C>>,
    trusted_proxies: Vec<IpPrefix>,
}

impl RateLimits<MonotonicClock> {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self::with_clock(config, MonotonicClock)
    }
}

impl<C: Clock + Clone> RateLimits<C> {
    pub fn with_clock(config: &RateLimitConfig, clock: C) -> Self {
        RateLimits {
            address: config
                .per_address
                .map(|r| Limit::new(r, Policy::Address, clock.clone())),
            identity: config.per_identity.map(|r| Limit::new(r, Policy::Identity, clock)),
            trusted_proxies: config.trusted_proxies.clone(),
        }
    }

    /// Counts a request from `peer` (with its headers, for `X-Forwarded-For`).
    pub fn check_address(&self, peer: IpAddr, headers: &HeaderMap) -> Verdict {
        match &self.address {
            Some(l) => l.check(&address_key(client_address(peer, headers, &self.trusted_proxies))),
            None => Verdict::Unlimited,
        }
    }

    /// Counts a request signed by `identity` (checked signature).
    pub fn check_identity(&self, identity: &[u8; 32]) -> Verdict {
        match &self.identity {
            Some(l) => l.check(identity),
            None => Verdict::Unlimited,
        }
    }

    /// Drops the state of keys that are back to a full burst (they behave exactly as new ones),
    /// so memory follows the clients active in the last few seconds, not every client ever seen.
    /// Returns the keys still held.
    pub fn forget_idle(&self) -> usize {
        self.address.as_ref().map_or(0, Limit::forget_idle) + self.identity.as_ref().map_or(0, Limit::forget_idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn limits(clock: &FakeRelativeClock) -> RateLimits<FakeRelativeClock> {
        RateLimits::with_clock(
            &RateLimitConfig {
                per_address: Some(Rate::new(nz(2), nz(4))),
                per_identity: Some(Rate::new(nz(1), nz(2))),
                trusted_proxies: vec!["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()],
            },
            clock.clone(),
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_retry_after_says_when() {
        let clock = FakeRelativeClock::default();
        let l = limits(&clock);
        let h = HeaderMap::new();
        for left in (0..4).rev() {
            match l.check_address(ip("192.0.2.1"), &h) {
                Verdict::Allowed(hdr) => {
                    assert_eq!(hdr.policy, "\"address\";q=4;w=2");
                    assert!(
                        hdr.state.starts_with(&format!("\"address\";r={left};")),
                        "{}",
                        hdr.state
                    );
                }
                v => panic!("expected allowed, got {v:?}"),
            }
        }
        let Verdict::Limited { retry_after_s, headers } = l.check_address(ip("192.0.2.1"), &h) else {
            panic!("the fifth request in the same instant must be limited");
        };
        assert_eq!(retry_after_s, 1);
        assert_eq!(headers.state, "\"address\";r=0;t=1");
        // Another address has its own budget.
        assert!(matches!(l.check_address(ip("192.0.2.2"), &h), Verdict::Allowed(_)));
        // Half a second later (2/s) one more is allowed, and only one.
        clock.advance(Duration::from_millis(500));
        assert!(matches!(l.check_address(ip("192.0.2.1"), &h), Verdict::Allowed(_)));
        assert!(matches!(l.check_address(ip("192.0.2.1"), &h), Verdict::Limited { .. }));
    }

    #[test]
    fn identities_are_limited_apart_from_addresses() {
        let clock = FakeRelativeClock::default();
        let l = limits(&clock);
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert!(matches!(l.check_identity(&a), Verdict::Allowed(_)));
        assert!(matches!(l.check_identity(&a), Verdict::Allowed(_)));
        assert!(matches!(
            l.check_identity(&a),
            Verdict::Limited { retry_after_s: 1, .. }
        ));
        assert!(matches!(l.check_identity(&b), Verdict::Allowed(_)));
        let off = RateLimits::with_clock(&RateLimitConfig::off(), clock.clone());
        for _ in 0..100 {
            assert_eq!(off.check_identity(&a), Verdict::Unlimited);
            assert_eq!(
                off.check_address(ip("192.0.2.1"), &HeaderMap::new()),
                Verdict::Unlimited
            );
        }
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let clock = FakeRelativeClock::default();
        let l = limits(&clock);
        let h = HeaderMap::new();
        for i in 0..4 {
            let addr = format!("2001:db8:1:2::{i:x}");
            assert!(matches!(l.check_address(ip(&addr), &h), Verdict::Allowed(_)));
        }
        assert!(matches!(
            l.check_address(ip("2001:db8:1:2:ffff::9"), &h),
            Verdict::Limited { .. }
        ));
        assert!(matches!(
            l.check_address(ip("2001:db8:1:3::1"), &h),
            Verdict::Allowed(_)
        ));
        assert_eq!(address_key(ip("::ffff:192.0.2.9")), ip("192.0.2.9"));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpPrefix> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("203.0.113.9, 198.51.100.4"));
        h.append("x-forwarded-for", HeaderValue::from_static("10.1.2.3"));
        // From a stranger the header is a claim anyone can make.
        assert_eq!(client_address(ip("192.0.2.1"), &h, &trusted), ip("192.0.2.1"));
        // From the proxy: the rightmost hop that is not a trusted proxy (the client's own
        // claim, 203.0.113.9, is ignored).
        assert_eq!(client_address(ip("10.0.0.1"), &h, &trusted), ip("198.51.100.4"));
        let mut junk = HeaderMap::new();
        junk.insert("x-forwarded-for", HeaderValue::from_static("not-an-ip"));
        assert_eq!(client_address(ip("10.0.0.1"), &junk, &trusted), ip("10.0.0.1"));
        assert_eq!(
            client_address(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn prefixes_parse_and_match() {
        let p: IpPrefix = "192.168.0.0/16".parse().unwrap();
        assert!(p.contains(ip("192.168.44.1")));
        assert!(!p.contains(ip("192.169.0.1")));
        assert!(p.contains(ip("::ffff:192.168.1.1")));
        let one: IpPrefix = "::1".parse().unwrap();
        assert!(one.contains(ip("::1")) && !one.contains(ip("::2")));
        assert!("10.0.0.0/33".parse::<IpPrefix>().is_err());
        assert!("example.com".parse::<IpPrefix>().is_err());
        assert!("::/0".parse::<IpPrefix>().unwrap().contains(ip("2001:db8::1")));
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let l = limits(&clock);
        for i in 0..50u8 {
            let _ = l.check_address(IpAddr::from([198, 51, 100, i]), &HeaderMap::new());
            let _ = l.check_identity(&[i; 32]);
        }
        assert_eq!(l.forget_idle(), 100);
        clock.advance(Duration::from_secs(5));
        assert_eq!(l.forget_idle(), 0);
    }
}
