//! The pure rules of contact verification: one-time codes from random words without bias, and
//! whether a code may be sent to a contact now given the codes it was sent before.

use std::time::Duration;

/// How often a code may be sent to one contact (whoever asks: this is what keeps a number from
/// being flooded with messages, and what bounds guessing: every code allows a few tries, so a
/// key that does not receive the codes gets at most `per_day` times that many guesses a day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendPolicy {
    /// At least this long between two codes to one contact.
    pub min_gap: Duration,
    /// At most this many codes to one contact in any hour.
    pub per_hour: u32,
    /// At most this many codes to one contact in any day.
    pub per_day: u32,
}

impl Default for SendPolicy {
    /// One a minute, five an hour, ten a day.
    fn default() -> Self {
        SendPolicy {
            min_gap: Duration::from_secs(60),
            per_hour: 5,
            per_day: 10,
        }
    }
}

/// The window of `per_hour`.
pub const HOUR_MS: i64 = 3_600_000;

/// The window of `per_day`: how long sends are kept.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Whether a code may go to a contact at `now_ms` given when earlier ones went (any order;
/// entries older than a day are ignored): `Err(seconds to wait)` when not.
pub fn send_verdict(policy: &SendPolicy, sent_ms: &[i64], now_ms: i64) -> Result<(), u64> {
    let mut recent: Vec<i64> = sent_ms.iter().copied().filter(|&t| now_ms - t < DAY_MS).collect();
    recent.sort_unstable();
    let gap_ms = i64::try_from(policy.min_gap.as_millis()).unwrap_or(i64::MAX);
    let mut wait_ms = 0i64;
    if let Some(last) = recent.last() {
        wait_ms = wait_ms.max(last.saturating_add(gap_ms) - now_ms);
    }
    for (window, cap) in [(HOUR_MS, policy.per_hour), (DAY_MS, policy.per_day)] {
        let within: Vec<i64> = recent.iter().copied().filter(|&t| now_ms - t < window).collect();
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        if cap > 0 && within.len() >= cap {
            // The send that has to leave the window for one more to fit.
            let oldest_needed = within[within.len() - cap];
            wait_ms = wait_ms.max(oldest_needed + window - now_ms);
        }
    }
    if wait_ms > 0 {
        Err(u64::try_from(wait_ms).unwrap_or(u64::MAX).div_ceil(1000))
    } else {
        Ok(())
    }
}

/// Largest multiple of 1,000,000 that fits a `u32`: words at or above it are redrawn, so every
/// code is equally likely.
const UNBIASED_LIMIT: u32 = 4_294_000_000;

/// A six-digit code from the first random word below [`UNBIASED_LIMIT`], or `None` when every
/// word was at or above it (ask for more words).
pub fn code_from_words(words: impl IntoIterator<Item = u32>) -> Option<String> {
    words
        .into_iter()
        .find(|&w| w < UNBIASED_LIMIT)
        .map(|w| format!("{:06}", w % 1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn ten_a_day() {
        let p = SendPolicy::default();
        let t0 = 1_000_000_000;
        // Five an hour apart by 13 minutes, twice: ten sends within 2 h 10 min.
        let ten: Vec<i64> = (0..10).map(|i| t0 + i * 13 * MIN + (i / 5) * 60 * MIN).collect();
        let last = ten[9];
        assert_eq!(send_verdict(&p, &ten[..9], last), Ok(()));
        // The eleventh waits until the first leaves the day.
        let next = last + 2 * 60 * MIN;
        assert_eq!(
            send_verdict(&p, &ten, next),
            Err(u64::try_from((t0 + DAY_MS - next) / 1000).unwrap())
        );
        assert_eq!(send_verdict(&p, &ten, t0 + DAY_MS), Ok(()));
    }

    #[test]
    fn one_a_minute_and_five_an_hour() {
        let p = SendPolicy::default();
        let t0 = 1_000_000_000;
        assert_eq!(send_verdict(&p, &[], t0), Ok(()));
        assert_eq!(send_verdict(&p, &[t0], t0 + 1), Err(60));
        assert_eq!(send_verdict(&p, &[t0], t0 + 59_001), Err(1));
        assert_eq!(send_verdict(&p, &[t0], t0 + MIN), Ok(()));
        let five: Vec<i64> = (0..5).map(|i| t0 + i * 2 * MIN).collect();
        // Five in the last hour: the sixth waits until the first leaves the window.
        let now = t0 + 10 * MIN;
        assert_eq!(send_verdict(&p, &five, now), Err(50 * 60));
        assert_eq!(send_verdict(&p, &five, t0 + HOUR_MS), Ok(()));
        // Old sends do not count, whatever their order.
        let mut old = five.clone();
        old.reverse();
        assert_eq!(send_verdict(&p, &old, t0 + 2 * HOUR_MS), Ok(()));
    }

    #[test]
    fn codes_are_six_digits_and_biased_words_are_redrawn() {
        assert_eq!(code_from_words([0]).as_deref(), Some("000000"));
        assert_eq!(code_from_words([123_456]).as_deref(), Some("123456"));
        assert_eq!(code_from_words([u32::MAX, 4_294_000_000, 7]).as_deref(), Some("000007"));
        assert_eq!(code_from_words([4_293_999_999]).as_deref(), Some("999999"));
        assert_eq!(code_from_words([u32::MAX]), None);
    }
}
