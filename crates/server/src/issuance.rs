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
use crate::issuer::Issuer;
use crate::state::AppState;
use crate::store::{CampaignRow, IssueBatch, StoreError, TicketRow, VoucherRow};
use chrono::{DateTime, Duration, Utc};
use lineup_protocol::IdentityKey;
use serde::Serialize;
use std::time::Duration as StdDuration;
use tokio::sync::watch;

/// Vouchers per transaction at most. Signing one takes about 20 us, so a full batch is signed
/// in about 20 ms: long enough to amortise the commit, short enough not to stall the runtime.
pub const BATCH: usize = 1000;

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
    /// Tickets to issue, in admission order.
    pub due: Vec<Due>,
    /// More was due than this batch holds.
    pub more: bool,
    /// The issuance instant written on every voucher of the batch.
    pub now: DateTime<Utc>,
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
        due,
        more,
        now: DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now),
    }
}

/// Signs every voucher of the plan (serials `serials + 1 ..`), outside any transaction.
pub fn sign_all(plan: &Plan, issuer: &Issuer) -> Result<Vec<VoucherRow>, StoreError> {
    let s = &plan.spec;
    plan.due
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let serial = plan.serials + 1 + k as u64;
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

#[derive(Serialize)]
struct Row<'a> {
    serial: u64,
    identity: String,
    ticket_id: &'a str,
    token: &'a str,
    code: String,
    kid: u32,
    amount: u32,
    currency: &'a str,
    issued_at: i64,
    expires_at: i64,
}

/// The batch as one JSON array, so a backend inserts it with a single statement.
pub fn rows_json(vouchers: &[VoucherRow]) -> Result<String, serde_json::Error> {
    let rows: Vec<Row<'_>> = vouchers
        .iter()
        .map(|v| Row {
            serial: v.serial,
            identity: hex(&v.identity.0),
            ticket_id: &v.ticket_id,
            token: &v.token,
            code: v.code.compact(),
            kid: v.kid,
            amount: v.amount,
            currency: &v.currency,
            issued_at: v.issued_at.timestamp_millis(),
            expires_at: v.expires_at.timestamp_millis(),
        })
        .collect();
    serde_json::to_string(&rows)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Issues every due batch of campaign `c` now; returns how many vouchers this instance issued.
pub async fn pass(state: &AppState, c: &CampaignRow, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let mut total = 0;
    // Conflicts mean another writer moved first; a bounded number of re-plans per pass.
    let mut conflicts = 0;
    loop {
        let batch: IssueBatch = state.store().issue_due(&c.spec.id, state.issuer(), now, BATCH).await?;
        if batch.conflict {
            conflicts += 1;
            if conflicts > 8 {
                return Ok(total);
            }
            continue;
        }
        total += batch.issued.len();
        if !batch.issued.is_empty() {
            for v in &batch.issued {
                state.forget_ticket(&v.campaign_id, &v.identity);
            }
            state.invalidate(&c.spec.id);
            state.metrics().issued_by_server(batch.issued.len() as u64);
            tracing::debug!(campaign = %c.spec.id, vouchers = batch.issued.len(), "issued a batch");
        }
        if !batch.more {
            return Ok(total);
        }
    }
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
