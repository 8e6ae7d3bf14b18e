//! Group commit for requests that write: one worker per campaign and instance takes every request
//! waiting at that moment (up to [`MAX_BATCH`]) and hands them to the store together, so a surge
//! of joins or explicit claims costs the single SQLite writer a few transactions (a few fsyncs)
//! per batch instead of one or two per request. A request arriving alone is carried out at once;
//! under a surge, the requests that queued while one batch committed form the next.
//!
//! The worker owns the work: a request that times out or whose client goes away leaves its write
//! running to the end (a retry then finds its result). It holds only what `run` captured (the
//! store, issuer, clock), not the server's state, so dropping the state (shutdown) closes the
//! queues and ends the workers.

use crate::clock::Clock;
use crate::issuer::Issuer;
use crate::store::{ClaimInput, ClaimOutcome, JoinInput, Store, StoreError, TakeOutcome};
use lineup_protocol::CampaignId;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Requests per batch at most.
pub const MAX_BATCH: usize = 256;

/// Requests queued per campaign at most; beyond, a caller waits for room (the HTTP layer's
/// concurrency limit is far lower, so this only bounds memory).
const QUEUE: usize = 4096;

/// What a batch of inputs becomes: one result per input, in order.
pub type BatchFuture<O> = Pin<Box<dyn Future<Output = Vec<Result<O, StoreError>>> + Send>>;

/// Carries a batch out.
pub type Run<I, O> = Arc<dyn Fn(Vec<I>) -> BatchFuture<O> + Send + Sync>;

type Job<I, O> = (I, oneshot::Sender<Result<O, StoreError>>);

/// Per-campaign queues of one kind of request.
pub struct Batcher<I, O> {
    run: Run<I, O>,
    senders: Mutex<HashMap<CampaignId, mpsc::Sender<Job<I, O>>>>,
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    pub fn new(run: Run<I, O>) -> Self {
        Batcher {
            run,
            senders: Mutex::default(),
        }
    }

    /// Queues `input` for `campaign`'s worker (started on first use) and waits for its result.
    pub async fn submit(&self, campaign: &CampaignId, input: I) -> Result<O, StoreError> {
        let (tx, rx) = oneshot::channel();
        let sender = {
            let mut map = self.senders.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(campaign.clone())
                .or_insert_with(|| {
                    let (s, r) = mpsc::channel(QUEUE);
                    tokio::spawn(worker(self.run.clone(), r));
                    s
                })
                .clone()
        };
        sender
            .send((input, tx))
            .await
            .map_err(|_| StoreError::Unsupported("the batch worker stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unsupported("the batch worker dropped a request".into()))?
    }
}

/// Explicit claims (protocol 1.0): on SQLite two transactions per batch instead of two per claim.
/// A batch that fails as a whole is carried out claim by claim, so each gets its own outcome.
pub fn claims(store: Store, issuer: Issuer, clock: Clock) -> Batcher<ClaimInput, ClaimOutcome> {
    Batcher::new(Arc::new(move |inputs: Vec<ClaimInput>| {
        let (store, issuer, clock) = (store.clone(), issuer.clone(), clock.clone());
        Box::pin(async move {
            match store.claim_batch(&inputs, &issuer, &clock).await {
                Ok(out) if out.len() == inputs.len() => out.into_iter().map(Ok).collect(),
                _ => {
                    let mut out = Vec::with_capacity(inputs.len());
                    for input in &inputs {
                        out.push(store.claim(input, &issuer, &clock).await);
                    }
                    out
                }
            }
        })
    }))
}

/// Joins (taking a place in line): on SQLite one write transaction per batch instead of one per
/// join, which is what a short pre-queue of a large crowd needs. A batch that fails as a whole is
/// carried out join by join.
pub fn joins(store: Store) -> Batcher<JoinInput, TakeOutcome> {
    Batcher::new(Arc::new(move |inputs: Vec<JoinInput>| {
        let store = store.clone();
        Box::pin(async move {
            match store.take_tickets(&inputs).await {
                Ok(out) if out.len() == inputs.len() => out.into_iter().map(Ok).collect(),
                _ => {
                    let mut out = Vec::with_capacity(inputs.len());
                    for j in &inputs {
                        out.push(
                            store
                                .take_ticket(&j.campaign_id, &j.identity, j.auto_issue.as_deref(), j.now)
                                .await,
                        );
                    }
                    out
                }
            }
        })
    }))
}

async fn worker<I, O>(run: Run<I, O>, mut queue: mpsc::Receiver<Job<I, O>>) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (inputs, replies): (Vec<I>, Vec<_>) = jobs.into_iter().unzip();
        let n = replies.len();
        let mut results = run(inputs).await.into_iter();
        for reply in replies {
            let r = results
                .next()
                .unwrap_or_else(|| Err(StoreError::Corrupt(format!("a batch of {n} answered fewer"))));
            let _ = reply.send(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_waiting_together_form_one_batch_and_answers_keep_their_order() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let run: Run<u32, u32> = Arc::new(move |inputs: Vec<u32>| {
            seen.lock().unwrap().push(inputs.len());
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                inputs.into_iter().map(|i| Ok(i * 10)).collect()
            })
        });
        let b = Arc::new(Batcher::new(run));
        let c: CampaignId = "demo".parse().unwrap();
        let mut tasks = Vec::new();
        for i in 0..50u32 {
            let (b, c) = (b.clone(), c.clone());
            tasks.push(tokio::spawn(async move { b.submit(&c, i).await.unwrap() }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), i as u32 * 10);
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 50);
        assert!(sizes.len() < 50, "requests shared batches: {sizes:?}");
    }
}
