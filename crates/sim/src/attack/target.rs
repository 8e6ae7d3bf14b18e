//! The server under attack: a `lineup-server` child process (so its memory and descriptors can
//! be read apart from the attackers'), or an in-process server (the integration tests, where no
//! server binary is built).

use super::AttackError;
use lineup_server::{CampaignSpec, ConfiguredCampaign, DbLocation, Running, ServerConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The staff token of the harness's campaign (the box office is not attacked).
const STAFF_TOKEN: &str = "lineup-sim-attack-staff";

/// How the server is started.
#[derive(Debug, Clone)]
pub enum ServerKind {
    /// `lineup-server` from this path, as a child process.
    Child(PathBuf),
    /// `lineup_server::spawn` in this process (memory and descriptors are then the whole
    /// process's, attackers included).
    InProcess,
}

/// The server's protective limits for a run.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub max_concurrency: usize,
    pub max_connections: usize,
    pub header_read_timeout_ms: u64,
    pub body_timeout_ms: u64,
    /// Further `lineup-server` flags (child only), e.g. rate limits.
    pub extra_args: Vec<String>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        let c = lineup_server::listen::ConnectionLimits::default();
        ServerLimits {
            max_concurrency: 512,
            max_connections: c.max_connections,
            header_read_timeout_ms: c.header_read_timeout.as_millis() as u64,
            body_timeout_ms: 5_000,
            extra_args: Vec::new(),
        }
    }
}

enum Handle {
    Child(tokio::process::Child),
    InProcess(Running),
}

/// A running server.
pub struct Target {
    pub url: String,
    pub addr: SocketAddr,
    /// The process to sample: the child, or this process.
    pub pid: u32,
    /// Whether `pid` is the server alone.
    pub separate: bool,
    handle: Handle,
}

/// Starts a server on `db` with `campaign` (if any), listening on `at` or a free port.
pub async fn start(
    kind: &ServerKind,
    data_dir: &Path,
    db: &DbLocation,
    campaign: Option<&CampaignSpec>,
    limits: &ServerLimits,
    at: Option<SocketAddr>,
) -> Result<Target, AttackError> {
    let addr = at.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    match kind {
        ServerKind::InProcess => {
            if !limits.extra_args.is_empty() {
                return Err(AttackError::Invalid(
                    "--server-arg needs a child server (--server-bin)".into(),
                ));
            }
            let mut config = ServerConfig::new(data_dir);
            config.addr = addr;
            config.db = db.clone();
            config.max_concurrency = limits.max_concurrency;
            config.body_timeout = Duration::from_millis(limits.body_timeout_ms.max(1));
            config.connections.max_connections = limits.max_connections;
            config.connections.header_read_timeout = Duration::from_millis(limits.header_read_timeout_ms.max(1));
            config.campaigns = campaign
                .map(|spec| ConfiguredCampaign {
                    spec: spec.clone(),
                    staff_token_hash: lineup_server::issuer::staff_token_hash(STAFF_TOKEN),
                })
                .into_iter()
                .collect();
            let running = lineup_server::spawn(config)
                .await
                .map_err(|e| AttackError::Server(e.to_string()))?;
            Ok(Target {
                url: running.url.clone(),
                addr: running.addr,
                pid: std::process::id(),
                separate: false,
                handle: Handle::InProcess(running),
            })
        }
        ServerKind::Child(bin) => start_child(bin, data_dir, db, campaign, limits, addr).await,
    }
}

async fn start_child(
    bin: &Path,
    data_dir: &Path,
    db: &DbLocation,
    campaign: Option<&CampaignSpec>,
    limits: &ServerLimits,
    addr: SocketAddr,
) -> Result<Target, AttackError> {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("--addr")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--max-concurrency")
        .arg(limits.max_concurrency.to_string())
        .arg("--max-connections")
        .arg(limits.max_connections.to_string())
        .arg("--header-read-timeout-ms")
        .arg(limits.header_read_timeout_ms.to_string())
        .arg("--body-timeout-ms")
        .arg(limits.body_timeout_ms.to_string());
    match db {
        DbLocation::Sqlite(path) => cmd.arg("--db").arg(path),
        // Through the environment, not the command line (which `ps` shows to everyone).
        DbLocation::Postgres(url) => cmd.env("LINEUP_DB", url),
    };
    if let Some(spec) = campaign {
        let file = data_dir.join("attack-campaign.toml");
        std::fs::write(&file, campaign_toml(spec))
            .map_err(|e| AttackError::Setup(format!("writing {}: {e}", file.display())))?;
        cmd.arg("--config").arg(&file);
    }
    cmd.args(&limits.extra_args)
        .env(
            "LINEUP_LOG",
            std::env::var("LINEUP_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| AttackError::Server(format!("starting {}: {e}", bin.display())))?;
    let pid = child
        .id()
        .ok_or_else(|| AttackError::Server("the server exited at once".into()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| AttackError::Server("no stdout from the server".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("Lineup server listening on ") {
                return Some(url.trim().to_owned());
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let Some(url) = url else {
        let _ = child.kill().await;
        return Err(AttackError::Server(format!(
            "{} did not say where it listens (see its log above)",
            bin.display()
        )));
    };
    // Keep reading what it prints, so a full pipe never blocks it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let addr = url
        .strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| AttackError::Server(format!("unexpected listen address {url}")))?;
    Ok(Target {
        url,
        addr,
        pid,
        separate: true,
        handle: Handle::Child(child),
    })
}

impl Target {
    /// Stops the server: SIGTERM and a wait for the child (killed after 20 s), or the
    /// in-process server's graceful shutdown.
    pub async fn shutdown(self) {
        match self.handle {
            Handle::InProcess(r) => r.shutdown().await,
            Handle::Child(mut child) => {
                if let Ok(pid) = i32::try_from(self.pid) {
                    // SAFETY: a plain signal to the child this harness started and still owns.
                    unsafe {
                        libc::kill(pid, libc::SIGTERM);
                    }
                }
                if tokio::time::timeout(Duration::from_secs(20), child.wait())
                    .await
                    .is_err()
                {
                    tracing::warn!("the server did not stop within 20 s of SIGTERM; killing it");
                    let _ = child.kill().await;
                }
            }
        }
    }
}

/// `lineup-server --config` text for `spec`.
pub fn campaign_toml(spec: &CampaignSpec) -> String {
    let t = |d: chrono::DateTime<chrono::Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let q = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let brands = spec.brands.iter().map(|b| q(b)).collect::<Vec<_>>().join(", ");
    format!(
        "[[campaign]]\nid = {}\ntitle = {}\ntitle_en = {}\nissuer = {}\nbrands = [{brands}]\namount = {}\n\
         currency = {}\nsupply = {}\nprequeue_opens_at = {}\ndraw_at = {}\nopens_at = {}\ncloses_at = {}\n\
         voucher_expires_at = {}\nadmission_rate_per_s = {}\nadmission_window_s = {}\nstaff_token = {}\n",
        q(&spec.id.to_string()),
        q(&spec.title),
        q(&spec.title_en),
        q(&spec.issuer),
        spec.amount,
        q(&spec.currency_str()),
        spec.supply,
        q(&t(spec.prequeue_opens_at)),
        q(&t(spec.draw_at)),
        q(&t(spec.opens_at)),
        q(&t(spec.closes_at)),
        q(&t(spec.voucher_expires_at)),
        spec.admission_rate_per_s,
        spec.admission_window_s,
        q(STAFF_TOKEN),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::SurgeArgs;
    use crate::load::LoadArgs;
    use clap::Parser;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        surge: SurgeArgs,
        #[command(flatten)]
        load: LoadArgs,
    }

    #[test]
    fn the_campaign_file_is_what_the_server_parses_back() {
        let a = Args::parse_from(["x", "--clients", "10", "--vouchers", "3"]);
        let spec = crate::load::server::campaign_spec(&a.surge, &a.load, 97).unwrap();
        let parsed = lineup_server::config::parse_config(&campaign_toml(&spec)).unwrap();
        assert_eq!(parsed.len(), 1);
        let back = &parsed[0].spec;
        // Instants to the millisecond; everything else exactly (Korean title included).
        let ms = |d: chrono::DateTime<chrono::Utc>| d.timestamp_millis();
        assert_eq!(ms(back.opens_at), ms(spec.opens_at));
        assert_eq!(ms(back.prequeue_opens_at), ms(spec.prequeue_opens_at));
        assert_eq!(
            (&back.title, back.supply, back.admission_rate_per_s),
            (&spec.title, 3, 97)
        );
        assert_eq!(back.brands, spec.brands);
        assert!(lineup_server::issuer::staff_token_matches(
            STAFF_TOKEN,
            &parsed[0].staff_token_hash
        ));
    }
}
