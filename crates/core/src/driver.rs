//! Runs an [`Engine`] against a real server: persists the claim record before every send
//! (through [`RecordStore`]), performs the requests with the [`ApiClient`], sleeps on the
//! tokio clock and reports [`Progress`] after every change.

use crate::api::ApiClient;
use crate::clock::{Clock, MonotonicClock};
use crate::engine::{ClaimRecord, Engine, EngineConfig, Outcome, Progress, Step, new_idempotency_key};
use crate::profile::{Profile, ProfileError, read_json, write_json};
use lineup_protocol::{Campaign, CampaignId};
use rand::SeedableRng;
use rand_pcg::Pcg64;
use std::path::PathBuf;

/// Durable storage of claim records.
pub trait RecordStore: Send + Sync {
    fn load(&self, campaign: &CampaignId) -> Result<Option<ClaimRecord>, ProfileError>;
    fn save(&self, record: &ClaimRecord) -> Result<(), ProfileError>;
}

/// One JSON file per campaign in the profile's `claims/` directory, written atomically.
#[derive(Debug, Clone)]
pub struct FileRecordStore {
    dir: PathBuf,
    /// Separates servers that reuse a campaign id.
    prefix: String,
}

impl FileRecordStore {
    pub fn new(profile: &Profile, server_url: &str) -> Self {
        let prefix = server_url
            .trim_end_matches('/')
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        FileRecordStore {
            dir: profile.claims_dir(),
            prefix,
        }
    }

    fn path(&self, campaign: &CampaignId) -> PathBuf {
        self.dir.join(format!("{}--{campaign}.json", self.prefix))
    }

    /// The campaigns of this server whose claim is not finished: claims that an app exit or
    /// a crash interrupted, to be picked up again at start. Unreadable records are reported
    /// in the log and skipped, so one damaged file cannot stop the others from resuming.
    pub fn unfinished(&self) -> Result<Vec<CampaignId>, ProfileError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(ProfileError::Io {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let head = format!("{}--", self.prefix);
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_prefix(&head))
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<CampaignId>().ok())
            else {
                continue;
            };
            match self.load(&id) {
                Ok(Some(record)) if !record.phase.is_final() => out.push(id),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable claim record"),
            }
        }
        out.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(out)
    }
}

impl RecordStore for FileRecordStore {
    fn load(&self, campaign: &CampaignId) -> Result<Option<ClaimRecord>, ProfileError> {
        read_json(&self.path(campaign))
    }

    fn save(&self, record: &ClaimRecord) -> Result<(), ProfileError> {
        write_json(&self.path(&record.campaign_id), record)
    }
}

/// Why the driver stopped before the engine finished.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("could not save the claim record: {0}")]
    Persist(#[from] ProfileError),
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// A random seed from the OS.
pub fn os_seed() -> Result<u64, DriverError> {
    getrandom::u64().map_err(|e| DriverError::Random(e.to_string()))
}

/// The stored record for `campaign`, or a fresh one with a new random idempotency key,
/// saved before it is returned so the key exists durably before any claim.
pub fn load_or_new_record(store: &dyn RecordStore, campaign: &CampaignId) -> Result<ClaimRecord, DriverError> {
    if let Some(r) = store.load(campaign)? {
        return Ok(r);
    }
    let mut rng = Pcg64::seed_from_u64(os_seed()?);
    let rec = ClaimRecord::new(campaign.clone(), new_idempotency_key(&mut rng));
    store.save(&rec)?;
    Ok(rec)
}

/// Runs a claim for `campaign` to its end. The campaign body should be fresh (its
/// `server_time` anchors the schedule to the moment `fetched_at` it was received).
pub async fn run_claim(
    api: &ApiClient,
    campaign: &Campaign,
    fetched_at: crate::clock::Millis,
    clock: &MonotonicClock,
    store: &dyn RecordStore,
    config: EngineConfig,
    mut on_progress: impl FnMut(&Progress),
) -> Result<Outcome, DriverError> {
    let record = load_or_new_record(store, &campaign.id)?;
    let rng = Pcg64::seed_from_u64(os_seed()?);
    let mut engine = Engine::new(campaign, fetched_at, record, config, rng);
    let mut last: Option<Progress> = None;
    loop {
        let now = clock.now();
        let step = engine.next_step(now);
        let p = engine.progress_at(now);
        if last.as_ref() != Some(&p) {
            on_progress(&p);
            last = Some(p);
        }
        match step {
            Step::Send(req) => {
                store.save(engine.record())?;
                tracing::debug!(?req, "sending");
                let reply = api.execute(&campaign.id, &req).await;
                engine.on_reply(clock.now(), reply);
                store.save(engine.record())?;
            }
            Step::WaitUntil(t) => {
                tokio::time::sleep_until(tokio::time::Instant::from_std(clock.instant(t))).await;
            }
            Step::AwaitReply => {
                // Cannot happen: every send above is answered before the next step.
                tracing::error!("engine awaits a reply the driver never sent");
                tokio::task::yield_now().await;
            }
            Step::Done(outcome) => {
                store.save(engine.record())?;
                on_progress(&engine.progress_at(clock.now()));
                return Ok(outcome);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Phase;

    fn record(id: &str, phase: Phase) -> ClaimRecord {
        let mut r = ClaimRecord::new(id.parse().unwrap(), format!("key-{id}"));
        r.phase = phase;
        r
    }

    #[test]
    fn unfinished_lists_only_this_servers_open_claims() {
        let dir = tempfile::tempdir().unwrap();
        let profile = Profile::open(dir.path()).unwrap();
        let here = FileRecordStore::new(&profile, "http://127.0.0.1:8787/");
        let elsewhere = FileRecordStore::new(&profile, "https://claims.example.kr");
        assert_eq!(
            here.unfinished().unwrap(),
            Vec::<CampaignId>::new(),
            "no claims dir yet"
        );

        here.save(&record("demo", Phase::InLine)).unwrap();
        here.save(&record("early", Phase::PreQueue)).unwrap();
        here.save(&record("done", Phase::Holding)).unwrap();
        here.save(&record("gone", Phase::SoldOut)).unwrap();
        elsewhere.save(&record("other", Phase::InLine)).unwrap();
        std::fs::write(profile.claims_dir().join("http___127_0_0_1_8787--broken.json"), b"{").unwrap();
        std::fs::write(profile.claims_dir().join("notes.txt"), b"x").unwrap();

        let ids: Vec<String> = here
            .unfinished()
            .unwrap()
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        assert_eq!(ids, ["demo", "early"]);
        let ids: Vec<String> = elsewhere
            .unfinished()
            .unwrap()
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        assert_eq!(ids, ["other"]);
    }
}
