//! The person's settings (server, language, notifications, whether notifications show the
//! voucher code) and where they are kept: one JSON file in the app data directory.

use lineup_core::profile::{ProfileError, read_json, write_json};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The demo server `lineup-server --demo` listens on by default.
pub const DEFAULT_SERVER_URL: &str = "http://127.0.0.1:8787";

/// A claim server's base URL: http(s), with a host, no query or fragment, no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServerUrl(String);

/// Why a server URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerUrlError {
    #[error("not a URL: {0}")]
    Parse(String),
    #[error("the server URL must start with http:// or https://")]
    Scheme,
    #[error("the server URL needs a host")]
    NoHost,
    #[error("the server URL must not carry a query, fragment or credentials")]
    Extra,
}

impl ServerUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ServerUrl {
    type Err = ServerUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(s.trim()).map_err(|e| ServerUrlError::Parse(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ServerUrlError::Scheme);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ServerUrlError::NoHost);
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(ServerUrlError::Extra);
        }
        // Paths are joined as `<base>/v1/...`, so one canonical form without the trailing slash.
        Ok(ServerUrl(url.as_str().trim_end_matches('/').to_owned()))
    }
}

impl TryFrom<String> for ServerUrl {
    type Error = ServerUrlError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ServerUrl> for String {
    fn from(u: ServerUrl) -> String {
        u.0
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Default for ServerUrl {
    fn default() -> Self {
        ServerUrl(DEFAULT_SERVER_URL.to_owned())
    }
}

/// The UI language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    #[default]
    Ko,
    En,
}

/// What `get_settings` / `set_settings` carry (docs/app-ipc.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub server_url: ServerUrl,
    #[serde(default)]
    pub language: Language,
    #[serde(default = "notifications_on")]
    pub notifications: bool,
    /// Notifications leave the voucher code out (they may be read on a locked screen). On by
    /// default on phones, off on desktops.
    #[serde(default = "hide_code_by_default")]
    pub hide_code_on_lock_screen: bool,
}

fn notifications_on() -> bool {
    true
}

fn hide_code_by_default() -> bool {
    cfg!(mobile)
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server_url: ServerUrl::default(),
            language: Language::default(),
            notifications: true,
            hide_code_on_lock_screen: hide_code_by_default(),
        }
    }
}

/// The settings file (`settings.json` in the app data directory).
#[derive(Debug, Clone)]
pub struct SettingsStore {
    path: PathBuf,
}

impl SettingsStore {
    pub fn new(data_dir: &Path) -> Self {
        SettingsStore {
            path: data_dir.join("settings.json"),
        }
    }

    /// The saved settings; defaults when there is no file yet. A file that cannot be read is
    /// reported and replaced by defaults rather than keeping the app from starting.
    pub fn load(&self) -> Settings {
        read_json(&self.path)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "settings file unreadable, using defaults");
                None
            })
            .unwrap_or_default()
    }

    /// Writes atomically (temporary file, fsync, rename), so a crash leaves old or new, never half.
    pub fn save(&self, settings: &Settings) -> Result<(), ProfileError> {
        write_json(&self.path, settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_url_is_parsed_into_one_canonical_form() {
        let u: ServerUrl = " http://127.0.0.1:8787/ ".parse().unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:8787");
        let u: ServerUrl = "https://claims.example.kr/base/".parse().unwrap();
        assert_eq!(u.as_str(), "https://claims.example.kr/base");
        assert_eq!("ftp://x".parse::<ServerUrl>(), Err(ServerUrlError::Scheme));
        assert_eq!("http://h/?q=1".parse::<ServerUrl>(), Err(ServerUrlError::Extra));
        assert_eq!("http://u:p@h".parse::<ServerUrl>(), Err(ServerUrlError::Extra));
        assert!(matches!(
            "127.0.0.1:8787".parse::<ServerUrl>(),
            Err(ServerUrlError::Parse(_)) | Err(ServerUrlError::Scheme)
        ));
    }

    #[test]
    fn settings_refuse_a_bad_url_in_json() {
        let bad = r#"{"server_url":"javascript:alert(1)","language":"ko","notifications":true}"#;
        assert!(serde_json::from_str::<Settings>(bad).is_err());
        let partial: Settings = serde_json::from_str(r#"{"server_url":"http://h:1"}"#).unwrap();
        assert_eq!(partial.language, Language::Ko);
        assert!(partial.notifications);
        assert_eq!(partial.hide_code_on_lock_screen, cfg!(mobile));
        let s: Settings = serde_json::from_str(
            r#"{"server_url":"http://h:1","language":"en","notifications":true,"hide_code_on_lock_screen":true}"#,
        )
        .unwrap();
        assert!(s.hide_code_on_lock_screen);
    }

    #[test]
    fn store_round_trips_and_survives_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::new(dir.path());
        assert_eq!(store.load(), Settings::default());
        let s = Settings {
            server_url: "http://10.0.0.2:9000".parse().unwrap(),
            language: Language::En,
            notifications: false,
            hide_code_on_lock_screen: true,
        };
        store.save(&s).unwrap();
        assert_eq!(store.load(), s);
        std::fs::write(dir.path().join("settings.json"), b"{not json").unwrap();
        assert_eq!(store.load(), Settings::default());
    }
}
