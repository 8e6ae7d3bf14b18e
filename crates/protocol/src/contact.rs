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

/// Longest contact accepted, in characters as sent (surrounding white space included).
pub const CONTACT_MAX_LEN: usize = 254;

/// [`Contact`]'s wire form as a regular expression (ECMA 262 and the `regex` crate read it alike),
/// with the length limit [`CONTACT_MAX_LEN`] beside it: `Contact::from_str` accepts exactly the
/// strings it matches (a test holds the two together; the OpenAPI document publishes it). In
/// order: an e-mail address; `+82` (an optional trunk `0`) and 8-10 national digits; another
/// `+` number of 8-15 digits; a Korean national number (`0` and 8-10 digits).
pub const CONTACT_PATTERN: &str = concat!(
    r"^[ \t\n\r]*(?:",
    r"[!-?A-~]+@[!-,/-?A-~-][!-?A-~]*\.[!-?A-~]*[!-,/-?A-~-]",
    r"|\+[ ().-]*8[ ().-]*2[ ().-]*(?:0[ ().-]*)?[1-9][ ().-]*(?:[0-9][ ().-]*){7,9}",
    r"|\+[ ().-]*(?:[1-79][ ().-]*(?:[0-9][ ().-]*){7,14}|8[ ().-]*[013-9][ ().-]*(?:[0-9][ ().-]*){6,13})",
    r"|[ ().-]*0[ ().-]*[1-9][ ().-]*(?:[0-9][ ().-]*){7,9}",
    r")[ \t\n\r]*$"
);

/// A contact in canonical form (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(value_type = String, pattern = "^[ \\t\\n\\r]*(?:[!-?A-~]+@[!-,/-?A-~-][!-?A-~]*\\.[!-?A-~]*[!-,/-?A-~-]|\\+[ ().-]*8[ ().-]*2[ ().-]*(?:0[ ().-]*)?[1-9][ ().-]*(?:[0-9][ ().-]*){7,9}|\\+[ ().-]*(?:[1-79][ ().-]*(?:[0-9][ ().-]*){7,14}|8[ ().-]*[013-9][ ().-]*(?:[0-9][ ().-]*){6,13})|[ ().-]*0[ ().-]*[1-9][ ().-]*(?:[0-9][ ().-]*){7,9})[ \\t\\n\\r]*$", max_length = 254, example = "010-1234-5678")
)]
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
    let (local, domain) = s.split_once('@').ok_or(IdError::Contact)?;
    // Printable ASCII other than '@': what an address is made of here (no spaces, controls or
    // non-ASCII letters, which the published pattern can say).
    let plain = |c: char| matches!(c, '!'..='~') && c != '@';
    let ok = !local.is_empty()
        && local.chars().all(plain)
        && domain.chars().all(plain)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.');
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
        if s.len() > CONTACT_MAX_LEN {
            return Err(IdError::Contact);
        }
        let s = s.trim_matches([' ', '\t', '\n', '\r']);
        if s.is_empty() {
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
        ] {
            assert!(c(s).is_err(), "{s} should be refused");
        }
        let a: Contact = "kim@example.com".parse().unwrap();
        assert_eq!(a.kind(), ContactKind::Email);
        let p: Contact = "01012345678".parse().unwrap();
        assert_eq!(p.kind(), ContactKind::Phone);
        assert_ne!(a.digest(), p.digest());
    }

    /// `Contact::from_str` accepts exactly what [`CONTACT_PATTERN`] and [`CONTACT_MAX_LEN`] let
    /// through (the OpenAPI document publishes the two).
    #[test]
    fn contact_pattern_is_the_parser() {
        let re = regex::Regex::new(CONTACT_PATTERN).unwrap();
        let pieces = [
            "a", "Z", "0", "7", "8", "2", "1234567", "@", ".", "-", "+", " ", "\t", "\n", "(", ")", "_", "!", "~", "é",
            "\u{a0}", "\u{85}", "\u{7f}", "\0", "kim", "example", ".com", "@x.y", "010", "+82", "+1", "00", "1234",
            "5678",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut emails, mut phones) = (0, 0);
        for _ in 0..100_000 {
            let n = next(9);
            let s: String = (0..n).map(|_| pieces[next(pieces.len())]).collect();
            let parsed = s.parse::<Contact>();
            match &parsed {
                Ok(c) if c.kind() == ContactKind::Email => emails += 1,
                Ok(_) => phones += 1,
                Err(_) => {}
            }
            assert_eq!(
                re.is_match(&s) && s.chars().count() <= CONTACT_MAX_LEN,
                parsed.is_ok(),
                "{s:?}"
            );
        }
        assert!(
            emails > 500 && phones > 100,
            "the sample must reach both kinds ({emails}, {phones})"
        );
        for s in [
            "a@b.c",
            " x@y.z\n",
            "+82 10-1234-5678",
            "(010) 1234.5678",
            "a@b..c",
            "+1 415 555 0100",
        ] {
            assert!(re.is_match(s) && s.parse::<Contact>().is_ok(), "{s:?}");
        }
        let long = format!("{}@example.com", "a".repeat(CONTACT_MAX_LEN));
        // The OpenAPI attribute repeats the pattern as a literal (utoipa takes no constant).
        assert!(include_str!("contact.rs").contains(&format!("pattern = {CONTACT_PATTERN:?}")));
        assert!(re.is_match(&long) && long.parse::<Contact>().is_err());
    }

    #[test]
    fn serde_goes_through_the_parser() {
        let p: Contact = serde_json::from_str("\"010-1234-5678\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"+821012345678\"");
        assert!(serde_json::from_str::<Contact>("\"nobody\"").is_err());
    }
}
