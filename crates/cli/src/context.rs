//! What every command needs: the profile, the server URL and, for signed calls, the identity.

use crate::args::Cli;
use anyhow::{Context as _, Result, bail};
use lineup_core::api::{ApiClient, ApiConfig};
use lineup_core::identity::{Identity, KeyringStore};
use lineup_core::profile::Profile;
use lineup_core::wallet::Wallet;
use std::path::PathBuf;

pub struct Ctx {
    pub profile: Profile,
    pub server: Option<String>,
    pub json: bool,
}

fn default_profile_dir() -> Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("lineup"));
    }
    let home = std::env::var_os("HOME").context("no HOME: pass --profile DIR")?;
    Ok(PathBuf::from(home).join(".local/share/lineup"))
}

impl Ctx {
    pub fn new(cli: &Cli) -> Result<Self> {
        let dir = match &cli.profile {
            Some(d) => d.clone(),
            None => default_profile_dir()?,
        };
        let profile = Profile::open(&dir).with_context(|| format!("cannot open profile {}", dir.display()))?;
        Ok(Ctx {
            profile,
            server: cli.server.as_ref().map(|s| s.trim_end_matches('/').to_owned()),
            json: cli.json,
        })
    }

    pub fn wallet(&self) -> Wallet {
        Wallet::open(&self.profile)
    }

    /// The server: `--server`, else the one this profile's identity registered with.
    pub fn server_url(&self) -> Result<String> {
        if let Some(s) = &self.server {
            return Ok(s.clone());
        }
        let meta: Option<lineup_core::identity::IdentityMeta> =
            lineup_core::profile::read_json(&self.profile.identity_path())?;
        match meta {
            Some(m) => Ok(m.server_url),
            None => bail!("no server given: pass --server URL (or set LINEUP_SERVER)"),
        }
    }

    pub fn api(&self) -> Result<ApiClient> {
        let url = self.server_url()?;
        ApiClient::new(&url, ApiConfig::default()).with_context(|| format!("bad server URL {url}"))
    }

    pub fn secret_store(&self) -> Result<KeyringStore> {
        KeyringStore::platform().context("no credential store for the identity secret")
    }

    /// The registered identity and a client signing as it.
    pub fn signed_api(&self) -> Result<(Identity, ApiClient)> {
        let store = self.secret_store()?;
        let url = self.server_url()?;
        let id = Identity::load_for(&self.profile, &store, &url)
            .context("cannot load the identity")?
            .context("no identity in this profile: run `lineup register --contact ...` first")?;
        if id.meta.registered_at.is_none() {
            bail!("this identity is not registered yet: run `lineup register --contact ...`");
        }
        let api = self.api()?.with_identity(id.signing_key().clone());
        Ok((id, api))
    }
}
