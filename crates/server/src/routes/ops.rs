//! Operations and public keys: `/healthz`, `/metrics`, `/openapi.json`, `GET /v1/keys`, and the
//! problem+json answers for unknown routes and methods.

use crate::openapi::ApiDoc;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use lineup_protocol::{Health, KeysResponse, ProblemCode};
use utoipa::OpenApi;

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "the server is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
/// Renders what is in memory: the campaign figures are brought up to date by the background
/// tick (`crate::refresh_gauges`), so a scrape, however frequent, reads no database.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut resp = state.metrics().render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "this document", content_type = "application/json")))]
pub async fn openapi() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(text) => {
            let mut resp = text.into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            resp
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[utoipa::path(get, path = "/v1/keys", tag = "box office",
    responses((status = 200, description = "issuer public keys for offline verification", body = KeysResponse)))]
pub async fn keys(State(state): State<AppState>) -> Response {
    let mut resp = Json(state.issuer().keys_response()).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    resp
}

pub async fn not_found() -> ApiError {
    ApiError::new(ProblemCode::NotFound, "There is no such resource.")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ProblemCode::MethodNotAllowed,
        "This resource does not accept that method.",
    )
}
