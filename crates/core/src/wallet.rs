//! The offline wallet: one JSON file per voucher in the profile's `wallet/` directory, the
//! issuing server's public keys beside them, every voucher verified against those keys on
//! load. It works with no network; when online, statuses (unused / redeemed / expired /
//! returned) are refreshed from `GET /v1/vouchers`.

use crate::api::{ApiClient, ApiError};
use crate::profile::{Profile, ProfileError, read_json, write_json};
use crate::qr;
use chrono::{DateTime, Utc};
use lineup_protocol::voucher::verify;
use lineup_protocol::{KeysResponse, PublicKeySet, Voucher, VoucherCode, VoucherList, VoucherStatus};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Why a wallet operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{0}")]
    Qr(#[from] qr::QrError),
}

/// A voucher as kept on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredVoucher {
    pub voucher: Voucher,
    pub server_url: String,
    #[serde(default)]
    pub campaign_title: Option<String>,
    pub saved_at: DateTime<Utc>,
}

/// A voucher as shown (`WalletEntry` in `docs/app-ipc.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalletEntry {
    pub voucher: Voucher,
    /// The token's signature checks against the issuer's stored keys and matches the record.
    pub verified: bool,
    pub status: VoucherStatus,
    pub qr_svg: String,
    pub campaign_title: Option<String>,
    pub server_url: String,
    /// Why `verified` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_error: Option<String>,
}

/// A file-name-safe form of a server URL.
fn slug(server_url: &str) -> String {
    server_url
        .trim_end_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The wallet of a profile.
#[derive(Debug, Clone)]
pub struct Wallet {
    dir: PathBuf,
}

impl Wallet {
    pub fn open(profile: &Profile) -> Self {
        Wallet {
            dir: profile.wallet_dir(),
        }
    }

    fn keys_path(&self, server_url: &str) -> PathBuf {
        self.dir.join("keys").join(format!("{}.json", slug(server_url)))
    }

    fn voucher_path(&self, server_url: &str, v: &Voucher) -> PathBuf {
        self.dir
            .join(format!("{}--{}-{}.json", slug(server_url), v.campaign_id, v.serial))
    }

    /// Keeps the issuer keys of `server_url` for offline verification.
    pub fn save_keys(&self, server_url: &str, keys: &KeysResponse) -> Result<(), WalletError> {
        Ok(write_json(&self.keys_path(server_url), keys)?)
    }

    pub fn keys(&self, server_url: &str) -> Result<Option<KeysResponse>, WalletError> {
        Ok(read_json(&self.keys_path(server_url))?)
    }

    /// The issuer keys of every server this wallet has seen.
    pub fn all_keys(&self) -> Result<Vec<KeysResponse>, WalletError> {
        let dir = self.dir.join("keys");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json")
                && let Some(k) = read_json::<KeysResponse>(&p)?
            {
                out.push(k);
            }
        }
        Ok(out)
    }

    /// Stores a voucher (replacing the stored copy of the same voucher).
    pub fn add(&self, server_url: &str, voucher: Voucher, campaign_title: Option<String>) -> Result<(), WalletError> {
        let path = self.voucher_path(server_url, &voucher);
        let title = match campaign_title {
            Some(t) => Some(t),
            None => read_json::<StoredVoucher>(&path)?.and_then(|s| s.campaign_title),
        };
        let stored = StoredVoucher {
            voucher,
            server_url: server_url.trim_end_matches('/').to_owned(),
            campaign_title: title,
            saved_at: Utc::now(),
        };
        Ok(write_json(&path, &stored)?)
    }

    /// Every stored voucher, as kept on disk.
    pub fn stored(&self) -> Result<Vec<StoredVoucher>, WalletError> {
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(source) => {
                return Err(ProfileError::Io {
                    path: self.dir.clone(),
                    source,
                }
                .into());
            }
        };
        let mut paths: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.'))
            })
            .collect();
        paths.sort();
        for p in paths {
            if let Some(s) = read_json::<StoredVoucher>(&p)? {
                out.push(s);
            }
        }
        out.sort_by_key(|a| a.voucher.issued_at);
        Ok(out)
    }

    /// Every voucher, verified offline against the stored issuer keys.
    pub fn entries(&self, now: DateTime<Utc>) -> Result<Vec<WalletEntry>, WalletError> {
        let mut out = Vec::new();
        for s in self.stored()? {
            let keys = self.keys(&s.server_url)?;
            let verify_error = check(&s.voucher, keys.as_ref()).err();
            let status = match s.voucher.status {
                VoucherStatus::Unused if s.voucher.expires_at < now => VoucherStatus::Expired,
                other => other,
            };
            out.push(WalletEntry {
                qr_svg: qr::svg(&s.voucher.token)?,
                verified: verify_error.is_none(),
                verify_error,
                status,
                voucher: s.voucher,
                campaign_title: s.campaign_title,
                server_url: s.server_url,
            });
        }
        Ok(out)
    }

    /// Finds a voucher by code (grouped or not), token or `campaign/serial`.
    pub fn find(&self, query: &str, now: DateTime<Utc>) -> Result<Option<WalletEntry>, WalletError> {
        let q = query.trim();
        let code = q.parse::<VoucherCode>().ok();
        Ok(self.entries(now)?.into_iter().find(|e| {
            let v = &e.voucher;
            Some(&v.code) == code.as_ref() || v.token == q || format!("{}/{}", v.campaign_id, v.serial) == q
        }))
    }

    /// Merges the server's list for `server_url`: statuses updated, missing vouchers added.
    /// Returns how many stored files changed.
    pub fn apply_server_list(&self, server_url: &str, list: &VoucherList) -> Result<usize, WalletError> {
        let server_url = server_url.trim_end_matches('/');
        let stored = self.stored()?;
        let mut changed = 0;
        for v in &list.vouchers {
            let old = stored.iter().find(|s| {
                s.server_url == server_url && s.voucher.campaign_id == v.campaign_id && s.voucher.serial == v.serial
            });
            let mut v = v.clone();
            if let Some(old) = old
                && is_final(old.voucher.status)
                && !is_final(v.status)
            {
                // Given back or used is for good: a server answer that still says unused or
                // expired (a cache a moment behind) does not bring the voucher back.
                v.status = old.voucher.status;
                v.redeemed_at = v.redeemed_at.or(old.voucher.redeemed_at);
            }
            if old.is_none_or(|s| s.voucher != v) {
                self.add(server_url, v, None)?;
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Fetches keys and statuses from the server and merges them.
    pub async fn refresh(&self, api: &ApiClient) -> Result<usize, WalletError> {
        let keys = api.keys().await?;
        self.save_keys(api.base_url(), &keys)?;
        let list = api.vouchers().await?;
        self.apply_server_list(api.base_url(), &list)
    }
}

/// A status a voucher never leaves: redeemed at the box office, or given back (void).
fn is_final(status: VoucherStatus) -> bool {
    matches!(status, VoucherStatus::Redeemed | VoucherStatus::Returned)
}

/// Checks a stored voucher's token against the issuer keys and the stored fields.
pub fn check(v: &Voucher, keys: Option<&KeysResponse>) -> Result<(), String> {
    let keys = keys.ok_or("the issuer's keys are not stored")?;
    let set = PublicKeySet::from_response(keys).map_err(|e| e.to_string())?;
    let t = verify(&v.token, &set, None).map_err(|e| e.to_string())?;
    if t.claims.campaign != v.campaign_id || t.claims.serial != v.serial || t.claims.amount != v.amount {
        return Err("the token does not match the stored voucher".into());
    }
    if t.code() != v.code {
        return Err("the code does not match the token".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use lineup_protocol::voucher::{TOKEN_VERSION, encode_public_key, sign};
    use lineup_protocol::{IdentityKey, PublicKeyInfo, VoucherClaims};

    fn keys(k: &SigningKey) -> KeysResponse {
        KeysResponse {
            keys: vec![PublicKeyInfo {
                kid: 1,
                alg: "Ed25519".into(),
                public_key: encode_public_key(&k.verifying_key()),
            }],
        }
    }

    fn issue(k: &SigningKey, serial: u64, expires: DateTime<Utc>) -> Voucher {
        let claims = VoucherClaims {
            version: TOKEN_VERSION,
            kid: 1,
            campaign: "demo".parse().unwrap(),
            serial,
            amount: 6000,
            currency: *b"KRW",
            expires: expires.timestamp() as u64,
            holder: IdentityKey([1; 32]).holder_binding(),
        };
        let t = sign(&claims, k).unwrap();
        Voucher {
            campaign_id: "demo".parse().unwrap(),
            serial,
            code: t.code(),
            token: t.text,
            amount: 6000,
            currency: "KRW".into(),
            kid: 1,
            issued_at: Utc::now(),
            expires_at: expires,
            status: VoucherStatus::Unused,
            redeemed_at: None,
        }
    }

    #[test]
    fn vouchers_verify_offline_and_tampering_is_flagged() {
        let d = tempfile::tempdir().unwrap();
        let w = Wallet::open(&Profile::open(d.path()).unwrap());
        let k = SigningKey::from_bytes(&[5; 32]);
        let later = Utc::now() + chrono::Duration::days(30);
        let url = "http://127.0.0.1:9/";
        // Without keys nothing verifies.
        w.add(url, issue(&k, 1, later), Some("할인".into())).unwrap();
        let e = w.entries(Utc::now()).unwrap();
        assert_eq!(e.len(), 1);
        assert!(!e[0].verified);
        w.save_keys(url, &keys(&k)).unwrap();
        let e = w.entries(Utc::now()).unwrap();
        assert!(e[0].verified, "{:?}", e[0].verify_error);
        assert_eq!(e[0].status, VoucherStatus::Unused);
        assert!(e[0].qr_svg.contains("<svg"));
        assert_eq!(e[0].campaign_title.as_deref(), Some("할인"));
        assert_eq!(e[0].server_url, "http://127.0.0.1:9");

        // A forged voucher (other key) and a voucher whose fields were edited are refused.
        let other = SigningKey::from_bytes(&[6; 32]);
        w.add(url, issue(&other, 2, later), None).unwrap();
        let mut edited = issue(&k, 3, later);
        edited.serial = 4;
        w.add(url, edited, None).unwrap();
        let e = w.entries(Utc::now()).unwrap();
        let verified: Vec<(u64, bool)> = e.iter().map(|e| (e.voucher.serial, e.verified)).collect();
        assert!(verified.contains(&(1, true)) && verified.contains(&(2, false)) && verified.contains(&(4, false)));
    }

    #[test]
    fn statuses_merge_from_the_server_and_expiry_is_shown_offline() {
        let d = tempfile::tempdir().unwrap();
        let w = Wallet::open(&Profile::open(d.path()).unwrap());
        let k = SigningKey::from_bytes(&[5; 32]);
        let url = "http://s";
        w.save_keys(url, &keys(&k)).unwrap();
        let v1 = issue(&k, 1, Utc::now() + chrono::Duration::days(1));
        w.add(url, v1.clone(), Some("t".into())).unwrap();
        // The server says it was redeemed, and knows a voucher we lost.
        let mut r1 = v1.clone();
        r1.status = VoucherStatus::Redeemed;
        r1.redeemed_at = Some(Utc::now());
        let v2 = issue(&k, 2, Utc::now() + chrono::Duration::days(1));
        let list = VoucherList {
            vouchers: vec![r1, v2.clone()],
        };
        assert_eq!(w.apply_server_list(url, &list).unwrap(), 2);
        assert_eq!(w.apply_server_list(url, &list).unwrap(), 0);
        let e = w.entries(Utc::now()).unwrap();
        assert_eq!(e.len(), 2);
        let one = e.iter().find(|e| e.voucher.serial == 1).unwrap();
        assert_eq!(one.status, VoucherStatus::Redeemed);
        assert_eq!(one.campaign_title.as_deref(), Some("t"), "title kept across updates");
        // Two days later, offline: the unused one shows as expired.
        let later = Utc::now() + chrono::Duration::days(2);
        let two = w.find(&v2.code.grouped(), later).unwrap().unwrap();
        assert_eq!(two.status, VoucherStatus::Expired);
        assert!(w.find(&v2.token, later).unwrap().is_some());
        assert!(w.find("demo/1", later).unwrap().is_some());
        assert!(w.find("demo/9", later).unwrap().is_none());
    }

    #[test]
    fn a_returned_voucher_stays_returned_through_refreshes_and_time() {
        let d = tempfile::tempdir().unwrap();
        let w = Wallet::open(&Profile::open(d.path()).unwrap());
        let k = SigningKey::from_bytes(&[5; 32]);
        let url = "http://s";
        w.save_keys(url, &keys(&k)).unwrap();
        let v = issue(&k, 1, Utc::now() + chrono::Duration::days(1));
        w.add(url, v.clone(), Some("t".into())).unwrap();
        // The server lists it as given back: the wallet takes that status.
        let mut returned = v.clone();
        returned.status = VoucherStatus::Returned;
        let list = VoucherList {
            vouchers: vec![returned.clone()],
        };
        assert_eq!(w.apply_server_list(url, &list).unwrap(), 1);
        assert_eq!(w.apply_server_list(url, &list).unwrap(), 0);
        let e = w.entries(Utc::now()).unwrap();
        assert_eq!(e[0].status, VoucherStatus::Returned);
        assert_eq!(e[0].voucher.status, VoucherStatus::Returned);
        assert_eq!(e[0].campaign_title.as_deref(), Some("t"));
        // A stale answer that still says unused does not bring it back.
        let stale = VoucherList { vouchers: vec![v] };
        assert_eq!(w.apply_server_list(url, &stale).unwrap(), 0);
        assert_eq!(w.entries(Utc::now()).unwrap()[0].status, VoucherStatus::Returned);
        // Past its expiry it still says returned, not expired.
        let later = Utc::now() + chrono::Duration::days(2);
        assert_eq!(w.entries(later).unwrap()[0].status, VoucherStatus::Returned);
    }
}
