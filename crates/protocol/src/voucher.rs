//! The signed voucher token. A voucher is a postcard-encoded [`VoucherClaims`] followed by a
//! 64-byte Ed25519 signature over a domain tag and the claims, as unpadded base64url: about
//! 120 characters, which fits a version-7 QR code at error-correction level M. Anyone with the
//! issuer's public keys (served at `GET /v1/keys`) can check a voucher offline.

use crate::code::VoucherCode;
use crate::ids::{CampaignId, IdentityKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Domain-separation tag signed before the claims bytes.
pub const VOUCHER_SIGNING_TAG: &[u8] = b"lineup-voucher-v1";
/// Current token format version.
pub const TOKEN_VERSION: u8 = 1;
const SIG_LEN: usize = 64;
/// Longest token accepted, so a hostile QR code cannot make a scanner allocate much.
pub const MAX_TOKEN_CHARS: usize = 512;

/// What a voucher says. Field order is the wire order; do not reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherClaims {
    /// Token format version ([`TOKEN_VERSION`]).
    pub version: u8,
    /// Id of the issuer key that signed it.
    pub kid: u32,
    /// Campaign the voucher belongs to.
    pub campaign: CampaignId,
    /// Serial within the campaign, 1-based.
    pub serial: u64,
    /// Face value in minor units of `currency` (KRW has none: 6000 means 6,000 won).
    pub amount: u32,
    /// ISO 4217 currency code.
    pub currency: [u8; 3],
    /// Last valid instant, Unix seconds.
    pub expires: u64,
    /// Binding to the holder's identity ([`IdentityKey::holder_binding`]).
    pub holder: [u8; 8],
}

impl VoucherClaims {
    pub fn currency_str(&self) -> String {
        String::from_utf8_lossy(&self.currency).into_owned()
    }

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(i64::try_from(self.expires).ok()?, 0)
    }

    /// Whether the voucher was issued to `key`.
    pub fn is_held_by(&self, key: &IdentityKey) -> bool {
        self.holder == key.holder_binding()
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoucherError {
    #[error("the token is not valid base64url or is too long")]
    Encoding,
    #[error("the token is malformed")]
    Malformed,
    #[error("unsupported token version {0}")]
    Version(u8),
    #[error("the token was signed by unknown key {0}")]
    UnknownKey(u32),
    #[error("the token's signature is not valid: it was altered or forged")]
    Signature,
    #[error("the voucher expired at {0}")]
    Expired(DateTime<Utc>),
}

/// A token whose signature has been checked, with its decoded claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherToken {
    pub claims: VoucherClaims,
    pub signature: [u8; SIG_LEN],
    /// The token text exactly as issued.
    pub text: String,
}

impl VoucherToken {
    /// The human-readable code belonging to this token.
    pub fn code(&self) -> VoucherCode {
        VoucherCode::derive(&self.signature)
    }
}

fn signing_input(claims_bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(VOUCHER_SIGNING_TAG.len() + claims_bytes.len());
    m.extend_from_slice(VOUCHER_SIGNING_TAG);
    m.extend_from_slice(claims_bytes);
    m
}

/// Signs `claims` with `key`, returning the token text and its code.
pub fn sign(claims: &VoucherClaims, key: &SigningKey) -> Result<VoucherToken, VoucherError> {
    let bytes = postcard::to_stdvec(claims).map_err(|_| VoucherError::Malformed)?;
    let sig = key.sign(&signing_input(&bytes));
    let sig_bytes = sig.to_bytes();
    let mut all = bytes;
    all.extend_from_slice(&sig_bytes);
    Ok(VoucherToken {
        claims: claims.clone(),
        signature: sig_bytes,
        text: URL_SAFE_NO_PAD.encode(all),
    })
}

/// Decodes a token without checking its signature (for display of untrusted input only).
pub fn decode_unverified(text: &str) -> Result<(VoucherClaims, [u8; SIG_LEN], Vec<u8>), VoucherError> {
    let text = text.trim();
    if text.len() > MAX_TOKEN_CHARS {
        return Err(VoucherError::Encoding);
    }
    let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| VoucherError::Encoding)?;
    if raw.len() <= SIG_LEN {
        return Err(VoucherError::Malformed);
    }
    let (body, sig) = raw.split_at(raw.len() - SIG_LEN);
    let version = *body.first().ok_or(VoucherError::Malformed)?;
    if version != TOKEN_VERSION {
        return Err(VoucherError::Version(version));
    }
    let (claims, rest): (VoucherClaims, &[u8]) =
        postcard::take_from_bytes(body).map_err(|_| VoucherError::Malformed)?;
    if !rest.is_empty() {
        return Err(VoucherError::Malformed);
    }
    let mut s = [0u8; SIG_LEN];
    s.copy_from_slice(sig);
    Ok((claims, s, body.to_vec()))
}

/// Checks `text` against `keys` offline: signature, key id and (when `now` is given) expiry.
pub fn verify(text: &str, keys: &PublicKeySet, now: Option<DateTime<Utc>>) -> Result<VoucherToken, VoucherError> {
    let (claims, sig, body) = decode_unverified(text)?;
    let key = keys.get(claims.kid).ok_or(VoucherError::UnknownKey(claims.kid))?;
    key.verify_strict(&signing_input(&body), &Signature::from_bytes(&sig))
        .map_err(|_| VoucherError::Signature)?;
    if let Some(now) = now
        && let Some(exp) = claims.expires_at()
        && now.timestamp() > exp.timestamp()
    {
        return Err(VoucherError::Expired(exp));
    }
    Ok(VoucherToken {
        claims,
        signature: sig,
        text: text.trim().to_owned(),
    })
}

/// The issuer public keys a verifier trusts, by key id.
#[derive(Debug, Clone, Default)]
pub struct PublicKeySet {
    keys: BTreeMap<u32, VerifyingKey>,
}

impl PublicKeySet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, kid: u32, key: VerifyingKey) {
        self.keys.insert(kid, key);
    }

    pub fn get(&self, kid: u32) -> Option<&VerifyingKey> {
        self.keys.get(&kid)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Builds a set from the `GET /v1/keys` response, refusing malformed keys.
    pub fn from_response(resp: &crate::api::KeysResponse) -> Result<Self, VoucherError> {
        let mut set = Self::new();
        for k in &resp.keys {
            let bytes = URL_SAFE_NO_PAD
                .decode(&k.public_key)
                .map_err(|_| VoucherError::Encoding)?;
            let arr: [u8; 32] = bytes.try_into().map_err(|_| VoucherError::Malformed)?;
            let vk = VerifyingKey::from_bytes(&arr).map_err(|_| VoucherError::Malformed)?;
            set.insert(k.kid, vk);
        }
        Ok(set)
    }
}

/// Encodes a verifying key as it appears in `GET /v1/keys`.
pub fn encode_public_key(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> VoucherClaims {
        VoucherClaims {
            version: TOKEN_VERSION,
            kid: 1,
            campaign: "demo".parse().unwrap(),
            serial: 42,
            amount: 6000,
            currency: *b"KRW",
            expires: 1_798_761_600,
            holder: IdentityKey([9; 32]).holder_binding(),
        }
    }

    fn keyset(k: &SigningKey, kid: u32) -> PublicKeySet {
        let mut s = PublicKeySet::new();
        s.insert(kid, k.verifying_key());
        s
    }

    #[test]
    fn sign_verify_roundtrip_and_size() {
        let k = SigningKey::from_bytes(&[1; 32]);
        let t = sign(&claims(), &k).unwrap();
        assert!(t.text.len() <= 130, "token is {} chars", t.text.len());
        let v = verify(&t.text, &keyset(&k, 1), None).unwrap();
        assert_eq!(v.claims, claims());
        assert_eq!(v.code(), t.code());
    }

    #[test]
    fn tampering_is_detected() {
        let k = SigningKey::from_bytes(&[1; 32]);
        let t = sign(&claims(), &k).unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(&t.text).unwrap();
        // Change the serial byte (after version, kid, campaign length and "demo").
        raw[7] ^= 1;
        let forged = URL_SAFE_NO_PAD.encode(&raw);
        assert_eq!(verify(&forged, &keyset(&k, 1), None), Err(VoucherError::Signature));
        let other = SigningKey::from_bytes(&[2; 32]);
        assert_eq!(verify(&t.text, &keyset(&other, 1), None), Err(VoucherError::Signature));
        assert_eq!(verify(&t.text, &keyset(&k, 7), None), Err(VoucherError::UnknownKey(1)));
        assert_eq!(verify("!!", &keyset(&k, 1), None), Err(VoucherError::Encoding));
        assert_eq!(verify("AAAA", &keyset(&k, 1), None), Err(VoucherError::Malformed));
    }

    #[test]
    fn expiry_is_checked_when_asked() {
        let k = SigningKey::from_bytes(&[1; 32]);
        let t = sign(&claims(), &k).unwrap();
        let late = DateTime::from_timestamp(1_798_761_601, 0).unwrap();
        assert!(matches!(
            verify(&t.text, &keyset(&k, 1), Some(late)),
            Err(VoucherError::Expired(_))
        ));
        let early = DateTime::from_timestamp(1_798_761_600, 0).unwrap();
        assert!(verify(&t.text, &keyset(&k, 1), Some(early)).is_ok());
    }
}
