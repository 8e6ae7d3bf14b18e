//! `POST /v1/identities`: pre-registration, signed by the key being registered. Only the
//! public key and a digest of the contact are kept.

use crate::extract::RawRequest;
use crate::problem::ApiError;
use crate::state::AppState;
use crate::store::RegisterOutcome;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lineup_protocol::{ProblemCode, RegisterRequest, Registration};

#[utoipa::path(post, path = "/v1/identities", tag = "identities",
    request_body = RegisterRequest,
    security(("lineup_signature" = [])),
    responses(
        (status = 201, description = "registered", body = Registration),
        (status = 200, description = "this key already holds this contact", body = Registration),
        (status = 400, description = "malformed body or contact", body = lineup_protocol::Problem),
        (status = 401, description = "bad or stale signature", body = lineup_protocol::Problem),
        (status = 409, description = "contact held by another key", body = lineup_protocol::Problem),
        (status = 422, description = "consent missing", body = lineup_protocol::Problem),
    ))]
pub async fn register(State(state): State<AppState>, req: RawRequest) -> Result<Response, ApiError> {
    let key = req.signer(&state)?;
    let body: RegisterRequest = req.json()?;
    if !body.consent {
        return Err(ApiError::new(
            ProblemCode::ConsentRequired,
            "Registration needs the person's consent (consent: true).",
        ));
    }
    let now = state.now();
    let digest = body.contact.digest();
    // A repeat, or a contact already held, is answered from a read: only a new registration writes.
    let outcome = match state.store().register_precheck(&key, &digest).await? {
        Some(known) => known,
        None => state.store().register_identity(&key, digest, now).await?,
    };
    let (status, registered_at) = match outcome {
        RegisterOutcome::Created { registered_at } => (StatusCode::CREATED, registered_at),
        RegisterOutcome::Existing { registered_at } => (StatusCode::OK, registered_at),
        RegisterOutcome::ContactTaken => {
            return Err(ApiError::new(
                ProblemCode::ContactTaken,
                "This contact is registered to another identity (or this key to another contact).",
            ));
        }
    };
    Ok(super::private(
        (
            status,
            Json(Registration {
                identity: key,
                registered_at,
            }),
        )
            .into_response(),
    ))
}
