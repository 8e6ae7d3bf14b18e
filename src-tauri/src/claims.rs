//! Claims as background tasks: one per campaign, running `lineup_core::driver::run_claim` to its
//! end whether or not the window is open. Every progress update goes to the UI
//! (`claim-progress`), the tray, and when the claim ends, the wallet and a system notification.

use crate::error::{AppError, CmdResult, ErrorCode};
use crate::notify::{note_for, outcome_of};
use crate::shell::{EVENT_CLAIM_PROGRESS, EVENT_WALLET_CHANGED, Permission};
use crate::state::AppState;
use crate::tray_state::summarise;
use lineup_core::clock::Clock;
use lineup_core::driver::{FileRecordStore, RecordStore, run_claim};
use lineup_core::engine::{ClaimRecord, EngineConfig, Phase, Progress};
use lineup_protocol::{CampaignId, ProblemCode, TicketState, VoucherStatus};
use tokio::sync::oneshot;

/// Starts the claim for `id`, or returns the running one. Resolves with the first progress.
pub async fn arm(state: &AppState, id: CampaignId) -> CmdResult<Progress> {
    if state.is_running(&id)
        && let Some(p) = state.last_progress(&id)
    {
        return Ok(p);
    }
    let api = state.signed_api()?;
    ask_permission_once(state);
    // A fresh campaign body anchors the engine's schedule to the server's clock.
    let campaign = api.campaign(&id).await?;
    let fetched_at = state.clock.now();
    state.remember_campaigns(std::slice::from_ref(&campaign));
    // The issuer keys let the wallet verify the voucher offline later; a failure here only
    // delays that (the wallet refresh fetches them again).
    match api.keys().await {
        Ok(keys) => {
            if let Err(e) = state.wallet().save_keys(api.base_url(), &keys) {
                tracing::warn!(error = %e, "cannot keep the issuer keys");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot fetch the issuer keys"),
    }
    let (first_tx, first_rx) = oneshot::channel();
    let task_state = state.clone();
    let server_url = api.base_url().to_owned();
    let task = async move {
        let store = FileRecordStore::new(&task_state.profile, &server_url);
        let mut first = Some(first_tx);
        let result = run_claim(
            &api,
            &campaign,
            fetched_at,
            &task_state.clock,
            &store,
            EngineConfig::default(),
            |p| {
                on_progress(&task_state, &server_url, p);
                if let Some(tx) = first.take() {
                    let _ = tx.send(p.clone());
                }
            },
        )
        .await;
        task_state.task_ended(&campaign.id);
        task_state.shell.tray(summarise(&task_state.all_progress()));
        match result {
            // Only the phase: the voucher's token and code are as good as the voucher itself.
            Ok(_) => {
                tracing::info!(campaign = %campaign.id, phase = ?task_state.last_progress(&campaign.id).map(|p| p.phase), "claim ended")
            }
            Err(e) => {
                tracing::error!(campaign = %campaign.id, error = %e, "claim stopped");
                if let Some(tx) = first.take() {
                    let _ = tx.send(failed(&campaign.id, &e.to_string()));
                }
            }
        }
    };
    if !state.spawn_claim(&id, task) {
        // Another arm won the race while this one fetched the campaign (or the place is being
        // given back).
        return state
            .last_progress(&id)
            .ok_or_else(|| AppError::internal("claim starting"));
    }
    first_rx
        .await
        .map_err(|_| AppError::internal("the claim task ended before reporting"))
}

/// The claim's progress: the running one, else the stored record of an earlier run (a claim
/// that was still waiting is resumed), else none.
pub async fn status(state: &AppState, id: CampaignId) -> CmdResult<Option<Progress>> {
    if let Some(p) = state.last_progress(&id) {
        return Ok(Some(p));
    }
    let store = FileRecordStore::new(&state.profile, &state.server_url());
    let Some(record) = store.load(&id).map_err(|e| AppError::internal(e.to_string()))? else {
        return Ok(None);
    };
    if record.phase.is_final() {
        let p = from_record(&record);
        state.record_progress(&p);
        return Ok(Some(p));
    }
    // A claim interrupted by a restart: pick it up where its record says.
    arm(state, id).await.map(Some)
}

/// Gives the place in line, or the unused voucher, back (docs/app-ipc.md `give_back`): stops
/// the claim task, tells the server, and keeps the claim as `returned` (record, wallet, UI) so
/// a restart does not take it up again. Idempotent; a claim already over without a voucher is
/// answered as it is; no claim at all is `no_ticket`.
pub async fn give_back(state: &AppState, id: CampaignId) -> CmdResult<Progress> {
    let _one_at_a_time = state.giving_back.lock().await;
    let task = state.hold(&id);
    let held = Release(state, &id);
    let was_running = task.is_some();
    if let Some(task) = task {
        // Stopped at its next await (a sleep or a request); waiting for it means it cannot
        // write its record after the one below.
        task.abort();
        let _ = task.await;
    }
    let result = give_back_held(state, &id).await;
    drop(held);
    if result.is_err() && was_running {
        // The place is still ours: carry on with the claim as before.
        let state = state.clone();
        tauri::async_runtime::spawn(async move {
            if let Err(e) = arm(&state, id.clone()).await {
                tracing::warn!(campaign = %id, error = %e, "cannot resume the claim after a failed give-back");
            }
        });
    }
    result
}

/// Ends `AppState::hold` when dropped (also on an early return): claim tasks may start again.
struct Release<'a>(&'a AppState, &'a CampaignId);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release(self.1);
    }
}

async fn give_back_held(state: &AppState, id: &CampaignId) -> CmdResult<Progress> {
    let server_url = state.server_url();
    let store = FileRecordStore::new(&state.profile, &server_url);
    let internal = |e: lineup_core::profile::ProfileError| AppError::internal(e.to_string());
    let Some(mut record) = store.load(id).map_err(internal)? else {
        return match state.last_progress(id) {
            Some(p) if p.phase.is_final() => Ok(p),
            _ => Err(AppError::new(
                ErrorCode::Problem(ProblemCode::NoTicket),
                "There is no place in line or voucher to give back for this campaign.",
            )),
        };
    };
    let current = state
        .last_progress(id)
        .filter(|p| p.phase == record.phase)
        .unwrap_or_else(|| from_record(&record));
    if record.phase.is_final() && record.phase != Phase::Holding {
        // Already returned (the same answer again), or over without a voucher to give back.
        state.record_progress(&current);
        return Ok(current);
    }
    // A claim that never got a place (still waiting for the pre-queue to open, or told
    // `too_early`) has nothing on the server to give back.
    let nothing_sent = record.ticket_id.is_none() && matches!(record.phase, Phase::Armed | Phase::WaitingOpen);
    let returned_voucher = if nothing_sent {
        None
    } else {
        let api = state.signed_api()?;
        record.attempts = record.attempts.saturating_add(1);
        let from_server = match api.give_back(id).await {
            Ok(status) if status.state == TicketState::Returned => status.voucher,
            Ok(status) => {
                return Err(AppError::internal(format!(
                    "the server answered the give-back with the state {:?}",
                    status.state
                )));
            }
            // The server has no place for us (a fresh database): nothing left to give back.
            Err(e) if e.code() == Some(ProblemCode::NoTicket) => None,
            Err(e) => return Err(e.into()),
        };
        from_server.or_else(|| record.voucher.clone()).map(|mut v| {
            v.status = VoucherStatus::Returned;
            v
        })
    };
    record.phase = Phase::Returned;
    record.voucher = returned_voucher.clone();
    record.error = None;
    record.parked = false;
    store.save(&record).map_err(internal)?;

    if let Some(v) = &returned_voucher {
        let wallet = state.wallet();
        match wallet
            .add(&server_url, v.clone(), state.campaign_title(id))
            .and_then(|()| wallet.entries(chrono::Utc::now()))
        {
            Ok(entries) => state.shell.emit_json(EVENT_WALLET_CHANGED, to_json(&entries)),
            Err(e) => tracing::error!(error = %e, "cannot mark the voucher as given back in the wallet"),
        }
    }
    let p = Progress {
        phase: Phase::Returned,
        ahead: None,
        eta_ms: None,
        next_check_at: None,
        next_check_in_ms: None,
        attempts: record.attempts,
        voucher: returned_voucher,
        error: None,
        ..current
    };
    state.record_progress(&p);
    state.shell.emit_json(EVENT_CLAIM_PROGRESS, to_json(&p));
    state.shell.tray(summarise(&state.all_progress()));
    crate::reminders::sync(state);
    tracing::info!(campaign = %id, voucher = p.voucher.is_some(), "given back");
    Ok(p)
}

/// After the device slept (a phone brought back to the foreground, a laptop resumed): the
/// claim tasks' monotonic clocks did not count the sleep, so each running claim is stopped and
/// taken up again from its record, asking the server once where it stands; claims parked on the
/// waitlist ask too (a returned voucher may have reached them), and the wallet's statuses are
/// refreshed. Nothing is sent twice: a resumed claim reuses its ticket and idempotency key.
pub async fn reanchor(state: &AppState, slept_ms: Option<u64>) {
    let running = state.running_claims();
    tracing::info!(
        ?slept_ms,
        running = running.len(),
        "woke up: re-anchoring claims from the server"
    );
    for id in running {
        // One takeover at a time, as give_back does.
        let _one_at_a_time = state.giving_back.lock().await;
        if let Some(task) = state.hold(&id) {
            task.abort();
            let _ = task.await;
        }
        state.release(&id);
    }
    resume_unfinished(state).await;
    if let Ok(api) = state.signed_api() {
        let wallet = state.wallet();
        match wallet.refresh(&api).await {
            Ok(changed) if changed > 0 => match wallet.entries(chrono::Utc::now()) {
                Ok(entries) => state.shell.emit_json(EVENT_WALLET_CHANGED, to_json(&entries)),
                Err(e) => tracing::warn!(error = %e, "cannot read the wallet"),
            },
            Ok(_) => {}
            Err(e) => tracing::info!(error = %e, "wallet refresh after waking failed; it stays as it was"),
        }
    }
}

/// Watches for the machine waking from sleep (desktop: no event tells the app) by comparing
/// the monotonic and the wall clock every few seconds ([`lineup_core::wake::SleepDetector`]).
/// A phone is told by the window's `Resumed` event instead.
#[cfg(desktop)]
pub async fn watch_for_wakeups(state: AppState) {
    let clock = lineup_core::clock::MonotonicClock::new();
    let mut detector = lineup_core::wake::SleepDetector::default();
    loop {
        if let Some(slept) = detector.observe(clock.now(), chrono::Utc::now().timestamp_millis()) {
            reanchor(&state, Some(slept)).await;
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

/// Picks up every claim an earlier run left unfinished (the app was quit, crashed, or the
/// machine restarted while in line), so a claim never waits for someone to open its screen.
/// A server that cannot be reached yet (a laptop waking up before its network) is tried
/// again with growing pauses, a few minutes in all; after that the campaigns screen resumes
/// the claim when it asks `claim_status`.
pub async fn resume_unfinished(state: &AppState) {
    let store = FileRecordStore::new(&state.profile, &state.server_url());
    let mut pending = match store.unfinished() {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list unfinished claims");
            return;
        }
    };
    let mut pause = std::time::Duration::from_secs(2);
    for round in 0..8 {
        let mut offline = Vec::new();
        for id in pending {
            match arm(state, id.clone()).await {
                Ok(p) => tracing::info!(campaign = %id, phase = ?p.phase, "resumed an unfinished claim"),
                Err(e) if e.code == ErrorCode::Offline => offline.push(id),
                Err(e) => tracing::warn!(campaign = %id, error = %e, "cannot resume the claim"),
            }
        }
        if offline.is_empty() {
            return;
        }
        tracing::info!(
            count = offline.len(),
            round,
            "server unreachable; resuming claims later"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(60));
        pending = offline;
    }
}

/// Handles one progress update of a running claim.
fn on_progress(state: &AppState, server_url: &str, p: &Progress) {
    let title = state.campaign_title(&p.campaign_id);
    // The wallet first: a UI that reacts to `holding` by opening the wallet must find it there.
    if p.phase == Phase::Holding
        && let Some(v) = &p.voucher
    {
        let wallet = state.wallet();
        match wallet
            .add(server_url, v.clone(), title.clone())
            .and_then(|()| wallet.entries(chrono::Utc::now()))
        {
            Ok(entries) => state.shell.emit_json(EVENT_WALLET_CHANGED, to_json(&entries)),
            Err(e) => tracing::error!(error = %e, "cannot keep the voucher in the wallet"),
        }
    }
    state.record_progress(p);
    state.shell.emit_json(EVENT_CLAIM_PROGRESS, to_json(p));
    state.shell.tray(summarise(&state.all_progress()));
    let settings = state.settings();
    if let Some(outcome) = outcome_of(p)
        && settings.notifications
        && state.notified.first_time(&p.campaign_id, outcome)
    {
        state.shell.notify(&note_for(
            outcome,
            settings.language,
            title.as_deref(),
            settings.hide_code_on_lock_screen,
        ));
    }
    crate::reminders::sync(state);
}

/// Asks for notification permission the first time a claim is armed, if it was never asked.
fn ask_permission_once(state: &AppState) {
    if state.settings().notifications && state.shell.permission() == Permission::Prompt {
        let answer = state.shell.request_permission();
        tracing::info!(?answer, "notification permission");
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot encode an event payload");
        serde_json::Value::Null
    })
}

/// The progress a finished record stands for.
pub fn from_record(r: &ClaimRecord) -> Progress {
    Progress {
        campaign_id: r.campaign_id.clone(),
        phase: r.phase,
        position: None,
        ahead: None,
        waitlist: None,
        supply: None,
        admit_at: None,
        eta_ms: None,
        next_check_at: None,
        next_check_in_ms: None,
        attempts: r.attempts,
        in_draw: false,
        auto_issue: r.auto_issue,
        entrants: None,
        voucher: r.voucher.clone(),
        error: r.error.clone(),
    }
}

fn failed(id: &CampaignId, message: &str) -> Progress {
    let mut record = ClaimRecord::new(id.clone(), String::new());
    record.phase = Phase::Failed;
    record.error = Some(lineup_core::engine::FailReason {
        code: "internal".into(),
        message: message.to_owned(),
    });
    from_record(&record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_record_reads_back_as_its_progress() {
        let mut r = ClaimRecord::new("demo".parse().unwrap(), "k".into());
        r.phase = Phase::Holding;
        r.voucher = Some(crate::notify::tests::voucher());
        r.attempts = 3;
        let p = from_record(&r);
        assert_eq!((p.phase, p.attempts), (Phase::Holding, 3));
        assert_eq!(p.voucher, r.voucher);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["phase"], "holding");
        assert!(
            v.get("next_check_in_ms").is_some(),
            "every ClaimProgress field is present: {v}"
        );
    }

    #[test]
    fn a_failed_task_reports_failed_with_a_reason() {
        let p = failed(&"demo".parse().unwrap(), "disk full");
        assert_eq!(p.phase, Phase::Failed);
        assert_eq!(p.error.map(|e| e.message), Some("disk full".into()));
    }
}
