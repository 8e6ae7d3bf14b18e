//! The device identity: an Ed25519 key pair made once on the device for each server it talks to
//! and registered with that server before a drop. One key per server origin: a key shared
//! between servers would let them link the person across them, and a server would see requests
//! it could try elsewhere (signatures also name the server's origin, see `lineup_protocol::auth`). The secret lives only in the OS credential store (through
//! keyring-core and the platform's store crate); the profile directory keeps public metadata.
//! The secret is never written to a plain file and never logged.

use crate::profile::{Profile, ProfileError, read_json, write_json};
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use keyring_core::{CredentialStore, Entry};
use lineup_protocol::auth::Origin;
use lineup_protocol::{Contact, IdentityKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The credential-store service name every Lineup secret is filed under.
pub const SERVICE: &str = "dev.lineup.identity";

/// Why an identity operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "no OS credential store is available ({0}); on Linux start a Secret Service (e.g. gnome-keyring) or run under `keyctl session -`"
    )]
    NoStore(String),
    #[error("the credential store failed: {0}")]
    Store(String),
    #[error("the secret for identity {0} is missing from the credential store")]
    MissingSecret(IdentityKey),
    #[error("the stored secret does not match identity {0}")]
    Mismatch(IdentityKey),
    #[error("no identity in this profile; run `register` first")]
    NotCreated,
    #[error("{0}")]
    BadServer(String),
    #[error("the system random number generator failed: {0}")]
    Random(String),
    #[error(transparent)]
    Profile(#[from] ProfileError),
}

/// Where secrets are kept. Accounts are identity public keys.
pub trait SecretStore: Send + Sync {
    /// A short name for messages (`secret-service`, `keyutils`, `memory`, ...).
    fn name(&self) -> &str;
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, IdentityError>;
    fn set(&self, account: &str, secret: &[u8]) -> Result<(), IdentityError>;
    fn delete(&self, account: &str) -> Result<(), IdentityError>;
}

/// A keyring-core credential store.
pub struct KeyringStore {
    name: String,
    store: Arc<CredentialStore>,
}

/// Runs a credential-store call on its own OS thread. Some stores (the Secret Service over
/// zbus) block on an internal runtime and panic when called from inside a tokio runtime, and
/// the app and CLI call from async code.
fn off_runtime<T: Send>(f: impl FnOnce() -> Result<T, IdentityError> + Send) -> Result<T, IdentityError> {
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|_| Err(IdentityError::Store("the credential store call panicked".into())))
    })
}

fn store_err(e: keyring_core::Error) -> IdentityError {
    IdentityError::Store(e.to_string())
}

impl KeyringStore {
    pub fn new(name: impl Into<String>, store: Arc<CredentialStore>) -> Self {
        KeyringStore {
            name: name.into(),
            store,
        }
    }

    fn entry(&self, account: &str) -> Result<Entry, IdentityError> {
        Entry::new_in_store(&self.store, SERVICE, account).map_err(store_err)
    }

    /// Writes, reads back and deletes a probe secret: stores that exist but cannot be used
    /// (no session bus, no session keyring) fail here rather than at registration.
    pub fn probe(&self) -> Result<(), IdentityError> {
        let account = format!("probe-{}", std::process::id());
        self.set(&account, b"probe")?;
        let back = self.get(&account)?;
        self.delete(&account)?;
        if back.as_deref() == Some(b"probe".as_slice()) {
            Ok(())
        } else {
            Err(IdentityError::Store("probe secret did not read back".into()))
        }
    }

    /// The platform's stores in order of preference, the first that works. On Linux: the
    /// Secret Service, then the kernel keyutils session keyring.
    pub fn platform() -> Result<Self, IdentityError> {
        off_runtime(Self::platform_here)
    }

    fn platform_here() -> Result<Self, IdentityError> {
        let mut failures = Vec::new();
        for candidate in platform_candidates() {
            match candidate {
                Ok(store) => match store.probe() {
                    Ok(()) => {
                        tracing::debug!(store = store.name(), "using credential store");
                        return Ok(store);
                    }
                    Err(e) => failures.push(format!("{}: {e}", store.name())),
                },
                Err(e) => failures.push(e),
            }
        }
        Err(IdentityError::NoStore(if failures.is_empty() {
            "none for this platform".into()
        } else {
            failures.join("; ")
        }))
    }
}

#[cfg(target_os = "linux")]
fn platform_candidates() -> Vec<Result<KeyringStore, String>> {
    // Without a session bus the Secret Service cannot work; skip it so its connection attempt
    // does not slow every command.
    let has_bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
        || std::path::Path::new(&format!("/run/user/{}/bus", uid())).exists();
    let mut out = Vec::new();
    if has_bus {
        out.push(
            zbus_secret_service_keyring_store::Store::new()
                .map(|s| KeyringStore::new("secret-service", s))
                .map_err(|e| format!("secret-service: {e}")),
        );
    }
    out.push(
        linux_keyutils_keyring_store::Store::new()
            .map(|s| KeyringStore::new("keyutils", s))
            .map_err(|e| format!("keyutils: {e}")),
    );
    out
}

#[cfg(target_os = "linux")]
fn uid() -> String {
    // The uid without libc: the owner of /proc/self.
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid().to_string())
        .unwrap_or_default()
}

#[cfg(any(target_os = "macos", target_os = "ios"))]
fn platform_candidates() -> Vec<Result<KeyringStore, String>> {
    vec![
        apple_native_keyring_store::keychain::Store::new()
            .map(|s| KeyringStore::new("keychain", s))
            .map_err(|e| format!("keychain: {e}")),
    ]
}

#[cfg(target_os = "windows")]
fn platform_candidates() -> Vec<Result<KeyringStore, String>> {
    vec![
        windows_native_keyring_store::Store::new()
            .map(|s| KeyringStore::new("windows-credential-manager", s))
            .map_err(|e| format!("windows: {e}")),
    ]
}

#[cfg(target_os = "android")]
fn platform_candidates() -> Vec<Result<KeyringStore, String>> {
    vec![
        android_native_keyring_store::Store::new()
            .map(|s| KeyringStore::new("android-keystore", s))
            .map_err(|e| format!("android: {e}")),
    ]
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "macos",
    target_os = "ios",
    target_os = "windows",
    target_os = "android"
)))]
fn platform_candidates() -> Vec<Result<KeyringStore, String>> {
    Vec::new()
}

impl SecretStore for KeyringStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, IdentityError> {
        off_runtime(|| match self.entry(account)?.get_secret() {
            Ok(s) => Ok(Some(s)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(store_err(e)),
        })
    }

    fn set(&self, account: &str, secret: &[u8]) -> Result<(), IdentityError> {
        off_runtime(|| self.entry(account)?.set_secret(secret).map_err(store_err))
    }

    fn delete(&self, account: &str) -> Result<(), IdentityError> {
        off_runtime(|| match self.entry(account)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(store_err(e)),
        })
    }
}

/// An in-process store for tests and the simulator.
#[derive(Default)]
pub struct MemoryStore {
    secrets: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.secrets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SecretStore for MemoryStore {
    fn name(&self) -> &str {
        "memory"
    }

    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, IdentityError> {
        Ok(self.map().get(account).cloned())
    }

    fn set(&self, account: &str, secret: &[u8]) -> Result<(), IdentityError> {
        self.map().insert(account.to_owned(), secret.to_vec());
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<(), IdentityError> {
        self.map().remove(account);
        Ok(())
    }
}

/// The public half of an identity, kept in the profile (`identity.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityMeta {
    pub public_key: IdentityKey,
    pub server_url: String,
    /// A masked contact for display, e.g. `+82 10-****-5678`.
    #[serde(default)]
    pub contact_hint: Option<String>,
    #[serde(default)]
    pub registered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A loaded identity: metadata and the signing key.
pub struct Identity {
    pub meta: IdentityMeta,
    key: SigningKey,
    /// Where its metadata lives in the profile.
    path: std::path::PathBuf,
}

/// Where the metadata of the identity for `server_url` lives: `identity.json` for the profile's
/// first server (a profile made before identities were per server keeps its file), and
/// `identities/<origin>.json` for each other server.
pub fn meta_path_for(profile: &Profile, server_url: &str) -> Result<std::path::PathBuf, IdentityError> {
    let origin = Origin::parse(server_url).map_err(|e| IdentityError::BadServer(e.to_string()))?;
    let first = profile.identity_path();
    let first_origin = read_json::<IdentityMeta>(&first)?.map(|m| Origin::parse(&m.server_url));
    Ok(match first_origin {
        None => first,
        Some(Ok(o)) if o == origin => first,
        Some(_) => {
            let slug: String = origin
                .as_str()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            profile.dir().join("identities").join(format!("{slug}.json"))
        }
    })
}

/// The metadata of the identity for `server_url`, without touching the credential store.
pub fn meta_for(profile: &Profile, server_url: &str) -> Result<Option<IdentityMeta>, IdentityError> {
    Ok(read_json::<IdentityMeta>(&meta_path_for(profile, server_url)?)?)
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl Identity {
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    pub fn public_key(&self) -> IdentityKey {
        self.meta.public_key
    }

    /// Loads the profile's first identity (the one in `identity.json`), `None` when none was
    /// created.
    pub fn load(profile: &Profile, store: &dyn SecretStore) -> Result<Option<Identity>, IdentityError> {
        Self::load_at(profile.identity_path(), store)
    }

    /// Loads the identity for the server at `server_url`, `None` when none was created for it.
    pub fn load_for(
        profile: &Profile,
        store: &dyn SecretStore,
        server_url: &str,
    ) -> Result<Option<Identity>, IdentityError> {
        Self::load_at(meta_path_for(profile, server_url)?, store)
    }

    fn load_at(path: std::path::PathBuf, store: &dyn SecretStore) -> Result<Option<Identity>, IdentityError> {
        let Some(meta) = read_json::<IdentityMeta>(&path)? else {
            return Ok(None);
        };
        let secret = store
            .get(&meta.public_key.to_b64())?
            .ok_or(IdentityError::MissingSecret(meta.public_key))?;
        let bytes: [u8; 32] = secret
            .as_slice()
            .try_into()
            .map_err(|_| IdentityError::Mismatch(meta.public_key))?;
        let key = SigningKey::from_bytes(&bytes);
        if lineup_protocol::auth::identity_of(&key) != meta.public_key {
            return Err(IdentityError::Mismatch(meta.public_key));
        }
        Ok(Some(Identity { meta, key, path }))
    }

    /// Loads the identity for `server_url`, or makes a new one for it (secret first, then
    /// metadata, so metadata never points at a secret that was not stored).
    pub fn load_or_create(
        profile: &Profile,
        store: &dyn SecretStore,
        server_url: &str,
    ) -> Result<Identity, IdentityError> {
        let path = meta_path_for(profile, server_url)?;
        if let Some(id) = Identity::load_at(path.clone(), store)? {
            return Ok(id);
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| IdentityError::Random(e.to_string()))?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        let public_key = lineup_protocol::auth::identity_of(&key);
        store.set(&public_key.to_b64(), key.as_bytes())?;
        let meta = IdentityMeta {
            public_key,
            server_url: server_url.to_owned(),
            contact_hint: None,
            registered_at: None,
            created_at: Utc::now(),
        };
        write_json(&path, &meta)?;
        Ok(Identity { meta, key, path })
    }

    /// Replaces the key for `server_url` with a new one, for a key the server revoked (the
    /// person moved to another device, then came back here): a revoked key can never sign
    /// again, so its secret is deleted and a fresh, unregistered identity takes its place.
    pub fn renew(profile: &Profile, store: &dyn SecretStore, server_url: &str) -> Result<Identity, IdentityError> {
        let path = meta_path_for(profile, server_url)?;
        if let Some(old) = read_json::<IdentityMeta>(&path)? {
            store.delete(&old.public_key.to_b64())?;
            std::fs::remove_file(&path).map_err(|source| ProfileError::Io {
                path: path.clone(),
                source,
            })?;
        }
        Identity::load_or_create(profile, store, server_url)
    }

    /// Records a successful registration in the metadata.
    pub fn mark_registered(
        &mut self,
        _profile: &Profile,
        contact: &Contact,
        at: DateTime<Utc>,
    ) -> Result<(), IdentityError> {
        self.meta.contact_hint = Some(contact_hint(contact));
        self.meta.registered_at = Some(at);
        write_json(&self.path, &self.meta)?;
        Ok(())
    }
}

/// A contact with its middle masked, enough for a person to recognise it.
pub fn contact_hint(contact: &Contact) -> String {
    let s = contact.as_str();
    if let Some((local, domain)) = s.split_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    let digits: Vec<char> = s.chars().collect();
    let n = digits.len();
    let keep_head = if s.starts_with('+') { 5.min(n) } else { 3.min(n) };
    let keep_tail = 4.min(n.saturating_sub(keep_head));
    let head: String = digits[..keep_head].iter().collect();
    let tail: String = digits[n - keep_tail..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(n - keep_head - keep_tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_then_load_the_same_identity_and_no_secret_on_disk() {
        let d = tempfile::tempdir().unwrap();
        let profile = Profile::open(d.path()).unwrap();
        let store = MemoryStore::new();
        assert!(Identity::load(&profile, &store).unwrap().is_none());
        let a = Identity::load_or_create(&profile, &store, "http://x").unwrap();
        let b = Identity::load_or_create(&profile, &store, "http://x").unwrap();
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(a.signing_key().to_bytes(), b.signing_key().to_bytes());
        let on_disk = std::fs::read(profile.identity_path()).unwrap();
        let secret = a.signing_key().to_bytes();
        assert!(!on_disk.windows(32).any(|w| w == secret));
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, secret);
        assert!(!String::from_utf8_lossy(&on_disk).contains(&b64));
        assert!(!format!("{a:?}").contains(&b64));
    }

    #[test]
    fn each_server_gets_its_own_key() {
        let d = tempfile::tempdir().unwrap();
        let profile = Profile::open(d.path()).unwrap();
        let store = MemoryStore::new();
        let first = Identity::load_or_create(&profile, &store, "https://a.example").unwrap();
        let other = Identity::load_or_create(&profile, &store, "https://b.example:8443/").unwrap();
        assert_ne!(first.public_key(), other.public_key());
        // The same server, however its URL is spelled, gets the same key back.
        let again = Identity::load_or_create(&profile, &store, "HTTPS://A.example:443/x").unwrap();
        assert_eq!(again.public_key(), first.public_key());
        let back = Identity::load_for(&profile, &store, "https://b.example:8443")
            .unwrap()
            .unwrap();
        assert_eq!(back.public_key(), other.public_key());
        assert!(
            Identity::load_for(&profile, &store, "https://c.example")
                .unwrap()
                .is_none()
        );
        // The first server's identity stays where profiles always kept it.
        assert_eq!(
            Identity::load(&profile, &store).unwrap().unwrap().public_key(),
            first.public_key()
        );
        // Registering one marks only that one.
        let mut b = Identity::load_for(&profile, &store, "https://b.example:8443")
            .unwrap()
            .unwrap();
        b.mark_registered(&profile, &"kim@example.com".parse().unwrap(), Utc::now())
            .unwrap();
        assert!(
            meta_for(&profile, "https://b.example:8443")
                .unwrap()
                .unwrap()
                .registered_at
                .is_some()
        );
        assert!(
            meta_for(&profile, "https://a.example")
                .unwrap()
                .unwrap()
                .registered_at
                .is_none()
        );
        assert!(matches!(
            Identity::load_for(&profile, &store, "lineup.example"),
            Err(IdentityError::BadServer(_))
        ));
    }

    #[test]
    fn missing_or_wrong_secret_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let profile = Profile::open(d.path()).unwrap();
        let store = MemoryStore::new();
        let a = Identity::load_or_create(&profile, &store, "http://x").unwrap();
        let account = a.public_key().to_b64();
        store.set(&account, &[1u8; 32]).unwrap();
        assert!(matches!(
            Identity::load(&profile, &store),
            Err(IdentityError::Mismatch(_))
        ));
        store.delete(&account).unwrap();
        assert!(matches!(
            Identity::load(&profile, &store),
            Err(IdentityError::MissingSecret(_))
        ));
    }

    #[test]
    fn keyring_mock_store_roundtrips_secrets() {
        let mock: Arc<CredentialStore> = keyring_core::mock::Store::new().unwrap();
        let store = KeyringStore::new("mock", mock);
        store.probe().unwrap();
        assert_eq!(store.get("nobody").unwrap(), None);
        store.set("a", &[7u8; 32]).unwrap();
        assert_eq!(store.get("a").unwrap(), Some(vec![7u8; 32]));
        store.delete("a").unwrap();
        store.delete("a").unwrap();
        assert_eq!(store.get("a").unwrap(), None);
    }

    #[test]
    fn registration_is_recorded_with_a_masked_contact() {
        let d = tempfile::tempdir().unwrap();
        let profile = Profile::open(d.path()).unwrap();
        let store = MemoryStore::new();
        let mut a = Identity::load_or_create(&profile, &store, "http://x").unwrap();
        let c: Contact = "+82 10-1234-5678".parse().unwrap();
        a.mark_registered(&profile, &c, Utc::now()).unwrap();
        let b = Identity::load(&profile, &store).unwrap().unwrap();
        assert_eq!(b.meta.contact_hint.as_deref(), Some("+8210****5678"));
        assert_eq!(contact_hint(&"kim@example.com".parse().unwrap()), "k***@example.com");
        // Korean numbers are kept in E.164 whichever way they were typed.
        assert_eq!(contact_hint(&"010-1234-5678".parse().unwrap()), "+8210****5678");
    }
}
