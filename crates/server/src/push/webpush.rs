//! The two cryptographic halves of a Web Push request, written out on aws-lc-rs (already linked
//! through rustls): RFC 8291 message encryption (`aes128gcm`, RFC 8188, one record) and the
//! RFC 8292 VAPID `Authorization` header (an ES256 JWT). The `web-push` crate does the same but
//! pulls OpenSSL (through `ece`) and an HTTP client of its own, and its VAPID `aud` drops a
//! non-default port, which a push service on `host:port` would refuse.

use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use aws_lc_rs::{aead, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::path::Path;

/// The record size written in the header: the whole message is one record, well under it.
const RECORD_SIZE: u32 = 4096;
/// Largest plaintext one record holds (4096 minus header-free overhead: 16-byte tag, 1 delimiter).
pub const MAX_PLAINTEXT: usize = 3993;
const VAPID_FILE: &str = "push-vapid-p256.pk8";

#[derive(Debug, thiserror::Error)]
pub enum WebPushError {
    #[error("the subscriber's p256dh is not an uncompressed P-256 point")]
    BadSubscriberKey,
    #[error("the subscriber's auth secret is not 16 bytes")]
    BadAuth,
    #[error("the payload is {0} bytes; one Web Push record holds at most {MAX_PLAINTEXT}")]
    TooLarge(usize),
    #[error("cryptography failed: {0}")]
    Crypto(&'static str),
    #[error("cannot read or write the VAPID key {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the VAPID key file {0} is not a P-256 PKCS#8 key")]
    BadKeyFile(String),
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&k);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// Encrypts `plaintext` for the subscriber (`ua_public`, `auth`) with a fresh key pair and salt.
pub fn encrypt(ua_public: &[u8], auth: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, WebPushError> {
    let as_private = PrivateKey::generate(&ECDH_P256).map_err(|_| WebPushError::Crypto("key generation"))?;
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| WebPushError::Crypto("randomness"))?;
    encrypt_with(&as_private, &salt, ua_public, auth, plaintext)
}

/// RFC 8291 section 3.4 with a given application-server key and salt (the test vectors of its
/// appendix A fix both).
pub fn encrypt_with(
    as_private: &PrivateKey,
    salt: &[u8; 16],
    ua_public: &[u8],
    auth: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, WebPushError> {
    if ua_public.len() != 65 || ua_public[0] != 4 {
        return Err(WebPushError::BadSubscriberKey);
    }
    if auth.len() != 16 {
        return Err(WebPushError::BadAuth);
    }
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(WebPushError::TooLarge(plaintext.len()));
    }
    let as_public = as_private
        .compute_public_key()
        .map_err(|_| WebPushError::Crypto("public key"))?;
    let as_public = as_public.as_ref();
    let ecdh_secret = agreement::agree(
        as_private,
        UnparsedPublicKey::new(&ECDH_P256, ua_public),
        WebPushError::BadSubscriberKey,
        |s| Ok(s.to_vec()),
    )?;
    // PRK_key = HMAC(auth, ecdh); IKM = HMAC(PRK_key, "WebPush: info" 0 ua_public as_public 1)
    let prk_key = hmac_sha256(auth, &[&ecdh_secret]);
    let ikm = hmac_sha256(&prk_key, &[b"WebPush: info\0", ua_public, as_public, &[1]]);
    let prk = hmac_sha256(salt, &[&ikm]);
    let cek = hmac_sha256(&prk, &[b"Content-Encoding: aes128gcm\0", &[1]]);
    let nonce = hmac_sha256(&prk, &[b"Content-Encoding: nonce\0", &[1]]);
    let key = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_128_GCM, &cek[..16]).map_err(|_| WebPushError::Crypto("aes key"))?,
    );
    let mut n = [0u8; 12];
    n.copy_from_slice(&nonce[..12]);
    let mut record = Vec::with_capacity(plaintext.len() + 17);
    record.extend_from_slice(plaintext);
    // The last (and only) record ends with the delimiter 2 and no padding.
    record.push(2);
    key.seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(n), aead::Aad::empty(), &mut record)
        .map_err(|_| WebPushError::Crypto("seal"))?;
    let mut out = Vec::with_capacity(16 + 4 + 1 + 65 + record.len());
    out.extend_from_slice(salt);
    out.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    out.push(65);
    out.extend_from_slice(as_public);
    out.extend_from_slice(&record);
    Ok(out)
}

/// The server's VAPID key pair (P-256), made on first start and kept in the data directory
/// (PKCS#8, mode 0600) like the issuer key.
pub struct VapidKey {
    pair: EcdsaKeyPair,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl VapidKey {
    pub fn load_or_create(data_dir: &Path) -> Result<Self, WebPushError> {
        let path = data_dir.join(VAPID_FILE);
        let io = |source| WebPushError::Io {
            path: path.display().to_string(),
            source,
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                    .map_err(|_| WebPushError::Crypto("VAPID key generation"))?;
                crate::issuer::write_private(&path, doc.as_ref()).map_err(io)?;
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(io(e)),
        };
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &bytes)
            .map_err(|_| WebPushError::BadKeyFile(path.display().to_string()))?;
        Ok(VapidKey { pair })
    }

    /// The public key, uncompressed, unpadded base64url (`applicationServerKey`, VAPID `k`).
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref())
    }

    /// `Authorization: vapid t=<JWT>, k=<public key>` for a push to an endpoint of `origin`
    /// (scheme, host and a non-default port: RFC 8292's `aud`), valid until `exp` (Unix
    /// seconds, at most 24 h ahead), naming the operator `sub`.
    pub fn authorization(&self, origin: &str, exp: i64, sub: &str) -> Result<String, WebPushError> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": origin, "exp": exp, "sub": sub });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let sig = self
            .pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| WebPushError::Crypto("VAPID signature"))?;
        Ok(format!(
            "vapid t={signing_input}.{}, k={}",
            URL_SAFE_NO_PAD.encode(sig.as_ref()),
            self.public_key()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).unwrap()
    }

    /// RFC 8291 appendix A, byte for byte.
    #[test]
    fn rfc8291_example() {
        let as_private =
            PrivateKey::from_private_key(&ECDH_P256, &b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).unwrap();
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let ua_public = b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        let auth = b64("BTBZMqHH6r4Tts7J_aSIgg");
        let out = encrypt_with(
            &as_private,
            &salt,
            &ua_public,
            &auth,
            b"When I grow up, I want to be a watermelon",
        )
        .unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(out),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn refuses_bad_keys_and_oversized_payloads() {
        let ua = b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        assert!(matches!(
            encrypt(&ua[..64], &[0; 16], b"x"),
            Err(WebPushError::BadSubscriberKey)
        ));
        assert!(matches!(encrypt(&ua, &[0; 15], b"x"), Err(WebPushError::BadAuth)));
        assert!(matches!(
            encrypt(&ua, &[0; 16], &[b'x'; MAX_PLAINTEXT + 1]),
            Err(WebPushError::TooLarge(_))
        ));
        // A point not on the curve.
        let mut off = ua.clone();
        off[64] ^= 1;
        assert!(encrypt(&off, &[0; 16], b"x").is_err());
        // Fresh salt and key every time.
        let a = encrypt(&ua, &[0; 16], b"x").unwrap();
        let b = encrypt(&ua, &[0; 16], b"x").unwrap();
        assert_ne!(a[..16], b[..16]);
    }

    #[test]
    fn vapid_key_is_kept_private_and_the_jwt_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let k = VapidKey::load_or_create(dir.path()).unwrap();
        assert_eq!(
            k.public_key(),
            VapidKey::load_or_create(dir.path()).unwrap().public_key()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(VAPID_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let h = k
            .authorization("http://127.0.0.1:4567", 1_900_000_000, "mailto:ops@example.com")
            .unwrap();
        let (t, key) = h.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        assert_eq!(key, k.public_key());
        let parts: Vec<&str> = t.split('.').collect();
        let claims: serde_json::Value = serde_json::from_slice(&b64(parts[1])).unwrap();
        assert_eq!(claims["aud"], "http://127.0.0.1:4567");
        assert_eq!(claims["sub"], "mailto:ops@example.com");
        let pk = aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED, b64(key));
        pk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &b64(parts[2]))
            .unwrap();
        std::fs::write(dir.path().join(VAPID_FILE), b"junk").unwrap();
        assert!(matches!(
            VapidKey::load_or_create(dir.path()),
            Err(WebPushError::BadKeyFile(_))
        ));
    }

    /// What one push costs the sender's CPU (a fresh ECDH key pair, the key schedule, AES-GCM,
    /// one ES256 signature): `cargo test -p lineup-server --lib -- --ignored push_crypto_cost --nocapture`.
    #[test]
    #[ignore = "a measurement; run by hand"]
    fn push_crypto_cost() {
        let dir = tempfile::tempdir().unwrap();
        let k = VapidKey::load_or_create(dir.path()).unwrap();
        let ua = b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        let payload = [b'x'; 600];
        let n = 2000u32;
        let t = std::time::Instant::now();
        for _ in 0..n {
            encrypt(&ua, &[7; 16], &payload).unwrap();
            k.authorization("https://push.example.org", 1_900_000_000, "mailto:a@example.com")
                .unwrap();
        }
        let per = t.elapsed() / n;
        println!(
            "one push: {per:?} of CPU ({:.0} pushes/s on one core)",
            1.0 / per.as_secs_f64()
        );
        assert!(per < std::time::Duration::from_millis(5), "{per:?}");
    }
}
