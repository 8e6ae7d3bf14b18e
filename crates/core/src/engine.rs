//! The claim state machine, sans-IO. It decides what to send and when; the caller does the
//! sending and the sleeping: the async [`crate::driver`] against a real server, the simulator
//! in virtual time. Phases follow `docs/protocol.md`:
//!
//! armed -> waiting_open -> slot_requested -> pre_queue -> in_line -> admitted -> claiming
//! -> holding, or waitlisted / sold_out / expired / closed / failed.
//!
//! A winner sends three requests (slot, one result check at the server's `check_at`, claim at
//! `admit_at`), a loser two. The slot request goes out at a random moment inside the
//! pre-queue window so armed clients do not all fire at once. The idempotency key is in the
//! [`ClaimRecord`] from the start and the ticket id as soon as it is known; the caller persists
//! the record before every send, so a restart resumes in place and never claims twice.
//!
//! Server instants are used only as delays (`When::in_ms`) from the moment a reply arrived,
//! so a wrong device clock does not matter.

use crate::backoff::{Backoff, BackoffPolicy, Decision, GiveUp, ServerHint};
use crate::clock::{Millis, ms};
use chrono::{DateTime, Utc};
use lineup_protocol::problem::ProblemClass;
use lineup_protocol::{Campaign, CampaignId, Problem, ProblemCode, TicketState, TicketStatus, Voucher, VoucherList};
use rand::RngExt;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What the engine asks its caller to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `POST /v1/campaigns/{id}/tickets`
    TakeSlot,
    /// `POST /v1/campaigns/{id}/tickets` opting in to server-side issuance (protocol 1.1), with
    /// the record's `Idempotency-Key`.
    TakeSlotAuto { idempotency_key: String },
    /// `GET /v1/campaigns/{id}/tickets/me`
    CheckTicket,
    /// `POST /v1/campaigns/{id}/claim` with this `Idempotency-Key`.
    Claim { idempotency_key: String, ticket_id: String },
    /// `GET /v1/vouchers` (recovery after lost claim responses).
    ListVouchers,
}

/// How a request failed below HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportError {
    Timeout,
    Connect,
    Other(String),
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Timeout => f.write_str("the request timed out"),
            TransportError::Connect => f.write_str("could not connect to the server"),
            TransportError::Other(m) => write!(f, "network error: {m}"),
        }
    }
}

/// What came back for the last [`Request`].
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Ticket(TicketStatus),
    Voucher(Voucher),
    Vouchers(VoucherList),
    Problem {
        problem: Problem,
        retry_after: Option<Duration>,
    },
    Transport(TransportError),
}

/// The engine's next instruction.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Persist [`Engine::record`], then send this and report the answer with [`Engine::on_reply`].
    Send(Request),
    /// Nothing to do before this instant (caller's clock); call `next_step` again then.
    WaitUntil(Millis),
    /// A request is in flight: report its answer first.
    AwaitReply,
    Done(Outcome),
}

/// Where a claim is. Serialised names match `ClaimProgress.phase` in `docs/app-ipc.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Armed,
    WaitingOpen,
    SlotRequested,
    PreQueue,
    InLine,
    Admitted,
    Claiming,
    Holding,
    Waitlisted,
    SoldOut,
    Expired,
    Closed,
    Failed,
    /// The person gave the place or the voucher back.
    Returned,
}

impl Phase {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Phase::Holding | Phase::SoldOut | Phase::Expired | Phase::Closed | Phase::Failed | Phase::Returned
        )
    }
}

/// Why a claim failed, for people and for scripts (`code` is a problem slug or `network`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailReason {
    pub code: String,
    pub message: String,
}

/// How a claim ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Holding(Voucher),
    /// Waitlisted with server-side issuance: nothing to check; a returned voucher that reaches
    /// this place is issued by the server (and told by push, or found at the next start).
    Waitlisted,
    SoldOut,
    Expired,
    Closed,
    Returned,
    Failed(FailReason),
}

/// The durable part of a claim: persist it before every send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimRecord {
    pub campaign_id: CampaignId,
    /// Made once, before the first claim attempt, and reused for every retry.
    pub idempotency_key: String,
    #[serde(default)]
    pub ticket_id: Option<String>,
    pub phase: Phase,
    #[serde(default)]
    pub voucher: Option<Voucher>,
    #[serde(default)]
    pub error: Option<FailReason>,
    /// Requests sent for this claim, across restarts.
    #[serde(default)]
    pub attempts: u32,
    /// The server issues this ticket's voucher by itself (the person opted in when taking the
    /// place): the client only fetches it.
    #[serde(default)]
    pub auto_issue: bool,
    /// Waitlisted with server-side issuance: the engine has nothing more to ask.
    #[serde(default)]
    pub parked: bool,
}

impl ClaimRecord {
    /// A fresh record. `idempotency_key` must be random and 1-64 printable ASCII characters
    /// (see [`new_idempotency_key`]).
    pub fn new(campaign_id: CampaignId, idempotency_key: String) -> Self {
        ClaimRecord {
            campaign_id,
            idempotency_key,
            ticket_id: None,
            phase: Phase::Armed,
            voucher: None,
            error: None,
            attempts: 0,
            auto_issue: false,
            parked: false,
        }
    }
}

/// A random idempotency key (32 hex characters) from `rng`.
pub fn new_idempotency_key(rng: &mut Pcg64) -> String {
    let a: u64 = rng.random();
    let b: u64 = rng.random();
    format!("{a:016x}{b:016x}")
}

/// Tunables of the engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineConfig {
    pub policy: BackoffPolicy,
    /// The slot request is sent no later than this before `draw_at` (shrunk for short windows).
    pub slot_margin: Duration,
    /// Consecutive failed claim attempts after which the engine asks `GET /v1/vouchers`.
    pub recover_after: u32,
    /// Poll interval when the server gives no `check_at` for a non-final state.
    pub fallback_poll: Duration,
    /// How long after the admission instant the claim goes out. Delays on the wire are whole
    /// milliseconds and the engine's clock counts whole milliseconds too, so a claim sent
    /// exactly at the instant can reach the server a millisecond early, be refused as
    /// `not_admitted` and cost a second request: a few milliseconds late is free.
    pub claim_margin: Duration,
    /// Opt in to server-side issuance when taking the place (protocol 1.1): the server issues
    /// the voucher at the admission instant, so the device need not be awake then.
    pub server_issuance: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            policy: BackoffPolicy::lineup(),
            slot_margin: Duration::from_secs(5),
            recover_after: 3,
            fallback_poll: Duration::from_secs(5),
            claim_margin: Duration::from_millis(5),
            server_issuance: true,
        }
    }
}

/// Live progress, as `ClaimProgress` in `docs/app-ipc.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub campaign_id: CampaignId,
    pub phase: Phase,
    pub position: Option<u64>,
    pub ahead: Option<u64>,
    pub waitlist: Option<u64>,
    pub supply: Option<u64>,
    pub admit_at: Option<DateTime<Utc>>,
    pub eta_ms: Option<u64>,
    pub next_check_at: Option<DateTime<Utc>>,
    pub next_check_in_ms: Option<u64>,
    pub attempts: u32,
    pub in_draw: bool,
    /// The server issues the voucher at `admit_at` by itself: the app may close.
    pub auto_issue: bool,
    /// Places taken in the campaign (as of the campaign body the engine started from).
    pub entrants: Option<u64>,
    pub voucher: Option<Voucher>,
    pub error: Option<FailReason>,
}

/// The campaign's instants on the caller's clock, derived from the server's own clock
/// (`server_time` of the campaign body) so the device clock plays no part.
#[derive(Debug, Clone, Copy)]
struct Timeline {
    server_time: DateTime<Utc>,
    received_at: Millis,
    prequeue_opens: Millis,
    draw: Millis,
}

impl Timeline {
    fn new(c: &Campaign, received_at: Millis) -> Self {
        let at = |t: DateTime<Utc>| {
            let delta = (t - c.server_time).num_milliseconds();
            if delta >= 0 {
                received_at.saturating_add(delta.unsigned_abs())
            } else {
                received_at.saturating_sub(delta.unsigned_abs())
            }
        };
        Timeline {
            server_time: c.server_time,
            received_at,
            prequeue_opens: at(c.prequeue_opens_at),
            draw: at(c.draw_at),
        }
    }

    /// The server-clock instant of a caller-clock instant, for display.
    fn absolute(&self, m: Millis) -> DateTime<Utc> {
        let delta = i64::try_from(m).unwrap_or(i64::MAX) - i64::try_from(self.received_at).unwrap_or(i64::MAX);
        self.server_time + chrono::Duration::milliseconds(delta)
    }
}

/// A final status (`sold_out`, `expired`, `closed`, `returned`) says less than the statuses
/// before it: `sold_out` has no `waitlist`, and a server need not repeat `position` or
/// `admit_at`. What the person was told before stays on the final progress (docs/app-ipc.md:
/// a `sold_out` shows how far the line got, an `expired` the issuing window).
fn keep_final_context(previous: Option<TicketStatus>, mut s: TicketStatus) -> TicketStatus {
    let is_final = matches!(
        s.state,
        TicketState::SoldOut | TicketState::Expired | TicketState::Closed | TicketState::Returned
    );
    if let (true, Some(p)) = (is_final, previous) {
        s.position = s.position.or(p.position);
        s.waitlist = s.waitlist.or(p.waitlist);
        s.admit_at = s.admit_at.or(p.admit_at);
    }
    s
}

/// The claim state machine for one campaign.
#[derive(Debug, Clone)]
pub struct Engine {
    record: ClaimRecord,
    config: EngineConfig,
    timeline: Timeline,
    supply: u64,
    rng: Pcg64,
    backoff: Backoff,
    in_flight: Option<Request>,
    wake_at: Option<Millis>,
    /// Consecutive failed claim attempts (lost responses, 503s).
    claim_failures: u32,
    recovering: bool,
    last_status: Option<TicketStatus>,
    admit_at: Option<Millis>,
    last_now: Millis,
    entrants: u64,
}

impl Engine {
    /// An engine for `campaign` (fetched at `campaign_received_at`), resuming from `record`.
    pub fn new(
        campaign: &Campaign,
        campaign_received_at: Millis,
        record: ClaimRecord,
        config: EngineConfig,
        rng: Pcg64,
    ) -> Self {
        let resumed = record.phase;
        let mut e = Engine {
            record,
            config,
            timeline: Timeline::new(campaign, campaign_received_at),
            supply: campaign.supply,
            rng,
            backoff: Backoff::new(config.policy, campaign_received_at),
            in_flight: None,
            wake_at: None,
            claim_failures: 0,
            recovering: false,
            last_status: None,
            admit_at: None,
            last_now: campaign_received_at,
            entrants: campaign.entrants,
        };
        // A resumed claim asks the server where it stands instead of trusting old delays;
        // a claim that may have been sent resumes claiming with the same key.
        e.record.phase = match resumed {
            Phase::Armed | Phase::WaitingOpen => Phase::Armed,
            Phase::SlotRequested => Phase::SlotRequested,
            Phase::Claiming => Phase::Claiming,
            p if p.is_final() => p,
            // Parked on the waitlist: ask once where it stands now (something may have come back).
            Phase::Waitlisted => Phase::PreQueue,
            _ if e.record.ticket_id.is_some() => Phase::PreQueue,
            _ => Phase::SlotRequested,
        };
        e.record.parked = false;
        if !e.record.phase.is_final() && resumed != Phase::Armed {
            e.wake_at = Some(campaign_received_at);
        }
        e
    }

    /// What must be persisted before the next send.
    pub fn record(&self) -> &ClaimRecord {
        &self.record
    }

    pub fn phase(&self) -> Phase {
        self.record.phase
    }

    /// The next instruction at `now`.
    pub fn next_step(&mut self, now: Millis) -> Step {
        self.last_now = self.last_now.max(now);
        if let Some(o) = self.outcome() {
            return Step::Done(o);
        }
        if self.in_flight.is_some() {
            return Step::AwaitReply;
        }
        if self.record.phase == Phase::Armed {
            let at = self.slot_moment(now);
            self.record.phase = Phase::WaitingOpen;
            self.wake_at = Some(at);
        }
        if let Some(at) = self.wake_at
            && now < at
        {
            return Step::WaitUntil(at);
        }
        let allowed = self.backoff.earliest_send(now);
        if allowed > now {
            self.wake_at = Some(allowed);
            return Step::WaitUntil(allowed);
        }
        let req = self.request_for_phase();
        self.wake_at = None;
        self.backoff.on_send(now);
        self.record.attempts = self.record.attempts.saturating_add(1);
        self.in_flight = Some(req.clone());
        Step::Send(req)
    }

    fn request_for_phase(&mut self) -> Request {
        if self.recovering {
            return Request::ListVouchers;
        }
        match (self.record.phase, self.record.ticket_id.clone()) {
            // Issued by the server: fetch it (a claim already sent is finished with its key).
            (Phase::InLine | Phase::Admitted, Some(_)) if self.record.auto_issue => Request::CheckTicket,
            (Phase::InLine | Phase::Admitted | Phase::Claiming, Some(ticket_id)) => {
                self.record.phase = Phase::Claiming;
                Request::Claim {
                    idempotency_key: self.record.idempotency_key.clone(),
                    ticket_id,
                }
            }
            (Phase::PreQueue | Phase::Waitlisted | Phase::InLine | Phase::Admitted | Phase::Claiming, _) => {
                Request::CheckTicket
            }
            _ => {
                self.record.phase = Phase::SlotRequested;
                if self.config.server_issuance {
                    Request::TakeSlotAuto {
                        idempotency_key: self.record.idempotency_key.clone(),
                    }
                } else {
                    Request::TakeSlot
                }
            }
        }
    }

    /// A random moment in the pre-queue window, at least `slot_margin` before the draw
    /// (the margin shrinks to a fifth of a short window); right away once the draw is past.
    fn slot_moment(&mut self, now: Millis) -> Millis {
        let t = self.timeline;
        let start = now.max(t.prequeue_opens);
        if start >= t.draw {
            return now;
        }
        let window = t.draw - start;
        let margin = ms(self.config.slot_margin).min(window / 5);
        let end = t.draw - margin;
        if end <= start {
            start
        } else {
            self.rng.random_range(start..=end)
        }
    }

    /// Reports the answer to the request last returned by [`Engine::next_step`], received at `now`.
    pub fn on_reply(&mut self, now: Millis, reply: Reply) {
        self.last_now = self.last_now.max(now);
        let Some(sent) = self.in_flight.take() else {
            tracing::warn!("reply without a request in flight ignored");
            return;
        };
        match reply {
            Reply::Ticket(status) => {
                self.backoff.on_success();
                self.on_ticket(now, status);
            }
            Reply::Voucher(v) => {
                self.backoff.on_success();
                self.hold(v);
            }
            Reply::Vouchers(list) => {
                self.backoff.on_success();
                self.recovering = false;
                let mine = list
                    .vouchers
                    .into_iter()
                    .find(|v| v.campaign_id == self.record.campaign_id);
                match mine {
                    Some(v) => self.hold(v),
                    // The claim never went through: claim again with the same key.
                    None => {
                        self.claim_failures = 0;
                        self.wake_at = Some(now);
                    }
                }
            }
            Reply::Problem { problem, retry_after } => self.on_problem(now, &sent, problem, retry_after),
            Reply::Transport(err) => {
                tracing::debug!(%err, ?sent, "transport failure");
                let reason = FailReason {
                    code: "network".into(),
                    message: err.to_string(),
                };
                self.retry(now, &sent, &ServerHint::transport(), reason);
            }
        }
    }

    fn hold(&mut self, v: Voucher) {
        self.record.voucher = Some(v);
        self.record.phase = Phase::Holding;
        self.record.error = None;
        self.wake_at = None;
    }

    fn on_ticket(&mut self, now: Millis, s: TicketStatus) {
        self.record.ticket_id = Some(s.ticket_id.clone());
        self.record.auto_issue = s.auto_issue;
        let at = |w: Option<lineup_protocol::When>| w.map(|w| now.saturating_add(w.in_ms));
        let check = at(s.check_at);
        self.admit_at = at(s.admit_at);
        let fallback = now + ms(self.config.fallback_poll);
        match s.state {
            TicketState::PreQueue => {
                self.record.phase = Phase::PreQueue;
                self.wake_at = Some(check.unwrap_or(fallback));
            }
            TicketState::InLine | TicketState::Admitted if s.auto_issue => {
                // The server issues at `admit_at`; one fetch at the `check_at` it gave.
                self.record.phase = if s.state == TicketState::InLine {
                    Phase::InLine
                } else {
                    Phase::Admitted
                };
                self.wake_at = Some(check.unwrap_or(fallback));
            }
            TicketState::Waitlisted if s.auto_issue && check.is_none() => {
                self.record.phase = Phase::Waitlisted;
                self.record.parked = true;
                self.wake_at = None;
            }
            TicketState::InLine => {
                self.record.phase = Phase::InLine;
                // Claim at the admission instant, with no polling in between.
                let claim_at = self.admit_at.map(|a| a.saturating_add(ms(self.config.claim_margin)));
                self.wake_at = Some(claim_at.or(check).unwrap_or(fallback));
            }
            TicketState::Admitted => {
                self.record.phase = Phase::Admitted;
                self.wake_at = Some(now);
            }
            TicketState::Waitlisted => {
                self.record.phase = Phase::Waitlisted;
                self.wake_at = Some(check.unwrap_or(fallback));
            }
            TicketState::Claimed => match s.voucher.clone() {
                Some(v) => self.hold(v),
                None => {
                    self.recovering = true;
                    self.wake_at = Some(now);
                }
            },
            TicketState::SoldOut => self.end(Phase::SoldOut, None),
            TicketState::Expired => self.end(Phase::Expired, None),
            TicketState::Closed => self.end(Phase::Closed, None),
            TicketState::Returned => self.end(Phase::Returned, None),
        }
        self.last_status = Some(keep_final_context(self.last_status.take(), s));
    }

    fn end(&mut self, phase: Phase, error: Option<FailReason>) {
        self.record.phase = phase;
        self.record.error = error;
        self.wake_at = None;
    }

    fn on_problem(&mut self, now: Millis, sent: &Request, problem: Problem, retry_after: Option<Duration>) {
        let reason = FailReason {
            code: problem.code.slug(),
            message: problem.detail.clone(),
        };
        match problem.code {
            ProblemCode::SoldOut => return self.end(Phase::SoldOut, Some(reason)),
            ProblemCode::CampaignClosed => return self.end(Phase::Closed, Some(reason)),
            ProblemCode::AdmissionExpired => return self.end(Phase::Expired, Some(reason)),
            ProblemCode::Returned => return self.end(Phase::Returned, Some(reason)),
            // The server does not know our ticket (e.g. a fresh database): take a place again.
            ProblemCode::NoTicket => {
                self.record.ticket_id = None;
                self.record.phase = Phase::SlotRequested;
                self.wake_at = Some(now);
                return;
            }
            ProblemCode::TooEarly if *sent == Request::TakeSlot => {
                self.record.phase = Phase::WaitingOpen;
            }
            _ => {}
        }
        let hint = ServerHint::from_problem(&problem, retry_after);
        if hint.class == ProblemClass::Wait && problem.check_at.is_none() && hint.retry_after.is_none() {
            // "Not yet" with no time given: ask again at the admission instant we know, if any.
            if let Some(a) = self.admit_at.filter(|&a| a > now) {
                self.wake_at = Some(a);
                return;
            }
        }
        self.retry(now, sent, &hint, reason);
    }

    fn retry(&mut self, now: Millis, sent: &Request, hint: &ServerHint, reason: FailReason) {
        match self.backoff.next_delay(now, &mut self.rng, hint) {
            Decision::Retry { after, .. } => {
                if matches!(sent, Request::Claim { .. }) && hint.class == ProblemClass::Retry {
                    self.claim_failures += 1;
                    if self.claim_failures >= self.config.recover_after {
                        self.claim_failures = 0;
                        self.recovering = true;
                    }
                }
                self.record.error = Some(reason);
                self.wake_at = Some(now.saturating_add(ms(after)));
            }
            Decision::GiveUp(why) => {
                let reason = match why {
                    GiveUp::Final | GiveUp::Invalid => reason,
                    other => FailReason {
                        code: reason.code,
                        message: format!("{}: {other}", reason.message),
                    },
                };
                self.end(Phase::Failed, Some(reason));
            }
        }
    }

    fn outcome(&self) -> Option<Outcome> {
        Some(match self.record.phase {
            Phase::Holding => match &self.record.voucher {
                Some(v) => Outcome::Holding(v.clone()),
                None => Outcome::Failed(FailReason {
                    code: "internal".into(),
                    message: "holding without a voucher".into(),
                }),
            },
            Phase::Waitlisted if self.record.parked => Outcome::Waitlisted,
            Phase::SoldOut => Outcome::SoldOut,
            Phase::Expired => Outcome::Expired,
            Phase::Returned => Outcome::Returned,
            Phase::Closed => Outcome::Closed,
            Phase::Failed => Outcome::Failed(self.record.error.clone().unwrap_or(FailReason {
                code: "failed".into(),
                message: "the claim failed".into(),
            })),
            _ => return None,
        })
    }

    /// Progress as of the last `next_step` / `on_reply`.
    pub fn progress(&self) -> Progress {
        self.progress_at(self.last_now)
    }

    /// Progress with delays counted from `now`.
    pub fn progress_at(&self, now: Millis) -> Progress {
        let s = self.last_status.as_ref();
        let next = self.wake_at.filter(|_| !self.record.phase.is_final());
        Progress {
            campaign_id: self.record.campaign_id.clone(),
            phase: self.record.phase,
            position: s.and_then(|s| s.position).map(|p| p.0),
            ahead: s.and_then(|s| s.ahead),
            waitlist: s.and_then(|s| s.waitlist),
            supply: Some(self.supply),
            admit_at: s.and_then(|s| s.admit_at).map(|w| w.at),
            eta_ms: self.admit_at.map(|a| a.saturating_sub(now)),
            next_check_at: next.map(|m| self.timeline.absolute(m)),
            next_check_in_ms: next.map(|m| m.saturating_sub(now)),
            attempts: self.record.attempts,
            in_draw: s.is_some_and(|s| s.in_draw),
            auto_issue: self.record.auto_issue,
            entrants: Some(self.entrants),
            voucher: self.record.voucher.clone(),
            error: self.record.error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineup_protocol::{CampaignPhase, Position, VoucherCode, VoucherStatus, When};
    use rand::SeedableRng;

    /// Server clock origin of the scripted campaigns; the engine's clock starts at 1_000_000 ms.
    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }
    const START: Millis = 1_000_000;

    /// A campaign whose pre-queue opened at server time t0, draws at +60 s, opens at +120 s.
    fn campaign(received_offset_s: i64) -> Campaign {
        let s = |x: i64| t0() + chrono::Duration::seconds(x);
        Campaign {
            id: "demo".parse().unwrap(),
            title: "영화 할인".into(),
            title_en: "Cinema".into(),
            issuer: "t".into(),
            brands: vec![],
            amount: 6000,
            currency: "KRW".into(),
            supply: 10,
            remaining: 10,
            entrants: 0,
            issued: 0,
            phase: CampaignPhase::PreQueue,
            prequeue_opens_at: s(0),
            draw_at: s(60),
            opens_at: s(120),
            closes_at: s(3600),
            voucher_expires_at: s(86_400),
            admission_rate_per_s: 10,
            admission_window_s: 300,
            server_time: s(received_offset_s),
        }
    }

    fn when(in_ms: u64) -> When {
        When {
            at: t0() + chrono::Duration::milliseconds(in_ms as i64),
            in_ms,
        }
    }

    fn ticket(state: TicketState) -> TicketStatus {
        TicketStatus {
            campaign_id: "demo".parse().unwrap(),
            ticket_id: "tk-1".into(),
            state,
            joined_at: t0(),
            in_draw: true,
            auto_issue: false,
            position: None,
            ahead: None,
            waitlist: None,
            admit_at: None,
            admit_until: None,
            check_at: None,
            voucher: None,
            server_time: t0(),
        }
    }

    fn voucher() -> Voucher {
        Voucher {
            campaign_id: "demo".parse().unwrap(),
            serial: 3,
            code: VoucherCode::derive(b"x"),
            token: "tok".into(),
            amount: 6000,
            currency: "KRW".into(),
            kid: 1,
            issued_at: t0(),
            expires_at: t0(),
            status: VoucherStatus::Unused,
            redeemed_at: None,
        }
    }

    fn problem(code: ProblemCode) -> Reply {
        Reply::Problem {
            problem: Problem::new(code, "scripted"),
            retry_after: None,
        }
    }

    /// An engine that claims itself (protocol 1.0), as the tests of the claim flow need.
    fn engine(seed: u64, received_offset_s: i64) -> Engine {
        engine_with(seed, received_offset_s, false)
    }

    fn engine_with(seed: u64, received_offset_s: i64, server_issuance: bool) -> Engine {
        let rec = ClaimRecord::new("demo".parse().unwrap(), "key-1".into());
        Engine::new(
            &campaign(received_offset_s),
            START,
            rec,
            EngineConfig {
                server_issuance,
                ..EngineConfig::default()
            },
            Pcg64::seed_from_u64(seed),
        )
    }

    #[test]
    fn with_server_issuance_a_winner_needs_three_requests_and_no_claim() {
        let mut e = engine_with(1, 10, true);
        let draw = START + 50_000;
        let (now, r) = until_send(&mut e, START);
        assert_eq!(
            r,
            Request::TakeSlotAuto {
                idempotency_key: "key-1".into()
            },
            "opts in with the key made before the first attempt"
        );
        let mut pq = ticket(TicketState::PreQueue);
        pq.auto_issue = true;
        pq.check_at = Some(when(draw - now + 20_000));
        e.on_reply(now, Reply::Ticket(pq));
        let (now, r) = until_send(&mut e, now);
        assert_eq!(r, Request::CheckTicket);
        let mut il = ticket(TicketState::InLine);
        il.auto_issue = true;
        il.position = Some(Position(4));
        il.admit_at = Some(when(60_000));
        il.check_at = Some(when(61_000));
        e.on_reply(now, Reply::Ticket(il));
        let p = e.progress();
        assert!(p.auto_issue && p.phase == Phase::InLine);
        let (fetch_at, r) = until_send(&mut e, now);
        assert_eq!(fetch_at, now + 61_000, "one fetch at check_at, nothing before");
        assert_eq!(r, Request::CheckTicket, "no claim: the server issues");
        let mut claimed = ticket(TicketState::Claimed);
        claimed.auto_issue = true;
        claimed.voucher = Some(voucher());
        e.on_reply(fetch_at + 20, Reply::Ticket(claimed));
        assert_eq!(e.next_step(fetch_at + 20), Step::Done(Outcome::Holding(voucher())));
        assert_eq!(e.record().attempts, 3);
    }

    #[test]
    fn with_server_issuance_a_loser_needs_two_requests_and_parks() {
        let mut e = engine_with(2, 10, true);
        let (now, _) = until_send(&mut e, START);
        let mut pq = ticket(TicketState::PreQueue);
        pq.auto_issue = true;
        pq.check_at = Some(when(70_000));
        e.on_reply(now, Reply::Ticket(pq));
        let (now, r) = until_send(&mut e, now);
        assert_eq!(r, Request::CheckTicket);
        let mut w = ticket(TicketState::Waitlisted);
        w.auto_issue = true;
        w.position = Some(Position(30));
        w.waitlist = Some(20);
        e.on_reply(now, Reply::Ticket(w));
        assert_eq!(e.next_step(now + 1), Step::Done(Outcome::Waitlisted));
        assert_eq!(e.record().attempts, 2);
        // A restart asks once where the place stands (a returned voucher may have reached it).
        let mut again = Engine::new(
            &campaign(10),
            START,
            e.record().clone(),
            EngineConfig::default(),
            Pcg64::seed_from_u64(3),
        );
        assert_eq!(until_send(&mut again, START).1, Request::CheckTicket);
    }

    /// Advances through waits until the engine wants to send; returns (now, request).
    fn until_send(e: &mut Engine, mut now: Millis) -> (Millis, Request) {
        for _ in 0..100 {
            match e.next_step(now) {
                Step::Send(r) => return (now, r),
                Step::WaitUntil(t) => {
                    assert!(t > now, "WaitUntil must move forward");
                    now = t;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        panic!("engine never sent")
    }

    #[test]
    fn a_winner_uses_three_requests_at_the_right_moments() {
        // Armed 10 s into the pre-queue; the draw is 50 s away on the engine's clock.
        let mut e = engine(1, 10);
        let draw = START + 50_000;
        let (now, r) = until_send(&mut e, START);
        assert_eq!(r, Request::TakeSlot);
        assert!(now >= START && now <= draw - 5_000, "slot request at {now}");
        assert_eq!(e.record().phase, Phase::SlotRequested);
        assert_eq!(e.next_step(now), Step::AwaitReply);
        let mut pq = ticket(TicketState::PreQueue);
        pq.check_at = Some(when(draw - now + 20_000));
        e.on_reply(now + 40, Reply::Ticket(pq));
        assert_eq!(e.record().ticket_id.as_deref(), Some("tk-1"));
        assert_eq!(e.progress().phase, Phase::PreQueue);

        let (now, r) = until_send(&mut e, now + 40);
        assert_eq!(r, Request::CheckTicket);
        assert_eq!(now, draw + 20_000 + 40);
        let mut il = ticket(TicketState::InLine);
        il.position = Some(Position(4));
        il.ahead = Some(3);
        il.admit_at = Some(when(60_300));
        il.check_at = il.admit_at;
        e.on_reply(now + 30, Reply::Ticket(il));
        let p = e.progress();
        assert_eq!(
            (p.phase, p.position, p.ahead, p.eta_ms),
            (Phase::InLine, Some(4), Some(3), Some(60_300))
        );

        let (claim_at, r) = until_send(&mut e, now + 30);
        assert_eq!(
            claim_at,
            now + 30 + 60_300 + 5,
            "claims at admit_at (plus the 5 ms margin), no polling before"
        );
        assert_eq!(
            r,
            Request::Claim {
                idempotency_key: "key-1".into(),
                ticket_id: "tk-1".into()
            }
        );
        assert_eq!(
            e.record().phase,
            Phase::Claiming,
            "persisted as claiming before the send"
        );
        e.on_reply(claim_at + 50, Reply::Voucher(voucher()));
        assert_eq!(e.next_step(claim_at + 50), Step::Done(Outcome::Holding(voucher())));
        assert_eq!(e.record().attempts, 3);
    }

    #[test]
    fn a_loser_uses_two_requests() {
        let mut e = engine(2, 10);
        let (now, _) = until_send(&mut e, START);
        let mut pq = ticket(TicketState::PreQueue);
        pq.check_at = Some(when(70_000));
        e.on_reply(now, Reply::Ticket(pq));
        let (now, r) = until_send(&mut e, now);
        assert_eq!(r, Request::CheckTicket);
        e.on_reply(now, Reply::Ticket(ticket(TicketState::SoldOut)));
        assert_eq!(e.next_step(now), Step::Done(Outcome::SoldOut));
        assert_eq!(e.record().attempts, 2);
    }

    #[test]
    fn a_final_progress_keeps_the_place_and_the_issuing_window() {
        // Waitlisted 5th, then sold out: the final status has the position but no waitlist.
        let mut e = engine(20, 61);
        let (now, _) = until_send(&mut e, START);
        let mut w = ticket(TicketState::Waitlisted);
        w.position = Some(Position(15));
        w.waitlist = Some(5);
        w.check_at = Some(when(1_000));
        e.on_reply(now, Reply::Ticket(w));
        let (now, r) = until_send(&mut e, now);
        assert_eq!(r, Request::CheckTicket);
        let mut gone = ticket(TicketState::SoldOut);
        gone.position = Some(Position(15));
        e.on_reply(now, Reply::Ticket(gone));
        assert_eq!(e.next_step(now), Step::Done(Outcome::SoldOut));
        let p = e.progress();
        assert_eq!((p.phase, p.position, p.waitlist), (Phase::SoldOut, Some(15), Some(5)));
        assert_eq!(p.supply, Some(10));

        // In line with an admission instant, then expired with a status that omits it.
        let mut e = engine(21, 61);
        let (now, _) = until_send(&mut e, START);
        let mut il = ticket(TicketState::InLine);
        il.position = Some(Position(2));
        il.admit_at = Some(when(2_000));
        e.on_reply(now, Reply::Ticket(il));
        let (now, _) = until_send(&mut e, now);
        e.on_reply(now, Reply::Ticket(ticket(TicketState::Expired)));
        assert_eq!(e.next_step(now), Step::Done(Outcome::Expired));
        let p = e.progress();
        assert_eq!(p.phase, Phase::Expired);
        assert_eq!(p.admit_at, Some(when(2_000).at));
        assert_eq!(p.position, Some(2));
        assert_eq!((p.next_check_at, p.next_check_in_ms), (None, None));

        // A claim refused as expired keeps the last status as it was.
        let mut e = engine(22, 61);
        let (now, _) = until_send(&mut e, START);
        let mut adm = ticket(TicketState::Admitted);
        adm.admit_at = Some(when(0));
        e.on_reply(now, Reply::Ticket(adm));
        let (now, _) = until_send(&mut e, now);
        e.on_reply(now, problem(ProblemCode::AdmissionExpired));
        assert_eq!(e.next_step(now), Step::Done(Outcome::Expired));
        assert_eq!(e.progress().admit_at, Some(when(0).at));
    }

    #[test]
    fn slot_moments_spread_over_the_window_and_late_arrivals_go_at_once() {
        let mut moments = Vec::new();
        for seed in 0..400 {
            let mut e = engine(seed, 0);
            let (now, _) = until_send(&mut e, START);
            moments.push(now - START);
        }
        // Window [0, 60 s), margin 5 s: all inside [0, 55 s], spread across it.
        assert!(moments.iter().all(|&m| m <= 55_000));
        let early = moments.iter().filter(|&&m| m < 27_500).count();
        assert!((150..250).contains(&early), "{early} of 400 in the first half");
        assert!(moments.iter().collect::<std::collections::HashSet<_>>().len() > 390);
        // Armed after the draw: the slot request goes immediately.
        let mut e = engine(1, 61);
        assert_eq!(e.next_step(START), Step::Send(Request::TakeSlot));
        // Armed before the pre-queue opens: waits for it.
        let mut e = engine(1, -30);
        let (now, _) = until_send(&mut e, START);
        assert!((START + 30_000..=START + 85_000).contains(&now), "{now}");
    }

    #[test]
    fn lost_claim_responses_retry_with_the_same_key_then_recover_from_the_voucher_list() {
        let mut e = engine(3, 61);
        let (now, _) = until_send(&mut e, START);
        e.on_reply(now, Reply::Ticket(ticket(TicketState::Admitted)));
        let mut now = now;
        for _ in 0..EngineConfig::default().recover_after {
            let (t, r) = until_send(&mut e, now);
            assert!(matches!(&r, Request::Claim { idempotency_key, .. } if idempotency_key == "key-1"));
            e.on_reply(t + 15_000, Reply::Transport(TransportError::Timeout));
            now = t + 15_000;
        }
        let (t, r) = until_send(&mut e, now);
        assert_eq!(r, Request::ListVouchers);
        e.on_reply(
            t,
            Reply::Vouchers(VoucherList {
                vouchers: vec![voucher()],
            }),
        );
        assert_eq!(e.next_step(t), Step::Done(Outcome::Holding(voucher())));
    }

    #[test]
    fn recovery_that_finds_nothing_claims_again_with_the_same_key() {
        let mut e = engine(4, 61);
        let (now, _) = until_send(&mut e, START);
        e.on_reply(now, Reply::Ticket(ticket(TicketState::Admitted)));
        let mut now = now;
        for _ in 0..3 {
            let (t, _) = until_send(&mut e, now);
            e.on_reply(t, problem(ProblemCode::Overloaded));
            now = t;
        }
        let (t, r) = until_send(&mut e, now);
        assert_eq!(r, Request::ListVouchers);
        e.on_reply(t, Reply::Vouchers(VoucherList { vouchers: vec![] }));
        let (_, r) = until_send(&mut e, t);
        assert!(matches!(r, Request::Claim { idempotency_key, .. } if idempotency_key == "key-1"));
    }

    #[test]
    fn problems_end_wait_or_back_off_by_class() {
        // Final answers end the claim with the reason.
        for (code, outcome) in [
            (ProblemCode::SoldOut, Outcome::SoldOut),
            (ProblemCode::CampaignClosed, Outcome::Closed),
            (ProblemCode::AdmissionExpired, Outcome::Expired),
        ] {
            let mut e = engine(5, 61);
            let (now, _) = until_send(&mut e, START);
            e.on_reply(now, problem(code));
            assert_eq!(e.next_step(now), Step::Done(outcome));
        }
        let mut e = engine(5, 61);
        let (now, _) = until_send(&mut e, START);
        e.on_reply(now, problem(ProblemCode::UnknownIdentity));
        let Step::Done(Outcome::Failed(r)) = e.next_step(now) else {
            panic!()
        };
        assert_eq!(r.code, "unknown_identity");

        // not_admitted waits until the server's check_at.
        let mut e = engine(6, 61);
        let (now, _) = until_send(&mut e, START);
        e.on_reply(now, Reply::Ticket(ticket(TicketState::Admitted)));
        let (now, _) = until_send(&mut e, now);
        let mut p = Problem::new(ProblemCode::NotAdmitted, "wait");
        p.check_at = Some(when(2_500));
        e.on_reply(
            now,
            Reply::Problem {
                problem: p,
                retry_after: Some(Duration::from_secs(3)),
            },
        );
        assert_eq!(e.next_step(now), Step::WaitUntil(now + 2_500));

        // 503 with Retry-After: never sooner.
        let mut e = engine(7, 61);
        let (now, _) = until_send(&mut e, START);
        e.on_reply(
            now,
            Reply::Problem {
                problem: Problem::new(ProblemCode::Overloaded, "busy"),
                retry_after: Some(Duration::from_secs(4)),
            },
        );
        let (t, r) = until_send(&mut e, now);
        assert_eq!(r, Request::TakeSlot);
        assert!(t >= now + 4_000);
    }

    #[test]
    fn a_restarted_engine_resumes_from_its_record_and_reuses_the_key() {
        let mut e = engine(8, 10);
        let (now, _) = until_send(&mut e, START);
        let mut il = ticket(TicketState::InLine);
        il.admit_at = Some(when(100_000));
        e.on_reply(now, Reply::Ticket(il));
        let saved = serde_json::to_string(e.record()).unwrap();

        // A new process: different clock origin, same record. It asks where it stands first.
        let rec: ClaimRecord = serde_json::from_str(&saved).unwrap();
        let mut r = Engine::new(&campaign(30), 5, rec, EngineConfig::default(), Pcg64::seed_from_u64(9));
        assert_eq!(r.next_step(5), Step::Send(Request::CheckTicket));
        let mut il = ticket(TicketState::InLine);
        il.admit_at = Some(when(1_000));
        r.on_reply(6, Reply::Ticket(il));
        let (_, req) = until_send(&mut r, 6);
        assert_eq!(
            req,
            Request::Claim {
                idempotency_key: "key-1".into(),
                ticket_id: "tk-1".into()
            }
        );
        // Killed while claiming: the next process claims again with the same key at once.
        let saved = serde_json::to_string(r.record()).unwrap();
        let rec: ClaimRecord = serde_json::from_str(&saved).unwrap();
        assert_eq!(rec.phase, Phase::Claiming);
        let mut r2 = Engine::new(&campaign(40), 0, rec, EngineConfig::default(), Pcg64::seed_from_u64(10));
        assert!(
            matches!(r2.next_step(0), Step::Send(Request::Claim { idempotency_key, .. }) if idempotency_key == "key-1")
        );
        // A finished record stays finished.
        r2.on_reply(1, Reply::Voucher(voucher()));
        let rec = r2.record().clone();
        let mut r3 = Engine::new(&campaign(50), 0, rec, EngineConfig::default(), Pcg64::seed_from_u64(11));
        assert_eq!(r3.next_step(0), Step::Done(Outcome::Holding(voucher())));
    }

    #[test]
    fn never_two_sends_without_a_reply_and_progress_serialises_as_ipc() {
        let mut e = engine(12, 61);
        assert!(matches!(e.next_step(START), Step::Send(_)));
        assert_eq!(e.next_step(START + 1), Step::AwaitReply);
        assert_eq!(e.next_step(START + 100_000), Step::AwaitReply);
        let v = serde_json::to_value(e.progress()).unwrap();
        assert_eq!(v["phase"], "slot_requested");
        assert_eq!(v["attempts"], 1);
        for k in [
            "position",
            "ahead",
            "eta_ms",
            "next_check_at",
            "voucher",
            "error",
            "in_draw",
            "supply",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
    }

    #[test]
    fn a_storm_never_exceeds_the_budget() {
        // Short delays so the budget, not the backoff, is what binds.
        let config = EngineConfig {
            policy: BackoffPolicy {
                base: Duration::from_millis(50),
                cap: Duration::from_millis(200),
                ..BackoffPolicy::lineup()
            },
            ..EngineConfig::default()
        };
        let rec = ClaimRecord::new("demo".parse().unwrap(), "key-1".into());
        let mut e = Engine::new(&campaign(61), START, rec, config, Pcg64::seed_from_u64(13));
        let mut now = START;
        let mut sends = Vec::new();
        while sends.len() < 60 {
            let (t, _) = until_send(&mut e, now);
            sends.push(t);
            e.on_reply(t, problem(ProblemCode::Overloaded));
            now = t;
            if let Step::Done(o) = e.next_step(now) {
                panic!("ended: {o:?}");
            }
        }
        let b = config.policy.budget.unwrap();
        // The budget did bind: 60 requests took more than two minutes.
        assert!(sends[59] - sends[0] > 120_000);
        for (i, &t) in sends.iter().enumerate() {
            let n = sends[i..].iter().take_while(|&&u| u < t + 60_000).count() as u32;
            assert!(n <= b.per_minute + b.burst, "{n} in a minute");
        }
    }
}
