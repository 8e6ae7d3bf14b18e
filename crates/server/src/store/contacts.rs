//! Persistence of contact verification, one SQL for both backends: the shared contact secret,
//! codes pending per key, codes sent per contact, and the re-keying of identities stored with
//! the plain digest before migration 0009.

use super::cols::at;
use super::{Store, StoreError};
use crate::verify::policy::{DAY_MS, SendPolicy, send_verdict};
use chrono::{DateTime, Utc};
use lineup_protocol::IdentityKey;

/// A code pending for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub contact_digest: Vec<u8>,
    pub code_hash: Vec<u8>,
    /// Tries left after the one just taken.
    pub attempts_left: u32,
}

impl Store {
    /// The secret named `name`, made from `fresh` by the first instance that asks: every
    /// instance on this database reads the same one.
    pub async fn shared_secret(&self, name: &str, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
        let value: Vec<u8> = on!(self, w, _r => {
            sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(&fresh[..])
                .execute(w)
                .await?;
            sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(w)
                .await?
        });
        value
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("secret {name} is not 32 bytes")))
    }

    /// Moves an identity stored under the plain digest `plain` to the keyed digest `keyed`
    /// (a read when there is none, which is every registration once the old rows are gone).
    /// Returns whether a row moved.
    pub async fn rekey_legacy(&self, plain: &[u8; 32], keyed: &[u8; 32]) -> Result<bool, StoreError> {
        let old: Option<i64> = on!(self, _w, r => {
            sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM identities WHERE contact_digest = $1 AND legacy_digest = TRUE")
                .bind(&plain[..])
                .fetch_optional(r)
                .await?
        });
        if old.is_none() {
            return Ok(false);
        }
        let moved = on!(self, w, _r => {
            sqlx::query(
                "UPDATE identities SET contact_digest = $1, legacy_digest = FALSE
                 WHERE contact_digest = $2 AND legacy_digest = TRUE
                   AND NOT EXISTS (SELECT 1 FROM identities WHERE contact_digest = $1)",
            )
            .bind(&keyed[..])
            .bind(&plain[..])
            .execute(w)
            .await?
            .rows_affected()
        });
        Ok(moved == 1)
    }

    /// Identities still stored under the plain digest.
    pub async fn legacy_digests(&self) -> Result<u64, StoreError> {
        let n: i64 = on!(self, _w, r => {
            sqlx::query_scalar("SELECT count(*) FROM identities WHERE legacy_digest = TRUE")
                .fetch_one(r)
                .await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// When `key` was registered, if it is.
    pub async fn registered_at(&self, key: &IdentityKey) -> Result<Option<DateTime<Utc>>, StoreError> {
        let ms: Option<i64> = on!(self, _w, r => {
            sqlx::query_scalar("SELECT registered_at FROM identities WHERE public_key = $1")
                .bind(&key.0[..])
                .fetch_optional(r)
                .await?
        });
        ms.map(at).transpose()
    }

    /// Records a code sent to `contact_digest` at `now` if the per-contact policy allows it,
    /// deciding under a lock (SQLite's writer, a PostgreSQL advisory lock on the digest) so that
    /// instances racing for one contact cannot both pass. `Err(seconds)`: wait that long.
    /// Sends older than a day do not count; [`Store::sweep_verification`] forgets them.
    pub async fn reserve_send(
        &self,
        contact_digest: &[u8; 32],
        policy: &SendPolicy,
        now: DateTime<Utc>,
    ) -> Result<Result<(), u64>, StoreError> {
        let now_ms = now.timestamp_millis();
        let since = now_ms - DAY_MS;
        let pg = matches!(self, Store::Postgres(_));
        in_tx!(self, tx => {
            if pg {
                let lock = i64::from_le_bytes(contact_digest[..8].try_into().unwrap_or_default());
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(lock)
                    .execute(&mut *tx)
                    .await?;
            }
            let sent: Vec<i64> =
                sqlx::query_scalar("SELECT sent_at FROM contact_sends WHERE contact_digest = $1 AND sent_at > $2")
                    .bind(&contact_digest[..])
                    .bind(since)
                    .fetch_all(&mut *tx)
                    .await?;
            let verdict = send_verdict(policy, &sent, now_ms);
            if verdict.is_ok() {
                sqlx::query("INSERT INTO contact_sends (contact_digest, sent_at) VALUES ($1, $2)")
                    .bind(&contact_digest[..])
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(verdict)
        })
    }

    /// Stores the code pending for `key` (replacing any earlier one for this key).
    pub async fn put_pending(
        &self,
        key: &IdentityKey,
        contact_digest: &[u8; 32],
        code_hash: &[u8; 32],
        attempts: u32,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
        on!(self, w, _r => {
            sqlx::query(
                "INSERT INTO pending_registrations (public_key, contact_digest, code_hash, attempts_left, expires_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (public_key) DO UPDATE SET contact_digest = excluded.contact_digest,
                    code_hash = excluded.code_hash, attempts_left = excluded.attempts_left,
                    expires_at = excluded.expires_at",
            )
            .bind(&key.0[..])
            .bind(&contact_digest[..])
            .bind(&code_hash[..])
            .bind(attempts)
            .bind(expires_at.timestamp_millis())
            .execute(w)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Takes one try at the code pending for `key`: the try is counted (atomically, before the
    /// code is compared, so concurrent guesses never get more tries than allowed) and the code's
    /// hash returned. `None`: nothing pending, expired, or no tries left.
    pub async fn take_attempt(&self, key: &IdentityKey, now: DateTime<Utc>) -> Result<Option<Pending>, StoreError> {
        let row: Option<(Vec<u8>, Vec<u8>, i64)> = on!(self, w, _r => {
            sqlx::query_as(
                "UPDATE pending_registrations SET attempts_left = attempts_left - 1
                 WHERE public_key = $1 AND attempts_left > 0 AND expires_at > $2
                 RETURNING contact_digest, code_hash, CAST(attempts_left AS BIGINT)",
            )
            .bind(&key.0[..])
            .bind(now.timestamp_millis())
            .fetch_optional(w)
            .await?
        });
        Ok(row.map(|(contact_digest, code_hash, left)| Pending {
            contact_digest,
            code_hash,
            attempts_left: u32::try_from(left).unwrap_or(0),
        }))
    }

    /// Gives back the try taken for the code pending for `key`: the code was right (the answer
    /// was "held by another key"), so sending it again with `move_here` must not cost a try.
    pub async fn refund_attempt(&self, key: &IdentityKey) -> Result<(), StoreError> {
        on!(self, w, _r => {
            sqlx::query("UPDATE pending_registrations SET attempts_left = attempts_left + 1 WHERE public_key = $1")
                .bind(&key.0[..])
                .execute(w)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Forgets the code pending for `key` (used, or void).
    pub async fn clear_pending(&self, key: &IdentityKey) -> Result<(), StoreError> {
        on!(self, w, _r => {
            sqlx::query("DELETE FROM pending_registrations WHERE public_key = $1")
                .bind(&key.0[..])
                .execute(w)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Forgets what verification no longer needs at `now`: sends older than a day (they no
    /// longer count against a contact) and expired codes. The background tick calls it every
    /// minute, so neither table grows with the number of contacts ever asked for.
    pub async fn sweep_verification(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let now_ms = now.timestamp_millis();
        let n = on!(self, w, _r => {
            let sends = sqlx::query("DELETE FROM contact_sends WHERE sent_at <= $1")
                .bind(now_ms - DAY_MS)
                .execute(w)
                .await?
                .rows_affected();
            let codes = sqlx::query("DELETE FROM pending_registrations WHERE expires_at <= $1")
                .bind(now_ms)
                .execute(w)
                .await?
                .rows_affected();
            sends + codes
        });
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DbLocation, Store};
    use chrono::Utc;
    use lineup_protocol::IdentityKey;

    /// A row from before migration 0009 (plain digest, marked) moves to the keyed digest once,
    /// and only while no row holds the keyed one.
    #[tokio::test]
    async fn a_legacy_digest_moves_to_the_keyed_one_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&DbLocation::Sqlite(dir.path().join("t.db"))).await.unwrap();
        let (plain, keyed) = ([1u8; 32], [2u8; 32]);
        store
            .register_identity(&IdentityKey([7; 32]), plain, Utc::now())
            .await
            .unwrap();
        assert!(!store.rekey_legacy(&plain, &keyed).await.unwrap(), "not marked legacy");
        on!(&store, w, _r => {
            sqlx::query("UPDATE identities SET legacy_digest = TRUE").execute(w).await.unwrap().rows_affected()
        });
        assert_eq!(store.legacy_digests().await.unwrap(), 1);
        assert!(store.rekey_legacy(&plain, &keyed).await.unwrap());
        assert!(!store.rekey_legacy(&plain, &keyed).await.unwrap(), "moved once");
        assert_eq!(store.legacy_digests().await.unwrap(), 0);
        let rows = store
            .registrations_matching(&IdentityKey([7; 32]), &keyed)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].contact_digest, keyed.to_vec());
    }

    /// Sends stop counting after a day and are then swept; expired codes are swept.
    #[tokio::test]
    async fn old_sends_and_expired_codes_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&DbLocation::Sqlite(dir.path().join("t.db"))).await.unwrap();
        let policy = crate::verify::policy::SendPolicy::default();
        let t0 = Utc::now();
        let digest = [3u8; 32];
        assert_eq!(store.reserve_send(&digest, &policy, t0).await.unwrap(), Ok(()));
        assert!(store.reserve_send(&digest, &policy, t0).await.unwrap().is_err());
        let key = IdentityKey([4; 32]);
        store
            .put_pending(&key, &digest, &[5; 32], 5, t0 + chrono::Duration::minutes(10))
            .await
            .unwrap();
        assert_eq!(store.sweep_verification(t0).await.unwrap(), 0, "nothing old yet");
        let later = t0 + chrono::Duration::hours(24) + chrono::Duration::minutes(1);
        assert_eq!(store.sweep_verification(later).await.unwrap(), 2);
        assert!(store.take_attempt(&key, t0).await.unwrap().is_none());
        assert_eq!(store.reserve_send(&digest, &policy, later).await.unwrap(), Ok(()));
    }
}
