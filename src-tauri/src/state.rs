//! What the app keeps while it runs: its profile directory (settings, identity metadata, claim
//! records, wallet), the credential store, the settings, the campaigns last seen, the claims in
//! progress, and the shell to reach the UI. Cheap to clone: claim tasks hold a clone.

use crate::config::Config;
use crate::error::{AppError, CmdResult, ErrorCode};
use crate::notify::Notified;
use crate::settings::{Language, Settings, SettingsStore};
use crate::shell::Shell;
use lineup_core::api::{ApiClient, ApiConfig};
use lineup_core::clock::MonotonicClock;
use lineup_core::engine::Progress;
use lineup_core::identity::{Identity, IdentityMeta, KeyringStore, MemoryStore, SecretStore};
use lineup_core::profile::Profile;
use lineup_core::wallet::Wallet;
use lineup_protocol::{Campaign, CampaignId, Contact, ProblemCode};
use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// Where the identity's secret key is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Secrets {
    /// The OS credential store (Secret Service or keyutils on Linux, Keychain, Android Keystore...).
    #[default]
    Platform,
    /// In process memory only: tests. A restart forgets the key.
    Memory,
}

/// Managed by Tauri; every command borrows it.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub(crate) profile: Profile,
    store: SettingsStore,
    settings: Mutex<Settings>,
    secrets: Secrets,
    /// The credential store once one was found to work (probing costs a round trip).
    secret_store: Mutex<Option<Arc<dyn SecretStore>>>,
    pub(crate) notified: Notified,
    pub(crate) shell: Arc<dyn Shell>,
    pub(crate) clock: MonotonicClock,
    campaigns: Mutex<BTreeMap<CampaignId, Campaign>>,
    /// The last progress of every claim seen in this run.
    claims: Mutex<BTreeMap<CampaignId, Progress>>,
    /// The contact a one-time code was last sent to (`register` answered `code_sent`), for
    /// `verify_code`. Memory only: after a restart the person asks for a code again.
    pending_contact: Mutex<Option<Contact>>,
    /// Campaigns whose claim task is running now, or that `give_back` holds.
    running: Mutex<BTreeMap<CampaignId, Slot>>,
    /// One `give_back` at a time (it stops a task, asks the server and rewrites the record).
    pub(crate) giving_back: tokio::sync::Mutex<()>,
}

/// What occupies a campaign's claim slot.
enum Slot {
    /// Its claim task.
    Task(tauri::async_runtime::JoinHandle<()>),
    /// `give_back` stopped the task (or found none) and is finishing the claim: nothing may
    /// start a new task until it is done.
    Held,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

fn lock<'a, T>(m: &'a Mutex<T>) -> MutexGuard<'a, T> {
    // Every critical section below is a plain read or write of a map or value: a panic inside
    // one cannot leave it half-updated, so a poisoned lock is still sound to use.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    /// Opens the profile at `data_dir` and loads the saved settings; an explicit server in
    /// `config` wins for this run.
    pub fn new(data_dir: PathBuf, config: &Config, secrets: Secrets, shell: Arc<dyn Shell>) -> CmdResult<Self> {
        let profile = Profile::open(&data_dir).map_err(|e| AppError::internal(e.to_string()))?;
        let store = SettingsStore::new(&data_dir);
        let mut settings = store.load();
        if let Some(server) = &config.server {
            settings.server_url = server.clone();
        }
        let notified = Notified::load(&data_dir);
        Ok(AppState(Arc::new(Inner {
            profile,
            store,
            settings: Mutex::new(settings),
            secrets,
            secret_store: Mutex::new(None),
            notified,
            shell,
            clock: MonotonicClock::new(),
            campaigns: Mutex::default(),
            claims: Mutex::default(),
            pending_contact: Mutex::default(),
            running: Mutex::default(),
            giving_back: tokio::sync::Mutex::new(()),
        })))
    }
}

impl Inner {
    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    pub fn language(&self) -> Language {
        lock(&self.settings).language
    }

    pub fn server_url(&self) -> String {
        lock(&self.settings).server_url.to_string()
    }

    /// Saves new settings; the old ones stay when the file cannot be written.
    pub fn set_settings(&self, new: Settings) -> CmdResult<Settings> {
        let mut current = lock(&self.settings);
        self.store.save(&new).map_err(|e| AppError::internal(e.to_string()))?;
        *current = new.clone();
        Ok(new)
    }

    /// The credential store, found on first use.
    pub fn secret_store(&self) -> CmdResult<Arc<dyn SecretStore>> {
        let mut slot = lock(&self.secret_store);
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let store: Arc<dyn SecretStore> = match self.secrets {
            Secrets::Memory => Arc::new(MemoryStore::new()),
            Secrets::Platform => Arc::new(KeyringStore::platform().map_err(keyring_error)?),
        };
        tracing::info!(store = store.name(), "credential store");
        *slot = Some(store.clone());
        Ok(store)
    }

    /// The public identity metadata, without touching the credential store.
    pub fn identity_meta(&self) -> CmdResult<Option<IdentityMeta>> {
        lineup_core::identity::meta_for(&self.profile, &self.server_url())
            .map_err(|e| AppError::internal(e.to_string()))
    }

    /// The identity with its key, made on first use.
    pub fn identity_or_create(&self) -> CmdResult<Identity> {
        let store = self.secret_store()?;
        Identity::load_or_create(&self.profile, store.as_ref(), &self.server_url()).map_err(keyring_error)
    }

    pub fn set_pending_contact(&self, contact: Option<Contact>) {
        *lock(&self.pending_contact) = contact;
    }

    pub fn pending_contact(&self) -> Option<Contact> {
        lock(&self.pending_contact).clone()
    }

    /// Passes `e` on; when it says this device's key was revoked (the person moved to another
    /// device), the key is replaced by a fresh, unregistered one first: it can never sign again,
    /// and the app then shows registration instead of failing every call.
    pub fn noticed(&self, e: AppError) -> AppError {
        if e.code == ErrorCode::Problem(ProblemCode::KeyRevoked) {
            match self.secret_store().and_then(|store| {
                Identity::renew(&self.profile, store.as_ref(), &self.server_url()).map_err(keyring_error)
            }) {
                Ok(id) => {
                    tracing::info!(identity = %id.public_key().to_b64(), "this key was revoked; a new one waits for registration")
                }
                Err(err) => tracing::warn!(error = %err, "this key was revoked and cannot be replaced"),
            }
        }
        e
    }

    /// The identity registered with the current server, or `not_registered`.
    pub fn registered_identity(&self) -> CmdResult<Identity> {
        let registered = self.identity_meta()?.is_some_and(|m| m.registered_at.is_some());
        if !registered {
            return Err(AppError::not_registered());
        }
        let store = self.secret_store()?;
        Identity::load_for(&self.profile, store.as_ref(), &self.server_url())
            .map_err(keyring_error)?
            .ok_or_else(AppError::not_registered)
    }

    /// An unsigned client for the current server.
    pub fn api(&self) -> CmdResult<ApiClient> {
        Ok(ApiClient::new(&self.server_url(), ApiConfig::default())?)
    }

    /// A client signing as the registered identity.
    pub fn signed_api(&self) -> CmdResult<ApiClient> {
        let identity = self.registered_identity()?;
        Ok(self.api()?.with_identity(identity.signing_key().clone()))
    }

    pub fn wallet(&self) -> Wallet {
        Wallet::open(&self.profile)
    }

    pub fn remember_campaigns(&self, list: &[Campaign]) {
        let mut map = lock(&self.campaigns);
        for c in list {
            map.insert(c.id.clone(), c.clone());
        }
    }

    pub fn campaign(&self, id: &CampaignId) -> Option<Campaign> {
        lock(&self.campaigns).get(id).cloned()
    }

    /// The campaign's title in the UI language.
    pub fn campaign_title(&self, id: &CampaignId) -> Option<String> {
        let c = self.campaign(id)?;
        Some(match self.language() {
            Language::Ko => c.title,
            Language::En => c.title_en,
        })
    }

    pub fn last_progress(&self, id: &CampaignId) -> Option<Progress> {
        lock(&self.claims).get(id).cloned()
    }

    pub fn record_progress(&self, p: &Progress) {
        lock(&self.claims).insert(p.campaign_id.clone(), p.clone());
    }

    /// Drops the remembered progress of a claim whose record was reset (a place moved here).
    pub fn forget_progress(&self, id: &CampaignId) {
        lock(&self.claims).remove(id);
    }

    pub fn all_progress(&self) -> Vec<Progress> {
        lock(&self.claims).values().cloned().collect()
    }

    /// Spawns `task` as the claim task of `id`; false (and `task` is dropped unstarted) when
    /// one already runs for this campaign or `give_back` holds it. The task ends with
    /// [`Inner::task_ended`].
    pub fn spawn_claim(&self, id: &CampaignId, task: impl Future<Output = ()> + Send + 'static) -> bool {
        let mut running = lock(&self.running);
        if running.contains_key(id) {
            return false;
        }
        // Spawned under the lock, so the task cannot report its end before it is recorded.
        let handle = tauri::async_runtime::spawn(task);
        running.insert(id.clone(), Slot::Task(handle));
        true
    }

    /// A claim task's last word: frees the campaign unless `give_back` has taken it over.
    pub fn task_ended(&self, id: &CampaignId) {
        let mut running = lock(&self.running);
        if matches!(running.get(id), Some(Slot::Task(_))) {
            running.remove(id);
        }
    }

    /// Takes the campaign over for `give_back` (one at a time: `giving_back`): no task may
    /// start until [`Inner::release`]. Returns the task that was running, to be stopped.
    pub fn hold(&self, id: &CampaignId) -> Option<tauri::async_runtime::JoinHandle<()>> {
        match lock(&self.running).insert(id.clone(), Slot::Held) {
            Some(Slot::Task(handle)) => Some(handle),
            Some(Slot::Held) | None => None,
        }
    }

    /// Ends a [`Inner::hold`].
    pub fn release(&self, id: &CampaignId) {
        let mut running = lock(&self.running);
        if matches!(running.get(id), Some(Slot::Held)) {
            running.remove(id);
        }
    }

    pub fn is_running(&self, id: &CampaignId) -> bool {
        lock(&self.running).contains_key(id)
    }

    /// The campaigns whose claim task runs now.
    pub fn running_claims(&self) -> Vec<CampaignId> {
        lock(&self.running)
            .iter()
            .filter(|(_, slot)| matches!(slot, Slot::Task(_)))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Whether any claim is still working (desktop: then closing the window only hides it to
    /// the tray; a phone has no window to close).
    #[cfg(desktop)]
    pub fn claim_running(&self) -> bool {
        !lock(&self.running).is_empty()
    }
}

pub(crate) fn keyring_error(e: lineup_core::identity::IdentityError) -> AppError {
    use lineup_core::identity::IdentityError;
    match e {
        IdentityError::NotCreated => AppError::not_registered(),
        IdentityError::Profile(p) => AppError::internal(p.to_string()),
        other => AppError::new(ErrorCode::Keyring, other.to_string()),
    }
}
