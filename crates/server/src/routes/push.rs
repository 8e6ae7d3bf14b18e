//! Web Push subscriptions: `GET /v1/push/vapid` (the key pushes are signed with),
//! `POST /v1/push/subscriptions` (register or update one device, signed by the identity) and
//! `POST /v1/push/subscriptions/remove`. See docs/protocol.md, "Push subscriptions".

use crate::extract::RawRequest;
use crate::problem::ApiError;
use crate::push::PushHub;
use crate::push::endpoint::Endpoint;
use crate::state::AppState;
use crate::store::push::{NewSubscription, SubscribeOutcome};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lineup_protocol::ProblemCode;
use lineup_protocol::push::{
    PushSubscription, PushSubscriptionRequest, PushUnsubscribeRequest, PushUnsubscribed, VapidKey,
};
use std::sync::Arc;

fn hub(state: &AppState) -> Result<Arc<PushHub>, ApiError> {
    state
        .push()
        .cloned()
        .ok_or_else(|| ApiError::new(ProblemCode::NotFound, "Web Push is not enabled on this server."))
}

#[utoipa::path(get, path = "/v1/push/vapid", tag = "push",
    responses(
        (status = 200, description = "the VAPID public key (applicationServerKey)", body = VapidKey),
        (status = 404, description = "push is not enabled", body = lineup_protocol::Problem),
    ))]
pub async fn vapid(State(state): State<AppState>) -> Result<Response, ApiError> {
    let hub = hub(&state)?;
    Ok(Json(VapidKey {
        public_key: hub.vapid.public_key(),
    })
    .into_response())
}

fn b64(field: &str, s: &str, len: usize) -> Result<Vec<u8>, ApiError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| ApiError::new(ProblemCode::InvalidInput, format!("keys.{field} is not base64url.")))?;
    if bytes.len() != len {
        return Err(ApiError::new(
            ProblemCode::InvalidInput,
            format!("keys.{field} must be {len} bytes, not {}.", bytes.len()),
        ));
    }
    Ok(bytes)
}

#[utoipa::path(post, path = "/v1/push/subscriptions", tag = "push",
    request_body = PushSubscriptionRequest,
    security(("lineup_signature" = [])),
    responses(
        (status = 201, description = "registered", body = PushSubscription),
        (status = 200, description = "this endpoint was registered already: updated", body = PushSubscription),
        (status = 400, description = "malformed body, endpoint or keys", body = lineup_protocol::Problem),
        (status = 401, description = "not signed by a registered identity", body = lineup_protocol::Problem),
        (status = 409, description = "the identity holds the most subscriptions allowed", body = lineup_protocol::Problem),
    ))]
pub async fn subscribe(State(state): State<AppState>, req: RawRequest) -> Result<Response, ApiError> {
    let hub = hub(&state)?;
    let identity = req.identity(&state).await?;
    let body: PushSubscriptionRequest = req.json()?;
    let endpoint = Endpoint::parse(&body.endpoint, hub.config.allow_private_endpoints)
        .map_err(|e| ApiError::new(ProblemCode::InvalidInput, format!("endpoint: {e}.")))?;
    let p256dh: [u8; 65] = b64("p256dh", &body.keys.p256dh, 65)?
        .try_into()
        .map_err(|_| ApiError::new(ProblemCode::InvalidInput, "keys.p256dh must be 65 bytes."))?;
    let auth: [u8; 16] = b64("auth", &body.keys.auth, 16)?
        .try_into()
        .map_err(|_| ApiError::new(ProblemCode::InvalidInput, "keys.auth must be 16 bytes."))?;
    // Encrypting an empty message checks that p256dh is a point on P-256, as sending will.
    crate::push::webpush::encrypt(&p256dh, &auth, b"").map_err(|_| {
        ApiError::new(
            ProblemCode::InvalidInput,
            "keys.p256dh is not an uncompressed P-256 public key.",
        )
    })?;
    let now = state.now();
    let sub = NewSubscription {
        identity,
        endpoint: endpoint.url().to_string(),
        p256dh,
        auth,
        hide_code: body.hide_code,
        locale: body.locale,
    };
    let max = hub.config.max_subscriptions;
    match state.store().push_subscribe(&sub, now, max).await? {
        SubscribeOutcome::Stored { created_at, count, new } => {
            let status = if new { StatusCode::CREATED } else { StatusCode::OK };
            Ok(super::private(
                (
                    status,
                    Json(PushSubscription {
                        endpoint: sub.endpoint,
                        hide_code: sub.hide_code,
                        locale: sub.locale,
                        created_at,
                        subscriptions: count,
                        max_subscriptions: max,
                    }),
                )
                    .into_response(),
            ))
        }
        SubscribeOutcome::TooMany { count } => Err(ApiError::new(
            ProblemCode::TooManySubscriptions,
            format!(
                "This identity holds {count} push subscriptions, the most allowed ({max}); remove one (POST /v1/push/subscriptions/remove) first."
            ),
        )),
    }
}

#[utoipa::path(post, path = "/v1/push/subscriptions/remove", tag = "push",
    request_body = PushUnsubscribeRequest,
    security(("lineup_signature" = [])),
    responses(
        (status = 200, description = "removed, or was not registered to this identity", body = PushUnsubscribed),
        (status = 401, description = "not signed by a registered identity", body = lineup_protocol::Problem),
    ))]
pub async fn unsubscribe(State(state): State<AppState>, req: RawRequest) -> Result<Response, ApiError> {
    hub(&state)?;
    let identity = req.identity(&state).await?;
    let body: PushUnsubscribeRequest = req.json()?;
    // Stored endpoints are normalised URLs: compare the same form.
    let endpoint = reqwest::Url::parse(&body.endpoint)
        .map(|u| u.to_string())
        .unwrap_or(body.endpoint);
    let removed = state.store().push_unsubscribe(&identity, &endpoint).await?;
    Ok(super::private(Json(PushUnsubscribed { removed }).into_response()))
}
