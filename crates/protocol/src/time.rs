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
    /// Builds a `When` for `at`, relative to `now`.
    pub fn new(at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        let in_ms = (at - now).num_milliseconds().max(0) as u64;
        When { at, in_ms }
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
}
