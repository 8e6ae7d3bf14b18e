//! Registration as the UI sees it (docs/app-ipc.md `register`, `verify_code`): registered at
//! once, or a one-time code sent to the contact and proved with `verify_code`, optionally
//! moving the person's registration, places in line and vouchers here from another device.
//! The non-Tauri steps live in `lineup_core::enrol`.

use crate::claims;
use crate::error::{AppError, CmdResult, ErrorCode};
use crate::shell::EVENT_WALLET_CHANGED;
use crate::state::AppState;
use lineup_core::api::RegisterStep;
use lineup_core::driver::{FileRecordStore, RecordStore};
use lineup_core::enrol::{places, revive_for_moved, with_live_key};
use lineup_core::identity::{Identity, contact_hint};
use lineup_protocol::{Contact, MovedHere, OneTimeCode, ProblemCode, Registration};
use serde::Serialize;

/// What `register` and `verify_code` answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Registered: the identity's status, what moved here (only after `move_here`), and the
    /// campaigns whose place in line now follows on this device.
    Registered {
        identity: crate::commands::IdentityStatus,
        moved: Option<MovedHere>,
        places: Vec<String>,
    },
    /// A code went to the contact; `verify_code` finishes.
    CodeSent {
        expires_in_s: u64,
        code_length: u8,
        attempts: u32,
        contact_hint: String,
    },
}

/// First step: registered at once, or a code sent. A key the server revoked is replaced and
/// the request sent once more with the new one.
pub async fn start(state: &AppState, contact: Contact, consent: bool) -> CmdResult<Step> {
    let store = state.secret_store()?;
    let server_url = state.server_url();
    let api = state.api()?;
    let signed = with_live_key(&state.profile, store.as_ref(), &server_url, |id| {
        let api = api.clone().with_identity(id.signing_key().clone());
        let contact = contact.clone();
        async move { api.register_start(contact, consent).await }
    })
    .await?;
    match signed.value {
        RegisterStep::Registered(reg, _created) => finish(state, signed.identity, &contact, reg).await,
        RegisterStep::CodeSent(sent) => {
            let hint = contact_hint(&contact);
            state.set_pending_contact(Some(contact));
            Ok(Step::CodeSent {
                expires_in_s: sent.expires_in_s,
                code_length: sent.code_length,
                attempts: sent.attempts,
                contact_hint: hint,
            })
        }
    }
}

/// Second step: the code the contact received. `move_here` takes the contact over from the
/// device that holds it (without it, such a contact is `contact_taken` and the code stays
/// pending, so the same code may be sent again with `move_here`).
pub async fn verify(state: &AppState, code: OneTimeCode, move_here: bool) -> CmdResult<Step> {
    let Some(contact) = state.pending_contact() else {
        return Err(AppError::new(
            ErrorCode::Problem(ProblemCode::NoPendingCode),
            "No code is waiting on this device: ask for a new one.",
        ));
    };
    let identity = state.identity_or_create()?;
    let api = state.api()?.with_identity(identity.signing_key().clone());
    let (reg, _created) = api
        .verify_code(code, move_here)
        .await
        .map_err(|e| state.noticed(e.into()))?;
    finish(state, identity, &contact, reg).await
}

/// Records the registration; after a move, takes in the vouchers (new tokens) and follows the
/// places in line that came with it.
async fn finish(state: &AppState, mut identity: Identity, contact: &Contact, reg: Registration) -> CmdResult<Step> {
    // The identity now belongs to this server (a person may move to another one later).
    identity.meta.server_url = state.server_url();
    identity
        .mark_registered(&state.profile, contact, reg.registered_at)
        .map_err(|e| AppError::internal(e.to_string()))?;
    state.set_pending_contact(None);
    tracing::info!(identity = %identity.public_key().to_b64(), moved = reg.moved.is_some(), "registered");
    let mut followed = Vec::new();
    if let Some(moved) = &reg.moved {
        take_in_moved(state, moved, &mut followed).await;
    }
    Ok(Step::Registered {
        identity: crate::commands::status_of(state)?,
        moved: reg.moved,
        places: followed,
    })
}

/// After a move: the wallet from the server (re-signed vouchers replace nothing here yet, or
/// replace the void copies of an earlier stay on this device), then a claim for every place
/// found, so the line screen shows it. Failures are logged: the registration stands, the
/// wallet refresh and the campaign list pick the rest up later.
async fn take_in_moved(state: &AppState, moved: &MovedHere, followed: &mut Vec<String>) {
    let api = match state.signed_api() {
        Ok(api) => api,
        Err(e) => {
            tracing::warn!(error = %e, "registered, but cannot sign to fetch what moved");
            return;
        }
    };
    let wallet = state.wallet();
    match wallet.refresh(&api).await {
        Ok(_) => match wallet.entries(chrono::Utc::now()) {
            Ok(entries) => state
                .shell
                .emit_json(EVENT_WALLET_CHANGED, serde_json::to_value(&entries).unwrap_or_default()),
            Err(e) => tracing::warn!(error = %e, "cannot read the wallet"),
        },
        Err(e) => tracing::warn!(error = %e, "cannot fetch the vouchers that moved"),
    }
    if moved.tickets == 0 && moved.vouchers == 0 {
        return;
    }
    let ids = match api.campaigns().await {
        Ok(list) => {
            state.remember_campaigns(&list.campaigns);
            list.campaigns.into_iter().map(|c| c.id).collect::<Vec<_>>()
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot list campaigns to find the places that moved");
            return;
        }
    };
    let found = match places(&api, &ids).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look up the places that moved");
            return;
        }
    };
    let store = FileRecordStore::new(&state.profile, &state.server_url());
    for ticket in found {
        let id = ticket.campaign_id.clone();
        // A claim this device ran for the place before it moved away ended failed (or holds a
        // voucher that is void now): start it over to follow the place.
        if let Ok(Some(mut record)) = store.load(&id)
            && revive_for_moved(&mut record, &ticket)
        {
            if let Err(e) = store.save(&record) {
                tracing::warn!(campaign = %id, error = %e, "cannot restart the claim of a place that moved here");
            }
            state.forget_progress(&id);
        }
        match claims::arm(state, id.clone()).await {
            Ok(p) => {
                tracing::info!(campaign = %id, phase = ?p.phase, "following a place that moved here");
                followed.push(id.to_string());
            }
            Err(e) => tracing::warn!(campaign = %id, error = %e, "cannot follow a place that moved here"),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{FakeServer, fresh_voucher, open_campaign, registration, returned_ticket, test_app};
    use serde_json::{Value, json};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn code_sent() -> (u16, String) {
        (
            202,
            json!({"status": "verification_sent", "expires_in_s": 600, "code_length": 6, "attempts": 5}).to_string(),
        )
    }

    fn problem(code: lineup_protocol::ProblemCode, detail: &str, attempts_left: Option<u32>) -> (u16, String) {
        let mut p = lineup_protocol::Problem::new(code, detail);
        p.attempts_left = attempts_left;
        (p.status, serde_json::to_string(&p).unwrap())
    }

    fn not_found() -> (u16, String) {
        problem(lineup_protocol::ProblemCode::NotFound, "x", None)
    }

    /// Answers the n-th request (0-based) of one kind from `answers`, repeating the last.
    fn nth(counter: &AtomicUsize, answers: &[(u16, String)]) -> (u16, String) {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        answers[n.min(answers.len() - 1)].clone()
    }

    #[test]
    fn a_code_is_asked_for_then_a_wrong_one_counts_down_and_the_right_one_registers() {
        use lineup_protocol::ProblemCode::WrongCode;
        let verifies = Arc::new(AtomicUsize::new(0));
        let v = verifies.clone();
        let server = FakeServer::start(move |method, path| match (method, path) {
            ("POST", "/v1/identities") => code_sent(),
            ("POST", "/v1/identities/verify") => nth(
                &v,
                &[
                    problem(WrongCode, "Wrong code; 4 more may be tried.", Some(4)),
                    (201, registration()),
                ],
            ),
            _ => not_found(),
        });
        let app = test_app(&server.url);
        let step = app
            .invoke("register", json!({"contact": "+82 10-1234-5678", "consent": true}))
            .unwrap();
        assert_eq!(
            step,
            json!({"step": "code_sent", "expires_in_s": 600, "code_length": 6, "attempts": 5,
                   "contact_hint": step["contact_hint"]})
        );
        assert!(
            step["contact_hint"]
                .as_str()
                .is_some_and(|h| h.ends_with("5678") && h.contains('*')),
            "{step}"
        );
        assert_eq!(app.invoke("identity_status", json!({})).unwrap()["registered"], false);

        let err = app
            .invoke("verify_code", json!({"code": "12345", "move_here": false}))
            .unwrap_err();
        assert_eq!(err["code"], "invalid_input", "{err}");
        assert_eq!(server.count("POST /v1/identities/verify"), 0, "refused before sending");
        let err = app
            .invoke("verify_code", json!({"code": "111 111", "move_here": false}))
            .unwrap_err();
        assert_eq!(err["code"], "wrong_code", "{err}");
        assert_eq!(err["attempts_left"], 4, "{err}");
        let done = app
            .invoke("verify_code", json!({"code": "123-456", "move_here": false}))
            .unwrap();
        assert_eq!(done["step"], "registered", "{done}");
        assert_eq!(done["moved"], Value::Null, "{done}");
        assert_eq!(done["places"], json!([]), "{done}");
        assert_eq!(done["identity"]["registered"], true, "{done}");
        assert_eq!(done["identity"], app.invoke("identity_status", json!({})).unwrap());
        // The code went out as six digits, without asking for a move.
        assert_eq!(
            server.bodies("POST /v1/identities/verify"),
            vec![r#"{"code":"111111"}"#.to_owned(), r#"{"code":"123456"}"#.to_owned()]
        );
        // The contact is forgotten once registered.
        let err = app
            .invoke("verify_code", json!({"code": "123456", "move_here": false}))
            .unwrap_err();
        assert_eq!(err["code"], "no_pending_code", "{err}");
        assert_eq!(server.count("POST /v1/identities/verify"), 2);
    }

    #[test]
    fn a_revoked_key_is_replaced_and_the_registration_asked_again() {
        use lineup_protocol::ProblemCode::KeyRevoked;
        let posts = Arc::new(AtomicUsize::new(0));
        let p = posts.clone();
        let server = FakeServer::start(move |method, path| match (method, path) {
            ("POST", "/v1/identities") => nth(&p, &[problem(KeyRevoked, "replaced", None), code_sent()]),
            _ => not_found(),
        });
        let app = test_app(&server.url);
        let old = app.state().identity_or_create().unwrap().public_key();
        let step = app
            .invoke("register", json!({"contact": "kim@example.com", "consent": true}))
            .unwrap();
        assert_eq!(step["step"], "code_sent", "{step}");
        assert_eq!(server.count("POST /v1/identities"), 2);
        let now = app.invoke("identity_status", json!({})).unwrap();
        assert_ne!(now["identity"], json!(old.to_b64()), "a new key asked the second time");
        assert_eq!(now["registered"], false);
    }

    #[test]
    fn a_revoked_key_seen_by_the_wallet_is_told_and_replaced() {
        use lineup_protocol::ProblemCode::KeyRevoked;
        let server = FakeServer::start(|method, path| match (method, path) {
            ("POST", "/v1/identities") => (201, registration()),
            ("GET", "/v1/keys") => (200, json!({"keys": []}).to_string()),
            ("GET", "/v1/vouchers") => problem(KeyRevoked, "This key was replaced", None),
            _ => not_found(),
        });
        let app = test_app(&server.url);
        crate::tests::register(&app);
        let before = app.invoke("identity_status", json!({})).unwrap();
        assert_eq!(before["registered"], true);
        let err = app.invoke("refresh_wallet", json!({})).unwrap_err();
        assert_eq!(err["code"], "key_revoked", "{err}");
        let after = app.invoke("identity_status", json!({})).unwrap();
        assert_eq!(after["registered"], false, "registration is offered again: {after}");
        assert_ne!(after["identity"], before["identity"]);
    }

    #[test]
    fn moving_here_after_contact_taken_brings_the_voucher_and_follows_the_place_again() {
        use lineup_protocol::ProblemCode::ContactTaken;
        let verifies = Arc::new(AtomicUsize::new(0));
        let v = verifies.clone();
        let campaign = open_campaign();
        let list = json!({"campaigns": [campaign.clone()], "server_time": chrono::Utc::now()}).to_string();
        let campaign = serde_json::to_string(&campaign).unwrap();
        let claimed = {
            let mut t: lineup_protocol::TicketStatus =
                serde_json::from_str(&returned_ticket(Some(fresh_voucher()))).unwrap();
            t.state = lineup_protocol::TicketState::Claimed;
            serde_json::to_string(&t).unwrap()
        };
        let moved = {
            let mut r: Value = serde_json::from_str(&registration()).unwrap();
            r["moved"] =
                json!({"revoked_at": "2026-12-01T22:00:00Z", "tickets": 1, "vouchers": 1, "vouchers_reissued": 1});
            r.to_string()
        };
        let server = FakeServer::start(move |method, path| match (method, path) {
            ("POST", "/v1/identities") => code_sent(),
            ("POST", "/v1/identities/verify") => nth(
                &v,
                &[problem(ContactTaken, "held by another key", None), (201, moved.clone())],
            ),
            ("GET", "/v1/campaigns") => (200, list.clone()),
            ("GET", "/v1/campaigns/demo") => (200, campaign.clone()),
            ("GET", "/v1/campaigns/demo/tickets/me") | ("POST", "/v1/campaigns/demo/tickets") => (200, claimed.clone()),
            ("GET", "/v1/keys") => (200, json!({"keys": []}).to_string()),
            ("GET", "/v1/vouchers") => (200, json!({"vouchers": [fresh_voucher()]}).to_string()),
            _ => not_found(),
        });
        let app = test_app(&server.url);
        // This device once held the place, and its claim failed when the place moved away.
        crate::tests::save_record(&app, lineup_core::engine::Phase::Failed, true, false);
        let wallet_events = app.events("wallet-changed");
        app.invoke("register", json!({"contact": "kim@example.com", "consent": true}))
            .unwrap();
        let err = app
            .invoke("verify_code", json!({"code": "123456", "move_here": false}))
            .unwrap_err();
        assert_eq!(err["code"], "contact_taken", "{err}");
        // The same code again, now moving here.
        let done = app
            .invoke("verify_code", json!({"code": "123456", "move_here": true}))
            .unwrap();
        assert_eq!(done["step"], "registered", "{done}");
        assert_eq!(done["moved"]["tickets"], 1, "{done}");
        assert_eq!(done["moved"]["vouchers_reissued"], 1, "{done}");
        assert_eq!(done["places"], json!(["demo"]), "{done}");
        assert_eq!(
            server.bodies("POST /v1/identities/verify"),
            vec![
                r#"{"code":"123456"}"#.to_owned(),
                r#"{"code":"123456","move_here":true}"#.to_owned()
            ]
        );
        // The wallet was refetched and the UI told.
        let entries = wallet_events.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(entries[0]["voucher"]["code"], json!(fresh_voucher().code), "{entries}");
        assert!(server.count("GET /v1/vouchers") >= 1);
        assert_eq!(server.count("GET /v1/campaigns/demo/tickets/me"), 1);
        // The place is followed: its claim ends holding the voucher that moved.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let p = app.invoke("claim_status", json!({"campaign_id": "demo"})).unwrap();
            if p["phase"] == "holding" {
                assert_eq!(p["voucher"]["code"], json!(fresh_voucher().code), "{p}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the moved place was not followed: {p}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
