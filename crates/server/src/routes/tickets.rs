//! `POST /v1/campaigns/{id}/tickets` (take or get my place) and `GET .../tickets/me` (status).

use super::{private, voucher_body};
use crate::extract::{CampaignPath, RawRequest};
use crate::problem::{ApiError, retry_after_secs};
use crate::routes::claim::IdempotencyKey;
use crate::schedule::{self, campaign_phase};
use crate::state::AppState;
use crate::store::{CampaignCounters, CampaignRow, GiveBackOutcome, TakeOutcome, TicketRow};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lineup_protocol::{
    CampaignId, CampaignPhase, IDEMPOTENCY_KEY_HEADER, Position, ProblemCode, TakeTicketRequest, TicketStatus, When,
};

/// Parses the `{id}` path segment.
pub fn campaign_id(raw: &str) -> Result<CampaignId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::new(ProblemCode::UnknownCampaign, format!("There is no campaign {raw:?}.")))
}

/// The wire status of a ticket at `now`.
pub fn status_body(c: &CampaignRow, t: &TicketRow, counters: &CampaignCounters, now: DateTime<Utc>) -> TicketStatus {
    let v = schedule::ticket_view(&c.spec, t, counters, now);
    TicketStatus {
        campaign_id: c.spec.id.clone(),
        ticket_id: t.id.clone(),
        state: v.state,
        joined_at: t.joined_at,
        in_draw: t.in_draw,
        auto_issue: t.auto_issue,
        position: v.position.map(Position),
        ahead: v.ahead,
        waitlist: v.waitlist,
        admit_at: v.admit_at.map(|a| When::new(a, now)),
        admit_until: v.admit_until.map(|a| When::new(a, now)),
        check_at: v.check_at.map(|a| When::new(a, now)),
        voucher: t.voucher.as_ref().map(|v| voucher_body(v, now)),
        server_time: now,
    }
}

/// A status response with `Retry-After` set to `check_at`'s delay.
pub fn status_response(status: StatusCode, body: TicketStatus) -> Response {
    let retry = body.check_at.map(|w| retry_after_secs(w.in_ms));
    let mut resp = private((status, Json(body)).into_response());
    if let Some(secs) = retry {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

#[utoipa::path(post, path = "/v1/campaigns/{id}/tickets", tag = "waiting room",
    params(
        ("id" = String, Path, description = "campaign id"),
        ("Idempotency-Key" = Option<String>, Header, description = "required with auto_issue: 1-64 printable ASCII characters, made and stored before the first attempt"),
    ),
    request_body(content = Option<TakeTicketRequest>, description = "optional (protocol 1.1): {\"auto_issue\": true} opts in to server-side issuance"),
    security(("lineup_signature" = [])),
    responses(
        (status = 201, description = "a new place in line", body = TicketStatus),
        (status = 400, description = "malformed body, or auto_issue without an Idempotency-Key", body = lineup_protocol::Problem),
        (status = 200, description = "the place already held", body = TicketStatus),
        (status = 401, description = "not signed by a registered identity", body = lineup_protocol::Problem),
        (status = 404, description = "unknown campaign", body = lineup_protocol::Problem),
        (status = 409, description = "too early: the pre-queue is not open", body = lineup_protocol::Problem),
        (status = 410, description = "campaign closed", body = lineup_protocol::Problem),
    ))]
pub async fn take(
    State(state): State<AppState>,
    CampaignPath(id): CampaignPath,
    req: RawRequest,
) -> Result<Response, ApiError> {
    let identity = req.identity(&state).await?;
    let id = campaign_id(&id)?;
    // Protocol 1.0 clients send no body; 1.1 clients may opt in to server-side issuance.
    let body: TakeTicketRequest = if req.body.is_empty() {
        TakeTicketRequest::default()
    } else {
        req.json()?
    };
    // A key that is sent must be well-formed, with or without auto_issue (as documented).
    let raw = req.header_bytes(IDEMPOTENCY_KEY_HEADER);
    let key = raw.map(|raw| IdempotencyKey::parse(Some(raw))).transpose()?;
    let auto_key = match (body.auto_issue, key) {
        (false, _) => None,
        (true, Some(key)) => Some(key.into_inner()),
        (true, None) => {
            return Err(ApiError::new(
                ProblemCode::AutoIssueKeyRequired,
                "Opting in to server-side issuance needs an Idempotency-Key header made before the first attempt.",
            ));
        }
    };
    let c = state.campaign(&id).await?;
    let now = state.now();
    let counters = state.settle(&c, now).await?;
    match campaign_phase(&c.spec, &counters, now) {
        CampaignPhase::Upcoming => {
            return Err(ApiError::new(ProblemCode::TooEarly, "The pre-queue is not open yet.")
                .check_at(c.spec.prequeue_opens_at, now));
        }
        CampaignPhase::Closed => {
            // A held ticket still answers (its final state); a new one cannot be taken.
            if let Some(t) = state.ticket(&c, &identity, &counters, now).await? {
                return Ok(status_response(StatusCode::OK, status_body(&c, &t, &counters, now)));
            }
            return Err(ApiError::new(ProblemCode::CampaignClosed, "The campaign is closed."));
        }
        _ => {}
    }
    // A ticket this instance has seen is held: taking it again needs no database round trip
    // (unless it opts in now).
    if let Some(t) = state.cached_ticket(&c, &identity, &counters, now)
        && (auto_key.is_none() || t.auto_issue)
    {
        return Ok(status_response(StatusCode::OK, status_body(&c, &t, &counters, now)));
    }
    let started = std::time::Instant::now();
    if auto_key.is_some() {
        state.forget_ticket(&id, &identity);
    }
    // Joins waiting together share one write transaction (crate::batch).
    let join = crate::store::JoinInput {
        campaign_id: id.clone(),
        identity,
        auto_issue: auto_key,
        now,
    };
    let (code, t) = match state.join(join).await? {
        TakeOutcome::Created(t) => (StatusCode::CREATED, t),
        TakeOutcome::Existing(t) => (StatusCode::OK, t),
        TakeOutcome::UnknownCampaign => {
            return Err(ApiError::new(
                ProblemCode::UnknownCampaign,
                format!("There is no campaign {id}."),
            ));
        }
    };
    let t = state.remember_ticket(&c, t, started, now);
    if code == StatusCode::CREATED {
        state.invalidate(&id);
        tracing::debug!(campaign = %id, ticket = %t.id, position = ?t.position, "ticket taken");
    }
    let counters = state.counters(&id).await?;
    Ok(status_response(code, status_body(&c, &t, &counters, now)))
}

#[utoipa::path(get, path = "/v1/campaigns/{id}/tickets/me", tag = "waiting room",
    params(("id" = String, Path, description = "campaign id")),
    security(("lineup_signature" = [])),
    responses(
        (status = 200, description = "the ticket's status; Retry-After gives check_at's delay", body = TicketStatus),
        (status = 401, description = "not signed by a registered identity", body = lineup_protocol::Problem),
        (status = 404, description = "unknown campaign, or no ticket held", body = lineup_protocol::Problem),
    ))]
pub async fn me(
    State(state): State<AppState>,
    CampaignPath(id): CampaignPath,
    req: RawRequest,
) -> Result<Response, ApiError> {
    let identity = req.identity(&state).await?;
    let id = campaign_id(&id)?;
    let c = state.campaign(&id).await?;
    let now = state.now();
    let counters = state.settle(&c, now).await?;
    let Some(t) = state.ticket(&c, &identity, &counters, now).await? else {
        return Err(ApiError::new(
            ProblemCode::NoTicket,
            "This identity has no place in this line: POST .../tickets first.",
        ));
    };
    Ok(status_response(StatusCode::OK, status_body(&c, &t, &counters, now)))
}

#[utoipa::path(post, path = "/v1/campaigns/{id}/tickets/me/return", tag = "waiting room",
    params(("id" = String, Path, description = "campaign id")),
    security(("lineup_signature" = [])),
    responses(
        (status = 200, description = "the place or its unredeemed voucher is given back (state `returned`); idempotent", body = TicketStatus),
        (status = 401, description = "not signed by a registered identity", body = lineup_protocol::Problem),
        (status = 404, description = "unknown campaign, or no ticket held", body = lineup_protocol::Problem),
        (status = 409, description = "the voucher was already redeemed", body = lineup_protocol::Problem),
    ))]
pub async fn give_back(
    State(state): State<AppState>,
    CampaignPath(id): CampaignPath,
    req: RawRequest,
) -> Result<Response, ApiError> {
    let identity = req.identity(&state).await?;
    let id = campaign_id(&id)?;
    let c = state.campaign(&id).await?;
    let now = state.now();
    // Nothing to give back (no ticket, already given back, already used) is answered from a read.
    let outcome = match state.store().give_back_precheck(&id, &identity).await? {
        Some(known) => known,
        None => {
            state.forget_ticket(&id, &identity);
            state.store().give_back(&id, &identity, now).await?
        }
    };
    let t = match outcome {
        GiveBackOutcome::Returned(t) => *t,
        GiveBackOutcome::AlreadyRedeemed => {
            return Err(ApiError::new(
                ProblemCode::AlreadyRedeemed,
                "This voucher was already used at the box office; it cannot be given back.",
            ));
        }
        GiveBackOutcome::NoTicket => {
            return Err(ApiError::new(
                ProblemCode::NoTicket,
                "This identity has no place in this line.",
            ));
        }
        GiveBackOutcome::UnknownCampaign => {
            return Err(ApiError::new(
                ProblemCode::UnknownCampaign,
                format!("There is no campaign {id}."),
            ));
        }
    };
    state.forget_ticket(&id, &identity);
    state.invalidate(&id);
    tracing::info!(campaign = %id, ticket = %t.id, "place given back");
    let counters = state.fresh_counters(&id).await?;
    Ok(status_response(StatusCode::OK, status_body(&c, &t, &counters, now)))
}
