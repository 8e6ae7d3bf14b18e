//! The waiting room's decision logic, pure and deterministic: the draw's shuffle, the
//! pre-queue check moments, the admission schedule and a ticket's state at a given instant.
//! Every backend stores the same numbers these functions compute, and every handler derives
//! what it tells a client from stored rows plus the time through [`ticket_view`].

use crate::config::CampaignSpec;
use crate::store::{CampaignCounters, TicketRow};
use chrono::{DateTime, Duration, Utc};
use lineup_protocol::{CampaignPhase, IdentityKey, TicketState};
use sha2::Digest;

/// When a pre-queue ticket should check its result: a moment fixed per identity (from the
/// campaign seed), uniform over the first 80% of `[draw_at, opens_at)`, so the result checks of
/// the whole pre-queue spread evenly instead of arriving together.
pub fn prequeue_check_at(spec: &CampaignSpec, seed: u64, identity: &IdentityKey) -> DateTime<Utc> {
    let span_ms = (spec.opens_at - spec.draw_at).num_milliseconds().max(0) * 8 / 10;
    let mut h = sha2::Sha256::new();
    h.update(b"lineup-check-v1");
    h.update(seed.to_be_bytes());
    h.update(identity.0);
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    let x = u64::from_be_bytes(b);
    let offset = if span_ms > 0 { x % (span_ms as u64) } else { 0 };
    spec.draw_at + Duration::milliseconds(offset as i64)
}

/// The scheduled admission of position `p` (1-based) within the supply:
/// `opens_at + (p - 1) / rate`.
pub fn scheduled_admit_at(spec: &CampaignSpec, position: u64) -> DateTime<Utc> {
    admit_at_by_rate(spec.opens_at, spec.admission_rate_per_s, position)
}

/// [`scheduled_admit_at`] from the two numbers it depends on.
pub fn admit_at_by_rate(opens_at: DateTime<Utc>, rate_per_s: u32, position: u64) -> DateTime<Utc> {
    let ms = position.saturating_sub(1) as u128 * 1000 / u128::from(rate_per_s.max(1));
    opens_at + Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX / 2))
}

/// The admission instant of a ticket reaching position `position` at `now`, when
/// `position <= reach`: scheduled for the supply, at once for a returned voucher; never before
/// the ticket joined.
pub fn admit_at_for(spec: &CampaignSpec, position: u64, joined_at: DateTime<Utc>) -> DateTime<Utc> {
    if position <= spec.supply {
        std::cmp::max(scheduled_admit_at(spec, position), joined_at)
    } else {
        joined_at
    }
}

/// The admission of a ticket that a voucher going back to the line at `from` reaches: from
/// then (never before it joined), for the admission window; a ticket that was itself given back
/// gets an empty window, so the next sweep passes the voucher on at once.
pub fn handed_on(
    spec: &CampaignSpec,
    from: DateTime<Utc>,
    joined_at: DateTime<Utc>,
    given_back: bool,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let at = std::cmp::max(from, joined_at);
    let window = if given_back {
        Duration::zero()
    } else {
        spec.admission_window()
    };
    (at, at + window)
}

/// How many positions the schedule has admitted by `now` (ignoring returned vouchers).
fn admitted_by_schedule(spec: &CampaignSpec, now: DateTime<Utc>) -> u64 {
    if now < spec.opens_at {
        return 0;
    }
    let ms = (now - spec.opens_at).num_milliseconds().max(0) as u128;
    let n = ms * u128::from(spec.admission_rate_per_s) / 1000 + 1;
    u64::try_from(n).unwrap_or(u64::MAX).min(spec.supply)
}

/// How long after the first returned voucher waitlist place `waitlist` can at the earliest be reached.
fn waitlist_spread(spec: &CampaignSpec, waitlist: u64) -> Duration {
    let ms = u128::from(waitlist.saturating_sub(1)) * 1000 / u128::from(spec.admission_rate_per_s.max(1));
    Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX / 2))
}

/// Where a campaign is in its life.
pub fn campaign_phase(spec: &CampaignSpec, c: &CampaignCounters, now: DateTime<Utc>) -> CampaignPhase {
    if now >= spec.closes_at {
        CampaignPhase::Closed
    } else if c.issued >= spec.supply {
        CampaignPhase::SoldOut
    } else if now >= spec.opens_at {
        CampaignPhase::Open
    } else if now >= spec.draw_at {
        CampaignPhase::Drawn
    } else if now >= spec.prequeue_opens_at {
        CampaignPhase::PreQueue
    } else {
        CampaignPhase::Upcoming
    }
}

/// What a ticket's status says at `now` (the wire `TicketStatus` without the ids and voucher).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketView {
    pub state: TicketState,
    pub position: Option<u64>,
    pub ahead: Option<u64>,
    pub waitlist: Option<u64>,
    pub admit_at: Option<DateTime<Utc>>,
    pub admit_until: Option<DateTime<Utc>>,
    /// When to ask again; `None` when the state is final.
    pub check_at: Option<DateTime<Utc>>,
}

/// How soon a client whose answer is pending on work the server has not done yet (a draw or a
/// release that is due) should ask again.
pub const SOON: Duration = Duration::seconds(1);

/// A ticket's state at `now`, from its stored row and the campaign's counters. The claim uses
/// the same function, so a status and a claim never disagree.
pub fn ticket_view(spec: &CampaignSpec, t: &TicketRow, c: &CampaignCounters, now: DateTime<Utc>) -> TicketView {
    let mut v = TicketView {
        state: TicketState::PreQueue,
        position: t.position,
        ahead: None,
        waitlist: None,
        admit_at: t.admit_at,
        admit_until: t.admit_until,
        check_at: None,
    };
    if t.returned_at.is_some() {
        v.state = TicketState::Returned;
        return v;
    }
    if t.voucher.is_some() {
        v.state = TicketState::Claimed;
        return v;
    }
    if now >= spec.closes_at {
        v.state = TicketState::Closed;
        return v;
    }
    if t.expired_at.is_some() {
        // The release that returned this admission's voucher to the line is recorded in the
        // database under the campaign's lock; it is final even where `now` (a claim's arrival
        // time, or an instance whose clock runs behind the releasing one) is before `admit_until`.
        v.state = TicketState::Expired;
        return v;
    }
    let Some(p) = t.position else {
        // Before the draw (or the draw is due and not yet stored: ask again soon).
        v.state = TicketState::PreQueue;
        v.check_at = Some(match t.prequeue_check_at {
            Some(at) if at > now => at,
            _ => now + SOON,
        });
        return v;
    };
    let front = admitted_by_schedule(spec, now);
    match (t.admit_at, t.admit_until) {
        (Some(at), Some(_)) if t.auto_issue => {
            // The server issues the voucher itself at `at`: no claim, no deadline. The client
            // fetches once, shortly after.
            v.admit_until = None;
            if now < at {
                v.state = TicketState::InLine;
                v.ahead = Some(p.saturating_sub(1).saturating_sub(front));
                v.check_at = Some(at + crate::issuance::FETCH_LAG);
            } else {
                v.state = TicketState::Admitted;
                v.ahead = Some(0);
                v.check_at = Some(std::cmp::max(at + crate::issuance::FETCH_LAG, now + SOON));
            }
        }
        (Some(at), Some(until)) => {
            if now < at {
                v.state = TicketState::InLine;
                v.ahead = Some(p.saturating_sub(1).saturating_sub(front));
                v.check_at = Some(at);
            } else if now < until {
                v.state = TicketState::Admitted;
                v.ahead = Some(0);
                v.check_at = Some(until);
            } else {
                v.state = TicketState::Expired;
            }
        }
        _ if c.issued >= spec.supply => v.state = TicketState::SoldOut,
        _ => {
            v.state = TicketState::Waitlisted;
            let waitlist = p.saturating_sub(c.reach).max(1);
            v.waitlist = Some(waitlist);
            v.ahead = Some(p.saturating_sub(1).saturating_sub(front));
            // Returned vouchers come back no faster than admissions expire, one admission
            // interval apart, so waitlist place k cannot be reached before the first release
            // plus k - 1 intervals. Telling everyone the first release would make the whole
            // waitlist check at the same instant (lineup-sim measured a 40 x C herd).
            // An opted-in ticket is issued a returned voucher by the server when one reaches it
            // (and is told by push): it has nothing to check.
            v.check_at = if t.auto_issue {
                None
            } else {
                Some(match c.next_release_at {
                    Some(at) if at > now => std::cmp::min(at + waitlist_spread(spec, waitlist), spec.closes_at),
                    _ => now + SOON,
                })
            };
        }
    }
    v
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::VoucherRow;

    /// A campaign for unit tests (also used by `ticket_cache`'s tests).
    pub(crate) fn spec() -> CampaignSpec {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        CampaignSpec {
            id: "demo".parse().unwrap(),
            title: "t".into(),
            title_en: "t".into(),
            issuer: "i".into(),
            brands: vec![],
            amount: 6000,
            currency: *b"KRW",
            supply: 10,
            prequeue_opens_at: t0,
            draw_at: t0 + Duration::seconds(30),
            opens_at: t0 + Duration::seconds(60),
            closes_at: t0 + Duration::seconds(3600),
            voucher_expires_at: t0 + Duration::days(30),
            admission_rate_per_s: 2,
            admission_window_s: 120,
        }
    }

    /// Voucher serial 1 of campaign `s`, issued at opening to the holder of `t` (also used by
    /// `ticket_cache`'s tests).
    pub(crate) fn voucher(s: &CampaignSpec, t: &TicketRow) -> VoucherRow {
        VoucherRow {
            campaign_id: s.id.clone(),
            serial: 1,
            identity: t.identity,
            ticket_id: t.id.clone(),
            token: "x".into(),
            code: lineup_protocol::VoucherCode::derive(b"x"),
            kid: 1,
            amount: 6000,
            currency: "KRW".into(),
            issued_at: s.opens_at,
            expires_at: s.voucher_expires_at,
            redeemed_at: None,
            returned_at: None,
        }
    }

    fn ticket(position: Option<u64>) -> TicketRow {
        let s = spec();
        let (admit_at, admit_until) = match position {
            Some(p) if p <= s.supply => {
                let a = scheduled_admit_at(&s, p);
                (Some(a), Some(a + s.admission_window()))
            }
            _ => (None, None),
        };
        TicketRow {
            id: "t".into(),
            campaign_id: s.id.clone(),
            identity: IdentityKey([1; 32]),
            seq: 1,
            joined_at: s.prequeue_opens_at,
            auto_issue: false,
            in_draw: true,
            prequeue_check_at: Some(s.draw_at + Duration::seconds(3)),
            position,
            admit_at,
            admit_until,
            expired_at: None,
            returned_at: None,
            voucher: None,
        }
    }

    fn counters(issued: u64) -> CampaignCounters {
        CampaignCounters {
            drawn: true,
            tickets: 20,
            issued,
            reach: 10,
            redeemed: 0,
            next_release_at: None,
            returned: 0,
        }
    }

    #[test]
    fn check_moments_spread_over_first_80_percent() {
        let s = spec();
        let limit = s.draw_at + (s.opens_at - s.draw_at) * 8 / 10;
        let mut distinct = std::collections::HashSet::new();
        for i in 0..200u8 {
            let at = prequeue_check_at(&s, 9, &IdentityKey([i; 32]));
            assert!(at >= s.draw_at && at < limit, "{at}");
            distinct.insert(at);
            assert_eq!(at, prequeue_check_at(&s, 9, &IdentityKey([i; 32])));
        }
        assert!(distinct.len() > 150);
    }

    #[test]
    fn admission_schedule_follows_rate_and_join_time() {
        let s = spec();
        assert_eq!(scheduled_admit_at(&s, 1), s.opens_at);
        assert_eq!(scheduled_admit_at(&s, 3), s.opens_at + Duration::seconds(1));
        let late = s.opens_at + Duration::seconds(100);
        assert_eq!(admit_at_for(&s, 3, late), late);
        assert_eq!(admit_at_for(&s, 11, late), late);
    }

    #[test]
    fn states_over_time() {
        let s = spec();
        let c = counters(0);
        let pre = ticket(None);
        let v = ticket_view(&s, &pre, &c, s.prequeue_opens_at);
        assert_eq!(v.state, TicketState::PreQueue);
        assert_eq!(v.check_at, pre.prequeue_check_at);

        let t = ticket(Some(5));
        let v = ticket_view(&s, &t, &c, s.draw_at);
        assert_eq!(v.state, TicketState::InLine);
        assert_eq!(v.check_at, t.admit_at);
        assert_eq!(v.ahead, Some(4));
        let at = t.admit_at.unwrap();
        assert_eq!(ticket_view(&s, &t, &c, at).state, TicketState::Admitted);
        assert_eq!(
            ticket_view(&s, &t, &c, t.admit_until.unwrap()).state,
            TicketState::Expired
        );
        assert_eq!(ticket_view(&s, &t, &c, s.closes_at).state, TicketState::Closed);
        // Once released, the admission is over even at an instant before its `admit_until`.
        let mut released = t.clone();
        released.expired_at = t.admit_until;
        assert_eq!(ticket_view(&s, &released, &c, at).state, TicketState::Expired);

        let w = ticket(Some(13));
        let mut c2 = c;
        c2.next_release_at = Some(at + Duration::seconds(120));
        let v = ticket_view(&s, &w, &c2, s.draw_at);
        assert_eq!(v.state, TicketState::Waitlisted);
        assert_eq!(v.waitlist, Some(3));
        // Place 3 is told to check two admission intervals after the first release.
        let interval_ms = 1000 / i64::from(s.admission_rate_per_s);
        assert_eq!(
            v.check_at,
            c2.next_release_at.map(|r| r + Duration::milliseconds(2 * interval_ms))
        );
        assert_eq!(
            ticket_view(&s, &w, &counters(10), s.opens_at).state,
            TicketState::SoldOut
        );

        let mut claimed = ticket(Some(1));
        claimed.voucher = Some(voucher(&s, &claimed));
        assert_eq!(ticket_view(&s, &claimed, &c, s.closes_at).state, TicketState::Claimed);
    }

    #[test]
    fn phases() {
        let s = spec();
        let c = counters(0);
        assert_eq!(
            campaign_phase(&s, &c, s.prequeue_opens_at - Duration::seconds(1)),
            CampaignPhase::Upcoming
        );
        assert_eq!(campaign_phase(&s, &c, s.prequeue_opens_at), CampaignPhase::PreQueue);
        assert_eq!(campaign_phase(&s, &c, s.draw_at), CampaignPhase::Drawn);
        assert_eq!(campaign_phase(&s, &c, s.opens_at), CampaignPhase::Open);
        assert_eq!(campaign_phase(&s, &counters(10), s.opens_at), CampaignPhase::SoldOut);
        assert_eq!(campaign_phase(&s, &c, s.closes_at), CampaignPhase::Closed);
    }
}
