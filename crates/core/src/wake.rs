//! Noticing that the device slept. Rust's `Instant` (the engine's clock) does not count time
//! spent suspended on Linux, Android or Apple systems, so a claim waiting for an instant the
//! server gave would wake late by however long the device slept. The wall clock does count it:
//! comparing how far each moved between two looks tells a suspend apart from a busy moment.
//! Pure: the caller supplies both readings (tests supply made-up ones).

use crate::clock::Millis;

/// How much more the wall clock must have moved than the monotonic clock between two looks to
/// count as a sleep (a wall clock stepped by NTP moves by far less than this).
pub const DEFAULT_THRESHOLD_MS: i64 = 10_000;

/// Compares successive readings of the monotonic and the wall clock.
#[derive(Debug, Clone, Copy)]
pub struct SleepDetector {
    last: Option<(Millis, i64)>,
    threshold_ms: i64,
}

impl SleepDetector {
    pub fn new(threshold_ms: i64) -> Self {
        SleepDetector {
            last: None,
            threshold_ms,
        }
    }

    /// Records a look at both clocks (`monotonic` from the engine's clock, `wall_ms` Unix
    /// milliseconds); returns how long the device slept since the previous look, if it did.
    pub fn observe(&mut self, monotonic: Millis, wall_ms: i64) -> Option<u64> {
        let previous = self.last.replace((monotonic, wall_ms));
        let (m0, w0) = previous?;
        let mono = i64::try_from(monotonic.saturating_sub(m0)).unwrap_or(i64::MAX);
        let wall = wall_ms.saturating_sub(w0);
        let gap = wall.saturating_sub(mono);
        (gap > self.threshold_ms).then(|| u64::try_from(gap).unwrap_or(0))
    }
}

impl Default for SleepDetector {
    fn default() -> Self {
        Self::new(DEFAULT_THRESHOLD_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suspend_is_noticed_once_and_busy_moments_are_not() {
        let mut d = SleepDetector::default();
        assert_eq!(d.observe(0, 1_000_000), None, "the first look has nothing to compare");
        // Five seconds on both clocks: awake.
        assert_eq!(d.observe(5_000, 1_005_000), None);
        // A loaded machine that looked late: both clocks moved 40 s.
        assert_eq!(d.observe(45_000, 1_045_000), None);
        // Suspended for ten minutes: the monotonic clock moved 5 s, the wall clock 605 s.
        assert_eq!(d.observe(50_000, 1_650_000), Some(600_000));
        // Awake again: nothing more.
        assert_eq!(d.observe(55_000, 1_655_000), None);
        // A wall clock stepped back (NTP) is not a sleep.
        assert_eq!(d.observe(60_000, 1_600_000), None);
        // A small forward step below the threshold is not either.
        assert_eq!(d.observe(65_000, 1_611_000), None);
    }
}
