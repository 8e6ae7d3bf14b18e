//! The PostgreSQL backend, for several stateless server instances sharing one database.
//!
//! Exactly-once across instances comes from the database, never from in-process locks:
//! every transaction that changes a campaign's line (taking a place, the draw, releasing expired
//! admissions, a claim) first locks the campaign's row (`SELECT ... FOR UPDATE`), so those
//! transactions run one after another per campaign whichever instance runs them; unique
//! constraints on (campaign, identity), (campaign, serial), (campaign, position) and the ticket
//! back that up; idempotency keys are reserved with `INSERT ... ON CONFLICT DO NOTHING` and an
//! "in flight" state; a redemption is one `UPDATE ... WHERE redeemed_at IS NULL`. Serialization
//! failures and deadlocks (40001, 40P01) are retried inside the store.
//!
//! What needs no write does not take a lock: a held ticket is one indexed read, and the checks
//! "is a draw due" and "has an admission expired" are plain reads (the campaign row and the drawn
//! flag, both of which never change back, are remembered per instance) before any lock is taken.
//! The short-lived caches of counters and identities live in `AppState`, above every backend;
//! this store always answers counters fresh. Claims always read and write the database inside
//! their transaction.

use super::cols::{at, i, key_of, ms, opt_at, u};
use super::inflight::InFlight;
use super::{
    CampaignCounters, CampaignRow, ClaimInput, ClaimOutcome, ClaimRefusal, GiveBackOutcome, IssueBatch, RedeemTarget,
    RegisterOutcome, StoreError, TakeOutcome, TicketRow, VoucherRow, voucher_from_row,
};
use crate::clock::Clock;
use crate::config::CampaignSpec;
use crate::draw::{Draw, LazyDraw};
use crate::issuance::{self, DueRow, Marks, PlanReads};
use crate::issuer::Issuer;
use crate::schedule;
use chrono::{DateTime, Utc};
use lineup_protocol::{CampaignId, IdentityKey, TicketState, VoucherCode};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgRow};
use sqlx::{Connection as _, PgPool, Row};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Attempts of a transaction that fails with a serialization failure or a deadlock.
const MAX_ATTEMPTS: u32 = 8;

/// Connection pool sizing and timeouts of one server instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgPoolConfig {
    /// Connections this instance may open (the sum over instances must stay under the server's
    /// `max_connections`).
    pub max_connections: u32,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// How long a request waits for a free connection before it fails.
    pub acquire_timeout: Duration,
    /// The server aborts any statement running longer than this (`statement_timeout`).
    pub statement_timeout: Duration,
}

impl Default for PgPoolConfig {
    fn default() -> Self {
        PgPoolConfig {
            max_connections: 16,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    cache: Arc<Cache>,
    /// This instance's id (see [`super::inflight`]).
    instance: Arc<str>,
}

/// Facts that never change once stored, remembered per instance.
#[derive(Debug, Default)]
struct Cache {
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    campaigns: HashMap<CampaignId, CampaignRow>,
    drawn: HashSet<CampaignId>,
}

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // A panic while holding this lock cannot leave the maps inconsistent (each update is one
        // insert), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn u32_of(v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn campaign_id(s: &str) -> Result<CampaignId, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad campaign id {s}")))
}

fn parse_code(s: &str) -> Result<VoucherCode, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad stored code {s}")))
}

/// Whether a failed transaction may simply be run again: a serialization failure or a deadlock.
fn retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Db(sqlx::Error::Database(d)) => matches!(d.code().as_deref(), Some("40001" | "40P01")),
        _ => false,
    }
}

/// Runs `$tx` (an `async` block making one whole transaction) again when it failed for a reason
/// that a retry cures. A macro rather than a function taking an async closure: the block is
/// made afresh for each attempt, and the future stays `Send` (async closures borrowing their
/// environment currently lose that in axum handlers).
macro_rules! retrying {
    ($what:expr, $tx:expr) => {{
        let mut attempt = 0u32;
        loop {
            match $tx.await {
                Err(e) if attempt + 1 < MAX_ATTEMPTS && retryable(&e) => {
                    attempt += 1;
                    tracing::debug!(what = $what, attempt, error = %e, "retrying a transaction");
                    // Short, growing pauses: the conflicting transaction is usually done by then.
                    tokio::time::sleep(Duration::from_millis(1 << attempt.min(6))).await;
                }
                other => break other,
            }
        }
    }};
}

/// The campaign row locked for this transaction, with the fields the line's logic needs.
struct Locked {
    row: CampaignRow,
    drawn: bool,
}

impl PgStore {
    /// The pool, for the stores' side modules (see `store::push`).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Connects, and runs the migrations (versioned; sqlx holds an advisory lock while it runs
    /// them, so instances starting together apply each migration once).
    pub async fn open(url: &str, cfg: &PgPoolConfig) -> Result<Self, StoreError> {
        let opts = PgConnectOptions::from_str(url)?
            .application_name("lineup-server")
            .options([("statement_timeout", format!("{}ms", cfg.statement_timeout.as_millis()))]);
        let pool = PgPoolOptions::new()
            .max_connections(cfg.max_connections.max(1))
            .min_connections(cfg.min_connections.min(cfg.max_connections.max(1)))
            .acquire_timeout(cfg.acquire_timeout)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore {
            pool,
            cache: Arc::new(Cache::default()),
            instance: super::inflight::new_instance_id().into(),
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn ensure_campaign(
        &self,
        spec: &CampaignSpec,
        staff_token_hash: [u8; 32],
        draw_seed: u64,
    ) -> Result<CampaignRow, StoreError> {
        let brands = serde_json::to_string(&spec.brands).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO campaigns (id, title, title_en, issuer, brands, amount, currency, supply,
                prequeue_opens_at, draw_at, opens_at, closes_at, voucher_expires_at,
                admission_rate_per_s, admission_window_s, staff_token_hash, draw_seed, reach, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
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
        .execute(&self.pool)
        .await?;
        let mut conn = self.pool.acquire().await?;
        let row = load_campaign(&mut conn, &spec.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("campaign vanished".into()))?;
        self.cache.lock().campaigns.insert(spec.id.clone(), row.clone());
        Ok(row)
    }

    pub async fn campaigns(&self) -> Result<Vec<CampaignRow>, StoreError> {
        let rows = sqlx::query(CAMPAIGN_SELECT_ALL).fetch_all(&self.pool).await?;
        let rows: Vec<CampaignRow> = rows.iter().map(campaign_from_row).collect::<Result<_, _>>()?;
        let mut c = self.cache.lock();
        for r in &rows {
            c.campaigns.insert(r.spec.id.clone(), r.clone());
        }
        Ok(rows)
    }

    pub async fn campaign(&self, id: &CampaignId) -> Result<Option<CampaignRow>, StoreError> {
        if let Some(r) = self.cache.lock().campaigns.get(id) {
            return Ok(Some(r.clone()));
        }
        let mut conn = self.pool.acquire().await?;
        let row = load_campaign(&mut conn, id).await?;
        if let Some(r) = &row {
            self.cache.lock().campaigns.insert(id.clone(), r.clone());
        }
        Ok(row)
    }

    pub async fn campaign_counters(&self, id: &CampaignId) -> Result<Option<CampaignCounters>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let fresh = counters(&mut conn, id).await?;
        if fresh.is_some_and(|c| c.drawn) {
            self.cache.lock().drawn.insert(id.clone());
        }
        Ok(fresh)
    }

    pub async fn register_identity(
        &self,
        key: &IdentityKey,
        contact_digest: [u8; 32],
        now: DateTime<Utc>,
    ) -> Result<RegisterOutcome, StoreError> {
        // Two loops at most: a row that blocked the insert is committed, so the read finds it.
        for _ in 0..3 {
            let inserted = sqlx::query(
                "INSERT INTO identities (public_key, contact_digest, registered_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(&key.0[..])
            .bind(&contact_digest[..])
            .bind(ms(now))
            .execute(&self.pool)
            .await?
            .rows_affected();
            if inserted == 1 {
                return Ok(RegisterOutcome::Created { registered_at: now });
            }
            let existing = registrations_in(&self.pool, key, &contact_digest).await?;
            if let Some(known) = super::registration_outcome(&existing, key, &contact_digest) {
                return Ok(known);
            }
        }
        Err(StoreError::Corrupt("identity neither inserted nor found".into()))
    }

    pub async fn identity_exists(&self, key: &IdentityKey) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 AS one FROM identities WHERE public_key = $1")
            .bind(&key.0[..])
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Whether the draw may still have to be performed at `now`, without locking anything.
    async fn draw_pending(&self, id: &CampaignId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let Some(c) = self.campaign(id).await? else {
            return Ok(false);
        };
        if now < c.spec.draw_at || self.cache.lock().drawn.contains(id) {
            return Ok(false);
        }
        let drawn: Option<Option<i64>> = sqlx::query_scalar("SELECT drawn_at FROM campaigns WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        if let Some(Some(_)) = drawn {
            self.cache.lock().drawn.insert(id.clone());
            return Ok(false);
        }
        Ok(drawn.is_some())
    }

    pub async fn ensure_draw(&self, id: &CampaignId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        if !self.draw_pending(id, now).await? {
            return Ok(false);
        }
        let done = retrying!("draw", async {
            let mut tx = self.pool.begin().await?;
            let Some(mut locked) = lock_campaign(&mut tx, id).await? else {
                return Ok(false);
            };
            let done = ensure_draw_in(&mut tx, &mut locked, now).await?;
            tx.commit().await?;
            Ok(done)
        })?;
        self.cache.lock().drawn.insert(id.clone());
        Ok(done)
    }

    pub async fn release_expired(&self, id: &CampaignId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        // Most sweeps find nothing: look first without taking the campaign's lock.
        {
            let mut conn = self.pool.acquire().await?;
            if !release_due(&mut conn, id, now).await? {
                return Ok(0);
            }
        }
        retrying!("release", async {
            let mut tx = self.pool.begin().await?;
            let Some(locked) = lock_campaign(&mut tx, id).await? else {
                return Ok(0);
            };
            let n = release_expired_in(&mut tx, &locked, now).await?;
            tx.commit().await?;
            Ok(n)
        })
    }

    pub async fn take_ticket(
        &self,
        id: &CampaignId,
        identity: &IdentityKey,
        auto_issue: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TakeOutcome, StoreError> {
        // Fast path: a held ticket whose place is settled (and opt-in as asked) needs no write.
        {
            let mut conn = self.pool.acquire().await?;
            if let Some(t) = load_ticket(&mut conn, id, identity).await? {
                drop(conn);
                if auto_issue.is_some() && issuance::may_opt_in(&t) {
                    // Opting in touches the ticket's row only, never the campaign's.
                    sqlx::query(
                        "UPDATE tickets SET auto_issue = TRUE, auto_key = $1 WHERE id = $2 AND claimed_serial IS NULL
                            AND expired_at IS NULL AND returned_at IS NULL",
                    )
                    .bind(auto_issue)
                    .bind(&t.id)
                    .execute(&self.pool)
                    .await?;
                    let mut conn = self.pool.acquire().await?;
                    if let Some(t) = load_ticket(&mut conn, id, identity).await?
                        && t.position.is_some()
                    {
                        return Ok(TakeOutcome::Existing(t));
                    }
                } else if t.position.is_some() || !self.draw_pending(id, now).await? {
                    return Ok(TakeOutcome::Existing(t));
                }
            }
        }
        if let Some(t) = self.join_prequeue(id, identity, auto_issue, now).await? {
            return Ok(TakeOutcome::Created(t));
        }
        retrying!("take ticket", async {
            let mut tx = self.pool.begin().await?;
            let Some(mut locked) = lock_campaign(&mut tx, id).await? else {
                return Ok(TakeOutcome::UnknownCampaign);
            };
            if now >= locked.row.spec.draw_at {
                ensure_draw_in(&mut tx, &mut locked, now).await?;
            }
            if let Some(t) = load_ticket(&mut tx, id, identity).await? {
                tx.commit().await?;
                return Ok(TakeOutcome::Existing(t));
            }
            let row = sqlx::query(
                "UPDATE campaigns SET next_seq = next_seq + 1,
                    next_position = next_position + (CASE WHEN drawn_at IS NULL THEN 0 ELSE 1 END)
                 WHERE id = $1 RETURNING next_seq - 1 AS seq, drawn_at, next_position - 1 AS position, reach",
            )
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            let seq: i64 = row.try_get("seq")?;
            let drawn: Option<i64> = row.try_get("drawn_at")?;
            let reach = u(row.try_get("reach")?);
            let spec = &locked.row.spec;
            let (in_draw, check, position, admit_at, admit_until) = if drawn.is_some() {
                let p = u(row.try_get("position")?);
                let (a, until) = if p <= reach {
                    let a = schedule::admit_at_for(spec, p, now);
                    (Some(ms(a)), Some(ms(a + spec.admission_window())))
                } else {
                    (None, None)
                };
                (false, None, Some(i(p)), a, until)
            } else {
                let check = schedule::prequeue_check_at(spec, locked.row.draw_seed, identity);
                (true, Some(ms(check)), None, None, None)
            };
            sqlx::query(
                "INSERT INTO tickets (id, campaign_id, identity, seq, joined_at, in_draw, prequeue_check_at,
                    position, admit_at, admit_until, auto_issue, auto_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
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
            .execute(&mut *tx)
            .await?;
            let t = load_ticket(&mut tx, id, identity)
                .await?
                .ok_or_else(|| StoreError::Corrupt("ticket vanished".into()))?;
            tx.commit().await?;
            Ok(TakeOutcome::Created(t))
        })
    }

    /// Before the draw, joins the pre-queue in one statement, so the campaign's row is locked
    /// only for that statement (a surge of joins before the draw queues for microseconds, not for
    /// a whole transaction each). `None` when this path does not apply (the draw is done or due,
    /// or the identity already holds a ticket): the caller takes the locking path.
    async fn join_prequeue(
        &self,
        id: &CampaignId,
        identity: &IdentityKey,
        auto_issue: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<TicketRow>, StoreError> {
        let Some(c) = self.campaign(id).await? else {
            return Ok(None);
        };
        if now >= c.spec.draw_at {
            return Ok(None);
        }
        let check = schedule::prequeue_check_at(&c.spec, c.draw_seed, identity);
        // The draw locks the same row, so this either commits before the draw reads the
        // pre-queue, or sees `drawn_at` set and inserts nothing. A second ticket of the identity
        // violates the unique (campaign, identity) and rolls the counter back with it.
        let inserted = sqlx::query(
            "WITH c AS (
                UPDATE campaigns SET next_seq = next_seq + 1 WHERE id = $1 AND drawn_at IS NULL
                RETURNING next_seq - 1 AS seq)
             INSERT INTO tickets (id, campaign_id, identity, seq, joined_at, in_draw, prequeue_check_at,
                auto_issue, auto_key)
             SELECT $3, $1, $2, c.seq, $4, TRUE, $5, $6, $7 FROM c",
        )
        .bind(id.as_str())
        .bind(&identity.0[..])
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(ms(now))
        .bind(ms(check))
        .bind(auto_issue.is_some())
        .bind(auto_issue)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(r) if r.rows_affected() == 1 => {}
            Ok(_) => return Ok(None),
            Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23505") => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let mut conn = self.pool.acquire().await?;
        load_ticket(&mut conn, id, identity).await
    }

    pub async fn ticket_status_row(
        &self,
        id: &CampaignId,
        identity: &IdentityKey,
    ) -> Result<Option<TicketRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_ticket(&mut conn, id, identity).await
    }

    pub async fn claim(&self, input: &ClaimInput, issuer: &Issuer, clock: &Clock) -> Result<ClaimOutcome, StoreError> {
        // The arrival time serves the key's bookkeeping and the refusal without a lock, which
        // only gets firmer as time passes; whether the admission still holds is decided in phase 2.
        let now = clock.now();
        // Phase 1: reserve the idempotency key, committed on its own, so a concurrent request with
        // the same key (on any instance) sees it in flight.
        if let Some(done) = self.reserve_key(input, now).await? {
            return Ok(done);
        }
        // Phase 2: the claim itself and the key's result, in one transaction under the
        // campaign's lock.
        let result = retrying!("claim", async {
            let mut tx = self.pool.begin().await?;
            let Some(mut locked) = lock_campaign(&mut tx, &input.campaign_id).await? else {
                forget_key(&mut tx, input).await?;
                tx.commit().await?;
                return Ok(ClaimOutcome::Refused(ClaimRefusal::UnknownCampaign));
            };
            // Read the clock only now that this transaction holds the campaign's lock: the request
            // may have queued for a connection or for the lock past `admit_until` while a release
            // (on any instance) gave the voucher to the next in line.
            let now = clock.now();
            let outcome = claim_in(&mut tx, &mut locked, input, issuer, now).await?;
            match &outcome {
                ClaimOutcome::Issued(v) | ClaimOutcome::Existing(v) => {
                    sqlx::query(
                        "UPDATE idempotency_keys SET serial = $1 WHERE campaign_id = $2 AND identity = $3 AND key = $4",
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
            tx.commit().await?;
            Ok(outcome)
        });
        if let Err(e) = &result {
            // Let a retry with the same key run at once instead of waiting for staleness.
            tracing::warn!(campaign = %input.campaign_id, error = %e, "claim failed");
            if let Ok(mut conn) = self.pool.acquire().await {
                let _ = forget_key(&mut conn, input).await;
            }
        }
        result
    }

    /// Reserves `input`'s key, or says what the request gets without running the claim.
    async fn reserve_key(&self, input: &ClaimInput, now: DateTime<Utc>) -> Result<Option<ClaimOutcome>, StoreError> {
        // A few rounds: the row that blocked the insert may be forgotten or taken over meanwhile.
        for _ in 0..4 {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (campaign_id, identity, key, request_hash, started_at, owner)
                 SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM campaigns WHERE id = $1)
                 ON CONFLICT DO NOTHING",
            )
            .bind(input.campaign_id.as_str())
            .bind(&input.identity.0[..])
            .bind(&input.idempotency_key)
            .bind(&input.request_hash[..])
            .bind(ms(now))
            .bind(self.instance())
            .execute(&self.pool)
            .await?
            .rows_affected();
            if inserted == 1 {
                return Ok(None);
            }
            let existing = sqlx::query(
                "SELECT k.request_hash, k.started_at, k.serial, k.owner, s.seen_at
                 FROM idempotency_keys k LEFT JOIN server_instances s ON s.id = k.owner
                 WHERE k.campaign_id = $1 AND k.identity = $2 AND k.key = $3",
            )
            .bind(input.campaign_id.as_str())
            .bind(&input.identity.0[..])
            .bind(&input.idempotency_key)
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = existing else {
                if self.campaign(&input.campaign_id).await?.is_none() {
                    return Ok(Some(ClaimOutcome::Refused(ClaimRefusal::UnknownCampaign)));
                }
                continue;
            };
            let hash: Vec<u8> = row.try_get("request_hash")?;
            let started: i64 = row.try_get("started_at")?;
            let serial: Option<i64> = row.try_get("serial")?;
            if hash != input.request_hash {
                return Ok(Some(ClaimOutcome::KeyMismatch));
            }
            if let Some(s) = serial {
                let mut conn = self.pool.acquire().await?;
                let v = load_voucher(&mut conn, &input.campaign_id, u(s))
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("idempotency key names a missing voucher".into()))?;
                return Ok(Some(ClaimOutcome::Existing(v)));
            }
            let in_flight = InFlight {
                started_at_ms: started,
                owner: row.try_get("owner")?,
                owner_seen_at_ms: row.try_get("seen_at")?,
            };
            if !in_flight.abandoned(self.instance(), ms(now)) {
                return Ok(Some(ClaimOutcome::InFlight));
            }
            // Take over an abandoned key: only one taker wins the compare-and-set.
            let taken = sqlx::query(
                "UPDATE idempotency_keys SET started_at = $1, owner = $6
                 WHERE campaign_id = $2 AND identity = $3 AND key = $4 AND serial IS NULL AND started_at = $5",
            )
            .bind(ms(now))
            .bind(input.campaign_id.as_str())
            .bind(&input.identity.0[..])
            .bind(&input.idempotency_key)
            .bind(started)
            .bind(self.instance())
            .execute(&self.pool)
            .await?
            .rows_affected();
            if taken == 1 {
                return Ok(None);
            }
        }
        Ok(Some(ClaimOutcome::InFlight))
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub async fn registrations_matching(
        &self,
        key: &IdentityKey,
        digest: &[u8; 32],
    ) -> Result<Vec<super::Registered>, StoreError> {
        registrations_in(&self.pool, key, digest).await
    }

    pub async fn vouchers_of(&self, identity: &IdentityKey) -> Result<Vec<VoucherRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT campaign_id, serial, identity, ticket_id, token, code, kid, amount, currency,
                issued_at, expires_at, redeemed_at, returned_at FROM vouchers WHERE identity = $1 ORDER BY issued_at, campaign_id",
        )
        .bind(&identity.0[..])
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(voucher_from_row).collect()
    }

    pub async fn find_voucher(&self, target: &RedeemTarget) -> Result<Option<VoucherRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        find_voucher_in(&mut conn, target).await
    }

    pub async fn admitted_count(&self, id: &CampaignId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets WHERE campaign_id = $1 AND admit_at <= $2")
            .bind(id.as_str())
            .bind(ms(now))
            .fetch_one(&self.pool)
            .await?;
        let lazy = match lazy_draw(&self.pool, id).await? {
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
        let mut conn = self.pool.acquire().await?;
        let Some(c) = load_campaign(&mut conn, id).await? else {
            return Ok(None);
        };
        let Some((lazy, marks)) = lazy_draw(&mut *conn, id).await? else {
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
        let mut tx = self.pool.begin().await?;
        let serials: Vec<i64> = vouchers.iter().map(|v| i(v.serial)).collect();
        let ticket_ids: Vec<&str> = vouchers.iter().map(|v| v.ticket_id.as_str()).collect();
        let written: Result<bool, sqlx::Error> = async {
            if !vouchers.is_empty() {
                insert_vouchers(&mut tx, &vouchers).await?;
                let updated = sqlx::query(
                    "UPDATE tickets t SET claimed_serial = u.serial
                     FROM UNNEST($1::text[], $2::int8[]) AS u(id, serial)
                     WHERE t.id = u.id AND t.claimed_serial IS NULL AND t.expired_at IS NULL AND t.returned_at IS NULL",
                )
                .bind(&ticket_ids)
                .bind(&serials)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated != vouchers.len() as u64 {
                    return Ok(false);
                }
            }
            // Last, so the campaign's row is locked only for this statement and the commit.
            let moved = sqlx::query(
                "UPDATE campaigns SET issue_cursor = $1, issued = issued + $2, serials = serials + $2
                 WHERE id = $3 AND issue_cursor = $4 AND serials = $5",
            )
            .bind(i(plan.new_cursor))
            .bind(i(vouchers.len() as u64))
            .bind(id.as_str())
            .bind(i(plan.old_cursor))
            .bind(i(plan.serials))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            Ok(moved == 1)
        }
        .await;
        match written {
            Ok(true) => {
                tx.commit().await?;
                Ok(IssueBatch {
                    issued: vouchers,
                    more: plan.more,
                    conflict: false,
                })
            }
            Ok(false) => {
                tx.rollback().await?;
                Ok(IssueBatch {
                    conflict: true,
                    ..IssueBatch::default()
                })
            }
            // Another writer took a serial, a ticket or an identity first (unique violation), a
            // holder moved to a new device key since the plan (foreign key: the old identity is
            // gone), or the transaction conflicted: nothing was written; plan again.
            Err(sqlx::Error::Database(d))
                if matches!(d.code().as_deref(), Some("23503" | "23505" | "40001" | "40P01")) =>
            {
                let _ = tx.rollback().await;
                Ok(IssueBatch {
                    conflict: true,
                    ..IssueBatch::default()
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn give_back(
        &self,
        id: &CampaignId,
        identity: &IdentityKey,
        now: DateTime<Utc>,
    ) -> Result<GiveBackOutcome, StoreError> {
        let now = at(ms(now))?;
        retrying!("give back", async {
            let mut tx = self.pool.begin().await?;
            let Some(mut locked) = lock_campaign(&mut tx, id).await? else {
                return Ok(GiveBackOutcome::UnknownCampaign);
            };
            ensure_draw_in(&mut tx, &mut locked, now).await?;
            let Some(t) = load_ticket(&mut tx, id, identity).await? else {
                return Ok(GiveBackOutcome::NoTicket);
            };
            if t.returned_at.is_some() {
                tx.commit().await?;
                return Ok(GiveBackOutcome::Returned(Box::new(t)));
            }
            let spec = &locked.row.spec;
            if let Some(v) = &t.voucher {
                if v.redeemed_at.is_some() {
                    return Ok(GiveBackOutcome::AlreadyRedeemed);
                }
                sqlx::query(
                    "UPDATE vouchers SET returned_at = $1 WHERE campaign_id = $2 AND serial = $3 AND redeemed_at IS NULL",
                )
                .bind(ms(now))
                .bind(id.as_str())
                .bind(i(v.serial))
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE campaigns SET issued = issued - 1, returned = returned + 1 WHERE id = $1")
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE tickets SET returned_at = $1 WHERE id = $2")
                    .bind(ms(now))
                    .bind(&t.id)
                    .execute(&mut *tx)
                    .await?;
                hand_on(&mut tx, id, spec, now).await?;
            } else {
                sqlx::query("UPDATE tickets SET returned_at = $1 WHERE id = $2")
                    .bind(ms(now))
                    .bind(&t.id)
                    .execute(&mut *tx)
                    .await?;
                if t.expired_at.is_none() && t.admit_until.is_some_and(|u| u > now) {
                    sqlx::query("UPDATE tickets SET expired_at = $1 WHERE id = $2")
                        .bind(ms(now))
                        .bind(&t.id)
                        .execute(&mut *tx)
                        .await?;
                    hand_on(&mut tx, id, spec, now).await?;
                }
            }
            // None: the place moved to its person's new device key meanwhile (this key is
            // revoked now): nothing was given back.
            let Some(t) = load_ticket(&mut tx, id, identity).await? else {
                return Ok(GiveBackOutcome::NoTicket);
            };
            tx.commit().await?;
            Ok(GiveBackOutcome::Returned(Box::new(t)))
        })
    }
}

const CAMPAIGN_SELECT_ALL: &str =
    "SELECT id, title, title_en, issuer, brands, amount, currency, supply, prequeue_opens_at,
    draw_at, opens_at, closes_at, voucher_expires_at, admission_rate_per_s, admission_window_s,
    staff_token_hash, draw_seed FROM campaigns ORDER BY opens_at, id";

fn campaign_from_row(r: &PgRow) -> Result<CampaignRow, StoreError> {
    let brands: String = r.try_get("brands")?;
    let currency: String = r.try_get("currency")?;
    let hash: Vec<u8> = r.try_get("staff_token_hash")?;
    let spec = CampaignSpec {
        id: campaign_id(&r.try_get::<String, _>("id")?)?,
        title: r.try_get("title")?,
        title_en: r.try_get("title_en")?,
        issuer: r.try_get("issuer")?,
        brands: serde_json::from_str(&brands).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        amount: u32_of(r.try_get("amount")?)?,
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
        admission_rate_per_s: u32_of(r.try_get("admission_rate_per_s")?)?,
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

async fn load_campaign(conn: &mut PgConnection, id: &CampaignId) -> Result<Option<CampaignRow>, StoreError> {
    let row = sqlx::query(
        "SELECT id, title, title_en, issuer, brands, amount, currency, supply, prequeue_opens_at,
            draw_at, opens_at, closes_at, voucher_expires_at, admission_rate_per_s, admission_window_s,
            staff_token_hash, draw_seed FROM campaigns WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(campaign_from_row).transpose()
}

/// Locks the campaign's row until the transaction ends: every change to its line queues here,
/// whichever instance makes it.
async fn lock_campaign(conn: &mut PgConnection, id: &CampaignId) -> Result<Option<Locked>, StoreError> {
    let row = sqlx::query(
        "SELECT id, title, title_en, issuer, brands, amount, currency, supply, prequeue_opens_at,
            draw_at, opens_at, closes_at, voucher_expires_at, admission_rate_per_s, admission_window_s,
            staff_token_hash, draw_seed, drawn_at FROM campaigns WHERE id = $1 FOR UPDATE",
    )
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Locked {
        row: campaign_from_row(&r)?,
        drawn: r.try_get::<Option<i64>, _>("drawn_at")?.is_some(),
    }))
}

async fn counters(conn: &mut PgConnection, id: &CampaignId) -> Result<Option<CampaignCounters>, StoreError> {
    let row = sqlx::query(
        "SELECT drawn_at, next_seq, issued, reach, redeemed, returned,
            draw_seed, drawn_count, supply, opens_at, admission_rate_per_s, admission_window_s, swept,
            (SELECT MIN(admit_until) FROM tickets WHERE campaign_id = c.id AND admit_until IS NOT NULL
                AND claimed_serial IS NULL AND expired_at IS NULL
                AND (NOT auto_issue OR returned_at IS NOT NULL)) AS next_release_at
         FROM campaigns c WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let lazy = lazy_from_row(&r)?;
    let swept = u(r.try_get("swept")?);
    let lazy_release = next_lazy_release(conn, id, &lazy, swept).await?;
    Ok(Some(CampaignCounters {
        drawn: r.try_get::<Option<i64>, _>("drawn_at")?.is_some(),
        tickets: u(r.try_get::<i64, _>("next_seq")? - 1),
        issued: u(r.try_get("issued")?),
        reach: u(r.try_get("reach")?),
        redeemed: u(r.try_get("redeemed")?),
        next_release_at: [opt_at(r.try_get("next_release_at")?)?, lazy_release]
            .into_iter()
            .flatten()
            .min(),
        returned: u(r.try_get("returned")?),
    }))
}

/// Drawn tickets at `positions` that may still let their voucher go back to the line (no
/// voucher, not expired, and not issued by the server unless given back): (position, ticket
/// id), in admission order. The release sweep expires them; the counters' lookahead reads
/// the first one's deadline.
async fn open_admissions(
    conn: &mut PgConnection,
    id: &CampaignId,
    lazy: &LazyDraw,
    positions: std::ops::RangeInclusive<u64>,
) -> Result<Vec<(u64, String)>, StoreError> {
    let by_seq = lazy.by_seq(positions);
    let seqs = crate::draw::seqs(&by_seq);
    let rows = sqlx::query(
        "SELECT t.id, t.seq FROM UNNEST($2::int8[]) AS s(seq)
         JOIN tickets t ON t.campaign_id = $1 AND t.seq = s.seq
         WHERE t.claimed_serial IS NULL AND t.expired_at IS NULL
            AND (NOT t.auto_issue OR t.returned_at IS NOT NULL)",
    )
    .bind(id.as_str())
    .bind(&seqs)
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
/// its voucher go back (see the SQLite backend).
async fn next_lazy_release(
    conn: &mut PgConnection,
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

/// The campaign's draw (when drawn without stored positions) with its progress marks.
async fn lazy_draw<'c, E>(conn: E, id: &CampaignId) -> Result<Option<(LazyDraw, Marks)>, StoreError>
where
    E: sqlx::PgExecutor<'c>,
{
    let row = sqlx::query(
        "SELECT draw_seed, drawn_count, supply, opens_at, admission_rate_per_s, admission_window_s,
            swept, issue_cursor, issued, serials FROM campaigns WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(conn)
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
fn lazy_from_row(r: &PgRow) -> Result<LazyDraw, StoreError> {
    let seed = r.try_get::<i64, _>("draw_seed")? as u64;
    Ok(LazyDraw {
        draw: r
            .try_get::<Option<i64>, _>("drawn_count")?
            .map(|n| Draw::new(seed, u(n))),
        supply: u(r.try_get("supply")?),
        opens_at: at(r.try_get("opens_at")?)?,
        admission_rate_per_s: u32_of(r.try_get("admission_rate_per_s")?)?,
        admission_window: chrono::Duration::seconds(r.try_get::<i64, _>("admission_window_s")?),
    })
}

const TICKET_SELECT: &str = "SELECT t.id, t.campaign_id, t.identity, t.seq, t.joined_at, t.in_draw,
    t.prequeue_check_at, t.position, t.admit_at, t.admit_until, t.expired_at, t.auto_issue, t.returned_at AS t_returned_at,
    v.serial, v.token, v.code, v.kid, v.amount, v.currency, v.issued_at, v.expires_at, v.redeemed_at, v.returned_at,
    c.draw_seed, c.drawn_count, c.supply, c.opens_at, c.admission_rate_per_s, c.admission_window_s
    FROM tickets t JOIN campaigns c ON c.id = t.campaign_id
    LEFT JOIN vouchers v ON v.campaign_id = t.campaign_id AND v.identity = t.identity
    WHERE t.campaign_id = $1 AND t.identity = $2";

async fn load_ticket(
    conn: &mut PgConnection,
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
            kid: u32_of(r.try_get("kid")?)?,
            amount: u32_of(r.try_get("amount")?)?,
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

async fn load_voucher(conn: &mut PgConnection, id: &CampaignId, serial: u64) -> Result<Option<VoucherRow>, StoreError> {
    find_voucher_in(
        conn,
        &RedeemTarget::Serial {
            campaign_id: id.clone(),
            serial,
        },
    )
    .await
}

async fn find_voucher_in(conn: &mut PgConnection, target: &RedeemTarget) -> Result<Option<VoucherRow>, StoreError> {
    let row = match target {
        RedeemTarget::Serial { campaign_id, serial } => {
            sqlx::query(
                "SELECT campaign_id, serial, identity, ticket_id, token, code, kid, amount, currency,
                    issued_at, expires_at, redeemed_at, returned_at FROM vouchers WHERE campaign_id = $1 AND serial = $2",
            )
            .bind(campaign_id.as_str())
            .bind(i(*serial))
            .fetch_optional(&mut *conn)
            .await?
        }
        RedeemTarget::Code(code) => {
            sqlx::query(
                "SELECT campaign_id, serial, identity, ticket_id, token, code, kid, amount, currency,
                    issued_at, expires_at, redeemed_at, returned_at FROM vouchers WHERE code = $1",
            )
            .bind(code.compact())
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    row.as_ref().map(voucher_from_row).transpose()
}

/// Performs the draw under the campaign's lock if it is due and not yet stored: it fixes how
/// many tickets joined (positions are the keyed permutation of the join order, src/draw.rs), so
/// it writes one row whatever the size of the pre-queue.
async fn ensure_draw_in(conn: &mut PgConnection, locked: &mut Locked, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let spec = &locked.row.spec;
    if locked.drawn || now < spec.draw_at {
        return Ok(false);
    }
    let n: Option<i64> = sqlx::query_scalar(
        "UPDATE campaigns SET drawn_at = $1, drawn_count = next_seq - 1, next_position = next_seq
         WHERE id = $2 AND drawn_at IS NULL RETURNING drawn_count",
    )
    .bind(ms(now))
    .bind(spec.id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    locked.drawn = true;
    let Some(n) = n else { return Ok(false) };
    tracing::info!(campaign = %spec.id, tickets = n, "draw performed");
    Ok(true)
}

/// Whether any admission of the campaign has passed unclaimed and not yet been released (reads
/// only, no lock).
async fn release_due(conn: &mut PgConnection, id: &CampaignId, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let row = sqlx::query(
        "SELECT 1 AS one FROM tickets WHERE campaign_id = $1 AND admit_until IS NOT NULL AND admit_until <= $2
            AND claimed_serial IS NULL AND expired_at IS NULL AND (NOT auto_issue OR returned_at IS NOT NULL) LIMIT 1",
    )
    .bind(id.as_str())
    .bind(ms(now))
    .fetch_optional(&mut *conn)
    .await?;
    if row.is_some() {
        return Ok(true);
    }
    Ok(match lazy_draw(&mut *conn, id).await? {
        Some((lazy, marks)) => marks.swept < lazy.admitted_by(now - lazy.admission_window),
        None => false,
    })
}

async fn release_expired_in(conn: &mut PgConnection, locked: &Locked, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let spec = &locked.row.spec;
    let id = &spec.id;
    let mut released = 0;
    // Drawn positions within the supply, in admission order (see the SQLite backend).
    if let Some((lazy, marks)) = lazy_draw(&mut *conn, id).await? {
        let target = lazy.admitted_by(now - spec.admission_window());
        let mut from = marks.swept + 1;
        while from <= target {
            let to = target.min(from + 999);
            for (p, ticket_id) in open_admissions(conn, id, &lazy, from..=to).await? {
                let until = lazy.window_of(p).1;
                sqlx::query("UPDATE tickets SET expired_at = $1 WHERE id = $2")
                    .bind(ms(until))
                    .bind(&ticket_id)
                    .execute(&mut *conn)
                    .await?;
                hand_on(conn, id, spec, until).await?;
                released += 1;
            }
            sqlx::query("UPDATE campaigns SET swept = $1 WHERE id = $2 AND swept < $1")
                .bind(i(to))
                .bind(id.as_str())
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
            "SELECT id, admit_until FROM tickets WHERE campaign_id = $1 AND admit_until IS NOT NULL
                AND admit_until <= $2 AND claimed_serial IS NULL AND expired_at IS NULL
                AND (NOT auto_issue OR returned_at IS NOT NULL)
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
        sqlx::query("UPDATE tickets SET expired_at = $1 WHERE id = $2")
            .bind(until)
            .bind(&ticket_id)
            .execute(&mut *conn)
            .await?;
        hand_on(conn, id, spec, at(until)?).await?;
        released += 1;
    }
    if released > 0 {
        tracing::info!(campaign = %id, released, "admissions returned their vouchers to the line");
    }
    Ok(released)
}

/// One voucher went back to the line at `from`: the next position beyond the reach is admitted
/// from then (a ticket that was itself given back gets an empty window, so the next sweep passes
/// the voucher on at once). Runs under the campaign's lock.
async fn hand_on(
    conn: &mut PgConnection,
    id: &CampaignId,
    spec: &crate::config::CampaignSpec,
    from: DateTime<Utc>,
) -> Result<(), StoreError> {
    let reach: i64 = sqlx::query_scalar("UPDATE campaigns SET reach = reach + 1 WHERE id = $1 RETURNING reach")
        .bind(id.as_str())
        .fetch_one(&mut *conn)
        .await?;
    let lazy_seq = lazy_draw(&mut *conn, id)
        .await?
        .and_then(|(lazy, _)| lazy.seq_at(u(reach)));
    let next = match lazy_seq {
        Some(seq) => {
            sqlx::query(
                "SELECT id, joined_at, returned_at FROM tickets WHERE campaign_id = $1 AND seq = $2 AND admit_at IS NULL",
            )
            .bind(id.as_str())
            .bind(i(seq))
            .fetch_optional(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(
                "SELECT id, joined_at, returned_at FROM tickets WHERE campaign_id = $1 AND position = $2 AND admit_at IS NULL",
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
        sqlx::query("UPDATE tickets SET admit_at = $1, admit_until = $2 WHERE id = $3")
            .bind(ms(a))
            .bind(ms(until))
            .bind(next.try_get::<String, _>("id")?)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn forget_key(conn: &mut PgConnection, input: &ClaimInput) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE campaign_id = $1 AND identity = $2 AND key = $3 AND serial IS NULL",
    )
    .bind(input.campaign_id.as_str())
    .bind(&input.identity.0[..])
    .bind(&input.idempotency_key)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn claim_in(
    conn: &mut PgConnection,
    locked: &mut Locked,
    input: &ClaimInput,
    issuer: &Issuer,
    now: DateTime<Utc>,
) -> Result<ClaimOutcome, StoreError> {
    let id = &input.campaign_id;
    let held = sqlx::query(
        "SELECT campaign_id, serial, identity, ticket_id, token, code, kid, amount, currency,
            issued_at, expires_at, redeemed_at, returned_at FROM vouchers WHERE campaign_id = $1 AND identity = $2",
    )
    .bind(id.as_str())
    .bind(&input.identity.0[..])
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = held {
        return Ok(ClaimOutcome::Existing(voucher_from_row(&r)?));
    }
    ensure_draw_in(conn, locked, now).await?;
    if release_due(&mut *conn, id, now).await? {
        release_expired_in(conn, locked, now).await?;
    }
    let spec = &locked.row.spec;
    let Some(ticket) = load_ticket(conn, id, &input.identity).await? else {
        return Ok(ClaimOutcome::Refused(ClaimRefusal::NoTicket));
    };
    if ticket.id != input.ticket_id {
        return Ok(ClaimOutcome::Refused(ClaimRefusal::NoTicket));
    }
    let counts = counters(conn, id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("campaign vanished".into()))?;
    let view = schedule::ticket_view(spec, &ticket, &counts, now);
    if view.state == TicketState::Claimed {
        return match ticket.voucher {
            Some(v) => Ok(ClaimOutcome::Existing(v)),
            None => Err(StoreError::Corrupt("claimed ticket without voucher".into())),
        };
    }
    let refusal = super::refusal_for(&view, now);
    if let Some(r) = refusal {
        return Ok(ClaimOutcome::Refused(r));
    }
    let Some(serial) = sqlx::query_scalar::<_, i64>(
        "UPDATE campaigns SET issued = issued + 1, serials = serials + 1 WHERE id = $1 AND issued < supply
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
            spec.amount,
            spec.currency,
            spec.voucher_expires_at,
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
        amount: spec.amount,
        currency: spec.currency_str(),
        // As stored (milliseconds), so the first answer and every replay are identical.
        issued_at: at(ms(now))?,
        expires_at: spec.voucher_expires_at,
        redeemed_at: None,
        returned_at: None,
    };
    insert_vouchers(conn, std::slice::from_ref(&v)).await?;
    sqlx::query("UPDATE tickets SET claimed_serial = $1 WHERE id = $2 AND claimed_serial IS NULL")
        .bind(i(serial))
        .bind(&v.ticket_id)
        .execute(&mut *conn)
        .await?;
    Ok(ClaimOutcome::Issued(v))
}

/// The name of a database made for one test or one measurement run.
fn valid_db_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
}

/// `url` with its database (the path) replaced by `name`, keeping credentials and parameters.
pub fn url_with_database(url: &str, name: &str) -> Result<String, StoreError> {
    let bad = || StoreError::Unsupported("not a postgres:// URL".into());
    let scheme_end = url.find("://").ok_or_else(bad)? + 3;
    let (base, query) = match url[scheme_end..].find('?') {
        Some(q) => url.split_at(scheme_end + q),
        None => (url, ""),
    };
    let authority_end = base[scheme_end..].find('/').map_or(base.len(), |p| scheme_end + p);
    if authority_end == scheme_end {
        return Err(bad());
    }
    Ok(format!("{}/{name}{query}", &base[..authority_end]))
}

/// Creates the empty database `name` (lowercase letters, digits, `_`) through `admin_url` and
/// returns the URL of the new database: tests and measurements each get a fresh one.
pub async fn create_database(admin_url: &str, name: &str) -> Result<String, StoreError> {
    if !valid_db_name(name) {
        return Err(StoreError::Unsupported(format!("invalid database name {name:?}")));
    }
    let mut conn = PgConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    url_with_database(admin_url, name)
}

/// Drops the database `name` made by [`create_database`], disconnecting whoever still uses it.
pub async fn drop_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    if !valid_db_name(name) {
        return Err(StoreError::Unsupported(format!("invalid database name {name:?}")));
    }
    let mut conn = PgConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

/// Inserts vouchers in one statement (arrays unnested): a batch of the issuer's, or the one
/// voucher of an explicit claim.
async fn insert_vouchers(conn: &mut PgConnection, vouchers: &[VoucherRow]) -> Result<(), sqlx::Error> {
    let col = |f: fn(&VoucherRow) -> i64| vouchers.iter().map(f).collect::<Vec<i64>>();
    sqlx::query(
        "INSERT INTO vouchers (campaign_id, serial, identity, ticket_id, token, code, kid, amount, currency,
            issued_at, expires_at)
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::bytea[], $4::text[], $5::text[], $6::text[],
            $7::int8[], $8::int8[], $9::text[], $10::int8[], $11::int8[])",
    )
    .bind(vouchers.iter().map(|v| v.campaign_id.as_str()).collect::<Vec<_>>())
    .bind(col(|v| i(v.serial)))
    .bind(vouchers.iter().map(|v| v.identity.0.to_vec()).collect::<Vec<_>>())
    .bind(vouchers.iter().map(|v| v.ticket_id.as_str()).collect::<Vec<_>>())
    .bind(vouchers.iter().map(|v| v.token.as_str()).collect::<Vec<_>>())
    .bind(vouchers.iter().map(|v| v.code.compact()).collect::<Vec<_>>())
    .bind(col(|v| i64::from(v.kid)))
    .bind(col(|v| i64::from(v.amount)))
    .bind(vouchers.iter().map(|v| v.currency.as_str()).collect::<Vec<_>>())
    .bind(col(|v| ms(v.issued_at)))
    .bind(col(|v| ms(v.expires_at)))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The plan's reads on PostgreSQL (no lock).
struct Reads<'a>(&'a mut PgConnection);

impl PlanReads for Reads<'_> {
    async fn drawn_due(&mut self, id: &CampaignId, seqs: &[i64]) -> Result<Vec<DueRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.identity, t.seq FROM UNNEST($2::int8[]) AS s(seq)
             JOIN tickets t ON t.campaign_id = $1 AND t.seq = s.seq
             WHERE t.auto_issue AND t.claimed_serial IS NULL AND t.expired_at IS NULL AND t.returned_at IS NULL",
        )
        .bind(id.as_str())
        .bind(seqs)
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter().map(|r| super::due_from_row(r, "seq")).collect()
    }

    async fn stored_due(&mut self, id: &CampaignId, now: DateTime<Utc>, limit: i64) -> Result<Vec<DueRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, identity, position FROM tickets WHERE campaign_id = $1 AND auto_issue
                AND claimed_serial IS NULL AND expired_at IS NULL AND returned_at IS NULL
                AND admit_at IS NOT NULL AND admit_at <= $2 ORDER BY admit_at, position LIMIT $3",
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
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let rows = sqlx::query(
        "SELECT public_key, contact_digest, registered_at FROM identities WHERE public_key = $1 OR contact_digest = $2",
    )
    .bind(&key.0[..])
    .bind(&digest[..])
    .fetch_all(ex)
    .await?;
    rows.iter().map(super::registered_from_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            url_with_database("postgres://lineup@127.0.0.1:5432/postgres", "t1").unwrap(),
            "postgres://lineup@127.0.0.1:5432/t1"
        );
        assert_eq!(
            url_with_database("postgresql://u:p@h/db?sslmode=disable", "t_2").unwrap(),
            "postgresql://u:p@h/t_2?sslmode=disable"
        );
        assert_eq!(url_with_database("postgres://h:1", "x").unwrap(), "postgres://h:1/x");
        assert!(url_with_database("nonsense", "x").is_err());
        assert!(valid_db_name("lineup_test_0af3"));
        assert!(!valid_db_name("Robert\"; DROP"));
        assert!(!valid_db_name("1abc"));
        assert!(!valid_db_name(""));
    }

    #[test]
    fn only_conflicts_are_retried() {
        assert!(!retryable(&StoreError::Corrupt("x".into())));
        assert!(!retryable(&StoreError::Db(sqlx::Error::RowNotFound)));
    }
}
