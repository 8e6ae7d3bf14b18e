//! The issuer's signing keys (made on first start, kept in the data directory with mode 0600,
//! their public halves pinned in the database by key id), rotation, voucher signing, and
//! staff-token hashing.
//!
//! Key files: `issuer-ed25519.key` holds kid 1, `issuer-ed25519-k<kid>.key` each later kid. An
//! instance signs with the highest pinned kid and must hold that key: an instance whose key file
//! is not the one pinned under its kid (another data directory on the same database) refuses to
//! start rather than sign under a `kid` with a key scanners do not know. Every pinned key keeps
//! verifying (`GET /v1/keys` lists them all), so a rotation never voids vouchers already out.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use lineup_protocol::voucher::{self, PublicKeySet, TOKEN_VERSION, VoucherClaims, VoucherToken};
use lineup_protocol::{CampaignId, IdentityKey, KeysResponse, PublicKeyInfo};
use sha2::Digest;
use std::path::Path;

/// Key id of the first key.
pub const KID: u32 = 1;
const KEY_FILE: &str = "issuer-ed25519.key";

/// The file holding the secret key of `kid` in a data directory.
pub fn key_file(data_dir: &Path, kid: u32) -> std::path::PathBuf {
    if kid == KID {
        data_dir.join(KEY_FILE)
    } else {
        data_dir.join(format!("issuer-ed25519-k{kid}.key"))
    }
}

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
    #[error(
        "the database pins issuer key id {kid} to another key than {path} holds: instances sharing a database must share their key files (copy them from the instance that made them), or this data directory belongs to another database"
    )]
    KeyMismatch { kid: u32, path: String },
    #[error(
        "the database pins issuer keys up to id {kid} but {path} is missing: copy the key files from the instance that made them (or that rotated the key)"
    )]
    MissingKey { kid: u32, path: String },
    #[error("issuer key id {new} was pinned by another instance meanwhile: run the rotation again")]
    RotationRace { new: u32 },
    #[error("issuer keys in the database: {0}")]
    Store(String),
}

impl From<crate::store::StoreError> for IssuerError {
    fn from(e: crate::store::StoreError) -> Self {
        IssuerError::Store(e.to_string())
    }
}

/// Signs vouchers; knows the public keys scanners use.
#[derive(Clone)]
pub struct Issuer {
    kid: u32,
    key: SigningKey,
    keys: PublicKeySet,
    /// Every key that verifies, by kid (the signing one included), for `GET /v1/keys`.
    published: Vec<(u32, ed25519_dalek::VerifyingKey)>,
    /// What the demo staff token derives from: kid 1's secret where this data directory holds
    /// it, so a rotation does not change the demo token.
    demo_secret: [u8; 32],
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
        let demo_secret = key.to_bytes();
        Issuer {
            kid,
            published: vec![(kid, key.verifying_key())],
            key,
            keys,
            demo_secret,
        }
    }

    /// The issuer of a server on `store`: pins kid 1 on a database that pins nothing yet (made
    /// on first start, or the key an older server already signed with), otherwise signs with
    /// the highest pinned kid, whose key file must be in `data_dir` and match the pinned key.
    pub async fn open(data_dir: &Path, store: &crate::store::Store, now: DateTime<Utc>) -> Result<Self, IssuerError> {
        use crate::store::keys::{PinOutcome, pin_key, pinned_keys};
        let mut pinned = pinned_keys(store).await?;
        if pinned.is_empty() {
            let first = Issuer::load_or_create(data_dir)?;
            let pk = first.key.verifying_key().to_bytes();
            match pin_key(store, KID, &pk, now).await? {
                PinOutcome::Pinned => tracing::info!(kid = KID, "issuer key pinned in the database"),
                PinOutcome::OtherKey(_) | PinOutcome::OtherKid(_) => {
                    return Err(IssuerError::KeyMismatch {
                        kid: KID,
                        path: key_file(data_dir, KID).display().to_string(),
                    });
                }
            }
            pinned = pinned_keys(store).await?;
        }
        let current = pinned
            .iter()
            .map(|p| p.kid)
            .max()
            .ok_or_else(|| IssuerError::Store("no issuer key pinned".into()))?;
        let path = key_file(data_dir, current);
        let key = match read_key(&path)? {
            Some(k) => k,
            None => {
                return Err(IssuerError::MissingKey {
                    kid: current,
                    path: path.display().to_string(),
                });
            }
        };
        // Every key file here must be the key pinned under its kid (the signing one first of all).
        for p in &pinned {
            let file = key_file(data_dir, p.kid);
            let held = if p.kid == current {
                Some(key.clone())
            } else {
                read_key(&file)?
            };
            if held.is_some_and(|k| k.verifying_key().to_bytes() != p.public_key) {
                return Err(IssuerError::KeyMismatch {
                    kid: p.kid,
                    path: file.display().to_string(),
                });
            }
        }
        let mut keys = PublicKeySet::new();
        let mut published = Vec::new();
        for p in &pinned {
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&p.public_key)
                .map_err(|_| IssuerError::Store(format!("pinned key {} is not an Ed25519 key", p.kid)))?;
            keys.insert(p.kid, vk);
            published.push((p.kid, vk));
        }
        let demo_secret = match read_key(&key_file(data_dir, KID))? {
            Some(k) => k.to_bytes(),
            None => key.to_bytes(),
        };
        Ok(Issuer {
            kid: current,
            key,
            keys,
            published,
            demo_secret,
        })
    }

    /// Makes the next key (kid = highest pinned + 1) in `data_dir` and pins it: instances
    /// started afterwards sign with it (each needs the new key file), and every older key keeps
    /// verifying. Returns the new kid and its public key (unpadded base64url).
    pub async fn rotate(
        data_dir: &Path,
        store: &crate::store::Store,
        now: DateTime<Utc>,
    ) -> Result<(u32, String), IssuerError> {
        use crate::store::keys::{PinOutcome, pin_key};
        let current = Issuer::open(data_dir, store, now).await?;
        let new = current.published.iter().map(|(k, _)| *k).max().unwrap_or(KID) + 1;
        let path = key_file(data_dir, new);
        let io = |source| IssuerError::Io {
            path: path.display().to_string(),
            source,
        };
        let secret = random_bytes::<32>()?;
        // The file first: a pinned key that no file holds would stop every instance.
        write_private(&path, &secret).map_err(io)?;
        let key = SigningKey::from_bytes(&secret);
        match pin_key(store, new, &key.verifying_key().to_bytes(), now).await? {
            PinOutcome::Pinned => {
                tracing::info!(kid = new, "issuer key rotated");
                Ok((new, voucher::encode_public_key(&key.verifying_key())))
            }
            PinOutcome::OtherKey(_) | PinOutcome::OtherKid(_) => {
                let _ = std::fs::remove_file(&path);
                Err(IssuerError::RotationRace { new })
            }
        }
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
                crate::private_fs::private_dir(data_dir).map_err(io)?;
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
            keys: self
                .published
                .iter()
                .map(|(kid, vk)| PublicKeyInfo {
                    kid: *kid,
                    alg: "Ed25519".into(),
                    public_key: voucher::encode_public_key(vk),
                })
                .collect(),
        }
    }

    /// The public key vouchers are signed with now (unpadded base64url).
    pub fn signing_public_key(&self) -> String {
        voucher::encode_public_key(&self.key.verifying_key())
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
        h.update(self.demo_secret);
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

/// The key in `path`, or `None` when there is no such file.
fn read_key(path: &Path) -> Result<Option<SigningKey>, IssuerError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let arr: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| IssuerError::BadKeyFile(path.display().to_string()))?;
            crate::private_fs::tighten(path).map_err(|source| IssuerError::Io {
                path: path.display().to_string(),
                source,
            })?;
            Ok(Some(SigningKey::from_bytes(&arr)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(IssuerError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
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
