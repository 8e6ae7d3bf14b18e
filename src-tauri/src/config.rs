//! Start-up configuration from flags and `LINEUP_*` environment variables. An explicit server
//! URL here overrides the saved setting for this run (so a test or the README's demo command
//! always talks to the server it started); without one the saved setting, then the default, applies.

use crate::settings::ServerUrl;
use std::path::PathBuf;

/// Flags of the desktop binary. Mobile builds have no command line and use the defaults.
#[derive(Debug, Clone, Default, clap::Parser)]
#[command(
    name = "lineup-app",
    version,
    about = "Lineup: claim limited vouchers calmly during a surge"
)]
pub struct Config {
    /// Claim server base URL (default: the saved setting, else http://127.0.0.1:8787).
    #[arg(long = "server", env = "LINEUP_SERVER")]
    pub server: Option<ServerUrl>,

    /// Where settings, claim records and the wallet are kept (default: the OS app data directory).
    #[arg(long = "data-dir", env = "LINEUP_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Reads the flags; on a bad flag prints clap's message and exits, like any CLI.
    #[cfg(desktop)]
    pub fn from_args() -> Self {
        <Config as clap::Parser>::parse()
    }

    /// Mobile processes get no arguments of ours; the environment may still set the server.
    #[cfg(mobile)]
    pub fn from_args() -> Self {
        let server = std::env::var("LINEUP_SERVER").ok().and_then(|s| s.parse().ok());
        Config { server, data_dir: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn flags_parse_into_typed_values() {
        let c =
            Config::try_parse_from(["lineup-app", "--server", "http://127.0.0.1:9/", "--data-dir", "/tmp/x"]).unwrap();
        assert_eq!(c.server.map(String::from).as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(c.data_dir, Some(PathBuf::from("/tmp/x")));
        assert!(Config::try_parse_from(["lineup-app", "--server", "nope"]).is_err());
    }
}
