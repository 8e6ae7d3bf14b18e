//! Starting the real `lineup-server` for a load run, and reading its `/metrics`.
//!
//! [`ServerSetup`] is where a multi-instance run plugs in: it knows how many instances to
//! start and on which database; today one instance on SQLite in the run's temporary
//! directory. A `--servers N --db postgres://...` flag only has to fill it (and [`Instances`]
//! already hands out URLs round-robin).

use super::{LoadArgs, LoadError};
use crate::cli::SurgeArgs;
use chrono::{Duration as ChronoDuration, Utc};
use lineup_server::{CampaignSpec, ConfiguredCampaign, DbLocation, Running, ServerConfig};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The id of the campaign a load run creates.
pub const CAMPAIGN_ID: &str = "sim";

/// How many server instances a run starts, on which database.
#[derive(Debug, Clone)]
pub struct ServerSetup {
    pub servers: usize,
    /// `None`: SQLite in the run's data directory.
    pub db: Option<DbLocation>,
}

impl Default for ServerSetup {
    fn default() -> Self {
        ServerSetup { servers: 1, db: None }
    }
}

/// The running instances of one strategy's server.
pub struct Instances {
    running: Vec<Running>,
    /// The first instance's base URL (setup and read-back go there).
    pub url: String,
}

impl Instances {
    /// Base URLs of every instance, for spreading clients round-robin.
    pub fn urls(&self) -> Vec<String> {
        self.running.iter().map(|r| r.url.clone()).collect()
    }

    pub async fn shutdown(self) {
        for r in self.running {
            r.shutdown().await;
        }
    }
}

impl ServerSetup {
    pub fn db_label(&self) -> String {
        match &self.db {
            None | Some(DbLocation::Sqlite(_)) => "sqlite".into(),
            Some(DbLocation::Postgres(_)) => "postgres".into(),
        }
    }

    /// Starts the instances on `data_dir`, with `campaign` configured if given.
    pub async fn spawn(
        &self,
        data_dir: &Path,
        campaign: Option<CampaignSpec>,
        args: &LoadArgs,
    ) -> Result<Instances, LoadError> {
        let mut running = Vec::new();
        for _ in 0..self.servers.max(1) {
            let mut config = ServerConfig::new(data_dir);
            if let Some(db) = &self.db {
                config.db = db.clone();
            }
            config.max_concurrency = args.max_concurrency;
            config.campaigns = campaign
                .iter()
                .map(|spec| ConfiguredCampaign {
                    spec: spec.clone(),
                    staff_token_hash: lineup_server::issuer::staff_token_hash("lineup-sim-staff"),
                })
                .collect();
            let r = lineup_server::spawn(config)
                .await
                .map_err(|e| LoadError::Server(e.to_string()))?;
            running.push(r);
        }
        let url = running.first().map(|r| r.url.clone()).unwrap_or_default();
        Ok(Instances { running, url })
    }
}

/// The campaign of a load run: its pre-queue opens now.
pub fn campaign_spec(surge: &SurgeArgs, args: &LoadArgs, rate: u32) -> Result<CampaignSpec, LoadError> {
    let now = Utc::now();
    let ms = |s: f64| ChronoDuration::milliseconds((s * 1000.0).round() as i64);
    let opens_at = now + ms(args.prequeue_s);
    let spec = CampaignSpec {
        id: CAMPAIGN_ID
            .parse()
            .map_err(|e| LoadError::Invalid(format!("campaign id: {e}")))?,
        title: "영화 할인권 6,000원 (부하 시험)".into(),
        title_en: "6,000-won cinema voucher (load test)".into(),
        issuer: "lineup-sim".into(),
        brands: vec!["CGV".into(), "Lotte Cinema".into(), "Megabox".into()],
        amount: 6000,
        currency: *b"KRW",
        supply: u64::from(surge.vouchers),
        prequeue_opens_at: now,
        draw_at: opens_at - ms(args.draw_lead_s),
        opens_at,
        closes_at: opens_at + ChronoDuration::hours(1),
        voucher_expires_at: opens_at + ChronoDuration::days(30),
        admission_rate_per_s: rate,
        admission_window_s: args.admission_window_s,
    };
    spec.validate().map_err(|e| LoadError::Invalid(e.to_string()))?;
    Ok(spec)
}

/// The server's own counters, summed over their labels (`lineup_requests_total` also by
/// status, as `lineup_requests_total{status=...}`). Empty if `/metrics` cannot be read.
pub async fn scrape_metrics(url: &str) -> BTreeMap<String, f64> {
    let text = match fetch_text(&format!("{url}/metrics")).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(%e, "could not read /metrics");
            return BTreeMap::new();
        }
    };
    summarize_metrics(&text)
}

async fn fetch_text(url: &str) -> Result<String, reqwest::Error> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    client.get(url).send().await?.error_for_status()?.text().await
}

/// Sums Prometheus samples by metric name, skipping histogram buckets.
pub fn summarize_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        if name.ends_with("_bucket") {
            continue;
        }
        *out.entry(name.to_owned()).or_insert(0.0) += value;
        if name == "lineup_requests_total"
            && let Some(status) = labels
                .split(',')
                .find_map(|kv| kv.trim().strip_prefix("status=\""))
                .and_then(|s| s.split('"').next())
        {
            *out.entry(format!("lineup_requests_total{{status={status}}}"))
                .or_insert(0.0) += value;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_summed_by_name_and_status() {
        let text = "# HELP x\n\
            lineup_requests_total{route=\"/a\",status=\"200\"} 3\n\
            lineup_requests_total{route=\"/b\",status=\"503\"} 2\n\
            lineup_requests_total{route=\"/c\",status=\"200\"} 1\n\
            lineup_shed_total 2\n\
            lineup_request_duration_seconds_bucket{le=\"0.1\"} 9\n\
            lineup_issued_total{campaign=\"sim\"} 5\n";
        let m = summarize_metrics(text);
        assert_eq!(m["lineup_requests_total"], 6.0);
        assert_eq!(m["lineup_requests_total{status=200}"], 4.0);
        assert_eq!(m["lineup_requests_total{status=503}"], 2.0);
        assert_eq!(m["lineup_shed_total"], 2.0);
        assert_eq!(m["lineup_issued_total"], 5.0);
        assert!(!m.contains_key("lineup_request_duration_seconds_bucket"));
    }
}
