//! The sender's decisions, pure and deterministic: how fast pushes leave (a token bucket), when
//! a failed one is tried again (jittered exponential backoff that honours `Retry-After`), when
//! to give up, and each kind's `TTL` and `Urgency` (RFC 8030 sections 5.2 and 5.3).

use chrono::{DateTime, Duration, Utc};
use lineup_protocol::push::PushKind;

/// RFC 8030 `Urgency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Normal,
    High,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

/// How long a push service should keep an undelivered message, in seconds, and its urgency.
/// A voucher is worth waking the phone for and stays useful for days; a draw result is news
/// until opening; a handed-on admission matters only within its window.
pub fn delivery(kind: PushKind, now: DateTime<Utc>, useful_until: Option<DateTime<Utc>>) -> (u32, Urgency) {
    let until = |cap: i64| {
        let s = useful_until.map_or(cap, |u| (u - now).num_seconds());
        u32::try_from(s.clamp(60, cap)).unwrap_or(60)
    };
    match kind {
        PushKind::Voucher => (until(7 * 86_400), Urgency::High),
        PushKind::HandedOn => (until(86_400), Urgency::High),
        PushKind::DrawResult => (until(86_400), Urgency::Normal),
    }
}

/// Retry policy of the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the second attempt; doubles after each failure.
    pub base: Duration,
    pub max_delay: Duration,
    /// Attempts at most, the first included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::seconds(2),
            max_delay: Duration::minutes(10),
            max_attempts: 8,
        }
    }
}

/// When to try again after failed attempt number `attempts` (1 = the first), or `None` to give
/// up. The delay is `base * 2^(attempts-1)` capped, scaled by a jitter in [1/2, 1) derived from
/// `salt` (the outbox row's id: spread, yet reproducible), and never earlier than the push
/// service's `Retry-After`. Past `expires` (the message's TTL) it gives up too.
pub fn retry_at(
    p: &RetryPolicy,
    attempts: u32,
    retry_after: Option<Duration>,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
    salt: u64,
) -> Option<DateTime<Utc>> {
    if attempts >= p.max_attempts {
        return None;
    }
    let exp = attempts.saturating_sub(1).min(30);
    let raw = p.base.num_milliseconds().saturating_mul(1i64 << exp);
    let capped = raw.min(p.max_delay.num_milliseconds()).max(1);
    let jitter = 0.5 + (mix(salt ^ u64::from(attempts)) >> 11) as f64 / (1u64 << 53) as f64 / 2.0;
    let delay = Duration::milliseconds((capped as f64 * jitter) as i64);
    let delay = retry_after.map_or(delay, |r| delay.max(r));
    let at = now + delay;
    (at <= expires).then_some(at)
}

fn mix(mut z: u64) -> u64 {
    // splitmix64's finaliser.
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A token bucket over a caller-given clock (milliseconds): `rate` tokens a second, at most
/// `burst` saved up.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last_ms: u64,
}

impl TokenBucket {
    pub fn new(rate_per_s: u32, burst: u32, now_ms: u64) -> Self {
        TokenBucket {
            rate: f64::from(rate_per_s.max(1)),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last_ms: now_ms,
        }
    }

    /// Takes a token at `now_ms`: `Ok(())`, or `Err(ms)` to wait before asking again.
    pub fn take(&mut self, now_ms: u64) -> Result<(), u64> {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - self.tokens) / self.rate) * 1000.0).ceil().max(1.0) as u64)
        }
    }
}

/// Holds the deriver back while a campaign's issuance runs flat out (a backlog drained in
/// batches at the database's speed): writing outbox rows then would compete with issuance for
/// the database (SQLite has one writer), and the pushes could not leave faster than the sender's
/// rate anyway. Steady admissions (below `surge_per_s`) are derived at once; a surge at least
/// every `max_hold_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurgeGate {
    surge_per_s: u64,
    max_hold_ms: u64,
    last: Option<(u64, u64)>,
    surging: bool,
    held_since: Option<u64>,
}

impl SurgeGate {
    pub fn new(surge_per_s: u64, max_hold_ms: u64) -> Self {
        SurgeGate {
            surge_per_s,
            max_hold_ms,
            last: None,
            surging: false,
            held_since: None,
        }
    }

    /// Whether to derive now, given the campaign's vouchers out (`issued`) at `now_ms`.
    pub fn should_derive(&mut self, issued: u64, now_ms: u64) -> bool {
        let Some((prev, at)) = self.last else {
            self.last = Some((issued, now_ms));
            return true;
        };
        let dt = now_ms.saturating_sub(at);
        // Rates over at least 100 ms (issuance wakes the deriver after every batch).
        if dt >= 100 {
            self.surging = issued.saturating_sub(prev) * 1000 / dt >= self.surge_per_s;
            self.last = Some((issued, now_ms));
        }
        if !self.surging {
            self.held_since = None;
            return true;
        }
        let since = *self.held_since.get_or_insert(now_ms);
        if now_ms.saturating_sub(since) >= self.max_hold_ms {
            self.held_since = Some(now_ms);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_paces_at_its_rate() {
        let mut b = TokenBucket::new(2000, 100, 0);
        let mut now = 0u64;
        let mut sent = 0u64;
        // Ten simulated seconds of a sender that asks as fast as it is allowed.
        while now <= 10_000 {
            match b.take(now) {
                Ok(()) => sent += 1,
                Err(wait) => now += wait,
            }
        }
        // 100 saved up plus 2,000 a second.
        assert!((20_090..=20_102).contains(&sent), "{sent}");
        // Idle time saves at most the burst.
        let mut b = TokenBucket::new(10, 5, 0);
        let burst = (0..100).take_while(|_| b.take(3_600_000).is_ok()).count();
        assert_eq!(burst, 5);
    }

    #[test]
    fn backoff_doubles_with_jitter_honours_retry_after_and_gives_up() {
        let p = RetryPolicy::default();
        let now = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        let far = now + Duration::days(30);
        let d = |a, ra, salt| retry_at(&p, a, ra, now, far, salt).map(|t| (t - now).num_milliseconds());
        for salt in 0..200 {
            let first = d(1, None, salt).unwrap();
            assert!((1000..2000).contains(&first), "{first}");
            let third = d(3, None, salt).unwrap();
            assert!((4000..8000).contains(&third), "{third}");
            let seventh = d(7, None, salt).unwrap();
            assert!((64_000..128_000).contains(&seventh), "{seventh}");
            // Capped at max_delay (10 min) however many attempts a patient policy allows.
            let patient = RetryPolicy { max_attempts: 40, ..p };
            let late = retry_at(&patient, 30, None, now, far, salt).unwrap() - now;
            assert!((300_000..600_000).contains(&late.num_milliseconds()), "{late}");
        }
        // Jitter differs between rows, and is the same for the same row.
        assert_ne!(d(1, None, 1), d(1, None, 2));
        assert_eq!(d(2, None, 9), d(2, None, 9));
        assert_eq!(d(1, Some(Duration::seconds(90)), 3), Some(90_000));
        assert_eq!(d(p.max_attempts, None, 3), None);
        // Not past the message's TTL.
        assert_eq!(retry_at(&p, 5, None, now, now + Duration::seconds(5), 1), None);
    }

    #[test]
    fn surge_gate_holds_during_a_drain_but_not_for_long_nor_for_steady_admissions() {
        let mut g = SurgeGate::new(5000, 30_000);
        assert!(g.should_derive(0, 0));
        // Steady admissions, 1,940 a second: derived every tick.
        let mut issued = 0;
        for t in (250..10_000).step_by(250) {
            issued += 485;
            assert!(g.should_derive(issued, t), "{t}");
        }
        // A drain at 20,000 a second: held...
        let mut t = 10_000;
        let mut derived = Vec::new();
        while t < 70_000 {
            t += 250;
            issued += 5000;
            if g.should_derive(issued, t) {
                derived.push(t);
            }
        }
        // ...but at least every 30 s.
        assert_eq!(derived, vec![40_250]);
        // Over: derived at the next tick.
        assert!(g.should_derive(issued, t + 250));
    }

    #[test]
    fn ttl_and_urgency_per_kind() {
        let now = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        assert_eq!(delivery(PushKind::Voucher, now, None), (604_800, Urgency::High));
        assert_eq!(
            delivery(PushKind::DrawResult, now, Some(now + Duration::seconds(600))),
            (600, Urgency::Normal)
        );
        assert_eq!(
            delivery(PushKind::HandedOn, now, Some(now + Duration::seconds(5))),
            (60, Urgency::High)
        );
    }
}
