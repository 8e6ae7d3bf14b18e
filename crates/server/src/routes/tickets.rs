//! `POST /v1/campaigns/{id}/tickets` (take or get my place) and `GET .../tickets/me` (status).

use super::{private, voucher_body};
use crate::extract::RawRequest;
use crate::problem::{ApiError, retry_after_secs};
use crate::schedule::{self, campaign_phase};
use crate::state::AppState;
use crate::store::{CampaignCounters, CampaignRow, TakeOutcome, TicketRow};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lineup_protocol::{CampaignId, CampaignPhase, Position, ProblemCode, TicketStatus, When};

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
    params(("id" = String, Path, description = "campaign id")),
    security(("lineup_signature" = [])),
    responses(
        (status = 201, description = "a new place in line", body = TicketStatus),
        (status = 200, description = "the place already held", body = TicketStatus),
        (status = 401, description = "not signed by a registered identity", body = lineup_protocol::Problem),
        (status = 404, description = "unknown campaign", body = lineup_protocol::Problem),
        (status = 409, description = "too early: the pre-queue is not open", body = lineup_protocol::Problem),
        (status = 410, description = "campaign closed", body = lineup_protocol::Problem),
    ))]
pub async fn take(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: RawRequest,
) -> Result<Response, ApiError> {
    let identity = req.identity(&state).await?;
    let id = campaign_id(&id)?;
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
    // A ticket this instance has seen is held: taking it again needs no database round trip.
    if let Some(t) = state.cached_ticket(&c, &identity, &counters, now) {
        return Ok(status_response(StatusCode::OK, status_body(&c, &t, &counters, now)));
    }
    let started = std::time::Instant::now();
    let (code, t) = match state.store().take_ticket(&id, &identity, now).await? {
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
pub async fn me(State(state): State<AppState>, Path(id): Path<String>, req: RawRequest) -> Result<Response, ApiError> {
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
