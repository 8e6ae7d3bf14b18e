//! `POST /v1/identities` and `POST /v1/identities/verify`: registration, signed by the key being
//! registered. Only the public key and a keyed digest of the contact are kept.
//!
//! With verification on, the first call sends a one-time code and answers 202 alike whether or
//! not the contact is held by someone (no one learns who is registered); the second proves the
//! contact with the code, and only then is a contact held by another key named (409).

use crate::extract::RawRequest;
use crate::problem::ApiError;
use crate::state::AppState;
use crate::store::RegisterOutcome;
use crate::store::recovery::MoveOutcome;
use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lineup_protocol::{
    IdentityKey, MovedHere, ProblemCode, RegisterRequest, Registration, VerificationSent, VerificationSentStatus,
    VerifyRequest,
};
use std::net::{IpAddr, SocketAddr};

/// The client's address as the rate limits see it (`None` for in-process requests).
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(ClientAddr(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(
            |ConnectInfo(peer)| state.limits().client_key(peer.ip(), &parts.headers),
        )))
    }
}

#[utoipa::path(post, path = "/v1/identities", tag = "identities",
    request_body = RegisterRequest,
    security(("lineup_signature" = [])),
    responses(
        (status = 201, description = "registered (servers that do not verify contacts)", body = Registration),
        (status = 200, description = "this key already holds this contact", body = Registration),
        (status = 202, description = "a one-time code was sent to the contact (the same answer whether or not someone holds it)", body = VerificationSent),
        (status = 400, description = "malformed body or contact, or a kind of contact this server cannot reach", body = lineup_protocol::Problem),
        (status = 401, description = "bad or stale signature, or a key revoked when its person moved to a new device (key_revoked)", body = lineup_protocol::Problem),
        (status = 409, description = "this key holds another contact (or, without verification, the contact is held by another key)", body = lineup_protocol::Problem),
        (status = 422, description = "consent missing", body = lineup_protocol::Problem),
        (status = 502, description = "the code could not be sent", body = lineup_protocol::Problem),
    ))]
pub async fn register(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    req: RawRequest,
) -> Result<Response, ApiError> {
    let key = req.signer(&state)?;
    crate::extract::not_revoked(&state, &key).await?;
    let body: RegisterRequest = req.json()?;
    if !body.consent {
        return Err(ApiError::new(
            ProblemCode::ConsentRequired,
            "Registration needs the person's consent (consent: true).",
        ));
    }
    let now = state.now();
    let ck = state.contact_key().await?;
    let digest = ck.digest(&body.contact);
    // A row stored with the plain digest before migration 0009 moves to the keyed one now.
    state.store().rekey_legacy(&body.contact.digest(), &digest).await?;
    let verifier = state.verifier();
    if !verifier.enabled() {
        // No verification: registered at once. A repeat, or a contact already held, is answered
        // from a read: only a new registration writes.
        let outcome = match state.store().register_precheck(&key, &digest).await? {
            Some(known) => known,
            None => state.store().register_identity(&key, digest, now).await?,
        };
        return registered(key, outcome, None);
    }
    // What this key itself holds may be told (it is the signer's own registration); whether
    // another key holds the contact is not looked at here, so the answer cannot show it.
    let rows = state.store().registrations_matching(&key, &digest).await?;
    if let Some(mine) = rows.iter().find(|r| r.public_key == key.0) {
        if mine.contact_digest == digest[..] {
            return registered(
                key,
                RegisterOutcome::Existing {
                    registered_at: mine.registered_at,
                },
                state.store().moved_to(&key).await?,
            );
        }
        return Err(ApiError::new(
            ProblemCode::ContactTaken,
            "This key is registered with another contact.",
        ));
    }
    if !verifier.reaches(body.contact.kind()) {
        return Err(ApiError::new(
            ProblemCode::InvalidInput,
            "This server cannot send codes to this kind of contact (it verifies e-mail addresses or phone numbers only): use the other kind.",
        ));
    }
    if let Err(wait) = verifier.check_address(addr) {
        return Err(too_many(wait, "Too many codes were asked for from this address"));
    }
    let config = verifier.config();
    if let Err(wait) = state.store().reserve_send(&digest, &config.per_contact, now).await? {
        return Err(too_many(wait, "A code was sent to this contact recently"));
    }
    let code = fresh_code()?;
    let ttl = chrono::Duration::from_std(config.code_ttl).unwrap_or(chrono::Duration::minutes(10));
    state
        .store()
        .put_pending(
            &key,
            &digest,
            &ck.code_hash(&key, &code),
            config.max_attempts,
            now + ttl,
        )
        .await?;
    if let Err(e) = verifier.send(&body.contact, &code).await {
        tracing::warn!(error = %e, kind = ?body.contact.kind(), "cannot send a one-time code");
        return Err(ApiError::new(
            ProblemCode::DeliveryFailed,
            "The code could not be sent; ask again shortly.",
        )
        .retry_after(config.per_contact.min_gap.as_secs().max(1)));
    }
    Ok(super::private(
        (
            StatusCode::ACCEPTED,
            Json(VerificationSent {
                status: VerificationSentStatus::VerificationSent,
                expires_in_s: config.code_ttl.as_secs(),
                code_length: lineup_protocol::ONE_TIME_CODE_LEN as u8,
                attempts: config.max_attempts,
            }),
        )
            .into_response(),
    ))
}

#[utoipa::path(post, path = "/v1/identities/verify", tag = "identities",
    request_body = VerifyRequest,
    security(("lineup_signature" = [])),
    responses(
        (status = 201, description = "the code proved the contact: registered (with move_here and another key holding the contact: moved here, `moved` says what)", body = Registration),
        (status = 200, description = "this key is already registered (a repeat)", body = Registration),
        (status = 400, description = "malformed body (a code is 6 digits)", body = lineup_protocol::Problem),
        (status = 401, description = "bad or stale signature, or a key revoked when its person moved to a new device (key_revoked)", body = lineup_protocol::Problem),
        (status = 409, description = "the code proved the contact, but another key holds it: the code stays pending; send it again with move_here to move the contact here (docs/protocol.md, \"Moving to a new device\")", body = lineup_protocol::Problem),
        (status = 410, description = "no code pending for this key (none sent, expired, or too many wrong codes)", body = lineup_protocol::Problem),
        (status = 422, description = "wrong code; attempts_left says how many more may be tried", body = lineup_protocol::Problem),
    ))]
pub async fn verify(State(state): State<AppState>, req: RawRequest) -> Result<Response, ApiError> {
    let key = req.signer(&state)?;
    crate::extract::not_revoked(&state, &key).await?;
    let body: VerifyRequest = req.json()?;
    let now = state.now();
    let ck = state.contact_key().await?;
    let Some(pending) = state.store().take_attempt(&key, now).await? else {
        // A repeat after a lost answer finds the registration made (and what moved with it).
        if let Some(at) = state.store().registered_at(&key).await? {
            return registered(
                key,
                RegisterOutcome::Existing { registered_at: at },
                state.store().moved_to(&key).await?,
            );
        }
        return Err(ApiError::new(
            ProblemCode::NoPendingCode,
            "No code is pending for this key: it expired, too many wrong codes were tried, or none was asked for. Ask for a new one with POST /v1/identities.",
        ));
    };
    if !ck.code_matches(&key, body.code.as_str(), &pending.code_hash) {
        if pending.attempts_left == 0 {
            state.store().clear_pending(&key).await?;
        }
        let mut e = ApiError::new(
            ProblemCode::WrongCode,
            if pending.attempts_left == 0 {
                "Wrong code, and no tries are left: the code is void. Ask for a new one.".to_owned()
            } else {
                format!("Wrong code; {} more may be tried.", pending.attempts_left)
            },
        );
        e.0.attempts_left = Some(pending.attempts_left);
        return Err(e);
    }
    let digest: [u8; 32] = pending
        .contact_digest
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::internal("pending contact digest is not 32 bytes"))?;
    // The code proved the contact: only now may the answer say it is held by another key.
    let known = state.store().register_precheck(&key, &digest).await?;
    if matches!(known, Some(RegisterOutcome::ContactTaken)) {
        if !body.move_here {
            // The code stays pending, and this try (a right code) is given back: the person
            // may send it again with move_here at no cost.
            state.store().refund_attempt(&key).await?;
            return Err(ApiError::new(
                ProblemCode::ContactTaken,
                "This contact is registered to another device's key. If it is yours (a new phone, a wiped keyring), send the same code again with move_here: true: that key is revoked and your places in line and vouchers move to this one.",
            ));
        }
        // The move deletes the pending code in its own transaction: a move that fails leaves
        // the code for the retry.
        match state.store().move_identity(&digest, &key, state.issuer(), now).await? {
            MoveOutcome::Moved {
                old,
                registered_at,
                moved,
            } => {
                state.forget_identity(&old);
                state.metrics().identity_moved();
                tracing::info!(
                    tickets = moved.tickets,
                    vouchers = moved.vouchers,
                    "identity moved to a new device key"
                );
                return registered(key, RegisterOutcome::Created { registered_at }, Some(moved));
            }
            // Released (or taken by this key) meanwhile: an ordinary registration below.
            MoveOutcome::Unheld | MoveOutcome::AlreadyRegistered => {}
        }
    }
    // The store decides again in its own write (a contact released or taken meanwhile, after a
    // move that found nothing to move).
    let outcome = match known {
        Some(RegisterOutcome::ContactTaken) | None => state.store().register_identity(&key, digest, now).await?,
        Some(known) => known,
    };
    // Only once registered: a registration that fails leaves the code for the retry (and a
    // code left after a success is harmless: a repeat answers the registration made).
    state.store().clear_pending(&key).await?;
    let moved = match outcome {
        RegisterOutcome::Existing { .. } => state.store().moved_to(&key).await?,
        _ => None,
    };
    registered(key, outcome, moved)
}

fn registered(key: IdentityKey, outcome: RegisterOutcome, moved: Option<MovedHere>) -> Result<Response, ApiError> {
    let (status, registered_at): (StatusCode, DateTime<Utc>) = match outcome {
        RegisterOutcome::Created { registered_at } => (StatusCode::CREATED, registered_at),
        RegisterOutcome::Existing { registered_at } => (StatusCode::OK, registered_at),
        RegisterOutcome::ContactTaken => {
            return Err(ApiError::new(
                ProblemCode::ContactTaken,
                "This contact is registered to another identity (or this key to another contact). On a server that verifies contacts, its person can move it to a new key (docs/protocol.md, \"Moving to a new device\").",
            ));
        }
    };
    Ok(super::private(
        (
            status,
            Json(Registration {
                identity: key,
                registered_at,
                moved,
            }),
        )
            .into_response(),
    ))
}

fn too_many(wait_s: u64, what: &str) -> ApiError {
    ApiError::new(ProblemCode::RateLimited, format!("{what}; ask again in {wait_s} s.")).retry_after(wait_s)
}

/// A six-digit code from the operating system's random source, without bias.
fn fresh_code() -> Result<String, ApiError> {
    loop {
        let words: [u8; 16] = crate::issuer::random_bytes().map_err(ApiError::internal)?;
        let words = words
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        if let Some(code) = crate::verify::policy::code_from_words(words) {
            return Ok(code);
        }
    }
}
