//! What the server publishes so anyone can check a draw, both backends' SQL side by side: the
//! salt of the seed commitment, the count and seed fixed at the draw, the sealed Merkle root of
//! the join order, and pages of ticket ids in join order.

use super::keys::{Db, db};
use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use lineup_protocol::CampaignId;
use sqlx::Row;

/// A campaign's draw as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawRow {
    pub seed: u64,
    pub salt: Option<[u8; 32]>,
    pub draw_at: DateTime<Utc>,
    /// Tickets in the draw, once done (`None` also for campaigns drawn before draws became
    /// lazy, whose positions are stored: those cannot be checked this way).
    pub n: Option<u64>,
    pub drawn: bool,
    pub list_root: Option<[u8; 32]>,
}

fn bytes32(v: Option<Vec<u8>>, what: &str) -> Result<Option<[u8; 32]>, StoreError> {
    v.map(|b| {
        b.as_slice()
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
    })
    .transpose()
}

/// The draw of campaign `id`, or `None` for an unknown campaign.
pub async fn draw_row(store: &Store, id: &CampaignId) -> Result<Option<DrawRow>, StoreError> {
    macro_rules! read {
        ($row:expr) => {{
            let Some(r) = $row else { return Ok(None) };
            let n: Option<i64> = r.try_get("drawn_count")?;
            let draw_at: i64 = r.try_get("draw_at")?;
            Ok(Some(DrawRow {
                seed: r.try_get::<i64, _>("draw_seed")? as u64,
                salt: bytes32(r.try_get("draw_salt")?, "draw_salt")?,
                draw_at: DateTime::from_timestamp_millis(draw_at)
                    .ok_or_else(|| StoreError::Corrupt(format!("draw_at {draw_at}")))?,
                n: n.map(|n| u64::try_from(n).unwrap_or(0)),
                drawn: r.try_get::<Option<i64>, _>("drawn_at")?.is_some(),
                list_root: bytes32(r.try_get("draw_list_root")?, "draw_list_root")?,
            }))
        }};
    }
    match db(store) {
        Db::Lite { writer, .. } => {
            // The writer: the seal or salt this process just wrote must be read back.
            let r = sqlx::query(
                "SELECT draw_seed, draw_salt, draw_at, drawn_at, drawn_count, draw_list_root FROM campaigns WHERE id = ?",
            )
                .bind(id.as_str())
                .fetch_optional(writer)
                .await?;
            read!(r)
        }
        Db::Pg(pool) => {
            let r = sqlx::query(
                "SELECT draw_seed, draw_salt, draw_at, drawn_at, drawn_count, draw_list_root FROM campaigns WHERE id = $1",
            )
                .bind(id.as_str())
                .fetch_optional(pool)
                .await?;
            read!(r)
        }
    }
}

/// Sets campaign `id`'s commitment salt unless it has one (the first writer wins, so every
/// instance publishes the same commitment).
pub async fn ensure_salt(store: &Store, id: &CampaignId, salt: &[u8; 32]) -> Result<(), StoreError> {
    match db(store) {
        Db::Lite { writer, .. } => {
            sqlx::query("UPDATE campaigns SET draw_salt = ? WHERE id = ? AND draw_salt IS NULL")
                .bind(&salt[..])
                .bind(id.as_str())
                .execute(writer)
                .await?;
        }
        Db::Pg(pool) => {
            sqlx::query("UPDATE campaigns SET draw_salt = $1 WHERE id = $2 AND draw_salt IS NULL")
                .bind(&salt[..])
                .bind(id.as_str())
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// Seals the Merkle root of the join order once: a later call (another instance, a retry)
/// changes nothing. Returns the stored root.
pub async fn seal_list_root(store: &Store, id: &CampaignId, root: &[u8; 32]) -> Result<Option<[u8; 32]>, StoreError> {
    match db(store) {
        Db::Lite { writer, .. } => {
            sqlx::query(
                "UPDATE campaigns SET draw_list_root = ? WHERE id = ? AND draw_list_root IS NULL
                    AND drawn_count IS NOT NULL",
            )
            .bind(&root[..])
            .bind(id.as_str())
            .execute(writer)
            .await?;
        }
        Db::Pg(pool) => {
            sqlx::query(
                "UPDATE campaigns SET draw_list_root = $1 WHERE id = $2 AND draw_list_root IS NULL
                    AND drawn_count IS NOT NULL",
            )
            .bind(&root[..])
            .bind(id.as_str())
            .execute(pool)
            .await?;
        }
    }
    Ok(draw_row(store, id).await?.and_then(|d| d.list_root))
}

/// Ticket ids with join sequence numbers `from..=to`, in join order.
pub async fn ticket_ids(store: &Store, id: &CampaignId, from: u64, to: u64) -> Result<Vec<(u64, String)>, StoreError> {
    let (from, to) = (
        i64::try_from(from).unwrap_or(i64::MAX),
        i64::try_from(to).unwrap_or(i64::MAX),
    );
    let rows: Vec<(i64, String)> = match db(store) {
        Db::Lite { reader, .. } => {
            sqlx::query_as("SELECT seq, id FROM tickets WHERE campaign_id = ? AND seq >= ? AND seq <= ? ORDER BY seq")
                .bind(id.as_str())
                .bind(from)
                .bind(to)
                .fetch_all(reader)
                .await?
        }
        Db::Pg(pool) => {
            sqlx::query_as(
                "SELECT seq, id FROM tickets WHERE campaign_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq",
            )
            .bind(id.as_str())
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|(s, t)| (u64::try_from(s).unwrap_or(0), t))
        .collect())
}

/// The join sequence number of ticket `ticket_id` in campaign `id`.
pub async fn seq_of(store: &Store, id: &CampaignId, ticket_id: &str) -> Result<Option<u64>, StoreError> {
    let seq: Option<i64> = match db(store) {
        Db::Lite { reader, .. } => {
            sqlx::query_scalar("SELECT seq FROM tickets WHERE campaign_id = ? AND id = ?")
                .bind(id.as_str())
                .bind(ticket_id)
                .fetch_optional(reader)
                .await?
        }
        Db::Pg(pool) => {
            sqlx::query_scalar("SELECT seq FROM tickets WHERE campaign_id = $1 AND id = $2")
                .bind(id.as_str())
                .bind(ticket_id)
                .fetch_optional(pool)
                .await?
        }
    };
    Ok(seq.map(|s| u64::try_from(s).unwrap_or(0)))
}
