//! The issuer's signing key (made on first start, kept in the data directory with mode 0600),
//! voucher signing, and staff-token hashing.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use lineup_protocol::voucher::{self, PublicKeySet, TOKEN_VERSION, VoucherClaims, VoucherToken};
use lineup_protocol::{CampaignId, IdentityKey, KeysResponse, PublicKeyInfo};
use sha2::Digest;
use std::path::Path;

/// Key id of the one key this server signs with.
pub const KID: u32 = 1;
const KEY_FILE: &str = "issuer-ed25519.key";

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("cannot read or write the issuer key {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the issuer key file {0} is not 32 raw bytes")]
    BadKeyFile(String),
    #[error("no system randomness: {0}")]
    Random(String),
    #[error("voucher signing failed: {0}")]
    Sign(#[from] lineup_protocol::VoucherError),
}

/// Signs vouchers; knows the public keys scanners use.
#[derive(Clone)]
pub struct Issuer {
    kid: u32,
    key: SigningKey,
    keys: PublicKeySet,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Issuer").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl Issuer {
    pub fn new(kid: u32, key: SigningKey) -> Self {
        let mut keys = PublicKeySet::new();
        keys.insert(kid, key.verifying_key());
        Issuer { kid, key, keys }
    }

    /// Loads the key from `data_dir`, or makes one (0600) on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, IssuerError> {
        let path = data_dir.join(KEY_FILE);
        let io = |source| IssuerError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let arr: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| IssuerError::BadKeyFile(path.display().to_string()))?;
                Ok(Issuer::new(KID, SigningKey::from_bytes(&arr)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(io)?;
                let secret = random_bytes::<32>()?;
                write_private(&path, &secret).map_err(io)?;
                Ok(Issuer::new(KID, SigningKey::from_bytes(&secret)))
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn kid(&self) -> u32 {
        self.kid
    }

    pub fn public_keys(&self) -> &PublicKeySet {
        &self.keys
    }

    /// The body of `GET /v1/keys`.
    pub fn keys_response(&self) -> KeysResponse {
        KeysResponse {
            keys: vec![PublicKeyInfo {
                kid: self.kid,
                alg: "Ed25519".into(),
                public_key: voucher::encode_public_key(&self.key.verifying_key()),
            }],
        }
    }

    /// Signs the voucher `serial` of `campaign` for `holder`.
    pub fn sign_voucher(
        &self,
        campaign: &CampaignId,
        serial: u64,
        amount: u32,
        currency: [u8; 3],
        expires_at: DateTime<Utc>,
        holder: &IdentityKey,
    ) -> Result<VoucherToken, IssuerError> {
        let claims = VoucherClaims {
            version: TOKEN_VERSION,
            kid: self.kid,
            campaign: campaign.clone(),
            serial,
            amount,
            currency,
            expires: u64::try_from(expires_at.timestamp()).unwrap_or(0),
            holder: holder.holder_binding(),
        };
        Ok(voucher::sign(&claims, &self.key)?)
    }

    /// The demo campaign's staff token, derived from the issuer secret so that a restart on
    /// the same data directory prints the same token without storing it anywhere.
    pub fn demo_staff_token(&self) -> String {
        let mut h = sha2::Sha256::new();
        h.update(b"lineup-demo-staff-v1");
        h.update(self.key.to_bytes());
        URL_SAFE_NO_PAD.encode(&h.finalize()[..18])
    }
}

/// What the store keeps of a staff token.
pub fn staff_token_hash(token: &str) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update(b"lineup-staff-v1");
    h.update(token.as_bytes());
    h.finalize().into()
}

/// Compares a presented token with a stored hash in constant time.
pub fn staff_token_matches(token: &str, stored: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    staff_token_hash(token).ct_eq(stored).into()
}

/// Whether a presented token is the staff token of any of `stored`: every hash is compared in
/// constant time and all of them are compared, so the time taken tells nothing of which one
/// (or whether one) matched.
pub fn staff_token_matches_any<'a>(token: &str, stored: impl IntoIterator<Item = &'a [u8; 32]>) -> bool {
    use subtle::ConstantTimeEq;
    let presented = staff_token_hash(token);
    stored
        .into_iter()
        .fold(subtle::Choice::from(0), |any, h| any | presented.ct_eq(h))
        .into()
}

/// Fresh bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], IssuerError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| IssuerError::Random(e.to_string()))?;
    Ok(b)
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_made_once_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let a = Issuer::load_or_create(dir.path()).unwrap();
        let b = Issuer::load_or_create(dir.path()).unwrap();
        assert_eq!(a.keys_response(), b.keys_response());
        assert_eq!(a.demo_staff_token(), b.demo_staff_token());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        assert!(matches!(
            Issuer::load_or_create(dir.path()),
            Err(IssuerError::BadKeyFile(_))
        ));
    }

    #[test]
    fn signed_voucher_verifies_and_binds_holder() {
        let issuer = Issuer::new(KID, SigningKey::from_bytes(&[5; 32]));
        let holder = IdentityKey([1; 32]);
        let exp = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        let t = issuer
            .sign_voucher(&"demo".parse().unwrap(), 7, 6000, *b"KRW", exp, &holder)
            .unwrap();
        let v = voucher::verify(&t.text, issuer.public_keys(), None).unwrap();
        assert_eq!(v.claims.serial, 7);
        assert!(v.claims.is_held_by(&holder));
        assert!(!v.claims.is_held_by(&IdentityKey([2; 32])));
    }

    #[test]
    fn staff_tokens_compare() {
        let h = staff_token_hash("box-office-token-1");
        assert!(staff_token_matches("box-office-token-1", &h));
        assert!(!staff_token_matches("box-office-token-2", &h));
        let other = staff_token_hash("box-office-token-3");
        assert!(staff_token_matches_any("box-office-token-1", [&other, &h]));
        assert!(!staff_token_matches_any("box-office-token-2", [&other, &h]));
        assert!(!staff_token_matches_any("box-office-token-1", []));
    }
}
