//! A redemption that a retry replays, one flow and one SQL for both backends. The box office may send
//! an `Idempotency-Key` with a redemption; its digest is stored with the redemption in the same
//! conditional update, so a retry after a lost response (same key, same staff token) gets the
//! same 200 and the same `redeemed_at`, while any other redemption of that voucher still gets
//! 409 `already_redeemed`.

use super::{Store, StoreError, VoucherRow};
use chrono::{DateTime, Utc};
use sha2::Digest;

/// What a redemption did.
#[derive(Debug, Clone, PartialEq)]
pub enum Redeemed {
    /// Redeemed by this request.
    Now(VoucherRow),
    /// Redeemed earlier by a request with this very key and staff token: the same answer.
    Replayed(VoucherRow),
    AlreadyRedeemed {
        first_redeemed_at: DateTime<Utc>,
    },
    /// Given back by its holder: void.
    Returned,
    /// Moved to its holder's new device (signed again, new code): this copy is void.
    Moved,
}

/// The digest stored for a redemption's key: bound to the campaign's staff token, so a key
/// replays only for a holder of that token.
pub fn key_digest(staff_token_hash: &[u8; 32], key: &str) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update(b"lineup-redeem-key-v1");
    h.update(staff_token_hash);
    h.update(key.as_bytes());
    h.finalize().into()
}

/// Redeems voucher `v` (as found by the caller) at `now`: the first redemption wins one
/// conditional update that also records `key`'s digest; a later one with the same digest is a
/// replay.
pub async fn redeem(
    store: &Store,
    v: &VoucherRow,
    key: Option<&[u8; 32]>,
    now: DateTime<Utc>,
) -> Result<Redeemed, StoreError> {
    let now_ms = now.timestamp_millis();
    let serial = i64::try_from(v.serial).map_err(|_| StoreError::Corrupt("serial".into()))?;
    let key = key.map(|k| k.to_vec());
    let (applied, (first, stored_key, returned, code)) = in_tx!(store, tx => {
        // On PostgreSQL a concurrent redemption waits for the row lock, then finds redeemed_at set.
        let done = sqlx::query(
            "UPDATE vouchers SET redeemed_at = $1, redeem_key = $2 WHERE campaign_id = $3 AND serial = $4
                AND code = $5 AND redeemed_at IS NULL AND returned_at IS NULL",
        )
        .bind(now_ms)
        .bind(&key)
        .bind(v.campaign_id.as_str())
        .bind(serial)
        .bind(v.code.compact())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 1 {
            sqlx::query("UPDATE campaigns SET redeemed = redeemed + 1 WHERE id = $1")
                .bind(v.campaign_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        // After the update: redeemed_at, redeem_key, returned_at and code.
        let row: (Option<i64>, Option<Vec<u8>>, Option<i64>, String) = sqlx::query_as(
            "SELECT redeemed_at, redeem_key, returned_at, code FROM vouchers WHERE campaign_id = $1 AND serial = $2",
        )
        .bind(v.campaign_id.as_str())
        .bind(serial)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        (done == 1, row)
    });
    let at = |ms: i64| DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt(format!("instant {ms}")));
    if applied {
        return Ok(Redeemed::Now(VoucherRow {
            redeemed_at: Some(at(now_ms)?),
            ..v.clone()
        }));
    }
    if code != v.code.compact() {
        // Signed again for its holder's new device after the caller found it: this copy is void.
        return Ok(Redeemed::Moved);
    }
    if returned.is_some() && first.is_none() {
        return Ok(Redeemed::Returned);
    }
    let Some(first) = first else {
        return Err(StoreError::Corrupt("redemption neither applied nor recorded".into()));
    };
    let first = at(first)?;
    let same_key = matches!((&key, &stored_key), (Some(k), Some(s)) if {
        use subtle::ConstantTimeEq;
        bool::from(k.as_slice().ct_eq(s.as_slice()))
    });
    Ok(if same_key {
        Redeemed::Replayed(VoucherRow {
            redeemed_at: Some(first),
            ..v.clone()
        })
    } else {
        Redeemed::AlreadyRedeemed {
            first_redeemed_at: first,
        }
    })
}
