//! "I changed phones": moving a person's contact from the key that holds it to a new device key,
//! once the new key proved the contact with a one-time code. One transaction, written once for
//! both backends (the SQL is the same; only the pools differ): the old key is revoked, its
//! places in line follow the person, and its unused vouchers are signed again for the new key
//! (same campaign and serial, so supply is untouched; new token and code) while the old codes
//! are recorded as moved. A redemption or issuance racing the move either lands before it (and
//! its voucher moves too) or finds the old key gone and fails cleanly: the old identity row is
//! deleted last, so any row still naming it makes the whole move fail and start again.

use super::cols::{at, key_of};
use super::{Store, StoreError, VoucherRow};
use crate::issuer::Issuer;
use chrono::{DateTime, Utc};
use lineup_protocol::{CampaignId, IdentityKey, MovedHere, VoucherCode};
use sha2::Digest;
use sqlx::Row as _;

/// What a move did, or why it did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveOutcome {
    /// Moved now from key `old`; the person's registration instant is kept.
    Moved {
        old: IdentityKey,
        registered_at: DateTime<Utc>,
        moved: MovedHere,
    },
    /// Nobody holds the contact (any more): register the new key as for a new person.
    Unheld,
    /// The new key is itself registered (to this contact or another).
    AlreadyRegistered,
}

/// A key's revocation, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub replaced_by: IdentityKey,
    pub moved: MovedHere,
}

/// Moves at most this many times when a concurrent write (an issuance batch, a redemption, a
/// new place in line) makes the move's last check fail.
const MOVE_ATTEMPTS: u32 = 4;

/// A placeholder digest for the old row while the new one takes the contact (the contact
/// digest is unique, and the old row goes at the end of the same transaction).
fn moving_marker(old: &IdentityKey) -> Vec<u8> {
    let mut h = sha2::Sha256::new();
    h.update(b"lineup-moving-v1");
    h.update(old.0);
    h.finalize().to_vec()
}

fn count(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Whether a failed move is worth starting again: a row naming the old key appeared (foreign
/// key), or the backend asks for a retry (serialization failure, deadlock, busy).
fn retryable(e: &StoreError) -> bool {
    let StoreError::Db(sqlx::Error::Database(d)) = e else {
        return false;
    };
    if d.is_foreign_key_violation() || d.is_unique_violation() {
        return true;
    }
    matches!(d.code().as_deref(), Some("40001" | "40P01" | "5" | "6" | "517"))
}

/// A voucher that moves: signed again when still usable.
fn usable(v: &VoucherRow, now: DateTime<Utc>) -> bool {
    v.redeemed_at.is_none() && v.returned_at.is_none() && v.expires_at > now
}

fn currency(v: &VoucherRow) -> Result<[u8; 3], StoreError> {
    v.currency
        .as_bytes()
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("currency {:?}", v.currency)))
}

impl Store {
    /// Moves the contact with digest `digest` to `new` (which proved it), revoking the key that
    /// holds it. See the module header.
    pub async fn move_identity(
        &self,
        digest: &[u8; 32],
        new: &IdentityKey,
        issuer: &Issuer,
        now: DateTime<Utc>,
    ) -> Result<MoveOutcome, StoreError> {
        let mut attempt = 0;
        loop {
            let again = match self.move_once(digest, new, issuer, now).await {
                Ok(Some(done)) => return Ok(done),
                Ok(None) => "the contact moved concurrently".to_owned(),
                Err(e) if retryable(&e) => e.to_string(),
                Err(e) => return Err(e),
            };
            attempt += 1;
            if attempt == MOVE_ATTEMPTS {
                return Err(StoreError::Conflict(format!("moving an identity: {again}")));
            }
            tracing::debug!(attempt, reason = %again, "moving an identity again after a concurrent write");
            tokio::time::sleep(std::time::Duration::from_millis(2 << attempt)).await;
        }
    }

    async fn move_once(
        &self,
        digest: &[u8; 32],
        new: &IdentityKey,
        issuer: &Issuer,
        now: DateTime<Utc>,
    ) -> Result<Option<MoveOutcome>, StoreError> {
        let now_ms = now.timestamp_millis();
        in_tx!(self, tx => {
            let mine = sqlx::query("SELECT 1 FROM identities WHERE public_key = $1")
                .bind(&new.0[..])
                .fetch_optional(&mut *tx)
                .await?;
            if mine.is_some() {
                return Ok(Some(MoveOutcome::AlreadyRegistered));
            }
            let Some(holder) = sqlx::query("SELECT public_key, registered_at FROM identities WHERE contact_digest = $1")
                .bind(&digest[..])
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(Some(MoveOutcome::Unheld));
            };
            let old = key_of(&holder.try_get::<Vec<u8>, _>("public_key")?)?;
            let registered_at: i64 = holder.try_get("registered_at")?;
            // Conditional on the holder read: also the row lock (PostgreSQL) that makes a
            // concurrent insert naming the old key wait for this transaction, then fail.
            let took = sqlx::query("UPDATE identities SET contact_digest = $1 WHERE public_key = $2 AND contact_digest = $3")
                .bind(moving_marker(&old))
                .bind(&old.0[..])
                .bind(&digest[..])
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if took != 1 {
                // Moved by a concurrent request a moment ago: read again.
                return Ok(None);
            }
            sqlx::query("INSERT INTO identities (public_key, contact_digest, registered_at) VALUES ($1, $2, $3)")
                .bind(&new.0[..])
                .bind(&digest[..])
                .bind(registered_at)
                .execute(&mut *tx)
                .await?;
            let tickets = sqlx::query("UPDATE tickets SET identity = $1 WHERE identity = $2")
                .bind(&new.0[..])
                .bind(&old.0[..])
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let rows = sqlx::query(
                "SELECT campaign_id, serial, identity, ticket_id, token, code, kid, amount, currency,
                    issued_at, expires_at, redeemed_at, returned_at FROM vouchers WHERE identity = $1",
            )
            .bind(&old.0[..])
            .fetch_all(&mut *tx)
            .await?;
            let mut vouchers = 0u32;
            let mut reissued = 0u32;
            for r in &rows {
                let v = super::voucher_from_row(r)?;
                vouchers += 1;
                let serial = i64::try_from(v.serial).map_err(|_| StoreError::Corrupt("serial".into()))?;
                if usable(&v, now) {
                    let token = issuer
                        .sign_voucher(&v.campaign_id, v.serial, v.amount, currency(&v)?, v.expires_at, new)
                        .map_err(|e| StoreError::Sign(e.to_string()))?;
                    let done = sqlx::query(
                        "UPDATE vouchers SET identity = $1, token = $2, code = $3, kid = $4
                         WHERE campaign_id = $5 AND serial = $6 AND code = $7
                           AND redeemed_at IS NULL AND returned_at IS NULL",
                    )
                    .bind(&new.0[..])
                    .bind(&token.text)
                    .bind(token.code().compact())
                    .bind(i64::from(token.claims.kid))
                    .bind(v.campaign_id.as_str())
                    .bind(serial)
                    .bind(v.code.compact())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if done == 1 {
                        sqlx::query("INSERT INTO voucher_moves (old_code, campaign_id, serial, moved_at) VALUES ($1, $2, $3, $4)")
                            .bind(v.code.compact())
                            .bind(v.campaign_id.as_str())
                            .bind(serial)
                            .bind(now_ms)
                            .execute(&mut *tx)
                            .await?;
                        reissued += 1;
                        continue;
                    }
                    // Redeemed or given back since it was read: it moves as it is.
                }
                sqlx::query("UPDATE vouchers SET identity = $1 WHERE campaign_id = $2 AND serial = $3")
                    .bind(&new.0[..])
                    .bind(v.campaign_id.as_str())
                    .bind(serial)
                    .execute(&mut *tx)
                    .await?;
            }
            // The old device's own state goes: its pushes would tell a lost phone the codes.
            sqlx::query(
                "DELETE FROM push_outbox WHERE subscription_id IN (SELECT id FROM push_subscriptions WHERE identity = $1)",
            )
            .bind(&old.0[..])
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM push_subscriptions WHERE identity = $1")
                .bind(&old.0[..])
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM idempotency_keys WHERE identity = $1")
                .bind(&old.0[..])
                .execute(&mut *tx)
                .await?;
            // The old key's pending code, and the new key's, used by this move (gone only if
            // the move commits: a failed move leaves the code for the retry).
            sqlx::query("DELETE FROM pending_registrations WHERE public_key = $1 OR public_key = $2")
                .bind(&old.0[..])
                .bind(&new.0[..])
                .execute(&mut *tx)
                .await?;
            let tickets = u32::try_from(tickets).unwrap_or(u32::MAX);
            sqlx::query(
                "INSERT INTO key_revocations (public_key, replaced_by, revoked_at, tickets, vouchers, vouchers_reissued)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&old.0[..])
            .bind(&new.0[..])
            .bind(now_ms)
            .bind(i64::from(tickets))
            .bind(i64::from(vouchers))
            .bind(i64::from(reissued))
            .execute(&mut *tx)
            .await?;
            // Last: fails (and the move starts again) if anything still names the old key.
            sqlx::query("DELETE FROM identities WHERE public_key = $1")
                .bind(&old.0[..])
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(tickets, vouchers, reissued, "a person moved to a new device: the old key is revoked");
            Ok(Some(MoveOutcome::Moved {
                old,
                registered_at: at(registered_at)?,
                moved: MovedHere {
                    revoked_at: at(now_ms)?,
                    tickets,
                    vouchers,
                    vouchers_reissued: reissued,
                },
            }))
        })
    }

    /// The revocation of `key`, if it was revoked.
    pub async fn revocation(&self, key: &IdentityKey) -> Result<Option<Revocation>, StoreError> {
        // A reader: in WAL mode a new read sees every move committed before it.
        let row = on!(self, _w, r => {
            sqlx::query(
                "SELECT replaced_by, revoked_at, tickets, vouchers, vouchers_reissued FROM key_revocations WHERE public_key = $1",
            )
            .bind(&key.0[..])
            .fetch_optional(r)
            .await?
            .map(|r| revocation_of(&r))
            .transpose()?
        });
        Ok(row)
    }

    /// What moved to `key` when it took its contact over (the latest move, if several).
    pub async fn moved_to(&self, key: &IdentityKey) -> Result<Option<MovedHere>, StoreError> {
        let row = on!(self, _w, r => {
            sqlx::query(
                "SELECT replaced_by, revoked_at, tickets, vouchers, vouchers_reissued FROM key_revocations
                 WHERE replaced_by = $1 ORDER BY seq DESC LIMIT 1",
            )
            .bind(&key.0[..])
            .fetch_optional(r)
            .await?
            .map(|r| revocation_of(&r))
            .transpose()?
        });
        Ok(row.map(|r| r.moved))
    }

    /// Keys revoked after `after` (a `seq`), oldest first, at most `limit`, with their `seq`.
    pub async fn revocations_after(&self, after: i64, limit: i64) -> Result<Vec<(i64, IdentityKey)>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> = on!(self, _w, r => {
            sqlx::query_as("SELECT seq, public_key FROM key_revocations WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after)
                .bind(limit)
                .fetch_all(r)
                .await?
        });
        rows.into_iter().map(|(s, k)| Ok((s, key_of(&k)?))).collect()
    }

    /// Keys revoked at or after `since` (at most `limit`). On PostgreSQL a `seq` is taken when
    /// its row is written, not when the move commits, so a move may commit after one with a
    /// higher `seq` was read: re-reading the last minute's revocations catches it (forgetting a
    /// key twice is harmless).
    pub async fn revocations_since(&self, since: DateTime<Utc>, limit: i64) -> Result<Vec<IdentityKey>, StoreError> {
        let rows: Vec<Vec<u8>> = on!(self, _w, r => {
            sqlx::query_scalar("SELECT public_key FROM key_revocations WHERE revoked_at >= $1 LIMIT $2")
                .bind(since.timestamp_millis())
                .bind(limit)
                .fetch_all(r)
                .await?
        });
        rows.iter().map(|k| key_of(k)).collect()
    }

    /// The newest revocation's `seq` (0 when none): where an instance starts watching.
    pub async fn last_revocation(&self) -> Result<i64, StoreError> {
        let seq: Option<i64> = on!(self, _w, r => {
            sqlx::query_scalar("SELECT MAX(seq) FROM key_revocations").fetch_one(r).await?
        });
        Ok(seq.unwrap_or(0))
    }

    /// The campaign of the voucher whose old copy had `code`, if it moved to its holder's new
    /// device.
    pub async fn voucher_moved(&self, code: &VoucherCode) -> Result<Option<CampaignId>, StoreError> {
        let campaign: Option<String> = on!(self, _w, r => {
            sqlx::query_scalar("SELECT campaign_id FROM voucher_moves WHERE old_code = $1")
                .bind(code.compact())
                .fetch_optional(r)
                .await?
        });
        campaign
            .map(|c| {
                c.parse()
                    .map_err(|_| StoreError::Corrupt(format!("bad stored campaign id {c}")))
            })
            .transpose()
    }
}

fn revocation_of<R: sqlx::Row>(r: &R) -> Result<Revocation, StoreError>
where
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Vec<u8>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
{
    Ok(Revocation {
        replaced_by: key_of(&r.try_get::<Vec<u8>, _>("replaced_by")?)?,
        moved: MovedHere {
            revoked_at: at(r.try_get("revoked_at")?)?,
            tickets: count(r.try_get("tickets")?),
            vouchers: count(r.try_get("vouchers")?),
            vouchers_reissued: count(r.try_get("vouchers_reissued")?),
        },
    })
}
