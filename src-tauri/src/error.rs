//! The one error type every command returns. It reaches the UI as `{code, message}`
//! (docs/app-ipc.md): `code` is a protocol `ProblemCode` slug or one of the app's own codes,
//! `message` is for people and never carries a secret.

use lineup_protocol::{Problem, ProblemCode};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// Machine code of a failed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The server answered with this problem.
    Problem(ProblemCode),
    /// The server could not be reached.
    Offline,
    /// The OS credential store failed.
    Keyring,
    /// The command needs an identity and there is none yet.
    NotRegistered,
    /// An argument from the UI was refused.
    InvalidInput,
    /// A bug or an unexpected local failure.
    Internal,
}

impl ErrorCode {
    pub fn slug(self) -> String {
        match self {
            ErrorCode::Problem(code) => code.slug(),
            ErrorCode::Offline => "offline".into(),
            ErrorCode::Keyring => "keyring".into(),
            ErrorCode::NotRegistered => "not_registered".into(),
            ErrorCode::InvalidInput => "invalid_input".into(),
            ErrorCode::Internal => "internal".into(),
        }
    }
}

/// A failed command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    /// `wrong_code`: how many more codes may be tried.
    pub attempts_left: Option<u32>,
    /// `rate_limited` and other answers with `Retry-After`: seconds to wait.
    pub retry_after_s: Option<u64>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
            attempts_left: None,
            retry_after_s: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        AppError::new(ErrorCode::InvalidInput, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        AppError::new(ErrorCode::Internal, message)
    }

    pub fn not_registered() -> Self {
        AppError::new(ErrorCode::NotRegistered, "Register this device before joining a line.")
    }
}

impl From<&Problem> for AppError {
    fn from(p: &Problem) -> Self {
        AppError {
            attempts_left: p.attempts_left,
            ..AppError::new(ErrorCode::Problem(p.code), p.detail.clone())
        }
    }
}

impl From<lineup_core::api::ApiError> for AppError {
    fn from(e: lineup_core::api::ApiError) -> Self {
        use lineup_core::api::ApiError;
        match &e {
            ApiError::Problem { problem, retry_after } => AppError {
                retry_after_s: retry_after.map(|d| d.as_secs().max(1)),
                ..AppError::from(problem.as_ref())
            },
            ApiError::Transport(_) => AppError::new(ErrorCode::Offline, e.to_string()),
            ApiError::BadUrl(_) => AppError::invalid(e.to_string()),
            ApiError::NoIdentity => AppError::not_registered(),
            // A proxy's error page or a client that cannot be built: nothing the person typed.
            ApiError::Unexpected { .. } | ApiError::Client(_) => AppError::internal(e.to_string()),
        }
    }
}

impl Serialize for AppError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("AppError", 4)?;
        s.serialize_field("code", &self.code.slug())?;
        s.serialize_field("message", &self.message)?;
        // Only where they mean something, so every other error keeps the two-field shape.
        if let Some(n) = self.attempts_left {
            s.serialize_field("attempts_left", &n)?;
        } else {
            s.skip_field("attempts_left")?;
        }
        if let Some(n) = self.retry_after_s {
            s.serialize_field("retry_after_s", &n)?;
        } else {
            s.skip_field("retry_after_s")?;
        }
        s.end()
    }
}

impl From<lineup_core::enrol::EnrolError> for AppError {
    fn from(e: lineup_core::enrol::EnrolError) -> Self {
        use lineup_core::enrol::EnrolError;
        match e {
            EnrolError::Api(e) => e.into(),
            EnrolError::Identity(e) => crate::state::keyring_error(e),
        }
    }
}

/// What every command returns.
pub type CmdResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_code_and_message() {
        let e = AppError::from(&Problem::new(ProblemCode::SoldOut, "all gone"));
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "sold_out", "message": "all gone"})
        );
        let e = AppError::not_registered();
        assert_eq!(serde_json::to_value(&e).unwrap()["code"], "not_registered");
        assert_eq!(
            serde_json::to_value(AppError::new(ErrorCode::Offline, "x")).unwrap()["code"],
            "offline"
        );
    }

    #[test]
    fn a_wrong_code_carries_the_tries_left_and_a_limit_its_wait() {
        let mut p = Problem::new(ProblemCode::WrongCode, "Wrong code; 2 more may be tried.");
        p.attempts_left = Some(2);
        let e = AppError::from(lineup_core::api::ApiError::Problem {
            problem: Box::new(p),
            retry_after: None,
        });
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "wrong_code", "message": "Wrong code; 2 more may be tried.", "attempts_left": 2})
        );
        let e = AppError::from(lineup_core::api::ApiError::Problem {
            problem: Box::new(Problem::new(ProblemCode::RateLimited, "wait")),
            retry_after: Some(std::time::Duration::from_secs(30)),
        });
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "rate_limited", "message": "wait", "retry_after_s": 30})
        );
    }
}
