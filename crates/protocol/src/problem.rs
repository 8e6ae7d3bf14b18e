//! Errors on the wire: RFC 9457 `application/problem+json` bodies with a stable machine
//! `code`. Clients branch on `code`, never on `title` or `detail`, which are for people.

use crate::time::When;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Media type of every error response.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

macro_rules! problem_codes {
    ($( $variant:ident = $status:literal, $title:literal, $class:ident; )*) => {
        /// Stable machine codes. New codes may be added; clients treat unknown codes by status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum ProblemCode {
            $( $variant, )*
            /// A code this client version does not know.
            #[serde(other)]
            Unknown,
        }

        impl ProblemCode {
            /// The HTTP status the server sends with this code.
            pub fn status(self) -> u16 {
                match self { $( ProblemCode::$variant => $status, )* ProblemCode::Unknown => 500 }
            }
            /// A short, human title.
            pub fn title(self) -> &'static str {
                match self { $( ProblemCode::$variant => $title, )* ProblemCode::Unknown => "Unknown problem" }
            }
            /// How a client should react.
            pub fn class(self) -> ProblemClass {
                match self { $( ProblemCode::$variant => ProblemClass::$class, )* ProblemCode::Unknown => ProblemClass::Retry }
            }
            /// All known codes, for documentation and tests.
            pub const ALL: &'static [ProblemCode] = &[ $( ProblemCode::$variant, )* ];
        }
    };
}

/// What a client does on receiving a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemClass {
    /// Transient: retry after a backoff (honouring Retry-After).
    Retry,
    /// The request was early: wait until the time the server gives, then ask again.
    Wait,
    /// The answer will not change: stop and tell the person why.
    Final,
    /// The client sent something wrong: a bug or bad input, do not retry unchanged.
    Invalid,
    /// The clock is off: correct it from `server_time` and retry once.
    Clock,
}

problem_codes! {
    MalformedJson = 400, "The request body is not valid JSON for this endpoint", Invalid;
    InvalidInput = 400, "A field has an invalid value", Invalid;
    IdempotencyKeyRequired = 400, "A claim needs an Idempotency-Key header", Invalid;
    ConsentRequired = 422, "Registration needs the person's consent", Invalid;
    IdempotencyKeyMismatch = 422, "This Idempotency-Key was used with a different request", Invalid;
    Unauthenticated = 401, "The request is not signed by a registered identity", Invalid;
    BadSignature = 401, "The request signature is not valid", Invalid;
    StaleSignature = 401, "The request timestamp is too far from the server's clock", Clock;
    UnknownIdentity = 401, "This identity is not registered", Final;
    KeyRevoked = 401, "This key was replaced by the key of the person's new device", Final;
    StaffUnauthorized = 401, "A valid staff token is required", Invalid;
    NotFound = 404, "No such resource", Invalid;
    UnknownCampaign = 404, "No such campaign", Final;
    NoTicket = 404, "This identity has no place in this campaign's line", Invalid;
    MethodNotAllowed = 405, "Method not allowed", Invalid;
    ContactTaken = 409, "This contact is already registered to another identity", Final;
    WrongCode = 422, "The code is not the one sent", Invalid;
    NoPendingCode = 410, "No code is pending for this key: none was sent, it expired, or too many wrong codes were tried", Final;
    DeliveryFailed = 502, "The code could not be sent; retry shortly", Retry;
    TooEarly = 409, "The campaign's line is not open yet", Wait;
    NotAdmitted = 409, "It is not this ticket's turn yet", Wait;
    RequestInFlight = 409, "A request with this Idempotency-Key is still being processed", Retry;
    AlreadyRedeemed = 409, "This voucher was already redeemed", Final;
    SoldOut = 410, "All vouchers have been issued", Final;
    CampaignClosed = 410, "The campaign is closed", Final;
    AdmissionExpired = 410, "The admission window passed without a claim", Final;
    VoucherExpired = 410, "The voucher has expired", Final;
    Returned = 410, "The place or voucher was given back", Final;
    VoucherMoved = 410, "The voucher moved to its holder's new device: this copy is void", Final;
    AutoIssueKeyRequired = 400, "Opting in to server-side issuance needs an Idempotency-Key header", Invalid;
    InvalidVoucher = 422, "The voucher is not valid", Final;
    PayloadTooLarge = 413, "The request body is too large", Invalid;
    BodyTimeout = 408, "The request body did not arrive in time", Retry;
    HeadersTooLarge = 431, "The request's header fields are too large", Invalid;
    UnsupportedMediaType = 415, "The request body must be application/json", Invalid;
    TooManySubscriptions = 409, "This identity holds the most push subscriptions allowed", Invalid;
    RateLimited = 429, "Too many requests; retry after the time given", Retry;
    Internal = 500, "Internal server error", Retry;
    Overloaded = 503, "The server is busy; retry after the time given", Retry;
    Timeout = 503, "The server took too long; retry after the time given", Retry;
}

/// An RFC 9457 problem document with Lineup's extension members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// A URI naming the problem type (`https://lineup.dev/problems/<code>`).
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    /// What happened in this case, for people.
    pub detail: String,
    /// The stable machine code.
    pub code: ProblemCode,
    /// Seconds to wait before retrying (also sent as `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    /// When to ask again, for `too_early` / `not_admitted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_at: Option<When>,
    /// For `already_redeemed`: when the voucher was first redeemed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_redeemed_at: Option<DateTime<Utc>>,
    /// The server's clock, so a client with a wrong clock can correct itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<DateTime<Utc>>,
    /// For `wrong_code`: codes that may still be tried before the pending one is void.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
}

impl Problem {
    /// A problem with the code's status and title and a specific detail.
    pub fn new(code: ProblemCode, detail: impl Into<String>) -> Self {
        Problem {
            type_uri: format!("https://lineup.dev/problems/{}", code.slug()),
            title: code.title().to_owned(),
            status: code.status(),
            detail: detail.into(),
            code,
            retry_after_s: None,
            check_at: None,
            first_redeemed_at: None,
            server_time: None,
            attempts_left: None,
        }
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_s = Some(secs);
        self
    }

    pub fn with_check_at(mut self, when: When) -> Self {
        self.check_at = Some(when);
        self
    }

    pub fn with_server_time(mut self, t: DateTime<Utc>) -> Self {
        self.server_time = Some(t);
        self
    }
}

impl ProblemCode {
    /// The snake_case wire name.
    pub fn slug(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".into())
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.title, self.code.slug(), self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_roundtrip_and_unknown_is_tolerated() {
        for &c in ProblemCode::ALL {
            let s = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<ProblemCode>(&s).unwrap(), c);
            assert!((400..600).contains(&c.status()), "{c:?}");
        }
        assert_eq!(
            serde_json::from_str::<ProblemCode>("\"brand_new\"").unwrap(),
            ProblemCode::Unknown
        );
        assert_eq!(ProblemCode::SoldOut.slug(), "sold_out");
    }

    #[test]
    fn problem_serialises_rfc9457_members() {
        let p = Problem::new(ProblemCode::Overloaded, "busy").with_retry_after(3);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "https://lineup.dev/problems/overloaded");
        assert_eq!(v["status"], 503);
        assert_eq!(v["code"], "overloaded");
        assert_eq!(v["retry_after_s"], 3);
        assert!(v.get("first_redeemed_at").is_none());
    }
}
