//! The push tasks of one instance, apart from every request and from issuance:
//!
//! - the deriver writes outbox rows for what happened (draws, vouchers the server issued,
//!   returned vouchers handed on) from the campaign state, at every tick and when issuance
//!   signals a committed batch ([`super::PushHub::wake`]); it reads and writes a few rows per
//!   pass, never inside issuance's transactions;
//! - the sender leases due outbox rows, paces them through a token bucket, sends them with at
//!   most `in_flight` requests open (a slow push service holds a slot, never the issuer), and
//!   hands each outcome to
//! - the finisher, which records outcomes in one transaction per batch (SQLite has one writer:
//!   a transaction per push would compete with issuance's commits).

use super::payload::{self, Stale};
use super::policy::{SurgeGate, TokenBucket, delivery, retry_at};
use super::sender::{PushMessage, PushSender, SendOutcome};
use super::{PushConfig, PushHub};
use crate::state::AppState;
use crate::store::push::{Finish, OutboxItem};
use chrono::Duration;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{Semaphore, mpsc, watch};

/// How long a leased outbox row stays with this sender before another may take it (longer than
/// any request's timeout, so a row is not sent twice by two live senders).
pub fn lease(cfg: &PushConfig) -> Duration {
    Duration::from_std(cfg.timeout * 3).unwrap_or(Duration::seconds(60)) + Duration::seconds(30)
}

/// Runs the deriver, the sender and the finisher until `stopped`.
pub async fn run(state: AppState, hub: Arc<PushHub>, sender: Arc<dyn PushSender>, stopped: watch::Receiver<bool>) {
    let (done_tx, done_rx) = mpsc::channel(4096);
    let deriver = tokio::spawn(derive_loop(state.clone(), hub.clone(), stopped.clone()));
    let finisher = tokio::spawn(finish_loop(state.clone(), hub.clone(), done_rx));
    send_loop(state, hub, sender, done_tx, stopped).await;
    let _ = deriver.await;
    // The finisher ends when the last sending task drops its channel end.
    let _ = finisher.await;
}

/// Issuance faster than this (vouchers/s) is a backlog being drained: derivation waits.
const SURGE_PER_S: u64 = 5000;
/// But never longer than this.
const MAX_HOLD_MS: u64 = 30_000;

async fn derive_loop(state: AppState, hub: Arc<PushHub>, mut stopped: watch::Receiver<bool>) {
    let started = tokio::time::Instant::now();
    let mut gates: std::collections::HashMap<lineup_protocol::CampaignId, SurgeGate> = Default::default();
    loop {
        let campaigns = match state.campaigns().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(problem = %e.0, "push: cannot list campaigns");
                Vec::new()
            }
        };
        let window = Duration::from_std(hub.config.draw_window).unwrap_or(Duration::seconds(60));
        for c in campaigns {
            let gate = gates
                .entry(c.spec.id.clone())
                .or_insert_with(|| SurgeGate::new(SURGE_PER_S, MAX_HOLD_MS));
            // A few chunks per campaign and pass, so one huge draw does not starve the others;
            // the gate is asked before each (a chunk takes a while when a draw is large).
            for _ in 0..16 {
                let issued = state.counters(&c.spec.id).await.map(|k| k.issued).unwrap_or(0);
                let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                if !gate.should_derive(issued, now_ms) {
                    break;
                }
                match state.store().push_derive(&c, state.now(), window).await {
                    Ok(d) => {
                        if d.enqueued > 0 {
                            tracing::debug!(campaign = %c.spec.id, enqueued = d.enqueued, "push: notifications queued");
                            hub.outbox.notify_one();
                        }
                        if !d.more {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(campaign = %c.spec.id, error = %e, "push: deriving notifications failed");
                        break;
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(hub.config.tick) => {}
            _ = hub.wake.notified() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}

async fn send_loop(
    state: AppState,
    hub: Arc<PushHub>,
    sender: Arc<dyn PushSender>,
    done: mpsc::Sender<(i64, i64, Finish)>,
    mut stopped: watch::Receiver<bool>,
) {
    let cfg = &hub.config;
    let started = tokio::time::Instant::now();
    let ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut bucket = TokenBucket::new(cfg.rate_per_s, cfg.burst, ms());
    let slots = Arc::new(Semaphore::new(cfg.in_flight.max(1)));
    loop {
        if *stopped.borrow() {
            return;
        }
        let free = u32::try_from(slots.available_permits()).unwrap_or(u32::MAX).min(256);
        let now = state.now();
        let items = if free == 0 {
            Vec::new()
        } else {
            match state.store().push_claim(now, free, now + lease(cfg)).await {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!(error = %e, "push: cannot read the outbox");
                    Vec::new()
                }
            }
        };
        if items.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(cfg.tick) => {}
                _ = hub.outbox.notified() => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
            continue;
        }
        for item in items {
            // Pace: the bucket says how long until the next push may leave.
            while let Err(wait) = bucket.take(ms()) {
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let (state, hub, sender, done) = (state.clone(), hub.clone(), sender.clone(), done.clone());
            hub.stats.in_flight.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let finish = attempt(&state, &hub.config, sender.as_ref(), &item).await;
                hub.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                let _ = done.send((item.id, item.subscription.id, finish)).await;
                drop(permit);
            });
        }
    }
}

/// One attempt at one outbox row, ending in what the outbox should record.
async fn attempt(state: &AppState, cfg: &PushConfig, sender: &dyn PushSender, item: &OutboxItem) -> Finish {
    let now = state.now();
    let retry_soon = || Finish::Retry(now + Duration::seconds(5));
    let Ok(c) = state.campaign(&item.campaign_id).await else {
        return retry_soon();
    };
    let ticket = match state
        .store()
        .ticket_status_row(&item.campaign_id, &item.subscription.identity)
        .await
    {
        Ok(Some(t)) => t,
        Ok(None) => return Finish::GiveUp("moot"),
        Err(e) => {
            tracing::warn!(error = %e, "push: cannot read the ticket");
            return retry_soon();
        }
    };
    let about_this = match item.kind {
        lineup_protocol::push::PushKind::DrawResult => ticket.seq == item.about,
        lineup_protocol::push::PushKind::Voucher => ticket.voucher.as_ref().is_some_and(|v| v.serial == item.about),
        lineup_protocol::push::PushKind::HandedOn => true,
    };
    if !about_this {
        return Finish::GiveUp("moot");
    }
    let p = match payload::build(
        item.kind,
        &c.spec,
        &ticket,
        item.subscription.hide_code,
        item.subscription.locale,
    ) {
        Ok(p) => p,
        Err(Stale::Moot) => return Finish::GiveUp("moot"),
    };
    let until = payload::useful_until(&p, &c.spec);
    let (ttl, urgency) = delivery(item.kind, now, until);
    let expires = until
        .unwrap_or(item.created_at + Duration::days(1))
        .max(item.created_at + Duration::minutes(1));
    if now > expires {
        return Finish::GiveUp("expired");
    }
    let plaintext = match serde_json::to_vec(&p) {
        Ok(b) => b,
        Err(_) => return Finish::GiveUp("unencodable"),
    };
    let msg = PushMessage {
        plaintext,
        ttl,
        urgency,
    };
    match sender.send(&item.subscription, &msg).await {
        SendOutcome::Delivered => Finish::Delivered,
        SendOutcome::Gone => Finish::Gone,
        SendOutcome::Retry { after, reason } => {
            let after = after.and_then(|d| Duration::from_std(d).ok());
            let salt = u64::try_from(item.id).unwrap_or(0);
            match retry_at(&cfg.retry, item.attempts, after, now, expires, salt) {
                Some(at) => {
                    tracing::debug!(outbox = item.id, attempts = item.attempts, %reason, retry_at = %at, "push: will retry");
                    Finish::Retry(at)
                }
                None => {
                    tracing::info!(outbox = item.id, attempts = item.attempts, %reason, "push: gave up");
                    Finish::GiveUp("expired")
                }
            }
        }
        SendOutcome::Failed(reason) => {
            tracing::warn!(outbox = item.id, %reason, "push: refused");
            Finish::GiveUp("rejected")
        }
    }
}

/// Records outcomes in batches: whatever arrived within 100 ms, at most 512 at a time.
async fn finish_loop(state: AppState, hub: Arc<PushHub>, mut done: mpsc::Receiver<(i64, i64, Finish)>) {
    let mut batch = Vec::new();
    loop {
        let Some(first) = done.recv().await else { return };
        batch.push(first);
        let deadline = tokio::time::sleep(std::time::Duration::from_millis(100));
        tokio::pin!(deadline);
        while batch.len() < 512 {
            tokio::select! {
                next = done.recv() => match next {
                    Some(x) => batch.push(x),
                    None => break,
                },
                _ = &mut deadline => break,
            }
        }
        let mut tries = 0;
        while let Err(e) = state.store().push_finish(&batch, state.now()).await {
            tries += 1;
            tracing::warn!(error = %e, tries, "push: cannot record outcomes");
            if tries >= 5 {
                // The leases run out and the rows are sent again: at least once, never lost.
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200 * tries)).await;
        }
        hub.record(&batch);
        batch.clear();
    }
}
