//! The retry policy, pure and deterministic: given what went wrong, the server's hints and a
//! caller-supplied RNG, decide how long to wait or whether to give up. The same code runs in
//! the app, the CLI and, in virtual time, the simulator's baselines.
//!
//! Rules, in order:
//! 1. The problem class decides first: `Final` and `Invalid` give up, `Clock` retries once at
//!    once (the caller corrects its offset), `Wait` sleeps until the server's `check_at`,
//!    `Retry` (429, 503, timeouts, connection errors) backs off.
//! 2. A backoff delay comes from the policy's kind (full jitter, decorrelated jitter,
//!    exponential, fixed) with its base and cap.
//! 3. The server's poll hint (`check_at`) replaces the computed delay when present; `Retry-After`
//!    is a floor the delay never goes under.
//! 4. The retry budget (a token bucket) pushes the delay out until a request is allowed, so a
//!    client never exceeds a bounded request rate whatever the server says.

use crate::clock::{Millis, ms};
use lineup_protocol::Problem;
use lineup_protocol::problem::ProblemClass;
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// How the delay grows with consecutive failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackoffKind {
    /// Uniform in `[0, min(cap, base * 2^n)]` for the n-th retry (n from 0).
    FullJitter,
    /// `min(cap, uniform[base, 3 * previous])`, previous starting at `base` (AWS's
    /// "decorrelated jitter").
    DecorrelatedJitter,
    /// `min(cap, base * 2^n)`, no jitter.
    Exponential,
    /// Always `base`.
    Fixed,
}

/// A token bucket bounding the request rate: at most `burst` requests at once and
/// `per_minute` on average.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryBudget {
    pub per_minute: u32,
    pub burst: u32,
}

/// A retry policy. Build one with the constructors for the published baselines or
/// [`BackoffPolicy::lineup`] for the client's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackoffPolicy {
    pub kind: BackoffKind,
    pub base: Duration,
    pub cap: Duration,
    /// `None`: no rate bound beyond the delays themselves (the published baselines).
    pub budget: Option<RetryBudget>,
    /// Give up after this long of consecutive `Retry`-class failures.
    pub give_up_after: Option<Duration>,
    /// Give up after this many consecutive `Retry`-class failures.
    pub max_attempts: Option<u32>,
}

const AWS_BASE: Duration = Duration::from_secs(1);
const AWS_CAP: Duration = Duration::from_secs(20);
const BASELINE_GIVE_UP: Duration = Duration::from_secs(5 * 60);

impl BackoffPolicy {
    /// AWS SDK standard retry: uniform in `[0, min(20 s, 1 s * 2^n)]`.
    pub fn aws_full_jitter() -> Self {
        Self::baseline(BackoffKind::FullJitter, AWS_BASE)
    }

    /// AWS "backoff and jitter" decorrelated jitter, base 1 s, cap 20 s.
    pub fn aws_decorrelated_jitter() -> Self {
        Self::baseline(BackoffKind::DecorrelatedJitter, AWS_BASE)
    }

    /// Exponential without jitter, base 1 s, cap 20 s.
    pub fn exponential() -> Self {
        Self::baseline(BackoffKind::Exponential, AWS_BASE)
    }

    /// A fixed delay (1 s in the published baseline).
    pub fn fixed(delay: Duration) -> Self {
        Self::baseline(BackoffKind::Fixed, delay)
    }

    fn baseline(kind: BackoffKind, base: Duration) -> Self {
        BackoffPolicy {
            kind,
            base,
            cap: AWS_CAP,
            budget: None,
            give_up_after: Some(BASELINE_GIVE_UP),
            max_attempts: None,
        }
    }

    /// The Lineup client's policy: decorrelated jitter from 0.5 s to 30 s and at most 20
    /// requests a minute (burst 6), giving up after 10 minutes of consecutive failures.
    pub fn lineup() -> Self {
        BackoffPolicy {
            kind: BackoffKind::DecorrelatedJitter,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            budget: Some(RetryBudget {
                per_minute: 20,
                burst: 6,
            }),
            give_up_after: Some(Duration::from_secs(10 * 60)),
            max_attempts: None,
        }
    }
}

/// What the server (or the network) said about a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHint {
    pub class: ProblemClass,
    /// The server's poll hint (`check_at.in_ms`), preferred when present.
    pub check_at: Option<Duration>,
    /// `Retry-After` (header or `retry_after_s`), a floor.
    pub retry_after: Option<Duration>,
}

impl ServerHint {
    /// A timeout, refused connection or other transport failure: retry with backoff.
    pub fn transport() -> Self {
        ServerHint {
            class: ProblemClass::Retry,
            check_at: None,
            retry_after: None,
        }
    }

    /// The hint carried by a problem response; `retry_after` is the parsed header, if any.
    pub fn from_problem(problem: &Problem, retry_after: Option<Duration>) -> Self {
        ServerHint {
            class: problem.code.class(),
            check_at: problem.check_at.map(|w| w.delay()),
            retry_after: retry_after.or(problem.retry_after_s.map(Duration::from_secs)),
        }
    }
}

/// Why the policy stopped retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum GiveUp {
    #[error("the server's answer is final")]
    Final,
    #[error("the request is invalid and would fail again unchanged")]
    Invalid,
    #[error("the clock is still off after a correction")]
    ClockStillWrong,
    #[error("gave up after {attempts} consecutive failures")]
    Exhausted { attempts: u32 },
    #[error("gave up after {elapsed_ms} ms of failures")]
    TimedOut { elapsed_ms: u64 },
}

/// The policy's answer to a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send again after `after`; `attempt` counts consecutive `Retry`-class failures.
    Retry {
        after: Duration,
        attempt: u32,
    },
    GiveUp(GiveUp),
}

/// Parses a `Retry-After` value: delta-seconds first, then an HTTP-date relative to `now`
/// (a date in the past means "now").
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A token bucket in exact integer arithmetic: one token is 60 000 units and `per_minute`
/// units drip in each millisecond, so the bound is exact and the same on every platform.
#[derive(Debug, Clone, Copy)]
struct TokenBucket {
    budget: RetryBudget,
    level: i64,
    at: Millis,
}

const TOKEN: i64 = 60_000;

impl TokenBucket {
    fn new(budget: RetryBudget, now: Millis) -> Self {
        TokenBucket {
            budget,
            level: i64::from(budget.burst) * TOKEN,
            at: now,
        }
    }

    fn level_at(&self, now: Millis) -> i64 {
        let elapsed = i64::try_from(now.saturating_sub(self.at)).unwrap_or(i64::MAX);
        let drip = elapsed.saturating_mul(i64::from(self.budget.per_minute));
        self.level
            .saturating_add(drip)
            .min(i64::from(self.budget.burst) * TOKEN)
    }

    fn take(&mut self, now: Millis) {
        let now = now.max(self.at);
        self.level = self.level_at(now) - TOKEN;
        self.at = now;
    }

    fn earliest(&self, now: Millis) -> Millis {
        let level = self.level_at(now.max(self.at));
        if level >= TOKEN {
            return now;
        }
        let rate = i64::from(self.budget.per_minute.max(1));
        let wait = (TOKEN - level + rate - 1) / rate;
        now.max(self.at) + u64::try_from(wait).unwrap_or(u64::MAX)
    }
}

/// The running state of a policy for one client: consecutive failures, the previous
/// decorrelated delay and the budget.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    failures: u32,
    prev: Duration,
    first_failure_at: Option<Millis>,
    clock_corrected: bool,
    bucket: Option<TokenBucket>,
}

impl Backoff {
    /// A fresh state; `now` starts the budget's clock with a full bucket.
    pub fn new(policy: BackoffPolicy, now: Millis) -> Self {
        Backoff {
            policy,
            failures: 0,
            prev: policy.base,
            first_failure_at: None,
            clock_corrected: false,
            bucket: policy.budget.map(|b| TokenBucket::new(b, now)),
        }
    }

    pub fn policy(&self) -> &BackoffPolicy {
        &self.policy
    }

    /// Consecutive `Retry`-class failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records that a request is being sent at `now` (spends a budget token).
    pub fn on_send(&mut self, now: Millis) {
        if let Some(b) = &mut self.bucket {
            b.take(now);
        }
    }

    /// Records a success: the failure streak ends.
    pub fn on_success(&mut self) {
        self.failures = 0;
        self.prev = self.policy.base;
        self.first_failure_at = None;
        self.clock_corrected = false;
    }

    /// The earliest instant at or after `now` at which the budget allows a request.
    pub fn earliest_send(&self, now: Millis) -> Millis {
        self.bucket.map_or(now, |b| b.earliest(now))
    }

    /// Decides what to do after a failure seen at `now`.
    pub fn next_delay<R: Rng + ?Sized>(&mut self, now: Millis, rng: &mut R, hint: &ServerHint) -> Decision {
        let delay = match hint.class {
            ProblemClass::Final => return Decision::GiveUp(GiveUp::Final),
            ProblemClass::Invalid => return Decision::GiveUp(GiveUp::Invalid),
            ProblemClass::Clock => {
                if self.clock_corrected {
                    return Decision::GiveUp(GiveUp::ClockStillWrong);
                }
                self.clock_corrected = true;
                Duration::ZERO
            }
            // "Not yet" is not a failure: it neither grows the delay nor counts toward giving up.
            ProblemClass::Wait => match (hint.check_at, hint.retry_after) {
                (Some(c), _) => c,
                (None, Some(r)) => r,
                (None, None) => self.jittered(rng, self.failures),
            },
            ProblemClass::Retry => {
                self.failures = self.failures.saturating_add(1);
                let first = *self.first_failure_at.get_or_insert(now);
                if let Some(max) = self.policy.max_attempts
                    && self.failures > max
                {
                    return Decision::GiveUp(GiveUp::Exhausted {
                        attempts: self.failures - 1,
                    });
                }
                let elapsed = now.saturating_sub(first);
                if let Some(limit) = self.policy.give_up_after
                    && elapsed >= ms(limit)
                    && self.failures > 1
                {
                    return Decision::GiveUp(GiveUp::TimedOut { elapsed_ms: elapsed });
                }
                let jittered = self.jittered(rng, self.failures - 1);
                hint.check_at.unwrap_or(jittered)
            }
        };
        let delay = delay.max(retry_after_floor(hint));
        let at = now.saturating_add(ms(delay));
        let at = self.earliest_send(at);
        Decision::Retry {
            after: Duration::from_millis(at - now),
            attempt: self.failures,
        }
    }

    /// The policy's own delay for the `n`-th retry (from 0), before hints and budget.
    fn jittered<R: Rng + ?Sized>(&mut self, rng: &mut R, n: u32) -> Duration {
        let p = &self.policy;
        let base = ms(p.base);
        let cap = ms(p.cap);
        let exp = || {
            base.saturating_mul(1u64.checked_shl(n.min(63)).unwrap_or(u64::MAX))
                .min(cap)
        };
        let out = match p.kind {
            BackoffKind::FullJitter => rng.random_range(0..=exp()),
            BackoffKind::Exponential => exp(),
            BackoffKind::Fixed => base,
            BackoffKind::DecorrelatedJitter => {
                let hi = ms(self.prev).saturating_mul(3).max(base);
                let d = rng.random_range(base..=hi).min(cap);
                self.prev = Duration::from_millis(d);
                d
            }
        };
        Duration::from_millis(out)
    }
}

/// `Retry-After` is sent in whole seconds rounded up from `check_at`; when both are present
/// the precise `check_at` wins and the floor allows for that rounding.
fn retry_after_floor(hint: &ServerHint) -> Duration {
    match (hint.retry_after, hint.check_at) {
        (Some(r), Some(_)) => r.saturating_sub(Duration::from_secs(1)),
        (Some(r), None) => r,
        (None, _) => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineup_protocol::ProblemCode;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    fn retry() -> ServerHint {
        ServerHint::transport()
    }

    fn delays(policy: BackoffPolicy, seed: u64, n: usize) -> Vec<u64> {
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut b = Backoff::new(policy, 0);
        (0..n)
            .map(|_| match b.next_delay(0, &mut rng, &retry()) {
                Decision::Retry { after, .. } => ms(after),
                Decision::GiveUp(g) => panic!("gave up: {g}"),
            })
            .collect()
    }

    fn mean(xs: &[u64]) -> f64 {
        xs.iter().sum::<u64>() as f64 / xs.len() as f64
    }

    #[test]
    fn full_jitter_is_uniform_under_the_doubling_envelope() {
        // For each retry index n, many independent clients: the delay stays inside
        // [0, min(20 s, 2^n s)] and its mean is half the envelope (uniform).
        for n in 0..7u32 {
            let envelope = (1000u64 << n).min(20_000);
            let samples: Vec<u64> = (0..4000)
                .map(|seed| delays(BackoffPolicy::aws_full_jitter(), seed, n as usize + 1)[n as usize])
                .collect();
            assert!(samples.iter().all(|&d| d <= envelope), "n={n}");
            let m = mean(&samples);
            let expected = envelope as f64 / 2.0;
            assert!((m - expected).abs() < expected * 0.05, "n={n}: mean {m} vs {expected}");
            // Uniform: about a quarter of the mass in the lowest quarter.
            let low = samples.iter().filter(|&&d| d < envelope / 4).count() as f64 / samples.len() as f64;
            assert!((low - 0.25).abs() < 0.03, "n={n}: low quarter {low}");
        }
    }

    #[test]
    fn decorrelated_jitter_stays_between_base_and_cap_and_grows() {
        let mut all = Vec::new();
        for seed in 0..2000 {
            let d = delays(BackoffPolicy::aws_decorrelated_jitter(), seed, 12);
            assert!(d.iter().all(|&x| (1000..=20_000).contains(&x)), "{d:?}");
            // Each delay is at most three times the previous one (before the cap).
            for w in d.windows(2) {
                assert!(w[1] <= (w[0] * 3).clamp(1000, 20_000), "{w:?}");
            }
            all.push(d);
        }
        let first: Vec<u64> = all.iter().map(|d| d[0]).collect();
        let late: Vec<u64> = all.iter().map(|d| d[11]).collect();
        // First retry: uniform in [1 s, 3 s], mean 2 s.
        assert!((mean(&first) - 2000.0).abs() < 60.0, "{}", mean(&first));
        assert!(mean(&late) > 8000.0, "{}", mean(&late));
    }

    #[test]
    fn exponential_and_fixed_are_exact() {
        assert_eq!(
            delays(BackoffPolicy::exponential(), 1, 7),
            vec![1000, 2000, 4000, 8000, 16_000, 20_000, 20_000]
        );
        assert_eq!(
            delays(BackoffPolicy::fixed(Duration::from_secs(1)), 1, 3),
            vec![1000; 3]
        );
    }

    #[test]
    fn same_seed_same_delays_other_seed_other_delays() {
        let p = BackoffPolicy::lineup();
        let mut a = Backoff::new(p, 0);
        let mut b = Backoff::new(p, 0);
        let (mut ra, mut rb) = (Pcg64::seed_from_u64(7), Pcg64::seed_from_u64(7));
        let mut rc = Pcg64::seed_from_u64(8);
        let mut c = Backoff::new(p, 0);
        let (mut same, mut differs) = (true, false);
        for t in 0..20 {
            let now = t * 60_000;
            let (da, db, dc) = (
                a.next_delay(now, &mut ra, &retry()),
                b.next_delay(now, &mut rb, &retry()),
                c.next_delay(now, &mut rc, &retry()),
            );
            same &= da == db;
            differs |= da != dc;
        }
        assert!(same && differs);
    }

    #[test]
    fn retry_after_is_a_floor_and_check_at_is_preferred() {
        let mut rng = Pcg64::seed_from_u64(1);
        let mut b = Backoff::new(BackoffPolicy::aws_full_jitter(), 0);
        let hint = ServerHint {
            class: ProblemClass::Retry,
            check_at: None,
            retry_after: Some(Duration::from_secs(7)),
        };
        for _ in 0..3 {
            let Decision::Retry { after, .. } = b.next_delay(0, &mut rng, &hint) else {
                panic!("gave up")
            };
            assert!(after >= Duration::from_secs(7), "{after:?}");
        }
        // check_at (precise) wins over the jittered delay; Retry-After is its rounded-up copy.
        let hint = ServerHint {
            class: ProblemClass::Retry,
            check_at: Some(Duration::from_millis(4300)),
            retry_after: Some(Duration::from_secs(5)),
        };
        assert_eq!(
            b.next_delay(0, &mut rng, &hint),
            Decision::Retry {
                after: Duration::from_millis(4300),
                attempt: 4
            }
        );
        // ... unless Retry-After says much later.
        let hint = ServerHint {
            class: ProblemClass::Retry,
            check_at: Some(Duration::from_millis(100)),
            retry_after: Some(Duration::from_secs(9)),
        };
        let Decision::Retry { after, .. } = b.next_delay(0, &mut rng, &hint) else {
            panic!()
        };
        assert_eq!(after, Duration::from_secs(8));
    }

    #[test]
    fn classes_decide_give_up() {
        let mut rng = Pcg64::seed_from_u64(1);
        let mut b = Backoff::new(BackoffPolicy::lineup(), 0);
        let p = |code| ServerHint::from_problem(&Problem::new(code, "x"), None);
        for code in [
            ProblemCode::SoldOut,
            ProblemCode::CampaignClosed,
            ProblemCode::UnknownIdentity,
            ProblemCode::AdmissionExpired,
        ] {
            assert_eq!(b.next_delay(0, &mut rng, &p(code)), Decision::GiveUp(GiveUp::Final));
        }
        assert_eq!(
            b.next_delay(0, &mut rng, &p(ProblemCode::BadSignature)),
            Decision::GiveUp(GiveUp::Invalid)
        );
        for code in [
            ProblemCode::RateLimited,
            ProblemCode::Overloaded,
            ProblemCode::Timeout,
            ProblemCode::Internal,
        ] {
            assert!(matches!(b.next_delay(0, &mut rng, &p(code)), Decision::Retry { .. }));
        }
        // The clock is corrected once, immediately; a second stale answer is final.
        let stale = p(ProblemCode::StaleSignature);
        assert!(matches!(b.next_delay(0, &mut rng, &stale), Decision::Retry { .. }));
        assert_eq!(
            b.next_delay(0, &mut rng, &stale),
            Decision::GiveUp(GiveUp::ClockStillWrong)
        );
        // Waiting does not count as a failure.
        let before = b.failures();
        let wait = ServerHint {
            class: ProblemClass::Wait,
            check_at: Some(Duration::from_secs(30)),
            retry_after: Some(Duration::from_secs(30)),
        };
        let Decision::Retry { after, attempt } = b.next_delay(0, &mut rng, &wait) else {
            panic!()
        };
        assert_eq!((after, attempt), (Duration::from_secs(30), before));
    }

    #[test]
    fn gives_up_after_attempts_or_time() {
        let mut rng = Pcg64::seed_from_u64(3);
        let mut p = BackoffPolicy::fixed(Duration::from_secs(1));
        p.max_attempts = Some(3);
        let mut b = Backoff::new(p, 0);
        for _ in 0..3 {
            assert!(matches!(b.next_delay(0, &mut rng, &retry()), Decision::Retry { .. }));
        }
        assert_eq!(
            b.next_delay(0, &mut rng, &retry()),
            Decision::GiveUp(GiveUp::Exhausted { attempts: 3 })
        );
        b.on_success();
        assert!(matches!(b.next_delay(0, &mut rng, &retry()), Decision::Retry { .. }));

        let mut b = Backoff::new(BackoffPolicy::aws_full_jitter(), 0);
        assert!(matches!(b.next_delay(1000, &mut rng, &retry()), Decision::Retry { .. }));
        assert!(matches!(
            b.next_delay(200_000, &mut rng, &retry()),
            Decision::Retry { .. }
        ));
        assert_eq!(
            b.next_delay(301_000, &mut rng, &retry()),
            Decision::GiveUp(GiveUp::TimedOut { elapsed_ms: 300_000 })
        );
    }

    /// Drives a client through a 503 storm, sending exactly when the policy says, and checks
    /// every gap against the policy: never sooner than Retry-After, and never more requests in
    /// any minute than the budget allows.
    #[test]
    fn no_request_follows_another_closer_than_the_policy_allows() {
        let policy = BackoffPolicy::lineup();
        let budget = policy.budget.unwrap();
        for seed in 0..50 {
            let mut rng = Pcg64::seed_from_u64(seed);
            let mut b = Backoff::new(policy, 0);
            let mut now = 0u64;
            let mut sends = Vec::new();
            for i in 0..200u64 {
                // Alternate storms with and without Retry-After and short server hints that
                // would, unchecked, make the client hammer.
                let hint = ServerHint {
                    class: ProblemClass::Retry,
                    check_at: (i % 3 == 0).then_some(Duration::from_millis(50)),
                    retry_after: (i % 2 == 0).then_some(Duration::from_secs(1)),
                };
                now = b.earliest_send(now);
                b.on_send(now);
                sends.push((now, hint));
                match b.next_delay(now, &mut rng, &hint) {
                    Decision::Retry { after, .. } => {
                        if let Some(r) = hint.retry_after
                            && hint.check_at.is_none()
                        {
                            assert!(after >= r);
                        }
                        now += ms(after);
                    }
                    Decision::GiveUp(_) => break,
                }
                if i % 25 == 24 {
                    b.on_success();
                }
            }
            assert!(sends.len() > 30, "the storm should last a while");
            let times: Vec<u64> = sends.iter().map(|s| s.0).collect();
            for (i, &t) in times.iter().enumerate() {
                let in_window = times[i..].iter().take_while(|&&u| u < t + 60_000).count();
                assert!(
                    in_window as u32 <= budget.per_minute + budget.burst,
                    "seed {seed}: {in_window} requests in the minute from {t}"
                );
            }
            for (w, s) in times.windows(2).zip(&sends) {
                if let Some(r) = s.1.retry_after
                    && s.1.check_at.is_none()
                {
                    assert!(w[1] - w[0] >= ms(r), "seed {seed}: gap {} < {r:?}", w[1] - w[0]);
                }
            }
        }
    }

    #[test]
    fn budget_allows_a_burst_then_the_average_rate() {
        let mut b = Backoff::new(
            BackoffPolicy {
                budget: Some(RetryBudget {
                    per_minute: 6,
                    burst: 2,
                }),
                ..BackoffPolicy::fixed(Duration::ZERO)
            },
            0,
        );
        b.on_send(0);
        assert_eq!(b.earliest_send(0), 0);
        b.on_send(0);
        // Empty: one token every 10 s.
        assert_eq!(b.earliest_send(0), 10_000);
        assert_eq!(b.earliest_send(4000), 10_000);
        b.on_send(10_000);
        assert_eq!(b.earliest_send(10_000), 20_000);
        // Idle refills up to the burst only.
        assert_eq!(b.earliest_send(1_000_000), 1_000_000);
        b.on_send(1_000_000);
        b.on_send(1_000_000);
        assert_eq!(b.earliest_send(1_000_000), 1_010_000);
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
