//! Explicit claims (protocol 1.0) carried out together: each campaign has one worker per
//! instance that takes every claim waiting at that moment (up to [`MAX_BATCH`]) and hands them to
//! the store as one batch ([`crate::store::Store::claim_batch`]: on SQLite two transactions in
//! all instead of two per claim). A claim arriving alone is carried out at once; under a surge
//! the claims that queued while one batch committed form the next.
//!
//! The worker owns the work: a request that times out or whose client goes away leaves its claim
//! running to the end, and a retry with the same key gets its result (as before, when each claim
//! ran in a task of its own). It holds the store, issuer and clock, not the server's state, so
//! dropping the state (shutdown) closes the queues and ends the workers.

use crate::clock::Clock;
use crate::issuer::Issuer;
use crate::store::{ClaimInput, ClaimOutcome, Store, StoreError};
use lineup_protocol::CampaignId;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// Claims per batch at most.
pub const MAX_BATCH: usize = 256;

/// Claims queued per campaign at most; beyond, a caller waits for room (the HTTP layer's
/// concurrency limit is far lower, so this only bounds memory).
const QUEUE: usize = 4096;

type Reply = oneshot::Sender<Result<ClaimOutcome, StoreError>>;

/// The per-campaign queues of this instance.
#[derive(Default)]
pub struct ClaimQueues {
    senders: Mutex<HashMap<CampaignId, mpsc::Sender<(ClaimInput, Reply)>>>,
}

impl ClaimQueues {
    /// Queues `input` for its campaign's worker (started on first use) and waits for the outcome.
    pub async fn claim(
        &self,
        store: &Store,
        issuer: &Issuer,
        clock: &Clock,
        input: ClaimInput,
    ) -> Result<ClaimOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        let sender = {
            let mut map = self.senders.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(input.campaign_id.clone())
                .or_insert_with(|| {
                    let (s, r) = mpsc::channel(QUEUE);
                    tokio::spawn(worker(store.clone(), issuer.clone(), clock.clone(), r));
                    s
                })
                .clone()
        };
        sender
            .send((input, tx))
            .await
            .map_err(|_| StoreError::Unsupported("the claim worker stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unsupported("the claim worker dropped a claim".into()))?
    }
}

async fn worker(store: Store, issuer: Issuer, clock: Clock, mut queue: mpsc::Receiver<(ClaimInput, Reply)>) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let inputs: Vec<ClaimInput> = jobs.iter().map(|(i, _)| i.clone()).collect();
        match store.claim_batch(&inputs, &issuer, &clock).await {
            Ok(answers) if answers.len() == jobs.len() => {
                for ((_, reply), answer) in jobs.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            _ => {
                // The batch failed as a whole: each claim on its own, so each gets its own
                // outcome or error.
                for (input, reply) in jobs {
                    let _ = reply.send(store.claim(&input, &issuer, &clock).await);
                }
            }
        }
    }
}
