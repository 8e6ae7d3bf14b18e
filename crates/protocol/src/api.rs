//! Request and response bodies of every endpoint (see `docs/protocol.md` for the flow).

use crate::code::VoucherCode;
use crate::ids::{CampaignId, Contact, IdentityKey, Position};
use crate::time::When;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `GET /healthz`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CampaignPhase {
    /// Announced; the pre-queue is not open yet.
    Upcoming,
    /// Slots taken now join the draw at `draw_at`.
    PreQueue,
    /// The draw happened; admission starts at `opens_at`. New slots join the back of the line.
    Drawn,
    /// Admission is running.
    Open,
    /// Every voucher is issued (returned vouchers may still reopen it before `closes_at`).
    SoldOut,
    /// Past `closes_at`.
    Closed,
}

/// `GET /v1/campaigns/{id}`: public, cacheable (ETag, short max-age).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Campaign {
    pub id: CampaignId,
    /// Korean title.
    pub title: String,
    /// English title.
    pub title_en: String,
    pub issuer: String,
    /// Where the voucher can be used, e.g. CGV, Lotte Cinema, Megabox.
    pub brands: Vec<String>,
    /// Face value in minor units of `currency`.
    pub amount: u32,
    pub currency: String,
    pub supply: u64,
    /// Vouchers not yet issued.
    pub remaining: u64,
    /// Places taken so far (everyone who joined before `draw_at` is in the same draw).
    #[serde(default)]
    pub entrants: u64,
    pub issued: u64,
    pub phase: CampaignPhase,
    pub prequeue_opens_at: DateTime<Utc>,
    /// The pre-queue closes and is shuffled.
    pub draw_at: DateTime<Utc>,
    /// First admission.
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub voucher_expires_at: DateTime<Utc>,
    /// Admissions per second the server schedules.
    pub admission_rate_per_s: u32,
    /// Seconds an admitted ticket has to claim before its voucher returns to the line.
    pub admission_window_s: u64,
    /// The server's clock when the body was made (clients derive their clock offset from it).
    pub server_time: DateTime<Utc>,
}

/// `GET /v1/campaigns`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CampaignList {
    pub campaigns: Vec<Campaign>,
    pub server_time: DateTime<Utc>,
}

/// `POST /v1/identities` (signed by the key being registered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub contact: Contact,
    /// The person agreed to the terms and to the contact being kept (as a digest). Must be
    /// `true`: `false` is refused with 422 `consent_required`.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::consent))]
    pub consent: bool,
}

/// Response of `POST /v1/identities` (servers that do not verify contacts) and of
/// `POST /v1/identities/verify`: 201 when created, 200 when already registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Registration {
    pub identity: IdentityKey,
    pub registered_at: DateTime<Utc>,
    /// Present when this key took the contact over from the person's previous device
    /// (`move_here`): what moved. A repeat of that request answers the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved: Option<MovedHere>,
}

/// What moved to a new device key when the person proved their contact with `move_here`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MovedHere {
    /// When the previous key was revoked (the move).
    pub revoked_at: DateTime<Utc>,
    /// Places in line that now belong to this key.
    pub tickets: u32,
    /// Vouchers that now belong to this key.
    pub vouchers: u32,
    /// Of those, the unused ones signed again for this key: new token, new code; the old
    /// copies are void (the box office answers 410 `voucher_moved`).
    pub vouchers_reissued: u32,
}

/// Response of `POST /v1/identities` (202) on a server that verifies contacts: a one-time code
/// was sent to the contact (the same answer whether or not the contact is held by someone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerificationSent {
    /// Always `verification_sent`.
    pub status: VerificationSentStatus,
    /// How long the code stays valid.
    pub expires_in_s: u64,
    /// Digits in the code.
    pub code_length: u8,
    /// Wrong codes accepted before the pending code is void.
    pub attempts: u32,
}

/// The one value of [`VerificationSent::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VerificationSentStatus {
    VerificationSent,
}

/// `POST /v1/identities/verify` (signed by the key that asked for the code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub code: OneTimeCode,
    /// "I changed phones": when the contact is held by another key, move it to this one. The
    /// other key is revoked; its places in line and vouchers follow (unused vouchers are signed
    /// again for this key). Without it such a contact is 409 `contact_taken` and the code stays
    /// pending, so the same code may be sent again with `move_here`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub move_here: bool,
}

/// A one-time code as a person types it: six digits, spaces and `-` ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(value_type = String, pattern = "^[ -]*(?:[0-9][ -]*){6}$", example = "123456")
)]
#[serde(try_from = "String", into = "String")]
pub struct OneTimeCode(String);

/// Digits in a one-time code.
pub const ONE_TIME_CODE_LEN: usize = 6;

impl OneTimeCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for OneTimeCode {
    type Err = crate::ids::IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits: String = s.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() == ONE_TIME_CODE_LEN && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(OneTimeCode(digits))
        } else {
            Err(crate::ids::IdError::OneTimeCode)
        }
    }
}

impl TryFrom<String> for OneTimeCode {
    type Error = crate::ids::IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<OneTimeCode> for String {
    fn from(c: OneTimeCode) -> String {
        c.0
    }
}

/// State of a ticket (a place in a campaign's line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// Joined before the draw; the position is known after `draw_at`. Check at `check_at`.
    PreQueue,
    /// Has a position within reach of the supply; claim at `admit_at`.
    InLine,
    /// May claim now, until `admit_until`.
    Admitted,
    /// Holds the voucher (in `voucher`).
    Claimed,
    /// Beyond the supply: waitlist number `waitlist`. Returned vouchers may still reach it;
    /// check again at `check_at`.
    Waitlisted,
    /// Final: the supply will not reach this ticket.
    SoldOut,
    /// Final: admitted but did not claim in time; the voucher went back to the line.
    Expired,
    /// Final: the campaign closed.
    Closed,
    /// Final: the person gave the place (or its voucher) back; it went to the next in line.
    Returned,
}

impl TicketState {
    /// Whether the ticket can never change again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TicketState::Claimed
                | TicketState::SoldOut
                | TicketState::Expired
                | TicketState::Closed
                | TicketState::Returned
        )
    }
}

/// `POST /v1/campaigns/{id}/tickets` (take or get my place) and
/// `GET /v1/campaigns/{id}/tickets/me` (status). The response also carries `Retry-After`
/// with `check_at`'s delay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketStatus {
    pub campaign_id: CampaignId,
    pub ticket_id: String,
    pub state: TicketState,
    pub joined_at: DateTime<Utc>,
    /// Joined before `draw_at`, so the place was drawn by lottery.
    pub in_draw: bool,
    /// The person opted in to server-side issuance: the server issues the voucher at `admit_at`
    /// by itself (no claim, no deadline); the client fetches it once at `check_at`.
    #[serde(default)]
    pub auto_issue: bool,
    /// 1-based place in line, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// People ahead who have not yet been admitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ahead: Option<u64>,
    /// For `waitlisted`: how far beyond the supply (1 = next to get a returned voucher).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waitlist: Option<u64>,
    /// The admission instant (scheduled, or estimated for the waitlist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admit_at: Option<When>,
    /// The claim deadline once admitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admit_until: Option<When>,
    /// When to ask again; absent when the state is final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_at: Option<When>,
    /// The voucher, when `claimed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voucher: Option<Voucher>,
    pub server_time: DateTime<Utc>,
}

/// Optional body of `POST /v1/campaigns/{id}/tickets` (protocol 1.1). With `auto_issue: true`
/// the request must carry an `Idempotency-Key` made and stored by the client before the first
/// attempt; the server then issues the voucher itself at the ticket's admission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TakeTicketRequest {
    #[serde(default)]
    pub auto_issue: bool,
}

/// `POST /v1/campaigns/{id}/claim` with header `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    pub ticket_id: String,
}

/// Whether a voucher has been used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VoucherStatus {
    Unused,
    Redeemed,
    Expired,
    /// Given back by its holder: void.
    Returned,
}

/// An issued voucher: the response of a claim (201 first time, 200 on replay) and an item
/// of `GET /v1/vouchers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Voucher {
    pub campaign_id: CampaignId,
    pub serial: u64,
    /// Grouped human-readable code.
    pub code: VoucherCode,
    /// The signed token (what the QR code holds).
    pub token: String,
    pub amount: u32,
    pub currency: String,
    pub kid: u32,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub status: VoucherStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeemed_at: Option<DateTime<Utc>>,
}

/// `GET /v1/vouchers`: every voucher held by the signing identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VoucherList {
    pub vouchers: Vec<Voucher>,
}

/// One issuer public key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicKeyInfo {
    pub kid: u32,
    /// Always `Ed25519`.
    pub alg: String,
    /// 32 bytes, unpadded base64url.
    pub public_key: String,
}

/// `GET /v1/keys`: the keys vouchers are signed with (cacheable for a long time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeysResponse {
    pub keys: Vec<PublicKeyInfo>,
}

/// `POST /v1/redemptions` (header `Authorization: Bearer <staff token>`): exactly one of
/// `token` (scanned QR) or `code` (typed in) is given. Its OpenAPI schema (a `oneOf` of the
/// two) is written by hand in `crate::openapi`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<VoucherCode>,
}

/// A successful redemption. A second redemption of the same voucher is a 409
/// `already_redeemed` problem carrying `first_redeemed_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Redemption {
    pub campaign_id: CampaignId,
    pub serial: u64,
    pub code: VoucherCode,
    pub amount: u32,
    pub currency: String,
    pub redeemed_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_status_omits_unknowns() {
        let now = Utc::now();
        let t = TicketStatus {
            campaign_id: "demo".parse().unwrap(),
            ticket_id: "t1".into(),
            state: TicketState::PreQueue,
            joined_at: now,
            in_draw: true,
            auto_issue: false,
            position: None,
            ahead: None,
            waitlist: None,
            admit_at: None,
            admit_until: None,
            check_at: Some(When::new(now, now)),
            voucher: None,
            server_time: now,
        };
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["state"], "pre_queue");
        assert!(v.get("position").is_none());
        let back: TicketStatus = serde_json::from_value(v).unwrap();
        assert_eq!(back, t);
        assert!(TicketState::Claimed.is_final() && !TicketState::Waitlisted.is_final());
    }

    #[test]
    fn one_time_codes_are_six_digits() {
        let r: VerifyRequest = serde_json::from_str(r#"{"code":"123 456"}"#).unwrap();
        assert_eq!(r.code.as_str(), "123456");
        assert_eq!("012-345".parse::<OneTimeCode>().unwrap().as_str(), "012345");
        for bad in ["12345", "1234567", "12345a", "", "１２３４５６"] {
            assert!(bad.parse::<OneTimeCode>().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<VerifyRequest>(r#"{"code":"123456","contact":"x"}"#).is_err());
        let sent = VerificationSent {
            status: VerificationSentStatus::VerificationSent,
            expires_in_s: 600,
            code_length: 6,
            attempts: 5,
        };
        let v = serde_json::to_value(&sent).unwrap();
        assert_eq!(v["status"], "verification_sent");
    }

    #[test]
    fn register_request_refuses_bad_contact() {
        let e = serde_json::from_str::<RegisterRequest>(r#"{"contact":"nope","consent":true}"#);
        assert!(e.is_err());
    }

    #[test]
    fn request_bodies_refuse_unknown_fields() {
        let e = serde_json::from_str::<RegisterRequest>(r#"{"contact":"a@example.com","consent":true,"admin":true}"#);
        assert!(e.unwrap_err().to_string().starts_with("unknown field"));
        let e = serde_json::from_str::<ClaimRequest>(r#"{"ticket_id":"t","extra":1}"#);
        assert!(e.unwrap_err().to_string().starts_with("unknown field"));
        let e = serde_json::from_str::<RedeemRequest>(r#"{"code":null,"token":"x","tokn":"y"}"#);
        assert!(e.unwrap_err().to_string().starts_with("unknown field"));
        let e = serde_json::from_str::<TakeTicketRequest>(r#"{"auto_issue":true,"x":1}"#);
        assert!(e.unwrap_err().to_string().starts_with("unknown field"));
        // What clients send still parses.
        let r: RedeemRequest = serde_json::from_str(r#"{"token":"x"}"#).unwrap();
        assert_eq!(r.token.as_deref(), Some("x"));
        let c: ClaimRequest = serde_json::from_str(r#"{"ticket_id":"t"}"#).unwrap();
        assert_eq!(c.ticket_id, "t");
    }
}
