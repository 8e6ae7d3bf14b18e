//! Registering a device with a server that verifies contacts, and "I changed phones": the
//! steps an app or CLI takes around `ApiClient::register_start` / `verify_code` that are not
//! HTTP. A key the server revoked (the person moved to another device) is replaced by a fresh
//! one and the call tried once more; after a move, the person's places in line are looked up
//! so the client can follow them.

use crate::api::{ApiClient, ApiError};
use crate::engine::{ClaimRecord, Phase};
use crate::identity::{Identity, IdentityError, SecretStore};
use crate::profile::Profile;
use lineup_protocol::{CampaignId, ProblemCode, TicketState, TicketStatus};
use std::future::Future;

/// Why a registration step failed.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// What a call made with [`with_live_key`] gave back.
#[derive(Debug)]
pub struct Signed<T> {
    /// The identity that made the successful call (a fresh one when the old key was revoked).
    pub identity: Identity,
    pub value: T,
    /// The old key was revoked and replaced before the call succeeded.
    pub renewed: bool,
}

/// Runs `call` signed by the identity for `server_url` (made on first use). When the server
/// says the key was revoked (`key_revoked`: the person moved to another device, and this one
/// is now asking again), the key is replaced by a fresh, unregistered one
/// ([`Identity::renew`]) and `call` runs once more with it. Any other failure is returned as is.
pub async fn with_live_key<T, F, Fut>(
    profile: &Profile,
    store: &dyn SecretStore,
    server_url: &str,
    mut call: F,
) -> Result<Signed<T>, EnrolError>
where
    F: FnMut(&Identity) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let identity = Identity::load_or_create(profile, store, server_url)?;
    match call(&identity).await {
        Ok(value) => Ok(Signed {
            identity,
            value,
            renewed: false,
        }),
        Err(e) if e.code() == Some(ProblemCode::KeyRevoked) => {
            tracing::info!(identity = %identity.public_key().to_b64(), "this key was revoked; making a new one");
            let identity = Identity::renew(profile, store, server_url)?;
            let value = call(&identity).await?;
            Ok(Signed {
                identity,
                value,
                renewed: true,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether a place that moved to this device is worth following with a claim: everything but
/// a place already given back (nothing more will happen to it).
pub fn worth_following(ticket: &TicketStatus) -> bool {
    ticket.state != TicketState::Returned
}

/// A claim record this device already had for a place that just moved (back) here: whether it
/// must run again to follow the place, and if so it is reset to start over (keeping its
/// idempotency key and ticket). That is a claim that failed (typically `key_revoked` while the
/// place was on the other device) or one holding a voucher the move signed again (its code is
/// void now). Any other record is followed as it is.
pub fn revive_for_moved(record: &mut ClaimRecord, ticket: &TicketStatus) -> bool {
    let stale = match record.phase {
        Phase::Failed => true,
        Phase::Holding => ticket
            .voucher
            .as_ref()
            .is_some_and(|v| record.voucher.as_ref().map(|r| &r.code) != Some(&v.code)),
        _ => false,
    };
    if stale {
        record.phase = Phase::Armed;
        record.error = None;
        record.parked = false;
        record.voucher = None;
    }
    stale
}

/// The person's places in line among `campaigns` (`GET .../tickets/me` for each), after a move:
/// the ones worth following. A campaign without a place (`no_ticket`, `unknown_campaign`) is
/// skipped; any other failure ends the search with that error, since a half list would hide
/// a place.
pub async fn places(api: &ApiClient, campaigns: &[CampaignId]) -> Result<Vec<TicketStatus>, ApiError> {
    let mut out = Vec::new();
    for id in campaigns {
        match api.ticket(id).await {
            Ok(t) if worth_following(&t) => out.push(t),
            Ok(_) => {}
            Err(e) if matches!(e.code(), Some(ProblemCode::NoTicket | ProblemCode::UnknownCampaign)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::MemoryStore;
    use lineup_protocol::Problem;
    use std::cell::RefCell;

    const SERVER: &str = "http://127.0.0.1:9";

    fn revoked() -> ApiError {
        ApiError::Problem {
            problem: Box::new(Problem::new(ProblemCode::KeyRevoked, "replaced")),
            retry_after: None,
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_revoked_key_is_replaced_once_and_the_call_repeated_with_the_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let profile = Profile::open(dir.path()).unwrap();
        let store = MemoryStore::new();
        let old = Identity::load_or_create(&profile, &store, SERVER).unwrap().public_key();
        let signers = RefCell::new(Vec::new());
        let out = block_on(with_live_key(&profile, &store, SERVER, |id| {
            signers.borrow_mut().push(id.public_key());
            let first = signers.borrow().len() == 1;
            async move { if first { Err(revoked()) } else { Ok("registered") } }
        }))
        .unwrap();
        let signers = signers.into_inner();
        assert_eq!(signers.len(), 2);
        assert_eq!(signers[0], old);
        assert_ne!(signers[1], old, "the retry is signed by a new key");
        assert!(out.renewed);
        assert_eq!(out.value, "registered");
        assert_eq!(out.identity.public_key(), signers[1]);
        // The old secret is gone; the new identity is the one the profile loads now.
        assert_eq!(store.get(&old.to_b64()).unwrap(), None);
        let now = Identity::load_for(&profile, &store, SERVER).unwrap().unwrap();
        assert_eq!(now.public_key(), signers[1]);
        assert_eq!(now.meta.registered_at, None, "a fresh key is not registered");
    }

    #[test]
    fn a_key_revoked_twice_gives_up_and_other_failures_keep_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let profile = Profile::open(dir.path()).unwrap();
        let store = MemoryStore::new();
        let calls = RefCell::new(0);
        let err = block_on(with_live_key(&profile, &store, SERVER, |_| {
            *calls.borrow_mut() += 1;
            async { Err::<(), _>(revoked()) }
        }))
        .unwrap_err();
        assert_eq!(*calls.borrow(), 2, "one retry, not a loop");
        assert!(matches!(err, EnrolError::Api(e) if e.code() == Some(ProblemCode::KeyRevoked)));

        let before = Identity::load_for(&profile, &store, SERVER)
            .unwrap()
            .unwrap()
            .public_key();
        let err = block_on(with_live_key(&profile, &store, SERVER, |_| async {
            Err::<(), _>(ApiError::Problem {
                problem: Box::new(Problem::new(ProblemCode::WrongCode, "no")),
                retry_after: None,
            })
        }))
        .unwrap_err();
        assert!(matches!(err, EnrolError::Api(e) if e.code() == Some(ProblemCode::WrongCode)));
        let after = Identity::load_for(&profile, &store, SERVER)
            .unwrap()
            .unwrap()
            .public_key();
        assert_eq!(before, after, "only a revoked key is replaced");
    }

    /// Ticket `tk-1` of campaign `demo` in `state`, without a voucher.
    fn ticket_at(state: TicketState, now: chrono::DateTime<chrono::Utc>) -> TicketStatus {
        TicketStatus {
            campaign_id: "demo".parse().unwrap(),
            ticket_id: "tk-1".into(),
            state,
            joined_at: now,
            in_draw: true,
            auto_issue: true,
            position: None,
            ahead: None,
            waitlist: None,
            admit_at: None,
            admit_until: None,
            check_at: None,
            voucher: None,
            server_time: now,
        }
    }

    #[test]
    fn a_failed_claim_or_a_voided_voucher_starts_again_for_a_moved_place() {
        let now = chrono::Utc::now();
        let ticket = |voucher: Option<lineup_protocol::Voucher>| TicketStatus {
            voucher,
            ..ticket_at(TicketState::Claimed, now)
        };
        let voucher = |seed: &str| lineup_protocol::Voucher {
            campaign_id: "demo".parse().unwrap(),
            serial: 7,
            code: lineup_protocol::VoucherCode::derive(seed.as_bytes()),
            token: "t".into(),
            amount: 6000,
            currency: "KRW".into(),
            kid: 1,
            issued_at: now,
            expires_at: now,
            status: lineup_protocol::VoucherStatus::Unused,
            redeemed_at: None,
        };
        let old = voucher("old token");
        let new = voucher("token signed again");
        assert_ne!(old.code, new.code);
        let mut r = ClaimRecord::new("demo".parse().unwrap(), "key-1".into());
        r.ticket_id = Some("tk-1".into());

        r.phase = Phase::Failed;
        r.error = Some(crate::engine::FailReason {
            code: "key_revoked".into(),
            message: "replaced".into(),
        });
        assert!(revive_for_moved(&mut r, &ticket(None)));
        assert_eq!((r.phase, r.error.clone()), (Phase::Armed, None));
        assert_eq!(
            (r.idempotency_key.as_str(), r.ticket_id.as_deref()),
            ("key-1", Some("tk-1")),
            "the same claim, not a new one"
        );

        r.phase = Phase::Holding;
        r.voucher = Some(old.clone());
        assert!(
            !revive_for_moved(&mut r, &ticket(Some(old.clone()))),
            "the same voucher: nothing to do"
        );
        assert!(revive_for_moved(&mut r, &ticket(Some(new))), "signed again: fetch it");
        assert_eq!((r.phase, r.voucher.clone()), (Phase::Armed, None));

        r.phase = Phase::InLine;
        assert!(
            !revive_for_moved(&mut r, &ticket(None)),
            "still going: followed as it is"
        );
    }

    #[test]
    fn places_given_back_are_not_followed() {
        let mut t = ticket_at(TicketState::InLine, chrono::Utc::now());
        assert!(worth_following(&t));
        t.state = TicketState::Claimed;
        assert!(worth_following(&t), "a voucher that moved is followed to the wallet");
        t.state = TicketState::Returned;
        assert!(!worth_following(&t));
    }
}
