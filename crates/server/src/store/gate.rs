//! Refusals and replays answered from plain reads, before a request may take the write path.
//! Junk (a claim from an identity with no ticket, or naming another ticket, a claim repeated by
//! a voucher holder with fresh keys, a give-back of nothing, a registration already made) costs
//! reads only, on every backend alike: a write transaction (an fsync on SQLite's single writer, a
//! commit on PostgreSQL) is spent only on a request that may change something.
//!
//! Each answer here is one the write path would give too, read from committed state; where a
//! read could be overtaken (a draw or a release is due), the request goes the write way, which
//! decides again under its lock.

use super::{ClaimInput, ClaimOutcome, ClaimRefusal, GiveBackOutcome, RegisterOutcome, Store, StoreError};
use crate::schedule;
use chrono::{DateTime, Utc};
use lineup_protocol::{CampaignId, IdentityKey};

/// An identity row that shares a registration's key or contact digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub public_key: Vec<u8>,
    pub contact_digest: Vec<u8>,
    pub registered_at: DateTime<Utc>,
}

/// What a registration of `key` with `digest` gets given the rows that share either, or `None`
/// when there are none (a new registration). Shared by the read gate and both stores' writes.
pub fn registration_outcome(rows: &[Registered], key: &IdentityKey, digest: &[u8; 32]) -> Option<RegisterOutcome> {
    let first = rows.first()?;
    Some(
        if rows.len() == 1 && first.public_key == key.0 && first.contact_digest == digest[..] {
            RegisterOutcome::Existing {
                registered_at: first.registered_at,
            }
        } else {
            RegisterOutcome::ContactTaken
        },
    )
}

impl Store {
    /// What a claim gets without writing, or `None` when it must take the write path (it may be
    /// admitted, or a draw or release is due that could change its answer).
    pub async fn claim_precheck(
        &self,
        input: &ClaimInput,
        now: DateTime<Utc>,
    ) -> Result<Option<ClaimOutcome>, StoreError> {
        let id = &input.campaign_id;
        let Some(c) = self.campaign(id).await? else {
            return Ok(Some(ClaimOutcome::Refused(ClaimRefusal::UnknownCampaign)));
        };
        // The counters first: a draw or release only moves forward, so a ticket read after
        // counters that show the draw done shows it too (read the other way round, a ticket
        // from before the draw would meet counters from after it and look not admitted).
        let Some(k) = self.campaign_counters(id).await? else {
            return Ok(None);
        };
        let draw_due = !k.drawn && now >= c.spec.draw_at;
        let release_due = k.next_release_at.is_some_and(|r| r <= now);
        let Some(ticket) = self.ticket_status_row(id, &input.identity).await? else {
            return Ok(Some(ClaimOutcome::Refused(ClaimRefusal::NoTicket)));
        };
        if let Some(v) = ticket.voucher {
            // The holder asks again (a lost answer, or fresh keys): the voucher it holds, unless
            // this key was first used with another body. No key row is written for it.
            let first = self
                .idempotency_request_hash(id, &input.identity, &input.idempotency_key)
                .await?;
            return Ok(Some(match first {
                Some(hash) if hash != input.request_hash => ClaimOutcome::KeyMismatch,
                _ => ClaimOutcome::Existing(v),
            }));
        }
        if ticket.id != input.ticket_id {
            return Ok(Some(ClaimOutcome::Refused(ClaimRefusal::NoTicket)));
        }
        if draw_due || release_due {
            return Ok(None);
        }
        let view = schedule::ticket_view(&c.spec, &ticket, &k, now);
        Ok(super::refusal_for(&view, now).map(ClaimOutcome::Refused))
    }

    /// What a registration gets from a read: a repeat of a registration already made (200), or
    /// a contact or key already taken (409); `None` for a new one, which must write.
    pub async fn register_precheck(
        &self,
        key: &IdentityKey,
        digest: &[u8; 32],
    ) -> Result<Option<RegisterOutcome>, StoreError> {
        let rows = self.registrations_matching(key, digest).await?;
        Ok(registration_outcome(&rows, key, digest))
    }

    /// What a give-back gets from a read: no ticket, a voucher already used, or a place already
    /// given back (the call is idempotent); `None` when something is to be given back.
    pub async fn give_back_precheck(
        &self,
        id: &CampaignId,
        identity: &IdentityKey,
    ) -> Result<Option<GiveBackOutcome>, StoreError> {
        if self.campaign(id).await?.is_none() {
            return Ok(Some(GiveBackOutcome::UnknownCampaign));
        }
        let Some(t) = self.ticket_status_row(id, identity).await? else {
            return Ok(Some(GiveBackOutcome::NoTicket));
        };
        if t.voucher.as_ref().is_some_and(|v| v.redeemed_at.is_some()) {
            return Ok(Some(GiveBackOutcome::AlreadyRedeemed));
        }
        if t.returned_at.is_some() {
            return Ok(Some(GiveBackOutcome::Returned(Box::new(t))));
        }
        Ok(None)
    }
}
