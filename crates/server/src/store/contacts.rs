//! Persistence of contact verification, both backends side by side: the shared contact secret,
//! codes pending per key, codes sent per contact, and the re-keying of identities stored with
//! the plain digest before migration 0009.

use super::{Store, StoreError};
use crate::verify::policy::{HOUR_MS, SendPolicy, send_verdict};
use chrono::{DateTime, Utc};
use lineup_protocol::IdentityKey;
use sqlx::Row as _;

/// A code pending for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub contact_digest: Vec<u8>,
    pub code_hash: Vec<u8>,
    /// Tries left after the one just taken.
    pub attempts_left: u32,
}

fn at(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt(format!("instant {ms} out of range")))
}

impl Store {
    /// The secret named `name`, made from `fresh` by the first instance that asks: every
    /// instance on this database reads the same one.
    pub async fn shared_secret(&self, name: &str, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
        let value: Vec<u8> = match self {
            Store::Sqlite(s) => {
                sqlx::query("INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING")
                    .bind(name)
                    .bind(&fresh[..])
                    .execute(s.writer())
                    .await?;
                sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = ?")
                    .bind(name)
                    .fetch_one(s.writer())
                    .await?
            }
            Store::Postgres(s) => {
                sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                    .bind(name)
                    .bind(&fresh[..])
                    .execute(s.pool())
                    .await?;
                sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_one(s.pool())
                    .await?
            }
        };
        value
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("secret {name} is not 32 bytes")))
    }

    /// Moves an identity stored under the plain digest `plain` to the keyed digest `keyed`
    /// (a read when there is none, which is every registration once the old rows are gone).
    /// Returns whether a row moved.
    pub async fn rekey_legacy(&self, plain: &[u8; 32], keyed: &[u8; 32]) -> Result<bool, StoreError> {
        let moved = match self {
            Store::Sqlite(s) => {
                let old = sqlx::query("SELECT 1 FROM identities WHERE contact_digest = ? AND legacy_digest = 1")
                    .bind(&plain[..])
                    .fetch_optional(s.reader())
                    .await?;
                if old.is_none() {
                    return Ok(false);
                }
                sqlx::query(
                    "UPDATE identities SET contact_digest = ?, legacy_digest = 0
                     WHERE contact_digest = ? AND legacy_digest = 1
                       AND NOT EXISTS (SELECT 1 FROM identities WHERE contact_digest = ?)",
                )
                .bind(&keyed[..])
                .bind(&plain[..])
                .bind(&keyed[..])
                .execute(s.writer())
                .await?
                .rows_affected()
            }
            Store::Postgres(s) => {
                let old = sqlx::query("SELECT 1 AS one FROM identities WHERE contact_digest = $1 AND legacy_digest")
                    .bind(&plain[..])
                    .fetch_optional(s.pool())
                    .await?;
                if old.is_none() {
                    return Ok(false);
                }
                sqlx::query(
                    "UPDATE identities SET contact_digest = $1, legacy_digest = FALSE
                     WHERE contact_digest = $2 AND legacy_digest
                       AND NOT EXISTS (SELECT 1 FROM identities WHERE contact_digest = $1)",
                )
                .bind(&keyed[..])
                .bind(&plain[..])
                .execute(s.pool())
                .await?
                .rows_affected()
            }
        };
        Ok(moved == 1)
    }

    /// Identities still stored under the plain digest.
    pub async fn legacy_digests(&self) -> Result<u64, StoreError> {
        let n: i64 = match self {
            Store::Sqlite(s) => {
                sqlx::query_scalar("SELECT count(*) FROM identities WHERE legacy_digest = 1")
                    .fetch_one(s.reader())
                    .await?
            }
            Store::Postgres(s) => {
                sqlx::query_scalar("SELECT count(*) FROM identities WHERE legacy_digest")
                    .fetch_one(s.pool())
                    .await?
            }
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// When `key` was registered, if it is.
    pub async fn registered_at(&self, key: &IdentityKey) -> Result<Option<DateTime<Utc>>, StoreError> {
        let ms: Option<i64> = match self {
            Store::Sqlite(s) => {
                sqlx::query_scalar("SELECT registered_at FROM identities WHERE public_key = ?")
                    .bind(&key.0[..])
                    .fetch_optional(s.reader())
                    .await?
            }
            Store::Postgres(s) => {
                sqlx::query_scalar("SELECT registered_at FROM identities WHERE public_key = $1")
                    .bind(&key.0[..])
                    .fetch_optional(s.pool())
                    .await?
            }
        };
        ms.map(at).transpose()
    }

    /// Records a code sent to `contact_digest` at `now` if the per-contact policy allows it,
    /// deciding under a lock (SQLite's writer, a PostgreSQL advisory lock on the digest) so that
    /// instances racing for one contact cannot both pass. `Err(seconds)`: wait that long.
    /// Sends older than an hour are forgotten here, by whoever sends next.
    pub async fn reserve_send(
        &self,
        contact_digest: &[u8; 32],
        policy: &SendPolicy,
        now: DateTime<Utc>,
    ) -> Result<Result<(), u64>, StoreError> {
        let now_ms = now.timestamp_millis();
        let since = now_ms - HOUR_MS;
        match self {
            Store::Sqlite(s) => {
                let mut tx = s.writer().begin_with("BEGIN IMMEDIATE").await?;
                sqlx::query("DELETE FROM contact_sends WHERE sent_at <= ?")
                    .bind(since)
                    .execute(&mut *tx)
                    .await?;
                let sent: Vec<i64> = sqlx::query_scalar("SELECT sent_at FROM contact_sends WHERE contact_digest = ?")
                    .bind(&contact_digest[..])
                    .fetch_all(&mut *tx)
                    .await?;
                let verdict = send_verdict(policy, &sent, now_ms);
                if verdict.is_ok() {
                    sqlx::query("INSERT INTO contact_sends (contact_digest, sent_at) VALUES (?, ?)")
                        .bind(&contact_digest[..])
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(verdict)
            }
            Store::Postgres(s) => {
                let mut tx = s.pool().begin().await?;
                let lock = i64::from_le_bytes(contact_digest[..8].try_into().unwrap_or_default());
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(lock)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM contact_sends WHERE contact_digest = $1 AND sent_at <= $2")
                    .bind(&contact_digest[..])
                    .bind(since)
                    .execute(&mut *tx)
                    .await?;
                let sent: Vec<i64> = sqlx::query_scalar("SELECT sent_at FROM contact_sends WHERE contact_digest = $1")
                    .bind(&contact_digest[..])
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
            }
        }
    }

    /// Stores the code pending for `key` (replacing any earlier one for this key) and forgets
    /// codes that expired.
    pub async fn put_pending(
        &self,
        key: &IdentityKey,
        contact_digest: &[u8; 32],
        code_hash: &[u8; 32],
        attempts: u32,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
        match self {
            Store::Sqlite(s) => {
                let mut tx = s.writer().begin_with("BEGIN IMMEDIATE").await?;
                sqlx::query("DELETE FROM pending_registrations WHERE expires_at <= ?")
                    .bind(now.timestamp_millis())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO pending_registrations (public_key, contact_digest, code_hash, attempts_left, expires_at)
                     VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (public_key) DO UPDATE SET contact_digest = excluded.contact_digest,
                        code_hash = excluded.code_hash, attempts_left = excluded.attempts_left,
                        expires_at = excluded.expires_at",
                )
                .bind(&key.0[..])
                .bind(&contact_digest[..])
                .bind(&code_hash[..])
                .bind(attempts)
                .bind(expires_at.timestamp_millis())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
            Store::Postgres(s) => {
                sqlx::query("DELETE FROM pending_registrations WHERE expires_at <= $1")
                    .bind(now.timestamp_millis())
                    .execute(s.pool())
                    .await?;
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
                .execute(s.pool())
                .await?;
            }
        }
        Ok(())
    }

    /// Takes one try at the code pending for `key`: the try is counted (atomically, before the
    /// code is compared, so concurrent guesses never get more tries than allowed) and the code's
    /// hash returned. `None`: nothing pending, expired, or no tries left.
    pub async fn take_attempt(&self, key: &IdentityKey, now: DateTime<Utc>) -> Result<Option<Pending>, StoreError> {
        let row = match self {
            Store::Sqlite(s) => sqlx::query(
                "UPDATE pending_registrations SET attempts_left = attempts_left - 1
                     WHERE public_key = ? AND attempts_left > 0 AND expires_at > ?
                     RETURNING contact_digest, code_hash, attempts_left",
            )
            .bind(&key.0[..])
            .bind(now.timestamp_millis())
            .fetch_optional(s.writer())
            .await?
            .map(|r| -> Result<_, StoreError> {
                Ok((
                    r.try_get::<Vec<u8>, _>(0)?,
                    r.try_get::<Vec<u8>, _>(1)?,
                    r.try_get::<i64, _>(2)?,
                ))
            })
            .transpose()?,
            Store::Postgres(s) => sqlx::query(
                "UPDATE pending_registrations SET attempts_left = attempts_left - 1
                     WHERE public_key = $1 AND attempts_left > 0 AND expires_at > $2
                     RETURNING contact_digest, code_hash, attempts_left",
            )
            .bind(&key.0[..])
            .bind(now.timestamp_millis())
            .fetch_optional(s.pool())
            .await?
            .map(|r| -> Result<_, StoreError> {
                Ok((
                    r.try_get::<Vec<u8>, _>(0)?,
                    r.try_get::<Vec<u8>, _>(1)?,
                    i64::from(r.try_get::<i32, _>(2)?),
                ))
            })
            .transpose()?,
        };
        Ok(row.map(|(contact_digest, code_hash, left)| Pending {
            contact_digest,
            code_hash,
            attempts_left: u32::try_from(left).unwrap_or(0),
        }))
    }

    /// Forgets the code pending for `key` (used, or void).
    pub async fn clear_pending(&self, key: &IdentityKey) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => {
                sqlx::query("DELETE FROM pending_registrations WHERE public_key = ?")
                    .bind(&key.0[..])
                    .execute(s.writer())
                    .await?;
            }
            Store::Postgres(s) => {
                sqlx::query("DELETE FROM pending_registrations WHERE public_key = $1")
                    .bind(&key.0[..])
                    .execute(s.pool())
                    .await?;
            }
        }
        Ok(())
    }
}
