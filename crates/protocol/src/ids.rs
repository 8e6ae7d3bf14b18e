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

/// A contact, at most 254 characters as sent: an e-mail address (`local@domain`, printable ASCII
/// without spaces, the domain with an inner '.') or a phone number (an optional leading '+', 7-15
/// digits, and any of ` ()-.` between them), with surrounding spaces, tabs and line breaks
/// ignored. Kept in normalised form: e-mail lowercased, phone digits only with a leading '+'
/// kept. One identity per contact per server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        value_type = String,
        pattern = "^[ \\t\\n\\r]*(?:[!-?A-~]+@[!-,/-?A-~-][!-?A-~]*\\.[!-?A-~]*[!-,/-?A-~-]|\\+?[ ().-]*(?:[0-9][ ().-]*){7,15})[ \\t\\n\\r]*$",
        max_length = 254,
        example = "kim@example.com"
    )
)]
#[serde(try_from = "String", into = "String")]
pub struct Contact(String);

impl Contact {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A one-way digest of the contact, which is all a server needs to keep.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"lineup-contact-v1");
        h.update(self.0.as_bytes());
        h.finalize().into()
    }
}

/// [`Contact`]'s wire form as a regular expression (ECMA 262 and the `regex` crate read it alike),
/// with the length limit [`CONTACT_MAX_LEN`] beside it. `Contact::from_str` accepts exactly
/// the strings it matches (a test holds the two together).
pub const CONTACT_PATTERN: &str = r"^[ \t\n\r]*(?:[!-?A-~]+@[!-,/-?A-~-][!-?A-~]*\.[!-?A-~]*[!-,/-?A-~-]|\+?[ ().-]*(?:[0-9][ ().-]*){7,15})[ \t\n\r]*$";
/// Longest contact accepted, in characters as sent (surrounding white space included).
pub const CONTACT_MAX_LEN: usize = 254;

impl FromStr for Contact {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.len() > CONTACT_MAX_LEN {
            return Err(IdError::Contact);
        }
        let s = s.trim_matches([' ', '\t', '\n', '\r']);
        // Printable ASCII other than '@': what an address is made of here (no spaces, controls
        // or non-ASCII letters, which a regular expression in the OpenAPI document can say).
        let plain = |c: char| matches!(c, '!'..='~') && c != '@';
        if let Some((local, domain)) = s.split_once('@') {
            let ok = !local.is_empty()
                && local.chars().all(plain)
                && domain.chars().all(plain)
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.');
            return if ok {
                Ok(Contact(s.to_lowercase()))
            } else {
                Err(IdError::Contact)
            };
        }
        let plus = s.starts_with('+');
        let mut digits = String::new();
        for c in s.chars().skip(usize::from(plus)) {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '(' | ')' | '.' => {}
                _ => return Err(IdError::Contact),
            }
        }
        if !(7..=15).contains(&digits.len()) {
            return Err(IdError::Contact);
        }
        Ok(Contact(if plus { format!("+{digits}") } else { digits }))
    }
}

impl TryFrom<String> for Contact {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<Contact> for String {
    fn from(c: Contact) -> String {
        c.0
    }
}

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
    fn contacts_normalise() {
        let a: Contact = " Kim@Example.COM ".parse().unwrap();
        assert_eq!(a.as_str(), "kim@example.com");
        let p: Contact = "+82 10-1234-5678".parse().unwrap();
        assert_eq!(p.as_str(), "+821012345678");
        let q: Contact = "010 1234 5678".parse().unwrap();
        assert_eq!(q.as_str(), "01012345678");
        assert!("nobody".parse::<Contact>().is_err());
        assert!("a@b".parse::<Contact>().is_err());
        assert!("123".parse::<Contact>().is_err());
        assert!("+82 10 abc".parse::<Contact>().is_err());
        // Only printable ASCII makes an address: the OpenAPI document's pattern says the same.
        assert!("김@example.com".parse::<Contact>().is_err());
        assert!("kim@exam ple.com".parse::<Contact>().is_err());
        assert_ne!(a.digest(), p.digest());
    }

    /// `Contact::from_str` accepts exactly what [`CONTACT_PATTERN`] and [`CONTACT_MAX_LEN`] let
    /// through (the OpenAPI document publishes the two).
    #[test]
    fn contact_pattern_is_the_parser() {
        let re = regex::Regex::new(CONTACT_PATTERN).unwrap();
        let pieces = [
            "a", "Z", "0", "7", "1234567", "@", ".", "-", "+", " ", "\t", "\n", "(", ")", "_", "!", "~", "é", "\u{a0}",
            "\u{85}", "\u{7f}", "\0", "kim", "example", ".com", "@x.y", "010",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut accepted = 0;
        for _ in 0..50_000 {
            let n = next(9);
            let s: String = (0..n).map(|_| pieces[next(pieces.len())]).collect();
            let ok = s.parse::<Contact>().is_ok();
            accepted += usize::from(ok);
            assert_eq!(re.is_match(&s) && s.chars().count() <= CONTACT_MAX_LEN, ok, "{s:?}");
        }
        assert!(
            accepted > 1000,
            "the sample must reach accepted contacts too ({accepted})"
        );
        for s in ["a@b.c", " x@y.z\n", "+82 10-1234-5678", "(010) 1234.5678", "a@b..c"] {
            assert!(re.is_match(s) && s.parse::<Contact>().is_ok(), "{s:?}");
        }
        let long = format!("{}@example.com", "a".repeat(CONTACT_MAX_LEN));
        assert!(re.is_match(&long) && long.parse::<Contact>().is_err());
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
