//! Test harness: an in-process server with a short demo campaign, a per-test kernel session
//! keyring (what `keyctl session -` does, so the identity secret lives in keyutils and
//! survives from one `lineup` process to the next), and a runner for the built binary.

use lineup_server::{DemoOptions, Running, ServerConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// Gives the calling thread (and every process it spawns) a fresh anonymous session keyring,
/// as `keyctl session -` does. Tests run on their own threads, so each gets its own keyring.
pub fn join_session_keyring() {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl(JOIN_SESSION_KEYRING, NULL) takes no pointers besides the null name.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    assert!(
        r >= 0,
        "cannot join a session keyring: {}",
        std::io::Error::last_os_error()
    );
}

pub fn demo(vouchers: u64, open_in_ms: u64) -> DemoOptions {
    DemoOptions {
        vouchers,
        open_in: Duration::from_millis(open_in_ms),
        draw_lead: Some(Duration::from_millis(open_in_ms / 2)),
        admission_rate_per_s: 50,
        admission_window: Duration::from_secs(60),
        closes_after: Duration::from_secs(600),
    }
}

pub async fn start_server(data_dir: &Path, demo: DemoOptions) -> Running {
    let mut cfg = ServerConfig::new(data_dir);
    cfg.demo = Some(demo);
    lineup_server::spawn(cfg).await.expect("server starts")
}

/// Restarts on the same data directory (tickets and vouchers kept).
pub async fn restart_server(data_dir: &Path, demo: DemoOptions) -> Running {
    start_server(data_dir, demo).await
}

/// A test's client side: a profile directory and the server URL it talks to.
pub struct Client {
    pub profile: tempfile::TempDir,
    pub server: String,
}

impl Client {
    pub fn new(server: &str) -> Self {
        Client {
            profile: tempfile::tempdir().expect("temp profile"),
            server: server.to_owned(),
        }
    }

    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_lineup"));
        c.arg("--server")
            .arg(&self.server)
            .arg("--profile")
            .arg(self.profile.path())
            .args(args)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("LINEUP_SERVER")
            .env_remove("LINEUP_PROFILE")
            .kill_on_drop(true);
        c
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().await.expect("lineup runs")
    }

    /// Runs with `--json`, requires success and parses stdout.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all).await;
        assert!(
            out.status.success(),
            "lineup {args:?} failed ({:?}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "lineup {args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    pub async fn register(&self, contact: &str) -> Value {
        self.json(&["register", "--contact", contact]).await
    }

    /// The vouchers in the wallet, offline.
    pub async fn wallet_offline(&self) -> Vec<Value> {
        match self.json(&["wallet", "--offline"]).await {
            Value::Array(v) => v,
            other => panic!("wallet is not a list: {other}"),
        }
    }

    pub fn claim_record(&self) -> Option<Value> {
        let dir: PathBuf = self.profile.path().join("claims");
        let entry = std::fs::read_dir(dir).ok()?.flatten().next()?;
        serde_json::from_slice(&std::fs::read(entry.path()).ok()?).ok()
    }
}

/// How many vouchers the server has issued for the demo campaign.
pub async fn issued_on_server(url: &str) -> u64 {
    let c: Value = reqwest::get(format!("{url}/v1/campaigns/demo"))
        .await
        .expect("campaign")
        .json()
        .await
        .expect("campaign json");
    c["issued"].as_u64().expect("issued")
}
