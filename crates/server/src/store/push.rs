//! Persistence of Web Push (see [`crate::push`]): subscriptions, the per-campaign cursors from
//! which notifications are derived, and the outbox the sender drains. One SQL text serves both
//! backends (sqlx binds SQLite's `$N` parameters by number, as PostgreSQL does); the few
//! statements that differ are side by side.
//!
//! Deriving instead of writing inside the hot transactions: the draw, issuance and give-back
//! commit nothing about pushes. A deriver compares what the campaign row says happened (drawn
//! tickets, the last serial, the reach) with how far its cursors got, writes outbox rows for the
//! subscribed holders, and moves the cursors in the same short transaction. A crash anywhere
//! leaves either both or neither, so a restart derives exactly what is missing.

use super::cols::{at, i, ms, u};
use super::{CampaignRow, Store, StoreError};
use crate::draw::Draw;
use chrono::{DateTime, Utc};
use lineup_protocol::push::{PushKind, PushLocale};
use lineup_protocol::{CampaignId, IdentityKey};
use sqlx::Row;

/// A device's subscription to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub identity: IdentityKey,
    pub endpoint: String,
    pub p256dh: [u8; 65],
    pub auth: [u8; 16],
    pub hide_code: bool,
    pub locale: PushLocale,
}

/// Result of registering a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeOutcome {
    /// Stored (new, or updated by endpoint); `count` subscriptions the identity holds now.
    Stored {
        created_at: DateTime<Utc>,
        count: u32,
        /// The endpoint was not registered before.
        new: bool,
    },
    /// The identity already holds `count` other subscriptions, the most allowed.
    TooMany { count: u32 },
}

/// A stored subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRow {
    pub id: i64,
    pub identity: IdentityKey,
    pub endpoint: String,
    pub p256dh: Vec<u8>,
    pub auth: Vec<u8>,
    pub hide_code: bool,
    pub locale: PushLocale,
}

/// One notification for one subscription, leased to this sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub subscription: SubscriptionRow,
    pub campaign_id: CampaignId,
    pub kind: PushKind,
    /// The join seq (draw result), serial (voucher) or position (handed on) it is about.
    pub about: u64,
    /// Attempts so far, this one included.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
}

/// How an attempt ended, as the outbox records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    Delivered,
    /// The push service no longer knows the subscription (404/410): it is removed.
    Gone,
    /// Try again at this instant.
    Retry(DateTime<Utc>),
    /// Not sent and never will be (reason recorded).
    GiveUp(&'static str),
}

/// What one derivation pass wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Derived {
    pub enqueued: u64,
    /// A cursor stopped at its chunk's end: call again.
    pub more: bool,
}

/// Tickets, vouchers or positions one derivation step reads at most.
pub const DERIVE_CHUNK: u64 = 8000;

fn locale_str(l: PushLocale) -> &'static str {
    match l {
        PushLocale::Ko => "ko",
        PushLocale::En => "en",
    }
}

fn subscription_from<R: Row>(r: &R) -> Result<SubscriptionRow, StoreError>
where
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Vec<u8>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> bool: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
{
    let key: Vec<u8> = r.try_get("identity")?;
    let identity = IdentityKey(
        key.as_slice()
            .try_into()
            .map_err(|_| StoreError::Corrupt("identity key is not 32 bytes".into()))?,
    );
    let locale: String = r.try_get("locale")?;
    Ok(SubscriptionRow {
        id: r.try_get("id")?,
        identity,
        endpoint: r.try_get("endpoint")?,
        p256dh: r.try_get("p256dh")?,
        auth: r.try_get("auth")?,
        hide_code: r.try_get("hide_code")?,
        locale: if locale == "en" { PushLocale::En } else { PushLocale::Ko },
    })
}

/// Inserts one outbox row inside transaction `$tx` unless it exists; rows written (0 or 1).
macro_rules! insert_outbox {
    ($tx:expr, $sid:expr, $campaign:expr, $kind:expr, $about:expr, $now:expr, $not_before:expr) => {
        sqlx::query(
            "INSERT INTO push_outbox (subscription_id, campaign_id, kind, about, created_at, not_before, priority)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind($sid)
        .bind($campaign)
        .bind($kind.as_str())
        .bind($about)
        .bind(ms($now))
        .bind($not_before)
        .bind(priority($kind))
        .execute(&mut *$tx)
        .await?
        .rows_affected()
    };
}

/// Claim order: a voucher or a handed-on place (time-critical, few) before the draw's results
/// (a burst of every entrant, spread over minutes).
fn priority(kind: PushKind) -> i64 {
    match kind {
        PushKind::Voucher | PushKind::HandedOn => 0,
        PushKind::DrawResult => 1,
    }
}

const SUBSCRIPTION_COLUMNS: &str = "id, identity, endpoint, p256dh, auth, hide_code, locale";

impl Store {
    /// Registers `sub` for its identity, or updates the subscription with its endpoint (which
    /// then belongs to this identity). Refused when the identity holds `max` others.
    pub async fn push_subscribe(
        &self,
        sub: &NewSubscription,
        now: DateTime<Utc>,
        max: u32,
    ) -> Result<SubscribeOutcome, StoreError> {
        let pg = matches!(self, Store::Postgres(_));
        on!(self, w, _r => {
            let mut tx = w.begin().await?;
            if pg {
                // Serialises registrations of one identity, so the cap holds across instances.
                sqlx::query("SELECT 1 FROM identities WHERE public_key = $1 FOR UPDATE")
                    .bind(&sub.identity.0[..])
                    .execute(&mut *tx)
                    .await?;
            }
            let others: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM push_subscriptions WHERE identity = $1 AND endpoint <> $2",
            )
            .bind(&sub.identity.0[..])
            .bind(&sub.endpoint)
            .fetch_one(&mut *tx)
            .await?;
            let others = u32::try_from(others).unwrap_or(u32::MAX);
            if others >= max {
                return Ok(SubscribeOutcome::TooMany { count: others });
            }
            let existed: Option<i64> = sqlx::query_scalar("SELECT id FROM push_subscriptions WHERE endpoint = $1")
                .bind(&sub.endpoint)
                .fetch_optional(&mut *tx)
                .await?;
            // An endpoint moving to another identity takes nothing of the old one's along.
            sqlx::query(
                "DELETE FROM push_outbox WHERE subscription_id IN
                    (SELECT id FROM push_subscriptions WHERE endpoint = $1 AND identity <> $2)",
            )
            .bind(&sub.endpoint)
            .bind(&sub.identity.0[..])
            .execute(&mut *tx)
            .await?;
            let created: i64 = sqlx::query_scalar(
                "INSERT INTO push_subscriptions
                    (identity, endpoint, p256dh, auth, hide_code, locale, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                 ON CONFLICT (endpoint) DO UPDATE SET identity = excluded.identity,
                    p256dh = excluded.p256dh, auth = excluded.auth, hide_code = excluded.hide_code,
                    locale = excluded.locale, updated_at = excluded.updated_at
                 RETURNING created_at",
            )
            .bind(&sub.identity.0[..])
            .bind(&sub.endpoint)
            .bind(&sub.p256dh[..])
            .bind(&sub.auth[..])
            .bind(sub.hide_code)
            .bind(locale_str(sub.locale))
            .bind(ms(now))
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(SubscribeOutcome::Stored {
                created_at: at(created)?,
                count: others + 1,
                new: existed.is_none(),
            })
        })
    }

    /// Removes `endpoint` if `identity` holds it; whether it did.
    pub async fn push_unsubscribe(&self, identity: &IdentityKey, endpoint: &str) -> Result<bool, StoreError> {
        on!(self, w, _r => {
            let done = sqlx::query("DELETE FROM push_subscriptions WHERE identity = $1 AND endpoint = $2")
                .bind(&identity.0[..])
                .bind(endpoint)
                .execute(w)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Forgets messages delivered or given up before `before`; how many.
    pub async fn prune_push_outbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        on!(self, w, _r => {
            let done = sqlx::query("DELETE FROM push_outbox WHERE done_at IS NOT NULL AND done_at <= $1")
                .bind(ms(before))
                .execute(w)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// Every subscription of `identity`.
    pub async fn push_subscriptions_of(&self, identity: &IdentityKey) -> Result<Vec<SubscriptionRow>, StoreError> {
        on!(self, _w, r => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE identity = $1 ORDER BY id"
            )))
            .bind(&identity.0[..])
            .fetch_all(r)
            .await?;
            rows.iter().map(subscription_from).collect()
        })
    }

    /// Outbox rows not done yet (sent or given up), over every campaign.
    pub async fn push_pending(&self) -> Result<u64, StoreError> {
        on!(self, _w, r => {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM push_outbox WHERE done_at IS NULL")
                .fetch_one(r)
                .await?;
            Ok(u(n))
        })
    }

    /// Outbox rows by outcome (`None`: not done), for tests and operators.
    pub async fn push_outcomes(&self) -> Result<Vec<(String, Option<String>, u64)>, StoreError> {
        on!(self, _w, r => {
            let rows = sqlx::query(
                "SELECT kind, outcome, COUNT(*) AS n FROM push_outbox GROUP BY kind, outcome ORDER BY kind, outcome",
            )
            .fetch_all(r)
            .await?;
            rows.iter()
                .map(|row| Ok((row.try_get("kind")?, row.try_get("outcome")?, u(row.try_get("n")?))))
                .collect()
        })
    }

    /// Writes the outbox rows for what happened in campaign `c` since the last pass (at most
    /// [`DERIVE_CHUNK`] tickets, vouchers or positions of each kind). Draw results are spread
    /// over `draw_window` after the draw so the pushes do not all leave in the same second.
    pub async fn push_derive(
        &self,
        c: &CampaignRow,
        now: DateTime<Utc>,
        draw_window: chrono::Duration,
    ) -> Result<Derived, StoreError> {
        let id = c.spec.id.as_str();
        let supply = i(c.spec.supply);
        on!(self, w, r => {
            const READ: &str = "SELECT c.drawn_at, c.drawn_count, c.draw_seed, c.reach, c.serials,
                    p.draw_seq, p.voucher_serial, p.reach AS reach_cursor
                 FROM campaigns c JOIN push_cursors p ON p.campaign_id = c.id WHERE c.id = $1";
            // Plain reads while nothing happens: the cursor row is written once per campaign.
            let camp = match sqlx::query(READ).bind(id).fetch_optional(r).await? {
                Some(row) => row,
                None => {
                    sqlx::query(
                        "INSERT INTO push_cursors (campaign_id, draw_seq, voucher_serial, reach)
                         VALUES ($1, 0, 0, $2) ON CONFLICT (campaign_id) DO NOTHING",
                    )
                    .bind(id)
                    .bind(supply)
                    .execute(w)
                    .await?;
                    sqlx::query(READ).bind(id).fetch_one(w).await?
                }
            };
            let drawn_at: Option<i64> = camp.try_get("drawn_at")?;
            let drawn: Option<i64> = camp.try_get("drawn_count")?;
            let seed = camp.try_get::<i64, _>("draw_seed")? as u64;
            let reach: i64 = camp.try_get("reach")?;
            let serials: i64 = camp.try_get("serials")?;
            let draw_seq: i64 = camp.try_get("draw_seq")?;
            let voucher_serial: i64 = camp.try_get("voucher_serial")?;
            let reach_cursor: i64 = camp.try_get("reach_cursor")?;
            let mut out = Derived::default();
            let window_ms = draw_window.num_milliseconds().max(1);

            // Draw results: pre-queue tickets by join seq.
            if let (Some(drawn_at), Some(n)) = (drawn_at, drawn)
                && draw_seq < n
            {
                let to = n.min(draw_seq + i(DERIVE_CHUNK));
                let rows = sqlx::query(
                    "SELECT s.id AS sid, t.seq FROM tickets t JOIN push_subscriptions s ON s.identity = t.identity
                     WHERE t.campaign_id = $1 AND t.in_draw AND t.seq > $2 AND t.seq <= $3",
                )
                .bind(id)
                .bind(draw_seq)
                .bind(to)
                .fetch_all(r)
                .await?;
                let start = drawn_at.max(ms(now) - window_ms);
                let mut found = Vec::with_capacity(rows.len());
                for row in &rows {
                    let seq: i64 = row.try_get("seq")?;
                    found.push((row.try_get::<i64, _>("sid")?, seq, start + spread(u(seq), window_ms)));
                }
                let mut tx = w.begin().await?;
                let moved = sqlx::query("UPDATE push_cursors SET draw_seq = $2 WHERE campaign_id = $1 AND draw_seq = $3")
                    .bind(id)
                    .bind(to)
                    .bind(draw_seq)
                    .execute(&mut *tx)
                    .await?;
                if moved.rows_affected() == 1 {
                    for (sid, seq, not_before) in found {
                        out.enqueued += insert_outbox!(tx, sid, id, PushKind::DrawResult, seq, now, not_before);
                    }
                }
                tx.commit().await?;
                out.more |= to < n;
            }

            // Vouchers the server issued, by serial (serials commit in order under the
            // campaign's lock, so every serial up to the one read is visible).
            if voucher_serial < serials {
                let to = serials.min(voucher_serial + i(DERIVE_CHUNK));
                let rows = sqlx::query(
                    "SELECT s.id AS sid, v.serial FROM vouchers v
                        JOIN tickets t ON t.id = v.ticket_id
                        JOIN push_subscriptions s ON s.identity = v.identity
                     WHERE v.campaign_id = $1 AND v.serial > $2 AND v.serial <= $3 AND t.auto_issue",
                )
                .bind(id)
                .bind(voucher_serial)
                .bind(to)
                .fetch_all(r)
                .await?;
                let mut found = Vec::with_capacity(rows.len());
                for row in &rows {
                    found.push((row.try_get::<i64, _>("sid")?, row.try_get::<i64, _>("serial")?));
                }
                let mut tx = w.begin().await?;
                let moved = sqlx::query(
                    "UPDATE push_cursors SET voucher_serial = $2 WHERE campaign_id = $1 AND voucher_serial = $3",
                )
                .bind(id)
                .bind(to)
                .bind(voucher_serial)
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() == 1 {
                    for (sid, serial) in found {
                        out.enqueued += insert_outbox!(tx, sid, id, PushKind::Voucher, serial, now, ms(now));
                    }
                }
                tx.commit().await?;
                out.more |= to < serials;
            }

            // Returned vouchers reaching waitlisted places: positions past the supply up to the reach.
            if reach_cursor < reach {
                let to = reach.min(reach_cursor + i(DERIVE_CHUNK));
                let draw = drawn.map(|n| Draw::new(seed, u(n)));
                let mut found = Vec::new();
                for p in (reach_cursor + 1)..=to {
                    let seq = draw.and_then(|d| d.index_at(u(p))).map(|x| i(x + 1));
                    let rows = match seq {
                        Some(seq) => {
                            sqlx::query(
                                "SELECT s.id AS sid FROM tickets t JOIN push_subscriptions s ON s.identity = t.identity
                                 WHERE t.campaign_id = $1 AND t.seq = $2 AND t.admit_at IS NOT NULL AND t.returned_at IS NULL",
                            )
                            .bind(id)
                            .bind(seq)
                            .fetch_all(r)
                            .await?
                        }
                        None => {
                            sqlx::query(
                                "SELECT s.id AS sid FROM tickets t JOIN push_subscriptions s ON s.identity = t.identity
                                 WHERE t.campaign_id = $1 AND t.position = $2 AND t.admit_at IS NOT NULL AND t.returned_at IS NULL",
                            )
                            .bind(id)
                            .bind(p)
                            .fetch_all(r)
                            .await?
                        }
                    };
                    for row in &rows {
                        found.push((row.try_get::<i64, _>("sid")?, p));
                    }
                }
                let mut tx = w.begin().await?;
                let moved = sqlx::query("UPDATE push_cursors SET reach = $2 WHERE campaign_id = $1 AND reach = $3")
                    .bind(id)
                    .bind(to)
                    .bind(reach_cursor)
                    .execute(&mut *tx)
                    .await?;
                if moved.rows_affected() == 1 {
                    for (sid, p) in found {
                        out.enqueued += insert_outbox!(tx, sid, id, PushKind::HandedOn, p, now, ms(now));
                    }
                }
                tx.commit().await?;
                out.more |= to < reach;
            }
            Ok(out)
        })
    }

    /// Leases up to `limit` outbox rows due at `now` to this sender until `lease_until` (another
    /// sender, or this one after a crash, takes them again after that) and counts the attempt.
    pub async fn push_claim(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        const SQLITE: &str = "UPDATE push_outbox SET not_before = $1, attempts = attempts + 1
            WHERE id IN (SELECT id FROM push_outbox WHERE done_at IS NULL AND not_before <= $2
                         ORDER BY priority, not_before LIMIT $3)
            RETURNING id, subscription_id, campaign_id, kind, about, attempts, created_at";
        const PG: &str = "UPDATE push_outbox SET not_before = $1, attempts = attempts + 1
            WHERE id IN (SELECT id FROM push_outbox WHERE done_at IS NULL AND not_before <= $2
                         ORDER BY priority, not_before LIMIT $3 FOR UPDATE SKIP LOCKED)
            RETURNING id, subscription_id, campaign_id, kind, about, attempts, created_at";
        let sql = if matches!(self, Store::Postgres(_)) { PG } else { SQLITE };
        on!(self, w, r => {
            // A read first: an idle sender does not queue on SQLite's one writer every tick.
            let due: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM push_outbox WHERE done_at IS NULL AND not_before <= $1 LIMIT 1",
            )
            .bind(ms(now))
            .fetch_optional(r)
            .await?;
            if due.is_none() {
                return Ok(Vec::new());
            }
            let rows = sqlx::query(sql)
                .bind(ms(lease_until))
                .bind(ms(now))
                .bind(i64::from(limit))
                .fetch_all(w)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            let mut subs: std::collections::HashMap<i64, Option<SubscriptionRow>> = Default::default();
            for row in &rows {
                let sid: i64 = row.try_get("subscription_id")?;
                if let std::collections::hash_map::Entry::Vacant(slot) = subs.entry(sid) {
                    let s = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE id = $1"
                    )))
                    .bind(sid)
                    .fetch_optional(r)
                    .await?;
                    slot.insert(s.as_ref().map(subscription_from).transpose()?);
                }
                // Removed meanwhile: its outbox rows went with it.
                let Some(Some(sub)) = subs.get(&sid) else { continue };
                let kind: String = row.try_get("kind")?;
                let campaign: String = row.try_get("campaign_id")?;
                out.push(OutboxItem {
                    id: row.try_get("id")?,
                    subscription: sub.clone(),
                    campaign_id: campaign
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("bad campaign id {campaign}")))?,
                    kind: PushKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("push kind {kind}")))?,
                    about: u(row.try_get("about")?),
                    attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
                    created_at: at(row.try_get("created_at")?)?,
                });
            }
            out.sort_by_key(|o| o.id);
            Ok(out)
        })
    }

    /// Records how attempts ended, all in one transaction: (outbox row, its subscription, end).
    pub async fn push_finish(&self, done: &[(i64, i64, Finish)], now: DateTime<Utc>) -> Result<(), StoreError> {
        if done.is_empty() {
            return Ok(());
        }
        on!(self, w, _r => {
            let mut tx = w.begin().await?;
            for (id, sid, f) in done {
                match f {
                    Finish::Delivered => {
                        sqlx::query("UPDATE push_outbox SET done_at = $2, outcome = 'delivered' WHERE id = $1")
                            .bind(id)
                            .bind(ms(now))
                            .execute(&mut *tx)
                            .await?;
                    }
                    Finish::Gone => {
                        sqlx::query("DELETE FROM push_outbox WHERE subscription_id = $1")
                            .bind(sid)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
                            .bind(sid)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Finish::Retry(when) => {
                        sqlx::query("UPDATE push_outbox SET not_before = $2 WHERE id = $1")
                            .bind(id)
                            .bind(ms(*when))
                            .execute(&mut *tx)
                            .await?;
                    }
                    Finish::GiveUp(reason) => {
                        sqlx::query("UPDATE push_outbox SET done_at = $2, outcome = $3 WHERE id = $1")
                            .bind(id)
                            .bind(ms(now))
                            .bind(*reason)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

/// Offset of a draw result within the spreading window: a multiplicative hash of the join seq,
/// so neighbours in join order leave at unrelated instants.
fn spread(seq: u64, window_ms: i64) -> i64 {
    let h = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    i64::try_from(h % u64::try_from(window_ms).unwrap_or(1)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draw_results_spread_over_the_window() {
        let window = 60_000;
        let mut buckets = [0u32; 10];
        for seq in 1..=10_000u64 {
            let s = spread(seq, window);
            assert!((0..window).contains(&s));
            buckets[(s / 6000) as usize] += 1;
        }
        // Every sixth of a minute gets roughly its share (1,000 each).
        for b in buckets {
            assert!((800..1200).contains(&b), "{buckets:?}");
        }
    }
}
