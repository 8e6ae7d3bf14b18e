//! The client strategies compared side by side, with the published parameters each one uses
//! (`surge-design.md`, "Comparing strategies honestly"). The baselines' delays come from
//! `lineup_core::backoff`, the same code the app ships; `lineup` drives `lineup_core::engine`.

use lineup_core::backoff::BackoffPolicy;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A client strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Strategy {
    /// The seed's crowd: refresh every 0.2-1.0 s (uniform), whatever the server says.
    Hammer,
    /// Retry every second.
    Fixed,
    /// 1 s doubling to a 20 s cap, no jitter.
    Exponential,
    /// AWS SDK standard retry: uniform in `[0, min(20 s, 1 s * 2^n)]`.
    FullJitter,
    /// AWS backoff-and-jitter study: `min(20 s, uniform[1 s, 3 * previous])`.
    DecorrelatedJitter,
    /// The Lineup client: pre-queue, server-paced, exactly-once claim.
    Lineup,
}

impl Strategy {
    pub const ALL: [Strategy; 6] = [
        Strategy::Hammer,
        Strategy::Fixed,
        Strategy::Exponential,
        Strategy::FullJitter,
        Strategy::DecorrelatedJitter,
        Strategy::Lineup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Hammer => "hammer",
            Strategy::Fixed => "fixed",
            Strategy::Exponential => "exponential",
            Strategy::FullJitter => "full-jitter",
            Strategy::DecorrelatedJitter => "decorrelated-jitter",
            Strategy::Lineup => "lineup",
        }
    }

    /// The retry policy of a backoff baseline (`None` for `hammer`, which does not back off,
    /// and `lineup`, whose engine carries its own).
    pub fn backoff(self) -> Option<BackoffPolicy> {
        match self {
            Strategy::Fixed => Some(BackoffPolicy::fixed(Duration::from_secs(1))),
            Strategy::Exponential => Some(BackoffPolicy::exponential()),
            Strategy::FullJitter => Some(BackoffPolicy::aws_full_jitter()),
            Strategy::DecorrelatedJitter => Some(BackoffPolicy::aws_decorrelated_jitter()),
            Strategy::Hammer | Strategy::Lineup => None,
        }
    }

    /// A per-strategy salt for the run's seed, so strategies draw independent randomness.
    pub fn salt(self) -> u64 {
        match self {
            Strategy::Hammer => 0x68616d6d6572,
            Strategy::Fixed => 0x6669786564,
            Strategy::Exponential => 0x6578706f,
            Strategy::FullJitter => 0x66756c6c,
            Strategy::DecorrelatedJitter => 0x6465636f72,
            Strategy::Lineup => 0x6c696e657570,
        }
    }
}

/// The refresh interval of `hammer`, milliseconds (uniform).
pub const HAMMER_MS: std::ops::RangeInclusive<u64> = 200..=1000;
/// How long `hammer` keeps refreshing through failures before the person gives up (the same
/// five minutes as the backoff baselines).
pub const HAMMER_GIVE_UP_MS: u64 = 5 * 60 * 1000;

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown strategy name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown strategy `{0}` (known: hammer, fixed, exponential, full-jitter, decorrelated-jitter, lineup)")]
pub struct UnknownStrategy(String);

impl FromStr for Strategy {
    type Err = UnknownStrategy;
    fn from_str(s: &str) -> Result<Self, UnknownStrategy> {
        Strategy::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| UnknownStrategy(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineup_core::backoff::BackoffKind;

    #[test]
    fn names_roundtrip_and_baselines_use_published_parameters() {
        for s in Strategy::ALL {
            assert_eq!(s.name().parse::<Strategy>(), Ok(s));
        }
        assert!("lineup2".parse::<Strategy>().is_err());
        let fj = Strategy::FullJitter.backoff().unwrap();
        assert_eq!(fj.kind, BackoffKind::FullJitter);
        assert_eq!((fj.base, fj.cap), (Duration::from_secs(1), Duration::from_secs(20)));
        assert_eq!(fj.give_up_after, Some(Duration::from_secs(300)));
        assert_eq!(Strategy::Fixed.backoff().unwrap().base, Duration::from_secs(1));
        assert!(Strategy::Hammer.backoff().is_none());
        let salts: std::collections::HashSet<u64> = Strategy::ALL.iter().map(|s| s.salt()).collect();
        assert_eq!(salts.len(), Strategy::ALL.len());
    }
}
