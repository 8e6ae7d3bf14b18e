//! The router and its protective layers: a limit on the size of the request's header fields
//! (431 `headers_too_large`), per-address rate limits (429 `rate_limited`, see
//! [`crate::limit`]), a global concurrency limit with load shedding (503 `overloaded` +
//! `Retry-After`), a request timeout (503 `timeout`), request metrics, and problem+json for
//! unknown routes and methods.

use crate::problem::ApiError;
use crate::routes;
use crate::state::AppState;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{BoxError, Router};
use lineup_protocol::ProblemCode;
use std::time::{Duration, Instant};
use tower::ServiceBuilder;

/// Limits of the protective layers.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests handled at once under `/v1`; more are shed at once.
    pub max_concurrency: usize,
    /// Longest time a `/v1` request may take.
    pub request_timeout: Duration,
    /// How long a request's body may take to arrive. Bodies are read before a request takes one
    /// of the `max_concurrency` slots, so slow uploads hold connections (capped on their own),
    /// not the API.
    pub body_timeout: Duration,
    /// Whether `/metrics` is served here (false when it has a listener of its own).
    pub metrics_here: bool,
}

/// Reads the whole body (at most [`crate::extract::BODY_LIMIT`] bytes, within `deadline`) before
/// the request goes further, so that a body sent a byte at a time never holds a concurrency slot
/// while signatures are checked and the database is read.
async fn buffer_body(deadline: Duration, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let limit = crate::extract::BODY_LIMIT;
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::new(
            ProblemCode::PayloadTooLarge,
            format!("The request body is larger than {limit} bytes."),
        )
        .into_response()
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let bytes = match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return too_large(),
        Err(_) => {
            return ApiError::new(
                ProblemCode::BodyTimeout,
                format!("The request body did not arrive within {} ms.", deadline.as_millis()),
            )
            .into_response();
        }
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// Largest total size of a request's header fields (every name and value, in bytes), on every
/// route. hyper's own limits are far higher (about 448 KiB of header section, 100 fields) and
/// answer with an empty 431; this one answers with problem+json.
pub const HEADERS_LIMIT: usize = 16 * 1024;

/// Refuses a request whose header fields total more than [`HEADERS_LIMIT`] bytes.
async fn limit_headers(req: Request, next: Next) -> Response {
    let total: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if total > HEADERS_LIMIT {
        return ApiError::new(
            ProblemCode::HeadersTooLarge,
            format!("The request's header fields total {total} bytes; at most {HEADERS_LIMIT} are accepted."),
        )
        .into_response();
    }
    next.run(req).await
}

/// Counts a `/v1` request against its address's budget before anything else is done for it (its
/// body is not read, no concurrency slot is taken): 429 `rate_limited` past the budget, and the
/// limit's header fields on every answer. Requests without a peer address (in-process `oneshot`
/// tests) are not counted.
async fn limit_address(State(state): State<AppState>, req: Request, next: Next) -> Response {
    use crate::limit::Verdict;
    if !req.uri().path().starts_with("/v1/") {
        return next.run(req).await;
    }
    let Some(peer) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        return next.run(req).await;
    };
    match state.limits().check_address(peer, req.headers()) {
        Verdict::Unlimited => next.run(req).await,
        Verdict::Allowed(headers) => {
            let mut resp = next.run(req).await;
            // A refusal by the identity limit already describes that limit.
            if !resp.headers().contains_key("ratelimit") {
                headers.apply(resp.headers_mut());
            }
            resp
        }
        Verdict::Limited { retry_after_s, headers } => {
            state.metrics().rate_limited(crate::limit::Policy::Address);
            ApiError::rate_limited(retry_after_s, headers).into_response()
        }
    }
}

/// `Retry-After` for shed requests: short, clients add jitter.
const SHED_RETRY_S: u64 = 1;

/// The metrics label of a path: the route template, so label values stay few.
pub fn route_label(path: &str) -> &'static str {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["healthz"] => "/healthz",
        ["metrics"] => "/metrics",
        ["openapi.json"] => "/openapi.json",
        ["v1", "keys"] => "/v1/keys",
        ["v1", "campaigns"] => "/v1/campaigns",
        ["v1", "campaigns", _] => "/v1/campaigns/{id}",
        ["v1", "campaigns", _, "tickets"] => "/v1/campaigns/{id}/tickets",
        ["v1", "campaigns", _, "tickets", "me"] => "/v1/campaigns/{id}/tickets/me",
        ["v1", "campaigns", _, "claim"] => "/v1/campaigns/{id}/claim",
        ["v1", "identities"] => "/v1/identities",
        ["v1", "vouchers"] => "/v1/vouchers",
        ["v1", "redemptions"] => "/v1/redemptions",
        _ => "other",
    }
}

async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = route_label(req.uri().path());
    let method = req.method().clone();
    let start = Instant::now();
    let resp = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    state.metrics().record_request(route, status, secs);
    tracing::debug!(%method, route, status, ms = secs * 1000.0, "request");
    resp
}

/// The API under `/v1` with its fallbacks (no protective layers).
fn api(state: AppState) -> Router {
    Router::new()
        .route("/v1/keys", get(routes::ops::keys))
        .route("/v1/campaigns", get(routes::campaigns::list))
        .route("/v1/campaigns/{id}", get(routes::campaigns::get))
        .route("/v1/campaigns/{id}/tickets", post(routes::tickets::take))
        .route("/v1/campaigns/{id}/tickets/me", get(routes::tickets::me))
        .route("/v1/campaigns/{id}/tickets/me/return", post(routes::tickets::give_back))
        .route("/v1/campaigns/{id}/claim", post(routes::claim::claim))
        .route("/v1/identities", post(routes::identities::register))
        .route("/v1/vouchers", get(routes::vouchers::list))
        .route("/v1/redemptions", post(routes::redemptions::redeem))
        .fallback(routes::ops::not_found)
        .method_not_allowed_fallback(routes::ops::method_not_allowed)
        .with_state(state)
}

/// `/metrics` alone, for a listener of its own (`--metrics-addr`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(routes::ops::metrics))
        .fallback(routes::ops::not_found)
        .with_state(state)
}

/// The whole application. The concurrency limit wraps the API as one service (a layer on each
/// route would give each route its own limit); operations endpoints stay outside it so health
/// checks and scrapes answer during a surge. `/metrics` is left out when `limits.metrics_here`
/// is false (it is served on a listener of its own).
pub fn router(state: AppState, limits: Limits) -> Router {
    let metrics = state.metrics().clone();
    let body_timeout = limits.body_timeout;
    let guarded = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(move |err: BoxError| {
            let metrics = metrics.clone();
            async move { overload_problem(&metrics, err) }
        }))
        .load_shed()
        .concurrency_limit(limits.max_concurrency.max(1))
        .timeout(limits.request_timeout)
        .service(api(state.clone()));
    let mut app = Router::new().route("/healthz", get(routes::ops::healthz));
    if limits.metrics_here {
        app = app.route("/metrics", get(routes::ops::metrics));
    }
    app.route("/openapi.json", get(routes::ops::openapi))
        .fallback_service(guarded)
        .method_not_allowed_fallback(routes::ops::method_not_allowed)
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            buffer_body(body_timeout, req, next)
        }))
        .layer(middleware::from_fn_with_state(state.clone(), limit_address))
        .layer(middleware::from_fn(limit_headers))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

fn overload_problem(metrics: &crate::metrics::Metrics, err: BoxError) -> Response {
    if err.is::<tower::load_shed::error::Overloaded>() {
        metrics.shed();
        ApiError::new(
            ProblemCode::Overloaded,
            "The server is at capacity; retry after the time given.",
        )
        .retry_after(SHED_RETRY_S)
        .into_response()
    } else if err.is::<tower::timeout::error::Elapsed>() {
        metrics.timeout();
        ApiError::new(
            ProblemCode::Timeout,
            "The request took too long; retry after the time given.",
        )
        .retry_after(SHED_RETRY_S)
        .into_response()
    } else {
        ApiError::internal(err).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_are_templates() {
        assert_eq!(
            route_label("/v1/campaigns/demo/tickets/me"),
            "/v1/campaigns/{id}/tickets/me"
        );
        assert_eq!(route_label("/v1/campaigns/x/claim"), "/v1/campaigns/{id}/claim");
        assert_eq!(route_label("/v1/nope/at/all/really"), "other");
    }
}
