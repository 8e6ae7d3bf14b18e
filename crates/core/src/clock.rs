//! Time as the decision logic sees it: a monotonic count of milliseconds on the caller's clock.
//! The engine and the backoff policy never read a clock themselves, so the simulator can run
//! them in virtual time and tests can step them without sleeping.

use std::time::{Duration, Instant};

/// Milliseconds on a monotonic clock chosen by the caller (virtual in the simulator).
pub type Millis = u64;

/// Converts a duration to whole milliseconds, saturating.
pub fn ms(d: Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A source of [`Millis`].
pub trait Clock: Send + Sync {
    fn now(&self) -> Millis;
}

/// The real monotonic clock, counting from when it was made.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    pub fn new() -> Self {
        MonotonicClock { origin: Instant::now() }
    }

    /// The `Instant` a [`Millis`] value stands for (for `tokio::time::sleep_until`).
    pub fn instant(&self, at: Millis) -> Instant {
        self.origin + Duration::from_millis(at)
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Millis {
        ms(self.origin.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_saturates_and_monotonic_clock_maps_back() {
        assert_eq!(ms(Duration::from_millis(1500)), 1500);
        assert_eq!(ms(Duration::MAX), u64::MAX);
        let c = MonotonicClock::new();
        let a = c.now();
        assert_eq!(c.instant(a + 10) - c.instant(a), Duration::from_millis(10));
    }
}
