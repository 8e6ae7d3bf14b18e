//! Errors as HTTP responses: every refusal is an `application/problem+json` body with a stable
//! machine code (`lineup_protocol::ProblemCode`), and `Retry-After` when the client should wait.

use crate::limit::LimitHeaders;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lineup_protocol::problem::PROBLEM_CONTENT_TYPE;
use lineup_protocol::{Problem, ProblemCode, When};

/// A problem on its way to the client (with the rate limit's header fields when it is one).
#[derive(Debug, Clone)]
pub struct ApiError(pub Box<Problem>, Option<Box<LimitHeaders>>);

impl ApiError {
    pub fn new(code: ProblemCode, detail: impl Into<String>) -> Self {
        ApiError(Box::new(Problem::new(code, detail)), None)
    }

    /// 429 `rate_limited`: wait `retry_after_s`; `headers` describe the limit.
    pub fn rate_limited(retry_after_s: u64, headers: LimitHeaders) -> Self {
        let mut e = ApiError::new(
            ProblemCode::RateLimited,
            format!("Too many requests; retry after {retry_after_s} s (see the RateLimit header fields)."),
        )
        .retry_after(retry_after_s);
        e.1 = Some(Box::new(headers));
        e
    }

    /// Tells the client when to ask again (also as `Retry-After`).
    pub fn check_at(mut self, at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        let when = When::new(at, now);
        self.0.check_at = Some(when);
        self.0.retry_after_s = Some(retry_after_secs(when.in_ms));
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.0.retry_after_s = Some(secs);
        self
    }

    pub fn server_time(mut self, now: DateTime<Utc>) -> Self {
        self.0.server_time = Some(now);
        self
    }

    pub fn first_redeemed_at(mut self, at: DateTime<Utc>) -> Self {
        self.0.first_redeemed_at = Some(at);
        self
    }

    /// An internal failure: the detail for people stays generic, the cause goes to the log.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            ProblemCode::Internal,
            "The server failed to handle the request; retry shortly.",
        )
        .retry_after(1)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            // Nothing is wrong but the timing: the client's retry goes through.
            crate::store::StoreError::Conflict(_) => {
                tracing::warn!(error = %e, "a transaction gave way to concurrent writes");
                ApiError::new(ProblemCode::Overloaded, "Busy with concurrent changes; retry shortly.").retry_after(1)
            }
            e => ApiError::internal(e),
        }
    }
}

/// `Retry-After` delta-seconds for a delay: rounded up, so a client never comes back early.
pub fn retry_after_secs(in_ms: u64) -> u64 {
    in_ms.div_ceil(1000)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let p = *self.0;
        let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&p).unwrap_or_else(|_| b"{}".to_vec());
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = p.retry_after_s {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(limit) = &self.1 {
            limit.apply(h);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_response_has_type_status_and_retry_after() {
        let now = Utc::now();
        let resp = ApiError::new(ProblemCode::NotAdmitted, "wait")
            .check_at(now + chrono::Duration::milliseconds(1500), now)
            .into_response();
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], PROBLEM_CONTENT_TYPE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "2");
        assert_eq!(retry_after_secs(0), 0);
        assert_eq!(retry_after_secs(1), 1);
    }
}
