//! The baseline crowds in virtual time: each person presses "claim" on a first-come endpoint
//! around the opening second and retries (with `lineup_core::backoff`'s published policies, or
//! `hammer`'s refreshes) until they hold a voucher, learn it is sold out, or give up.
//!
//! Baselines act as browsers and SDKs do: they read the status code, not `Retry-After` or
//! `check_at` (the AWS SDKs' standard retry does not honour `Retry-After`, and a refresh
//! button certainly does not).

use crate::capacity::{Capacity, Door};
use crate::model::first_come::{FirstCome, FirstComeAnswer};
use crate::queue::EventQueue;
use crate::scenario::{Micros, Scenario, secs};
use crate::stats::{Recorder, StrategyReport};
use crate::strategy::{HAMMER_GIVE_UP_MS, HAMMER_MS, Strategy};
use lineup_core::backoff::{Backoff, Decision, ServerHint};
use lineup_protocol::problem::ProblemClass;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

/// What a client is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Its next attempt.
    Send,
    /// The server's answer.
    Answer(FirstComeAnswer),
    /// A 503.
    Shed,
    /// Nothing will come: its timeout fires.
    Timeout,
}

/// How a baseline client waits between attempts.
enum Retry {
    Hammer { first_failure: Option<u64> },
    Policy(Box<Backoff>),
}

/// Runs one baseline crowd against its own server; returns its row.
pub fn run(s: &Scenario, strategy: Strategy) -> StrategyReport {
    let mut rng = Pcg64::seed_from_u64(s.seed ^ strategy.salt());
    let n = s.clients as usize;
    let mut capacity = Capacity::new(s);
    let mut server = FirstCome::new(s);
    let mut rec = Recorder::new(s.clients, s.opens_at());
    rec.setup_requests(u64::from(s.clients));
    let one_way = s.one_way();
    let timeout = secs(s.client_timeout_s);

    let mut queue = EventQueue::with_capacity(n);
    let spread = secs(s.crowd_spread_s);
    let earliest = s.opens_at().saturating_sub(spread / 2);
    for c in 0..s.clients {
        let at = earliest + rng.random_range(0..=spread);
        queue.push(at, c);
    }
    let mut pending = vec![Pending::Send; n];
    let mut retry: Vec<Retry> = (0..n)
        .map(|_| match strategy.backoff() {
            Some(p) => Retry::Policy(Box::new(Backoff::new(p, 0))),
            None => Retry::Hammer { first_failure: None },
        })
        .collect();

    let mut now: Micros = 0;
    while let Some((t, c)) = queue.pop() {
        now = t;
        let ci = c as usize;
        match pending[ci] {
            Pending::Send => {
                let arrival = t + one_way;
                rec.request(c, arrival);
                rec.rank_by_arrival(c);
                if let Retry::Policy(b) = &mut retry[ci] {
                    b.on_send(t / 1000);
                }
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
                        let answer = server.claim(c, start as Micros);
                        let cost = match answer {
                            FirstComeAnswer::Issued(_) => s.costs.issue,
                            _ => s.costs.read,
                        };
                        let done = capacity.finish(start, cost);
                        if let FirstComeAnswer::Issued(serial) = answer {
                            rec.issued(serial, c, done);
                        }
                        if s.loss > 0.0 && rng.random::<f64>() < s.loss {
                            pending[ci] = Pending::Timeout;
                            queue.push(t + timeout, c);
                        } else {
                            pending[ci] = Pending::Answer(answer);
                            queue.push(done + one_way, c);
                        }
                    }
                }
            }
            Pending::Answer(FirstComeAnswer::Issued(serial) | FirstComeAnswer::Replay(serial)) => {
                rec.received(c, serial);
                rec.knows(c, t);
            }
            Pending::Answer(FirstComeAnswer::SoldOut | FirstComeAnswer::Closed) => rec.knows(c, t),
            failed @ (Pending::Answer(FirstComeAnswer::TooEarly) | Pending::Shed | Pending::Timeout) => {
                let class = if failed == Pending::Answer(FirstComeAnswer::TooEarly) {
                    ProblemClass::Wait
                } else {
                    ProblemClass::Retry
                };
                let now_ms = t / 1000;
                let delay_ms = match &mut retry[ci] {
                    Retry::Hammer { first_failure } => {
                        // "Not open yet" is not a failure; the give-up clock starts at the first.
                        let first = match class {
                            ProblemClass::Wait => first_failure.unwrap_or(now_ms),
                            _ => *first_failure.get_or_insert(now_ms),
                        };
                        (now_ms - first < HAMMER_GIVE_UP_MS).then(|| rng.random_range(HAMMER_MS))
                    }
                    Retry::Policy(b) => {
                        let hint = ServerHint {
                            class,
                            check_at: None,
                            retry_after: None,
                        };
                        match b.next_delay(now_ms, &mut rng, &hint) {
                            Decision::Retry { after, .. } => Some(lineup_core::clock::ms(after)),
                            Decision::GiveUp(_) => None,
                        }
                    }
                };
                match delay_ms {
                    Some(d) => {
                        pending[ci] = Pending::Send;
                        queue.push(t + d * 1000, c);
                    }
                    // Gave up: the person walks away knowing they got nothing.
                    None => rec.knows(c, t),
                }
            }
        }
    }
    rec.finish(strategy.name(), s.vouchers, s.capacity, Some(s.costs.reject), now)
}
