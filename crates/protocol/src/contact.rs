//! A person's contact (an e-mail address or a phone number) in one canonical spelling, so that
//! every way of writing the same contact is one contact: one identity per contact per server.
//!
//! Rules (docs/protocol.md, "Contacts"):
//! - Phone numbers become E.164 (`+821012345678`). A number without `+` is read as a Korean
//!   national number: it must start with the trunk prefix `0` (`010-1234-5678`, `02-123-4567`),
//!   which is dropped after `+82`. `+82` followed by the trunk `0` (`+82 010 ...`, `+82 (0)10 ...`,
//!   a common slip) drops the `0` too. Other countries' `+` numbers keep their digits as given.
//!   Spaces, `-`, `.`, `(` and `)` are separators.
//! - E-mail addresses are lowercased whole, domain and local part: no provider in use treats
//!   `Kim@` and `kim@` as two mailboxes, and one person must not hold two identities by case.
//!   `+tags` (`kim+lineup@example.com`) are kept: whether a tag reaches the same mailbox is the
//!   provider's choice (and a catch-all domain gives one person any number of addresses anyway),
//!   so each spelling is its own contact, and each needs its own code.

use crate::ids::IdError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Longest contact accepted (the longest e-mail address SMTP can carry).
const MAX_LEN: usize = 254;

/// A contact in canonical form (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "String")]
pub struct Contact(String);

/// Which channel reaches a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactKind {
    Email,
    Phone,
}

impl Contact {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> ContactKind {
        if self.0.contains('@') {
            ContactKind::Email
        } else {
            ContactKind::Phone
        }
    }

    /// The plain, unkeyed digest `SHA-256("lineup-contact-v1" || contact)` that servers kept
    /// before protocol 1.2. It is NOT private: every Korean mobile number can be tried against it
    /// in minutes. Servers now keep a keyed digest (HMAC with a server secret) and use this one
    /// only to find and re-key rows stored before.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"lineup-contact-v1");
        h.update(self.0.as_bytes());
        h.finalize().into()
    }
}

fn parse_email(s: &str) -> Result<Contact, IdError> {
    let (local, domain) = s.rsplit_once('@').ok_or(IdError::Contact)?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !local.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(Contact(format!("{}@{}", local.to_lowercase(), domain.to_lowercase())))
    } else {
        Err(IdError::Contact)
    }
}

/// Digits of a phone number, separators dropped; anything else is refused.
fn digits_of(s: &str) -> Result<String, IdError> {
    let mut digits = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => return Err(IdError::Contact),
        }
    }
    Ok(digits)
}

/// A Korean national significant number (after the trunk `0`): 8 digits (Seoul `2` + 7) to 10
/// (mobile `10` + 8).
fn korean(national: &str) -> Result<Contact, IdError> {
    if (8..=10).contains(&national.len()) && !national.starts_with('0') {
        Ok(Contact(format!("+82{national}")))
    } else {
        Err(IdError::Contact)
    }
}

fn parse_phone(s: &str) -> Result<Contact, IdError> {
    if let Some(rest) = s.strip_prefix('+') {
        let digits = digits_of(rest)?;
        if let Some(national) = digits.strip_prefix("82") {
            return korean(national.strip_prefix('0').unwrap_or(national));
        }
        // E.164: a country code (never starting with 0) and at most 15 digits in all.
        return if (8..=15).contains(&digits.len()) && !digits.starts_with('0') {
            Ok(Contact(format!("+{digits}")))
        } else {
            Err(IdError::Contact)
        };
    }
    let digits = digits_of(s)?;
    match digits.strip_prefix('0') {
        // `00...` is an international call prefix, not a national number: write it with `+`.
        Some(national) if !national.starts_with('0') => korean(national),
        _ => Err(IdError::Contact),
    }
}

impl FromStr for Contact {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        if s.is_empty() || s.len() > MAX_LEN {
            return Err(IdError::Contact);
        }
        if s.contains('@') {
            parse_email(s)
        } else {
            parse_phone(s)
        }
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

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Result<String, IdError> {
        s.parse::<Contact>().map(String::from)
    }

    #[test]
    fn the_three_spellings_of_the_issue_are_one_contact() {
        for s in ["010-1234-5678", "01012345678", "+82 10 1234 5678"] {
            assert_eq!(c(s).unwrap(), "+821012345678", "{s}");
        }
        let a: Contact = "010-1234-5678".parse().unwrap();
        let b: Contact = "+82 10 1234 5678".parse().unwrap();
        assert_eq!(a.digest(), b.digest());
    }

    #[test]
    fn korean_numbers_in_other_common_spellings() {
        for s in [
            "010 1234 5678",
            "(010) 1234-5678",
            "010.1234.5678",
            "+82-10-1234-5678",
            "+82 010-1234-5678",
            "+82 (0)10 1234 5678",
            "+821012345678",
            " 010-1234-5678 ",
        ] {
            assert_eq!(c(s).unwrap(), "+821012345678", "{s}");
        }
        // Seoul landline (02 + 7 or 8 digits), other areas (0xx), VoIP 070.
        assert_eq!(c("02-123-4567").unwrap(), "+8221234567");
        assert_eq!(c("02-1234-5678").unwrap(), "+82212345678");
        assert_eq!(c("031-123-4567").unwrap(), "+82311234567");
        assert_eq!(c("070-1234-5678").unwrap(), "+827012345678");
    }

    #[test]
    fn other_countries_keep_their_digits() {
        assert_eq!(c("+1 (415) 555-0100").unwrap(), "+14155550100");
        assert_eq!(c("+44 20 7946 0958").unwrap(), "+442079460958");
    }

    #[test]
    fn refused_phone_spellings() {
        for s in [
            "123",
            "1012345678",       // no trunk 0, no +: not a number we can place
            "00821012345678",   // international prefix: write +82
            "010-1234",         // too short
            "010-1234-5678-99", // too long
            "+82 10 abc",
            "+0123456789",
            "+1234567890123456", // 16 digits
            "+82",
            "",
            "   ",
        ] {
            assert!(c(s).is_err(), "{s} should be refused");
        }
    }

    #[test]
    fn email_is_lowercased_and_tags_are_kept() {
        assert_eq!(c(" Kim@Example.COM ").unwrap(), "kim@example.com");
        assert_eq!(c("KIM@example.com").unwrap(), c("kim@EXAMPLE.com").unwrap());
        assert_eq!(c("kim+lineup@example.com").unwrap(), "kim+lineup@example.com");
        assert_ne!(c("kim+lineup@example.com").unwrap(), c("kim@example.com").unwrap());
        for s in [
            "a@b",
            "@example.com",
            "a@.example.com",
            "a@example.com.",
            "a b@example.com",
            "a@b@c.com",
            "a@x..com",
        ] {
            assert!(c(s).is_err(), "{s} should be refused");
        }
        let a: Contact = "kim@example.com".parse().unwrap();
        assert_eq!(a.kind(), ContactKind::Email);
        let p: Contact = "01012345678".parse().unwrap();
        assert_eq!(p.kind(), ContactKind::Phone);
        assert_ne!(a.digest(), p.digest());
    }

    #[test]
    fn serde_goes_through_the_parser() {
        let p: Contact = serde_json::from_str("\"010-1234-5678\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"+821012345678\"");
        assert!(serde_json::from_str::<Contact>("\"nobody\"").is_err());
    }
}
