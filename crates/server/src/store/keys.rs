//! Secrets' public halves kept in the database, both backends' SQL side by side: the issuer keys
//! pinned by key id (so instances on one database never sign under one `kid` with different
//! keys, and every key ever used keeps verifying), and the campaigns' staff-token digests (a
//! changed `staff_token` in the configuration replaces the stored digest on restart).

use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use lineup_protocol::CampaignId;
use sqlx::{PgPool, SqlitePool};

/// The pools of a store, for SQL written here rather than in the two big backend files.
pub(crate) enum Db<'a> {
    Lite {
        writer: &'a SqlitePool,
        reader: &'a SqlitePool,
    },
    Pg(&'a PgPool),
}

pub(crate) fn db(store: &Store) -> Db<'_> {
    match store {
        Store::Sqlite(s) => {
            let (writer, reader) = s.pools();
            Db::Lite { writer, reader }
        }
        Store::Postgres(s) => Db::Pg(s.pool()),
    }
}

/// A public key pinned under a key id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedKey {
    pub kid: u32,
    pub public_key: [u8; 32],
}

fn pinned_from(kid: i64, pk: Vec<u8>) -> Result<PinnedKey, StoreError> {
    Ok(PinnedKey {
        kid: u32::try_from(kid).map_err(|_| StoreError::Corrupt(format!("issuer key id {kid}")))?,
        public_key: pk
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("issuer public key of kid {kid}")))?,
    })
}

/// Every pinned issuer key, by key id.
pub async fn pinned_keys(store: &Store) -> Result<Vec<PinnedKey>, StoreError> {
    let rows: Vec<(i64, Vec<u8>)> = match db(store) {
        Db::Lite { writer, .. } => {
            // The writer: a key pinned a moment ago by this process must be seen.
            sqlx::query_as("SELECT kid, public_key FROM issuer_keys ORDER BY kid")
                .fetch_all(writer)
                .await?
        }
        Db::Pg(pool) => {
            sqlx::query_as("SELECT kid, public_key FROM issuer_keys ORDER BY kid")
                .fetch_all(pool)
                .await?
        }
    };
    rows.into_iter().map(|(k, pk)| pinned_from(k, pk)).collect()
}

/// What pinning a key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinOutcome {
    /// Pinned now, or already pinned under this kid with this very key.
    Pinned,
    /// This kid is pinned to another key.
    OtherKey([u8; 32]),
    /// This key is pinned under another kid.
    OtherKid(u32),
}

/// Pins `public_key` under `kid` unless something is pinned there (first writer wins across
/// instances: the primary key decides).
pub async fn pin_key(
    store: &Store,
    kid: u32,
    public_key: &[u8; 32],
    now: DateTime<Utc>,
) -> Result<PinOutcome, StoreError> {
    let (k, at) = (i64::from(kid), now.timestamp_millis());
    match db(store) {
        Db::Lite { writer, .. } => {
            sqlx::query(
                "INSERT INTO issuer_keys (kid, public_key, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(k)
            .bind(&public_key[..])
            .bind(at)
            .execute(writer)
            .await?;
        }
        Db::Pg(pool) => {
            sqlx::query(
                "INSERT INTO issuer_keys (kid, public_key, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(k)
            .bind(&public_key[..])
            .bind(at)
            .execute(pool)
            .await?;
        }
    }
    let keys = pinned_keys(store).await?;
    if let Some(p) = keys.iter().find(|p| p.kid == kid) {
        return Ok(if &p.public_key == public_key {
            PinOutcome::Pinned
        } else {
            PinOutcome::OtherKey(p.public_key)
        });
    }
    match keys.iter().find(|p| &p.public_key == public_key) {
        Some(p) => Ok(PinOutcome::OtherKid(p.kid)),
        None => Err(StoreError::Corrupt(format!(
            "issuer key {kid} neither pinned nor refused"
        ))),
    }
}

/// Replaces campaign `id`'s stored staff-token digest with `hash` when it differs. Returns
/// whether it changed (false also when the campaign is not stored yet).
pub async fn set_staff_token_hash(store: &Store, id: &CampaignId, hash: &[u8; 32]) -> Result<bool, StoreError> {
    let changed = match db(store) {
        Db::Lite { writer, .. } => {
            sqlx::query("UPDATE campaigns SET staff_token_hash = ? WHERE id = ? AND staff_token_hash <> ?")
                .bind(&hash[..])
                .bind(id.as_str())
                .bind(&hash[..])
                .execute(writer)
                .await?
                .rows_affected()
        }
        Db::Pg(pool) => {
            sqlx::query("UPDATE campaigns SET staff_token_hash = $1 WHERE id = $2 AND staff_token_hash <> $1")
                .bind(&hash[..])
                .bind(id.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        }
    };
    Ok(changed > 0)
}

/// Stores a configured campaign (see [`Store::ensure_campaign`]) with the configuration's
/// current staff-token digest: a token changed in the configuration takes effect on this
/// restart (the old one stops working at once on this instance, within a second on others).
/// A new campaign also gets its draw salt here, before anyone can join.
pub async fn ensure_configured_campaign(
    store: &Store,
    spec: &crate::config::CampaignSpec,
    staff_token_hash: [u8; 32],
    draw_seed: u64,
    draw_salt: [u8; 32],
) -> Result<super::CampaignRow, StoreError> {
    if set_staff_token_hash(store, &spec.id, &staff_token_hash).await? {
        tracing::warn!(campaign = %spec.id, "staff token changed in the configuration: the new one replaces the stored one");
    }
    let row = store.ensure_campaign(spec, staff_token_hash, draw_seed).await?;
    super::draw_record::ensure_salt(store, &spec.id, &draw_salt).await?;
    Ok(row)
}
