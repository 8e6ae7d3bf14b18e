//! Newtypes for identifiers that cross the wire, parsed at the boundary so the rest of the
//! code never handles an unchecked string.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Errors from parsing an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("campaign id must be 1-32 characters of a-z, 0-9 and '-'")]
    Campaign,
    #[error("identity key must be 32 bytes of unpadded base64url")]
    IdentityKey,
    #[error("contact must be an e-mail address or a phone number")]
    Contact,
    #[error("a one-time code is 6 digits")]
    OneTimeCode,
}

/// A campaign id: short, lowercase, URL-safe (it is also embedded in every voucher token).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(value_type = String, pattern = "^[a-z0-9-]{1,32}$", min_length = 1, max_length = 32, example = "demo")
)]
#[serde(try_from = "String", into = "String")]
pub struct CampaignId(String);

impl CampaignId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CampaignId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(CampaignId(s.to_owned()))
        } else {
            Err(IdError::Campaign)
        }
    }
}

impl TryFrom<String> for CampaignId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<CampaignId> for String {
    fn from(c: CampaignId) -> String {
        c.0
    }
}

impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An identity's Ed25519 public key, which is also its id on the wire (unpadded base64url).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(value_type = String, pattern = "^[A-Za-z0-9_-]{43}$", min_length = 43, max_length = 43)
)]
#[serde(try_from = "String", into = "String")]
pub struct IdentityKey(pub [u8; 32]);

impl IdentityKey {
    pub fn to_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The 8-byte holder binding embedded in vouchers: a hash of the key, so a scanned
    /// voucher reveals nothing about its holder but can be matched to them.
    pub fn holder_binding(&self) -> [u8; 8] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"lineup-holder-v1");
        h.update(self.0);
        let d = h.finalize();
        let mut out = [0u8; 8];
        out.copy_from_slice(&d[..8]);
        out
    }
}

impl FromStr for IdentityKey {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| IdError::IdentityKey)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| IdError::IdentityKey)?;
        Ok(IdentityKey(arr))
    }
}

impl TryFrom<String> for IdentityKey {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<IdentityKey> for String {
    fn from(k: IdentityKey) -> String {
        k.to_b64()
    }
}

impl fmt::Display for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_b64())
    }
}

pub use crate::contact::{CONTACT_MAX_LEN, CONTACT_PATTERN, Contact};

/// A 1-based place in a campaign's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(minimum = 1))]
#[serde(transparent)]
pub struct Position(pub u64);

/// A voucher's serial number within its campaign (1-based, dense).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(minimum = 1))]
#[serde(transparent)]
pub struct Serial(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_ids() {
        assert!("demo".parse::<CampaignId>().is_ok());
        assert!("cgv-2026".parse::<CampaignId>().is_ok());
        assert!("".parse::<CampaignId>().is_err());
        assert!("Demo".parse::<CampaignId>().is_err());
        assert!("a/b".parse::<CampaignId>().is_err());
        assert!("x".repeat(33).parse::<CampaignId>().is_err());
    }

    #[test]
    fn identity_key_roundtrip() {
        let k = IdentityKey([7u8; 32]);
        let s = k.to_b64();
        assert_eq!(s.len(), 43);
        assert_eq!(s.parse::<IdentityKey>().unwrap(), k);
        assert!("short".parse::<IdentityKey>().is_err());
        assert_ne!(k.holder_binding(), IdentityKey([8u8; 32]).holder_binding());
    }
}
