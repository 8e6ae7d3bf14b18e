//! Who is carrying out a claim's first request, and whether they still are. Each server
//! instance has a random id for its life and writes a heartbeat; an idempotency key in flight
//! names the instance that reserved it. A retry may take the key over once its instance has
//! stopped (no heartbeat for [`HEARTBEAT_STALE_MS`]; on SQLite, which one instance serves, any
//! instance but this one), or in any case after [`IN_FLIGHT_STALE_MS`]. So a claim cut off by a
//! crash is resolved within seconds of the restart instead of answering `request_in_flight` for
//! 15 s, which near an admission deadline cost the person their turn.

use super::{Store, StoreError};
use chrono::{DateTime, Utc};

/// An idempotency key whose first request has not finished after this long is taken to be
/// abandoned whoever holds it (keys from before instances were recorded have no owner).
pub const IN_FLIGHT_STALE_MS: i64 = 15_000;

/// An instance without a heartbeat for this long has stopped.
pub const HEARTBEAT_STALE_MS: i64 = 3_000;

/// The state of a key in flight, as read with its owner's heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    pub started_at_ms: i64,
    pub owner: Option<String>,
    pub owner_seen_at_ms: Option<i64>,
}

impl InFlight {
    /// Whether a retry read at `now_ms` by instance `me` may take the key over.
    pub fn abandoned(&self, me: &str, now_ms: i64) -> bool {
        if now_ms - self.started_at_ms >= IN_FLIGHT_STALE_MS {
            return true;
        }
        match &self.owner {
            None => false,
            Some(o) if o == me => false,
            Some(_) => self
                .owner_seen_at_ms
                .is_none_or(|seen| now_ms - seen > HEARTBEAT_STALE_MS),
        }
    }
}

/// A random id for this instance's life.
pub fn new_instance_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Store {
    /// This instance's id (the owner written on the keys it reserves).
    pub fn instance(&self) -> &str {
        match self {
            Store::Sqlite(s) => s.instance(),
            Store::Postgres(s) => s.instance(),
        }
    }

    /// Records that this instance is alive at `now` (the background tick calls it every second).
    pub async fn heartbeat(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let now = now.timestamp_millis();
        let sql_sqlite = "INSERT INTO server_instances (id, seen_at) VALUES (?, ?)
                          ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at";
        let sql_pg = "INSERT INTO server_instances (id, seen_at) VALUES ($1, $2)
                      ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at";
        match self {
            Store::Sqlite(s) => {
                sqlx::query(sql_sqlite)
                    .bind(s.instance())
                    .bind(now)
                    .execute(s.writer())
                    .await?;
            }
            Store::Postgres(s) => {
                sqlx::query(sql_pg)
                    .bind(s.instance())
                    .bind(now)
                    .execute(s.pool())
                    .await?;
            }
        }
        Ok(())
    }

    /// Removes this instance's heartbeat (a graceful stop): its keys, all finished by then, are
    /// nobody's.
    pub async fn leave(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => {
                sqlx::query("DELETE FROM server_instances WHERE id = ?")
                    .bind(s.instance())
                    .execute(s.writer())
                    .await?;
            }
            Store::Postgres(s) => {
                sqlx::query("DELETE FROM server_instances WHERE id = $1")
                    .bind(s.instance())
                    .execute(s.pool())
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(started: i64, owner: Option<&str>, seen: Option<i64>) -> InFlight {
        InFlight {
            started_at_ms: started,
            owner: owner.map(str::to_owned),
            owner_seen_at_ms: seen,
        }
    }

    #[test]
    fn a_key_is_taken_over_when_its_instance_stopped_or_after_the_timeout() {
        let now = 100_000;
        // Held by a live instance: in flight until the timeout.
        assert!(!key(now - 1_000, Some("a"), Some(now - 500)).abandoned("b", now));
        assert!(key(now - IN_FLIGHT_STALE_MS, Some("a"), Some(now)).abandoned("b", now));
        // Its instance stopped beating (crashed): taken over at once.
        assert!(key(now - 1_000, Some("a"), Some(now - HEARTBEAT_STALE_MS - 1)).abandoned("b", now));
        assert!(key(now - 1_000, Some("a"), None).abandoned("b", now));
        // This instance's own key is in flight here (the first request is still running).
        assert!(!key(now - 1_000, Some("b"), None).abandoned("b", now));
        // Keys from before owners were recorded wait for the timeout.
        assert!(!key(now - 1_000, None, None).abandoned("b", now));
        assert!(key(now - IN_FLIGHT_STALE_MS - 1, None, None).abandoned("b", now));
    }
}
