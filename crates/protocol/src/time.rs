//! Instants on the wire. Phone clocks are often wrong by seconds or minutes, so every "when"
//! the server gives carries both the absolute instant and the delay from the moment the
//! response was made; clients schedule from the delay and show the instant.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An instant as both an absolute time and a delay from "now" (as seen by the sender).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct When {
    /// The instant, RFC 3339 UTC.
    pub at: DateTime<Utc>,
    /// Milliseconds from the response to `at`; 0 when `at` is already past.
    pub in_ms: u64,
}

impl When {
    /// Builds a `When` for `at`, relative to `now`. The delay is rounded up to the next whole
    /// millisecond: a client that waits `in_ms` must never arrive before `at`.
    pub fn new(at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        let d = at - now;
        let whole = d.num_milliseconds();
        let in_ms = if d > chrono::Duration::milliseconds(whole) {
            whole + 1
        } else {
            whole
        };
        When {
            at,
            in_ms: in_ms.max(0) as u64,
        }
    }

    /// The delay as a `std::time::Duration`.
    pub fn delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.in_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_instants_have_zero_delay() {
        let now = Utc::now();
        let w = When::new(now - chrono::Duration::seconds(5), now);
        assert_eq!(w.in_ms, 0);
        let w = When::new(now + chrono::Duration::milliseconds(1500), now);
        assert_eq!(w.in_ms, 1500);
        assert_eq!(w.delay(), std::time::Duration::from_millis(1500));
    }

    #[test]
    fn delays_round_up_so_waiting_them_is_never_early() {
        let now = Utc::now();
        let w = When::new(now + chrono::Duration::microseconds(1_500_001), now);
        assert_eq!(w.in_ms, 1501);
        let w = When::new(now + chrono::Duration::microseconds(999), now);
        assert_eq!(w.in_ms, 1);
        let w = When::new(now - chrono::Duration::microseconds(1_500), now);
        assert_eq!(w.in_ms, 0);
    }
}
