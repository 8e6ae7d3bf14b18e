//! The SQLite backend: one file in WAL mode with `synchronous = FULL` (a committed voucher
//! survives a crash or power loss). Writes go through a single-connection pool in
//! `BEGIN IMMEDIATE` transactions, so writers queue in the pool instead of spinning on
//! `SQLITE_BUSY`; reads use a separate pool and never block on writers (WAL).

use super::cols::{at, i, key_of, ms, opt_at, u};
use super::inflight::InFlight;
use super::{
    CampaignCounters, CampaignRow, ClaimInput, ClaimOutcome, ClaimRefusal, GiveBackOutcome, IssueBatch, JoinInput,
    RedeemTarget, RegisterOutcome, StoreError, TakeOutcome, TicketRow, VoucherRow, voucher_from_row,
};
use crate::clock::Clock;
use crate::config::CampaignSpec;
use crate::draw::{Draw, LazyDraw};
use crate::issuance::{self, DueRow, Marks, PlanReads};
use crate::issuer::Issuer;
use crate::schedule;
use chrono::{DateTime, Utc};
use lineup_protocol::{CampaignId, IdentityKey, TicketState, VoucherCode};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// This instance's id (see [`super::inflight`]).
    instance: std::sync::Arc<str>,
}

fn campaign_id(s: &str) -> Result<CampaignId, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad campaign id {s}")))
}

impl SqliteStore {
    /// The writer and reader pools, for the stores' side modules (see `store::push`).
    pub(crate) fn pools(&self) -> (&SqlitePool, &SqlitePool) {
        (&self.writer, &self.reader)
    }

    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Db(sqlx::Error::Io(e)))?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // SQLite's default page cache is 2 MB: with a million tickets the random index
            // pages a batch of vouchers touches no longer fit, and issuance slowed by half.
            // 64 MB a connection (five connections) keeps the working set of a large drop.
            .pragma("cache_size", "-65536")
            // Checkpoint the WAL every ~80 MB rather than every 4 MB: batches of vouchers rewrite
            // the same index pages, and a rarer checkpoint copies each of them once.
            .pragma("wal_autocheckpoint", "20000");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.read_only(true))
            .await?;
        // One instance serves an SQLite database: whoever beat before this start has stopped, and
        // the keys it left in flight may be taken over at once.
        sqlx::query("DELETE FROM server_instances").execute(&writer).await?;
        Ok(SqliteStore {
            writer,
            reader,
            instance: super::inflight::new_instance_id().into(),
        })
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    pub async fn ensure_campaign(
        &self,
        spec: &CampaignSpec,
        staff_token_hash: [u8; 32],
        draw_seed: u64,
    ) -> Result<CampaignRow, StoreError> {
        let brands = serde_json::to_string(&spec.brands).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO campaigns (id, title, title_en, issuer, brands, amount, currency, supply,
                prequeue_opens_at, draw_at, opens_at, closes_at, voucher_expires_at,
                admission_rate_per_s, admission_window_s, staff_token_hash, draw_seed, reach, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(spec.id.as_str())
        .bind(&spec.title)
        .bind(&spec.title_en)
        .bind(&spec.issuer)
        .bind(brands)
        .bind(i64::from(spec.amount))
        .bind(spec.currency_str())
        .bind(i(spec.supply))
        .bind(ms(spec.prequeue_opens_at))
        .bind(ms(spec.draw_at))
        .bind(ms(spec.opens_at))
        .bind(ms(spec.closes_at))
        .bind(ms(spec.voucher_expires_at))
        .bind(i64::from(spec.admission_rate_per_s))
        .bind(i(spec.admission_window_s))
        .bind(&staff_token_hash[..])
        .bind(draw_seed as i64)
        .bind(i(spec.supply))
        .bind(ms(Utc::now()))
        .execute(&mut *tx)
        .await?;
        let row = load_campaign(&mut tx, &spec.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("campaign vanished".into()))?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn campaigns(&self) -> Result<Vec<CampaignRow>, StoreError> {
        let rows = sqlx::query(CAMPAIGN_SELECT_ALL).fetch_all(&self.reader).await?;
        rows.iter().map(campaign_from_row).collect()
    }

    pub async fn campaign(&self, id: &CampaignId) -> Result<Option<CampaignRow>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        load_campaign(&mut conn, id).await
    }

    pub async fn campaign_counters(&self, id: &CampaignId) -> Result<Option<CampaignCounters>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        counters(&mut conn, id).await
    }

    pub async fn register_identity(
        &self,
        key: &IdentityKey,
        contact_digest: [u8; 32],
        now: DateTime<Utc>,
    ) -> Result<RegisterOutcome, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let existing = registrations_in(&mut *tx, key, &contact_digest).await?;
        let outcome = if let Some(known) = super::registration_outcome(&existing, key, &contact_digest) {
            known
        } else {
            sqlx::query("INSERT INTO identities (public_key, contact_digest, registered_at) VALUES (?, ?, ?)")
                .bind(&key.0[..])
                .bind(&contact_digest[..])
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            RegisterOutcome::Created { registered_at: now }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn identity_exists(&self, key: &IdentityKey) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM identities WHERE public_key = ?")
            .bind(&key.0[..])
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.is_some())
    }

    pub async fn ensure_draw(&self, id: &CampaignId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let done = ensure_draw_in(&mut tx, id, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    pub async fn release_expired(&self, id: &CampaignId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let n = release_expired_in(&mut tx, id, now).await?;
        tx.commit().await?;
        Ok(n)
    }

    pub async fn take_ticket(
        &self,
        id: &CampaignId,
        identity: &IdentityKey,
        auto_issue: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TakeOutcome, StoreError> {
        let input = JoinInput {
            campaign_id: id.clone(),
            identity: *identity,
            auto_issue: auto_issue.map(str::to_owned),
            now,
        };
        let mut out = self.take_tickets(std::slice::from_ref(&input)).await?;
        out.pop()
            .ok_or_else(|| StoreError::Corrupt("a batch of one join answered nothing".into()))
    }

    /// Several joins in one write transaction (group commit); answers in the order of `inputs`,
    /// each as [`Self::take_ticket`] alone would.
    pub async fn take_tickets(&self, inputs: &[JoinInput]) -> Result<Vec<TakeOutcome>, StoreError> {
        let mut out: Vec<Option<TakeOutcome>> = vec![None; inputs.len()];
        // Fast path: a held ticket whose place is settled (and opt-in as asked) needs no write.
        {
            let mut conn = self.reader.acquire().await?;
            for (k, j) in inputs.iter().enumerate() {
                if let Some(t) = load_ticket(&mut conn, &j.campaign_id, &j.identity).await?
                    && (t.position.is_some() || !draw_due(&mut conn, &j.campaign_id, j.now).await?)
                    && (j.auto_issue.is_none() || !issuance::may_opt_in(&t))
                {
                    out[k] = Some(TakeOutcome::Existing(t));
                }
            }
        }
        if out.iter().any(Option::is_none) {
            let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
            for (k, j) in inputs.iter().enumerate() {
                if out[k].is_none() {
                    out[k] = Some(take_in(&mut tx, j).await?);
                }
            }
            tx.commit().await?;
        }
        out.into_iter()
            .map(|o| o.ok_or_else(|| StoreError::Corrupt("a join of the batch was not answered".into())))
            .collect()
    }

    pub async fn ticket_status_row(
        &self,
        id: &CampaignId,
        identity: &IdentityKey,
    ) -> Result<Option<TicketRow>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        load_ticket(&mut conn, id, identity).await
    }

    pub async fn claim(&self, input: &ClaimInput, issuer: &Issuer, clock: &Clock) -> Result<ClaimOutcome, StoreError> {
        let mut out = self.claim_batch(std::slice::from_ref(input), issuer, clock).await?;
        out.pop()
            .ok_or_else(|| StoreError::Corrupt("a batch of one claim answered nothing".into()))
    }

    /// Several claims in two transactions in all (group commit), instead of two each: one
    /// reserves every key, one carries every claim out. Answers in the order of `inputs`, each
    /// exactly as [`Self::claim`] alone would (a key used twice within the batch is in flight
    /// for its second use).
    pub async fn claim_batch(
        &self,
        inputs: &[ClaimInput],
        issuer: &Issuer,
        clock: &Clock,
    ) -> Result<Vec<ClaimOutcome>, StoreError> {
        // The arrival time serves the keys' bookkeeping and the early refusals, which only get
        // firmer as time passes; whether an admission still holds is decided in phase 2.
        let now = clock.now();
        // Refusals that a read can give were given before the batch (`Store::claim_precheck`).
        let mut out: Vec<Option<ClaimOutcome>> = vec![None; inputs.len()];
        // Phase 1: reserve the idempotency keys in one committed transaction, so a concurrent
        // request with the same key sees it in flight.
        let mut proceed = Vec::new();
        if out.iter().any(Option::is_none) {
            let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
            for (k, input) in inputs.iter().enumerate() {
                if out[k].is_some() {
                    continue;
                }
                match reserve_key_in(&mut tx, input, now, &self.instance).await? {
                    Some(answer) => out[k] = Some(answer),
                    None => proceed.push(k),
                }
            }
            tx.commit().await?;
        }

        // Phase 2: the claims themselves, and the keys' results, in one transaction.
        if !proceed.is_empty() {
            let result = async {
                let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
                // Read the clock only now that this transaction holds the write lock: a request
                // may have queued for it past `admit_until` while a release gave the voucher to
                // the next in line. As stored (milliseconds), so the first answer and every
                // replay agree.
                let now = at(ms(clock.now()))?;
                let mut answers = Vec::with_capacity(proceed.len());
                for &k in &proceed {
                    let input = &inputs[k];
                    let outcome = claim_in(&mut tx, input, issuer, now).await?;
                    match &outcome {
                        ClaimOutcome::Issued(v) | ClaimOutcome::Existing(v) => {
                            sqlx::query(
                                "UPDATE idempotency_keys SET serial = ? WHERE campaign_id = ? AND identity = ? AND key = ?",
                            )
                            .bind(i(v.serial))
                            .bind(input.campaign_id.as_str())
                            .bind(&input.identity.0[..])
                            .bind(&input.idempotency_key)
                            .execute(&mut *tx)
                            .await?;
                        }
                        _ => forget_key(&mut tx, input).await?,
                    }
                    answers.push(outcome);
                }
                tx.commit().await?;
                Ok::<_, StoreError>(answers)
            }
            .await;
            match result {
                Ok(answers) => {
                    for (&k, a) in proceed.iter().zip(answers) {
                        out[k] = Some(a);
                    }
                }
                Err(e) => {
                    // Let retries with the same keys run at once instead of waiting for staleness.
                    if let Ok(mut tx) = self.writer.begin_with("BEGIN IMMEDIATE").await {
                        for &k in &proceed {
                            let _ = forget_key(&mut tx, &inputs[k]).await;
                        }
                        let _ = tx.commit().await;
                    }
                    return Err(e);
                }
            }
        }
        out.into_iter()
            .map(|o| o.ok_or_else(|| StoreError::Corrupt("a claim of the batch was not answered".into())))
            .collect()
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The read-only pool (for statements shared across backends in `store/`).
    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// The single-writer pool (for statements shared across backends in `store/`).
    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    pub async fn registrations_matching(
        &self,
        key: &IdentityKey,
        digest: &[u8; 32],
    ) -> Result<Vec<super::Registered>, StoreError> {
        registrations_in(&self.reader, key, digest).await
    }

    pub async fn vouchers_of(&self, identity: &IdentityKey) -> Result<Vec<VoucherRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT campaign_id, serial, identity, ticket_id, token, code, kid, amount, currency,
                issued_at, expires_at, redeemed_at, returned_at FROM vouchers WHERE identity = ? ORDER BY issued_at, campaign_id",
        )
        .bind(&identity.0[..])
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(voucher_from_row).collect()
    }

    pub async fn find_voucher(&self, target: &RedeemTarget) -> Result<Option<VoucherRow>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        find_voucher_in(&mut conn, target).await
    }

    pub async fn admitted_count(&self, id: &CampaignId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets WHERE campaign_id = ? AND admit_at <= ?")
            .bind(id.as_str())
            .bind(ms(now))
            .fetch_one(&self.reader)
            .await?;
        let mut conn = self.reader.acquire().await?;
        let lazy = match lazy_draw(&mut conn, id).await? {
            Some((lazy, _)) => lazy.admitted_by(now),
            None => 0,
        };
        Ok(u(n) + lazy)
    }

    /// Plans the next batch from plain reads (no lock). With `after`, plans the batch that
    /// follows `after` as if it had committed (issuance pipelines the next plan with the
    /// previous commit); tickets with a stored admission are then left to a later plan.
    pub async fn plan_issue(
        &self,
        id: &CampaignId,
        now: DateTime<Utc>,
        max: usize,
        after: Option<&issuance::Plan>,
    ) -> Result<Option<issuance::Plan>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let Some(c) = load_campaign(&mut conn, id).await? else {
            return Ok(None);
        };
        let Some((lazy, marks)) = lazy_draw(&mut conn, id).await? else {
            return Ok(None);
        };
        issuance::plan_from(&mut Reads(&mut conn), &c, &lazy, marks, now, max, after).await
    }

    /// Commits a planned and signed batch, whole or not at all: only if the campaign's cursor
    /// and serials are still those the plan read (else `conflict`, nothing written).
    pub async fn commit_issue(
        &self,
        plan: &issuance::Plan,
        vouchers: Vec<VoucherRow>,
    ) -> Result<IssueBatch, StoreError> {
        let id = &plan.spec.id;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let moved = sqlx::query(
            "UPDATE campaigns SET issue_cursor = ?, issued = issued + ?, serials = serials + ?
             WHERE id = ? AND issue_cursor = ? AND serials = ?",
        )
        .bind(i(plan.new_cursor))
        .bind(i(vouchers.len() as u64))
        .bind(i(vouchers.len() as u64))
        .bind(id.as_str())
        .bind(i(plan.old_cursor))
        .bind(i(plan.serials))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            tx.rollback().await?;
            return Ok(IssueBatch {
                conflict: true,
                ..IssueBatch::default()
            });
        }
        if !vouchers.is_empty() {
            // Multi-row statements with bound values (a JSON array parsed by SQLite cost more),
            // and the tickets marked through a keyed temporary table (one statement per ticket
            // costs a round trip to the connection's thread; UPDATE ... FROM json_each scanned
            // every ticket).
            sqlx::query(
                "CREATE TEMP TABLE IF NOT EXISTS issued_now (ticket_id TEXT PRIMARY KEY, serial INTEGER NOT NULL)",
            )
            .execute(&mut *tx)
            .await?;
            for chunk in vouchers.chunks(VALUES_CHUNK) {
                match insert_vouchers(&mut tx, chunk).await {
                    // A holder moved to a new device key since the plan (the old identity is
                    // gone): write nothing and plan again, for the new key.
                    Err(StoreError::Db(sqlx::Error::Database(d))) if d.is_foreign_key_violation() => {
                        tx.rollback().await?;
                        return Ok(IssueBatch {
                            conflict: true,
                            ..IssueBatch::default()
                        });
                    }
                    other => other?,
                }
                let mut q = sqlx::query(sqlx::AssertSqlSafe(values_sql(
                    "INSERT INTO issued_now (ticket_id, serial) VALUES ",
                    2,
                    chunk.len(),
                )));
                for v in chunk {
                    q = q.bind(&v.ticket_id).bind(i(v.serial));
                }
                q.execute(&mut *tx).await?;
            }
            let updated = sqlx::query(
                "UPDATE tickets SET claimed_serial = (SELECT serial FROM issued_now n WHERE n.ticket_id = tickets.id)
                 WHERE id IN (SELECT ticket_id FROM issued_now) AND claimed_serial IS NULL AND expired_at IS NULL
                    AND returned_at IS NULL",
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM issued_now").execute(&mut *tx).await?;
            if updated != vouchers.len() as u64 {
                // A ticket changed since the plan (claimed, released or given back): write nothing.
                tx.rollback().await?;
                return Ok(IssueBatch {
                    conflict: true,
                    ..IssueBatch::default()
                });
            }
        }
        tx.commit().await?;
        Ok(IssueBatch {
            issued: vouchers,
            more: plan.more,
            conflict: false,
        })
    }

    pub async fn give_back(
        &self,
        id: &CampaignId,
        identity: &IdentityKey,
        now: DateTime<Utc>,
    ) -> Result<GiveBackOutcome, StoreError> {
        let now = at(ms(now))?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let Some(c) = load_campaign(&mut tx, id).await? else {
            return Ok(GiveBackOutcome::UnknownCampaign);
        };
        ensure_draw_in(&mut tx, id, now).await?;
        let Some(t) = load_ticket(&mut tx, id, identity).await? else {
            return Ok(GiveBackOutcome::NoTicket);
        };
        if t.returned_at.is_some() {
            tx.commit().await?;
            return Ok(GiveBackOutcome::Returned(Box::new(t)));
        }
        if let Some(v) = &t.voucher {
            if v.redeemed_at.is_some() {
                return Ok(GiveBackOutcome::AlreadyRedeemed);
            }
            sqlx::query(
                "UPDATE vouchers SET returned_at = ? WHERE campaign_id = ? AND serial = ? AND redeemed_at IS NULL",
            )
            .bind(ms(now))
            .bind(id.as_str())
            .bind(i(v.serial))
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE campaigns SET issued = issued - 1, returned = returned + 1 WHERE id = ?")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE tickets SET returned_at = ? WHERE id = ?")
                .bind(ms(now))
                .bind(&t.id)
                .execute(&mut *tx)
                .await?;
            hand_on(&mut tx, id, &c.spec, now).await?;
        } else {
            sqlx::query("UPDATE tickets SET returned_at = ? WHERE id = ?")
                .bind(ms(now))
                .bind(&t.id)
                .execute(&mut *tx)
                .await?;
            let holds_a_place = t.expired_at.is_none() && t.admit_until.is_some_and(|u| u > now);
            if holds_a_place {
                // Its voucher goes back to the line now, not at its deadline.
                sqlx::query("UPDATE tickets SET expired_at = ? WHERE id = ?")
                    .bind(ms(now))
                    .bind(&t.id)
                    .execute(&mut *tx)
                    .await?;
                hand_on(&mut tx, id, &c.spec, now).await?;
            }
        }
        let t = load_ticket(&mut tx, id, identity)
            .await?
            .ok_or_else(|| StoreError::Corrupt("ticket vanished".into()))?;
        tx.commit().await?;
        Ok(GiveBackOutcome::Returned(Box::new(t)))
    }
}

const CAMPAIGN_SELECT_ALL: &str =
    "SELECT id, title, title_en, issuer, brands, amount, currency, supply, prequeue_opens_at,
    draw_at, opens_at, closes_at, voucher_expires_at, admission_rate_per_s, admission_window_s,
    staff_token_hash, draw_seed FROM campaigns ORDER BY opens_at, id";

fn campaign_from_row(r: &SqliteRow) -> Result<CampaignRow, StoreError> {
    let brands: String = r.try_get("brands")?;
    let currency: String = r.try_get("currency")?;
    let hash: Vec<u8> = r.try_get("staff_token_hash")?;
    let spec = CampaignSpec {
        id: campaign_id(&r.try_get::<String, _>("id")?)?,
        title: r.try_get("title")?,
        title_en: r.try_get("title_en")?,
        issuer: r.try_get("issuer")?,
        brands: serde_json::from_str(&brands).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        amount: u32::try_from(r.try_get::<i64, _>("amount")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        currency: currency
            .as_bytes()
            .try_into()
            .map_err(|_| StoreError::Corrupt("currency".into()))?,
        supply: u(r.try_get("supply")?),
        prequeue_opens_at: at(r.try_get("prequeue_opens_at")?)?,
        draw_at: at(r.try_get("draw_at")?)?,
        opens_at: at(r.try_get("opens_at")?)?,
        closes_at: at(r.try_get("closes_at")?)?,
        voucher_expires_at: at(r.try_get("voucher_expires_at")?)?,
        admission_rate_per_s: u32::try_from(r.try_get::<i64, _>("admission_rate_per_s")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        admission_window_s: u(r.try_get("admission_window_s")?),
    };
    Ok(CampaignRow {
        spec,
        draw_seed: r.try_get::<i64, _>("draw_seed")? as u64,
        staff_token_hash: hash
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::Corrupt("staff token hash".into()))?,
    })
}

async fn load_campaign(conn: &mut SqliteConnection, id: &CampaignId) -> Result<Option<CampaignRow>, StoreError> {
    let row = sqlx::query(
        "SELECT id, title, title_en, issuer, brands, amount, currency, supply, prequeue_opens_at,
            draw_at, opens_at, closes_at, voucher_expires_at, admission_rate_per_s, admission_window_s,
            staff_token_hash, draw_seed FROM campaigns WHERE id = ?",
    )
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(campaign_from_row).transpose()
}

async fn counters(conn: &mut SqliteConnection, id: &CampaignId) -> Result<Option<CampaignCounters>, StoreError> {
    let row = sqlx::query(
        "SELECT drawn_at, next_seq, issued, reach, redeemed, returned,
            draw_seed, drawn_count, supply, opens_at, admission_rate_per_s, admission_window_s, swept,
            (SELECT MIN(admit_until) FROM tickets WHERE campaign_id = c.id AND admit_until IS NOT NULL
                AND claimed_serial IS NULL AND expired_at IS NULL
                AND (auto_issue = 0 OR returned_at IS NOT NULL)) AS next_release_at
         FROM campaigns c WHERE id = ?",
    )
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let stored = opt_at(r.try_get("next_release_at")?)?;
    // The draw's columns come with the counters (one read; this runs every 100 ms).
    let lazy = next_lazy_release(conn, id, &lazy_from_row(&r)?, u(r.try_get("swept")?)).await?;
    Ok(Some(CampaignCounters {
        drawn: r.try_get::<Option<i64>, _>("drawn_at")?.is_some(),
        tickets: u(r.try_get::<i64, _>("next_seq")? - 1),
        issued: u(r.try_get("issued")?),
        reach: u(r.try_get("reach")?),
        redeemed: u(r.try_get("redeemed")?),
        next_release_at: [stored, lazy].into_iter().flatten().min(),
        returned: u(r.try_get("returned")?),
    }))
}

/// Drawn tickets at `positions` that may still let their voucher go back to the line (no
/// voucher, not expired, and not issued by the server unless given back): (position, ticket
/// id), in admission order. The release sweep expires them; the counters' lookahead reads
/// the first one's deadline.
async fn open_admissions(
    conn: &mut SqliteConnection,
    id: &CampaignId,
    lazy: &LazyDraw,
    positions: std::ops::RangeInclusive<u64>,
) -> Result<Vec<(u64, String)>, StoreError> {
    let by_seq = lazy.by_seq(positions);
    let seqs = crate::draw::seqs(&by_seq);
    let rows = sqlx::query(
        "SELECT id, seq FROM tickets WHERE campaign_id = ? AND claimed_serial IS NULL AND expired_at IS NULL
            AND (auto_issue = 0 OR returned_at IS NOT NULL) AND seq IN (SELECT value FROM json_each(?))",
    )
    .bind(id.as_str())
    .bind(serde_json::to_string(&seqs).map_err(|e| StoreError::Corrupt(e.to_string()))?)
    .fetch_all(&mut *conn)
    .await?;
    let mut open = Vec::with_capacity(rows.len());
    for r in &rows {
        if let Some(&p) = by_seq.get(&u(r.try_get("seq")?)) {
            open.push((p, r.try_get::<String, _>("id")?));
        }
    }
    open.sort();
    Ok(open)
}

/// The admission deadline of the first drawn position after `swept` whose ticket may still let
/// its voucher go back (no voucher, no server-side issuance); looked up a window of positions
/// ahead, and beyond that window the next position's deadline (an early bound is safe: a client
/// told it checks once more).
async fn next_lazy_release(
    conn: &mut SqliteConnection,
    id: &CampaignId,
    lazy: &LazyDraw,
    swept: u64,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let end = lazy.scheduled_positions().min(swept + crate::draw::RELEASE_LOOKAHEAD);
    if swept >= end {
        return Ok(None);
    }
    let first = open_admissions(conn, id, lazy, swept + 1..=end)
        .await?
        .first()
        .map(|(p, _)| *p);
    Ok(match first {
        Some(p) => Some(lazy.window_of(p).1),
        None if end < lazy.scheduled_positions() => Some(lazy.window_of(end + 1).1),
        None => None,
    })
}

/// Rows per multi-row `VALUES` statement of a batch (11 values a row stays far below SQLite's
/// 32,766 bound variables).
const VALUES_CHUNK: usize = 500;

/// Inserts vouchers (at most [`VALUES_CHUNK`]) in one multi-row statement: a batch of the
/// issuer's, or the one voucher of an explicit claim.
async fn insert_vouchers(conn: &mut SqliteConnection, vouchers: &[VoucherRow]) -> Result<(), StoreError> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(values_sql(
        "INSERT INTO vouchers (campaign_id, serial, identity, ticket_id, token, code, kid, amount, currency,
            issued_at, expires_at) VALUES ",
        11,
        vouchers.len(),
    )));
    for v in vouchers {
        q = q
            .bind(v.campaign_id.as_str())
            .bind(i(v.serial))
            .bind(&v.identity.0[..])
            .bind(&v.ticket_id)
            .bind(&v.token)
            .bind(v.code.compact())
            .bind(i64::from(v.kid))
            .bind(i64::from(v.amount))
            .bind(&v.currency)
            .bind(ms(v.issued_at))
            .bind(ms(v.expires_at));
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// `head` followed by `rows` groups of `cols` placeholders.
fn values_sql(head: &str, cols: usize, rows: usize) -> String {
    let group = format!("({})", vec!["?"; cols].join(", "));
    let mut sql = String::with_capacity(head.len() + rows * (group.len() + 2));
    sql.push_str(head);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&group);
    }
    sql
}

/// The campaign's draw (when drawn without stored positions) with its progress marks.
async fn lazy_draw(conn: &mut SqliteConnection, id: &CampaignId) -> Result<Option<(LazyDraw, Marks)>, StoreError> {
    let row = sqlx::query(
        "SELECT draw_seed, drawn_count, supply, opens_at, admission_rate_per_s, admission_window_s,
            swept, issue_cursor, issued, serials FROM campaigns WHERE id = ?",
    )
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let lazy = lazy_from_row(&r)?;
    let marks = Marks {
        swept: u(r.try_get("swept")?),
        issue_cursor: u(r.try_get("issue_cursor")?),
        issued: u(r.try_get("issued")?),
        serials: u(r.try_get("serials")?),
    };
    Ok(Some((lazy, marks)))
}

/// The draw columns of a campaign row (selected under these names).
fn lazy_from_row(r: &SqliteRow) -> Result<LazyDraw, StoreError> {
    let seed = r.try_get::<i64, _>("draw_seed")? as u64;
    Ok(LazyDraw {
        draw: r
            .try_get::<Option<i64>, _>("drawn_count")?
            .map(|n| Draw::new(seed, u(n))),
        supply: u(r.try_get("supply")?),
        opens_at: at(r.try_get("opens_at")?)?,
        admission_rate_per_s: u32::try_from(r.try_get::<i64, _>("admission_rate_per_s")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        admission_window: chrono::Duration::seconds(r.try_get::<i64, _>("admission_window_s")?),
    })
}

async fn draw_due(conn: &mut SqliteConnection, id: &CampaignId, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT draw_at, drawn_at FROM campaigns WHERE id = ?")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<Option<i64>, _>("drawn_at")?.is_none() && r.try_get::<i64, _>("draw_at")? <= ms(now),
        None => false,
    })
}

const TICKET_SELECT: &str = "SELECT t.id, t.campaign_id, t.identity, t.seq, t.joined_at, t.in_draw,
    t.prequeue_check_at, t.position, t.admit_at, t.admit_until, t.expired_at, t.auto_issue, t.returned_at AS t_returned_at,
    v.serial, v.token, v.code, v.kid, v.amount, v.currency, v.issued_at, v.expires_at, v.redeemed_at, v.returned_at,
    c.draw_seed, c.drawn_count, c.supply, c.opens_at, c.admission_rate_per_s, c.admission_window_s
    FROM tickets t JOIN campaigns c ON c.id = t.campaign_id
    LEFT JOIN vouchers v ON v.campaign_id = t.campaign_id AND v.identity = t.identity
    WHERE t.campaign_id = ? AND t.identity = ?";

async fn load_ticket(
    conn: &mut SqliteConnection,
    id: &CampaignId,
    identity: &IdentityKey,
) -> Result<Option<TicketRow>, StoreError> {
    let row = sqlx::query(TICKET_SELECT)
        .bind(id.as_str())
        .bind(&identity.0[..])
        .fetch_optional(&mut *conn)
        .await?;
    let Some(r) = row else { return Ok(None) };
    let ticket_id: String = r.try_get("id")?;
    let voucher = match r.try_get::<Option<i64>, _>("serial")? {
        Some(serial) => Some(VoucherRow {
            campaign_id: id.clone(),
            serial: u(serial),
            identity: *identity,
            ticket_id: ticket_id.clone(),
            token: r.try_get("token")?,
            code: parse_code(&r.try_get::<String, _>("code")?)?,
            kid: u32::try_from(r.try_get::<i64, _>("kid")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            amount: u32::try_from(r.try_get::<i64, _>("amount")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            currency: r.try_get("currency")?,
            issued_at: at(r.try_get("issued_at")?)?,
            expires_at: at(r.try_get("expires_at")?)?,
            redeemed_at: opt_at(r.try_get("redeemed_at")?)?,
            returned_at: opt_at(r.try_get("returned_at")?)?,
        }),
        None => None,
    };
    let mut t = TicketRow {
        id: ticket_id,
        campaign_id: campaign_id(&r.try_get::<String, _>("campaign_id")?)?,
        identity: key_of(&r.try_get::<Vec<u8>, _>("identity")?)?,
        seq: u(r.try_get("seq")?),
        joined_at: at(r.try_get("joined_at")?)?,
        auto_issue: r.try_get("auto_issue")?,
        in_draw: r.try_get("in_draw")?,
        prequeue_check_at: opt_at(r.try_get("prequeue_check_at")?)?,
        position: r.try_get::<Option<i64>, _>("position")?.map(u),
        admit_at: opt_at(r.try_get("admit_at")?)?,
        admit_until: opt_at(r.try_get("admit_until")?)?,
        expired_at: opt_at(r.try_get("expired_at")?)?,
        returned_at: opt_at(r.try_get("t_returned_at")?)?,
        voucher,
    };
    lazy_from_row(&r)?.complete(&mut t);
    Ok(Some(t))
}

fn parse_code(s: &str) -> Result<VoucherCode, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad stored code {s}")))
}

async fn load_voucher(
    conn: &mut SqliteConnection,
    id: &CampaignId,
    serial: u64,
) -> Result<Option<VoucherRow>, StoreError> {
    find_voucher_in(
        conn,
        &RedeemTarget::Serial {
            campaign_id: id.clone(),
            serial,
        },
    )
    .await
}

async fn find_voucher_in(conn: &mut SqliteConnection, target: &RedeemTarget) -> Result<Option<VoucherRow>, StoreError> {
    let row = match target {
        RedeemTarget::Serial { campaign_id, serial } => {
            sqlx::query(
                "SELECT campaign_id, serial, identity, ticket_id, token, code, kid, amount, currency,
                    issued_at, expires_at, redeemed_at, returned_at FROM vouchers WHERE campaign_id = ? AND serial = ?",
            )
            .bind(campaign_id.as_str())
            .bind(i(*serial))
            .fetch_optional(&mut *conn)
            .await?
        }
        RedeemTarget::Code(code) => {
            sqlx::query(
                "SELECT campaign_id, serial, identity, ticket_id, token, code, kid, amount, currency,
                    issued_at, expires_at, redeemed_at, returned_at FROM vouchers WHERE code = ?",
            )
            .bind(code.compact())
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    row.as_ref().map(voucher_from_row).transpose()
}

async fn ensure_draw_in(conn: &mut SqliteConnection, id: &CampaignId, now: DateTime<Utc>) -> Result<bool, StoreError> {
    // No row per ticket: fixing how many joined is the whole draw (positions are the keyed
    // permutation of the join order, src/draw.rs). Tickets joined before the draw are exactly
    // seq 1..=n: joining reads `drawn_at` in the same write as it takes its seq.
    let drawn = sqlx::query(
        "UPDATE campaigns SET drawn_at = ?, drawn_count = next_seq - 1, next_position = next_seq
         WHERE id = ? AND drawn_at IS NULL AND draw_at <= ? RETURNING drawn_count",
    )
    .bind(ms(now))
    .bind(id.as_str())
    .bind(ms(now))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = drawn else { return Ok(false) };
    let n: i64 = r.try_get("drawn_count")?;
    tracing::info!(campaign = %id, tickets = n, "draw performed");
    Ok(true)
}

async fn release_expired_in(
    conn: &mut SqliteConnection,
    id: &CampaignId,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let Some(c) = load_campaign(conn, id).await? else {
        return Ok(0);
    };
    let mut released = 0;
    // Drawn positions within the supply, in admission order: an admission whose window passed
    // without a voucher (and without server-side issuance, which never lets one pass) goes back.
    if let Some((lazy, marks)) = lazy_draw(conn, id).await? {
        let target = lazy.admitted_by(now - c.spec.admission_window());
        let mut from = marks.swept + 1;
        while from <= target {
            let to = target.min(from + 999);
            for (p, ticket_id) in open_admissions(conn, id, &lazy, from..=to).await? {
                let until = lazy.window_of(p).1;
                sqlx::query("UPDATE tickets SET expired_at = ? WHERE id = ?")
                    .bind(ms(until))
                    .bind(&ticket_id)
                    .execute(&mut *conn)
                    .await?;
                hand_on(conn, id, &c.spec, until).await?;
                released += 1;
            }
            sqlx::query("UPDATE campaigns SET swept = ? WHERE id = ? AND swept < ?")
                .bind(i(to))
                .bind(id.as_str())
                .bind(i(to))
                .execute(&mut *conn)
                .await?;
            from = to + 1;
        }
    }
    loop {
        // Stored admissions (late arrivals, returned vouchers), one at a time in deadline order,
        // so returned vouchers reach the waitlist in order even when a freshly admitted ticket's
        // own window has already passed.
        let Some(r) = sqlx::query(
            "SELECT id, admit_until FROM tickets WHERE campaign_id = ? AND admit_until IS NOT NULL
                AND admit_until <= ? AND claimed_serial IS NULL AND expired_at IS NULL
                AND (auto_issue = 0 OR returned_at IS NOT NULL)
             ORDER BY admit_until, position LIMIT 1",
        )
        .bind(id.as_str())
        .bind(ms(now))
        .fetch_optional(&mut *conn)
        .await?
        else {
            break;
        };
        let ticket_id: String = r.try_get("id")?;
        let until: i64 = r.try_get("admit_until")?;
        sqlx::query("UPDATE tickets SET expired_at = ? WHERE id = ?")
            .bind(until)
            .bind(&ticket_id)
            .execute(&mut *conn)
            .await?;
        hand_on(conn, id, &c.spec, at(until)?).await?;
        released += 1;
    }
    if released > 0 {
        tracing::info!(campaign = %id, released, "admissions returned their vouchers to the line");
    }
    Ok(released)
}

/// One voucher went back to the line at `from`: the next position beyond the reach is admitted
/// from then (a ticket that was itself given back gets an empty window, so the next sweep passes
/// the voucher on at once).
async fn hand_on(
    conn: &mut SqliteConnection,
    id: &CampaignId,
    spec: &crate::config::CampaignSpec,
    from: DateTime<Utc>,
) -> Result<(), StoreError> {
    let reach: i64 = sqlx::query_scalar("UPDATE campaigns SET reach = reach + 1 WHERE id = ? RETURNING reach")
        .bind(id.as_str())
        .fetch_one(&mut *conn)
        .await?;
    let lazy_seq = lazy_draw(conn, id).await?.and_then(|(lazy, _)| lazy.seq_at(u(reach)));
    let next = match lazy_seq {
        Some(seq) => {
            sqlx::query("SELECT id, joined_at, returned_at FROM tickets WHERE campaign_id = ? AND seq = ? AND admit_at IS NULL")
                .bind(id.as_str())
                .bind(i(seq))
                .fetch_optional(&mut *conn)
                .await?
        }
        None => {
            sqlx::query(
                "SELECT id, joined_at, returned_at FROM tickets WHERE campaign_id = ? AND position = ? AND admit_at IS NULL",
            )
            .bind(id.as_str())
            .bind(reach)
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    if let Some(next) = next {
        let given_back = next.try_get::<Option<i64>, _>("returned_at")?.is_some();
        let (a, until) = schedule::handed_on(spec, from, at(next.try_get("joined_at")?)?, given_back);
        sqlx::query("UPDATE tickets SET admit_at = ?, admit_until = ? WHERE id = ?")
            .bind(ms(a))
            .bind(ms(until))
            .bind(next.try_get::<String, _>("id")?)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// One join inside a write transaction (see [`SqliteStore::take_tickets`]).
async fn take_in(conn: &mut SqliteConnection, j: &JoinInput) -> Result<TakeOutcome, StoreError> {
    let (id, identity, auto_issue, now) = (&j.campaign_id, &j.identity, j.auto_issue.as_deref(), j.now);
    let Some(c) = load_campaign(conn, id).await? else {
        return Ok(TakeOutcome::UnknownCampaign);
    };
    if now >= c.spec.draw_at {
        ensure_draw_in(conn, id, now).await?;
    }
    if let Some(t) = load_ticket(conn, id, identity).await? {
        let t = match auto_issue {
            Some(key) if issuance::may_opt_in(&t) => {
                sqlx::query("UPDATE tickets SET auto_issue = 1, auto_key = ? WHERE id = ?")
                    .bind(key)
                    .bind(&t.id)
                    .execute(&mut *conn)
                    .await?;
                load_ticket(conn, id, identity)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("ticket vanished".into()))?
            }
            _ => t,
        };
        return Ok(TakeOutcome::Existing(t));
    }
    let row = sqlx::query(
        "UPDATE campaigns SET next_seq = next_seq + 1,
                next_position = next_position + (CASE WHEN drawn_at IS NULL THEN 0 ELSE 1 END)
             WHERE id = ? RETURNING next_seq - 1 AS seq, drawn_at, next_position - 1 AS position, reach",
    )
    .bind(id.as_str())
    .fetch_one(&mut *conn)
    .await?;
    let seq: i64 = row.try_get("seq")?;
    let drawn: Option<i64> = row.try_get("drawn_at")?;
    let reach = u(row.try_get("reach")?);
    let ticket_id = uuid::Uuid::new_v4().to_string();
    let (in_draw, check, position, admit_at, admit_until) = if drawn.is_some() {
        let p = u(row.try_get("position")?);
        let (a, until) = if p <= reach {
            let a = schedule::admit_at_for(&c.spec, p, now);
            (Some(ms(a)), Some(ms(a + c.spec.admission_window())))
        } else {
            (None, None)
        };
        (false, None, Some(i(p)), a, until)
    } else {
        let check = schedule::prequeue_check_at(&c.spec, c.draw_seed, identity);
        (true, Some(ms(check)), None, None, None)
    };
    sqlx::query(
        "INSERT INTO tickets (id, campaign_id, identity, seq, joined_at, in_draw, prequeue_check_at,
                position, admit_at, admit_until, auto_issue, auto_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&ticket_id)
    .bind(id.as_str())
    .bind(&identity.0[..])
    .bind(seq)
    .bind(ms(now))
    .bind(in_draw)
    .bind(check)
    .bind(position)
    .bind(admit_at)
    .bind(admit_until)
    .bind(auto_issue.is_some())
    .bind(auto_issue)
    .execute(&mut *conn)
    .await?;
    let t = load_ticket(conn, id, identity)
        .await?
        .ok_or_else(|| StoreError::Corrupt("ticket vanished".into()))?;
    Ok(TakeOutcome::Created(t))
}

/// Reserves `input`'s idempotency key, or says what the request gets without running the claim
/// (the same key with another body, its stored result, or still in flight).
async fn reserve_key_in(
    conn: &mut SqliteConnection,
    input: &ClaimInput,
    now: DateTime<Utc>,
    me: &str,
) -> Result<Option<ClaimOutcome>, StoreError> {
    let existing = sqlx::query(
        "SELECT k.request_hash, k.started_at, k.serial, k.owner, s.seen_at
         FROM idempotency_keys k LEFT JOIN server_instances s ON s.id = k.owner
         WHERE k.campaign_id = ? AND k.identity = ? AND k.key = ?",
    )
    .bind(input.campaign_id.as_str())
    .bind(&input.identity.0[..])
    .bind(&input.idempotency_key)
    .fetch_optional(&mut *conn)
    .await?;
    match existing {
        Some(row) => {
            let hash: Vec<u8> = row.try_get("request_hash")?;
            let started: i64 = row.try_get("started_at")?;
            let serial: Option<i64> = row.try_get("serial")?;
            if hash != input.request_hash {
                return Ok(Some(ClaimOutcome::KeyMismatch));
            }
            if let Some(s) = serial {
                let v = load_voucher(conn, &input.campaign_id, u(s))
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("idempotency key names a missing voucher".into()))?;
                return Ok(Some(ClaimOutcome::Existing(v)));
            }
            let in_flight = InFlight {
                started_at_ms: started,
                owner: row.try_get("owner")?,
                owner_seen_at_ms: row.try_get("seen_at")?,
            };
            if !in_flight.abandoned(me, ms(now)) {
                return Ok(Some(ClaimOutcome::InFlight));
            }
            sqlx::query(
                "UPDATE idempotency_keys SET started_at = ?, owner = ? WHERE campaign_id = ? AND identity = ? AND key = ?",
            )
            .bind(ms(now))
            .bind(me)
            .bind(input.campaign_id.as_str())
            .bind(&input.identity.0[..])
            .bind(&input.idempotency_key)
            .execute(&mut *conn)
            .await?;
        }
        None => {
            if load_campaign(conn, &input.campaign_id).await?.is_none() {
                return Ok(Some(ClaimOutcome::Refused(ClaimRefusal::UnknownCampaign)));
            }
            sqlx::query(
                "INSERT INTO idempotency_keys (campaign_id, identity, key, request_hash, started_at, owner)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(input.campaign_id.as_str())
            .bind(&input.identity.0[..])
            .bind(&input.idempotency_key)
            .bind(&input.request_hash[..])
            .bind(ms(now))
            .bind(me)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(None)
}

async fn forget_key(conn: &mut SqliteConnection, input: &ClaimInput) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM idempotency_keys WHERE campaign_id = ? AND identity = ? AND key = ? AND serial IS NULL")
        .bind(input.campaign_id.as_str())
        .bind(&input.identity.0[..])
        .bind(&input.idempotency_key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn claim_in(
    conn: &mut SqliteConnection,
    input: &ClaimInput,
    issuer: &Issuer,
    now: DateTime<Utc>,
) -> Result<ClaimOutcome, StoreError> {
    let id = &input.campaign_id;
    let held = sqlx::query(
        "SELECT campaign_id, serial, identity, ticket_id, token, code, kid, amount, currency,
            issued_at, expires_at, redeemed_at, returned_at FROM vouchers WHERE campaign_id = ? AND identity = ?",
    )
    .bind(id.as_str())
    .bind(&input.identity.0[..])
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = held {
        return Ok(ClaimOutcome::Existing(voucher_from_row(&r)?));
    }
    let Some(c) = load_campaign(conn, id).await? else {
        return Ok(ClaimOutcome::Refused(ClaimRefusal::UnknownCampaign));
    };
    ensure_draw_in(conn, id, now).await?;
    release_expired_in(conn, id, now).await?;
    let Some(ticket) = load_ticket(conn, id, &input.identity).await? else {
        return Ok(ClaimOutcome::Refused(ClaimRefusal::NoTicket));
    };
    if ticket.id != input.ticket_id {
        return Ok(ClaimOutcome::Refused(ClaimRefusal::NoTicket));
    }
    let counts = counters(conn, id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("campaign vanished".into()))?;
    let view = schedule::ticket_view(&c.spec, &ticket, &counts, now);
    if view.state == TicketState::Claimed {
        return match ticket.voucher {
            Some(v) => Ok(ClaimOutcome::Existing(v)),
            None => Err(StoreError::Corrupt("claimed ticket without voucher".into())),
        };
    }
    if let Some(r) = super::refusal_for(&view, now) {
        return Ok(ClaimOutcome::Refused(r));
    }
    let Some(serial) = sqlx::query_scalar::<_, i64>(
        "UPDATE campaigns SET issued = issued + 1, serials = serials + 1 WHERE id = ? AND issued < supply
         RETURNING serials",
    )
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(ClaimOutcome::Refused(ClaimRefusal::SoldOut));
    };
    let serial = u(serial);
    let token = issuer
        .sign_voucher(
            id,
            serial,
            c.spec.amount,
            c.spec.currency,
            c.spec.voucher_expires_at,
            &input.identity,
        )
        .map_err(|e| StoreError::Sign(e.to_string()))?;
    let v = VoucherRow {
        campaign_id: id.clone(),
        serial,
        identity: input.identity,
        ticket_id: ticket.id.clone(),
        token: token.text.clone(),
        code: token.code(),
        kid: issuer.kid(),
        amount: c.spec.amount,
        currency: c.spec.currency_str(),
        issued_at: now,
        expires_at: c.spec.voucher_expires_at,
        redeemed_at: None,
        returned_at: None,
    };
    insert_vouchers(conn, std::slice::from_ref(&v)).await?;
    sqlx::query("UPDATE tickets SET claimed_serial = ? WHERE id = ? AND claimed_serial IS NULL")
        .bind(i(serial))
        .bind(&v.ticket_id)
        .execute(&mut *conn)
        .await?;
    Ok(ClaimOutcome::Issued(v))
}

/// The plan's reads on SQLite (a reader connection: WAL readers never wait on the writer).
struct Reads<'a>(&'a mut SqliteConnection);

impl PlanReads for Reads<'_> {
    async fn drawn_due(&mut self, id: &CampaignId, seqs: &[i64]) -> Result<Vec<DueRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, identity, seq FROM tickets WHERE campaign_id = ? AND auto_issue = 1
                AND claimed_serial IS NULL AND expired_at IS NULL AND returned_at IS NULL
                AND seq IN (SELECT value FROM json_each(?))",
        )
        .bind(id.as_str())
        .bind(serde_json::to_string(seqs).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter().map(|r| super::due_from_row(r, "seq")).collect()
    }

    async fn stored_due(&mut self, id: &CampaignId, now: DateTime<Utc>, limit: i64) -> Result<Vec<DueRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, identity, position FROM tickets WHERE campaign_id = ? AND auto_issue = 1
                AND claimed_serial IS NULL AND expired_at IS NULL AND returned_at IS NULL
                AND admit_at IS NOT NULL AND admit_at <= ? ORDER BY admit_at, position LIMIT ?",
        )
        .bind(id.as_str())
        .bind(ms(now))
        .bind(limit)
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter().map(|r| super::due_from_row(r, "position")).collect()
    }
}

/// Identities holding `key` or the contact `digest`.
async fn registrations_in<'e, E>(
    ex: E,
    key: &IdentityKey,
    digest: &[u8; 32],
) -> Result<Vec<super::Registered>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let rows = sqlx::query(
        "SELECT public_key, contact_digest, registered_at FROM identities WHERE public_key = ? OR contact_digest = ?",
    )
    .bind(&key.0[..])
    .bind(&digest[..])
    .fetch_all(ex)
    .await?;
    rows.iter().map(super::registered_from_row).collect()
}
