//! A baseline client on the real protocol. The reference server has no first-come endpoint,
//! so "first come" maps onto it like this: the person arrives around opening (after the
//! draw), takes a ticket (late arrivals join the back of the line in arrival order), then
//! presses "claim" again and again until it works or the answer is final. Between attempts it
//! waits as its strategy says (`lineup_core::backoff`, or `hammer`'s refresh), reading only the
//! status code: no `check_at`, no `Retry-After`.

use super::Shared;
use super::clients::{Conn, campaign_id, record_exchange};
use crate::strategy::{HAMMER_GIVE_UP_MS, HAMMER_MS, Strategy};
use lineup_core::backoff::{Backoff, Decision, ServerHint};
use lineup_core::clock::{Clock, MonotonicClock, ms};
use lineup_core::engine::{Reply, Request, new_idempotency_key};
use lineup_protocol::TicketState;
use lineup_protocol::problem::ProblemClass;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use std::sync::Arc;
use std::time::Duration;

/// Runs one baseline person to the end.
pub async fn run(client: u32, strategy: Strategy, mut conn: Conn, shared: Arc<Shared>, seed: u64, spread_s: f64) {
    let Ok(cid) = campaign_id() else { return };
    let clock = MonotonicClock::new();
    let mut rng = Pcg64::seed_from_u64(seed);
    let key = new_idempotency_key(&mut rng);
    let mut backoff = strategy.backoff().map(|p| Backoff::new(p, clock.now()));
    let mut hammer_first_failure: Option<u64> = None;

    // Arrive around opening, as the crowd at the announced second.
    let opens_in = (shared.campaign.opens_at - chrono::Utc::now()).num_milliseconds();
    let spread_ms = (spread_s * 1000.0) as i64;
    let jitter = rng.random_range(0..=spread_ms.max(0)) - spread_ms / 2;
    if let Ok(wait) = u64::try_from(opens_in + jitter) {
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }

    let mut ticket_id: Option<String> = None;
    loop {
        let req = match &ticket_id {
            None => Request::TakeSlot,
            Some(t) => Request::Claim {
                idempotency_key: key.clone(),
                ticket_id: t.clone(),
            },
        };
        if let Some(b) = &mut backoff {
            b.on_send(clock.now());
        }
        let sent_at = shared.now();
        let reply = conn.execute(&shared, &cid, &req).await;
        record_exchange(&shared, client, sent_at, &reply);
        let class = match &reply {
            Reply::Voucher(v) => return hold(&shared, client, v.serial),
            Reply::Ticket(t) => {
                if let Some(v) = &t.voucher {
                    return hold(&shared, client, v.serial);
                }
                if t.state.is_final() {
                    return done(&shared, client);
                }
                ticket_id = Some(t.ticket_id.clone());
                if let Some(b) = &mut backoff {
                    b.on_success();
                }
                // Got the page: press "claim" right away (unless not yet in line at all).
                if t.state != TicketState::PreQueue {
                    continue;
                }
                ProblemClass::Wait
            }
            Reply::Vouchers(_) => ProblemClass::Retry,
            Reply::Problem { problem, .. } => problem.code.class(),
            Reply::Transport(_) => ProblemClass::Retry,
        };
        let now = clock.now();
        let delay = match class {
            ProblemClass::Final | ProblemClass::Invalid => None,
            _ => match &mut backoff {
                None => {
                    let first = match class {
                        ProblemClass::Retry => *hammer_first_failure.get_or_insert(now),
                        _ => hammer_first_failure.unwrap_or(now),
                    };
                    (now - first < HAMMER_GIVE_UP_MS).then(|| Duration::from_millis(rng.random_range(HAMMER_MS)))
                }
                Some(b) => {
                    let hint = ServerHint {
                        class,
                        check_at: None,
                        retry_after: None,
                    };
                    match b.next_delay(now, &mut rng, &hint) {
                        Decision::Retry { after, .. } => Some(after),
                        Decision::GiveUp(_) => None,
                    }
                }
            },
        };
        match delay {
            Some(d) => tokio::time::sleep(Duration::from_millis(ms(d))).await,
            None => return done(&shared, client),
        }
    }
}

fn hold(shared: &Shared, client: u32, serial: u64) {
    let at = shared.now();
    shared.record(|r| {
        r.received(client, serial);
        r.knows(client, at);
    });
}

fn done(shared: &Shared, client: u32) {
    let at = shared.now();
    shared.record(|r| r.knows(client, at));
}
