//! The claim server of `docs/protocol.md` in virtual time: pre-queue, draw at `draw_at`, fates
//! known before opening, admission at `admission_rate_per_s`, waitlist, expiry of admissions
//! nobody claimed, and exactly-once claims keyed by `Idempotency-Key`. State is kept per client
//! in flat vectors (a few dozen bytes each) so a million tickets fit easily.
//!
//! Server-side issuance (issue 10): a ticket taken with `auto_issue` is never claimed by its
//! client. The server's issuer ([`LineServer::issue_due`]) issues its voucher at its `admit_at`,
//! in admission order and in batches; such a ticket never expires. Until then the winner is
//! `in_line` with `check_at = admit_at + lag` (when to fetch the voucher with one
//! `GET .../tickets/me`); an opted-in waitlisted ticket is told its place with no `check_at`
//! (returned vouchers would be issued to it and pushed; it need not ask again).

use crate::scenario::{Micros, SEC, Scenario, WaitlistChecks};
use lineup_protocol::{ProblemCode, TicketState};
use rand::RngExt;
use rand_pcg::Pcg64;

const NONE: Micros = Micros::MAX;

/// A ticket's status as the server would send it (times in virtual microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketView {
    pub state: TicketState,
    pub joined_at: Micros,
    pub in_draw: bool,
    pub position: Option<u64>,
    pub ahead: Option<u64>,
    pub waitlist: Option<u64>,
    pub admit_at: Option<Micros>,
    pub admit_until: Option<Micros>,
    pub check_at: Option<Micros>,
    /// The voucher's serial, when `claimed`.
    pub serial: Option<u64>,
}

/// The server's answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineAnswer {
    /// 200/201 `TicketStatus` (`created` for the first `POST .../tickets`).
    Ticket { view: TicketView, created: bool },
    /// 201 (a new voucher) or 200 (replay, or the one already held).
    Voucher { serial: u64, created: bool },
    /// 200 `VoucherList` with the held voucher, if any.
    Vouchers { serial: Option<u64> },
    /// A problem, with `check_at` for `not_admitted` / `too_early`.
    Problem {
        code: ProblemCode,
        check_at: Option<Micros>,
    },
}

impl LineAnswer {
    /// Whether the server wrote a voucher for this request (the expensive path).
    pub fn issued(&self) -> Option<u64> {
        match *self {
            LineAnswer::Voucher { serial, created: true } => Some(serial),
            _ => None,
        }
    }
}

/// The lineup campaign's server-side state.
#[derive(Debug, Clone)]
pub struct LineServer {
    supply: u64,
    prequeue_opens_at: Micros,
    draw_at: Micros,
    opens_at: Micros,
    closes_at: Micros,
    admission_interval: f64,
    window: Micros,
    waitlist_checks: WaitlistChecks,
    fetch_lag: Micros,
    rng: Pcg64,
    // Per client.
    joined_at: Vec<Micros>,
    check_at: Vec<Micros>,
    position: Vec<u64>,
    claim_key: Vec<u64>,
    serial: Vec<u64>,
    in_draw: Vec<bool>,
    /// Opted in to server-side issuance when taking its place.
    auto: Vec<bool>,
    // The line.
    prequeue: Vec<u32>,
    drawn: bool,
    /// `by_position[p - 1]` = the client at position p.
    by_position: Vec<u32>,
    /// Admission instant per position once within reach of the supply.
    admit_at: Vec<Micros>,
    expired: Vec<bool>,
    /// Positions up to `reach` are within the supply (grows as admissions expire).
    reach: u64,
    /// Positions below `settled` are claimed or expired.
    settled: u64,
    issued: u64,
    /// Positions below `auto_next` need nothing more from the issuer.
    auto_next: usize,
}

impl LineServer {
    pub fn new(s: &Scenario, rng: Pcg64) -> Self {
        let n = s.clients as usize;
        LineServer {
            supply: u64::from(s.vouchers),
            prequeue_opens_at: 0,
            draw_at: s.draw_at(),
            opens_at: s.opens_at(),
            closes_at: s.closes_at(),
            admission_interval: SEC as f64 / f64::from(s.admission_rate()),
            window: crate::scenario::secs(s.admission_window_s),
            waitlist_checks: s.waitlist_checks,
            fetch_lag: crate::scenario::secs(s.fetch_lag_s),
            rng,
            joined_at: vec![NONE; n],
            check_at: vec![NONE; n],
            position: vec![0; n],
            claim_key: vec![0; n],
            serial: vec![0; n],
            in_draw: vec![false; n],
            auto: vec![false; n],
            prequeue: Vec::new(),
            drawn: false,
            by_position: Vec::with_capacity(n),
            admit_at: Vec::with_capacity(n),
            expired: Vec::with_capacity(n),
            reach: u64::from(s.vouchers),
            settled: 0,
            issued: 0,
            auto_next: 0,
        }
    }

    pub fn issued(&self) -> u64 {
        self.issued
    }

    pub fn supply(&self) -> u64 {
        self.supply
    }

    /// The client's draw position, once drawn (its place in the queue order).
    pub fn position(&self, client: u32) -> Option<u64> {
        let p = self.position[client as usize];
        (p != 0).then_some(p)
    }

    /// `POST /v1/campaigns/{id}/tickets` (explicit claims).
    pub fn take_ticket(&mut self, client: u32, now: Micros) -> LineAnswer {
        self.join(client, false, now)
    }

    /// `POST /v1/campaigns/{id}/tickets`, with `{"auto_issue": true}` when `auto`. The opt-in
    /// is fixed by the request that created the ticket (a retry with the same key replays it).
    pub fn join(&mut self, client: u32, auto: bool, now: Micros) -> LineAnswer {
        let c = client as usize;
        if self.joined_at[c] != NONE {
            return self.status(client, now);
        }
        if now < self.prequeue_opens_at {
            return LineAnswer::Problem {
                code: ProblemCode::TooEarly,
                check_at: Some(self.prequeue_opens_at),
            };
        }
        if now >= self.closes_at {
            return LineAnswer::Problem {
                code: ProblemCode::CampaignClosed,
                check_at: None,
            };
        }
        self.joined_at[c] = now;
        self.auto[c] = auto;
        if now < self.draw_at {
            // A check moment spread over the first 80% of [draw_at, opens_at), so the results
            // are read at about the admission rate instead of all at once.
            let span = (self.opens_at - self.draw_at) * 4 / 5;
            self.check_at[c] = self.draw_at + self.rng.random_range(0..span.max(1));
            self.in_draw[c] = true;
            self.prequeue.push(client);
        } else {
            self.draw();
            self.append(client, now);
        }
        match self.status(client, now) {
            LineAnswer::Ticket { view, .. } => LineAnswer::Ticket { view, created: true },
            other => other,
        }
    }

    /// `GET /v1/campaigns/{id}/tickets/me`.
    pub fn status(&mut self, client: u32, now: Micros) -> LineAnswer {
        let c = client as usize;
        if self.joined_at[c] == NONE {
            return LineAnswer::Problem {
                code: ProblemCode::NoTicket,
                check_at: None,
            };
        }
        if now >= self.draw_at {
            self.draw();
        }
        self.settle(now);
        LineAnswer::Ticket {
            view: self.view(client, now),
            created: false,
        }
    }

    /// `POST /v1/campaigns/{id}/claim` with the hash of the `Idempotency-Key`.
    pub fn claim(&mut self, client: u32, key: u64, now: Micros) -> LineAnswer {
        let c = client as usize;
        if self.joined_at[c] == NONE {
            return LineAnswer::Problem {
                code: ProblemCode::NoTicket,
                check_at: None,
            };
        }
        if self.serial[c] != 0 {
            // The same key replays; another key by the holder gets the same voucher too.
            return LineAnswer::Voucher {
                serial: self.serial[c],
                created: false,
            };
        }
        if now >= self.closes_at {
            return LineAnswer::Problem {
                code: ProblemCode::CampaignClosed,
                check_at: None,
            };
        }
        if now >= self.draw_at {
            self.draw();
        }
        self.settle(now);
        let view = self.view(client, now);
        match view.state {
            TicketState::Admitted => {
                self.issued += 1;
                self.serial[c] = self.issued;
                self.claim_key[c] = key;
                LineAnswer::Voucher {
                    serial: self.issued,
                    created: true,
                }
            }
            TicketState::Expired => LineAnswer::Problem {
                code: ProblemCode::AdmissionExpired,
                check_at: None,
            },
            TicketState::SoldOut => LineAnswer::Problem {
                code: ProblemCode::SoldOut,
                check_at: None,
            },
            TicketState::Closed => LineAnswer::Problem {
                code: ProblemCode::CampaignClosed,
                check_at: None,
            },
            _ => LineAnswer::Problem {
                code: ProblemCode::NotAdmitted,
                check_at: view.check_at,
            },
        }
    }

    /// `GET /v1/vouchers`.
    pub fn vouchers(&self, client: u32) -> LineAnswer {
        let s = self.serial[client as usize];
        LineAnswer::Vouchers {
            serial: (s != 0).then_some(s),
        }
    }

    /// Whether the client's ticket opted in to server-side issuance.
    pub fn is_auto(&self, client: u32) -> bool {
        self.auto[client as usize]
    }

    /// The issuer: issues, in admission order, the vouchers of opted-in tickets whose `admit_at`
    /// is at or before `now`, at most `max` of them (one batch, one transaction). Returns the
    /// (client, serial) pairs issued; the caller charges the batch's work.
    pub fn issue_due(&mut self, now: Micros, max: usize) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        if now >= self.closes_at || now < self.draw_at {
            return out;
        }
        self.draw();
        // Admissions passed on by expired explicit tickets ahead must be settled first.
        self.settle(now);
        while out.len() < max && self.issued < self.supply {
            let i = self.auto_next;
            if i as u64 >= self.reach || i >= self.by_position.len() {
                break;
            }
            let client = self.by_position[i];
            let c = client as usize;
            if !self.auto[c] || self.serial[c] != 0 || self.expired[i] {
                self.auto_next += 1;
                continue;
            }
            if self.admit_at[i] > now {
                break;
            }
            self.issued += 1;
            self.serial[c] = self.issued;
            out.push((client, self.issued));
            self.auto_next += 1;
        }
        out
    }

    /// The key the client's voucher was claimed with (0 when none).
    pub fn claim_key(&self, client: u32) -> u64 {
        self.claim_key[client as usize]
    }

    fn draw(&mut self) {
        if self.drawn {
            return;
        }
        self.drawn = true;
        let mut line = std::mem::take(&mut self.prequeue);
        // Fisher-Yates with the campaign's seeded generator: the same seed, the same order.
        for i in (1..line.len()).rev() {
            let j = self.rng.random_range(0..=i);
            line.swap(i, j);
        }
        for client in line {
            self.append(client, self.draw_at);
        }
    }

    /// Gives `client` the next position; `now` is when it joined the line.
    fn append(&mut self, client: u32, now: Micros) {
        let p = self.by_position.len() as u64 + 1;
        self.by_position.push(client);
        self.position[client as usize] = p;
        self.expired.push(false);
        let at = if p <= self.supply {
            self.scheduled(p).max(now)
        } else if p <= self.reach {
            // A voucher returned before this place existed: admitted at once.
            now
        } else {
            NONE
        };
        self.admit_at.push(at);
    }

    fn scheduled(&self, p: u64) -> Micros {
        self.opens_at + ((p - 1) as f64 * self.admission_interval) as Micros
    }

    /// Expires admissions whose window passed without a claim, in line order, handing each
    /// voucher to the next position from the moment it expired.
    fn settle(&mut self, now: Micros) {
        while self.settled < self.reach && (self.settled as usize) < self.by_position.len() {
            let i = self.settled as usize;
            let client = self.by_position[i] as usize;
            if self.serial[client] != 0 {
                self.settled += 1;
                continue;
            }
            if self.auto[client] {
                // The issuer will issue it; an opted-in admission never expires.
                break;
            }
            let until = self.admit_at[i].saturating_add(self.window);
            if until > now {
                break;
            }
            self.expired[i] = true;
            self.settled += 1;
            self.reach += 1;
            if let Some(next) = self.admit_at.get_mut(self.reach as usize - 1) {
                *next = until;
            }
        }
    }

    /// Admissions scheduled by `now` (from opening at the admission rate).
    fn admitted_by(&self, now: Micros) -> u64 {
        if now >= self.opens_at {
            ((now - self.opens_at) as f64 / self.admission_interval) as u64 + 1
        } else {
            0
        }
    }

    fn view(&self, client: u32, now: Micros) -> TicketView {
        let c = client as usize;
        let p = self.position[c];
        let mut v = TicketView {
            state: TicketState::PreQueue,
            joined_at: self.joined_at[c],
            in_draw: self.in_draw[c],
            position: (p != 0).then_some(p),
            ahead: None,
            waitlist: None,
            admit_at: None,
            admit_until: None,
            check_at: None,
            serial: None,
        };
        if self.serial[c] != 0 {
            v.state = TicketState::Claimed;
            v.serial = Some(self.serial[c]);
            return v;
        }
        if p == 0 {
            v.check_at = Some(self.check_at[c]);
            return v;
        }
        let i = (p - 1) as usize;
        if now >= self.closes_at {
            v.state = TicketState::Closed;
        } else if self.expired[i] {
            v.state = TicketState::Expired;
        } else if self.issued >= self.supply {
            v.state = TicketState::SoldOut;
        } else if p <= self.reach {
            let at = self.admit_at[i];
            let until = at.saturating_add(self.window);
            v.admit_at = Some(at);
            v.admit_until = Some(until);
            if self.auto[c] {
                // Issued by the server at `at`: fetch it a moment after (again later if the
                // issuer is behind).
                v.state = TicketState::InLine;
                v.admit_until = None;
                v.check_at = Some(at.max(now) + self.fetch_lag);
                v.ahead = Some((p - 1).saturating_sub(self.admitted_by(now)));
            } else if now >= at {
                v.state = TicketState::Admitted;
            } else {
                v.state = TicketState::InLine;
                v.check_at = Some(at);
                v.ahead = Some((p - 1).saturating_sub(self.admitted_by(now)));
            }
        } else {
            v.state = TicketState::Waitlisted;
            let k = p - self.reach;
            v.waitlist = Some(k);
            if self.auto[c] {
                // Nothing to check: a returned voucher would be issued to it and pushed.
                return v;
            }
            // The earliest a returned voucher could reach this ticket: when the first unclaimed
            // admission ahead runs out, plus one admission interval per waitlisted place ahead
            // (returned vouchers are admitted at the admission rate, so the k-th cannot come
            // sooner). This also spreads the waitlist's re-checks instead of stacking them.
            let first_free = self
                .admit_at
                .get(self.settled as usize)
                .map_or(now, |a| a.saturating_add(self.window));
            let spread = match self.waitlist_checks {
                WaitlistChecks::Spread => ((k - 1) as f64 * self.admission_interval) as Micros,
                WaitlistChecks::Earliest => 0,
            };
            let at = first_free.max(now) + spread;
            v.admit_at = Some(at);
            v.check_at = Some(at);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn small() -> (Scenario, LineServer) {
        let s = Scenario {
            clients: 10,
            vouchers: 3,
            capacity: 10.0,
            admission_share: 1.0,
            admission_window_s: 5.0,
            ..Scenario::default()
        };
        let server = LineServer::new(&s, Pcg64::seed_from_u64(7));
        (s, server)
    }

    fn view(a: LineAnswer) -> TicketView {
        match a {
            LineAnswer::Ticket { view, .. } => view,
            other => panic!("not a ticket: {other:?}"),
        }
    }

    #[test]
    fn prequeue_draw_admission_and_exactly_once() {
        let (s, mut srv) = small();
        for c in 0..8u32 {
            let v = view(srv.take_ticket(c, SEC * u64::from(c)));
            assert_eq!(v.state, TicketState::PreQueue);
            let check = v.check_at.unwrap();
            assert!(check >= s.draw_at() && check < s.opens_at());
            // Asking again gives the same ticket and moment.
            assert_eq!(view(srv.take_ticket(c, SEC * u64::from(c) + 1)).check_at, Some(check));
        }
        let after_draw = s.draw_at() + 1;
        let mut winners = Vec::new();
        let mut positions = Vec::new();
        for c in 0..8u32 {
            let v = view(srv.status(c, after_draw));
            positions.push(v.position.unwrap());
            match v.state {
                TicketState::InLine => {
                    // 10 admissions per second from opening.
                    let p = v.position.unwrap();
                    assert_eq!(v.admit_at, Some(s.opens_at() + (p - 1) * SEC / 10));
                    winners.push((c, v.admit_at.unwrap()));
                }
                TicketState::Waitlisted => assert!(v.waitlist.unwrap() >= 1),
                other => panic!("{other:?}"),
            }
        }
        positions.sort_unstable();
        assert_eq!(positions, (1..=8).collect::<Vec<_>>());
        assert_eq!(winners.len(), 3);
        let (c, at) = winners[0];
        // Too early, then admitted; the same key replays.
        assert!(matches!(
            srv.claim(c, 9, at - 1),
            LineAnswer::Problem { code: ProblemCode::NotAdmitted, check_at: Some(t) } if t == at
        ));
        assert_eq!(
            srv.claim(c, 9, at),
            LineAnswer::Voucher {
                serial: 1,
                created: true
            }
        );
        assert_eq!(
            srv.claim(c, 9, at + 5),
            LineAnswer::Voucher {
                serial: 1,
                created: false
            }
        );
        assert_eq!(
            srv.claim(c, 10, at + 6),
            LineAnswer::Voucher {
                serial: 1,
                created: false
            }
        );
        assert_eq!(srv.claim_key(c), 9);
        assert_eq!(srv.issued(), 1);
        // A late arrival joins the back of the line and learns its fate at once.
        let late = view(srv.take_ticket(9, after_draw + SEC));
        assert_eq!(late.position, Some(9));
        assert_eq!(late.state, TicketState::Waitlisted);
    }

    #[test]
    fn unclaimed_admission_expires_and_passes_to_the_waitlist() {
        let (s, mut srv) = small();
        for c in 0..4u32 {
            srv.take_ticket(c, SEC);
        }
        srv.status(0, s.draw_at());
        let by_pos: Vec<u32> = (1..=4)
            .map(|p| (0..4u32).find(|&c| srv.position(c) == Some(p)).unwrap())
            .collect();
        let first_admit = s.opens_at();
        // Positions 2 and 3 claim; position 1 never does.
        for (i, &c) in by_pos[1..3].iter().enumerate() {
            let at = first_admit + (i as u64 + 1) * SEC / 10;
            assert!(srv.claim(c, 1, at).issued().is_some());
        }
        let fourth = by_pos[3];
        let w = view(srv.status(fourth, first_admit + SEC));
        assert_eq!(w.state, TicketState::Waitlisted);
        let until = first_admit + 5 * SEC;
        assert_eq!(w.check_at, Some(until));
        // After position 1's window, its voucher goes to position 4, admitted from then.
        let v = view(srv.status(by_pos[0], until));
        assert_eq!(v.state, TicketState::Expired);
        let v = view(srv.status(fourth, until + 1));
        assert_eq!(v.state, TicketState::Admitted);
        assert_eq!(v.admit_at, Some(until));
        assert!(srv.claim(fourth, 1, until + 2).issued().is_some());
        assert_eq!(
            srv.claim(by_pos[0], 1, until + 3),
            LineAnswer::Problem {
                code: ProblemCode::AdmissionExpired,
                check_at: None
            }
        );
        assert_eq!(view(srv.status(by_pos[3], until + 4)).state, TicketState::Claimed);
        assert_eq!(srv.vouchers(fourth), LineAnswer::Vouchers { serial: Some(3) });
    }

    #[test]
    fn opted_in_tickets_are_issued_by_the_server_in_admission_order() {
        let (s, mut srv) = small();
        for c in 0..5u32 {
            srv.join(c, true, SEC);
        }
        assert!(srv.issue_due(s.draw_at() - 1, 10).is_empty(), "nothing before the draw");
        srv.status(0, s.draw_at());
        let by_pos: Vec<u32> = (1..=5)
            .map(|p| (0..5u32).find(|&c| srv.position(c) == Some(p)).unwrap())
            .collect();
        let open = s.opens_at();
        // A winner is in line, told to fetch a second after its admission; no claim window.
        let w = view(srv.status(by_pos[1], s.draw_at() + 1));
        assert_eq!(w.state, TicketState::InLine);
        assert_eq!(w.admit_at, Some(open + SEC / 10));
        assert_eq!(w.check_at, Some(open + SEC / 10 + SEC));
        assert_eq!(w.admit_until, None);
        // A waitlisted opted-in ticket is not asked to check again.
        let l = view(srv.status(by_pos[3], s.draw_at() + 1));
        assert_eq!(
            (l.state, l.waitlist, l.check_at),
            (TicketState::Waitlisted, Some(1), None)
        );
        // Batches: positions 1 and 2 are due at opening + 0.1 s, position 3 later.
        assert_eq!(srv.issue_due(open + SEC / 10, 10), vec![(by_pos[0], 1), (by_pos[1], 2)]);
        assert!(srv.issue_due(open + SEC / 10, 10).is_empty(), "exactly once");
        // Long after every window, nothing expired: the third is issued, then supply is out.
        assert_eq!(srv.issue_due(open + 100 * SEC, 1), vec![(by_pos[2], 3)]);
        assert!(srv.issue_due(open + 200 * SEC, 10).is_empty());
        let v = view(srv.status(by_pos[2], open + 200 * SEC));
        assert_eq!((v.state, v.serial), (TicketState::Claimed, Some(3)));
        assert_eq!(
            view(srv.status(by_pos[4], open + 200 * SEC)).state,
            TicketState::SoldOut
        );
        assert!(srv.is_auto(by_pos[0]));
    }

    #[test]
    fn the_draw_is_reproducible_from_the_seed() {
        let order = |seed| {
            let (s, _) = small();
            let mut srv = LineServer::new(&s, Pcg64::seed_from_u64(seed));
            for c in 0..10u32 {
                srv.take_ticket(c, SEC);
            }
            srv.status(0, s.draw_at());
            (0..10u32).map(|c| srv.position(c)).collect::<Vec<_>>()
        };
        assert_eq!(order(1), order(1));
        assert_ne!(order(1), order(2));
    }
}
