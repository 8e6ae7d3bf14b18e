//! `POST /v1/campaigns/{id}/claim`: exactly one voucher per identity and campaign, with
//! Idempotency-Key semantics. The store commits the voucher before this answers.

use super::tickets::campaign_id;
use super::{private, voucher_body};
use crate::extract::{CampaignPath, RawRequest};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::store::{ClaimInput, ClaimOutcome, ClaimRefusal};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lineup_protocol::{ClaimRequest, IDEMPOTENCY_KEY_HEADER, ProblemCode, Voucher};
use sha2::Digest;

/// An `Idempotency-Key` value: 1-64 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses the header's raw bytes: absent is 400 `idempotency_key_required`; present but
    /// not 1-64 bytes in `!`..`~` (spaces, non-ASCII bytes) is 400 `invalid_input`.
    pub fn parse(raw: Option<&[u8]>) -> Result<Self, ApiError> {
        let Some(raw) = raw else {
            return Err(ApiError::new(
                ProblemCode::IdempotencyKeyRequired,
                "Send an Idempotency-Key header: a random value made and stored before the first attempt.",
            ));
        };
        let valid = !raw.is_empty() && raw.len() <= 64 && raw.iter().all(|b| (0x21..=0x7e).contains(b));
        match std::str::from_utf8(raw) {
            Ok(text) if valid => Ok(IdempotencyKey(text.to_owned())),
            _ => Err(ApiError::new(
                ProblemCode::InvalidInput,
                "The Idempotency-Key must be 1-64 printable ASCII characters without spaces.",
            )),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[utoipa::path(post, path = "/v1/campaigns/{id}/claim", tag = "claim",
    params(
        ("id" = String, Path, description = "campaign id"),
        ("Idempotency-Key" = String, Header, description = "1-64 printable ASCII characters, made before the first attempt"),
    ),
    request_body = ClaimRequest,
    security(("lineup_signature" = [])),
    responses(
        (status = 201, description = "the voucher, committed", body = Voucher),
        (status = 200, description = "the voucher already issued to this identity (replay)", body = Voucher),
        (status = 400, description = "no Idempotency-Key (idempotency_key_required), one that is not 1-64 printable ASCII characters (invalid_input), or a malformed body", body = lineup_protocol::Problem),
        (status = 401, description = "not signed by a registered identity", body = lineup_protocol::Problem),
        (status = 404, description = "unknown campaign or no such ticket for this identity", body = lineup_protocol::Problem),
        (status = 409, description = "not admitted yet (check_at), or the same key is in flight", body = lineup_protocol::Problem),
        (status = 410, description = "admission expired, sold out, or campaign closed", body = lineup_protocol::Problem),
        (status = 422, description = "the key was used with another body", body = lineup_protocol::Problem),
    ))]
pub async fn claim(
    State(state): State<AppState>,
    CampaignPath(id): CampaignPath,
    req: RawRequest,
) -> Result<Response, ApiError> {
    let identity = req.identity(&state).await?;
    let id = campaign_id(&id)?;
    let c = state.campaign(&id).await?;
    let key = IdempotencyKey::parse(req.header_bytes(IDEMPOTENCY_KEY_HEADER))?;
    let body: ClaimRequest = req.json()?;
    let canonical = serde_json::to_vec(&body).map_err(ApiError::internal)?;
    let input = ClaimInput {
        campaign_id: id.clone(),
        identity,
        ticket_id: body.ticket_id,
        idempotency_key: key.0,
        request_hash: sha2::Sha256::digest(&canonical).into(),
    };
    // The claim is carried out by the campaign's claim worker together with the others waiting
    // (crate::batch): if this request times out or the client goes away, it still
    // finishes and a retry with the same key gets its result. The store reads the clock itself,
    // under the write lock: the time this request arrived may be before `admit_until` while
    // the claim runs after it.
    let (campaign, holder) = (input.campaign_id.clone(), input.identity);
    let outcome = state.claim(input).await?;
    if let ClaimOutcome::Issued(_) | ClaimOutcome::Existing(_) = &outcome {
        // This instance's next status shows the voucher.
        state.forget_ticket(&campaign, &holder);
    }
    // Delays in the answer (`check_at.in_ms`) count from this response, not from the arrival.
    let now = state.now();
    let answer = |status: StatusCode, v: &crate::store::VoucherRow| -> Response {
        private((status, Json(voucher_body(v, now))).into_response())
    };
    match outcome {
        ClaimOutcome::Issued(v) => {
            state.invalidate(&id);
            tracing::info!(campaign = %id, serial = v.serial, "voucher issued");
            Ok(answer(StatusCode::CREATED, &v))
        }
        ClaimOutcome::Existing(v) => Ok(answer(StatusCode::OK, &v)),
        ClaimOutcome::KeyMismatch => Err(ApiError::new(
            ProblemCode::IdempotencyKeyMismatch,
            "This Idempotency-Key was first used with a different body.",
        )),
        ClaimOutcome::InFlight => Err(ApiError::new(
            ProblemCode::RequestInFlight,
            "The first request with this Idempotency-Key is still running; retry shortly.",
        )
        .retry_after(1)),
        ClaimOutcome::Refused(r) => Err(match r {
            ClaimRefusal::UnknownCampaign => {
                ApiError::new(ProblemCode::UnknownCampaign, format!("There is no campaign {id}."))
            }
            ClaimRefusal::NoTicket => ApiError::new(
                ProblemCode::NoTicket,
                "This identity holds no ticket with that id in this campaign.",
            ),
            ClaimRefusal::NotAdmitted { check_at } => {
                ApiError::new(ProblemCode::NotAdmitted, "It is not this ticket's turn yet.").check_at(check_at, now)
            }
            ClaimRefusal::AdmissionExpired => ApiError::new(
                ProblemCode::AdmissionExpired,
                "The admission window passed without a claim; the voucher went back to the line.",
            ),
            ClaimRefusal::Returned => ApiError::new(ProblemCode::Returned, "This place was given back."),
            ClaimRefusal::SoldOut => ApiError::new(ProblemCode::SoldOut, "Every voucher has been issued."),
            ClaimRefusal::CampaignClosed => {
                let _ = &c;
                ApiError::new(ProblemCode::CampaignClosed, "The campaign is closed.")
            }
        }),
    }
}
