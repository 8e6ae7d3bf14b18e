//! The server's keyed digests: a contact is kept as HMAC-SHA256 under a secret every instance on
//! the database shares (`server_secrets`), never as the plain `SHA-256("lineup-contact-v1" ||
//! contact)`, which anyone can reverse for all 100 million Korean mobile numbers in about two
//! minutes on one core. A pending one-time code is kept the same way, bound to the key it was
//! sent for.

use hmac::{Hmac, KeyInit, Mac};
use lineup_protocol::{Contact, IdentityKey};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The name of the contact secret in `server_secrets`.
pub const SECRET_NAME: &str = "contact-hmac-v1";

/// The secret keying contact digests and code hashes.
#[derive(Clone)]
pub struct ContactKey([u8; 32]);

impl std::fmt::Debug for ContactKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContactKey(..)")
    }
}

impl ContactKey {
    pub fn new(secret: [u8; 32]) -> Self {
        ContactKey(secret)
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        // HMAC takes keys of any length: a 32-byte key cannot be refused.
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// `HMAC-SHA256(secret, "lineup-contact-v2" || contact)`: what the identities table keeps.
    pub fn digest(&self, contact: &Contact) -> [u8; 32] {
        self.mac(&[b"lineup-contact-v2", contact.as_str().as_bytes()])
    }

    /// `HMAC-SHA256(secret, "lineup-code-v1" || key || code)`: a pending code, only for this key.
    pub fn code_hash(&self, key: &IdentityKey, code: &str) -> [u8; 32] {
        self.mac(&[b"lineup-code-v1", &key.0, code.as_bytes()])
    }

    /// Whether `code` is the one whose hash is `stored` (constant time).
    pub fn code_matches(&self, key: &IdentityKey, code: &str, stored: &[u8]) -> bool {
        bool::from(self.code_hash(key, code)[..].ct_eq(stored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_digests_differ_by_secret_and_from_the_plain_digest() {
        let c: Contact = "010-1234-5678".parse().unwrap();
        let same: Contact = "+82 10 1234 5678".parse().unwrap();
        let a = ContactKey::new([1; 32]);
        let b = ContactKey::new([2; 32]);
        assert_eq!(a.digest(&c), a.digest(&same));
        assert_ne!(a.digest(&c), b.digest(&c));
        assert_ne!(a.digest(&c), c.digest());
        // RFC 4231 test case 2 shape: HMAC-SHA256 as specified, checked against a known vector.
        let k = ContactKey(*b"Jefe\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        let want: [u8; 32] = m.finalize().into_bytes().into();
        // A key padded with zeros to the block is the same HMAC key (RFC 2104).
        assert_eq!(k.mac(&[b"what do ya want ", b"for nothing?"]), want);
        assert_eq!(
            want[..4],
            [0x5b, 0xdc, 0xc1, 0x46],
            "RFC 4231 test case 2 starts 5bdcc146"
        );
    }

    #[test]
    fn codes_match_only_for_their_key() {
        let k = ContactKey::new([9; 32]);
        let alice = IdentityKey([1; 32]);
        let bob = IdentityKey([2; 32]);
        let h = k.code_hash(&alice, "123456");
        assert!(k.code_matches(&alice, "123456", &h));
        assert!(!k.code_matches(&alice, "123457", &h));
        assert!(!k.code_matches(&bob, "123456", &h));
        assert!(!k.code_matches(&alice, "123456", &h[..31]));
    }
}
