//! Request extraction at the boundary: bounded bodies, JSON with problem+json rejections,
//! the signed `Authorization: Lineup ...` header, and the staff bearer token.

use crate::problem::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, header};
use lineup_protocol::auth::{AuthError, SignedHeader};
use lineup_protocol::{IdentityKey, ProblemCode};
use serde::de::DeserializeOwned;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 16 * 1024;

/// A request's method, path, headers and whole body (at most [`BODY_LIMIT`] bytes).
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

fn too_large() -> ApiError {
    ApiError::new(
        ProblemCode::PayloadTooLarge,
        format!("The request body is larger than {BODY_LIMIT} bytes."),
    )
}

impl<S: Send + Sync> FromRequest<S> for RawRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
            return Err(too_large());
        }
        let body = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| too_large())?;
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| parts.uri.path().to_owned());
        Ok(RawRequest {
            method: parts.method,
            path_and_query,
            headers: parts.headers,
            body,
        })
    }
}

impl RawRequest {
    /// The body as `T`: 415 unless the content type is JSON, 400 `malformed_json` for bytes
    /// that are not JSON of the right shape, 400 `invalid_input` for a value that is refused.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let ct = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if essence != "application/json" {
            return Err(ApiError::new(
                ProblemCode::UnsupportedMediaType,
                "Send the body as Content-Type: application/json.",
            ));
        }
        let value: serde_json::Value = serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::new(ProblemCode::MalformedJson, format!("The body is not JSON: {e}.")))?;
        serde_json::from_value(value).map_err(|e| {
            // Wrong shape (type, missing or unknown field) is malformed for this endpoint; a value
            // of the right shape that a newtype refuses (e.g. a contact) is invalid input.
            let msg = e.to_string();
            let shape = [
                "invalid type",
                "missing field",
                "unknown field",
                "invalid length",
                "unknown variant",
            ]
            .iter()
            .any(|p| msg.starts_with(p));
            let code = if shape {
                ProblemCode::MalformedJson
            } else {
                ProblemCode::InvalidInput
            };
            ApiError::new(code, format!("The body was refused: {msg}."))
        })
    }

    /// Checks the `Authorization: Lineup ...` signature over this request and returns the
    /// signing key (registered or not).
    pub fn signer(&self, state: &AppState) -> Result<IdentityKey, ApiError> {
        let now = state.now();
        let Some(value) = self.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::new(
                ProblemCode::Unauthenticated,
                "Sign the request: Authorization: Lineup key=..., ts=..., sig=...",
            ));
        };
        let value = value
            .to_str()
            .map_err(|_| ApiError::new(ProblemCode::Unauthenticated, "The Authorization header is not ASCII."))?;
        let signed =
            SignedHeader::parse(value).map_err(|e| ApiError::new(ProblemCode::Unauthenticated, e.to_string()))?;
        match signed.verify(self.method.as_str(), &self.path_and_query, &self.body, now.timestamp()) {
            Ok(key) => Ok(key),
            Err(AuthError::Stale { ts, server_ts }) => Err(ApiError::new(
                ProblemCode::StaleSignature,
                format!(
                    "The request was signed at {ts}, {} s from the server's time {server_ts}; correct the clock offset from server_time and sign again.",
                    ts - server_ts
                ),
            )
            .server_time(now)),
            Err(e) => Err(ApiError::new(ProblemCode::BadSignature, e.to_string())),
        }
    }

    /// Like [`RawRequest::signer`], and the key must be a registered identity.
    pub async fn identity(&self, state: &AppState) -> Result<IdentityKey, ApiError> {
        let key = self.signer(state)?;
        if state.identity_known(&key).await? {
            Ok(key)
        } else {
            Err(ApiError::new(
                ProblemCode::UnknownIdentity,
                "This key is not registered: POST /v1/identities first.",
            ))
        }
    }

    /// The `Authorization: Bearer <token>` value, if any.
    pub fn bearer(&self) -> Option<&str> {
        let v = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}
