//! Request signing. An identity is an Ed25519 key pair made on the device; the server keeps
//! only the public key. Every authenticated request carries
//!
//! ```text
//! Authorization: Lineup key=<public key, base64url>, ts=<unix seconds>, sig=<base64url>
//! ```
//!
//! where `sig` signs
//! `lineup-request-v2\n{origin}\n{METHOD}\n{path and query}\n{ts}\n{base64url(sha256(body))}`.
//! The origin (`https://host[:port]`, as the client reaches the server) binds a signature to one
//! server: a server that forwards a user's signed request to another is refused there. The
//! server refuses a timestamp more than [`MAX_SKEW_SECS`] from its clock (a replayed request)
//! and tells the client its time so a phone with a wrong clock can correct itself.

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
    #[error("the request signature does not match the key (or was made for another server's origin)")]
    BadSignature,
    #[error("the request timestamp {ts} is too far from the server's time {server_ts}")]
    Stale { ts: i64, server_ts: i64 },
}

/// A server's origin as a client reaches it: `scheme://host[:port]` with scheme `http` or
/// `https`, lower case, the scheme's default port left out (`https://Lineup.Example:443/v1` is
/// `https://lineup.example`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin(String);

/// Why a text is not an origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an http(s) origin such as https://lineup.example or http://127.0.0.1:8080")]
pub struct BadOrigin(String);

impl Origin {
    /// The origin of a URL (its path, query and fragment are ignored).
    pub fn parse(url: &str) -> Result<Origin, BadOrigin> {
        let bad = || BadOrigin(url.to_owned());
        let (scheme, rest) = url.trim().split_once("://").ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        Origin::from_parts(&scheme, authority).map_err(|_| bad())
    }

    /// The origin of a request that arrived with `Host: authority` over `scheme`.
    pub fn from_parts(scheme: &str, authority: &str) -> Result<Origin, BadOrigin> {
        let bad = || BadOrigin(format!("{scheme}://{authority}"));
        let default_port = match scheme {
            "http" => ":80",
            "https" => ":443",
            _ => return Err(bad()),
        };
        let authority = authority.to_ascii_lowercase();
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_');
        if authority.is_empty() || !authority.chars().all(ok) || authority.starts_with(':') {
            return Err(bad());
        }
        let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
        Ok(Origin(format!("{scheme}://{authority}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Origin {
    type Err = BadOrigin;

    fn from_str(s: &str) -> Result<Self, BadOrigin> {
        Origin::parse(s)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed `Authorization: Lineup ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeader {
    pub key: IdentityKey,
    pub ts: i64,
    pub sig: [u8; 64],
}

/// The bytes signed for a request to the server at `origin`.
pub fn canonical(origin: &Origin, method: &str, path_and_query: &str, ts: i64, body: &[u8]) -> Vec<u8> {
    let body_hash = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(body));
    format!(
        "lineup-request-v2\n{}\n{}\n{}\n{}\n{}",
        origin,
        method.to_ascii_uppercase(),
        path_and_query,
        ts,
        body_hash
    )
    .into_bytes()
}

/// Builds the `Authorization` header value for a request to the server at `origin`.
pub fn sign_request(
    key: &SigningKey,
    origin: &Origin,
    method: &str,
    path_and_query: &str,
    ts: i64,
    body: &[u8],
) -> String {
    let sig = key.sign(&canonical(origin, method, path_and_query, ts, body));
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

    /// Checks freshness against `server_ts`, then the signature over the request as made for
    /// one of `origins` (the server's own).
    pub fn verify(
        &self,
        origins: &[Origin],
        method: &str,
        path_and_query: &str,
        body: &[u8],
        server_ts: i64,
    ) -> Result<IdentityKey, AuthError> {
        if (self.ts - server_ts).abs() > MAX_SKEW_SECS {
            return Err(AuthError::Stale { ts: self.ts, server_ts });
        }
        let vk = VerifyingKey::from_bytes(&self.key.0).map_err(|_| AuthError::BadSignature)?;
        let sig = Signature::from_bytes(&self.sig);
        origins
            .iter()
            .find(|o| {
                vk.verify_strict(&canonical(o, method, path_and_query, self.ts, body), &sig)
                    .is_ok()
            })
            .map(|_| self.key)
            .ok_or(AuthError::BadSignature)
    }
}

/// The identity key of a signing key.
pub fn identity_of(key: &SigningKey) -> IdentityKey {
    IdentityKey(key.verifying_key().to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> Origin {
        Origin::parse(s).unwrap()
    }

    #[test]
    fn sign_parse_verify() {
        let here = [origin("https://lineup.example")];
        let k = SigningKey::from_bytes(&[3; 32]);
        let h = sign_request(&k, &here[0], "post", "/v1/campaigns/demo/claim", 1000, b"{}");
        let p = SignedHeader::parse(&h).unwrap();
        assert_eq!(p.key, identity_of(&k));
        assert_eq!(
            p.verify(&here, "POST", "/v1/campaigns/demo/claim", b"{}", 1010),
            Ok(identity_of(&k))
        );
        // Another body, path or method breaks the signature.
        assert_eq!(
            p.verify(&here, "POST", "/v1/campaigns/demo/claim", b"{ }", 1000),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            p.verify(&here, "POST", "/v1/campaigns/other/claim", b"{}", 1000),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            p.verify(&here, "GET", "/v1/campaigns/demo/claim", b"{}", 1000),
            Err(AuthError::BadSignature)
        );
        // A replay later than the skew window is stale.
        assert_eq!(
            p.verify(
                &here,
                "POST",
                "/v1/campaigns/demo/claim",
                b"{}",
                1000 + MAX_SKEW_SECS + 1
            ),
            Err(AuthError::Stale {
                ts: 1000,
                server_ts: 1000 + MAX_SKEW_SECS + 1
            })
        );
    }

    #[test]
    fn a_request_signed_for_one_server_is_refused_by_another() {
        let k = SigningKey::from_bytes(&[4; 32]);
        let evil = origin("https://evil.example");
        let h = sign_request(&k, &evil, "GET", "/v1/vouchers", 1000, b"");
        let p = SignedHeader::parse(&h).unwrap();
        let real = [origin("https://lineup.example"), origin("http://lineup.example")];
        assert_eq!(
            p.verify(&real, "GET", "/v1/vouchers", b"", 1000),
            Err(AuthError::BadSignature)
        );
        assert_eq!(p.verify(&[evil], "GET", "/v1/vouchers", b"", 1000), Ok(identity_of(&k)));
    }

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            origin("HTTPS://Lineup.Example:443/v1/x?y").as_str(),
            "https://lineup.example"
        );
        assert_eq!(origin("http://127.0.0.1:8080").as_str(), "http://127.0.0.1:8080");
        assert_eq!(origin("http://host:80/").as_str(), "http://host");
        assert_eq!(origin("https://host:80").as_str(), "https://host:80");
        assert_eq!(origin("http://[::1]:9000/").as_str(), "http://[::1]:9000");
        for bad in [
            "ftp://x",
            "lineup.example",
            "https://",
            "https://user@host",
            "https://a b",
            "http://:80",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
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
