//! `lineup-auto`: `lineup` clients that opt in to server-side issuance (issue 10) in virtual
//! time, against the model server of `line.rs` and its issuer.
//!
//! A client takes its place (`POST .../tickets` with `{"auto_issue": true}` and an
//! `Idempotency-Key`) at a random moment of the pre-queue window, as the engine does, and makes
//! one result check at the `check_at` it was given. A winner is told `in_line` with `admit_at`
//! and `check_at = admit_at + lag` and makes one fetch (`GET .../tickets/me`, which then carries
//! the voucher) at `check_at`; a waitlisted client is told its place with no `check_at` and
//! asks nothing more. So winners make 3 requests and losers 2: the floor `2 + V/N`.
//!
//! The server's issuer wakes every `issue_batch_ms` (or when its previous batch is done, if
//! later), issues in admission order every opted-in ticket whose `admit_at` has come, at most
//! `issue_batch_max` per batch, and charges `cost_batch_issue` per voucher to the same capacity
//! pool the requests use. A voucher counts as issued when its batch is done (durable).
//!
//! `lineup_core::engine` has no opt-in yet (the client side of issue 10 is being built there),
//! so this client is a small state machine of its own; it retries failures with the engine's
//! policy (`BackoffPolicy::lineup()` from `lineup_core::backoff`).

use crate::capacity::{Capacity, Door};
use crate::model::line::{LineAnswer, LineServer};
use crate::queue::EventQueue;
use crate::scenario::{Micros, SEC, Scenario, secs};
use crate::stats::{Recorder, StrategyReport};
use crate::strategy::Strategy;
use lineup_core::backoff::{Backoff, BackoffPolicy, Decision, ServerHint};
use lineup_protocol::problem::ProblemClass;
use lineup_protocol::{ProblemCode, TicketState};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use std::time::Duration;

/// The row's name.
pub const NAME: &str = "lineup-auto";

/// The event queue's id for the server's issuer.
const ISSUER: u32 = u32::MAX;

/// A seed salt of its own, so this row's draw differs from `lineup`'s as another drop would.
const SALT: u64 = 0x6175746f;

/// `Retry-After` of a 503, as the reference server sends it.
const SHED_RETRY_S: u64 = 1;

/// The slot request goes out at least this long before the draw (the engine's `slot_margin`).
const SLOT_MARGIN: Micros = 5 * SEC;

#[derive(Debug, Clone, Copy)]
enum Pending {
    Step,
    Answer(LineAnswer),
    Shed,
    Timeout,
}

/// One opted-in client.
#[derive(Debug, Clone)]
struct Client {
    /// Holds a ticket: the next request is `GET .../tickets/me`, else `POST .../tickets`.
    joined: bool,
    done: bool,
    backoff: Backoff,
    /// When a sleepy client wakes (after closing); `None` for the others.
    wakes_at: Option<Micros>,
}

/// What the client does after an answer: wait until an instant, or stop.
enum Next {
    At(Micros),
    Stop,
}

/// Runs the opted-in crowd against its own server; returns its row.
pub fn run(s: &Scenario) -> StrategyReport {
    let mut rng = Pcg64::seed_from_u64(s.seed ^ Strategy::Lineup.salt() ^ SALT);
    let n = s.clients as usize;
    let mut capacity = Capacity::new(s);
    let mut server = LineServer::new(s, Pcg64::seed_from_u64(rng.random()));
    let mut rec = Recorder::new(s.clients, s.opens_at());
    // Registration, and the campaign fetch that tells the client the pre-queue window.
    rec.setup_requests(2 * u64::from(s.clients));
    let one_way = s.one_way();
    let timeout = secs(s.client_timeout_s);
    let batch_every = secs(s.issue_batch_ms / 1000.0).max(1);
    let batch_max = s.issue_batch_max as usize;
    let sleepers = super::sleepers(s);

    let mut queue = EventQueue::with_capacity(n + 1);
    let draw = s.draw_at();
    let slot_end = draw.saturating_sub(SLOT_MARGIN.min(draw / 5));
    let mut clients: Vec<Client> = Vec::with_capacity(n);
    for (c, wakes_at) in sleepers.into_iter().enumerate() {
        if wakes_at.is_some() {
            rec.sleepy(c as u32);
        }
        clients.push(Client {
            joined: false,
            done: false,
            backoff: Backoff::new(BackoffPolicy::lineup(), 0),
            wakes_at,
        });
        queue.push(rng.random_range(0..=slot_end), c as u32);
    }
    queue.push(s.opens_at(), ISSUER);
    let mut pending = vec![Pending::Step; n];

    let mut now: Micros = 0;
    while let Some((t, c)) = queue.pop() {
        now = t;
        if c == ISSUER {
            let batch = server.issue_due(t, batch_max);
            let mut next = t + batch_every;
            if !batch.is_empty() {
                let done = capacity.work(t, batch.len() as f64 * s.costs.batch_issue);
                for &(client, serial) in &batch {
                    rec.issued(serial, client, done);
                }
                next = next.max(done);
            }
            if server.issued() < server.supply() && next < s.closes_at() {
                queue.push(next, ISSUER);
            }
            continue;
        }
        let ci = c as usize;
        let client = &mut clients[ci];
        if client.done {
            continue;
        }
        let now_ms = t / 1000;
        let next = match std::mem::replace(&mut pending[ci], Pending::Step) {
            Pending::Step => {
                let allowed = client.backoff.earliest_send(now_ms) * 1000;
                if allowed > t {
                    queue.push(allowed, c);
                    continue;
                }
                client.backoff.on_send(now_ms);
                let arrival = t + one_way;
                rec.request(c, arrival);
                match capacity.arrive(arrival) {
                    Door::Drop => {
                        rec.shed();
                        pending[ci] = Pending::Timeout;
                        queue.push(t + timeout, c);
                    }
                    Door::Shed => {
                        rec.shed();
                        pending[ci] = Pending::Shed;
                        queue.push(arrival + one_way, c);
                    }
                    Door::Serve { start } => {
                        let at = start as Micros;
                        let answer = if client.joined {
                            server.status(c, at)
                        } else {
                            server.join(c, true, at)
                        };
                        let done = capacity.finish(start, s.costs.read);
                        if s.loss > 0.0 && rng.random::<f64>() < s.loss {
                            pending[ci] = Pending::Timeout;
                            queue.push(t + timeout, c);
                        } else {
                            pending[ci] = Pending::Answer(answer);
                            queue.push(done + one_way, c);
                        }
                    }
                }
                continue;
            }
            Pending::Answer(answer) => on_answer(client, c, &answer, t, &mut rec),
            Pending::Shed => {
                let hint = ServerHint {
                    class: ProblemClass::Retry,
                    check_at: None,
                    retry_after: Some(Duration::from_secs(SHED_RETRY_S)),
                };
                retry(client, &hint, now_ms, &mut rng)
            }
            Pending::Timeout => retry(client, &ServerHint::transport(), now_ms, &mut rng),
        };
        match next {
            Next::At(at) => {
                // A sleepy client goes silent once it holds a ticket, until after closing.
                let at = match client.wakes_at {
                    Some(w) if client.joined => at.max(w),
                    _ => at,
                };
                queue.push(at.max(t), c);
            }
            Next::Stop => {
                client.done = true;
                rec.knows(c, t);
            }
        }
    }
    for c in 0..s.clients {
        if let Some(p) = server.position(c) {
            rec.set_rank(c, p);
        }
    }
    rec.finish(NAME, s.vouchers, s.capacity, Some(s.costs.reject), now)
}

/// What the client does with an answer received at `t`.
fn on_answer(client: &mut Client, c: u32, answer: &LineAnswer, t: Micros, rec: &mut Recorder) -> Next {
    match *answer {
        LineAnswer::Ticket { view, .. } => {
            client.joined = true;
            client.backoff.on_success();
            let check = view.check_at;
            match view.state {
                TicketState::PreQueue | TicketState::InLine | TicketState::Admitted => {
                    // Admitted cannot happen to an opted-in ticket; fetch at once if it did.
                    Next::At(check.unwrap_or(t))
                }
                TicketState::Claimed => {
                    if let Some(serial) = view.serial {
                        rec.received(c, serial);
                    }
                    Next::Stop
                }
                // "Supply does not reach you": no check is asked of an opted-in ticket.
                TicketState::Waitlisted => check.map_or(Next::Stop, Next::At),
                TicketState::SoldOut | TicketState::Expired | TicketState::Closed | TicketState::Returned => Next::Stop,
            }
        }
        LineAnswer::Voucher { serial, .. } | LineAnswer::Vouchers { serial: Some(serial) } => {
            rec.received(c, serial);
            Next::Stop
        }
        LineAnswer::Vouchers { serial: None } => Next::At(t),
        LineAnswer::Problem { code, check_at } => match code {
            ProblemCode::TooEarly => Next::At(check_at.unwrap_or(t + SEC)),
            ProblemCode::NoTicket => {
                client.joined = false;
                Next::At(t)
            }
            _ => Next::Stop,
        },
    }
}

fn retry(client: &mut Client, hint: &ServerHint, now_ms: u64, rng: &mut Pcg64) -> Next {
    match client.backoff.next_delay(now_ms, rng, hint) {
        Decision::Retry { after, .. } => Next::At((now_ms + after.as_millis() as u64) * 1000),
        Decision::GiveUp(_) => Next::Stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference surge scaled down 20 times (V/C still 10 s; admission 97/s).
    fn small(sleepy: f64) -> Scenario {
        Scenario {
            clients: 5_000,
            vouchers: 1_000,
            capacity: 100.0,
            sleepy,
            ..Scenario::default()
        }
    }

    #[test]
    fn winners_make_three_requests_losers_two() {
        let s = small(0.0);
        let r = run(&s);
        assert_eq!(r.name, NAME);
        assert_eq!(r.vouchers_issued, 1_000);
        assert_eq!(r.requests_total, 5_000 * 2 + 1_000);
        assert!((r.floor_ratio - 1.0).abs() < 1e-12, "{r:?}");
        assert_eq!((r.shed_total, r.lost, r.duplicates), (0, 0, 0), "{r:?}");
        assert_eq!(r.fairness, 1.0);
        assert!(r.drain_ratio.is_some_and(|d| d <= 1.05), "{r:?}");
    }

    #[test]
    fn sleepy_winners_hold_their_vouchers() {
        let s = small(0.3);
        let r = run(&s);
        assert!(r.sleepy_winners > 200, "{r:?}");
        assert_eq!(r.sleepy_holding, r.sleepy_winners, "{r:?}");
        assert_eq!((r.vouchers_issued, r.lost, r.duplicates), (1_000, 0, 0), "{r:?}");
        // Sleepy people skip the result check: join, then one request after closing.
        assert!(r.requests_total < 5_000 * 2 + 1_000, "{r:?}");
    }
}
