//! Server-side issuance: the server issues each opted-in ticket's voucher itself at its
//! admission instant, so nobody's phone has to be awake at their turn.
//!
//! One writer per campaign and instance ([`run`]) repeatedly asks the store for the tickets
//! whose admission is due, in admission order ([`crate::store::Store::issue_due`]), signs their
//! vouchers before any transaction ([`sign_all`]), and commits a whole batch in one transaction
//! (group commit: one fsync for up to [`BATCH`] vouchers). The commit is conditional on the
//! campaign's issuance cursor and serial counter not having moved since the plan, and vouchers
//! are unique per ticket, identity and serial in the database, so several instances (or an
//! explicit claim racing a batch) can never give a ticket two: the loser writes nothing and
//! plans again. A crash mid-batch leaves the previous commit: the batch is whole or absent.

use crate::config::CampaignSpec;
use crate::draw::LazyDraw;
use crate::issuer::Issuer;
use crate::state::AppState;
use crate::store::{CampaignRow, Store, StoreError, TicketRow, VoucherRow};
use chrono::{DateTime, Duration, Utc};
use lineup_protocol::{CampaignId, IdentityKey};
use std::time::Duration as StdDuration;
use tokio::sync::watch;

/// Vouchers per transaction at most. Measured with `lineup-issue-bench` on SQLite (2 cores,
/// 1,000,000 places, 200,000 vouchers): each commit rewrites most pages of the random-key
/// indexes it touches, so bigger batches amortise more: 4,000 gave about 18,800 vouchers/s,
/// 8,000 about 21,200/s. A full batch holds SQLite's write lock for about 200 ms (other writes
/// wait that long at worst while a drop drains); signing it runs off the async runtime, and the
/// next batch is planned and signed while this one commits.
pub const BATCH: usize = 8000;

/// How long after a ticket's admission instant its client should fetch the voucher: the issuer
/// passes every 50 ms and a batch commits within milliseconds, so one second is ample and is
/// what `check_at` says for an opted-in ticket in line.
pub const FETCH_LAG: Duration = Duration::seconds(1);

/// How often the issuer looks for due admissions when nothing was due.
pub const IDLE_PASS: StdDuration = StdDuration::from_millis(50);

/// Whether a held ticket may still opt in to server-side issuance.
pub fn may_opt_in(t: &TicketRow) -> bool {
    !t.auto_issue && t.voucher.is_none() && t.expired_at.is_none() && t.returned_at.is_none()
}

/// An opted-in ticket whose admission is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// 1-based position (admission order).
    pub position: u64,
    pub ticket_id: String,
    pub identity: IdentityKey,
}

/// What one batch will write, decided from plain reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub spec: CampaignSpec,
    /// The issuance cursor as read (drawn positions within the supply already passed).
    pub old_cursor: u64,
    /// The cursor after this batch.
    pub new_cursor: u64,
    /// The last serial used, as read: this batch uses the next ones.
    pub serials: u64,
    /// Vouchers out, as read (what is left of the supply bounds the batch).
    pub issued: u64,
    /// Tickets to issue, in admission order.
    pub due: Vec<Due>,
    /// More was due than this batch holds.
    pub more: bool,
    /// The issuance instant written on every voucher of the batch.
    pub now: DateTime<Utc>,
}

/// Where issuance and the release sweep stand in a lazily drawn campaign (columns of its row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marks {
    /// Drawn positions within the supply whose admission has been settled.
    pub swept: u64,
    /// Drawn positions within the supply that issuance has passed.
    pub issue_cursor: u64,
    /// Vouchers out.
    pub issued: u64,
    /// The last serial used.
    pub serials: u64,
}

/// An opted-in ticket a plan may issue to: its id, holder, and join sequence number (drawn
/// tickets) or stored position (tickets with a stored admission).
pub type DueRow = (String, IdentityKey, u64);

/// The two reads a plan needs, each backend in its own SQL; [`plan_from`] is the rest.
pub(crate) trait PlanReads {
    /// Opted-in tickets without a voucher (nor expired, nor given back) among the join
    /// sequence numbers `seqs`: (id, holder, seq).
    async fn drawn_due(&mut self, id: &CampaignId, seqs: &[i64]) -> Result<Vec<DueRow>, StoreError>;
    /// Opted-in tickets without a voucher whose stored admission is due at `now`, in admission
    /// order, at most `limit`: (id, holder, position).
    async fn stored_due(&mut self, id: &CampaignId, now: DateTime<Utc>, limit: i64) -> Result<Vec<DueRow>, StoreError>;
}

/// Plans the next batch of campaign `c` from the backend's reads. With `after`, the batch that
/// follows `after` as if it had committed; tickets with a stored admission are then left to a
/// later plan. `None`: nothing is due.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn plan_from(
    reads: &mut impl PlanReads,
    c: &CampaignRow,
    lazy: &LazyDraw,
    marks: Marks,
    now: DateTime<Utc>,
    max: usize,
    after: Option<&Plan>,
) -> Result<Option<Plan>, StoreError> {
    let id = &c.spec.id;
    let (cursor, issued, serials) = match after {
        Some(a) => (
            a.new_cursor,
            a.issued + a.due.len() as u64,
            a.serials + a.due.len() as u64,
        ),
        None => (marks.issue_cursor, marks.issued, marks.serials),
    };
    let upto = lazy.admitted_by(now).min(cursor + max as u64);
    let by_seq = lazy.by_seq(cursor + 1..=upto);
    let seqs = crate::draw::seqs(&by_seq);
    let mut due = Vec::new();
    if !seqs.is_empty() {
        for (ticket_id, identity, seq) in reads.drawn_due(id, &seqs).await? {
            if let Some(&position) = by_seq.get(&seq) {
                due.push(Due {
                    position,
                    ticket_id,
                    identity,
                });
            }
        }
    }
    let room = if after.is_some() {
        0
    } else {
        max.saturating_sub(due.len())
    };
    let stored = reads
        .stored_due(id, now, i64::try_from(room + 1).unwrap_or(i64::MAX))
        .await?;
    let more_stored = stored.len() > room || (after.is_some() && !stored.is_empty());
    for (ticket_id, identity, position) in stored.into_iter().take(room) {
        due.push(Due {
            position,
            ticket_id,
            identity,
        });
    }
    let more = more_stored || upto < lazy.admitted_by(now);
    let plan = plan(c, cursor, upto, issued, serials, due, more, now);
    if plan.new_cursor == plan.old_cursor && plan.due.is_empty() {
        return Ok(None);
    }
    Ok(Some(plan))
}

/// Orders and bounds a batch. `due` holds drawn tickets (positions within `old_cursor..=upto`)
/// and tickets with a stored admission; at most the vouchers still available are issued, and
/// the cursor never passes a drawn ticket left out.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    c: &CampaignRow,
    old_cursor: u64,
    upto: u64,
    issued: u64,
    serials: u64,
    mut due: Vec<Due>,
    more: bool,
    now: DateTime<Utc>,
) -> Plan {
    // Drawn positions first (they are the earliest admissions), then stored ones by position.
    due.sort_by_key(|d| (d.position > upto || d.position <= old_cursor, d.position));
    let room = usize::try_from(c.spec.supply.saturating_sub(issued)).unwrap_or(usize::MAX);
    let mut new_cursor = upto;
    let mut more = more;
    if due.len() > room {
        more = true;
        due.truncate(room);
        // Stop the cursor at the last drawn ticket kept: the ones after it are planned again.
        if let Some(last) = due.iter().rev().find(|d| d.position > old_cursor && d.position <= upto) {
            new_cursor = last.position;
        } else {
            new_cursor = old_cursor;
        }
    }
    Plan {
        spec: c.spec.clone(),
        old_cursor,
        new_cursor,
        serials,
        issued,
        due,
        more,
        now: DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now),
    }
}

/// Signs every voucher of the plan (serials `serials + 1 ..`), outside any transaction, on up
/// to [`SIGNING_THREADS`] threads (about 20 us per signature).
pub fn sign_all(plan: &Plan, issuer: &Issuer) -> Result<Vec<VoucherRow>, StoreError> {
    let per = plan.due.len().div_ceil(SIGNING_THREADS).max(64);
    if plan.due.len() <= per {
        return sign_range(plan, issuer, 0, &plan.due);
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = plan
            .due
            .chunks(per)
            .enumerate()
            .map(|(k, chunk)| scope.spawn(move || sign_range(plan, issuer, k * per, chunk)))
            .collect();
        let mut out = Vec::with_capacity(plan.due.len());
        for p in parts {
            let part = p
                .join()
                .map_err(|_| StoreError::Sign("a signing thread panicked".into()))??;
            out.extend(part);
        }
        Ok(out)
    })
}

/// [`sign_all`] on a blocking thread, so a large batch does not stall the async runtime.
pub async fn sign_off_runtime(plan: &Plan, issuer: &Issuer) -> Result<Vec<VoucherRow>, StoreError> {
    let (plan, issuer) = (plan.clone(), issuer.clone());
    tokio::task::spawn_blocking(move || sign_all(&plan, &issuer))
        .await
        .map_err(|e| StoreError::Sign(format!("the signing task failed: {e}")))?
}

/// Threads [`sign_all`] uses for a large batch.
pub const SIGNING_THREADS: usize = 2;

fn sign_range(plan: &Plan, issuer: &Issuer, first: usize, due: &[Due]) -> Result<Vec<VoucherRow>, StoreError> {
    let s = &plan.spec;
    due.iter()
        .enumerate()
        .map(|(k, d)| {
            let serial = plan.serials + 1 + (first + k) as u64;
            let token = issuer
                .sign_voucher(&s.id, serial, s.amount, s.currency, s.voucher_expires_at, &d.identity)
                .map_err(|e| StoreError::Sign(e.to_string()))?;
            Ok(VoucherRow {
                campaign_id: s.id.clone(),
                serial,
                identity: d.identity,
                ticket_id: d.ticket_id.clone(),
                code: token.code(),
                token: token.text,
                kid: issuer.kid(),
                amount: s.amount,
                currency: s.currency_str(),
                issued_at: plan.now,
                expires_at: s.voucher_expires_at,
                redeemed_at: None,
                returned_at: None,
            })
        })
        .collect()
}

/// What [`drain`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    pub issued: u64,
    pub batches: u64,
    pub conflicts: u64,
}

/// Issues every batch of campaign `id` due at `now`, pipelined: while one batch commits (on
/// SQLite mostly the wait for its fsync), the next is planned from plain reads and signed. The
/// next plan assumes the commit succeeds; if it did not, the next commit fails its condition
/// (cursor and serials) and is planned again, so the pipeline never writes anything twice.
/// `on_batch` sees each committed batch.
pub async fn drain(
    store: &Store,
    issuer: &Issuer,
    id: &CampaignId,
    now: DateTime<Utc>,
    max: usize,
    mut on_batch: impl FnMut(&[VoucherRow]),
) -> Result<Drained, StoreError> {
    let mut done = Drained::default();
    let mut next: Option<(Plan, Vec<VoucherRow>)> = None;
    loop {
        let (plan, vouchers) = match next.take() {
            Some(p) => p,
            None => {
                let Some(plan) = store.plan_issue(id, now, max, None).await? else {
                    return Ok(done);
                };
                let vouchers = sign_off_runtime(&plan, issuer).await?;
                (plan, vouchers)
            }
        };
        let ahead = async {
            if !plan.more {
                return Ok::<_, StoreError>(None);
            }
            let Some(p) = store.plan_issue(id, now, max, Some(&plan)).await? else {
                return Ok(None);
            };
            let v = sign_off_runtime(&p, issuer).await?;
            Ok(Some((p, v)))
        };
        let (committed, ahead) = tokio::join!(store.commit_issue(&plan, vouchers), ahead);
        let batch = committed?;
        if batch.conflict {
            done.conflicts += 1;
            if done.conflicts > 16 {
                return Ok(done);
            }
            // The plan made ahead assumed this batch: drop it and plan afresh.
            continue;
        }
        done.batches += 1;
        done.issued += batch.issued.len() as u64;
        if !batch.issued.is_empty() {
            on_batch(&batch.issued);
        }
        next = ahead?;
        if next.is_none() && !batch.more {
            // A last plan without `after` picks up what a pipelined plan leaves (admissions
            // stored on tickets: late arrivals, returned vouchers).
            if let Some(plan) = store.plan_issue(id, now, max, None).await? {
                let vouchers = sign_off_runtime(&plan, issuer).await?;
                next = Some((plan, vouchers));
            } else {
                return Ok(done);
            }
        }
    }
}

/// Issues every due batch of campaign `c` now; returns how many vouchers this instance issued.
pub async fn pass(state: &AppState, c: &CampaignRow, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let id = &c.spec.id;
    let done = drain(state.store(), state.issuer(), id, now, BATCH, |vouchers| {
        for v in vouchers {
            state.forget_ticket(&v.campaign_id, &v.identity);
        }
        state.invalidate(id);
        state.metrics().issued_by_server(vouchers.len() as u64);
        // Committed: the push deriver picks these vouchers up from the store now.
        if let Some(push) = state.push() {
            push.wake.notify_one();
        }
        tracing::debug!(campaign = %id, vouchers = vouchers.len(), "issued a batch");
    })
    .await?;
    Ok(done.issued)
}

/// The issuer of this instance: passes over every open campaign until stopped.
pub async fn run(state: AppState, mut stopped: watch::Receiver<bool>) {
    loop {
        let campaigns = match state.campaigns().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(problem = %e.0, "issuer: cannot list campaigns");
                Vec::new()
            }
        };
        let now = state.now();
        for c in campaigns {
            if now < c.spec.opens_at || now >= c.spec.closes_at {
                continue;
            }
            if let Err(e) = pass(&state, &c, now).await {
                tracing::warn!(campaign = %c.spec.id, error = %e, "issuer pass failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(IDLE_PASS) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}
