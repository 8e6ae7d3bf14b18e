//! The `lineup` strategy in virtual time: one `lineup_core::engine::Engine` per client (the
//! engine the app ships, not a copy) talking to the model server of `line.rs` through the
//! capacity model. The engine gets the same wire types a real server would send, with every
//! "when" as a delay from the moment the reply was made.

use crate::capacity::{Capacity, Door};
use crate::model::line::{LineAnswer, LineServer, TicketView};
use crate::queue::EventQueue;
use crate::scenario::{Micros, Scenario, secs};
use crate::stats::{Recorder, StrategyReport};
use crate::strategy::Strategy;
use chrono::{DateTime, Utc};
use lineup_core::engine::{ClaimRecord, Engine, EngineConfig, Outcome, Reply, Request, Step, TransportError};
use lineup_protocol::{
    Campaign, CampaignId, CampaignPhase, Position, Problem, ProblemCode, TicketState, TicketStatus, Voucher,
    VoucherCode, VoucherList, VoucherStatus, When,
};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use std::hash::{Hash, Hasher};
use std::time::Duration;

/// `Retry-After` of a 503, as the reference server sends it.
const SHED_RETRY_S: u64 = 1;

/// What a client is waiting for.
#[derive(Debug, Clone, Copy)]
enum Pending {
    /// Its engine's next step is due.
    Step,
    Answer {
        answer: LineAnswer,
        made_at: Micros,
    },
    Shed,
    Timeout,
}

/// Maps virtual time onto wire instants.
struct Wire {
    origin: DateTime<Utc>,
    campaign_id: CampaignId,
    amount: u32,
    currency: String,
    voucher_expires_at: DateTime<Utc>,
}

impl Wire {
    fn at(&self, t: Micros) -> DateTime<Utc> {
        self.origin + chrono::Duration::microseconds(i64::try_from(t).unwrap_or(i64::MAX))
    }

    fn when(&self, at: Micros, now: Micros) -> When {
        When::new(self.at(at), self.at(now))
    }

    fn ticket_id(client: u32) -> String {
        format!("t{client}")
    }

    fn voucher(&self, serial: u64, at: Micros) -> Voucher {
        Voucher {
            campaign_id: self.campaign_id.clone(),
            serial,
            code: VoucherCode::derive(&serial.to_le_bytes()),
            // The model does not sign; the engine does not verify (the wallet does, offline).
            token: format!("model-{serial}"),
            amount: self.amount,
            currency: self.currency.clone(),
            kid: 1,
            issued_at: self.at(at),
            expires_at: self.voucher_expires_at,
            status: VoucherStatus::Unused,
            redeemed_at: None,
        }
    }

    fn ticket(&self, client: u32, v: &TicketView, now: Micros) -> TicketStatus {
        TicketStatus {
            campaign_id: self.campaign_id.clone(),
            ticket_id: Self::ticket_id(client),
            state: v.state,
            joined_at: self.at(v.joined_at),
            in_draw: v.in_draw,
            auto_issue: false,
            position: v.position.map(Position),
            ahead: v.ahead,
            waitlist: v.waitlist,
            admit_at: v.admit_at.map(|t| self.when(t, now)),
            admit_until: v.admit_until.map(|t| self.when(t, now)),
            check_at: v.check_at.map(|t| self.when(t, now)),
            voucher: v.serial.map(|s| self.voucher(s, now)),
            server_time: self.at(now),
        }
    }

    fn reply(&self, client: u32, answer: &LineAnswer, now: Micros) -> Reply {
        match answer {
            LineAnswer::Ticket { view, .. } => Reply::Ticket(self.ticket(client, view, now)),
            LineAnswer::Voucher { serial, .. } => Reply::Voucher(self.voucher(*serial, now)),
            LineAnswer::Vouchers { serial } => Reply::Vouchers(VoucherList {
                vouchers: serial.iter().map(|&s| self.voucher(s, now)).collect(),
            }),
            LineAnswer::Problem { code, check_at } => {
                let mut p = Problem::new(*code, "model").with_server_time(self.at(now));
                let mut retry_after = None;
                if let Some(t) = check_at {
                    let w = self.when(*t, now);
                    let secs = w.in_ms.div_ceil(1000);
                    p = p.with_check_at(w).with_retry_after(secs);
                    retry_after = Some(Duration::from_secs(secs));
                }
                Reply::Problem {
                    problem: p,
                    retry_after,
                }
            }
        }
    }

    fn campaign(&self, s: &Scenario) -> Campaign {
        Campaign {
            id: self.campaign_id.clone(),
            title: "영화 할인권 6,000원".into(),
            title_en: "6,000-won cinema voucher".into(),
            issuer: "lineup-sim".into(),
            brands: vec!["CGV".into(), "Lotte Cinema".into(), "Megabox".into()],
            amount: self.amount,
            currency: self.currency.clone(),
            supply: u64::from(s.vouchers),
            remaining: u64::from(s.vouchers),
            entrants: 0,
            issued: 0,
            phase: CampaignPhase::PreQueue,
            prequeue_opens_at: self.at(0),
            draw_at: self.at(s.draw_at()),
            opens_at: self.at(s.opens_at()),
            closes_at: self.at(s.closes_at()),
            voucher_expires_at: self.voucher_expires_at,
            admission_rate_per_s: s.admission_rate(),
            admission_window_s: s.admission_window_s as u64,
            server_time: self.at(0),
        }
    }
}

fn key_hash(key: &str) -> u64 {
    // SipHash with fixed keys: deterministic across runs, and only compared for equality.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish() | 1
}

/// Whether the answer tells the person their fate (a voucher, or that supply will not reach
/// them; a waitlist place counts, as the surge design says).
fn tells_fate(answer: &LineAnswer) -> bool {
    match answer {
        LineAnswer::Ticket { view, .. } => matches!(
            view.state,
            TicketState::Claimed
                | TicketState::Waitlisted
                | TicketState::SoldOut
                | TicketState::Expired
                | TicketState::Closed
        ),
        LineAnswer::Voucher { .. } => true,
        LineAnswer::Vouchers { serial } => serial.is_some(),
        LineAnswer::Problem { code, .. } => matches!(
            code,
            ProblemCode::SoldOut | ProblemCode::AdmissionExpired | ProblemCode::CampaignClosed
        ),
    }
}

/// Runs the lineup crowd against its own server; returns its row.
pub fn run(s: &Scenario) -> StrategyReport {
    let strategy = Strategy::Lineup;
    let mut rng = Pcg64::seed_from_u64(s.seed ^ strategy.salt());
    let n = s.clients as usize;
    let mut capacity = Capacity::new(s);
    let mut server = LineServer::new(s, Pcg64::seed_from_u64(rng.random()));
    let mut rec = Recorder::new(s.clients, s.opens_at());
    // Registration, and the campaign fetch that arms the engine, happen before the scenario.
    rec.setup_requests(2 * u64::from(s.clients));
    let one_way = s.one_way();
    let timeout = secs(s.client_timeout_s);
    let wire = Wire {
        origin: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
        campaign_id: "cinema-6000".parse().expect("a constant, valid campaign id"),
        amount: 6000,
        currency: "KRW".into(),
        voucher_expires_at: DateTime::from_timestamp(1_800_000_000 + 30 * 86_400, 0).unwrap_or_default(),
    };
    let campaign = wire.campaign(s);

    let mut engines: Vec<Option<Engine>> = Vec::with_capacity(n);
    let mut queue = EventQueue::with_capacity(n);
    for c in 0..s.clients {
        let mut client_rng = Pcg64::seed_from_u64(rng.random());
        let key = lineup_core::engine::new_idempotency_key(&mut client_rng);
        let record = ClaimRecord::new(wire.campaign_id.clone(), key);
        engines.push(Some(Engine::new(
            &campaign,
            0,
            record,
            EngineConfig::default(),
            client_rng,
        )));
        queue.push(0, c);
    }
    let mut pending = vec![Pending::Step; n];
    // Sleepy people go silent once they hold a ticket, until their wake-up after closing.
    let sleepers = super::sleepers(s);
    for (c, _) in sleepers.iter().enumerate().filter(|(_, w)| w.is_some()) {
        rec.sleepy(c as u32);
    }
    let mut asleep_until: Vec<Micros> = vec![0; n];

    let mut now: Micros = 0;
    while let Some((t, c)) = queue.pop() {
        now = t;
        let ci = c as usize;
        let Some(engine) = engines[ci].as_mut() else { continue };
        if matches!(pending[ci], Pending::Step) && t < asleep_until[ci] {
            queue.push(asleep_until[ci], c);
            continue;
        }
        let now_ms = t / 1000;
        match std::mem::replace(&mut pending[ci], Pending::Step) {
            Pending::Step => {}
            Pending::Answer { answer, made_at } => {
                if tells_fate(&answer) {
                    rec.knows(c, t);
                }
                if let (Some(wake), LineAnswer::Ticket { .. }) = (sleepers[ci], &answer)
                    && asleep_until[ci] == 0
                {
                    asleep_until[ci] = wake;
                }
                engine.on_reply(now_ms, wire.reply(c, &answer, made_at));
            }
            Pending::Shed => {
                let problem = Problem::new(ProblemCode::Overloaded, "model").with_retry_after(SHED_RETRY_S);
                engine.on_reply(
                    now_ms,
                    Reply::Problem {
                        problem,
                        retry_after: Some(Duration::from_secs(SHED_RETRY_S)),
                    },
                );
            }
            Pending::Timeout => engine.on_reply(now_ms, Reply::Transport(TransportError::Timeout)),
        }
        match engine.next_step(now_ms) {
            Step::WaitUntil(at) => queue.push((at * 1000).max(t), c),
            Step::AwaitReply => {}
            Step::Done(outcome) => {
                if let Outcome::Holding(v) = &outcome {
                    rec.received(c, v.serial);
                }
                rec.knows(c, t);
                engines[ci] = None;
            }
            Step::Send(request) => {
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
                        let answer = match &request {
                            Request::TakeSlot | Request::TakeSlotAuto { .. } => server.take_ticket(c, at),
                            Request::CheckTicket => server.status(c, at),
                            Request::Claim {
                                idempotency_key,
                                ticket_id,
                            } => {
                                if *ticket_id == Wire::ticket_id(c) {
                                    server.claim(c, key_hash(idempotency_key), at)
                                } else {
                                    LineAnswer::Problem {
                                        code: ProblemCode::NoTicket,
                                        check_at: None,
                                    }
                                }
                            }
                            Request::ListVouchers => server.vouchers(c),
                        };
                        let cost = if answer.issued().is_some() {
                            s.costs.issue
                        } else {
                            s.costs.read
                        };
                        let done = capacity.finish(start, cost);
                        if let Some(serial) = answer.issued() {
                            rec.issued(serial, c, done);
                        }
                        if s.loss > 0.0 && rng.random::<f64>() < s.loss {
                            pending[ci] = Pending::Timeout;
                            queue.push(t + timeout, c);
                        } else {
                            pending[ci] = Pending::Answer { answer, made_at: done };
                            queue.push(done + one_way, c);
                        }
                    }
                }
            }
        }
    }
    for c in 0..s.clients {
        if let Some(p) = server.position(c) {
            rec.set_rank(c, p);
        }
    }
    rec.finish(strategy.name(), s.vouchers, s.capacity, Some(s.costs.reject), now)
}
