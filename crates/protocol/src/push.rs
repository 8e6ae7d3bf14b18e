//! Web Push on the wire: the subscription an identity registers (`POST /v1/push/subscriptions`),
//! its removal, the server's VAPID key, and the JSON a push carries inside its RFC 8291
//! encrypted body. See `docs/protocol.md`, "Push subscriptions".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The subscriber's keys, as a browser's `PushSubscription.toJSON().keys` gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushKeys {
    /// The subscriber's P-256 public key, uncompressed (65 bytes), unpadded base64url.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{87}$"))]
    pub p256dh: String,
    /// The 16-byte authentication secret, unpadded base64url.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{22}$"))]
    pub auth: String,
}

/// Language of the visible notification text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushLocale {
    /// Korean first, English after it.
    #[default]
    Ko,
    /// English first, Korean after it.
    En,
}

/// `POST /v1/push/subscriptions` (signed): registers or updates (by endpoint) one device's
/// push subscription for the signing identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushSubscriptionRequest {
    /// The push resource URL the device's push service gave (https).
    #[cfg_attr(feature = "openapi", schema(pattern = "^https://[!-~]+$"))]
    pub endpoint: String,
    pub keys: PushKeys,
    /// Keep the voucher code out of the visible notification text (it stays inside the
    /// encrypted payload for the app). Default true.
    #[serde(default = "yes")]
    pub hide_code: bool,
    #[serde(default)]
    pub locale: PushLocale,
}

fn yes() -> bool {
    true
}

/// `POST /v1/push/subscriptions/remove` (signed): forgets one endpoint of the signing identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushUnsubscribeRequest {
    pub endpoint: String,
}

/// Answer to a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushSubscription {
    pub endpoint: String,
    pub hide_code: bool,
    pub locale: PushLocale,
    pub created_at: DateTime<Utc>,
    /// Subscriptions the identity holds now, this one included.
    pub subscriptions: u32,
    /// At most this many per identity.
    pub max_subscriptions: u32,
}

/// Answer to a removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushUnsubscribed {
    /// Whether the endpoint was registered to this identity (false: nothing to remove).
    pub removed: bool,
}

/// `GET /v1/push/vapid`: the key every push from this server is signed with (RFC 8292), to pass
/// as `applicationServerKey` when subscribing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VapidKey {
    /// Uncompressed P-256 point (65 bytes), unpadded base64url.
    pub public_key: String,
}

/// What a push is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushKind {
    /// The draw placed the person's pre-queue ticket (within the supply or on the waitlist).
    DrawResult,
    /// The server issued the person's voucher (server-side issuance).
    Voucher,
    /// A returned voucher reached the person's waitlisted place.
    HandedOn,
}

impl PushKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PushKind::DrawResult => "draw_result",
            PushKind::Voucher => "voucher",
            PushKind::HandedOn => "handed_on",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draw_result" => Some(PushKind::DrawResult),
            "voucher" => Some(PushKind::Voucher),
            "handed_on" => Some(PushKind::HandedOn),
            _ => None,
        }
    }
}

/// The JSON inside a push's encrypted body (version 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushPayload {
    /// Payload version, 1.
    pub v: u32,
    pub kind: PushKind,
    pub campaign: String,
    /// Which pair the notification shows (the subscription's `locale`).
    pub locale: PushLocale,
    /// Korean notification title and body.
    pub title: String,
    pub body: String,
    /// English notification title and body.
    pub title_en: String,
    pub body_en: String,
    /// For `draw_result`: whether the place is within the supply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub won: Option<bool>,
    /// For `draw_result` and `handed_on`: the 1-based place in line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// For `draw_result` (within the supply) and `handed_on`: when the turn starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admit_at: Option<DateTime<Utc>>,
    /// For `voucher`: the serial, the typed code and the signed token (never elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Whether `body` / `body_en` leave the code out (the subscription's `hide_code`).
    pub code_hidden: bool,
}
