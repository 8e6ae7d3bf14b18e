//! Request extraction at the boundary: bounded bodies, JSON with problem+json rejections,
//! the signed `Authorization: Lineup ...` header, and the staff bearer token.

use crate::problem::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
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
    /// Where the request was sent (`host[:port]`, from the URI or the `Host` header).
    pub authority: Option<String>,
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
        let authority = parts.uri.authority().map(|a| a.as_str().to_owned()).or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        });
        Ok(RawRequest {
            method: parts.method,
            authority,
            path_and_query,
            headers: parts.headers,
            body,
        })
    }
}

/// The `{id}` segment of a `/v1/campaigns/{id}...` path, percent-decoded. A segment that does
/// not decode to UTF-8 (`/v1/campaigns/%ff%fe`) cannot name a campaign: 404 `unknown_campaign`
/// as problem+json, like any other id that is not a campaign's (axum's own rejection would be
/// 400 text/plain). The handler parses the text as a `CampaignId` after authentication.
#[derive(Debug, Clone)]
pub struct CampaignPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CampaignPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(CampaignPath(id)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::new(
                ProblemCode::UnknownCampaign,
                "The campaign id in the path is not valid UTF-8 once percent-decoded: there is no such campaign.",
            )),
            Err(e) => Err(ApiError::internal(e)),
        }
    }
}

impl RawRequest {
    /// The body as `T`: 415 unless the content type is JSON, 400 `malformed_json` for bytes
    /// that are not a JSON object of the right shape (unknown fields included), 400
    /// `invalid_input` for a value that is refused.
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
        // Every request body is an object. serde would map a struct's fields by position from
        // an array (`["x@example.com", true]` as a registration), so anything else is refused.
        if !value.is_object() {
            return Err(ApiError::new(
                ProblemCode::MalformedJson,
                "The body must be a JSON object ({...}), not an array or a bare value.",
            ));
        }
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
        let origins = state.origins_for(self.authority.as_deref());
        match signed.verify(&origins, self.method.as_str(), &self.path_and_query, &self.body, now.timestamp()) {
            Ok(key) => match state.limits().check_identity(&key.0) {
                crate::limit::Verdict::Limited { retry_after_s, headers } => {
                    state.metrics().rate_limited(crate::limit::Policy::Identity);
                    Err(ApiError::rate_limited(retry_after_s, headers))
                }
                _ => Ok(key),
            },
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
            return Ok(key);
        }
        not_revoked(state, &key).await?;
        Err(ApiError::new(
            ProblemCode::UnknownIdentity,
            "This key is not registered: POST /v1/identities first.",
        ))
    }

    /// The `Authorization: Bearer <token>` value, if any.
    pub fn bearer(&self) -> Option<&str> {
        let v = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
    }

    /// A header's value as text; `None` when it is absent *or* not visible ASCII (see
    /// [`RawRequest::header_bytes`] to tell the two apart).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A header's raw value bytes, `None` only when the header is absent.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name).map(|v| v.as_bytes())
    }
}

/// Refuses a key that was replaced by its person's new device (401 `key_revoked`): it may never
/// sign again, not even to register anew.
pub async fn not_revoked(state: &AppState, key: &IdentityKey) -> Result<(), ApiError> {
    match state.store().revocation(key).await? {
        None => Ok(()),
        Some(r) => Err(ApiError::new(
            ProblemCode::KeyRevoked,
            format!(
                "This device's key was replaced at {} when its person proved the contact from a new device; it cannot sign again. To use this device, make a new key and register it.",
                r.moved.revoked_at.to_rfc3339()
            ),
        )),
    }
}
