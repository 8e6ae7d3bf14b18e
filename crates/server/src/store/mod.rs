//! The one persistence interface of the server. Every handler talks to a [`Store`]; each backend
//! (`sqlite` now, `postgres` next) implements the same domain-level operations. Exactly-once
//! guarantees (one ticket and one voucher per identity and campaign, dense serials, one draw, one
//! redemption) come from database constraints and transactions inside these operations, never from
//! in-process locks, so several server instances may share one database.
//!
//! Instants are kept as Unix milliseconds (`i64`) in every backend; the domain types below use
//! `DateTime<Utc>`.

/// Runs `$body` inside a write transaction bound to `$tx`, the same statements for both
/// backends (sqlx takes `$1`-style parameters on SQLite too): `BEGIN IMMEDIATE` on SQLite, so
/// the one writer holds the lock from the first statement, a plain `BEGIN` on PostgreSQL, where
/// row locks and constraints order concurrent writers. `$body` commits (`$tx.commit()`) or
/// returns early, which rolls back.
macro_rules! in_tx {
    ($store:expr, $tx:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(s) => {
                let mut $tx = s.pools().0.begin_with("BEGIN IMMEDIATE").await?;
                $body
            }
            $crate::store::Store::Postgres(p) => {
                let mut $tx = p.pool().begin().await?;
                $body
            }
        }
    };
}

/// Runs `$body` with `$w` bound to the pool that writes (SQLite's one writer, or PostgreSQL's
/// pool) and `$r` to the pool for reads (SQLite's readers): for statements the same on both
/// backends. The writer also reads what this process wrote a moment ago.
macro_rules! on {
    ($store:expr, $w:ident, $r:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(s) => {
                let ($w, $r) = s.pools();
                $body
            }
            $crate::store::Store::Postgres(p) => {
                let $w = p.pool();
                let $r = p.pool();
                $body
            }
        }
    };
}

mod cols;
pub mod contacts;
mod gate;
pub mod inflight;
pub use gate::{Registered, registration_outcome};
pub mod draw_record;
pub mod keys;
pub mod postgres;
pub mod push;
pub mod recovery;
pub mod redemption;
pub mod sqlite;

use crate::clock::Clock;
use crate::config::CampaignSpec;
use crate::issuer::Issuer;
use chrono::{DateTime, Utc};
use lineup_protocol::{CampaignId, IdentityKey, VoucherCode};

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbLocation {
    /// An SQLite file (created if missing, WAL mode).
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL URL (`postgres://...`), which several instances may share.
    Postgres(String),
}

impl DbLocation {
    /// Parses a `--db` value: a `postgres://` / `postgresql://` URL, an `sqlite:` URL or a file path.
    pub fn parse(s: &str) -> Self {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            DbLocation::Postgres(s.to_owned())
        } else if let Some(path) = s.strip_prefix("sqlite://").or_else(|| s.strip_prefix("sqlite:")) {
            DbLocation::Sqlite(path.into())
        } else {
            DbLocation::Sqlite(s.into())
        }
    }
}

/// Failures of the store. Domain refusals are not errors: they are outcomes (e.g. [`ClaimOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("signing the voucher failed: {0}")]
    Sign(String),
    #[error("backend not available: {0}")]
    Unsupported(String),
    /// Concurrent writes kept a transaction from completing after several tries.
    #[error("conflicting writes: {0}")]
    Conflict(String),
}

/// A campaign as stored: its specification plus the draw seed.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRow {
    pub spec: CampaignSpec,
    /// Seed of the draw's shuffle, fixed when the campaign is first stored.
    pub draw_seed: u64,
    /// Digest of the staff token: SHA-256 of `lineup-staff-v1` and the token (see
    /// [`crate::issuer::staff_token_hash`]).
    pub staff_token_hash: [u8; 32],
}

/// The moving numbers of a campaign, read together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CampaignCounters {
    /// Whether the draw has been performed.
    pub drawn: bool,
    /// Tickets taken so far.
    pub tickets: u64,
    /// Vouchers issued so far (the last serial).
    pub issued: u64,
    /// Positions with a voucher reserved for them: supply plus vouchers returned by expired admissions.
    pub reach: u64,
    /// Vouchers redeemed so far.
    pub redeemed: u64,
    /// The earliest `admit_until` of an admitted-or-scheduled ticket that has not claimed
    /// (when its voucher may go back to the line).
    pub next_release_at: Option<DateTime<Utc>>,
    /// Vouchers given back by their holders (they went back to the line).
    pub returned: u64,
}

/// A ticket (a place in a campaign's line) as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRow {
    pub id: String,
    pub campaign_id: CampaignId,
    pub identity: IdentityKey,
    /// Join order in the campaign, 1-based (a drawn ticket's position derives from it).
    pub seq: u64,
    pub joined_at: DateTime<Utc>,
    /// The person opted in to server-side issuance: the server issues the voucher itself at
    /// `admit_at` (see [`crate::issuance`]).
    pub auto_issue: bool,
    /// Joined before the draw.
    pub in_draw: bool,
    /// For pre-queue tickets: when to check the draw's result.
    pub prequeue_check_at: Option<DateTime<Utc>>,
    pub position: Option<u64>,
    /// Set once the position is within reach of the supply.
    pub admit_at: Option<DateTime<Utc>>,
    pub admit_until: Option<DateTime<Utc>>,
    /// When the sweep recorded that the admission passed unclaimed.
    pub expired_at: Option<DateTime<Utc>>,
    /// When the person gave the place (or its voucher) back.
    pub returned_at: Option<DateTime<Utc>>,
    /// The voucher, when claimed.
    pub voucher: Option<VoucherRow>,
}

/// An issued voucher as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct VoucherRow {
    pub campaign_id: CampaignId,
    pub serial: u64,
    pub identity: IdentityKey,
    pub ticket_id: String,
    pub token: String,
    pub code: VoucherCode,
    pub kid: u32,
    pub amount: u32,
    pub currency: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub redeemed_at: Option<DateTime<Utc>>,
    /// Given back by its holder: void, and its place went back to the line.
    pub returned_at: Option<DateTime<Utc>>,
}

/// Result of registering an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutcome {
    Created {
        registered_at: DateTime<Utc>,
    },
    /// This key already holds this contact.
    Existing {
        registered_at: DateTime<Utc>,
    },
    /// Another key holds this contact, or this key holds another contact.
    ContactTaken,
}

/// A batch of vouchers the server issued by itself (see [`crate::issuance`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IssueBatch {
    /// Vouchers committed by this call, in admission order.
    pub issued: Vec<VoucherRow>,
    /// Whether more tickets were due than one batch holds (call again at once).
    pub more: bool,
    /// Another writer changed the campaign between this batch's read and its commit: nothing was
    /// written; call again.
    pub conflict: bool,
}

/// Result of giving a place or a voucher back.
#[derive(Debug, Clone, PartialEq)]
pub enum GiveBackOutcome {
    /// Given back now, or earlier (the call is idempotent): the ticket as it is now.
    Returned(Box<TicketRow>),
    /// The voucher was already used at the box office: it cannot be given back.
    AlreadyRedeemed,
    NoTicket,
    UnknownCampaign,
}

/// Result of taking a place in line.
#[derive(Debug, Clone, PartialEq)]
pub enum TakeOutcome {
    Created(TicketRow),
    Existing(TicketRow),
    /// No campaign with this id.
    UnknownCampaign,
}

/// What a join (taking a place in line) asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinInput {
    pub campaign_id: CampaignId,
    pub identity: IdentityKey,
    /// The idempotency key of an opt-in to server-side issuance.
    pub auto_issue: Option<String>,
    pub now: DateTime<Utc>,
}

/// What a claim asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimInput {
    pub campaign_id: CampaignId,
    pub identity: IdentityKey,
    pub ticket_id: String,
    pub idempotency_key: String,
    /// SHA-256 of the request body, to detect a key reused with another payload.
    pub request_hash: [u8; 32],
}

/// Why a claim was refused (the ticket's state at the time of the claim).
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimRefusal {
    UnknownCampaign,
    /// The identity holds no ticket with this id in this campaign.
    NoTicket,
    /// Not admitted yet; ask again at the instant given.
    NotAdmitted {
        check_at: DateTime<Utc>,
    },
    AdmissionExpired,
    SoldOut,
    CampaignClosed,
    /// The person gave the place back.
    Returned,
}

/// The refusal a claim gets in a ticket's state, or `None` when it may claim (admitted) or
/// already holds its voucher (claimed). Shared by every backend so that they answer alike.
pub fn refusal_for(view: &crate::schedule::TicketView, now: DateTime<Utc>) -> Option<ClaimRefusal> {
    use lineup_protocol::TicketState;
    match view.state {
        TicketState::Admitted | TicketState::Claimed => None,
        TicketState::PreQueue | TicketState::InLine | TicketState::Waitlisted => Some(ClaimRefusal::NotAdmitted {
            check_at: view.check_at.unwrap_or(now + crate::schedule::SOON),
        }),
        TicketState::Expired => Some(ClaimRefusal::AdmissionExpired),
        TicketState::SoldOut => Some(ClaimRefusal::SoldOut),
        TicketState::Closed => Some(ClaimRefusal::CampaignClosed),
        TicketState::Returned => Some(ClaimRefusal::Returned),
    }
}

/// Result of a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// A voucher was issued and committed by this request.
    Issued(VoucherRow),
    /// The identity already held this voucher (replayed key, or another key after success).
    Existing(VoucherRow),
    /// The key was used with another request body.
    KeyMismatch,
    /// The first request with this key is still running.
    InFlight,
    Refused(ClaimRefusal),
}

/// How to find the voucher to redeem.
#[derive(Debug, Clone, PartialEq)]
pub enum RedeemTarget {
    Serial { campaign_id: CampaignId, serial: u64 },
    Code(VoucherCode),
}

/// The store: enum dispatch over the backends (an `async fn` trait object is not possible yet,
/// and an enum keeps every call statically dispatched).
#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Sqlite($s) => $e,
            Store::Postgres($s) => $e,
        }
    };
}

impl Store {
    /// Opens (creating if needed) the database and runs its migrations.
    pub async fn open(db: &DbLocation) -> Result<Self, StoreError> {
        Self::open_with(db, &postgres::PgPoolConfig::default()).await
    }

    /// [`Store::open`] with the PostgreSQL pool's sizing and timeouts (SQLite ignores them).
    pub async fn open_with(db: &DbLocation, pg: &postgres::PgPoolConfig) -> Result<Self, StoreError> {
        match db {
            DbLocation::Sqlite(path) => Ok(Store::Sqlite(sqlite::SqliteStore::open(path).await?)),
            DbLocation::Postgres(url) => Ok(Store::Postgres(postgres::PgStore::open(url, pg).await?)),
        }
    }

    /// Closes every connection (after a graceful shutdown).
    pub async fn close(&self) {
        dispatch!(self, s => s.close().await)
    }

    /// Stores a campaign unless one with this id exists (an existing one keeps its seed, times and
    /// counters, so a restart changes nothing). Returns the stored row.
    pub async fn ensure_campaign(
        &self,
        spec: &CampaignSpec,
        staff_token_hash: [u8; 32],
        draw_seed: u64,
    ) -> Result<CampaignRow, StoreError> {
        dispatch!(self, s => s.ensure_campaign(spec, staff_token_hash, draw_seed).await)
    }

    pub async fn campaigns(&self) -> Result<Vec<CampaignRow>, StoreError> {
        dispatch!(self, s => s.campaigns().await)
    }

    pub async fn campaign(&self, id: &CampaignId) -> Result<Option<CampaignRow>, StoreError> {
        dispatch!(self, s => s.campaign(id).await)
    }

    pub async fn campaign_counters(&self, id: &CampaignId) -> Result<Option<CampaignCounters>, StoreError> {
        dispatch!(self, s => s.campaign_counters(id).await)
    }

    pub async fn register_identity(
        &self,
        key: &IdentityKey,
        contact_digest: [u8; 32],
        now: DateTime<Utc>,
    ) -> Result<RegisterOutcome, StoreError> {
        dispatch!(self, s => s.register_identity(key, contact_digest, now).await)
    }

    pub async fn identity_exists(&self, key: &IdentityKey) -> Result<bool, StoreError> {
        dispatch!(self, s => s.identity_exists(key).await)
    }

    /// Performs the draw if `now >= draw_at` and it has not happened: shuffles the pre-queue with
    /// the stored seed and stores positions and admission times, exactly once across restarts and
    /// instances. Returns whether this call performed it.
    pub async fn ensure_draw(&self, id: &CampaignId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        dispatch!(self, s => s.ensure_draw(id, now).await)
    }

    /// Marks admissions whose window passed unclaimed as expired and hands each returned voucher
    /// to the next position in line, in order. Idempotent. Returns how many were released.
    pub async fn release_expired(&self, id: &CampaignId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        dispatch!(self, s => s.release_expired(id, now).await)
    }

    /// Takes a place in line for `identity`, or returns the one it holds. Performs the draw
    /// first when it is due. The caller checks the campaign's phase (too early, closed) first.
    ///
    /// `auto_issue` carries the client's idempotency key when the person opts in to server-side
    /// issuance; a held ticket that has not opted in yet (and holds no voucher) opts in then.
    pub async fn take_ticket(
        &self,
        id: &CampaignId,
        identity: &IdentityKey,
        auto_issue: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TakeOutcome, StoreError> {
        dispatch!(self, s => s.take_ticket(id, identity, auto_issue, now).await)
    }

    /// Several joins at once, answered in order, each as [`Store::take_ticket`] would. On SQLite
    /// they share one write transaction (group commit); on PostgreSQL they run one after another
    /// (a pre-queue join there is already a single statement).
    pub async fn take_tickets(&self, inputs: &[JoinInput]) -> Result<Vec<TakeOutcome>, StoreError> {
        match self {
            Store::Sqlite(s) => s.take_tickets(inputs).await,
            Store::Postgres(s) => {
                let mut out = Vec::with_capacity(inputs.len());
                for j in inputs {
                    out.push(
                        s.take_ticket(&j.campaign_id, &j.identity, j.auto_issue.as_deref(), j.now)
                            .await?,
                    );
                }
                Ok(out)
            }
        }
    }

    /// Issues, in one transaction, the vouchers of up to `max` opted-in tickets whose admission
    /// is due at `now`, in admission order. Signatures are made before the transaction; the
    /// commit is conditional on the campaign's issued count and issuance cursor not having moved,
    /// and vouchers are unique per ticket, identity and serial, so concurrent writers (another
    /// instance, an explicit claim) cannot make a ticket hold two.
    pub async fn issue_due(
        &self,
        id: &CampaignId,
        issuer: &Issuer,
        now: DateTime<Utc>,
        max: usize,
    ) -> Result<IssueBatch, StoreError> {
        let Some(plan) = self.plan_issue(id, now, max, None).await? else {
            return Ok(IssueBatch::default());
        };
        let vouchers = crate::issuance::sign_off_runtime(&plan, issuer).await?;
        self.commit_issue(&plan, vouchers).await
    }

    /// The read half of [`Store::issue_due`]: what the next batch would issue (`None`: nothing is
    /// due). With `after`, the batch that follows a planned one, as if it had committed.
    pub async fn plan_issue(
        &self,
        id: &CampaignId,
        now: DateTime<Utc>,
        max: usize,
        after: Option<&crate::issuance::Plan>,
    ) -> Result<Option<crate::issuance::Plan>, StoreError> {
        dispatch!(self, s => s.plan_issue(id, now, max, after).await)
    }

    /// The write half of [`Store::issue_due`]: commits a planned, signed batch whole, or nothing
    /// (`conflict`) when another writer moved the campaign since the plan.
    pub async fn commit_issue(
        &self,
        plan: &crate::issuance::Plan,
        vouchers: Vec<VoucherRow>,
    ) -> Result<IssueBatch, StoreError> {
        dispatch!(self, s => s.commit_issue(plan, vouchers).await)
    }

    /// Gives back the place of `identity` (before it was issued a voucher) or its unredeemed
    /// voucher: the voucher goes back to the line and reaches the next waitlisted position.
    /// Idempotent.
    pub async fn give_back(
        &self,
        id: &CampaignId,
        identity: &IdentityKey,
        now: DateTime<Utc>,
    ) -> Result<GiveBackOutcome, StoreError> {
        dispatch!(self, s => s.give_back(id, identity, now).await)
    }

    /// The ticket of `identity` in campaign `id` (with its voucher, if claimed): one indexed read.
    pub async fn ticket_status_row(
        &self,
        id: &CampaignId,
        identity: &IdentityKey,
    ) -> Result<Option<TicketRow>, StoreError> {
        dispatch!(self, s => s.ticket_status_row(id, identity).await)
    }

    /// Claims a voucher with idempotency-key semantics (see `docs/protocol.md`). A voucher is
    /// committed before this returns `Issued`.
    ///
    /// The store reads `clock` itself rather than taking the request's arrival time: a claim may
    /// wait (for a connection, for the campaign's lock) past the ticket's `admit_until` while a
    /// release hands its voucher to the next person in line, so whether the admission still
    /// holds is decided with the time read once the issuing transaction holds the campaign's
    /// lock. A ticket whose admission was already released is refused whatever the clock says
    /// (another instance's clock may run ahead of this one's).
    pub async fn claim(&self, input: &ClaimInput, issuer: &Issuer, clock: &Clock) -> Result<ClaimOutcome, StoreError> {
        dispatch!(self, s => s.claim(input, issuer, clock).await)
    }

    /// Several claims at once, answered in order, each as [`Store::claim`] would. On SQLite they
    /// share two transactions in all (group commit: the single writer's fsyncs, not the claims,
    /// were the limit); on PostgreSQL they run one after another (each holds the campaign's
    /// row lock briefly, and instances interleave them).
    pub async fn claim_batch(
        &self,
        inputs: &[ClaimInput],
        issuer: &Issuer,
        clock: &Clock,
    ) -> Result<Vec<ClaimOutcome>, StoreError> {
        match self {
            Store::Sqlite(s) => s.claim_batch(inputs, issuer, clock).await,
            Store::Postgres(s) => {
                let mut out = Vec::with_capacity(inputs.len());
                for input in inputs {
                    out.push(s.claim(input, issuer, clock).await?);
                }
                Ok(out)
            }
        }
    }

    /// Identities holding `key` or the contact `digest` (none, one, or two).
    pub async fn registrations_matching(
        &self,
        key: &IdentityKey,
        digest: &[u8; 32],
    ) -> Result<Vec<Registered>, StoreError> {
        dispatch!(self, s => s.registrations_matching(key, digest).await)
    }

    /// The request digest an idempotency key was first used with, if it is known.
    pub async fn idempotency_request_hash(
        &self,
        id: &CampaignId,
        identity: &IdentityKey,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(match self {
            Store::Sqlite(s) => {
                sqlx::query_scalar::<_, Vec<u8>>(
                    "SELECT request_hash FROM idempotency_keys WHERE campaign_id = ? AND identity = ? AND key = ?",
                )
                .bind(id.as_str())
                .bind(&identity.0[..])
                .bind(key)
                .fetch_optional(s.reader())
                .await?
            }
            Store::Postgres(s) => {
                sqlx::query_scalar::<_, Vec<u8>>(
                    "SELECT request_hash FROM idempotency_keys WHERE campaign_id = $1 AND identity = $2 AND key = $3",
                )
                .bind(id.as_str())
                .bind(&identity.0[..])
                .bind(key)
                .fetch_optional(s.pool())
                .await?
            }
        })
    }

    /// Forgets idempotency keys first used before `before` (those in flight too: by then their
    /// request is long over). Returns how many went. A retry with a forgotten key is answered as
    /// a new request would be, which for a voucher holder is the voucher it holds.
    pub async fn expire_idempotency_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = before.timestamp_millis();
        Ok(match self {
            Store::Sqlite(s) => sqlx::query("DELETE FROM idempotency_keys WHERE started_at < ?")
                .bind(cutoff)
                .execute(s.writer())
                .await?
                .rows_affected(),
            Store::Postgres(s) => sqlx::query("DELETE FROM idempotency_keys WHERE started_at < $1")
                .bind(cutoff)
                .execute(s.pool())
                .await?
                .rows_affected(),
        })
    }

    /// Every voucher held by `identity`, across campaigns.
    pub async fn vouchers_of(&self, identity: &IdentityKey) -> Result<Vec<VoucherRow>, StoreError> {
        dispatch!(self, s => s.vouchers_of(identity).await)
    }

    /// Looks a voucher up (for redemption: to learn its campaign before checking the staff token).
    pub async fn find_voucher(&self, target: &RedeemTarget) -> Result<Option<VoucherRow>, StoreError> {
        dispatch!(self, s => s.find_voucher(target).await)
    }
    /// Tickets whose admission instant is at or before `now` (for the `admitted` metric).
    pub async fn admitted_count(&self, id: &CampaignId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        dispatch!(self, s => s.admitted_count(id, now).await)
    }
}

/// A `vouchers` row as selected by `VOUCHER_COLUMNS`-style queries, read the same way from
/// either backend.
pub(crate) fn voucher_from_row<R: sqlx::Row>(r: &R) -> Result<VoucherRow, StoreError>
where
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Vec<u8>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
{
    let code: String = r.try_get("code")?;
    let campaign: String = r.try_get("campaign_id")?;
    let opt_at = |v: Option<i64>| v.map(cols::at).transpose();
    Ok(VoucherRow {
        campaign_id: campaign
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("bad stored campaign id {campaign}")))?,
        serial: u64::try_from(r.try_get::<i64, _>("serial")?).map_err(|_| StoreError::Corrupt("serial".into()))?,
        identity: cols::key_of(&r.try_get::<Vec<u8>, _>("identity")?)?,
        ticket_id: r.try_get("ticket_id")?,
        token: r.try_get("token")?,
        code: code
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("bad stored code {code}")))?,
        kid: u32::try_from(r.try_get::<i64, _>("kid")?).map_err(|_| StoreError::Corrupt("kid".into()))?,
        amount: u32::try_from(r.try_get::<i64, _>("amount")?).map_err(|_| StoreError::Corrupt("amount".into()))?,
        currency: r.try_get("currency")?,
        issued_at: cols::at(r.try_get("issued_at")?)?,
        expires_at: cols::at(r.try_get("expires_at")?)?,
        redeemed_at: opt_at(r.try_get("redeemed_at")?)?,
        returned_at: opt_at(r.try_get("returned_at")?)?,
    })
}

/// A due ticket as the issuance plan reads it: id, identity and `order` (its join seq, or its
/// position; a missing position reads as 0), the same from either backend.
pub(crate) fn due_from_row<R: sqlx::Row>(r: &R, order: &str) -> Result<crate::issuance::DueRow, StoreError>
where
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Vec<u8>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
{
    Ok((
        r.try_get("id")?,
        cols::key_of(&r.try_get::<Vec<u8>, _>("identity")?)?,
        r.try_get::<Option<i64>, _>(order)?
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0),
    ))
}

/// An `identities` row (public key, contact digest, registration instant), from either backend.
pub(crate) fn registered_from_row<R: sqlx::Row>(r: &R) -> Result<Registered, StoreError>
where
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Vec<u8>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
{
    Ok(Registered {
        public_key: r.try_get("public_key")?,
        contact_digest: r.try_get("contact_digest")?,
        registered_at: cols::at(r.try_get("registered_at")?)?,
    })
}
