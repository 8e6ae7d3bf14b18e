//! Request signing. An identity is an Ed25519 key pair made on the device; the server keeps
//! only the public key. Every authenticated request carries
//!
//! ```text
//! Authorization: Lineup key=<public key, base64url>, ts=<unix seconds>, sig=<base64url>
//! ```
//!
//! where `sig` signs `lineup-request-v1\n{METHOD}\n{path and query}\n{ts}\n{base64url(sha256(body))}`.
//! The server refuses a timestamp more than [`MAX_SKEW_SECS`] from its clock (a replayed
//! request) and tells the client its time so a phone with a wrong clock can correct itself.

use crate::ids::IdentityKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::Digest;

/// The authorization scheme name.
pub const SCHEME: &str = "Lineup";
/// How far a request timestamp may be from the server's clock.
pub const MAX_SKEW_SECS: i64 = 120;

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the Authorization header is missing")]
    Missing,
    #[error("the Authorization header is not of the form `Lineup key=.., ts=.., sig=..`")]
    Malformed,
    #[error("the request signature does not match the key")]
    BadSignature,
    #[error("the request timestamp {ts} is too far from the server's time {server_ts}")]
    Stale { ts: i64, server_ts: i64 },
}

/// A parsed `Authorization: Lineup ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeader {
    pub key: IdentityKey,
    pub ts: i64,
    pub sig: [u8; 64],
}

/// The bytes signed for a request.
pub fn canonical(method: &str, path_and_query: &str, ts: i64, body: &[u8]) -> Vec<u8> {
    let body_hash = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(body));
    format!(
        "lineup-request-v1\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path_and_query,
        ts,
        body_hash
    )
    .into_bytes()
}

/// Builds the `Authorization` header value for a request.
pub fn sign_request(key: &SigningKey, method: &str, path_and_query: &str, ts: i64, body: &[u8]) -> String {
    let sig = key.sign(&canonical(method, path_and_query, ts, body));
    format!(
        "{SCHEME} key={}, ts={ts}, sig={}",
        URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
        URL_SAFE_NO_PAD.encode(sig.to_bytes())
    )
}

impl SignedHeader {
    /// Parses a header value.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        let rest = value.strip_prefix(SCHEME).ok_or(AuthError::Malformed)?;
        let rest = rest.strip_prefix(' ').ok_or(AuthError::Malformed)?;
        let (mut key, mut ts, mut sig) = (None, None, None);
        for part in rest.split(',') {
            let (k, v) = part.trim().split_once('=').ok_or(AuthError::Malformed)?;
            match k {
                "key" => key = Some(v.parse::<IdentityKey>().map_err(|_| AuthError::Malformed)?),
                "ts" => ts = Some(v.parse::<i64>().map_err(|_| AuthError::Malformed)?),
                "sig" => {
                    let raw = URL_SAFE_NO_PAD.decode(v).map_err(|_| AuthError::Malformed)?;
                    sig = Some(<[u8; 64]>::try_from(raw.as_slice()).map_err(|_| AuthError::Malformed)?);
                }
                _ => return Err(AuthError::Malformed),
            }
        }
        match (key, ts, sig) {
            (Some(key), Some(ts), Some(sig)) => Ok(SignedHeader { key, ts, sig }),
            _ => Err(AuthError::Malformed),
        }
    }

    /// Checks freshness against `server_ts`, then the signature over the request.
    pub fn verify(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        server_ts: i64,
    ) -> Result<IdentityKey, AuthError> {
        if (self.ts - server_ts).abs() > MAX_SKEW_SECS {
            return Err(AuthError::Stale { ts: self.ts, server_ts });
        }
        let vk = VerifyingKey::from_bytes(&self.key.0).map_err(|_| AuthError::BadSignature)?;
        vk.verify_strict(
            &canonical(method, path_and_query, self.ts, body),
            &Signature::from_bytes(&self.sig),
        )
        .map_err(|_| AuthError::BadSignature)?;
        Ok(self.key)
    }
}

/// The identity key of a signing key.
pub fn identity_of(key: &SigningKey) -> IdentityKey {
    IdentityKey(key.verifying_key().to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_parse_verify() {
        let k = SigningKey::from_bytes(&[3; 32]);
        let h = sign_request(&k, "post", "/v1/campaigns/demo/claim", 1000, b"{}");
        let p = SignedHeader::parse(&h).unwrap();
        assert_eq!(p.key, identity_of(&k));
        assert_eq!(
            p.verify("POST", "/v1/campaigns/demo/claim", b"{}", 1010),
            Ok(identity_of(&k))
        );
        // Another body, path or method breaks the signature.
        assert_eq!(
            p.verify("POST", "/v1/campaigns/demo/claim", b"{ }", 1000),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            p.verify("POST", "/v1/campaigns/other/claim", b"{}", 1000),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            p.verify("GET", "/v1/campaigns/demo/claim", b"{}", 1000),
            Err(AuthError::BadSignature)
        );
        // A replay later than the skew window is stale.
        assert_eq!(
            p.verify("POST", "/v1/campaigns/demo/claim", b"{}", 1000 + MAX_SKEW_SECS + 1),
            Err(AuthError::Stale {
                ts: 1000,
                server_ts: 1000 + MAX_SKEW_SECS + 1
            })
        );
    }

    #[test]
    fn malformed_headers() {
        for h in [
            "",
            "Bearer x",
            "Lineup",
            "Lineup key=abc, ts=1, sig=abc",
            "Lineup ts=1",
            "Lineup key=x,ts=1,sig=y,extra=1",
        ] {
            assert_eq!(SignedHeader::parse(h), Err(AuthError::Malformed), "{h}");
        }
    }
}
