//! Which local notifications a phone should have scheduled for its claims, and how to get there
//! from what is scheduled now. A suspended phone app cannot speak at the moment the draw's result
//! or the voucher is due, but the system can show a notification scheduled ahead: one when the
//! ticket's result is due (`check_at` of a pre-queue ticket) and one when the voucher is due
//! (`admit_at` of a winner: the instant the server issues it, or from which the app may claim).
//! Every state change recomputes the whole wanted set ([`wanted`]) and [`plan`] turns the
//! difference with what is scheduled into schedule, replace and cancel operations, so a
//! notification never outlives the state that asked for it. Pure: the caller gives the claims,
//! the setting, the clock and the words; the app applies the operations through its
//! notification plugin.

use crate::engine::{Phase, Progress};
use chrono::{DateTime, Utc};
use lineup_protocol::CampaignId;
use std::collections::{BTreeMap, BTreeSet};

/// What a scheduled notification announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The draw's result can be read: open the app to see it.
    ResultDue,
    /// The voucher is due: issued by the server at this instant (`auto_issue`), or the person's
    /// turn to claim it (a server that does not issue by itself).
    VoucherDue { auto_issue: bool },
}

impl Kind {
    fn slug(self) -> &'static str {
        match self {
            Kind::ResultDue => "result_due",
            Kind::VoucherDue { .. } => "voucher_due",
        }
    }
}

/// A notification a claim wants shown at `at`, before its words are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub campaign_id: CampaignId,
    pub kind: Kind,
    pub at: DateTime<Utc>,
}

impl Due {
    /// The notification's identifier: the same for a campaign and kind across runs and devices
    /// (the system keys scheduled notifications by it), whatever the instant or the words.
    pub fn id(&self) -> i32 {
        reminder_id(&self.campaign_id, self.kind)
    }
}

/// A stable positive 31-bit identifier (FNV-1a of `campaign:kind`), so a replacement reuses
/// the identifier of the notification it replaces. Live notifications use small identifiers of
/// their own; a collision between two campaigns' reminders is a 1 in 2^31 chance.
pub fn reminder_id(campaign: &CampaignId, kind: Kind) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in campaign.as_str().bytes().chain(*b":").chain(kind.slug().bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    i32::try_from(h & 0x7fff_ffff).unwrap_or(i32::MAX)
}

/// A notification as handed to the system: identifier, instant and words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub id: i32,
    pub at: DateTime<Utc>,
    pub title: String,
    pub body: String,
}

/// One change to what the system has scheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Schedule(Scheduled),
    /// Cancel the pending notification with this identifier, then schedule this one.
    Replace(Scheduled),
    Cancel(i32),
}

/// The notifications the claims want scheduled now. Nothing when notifications are off; only
/// instants still ahead of `now` (a due moment that has passed is the running app's to tell,
/// live). At most one per campaign: the result first, then the voucher.
pub fn wanted(claims: &[Progress], notifications_on: bool, now: DateTime<Utc>) -> Vec<Due> {
    if !notifications_on {
        return Vec::new();
    }
    let mut out: Vec<Due> = claims
        .iter()
        .filter_map(|p| {
            let (kind, at) = match p.phase {
                // Before the draw: one check at the ticket's `check_at`, when the result is known.
                Phase::PreQueue => (Kind::ResultDue, p.next_check_at?),
                // A winner not yet holding its voucher: due at its admission, or, when the
                // server issues it then, a second later, when the protocol says it is committed
                // (`check_at = admit_at + 1 s`).
                Phase::InLine if p.voucher.is_none() => {
                    let admit_at = p.admit_at?;
                    let at = if p.auto_issue {
                        admit_at + chrono::Duration::seconds(1)
                    } else {
                        admit_at
                    };
                    (
                        Kind::VoucherDue {
                            auto_issue: p.auto_issue,
                        },
                        at,
                    )
                }
                // Everything else has nothing due at a known instant: still joining (no
                // `check_at` yet), admitted or claiming now (the app is at work), waitlisted
                // (no one knows when a voucher comes back), or over.
                _ => return None,
            };
            // Systems schedule to the second; rounding up keeps the notification from coming
            // before its moment, and what is read back from the system compares equal.
            let at = ceil_to_second(at);
            (at > now).then(|| Due {
                campaign_id: p.campaign_id.clone(),
                kind,
                at,
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.campaign_id, a.kind).cmp(&(&b.campaign_id, b.kind)));
    out
}

fn ceil_to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    let whole = t.timestamp();
    let whole = if t.timestamp_subsec_nanos() > 0 {
        whole + 1
    } else {
        whole
    };
    DateTime::from_timestamp(whole, 0).unwrap_or(t)
}

/// The operations that turn `current` (what the system has pending, as last scheduled) into
/// `wanted`: new identifiers are scheduled, identifiers whose instant or words changed are
/// replaced, identifiers no longer wanted are cancelled, identical ones are left alone.
/// Cancellations come first, then in identifier order.
pub fn plan(current: &[Scheduled], wanted: &[Scheduled]) -> Vec<Op> {
    let now: BTreeMap<i32, &Scheduled> = current.iter().map(|s| (s.id, s)).collect();
    let next: BTreeMap<i32, &Scheduled> = wanted.iter().map(|s| (s.id, s)).collect();
    let mut ops: Vec<Op> = now
        .keys()
        .filter(|id| !next.contains_key(id))
        .map(|id| Op::Cancel(*id))
        .collect();
    for (id, want) in next {
        match now.get(&id) {
            None => ops.push(Op::Schedule(want.clone())),
            Some(have) if *have != want => ops.push(Op::Replace(want.clone())),
            Some(_) => {}
        }
    }
    ops
}

/// The identifiers the claims of these campaigns may have scheduled. [`plan`] is given only the
/// pending notifications within this scope, so a notification of a campaign this run has not
/// heard of yet (an app started offline, before it could re-read its claims) is left alone
/// rather than cancelled as unwanted.
pub fn scope<'a>(campaigns: impl IntoIterator<Item = &'a CampaignId>) -> BTreeSet<i32> {
    campaigns
        .into_iter()
        .flat_map(|c| {
            [
                reminder_id(c, Kind::ResultDue),
                reminder_id(c, Kind::VoucherDue { auto_issue: true }),
            ]
        })
        .collect()
}

/// What is scheduled after `ops` are applied to `current`, in identifier order (for a caller
/// that keeps its own record when the system cannot be asked).
pub fn apply(current: &[Scheduled], ops: &[Op]) -> Vec<Scheduled> {
    let mut map: BTreeMap<i32, Scheduled> = current.iter().map(|s| (s.id, s.clone())).collect();
    for op in ops {
        match op {
            Op::Schedule(s) | Op::Replace(s) => {
                map.insert(s.id, s.clone());
            }
            Op::Cancel(id) => {
                map.remove(id);
            }
        }
    }
    map.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use lineup_protocol::{Voucher, VoucherCode, VoucherStatus};

    fn t0() -> DateTime<Utc> {
        "2026-12-01T10:00:00Z".parse().unwrap()
    }

    fn progress(campaign: &str, phase: Phase) -> Progress {
        Progress {
            campaign_id: campaign.parse().unwrap(),
            phase,
            position: None,
            ahead: None,
            waitlist: None,
            supply: None,
            admit_at: None,
            eta_ms: None,
            next_check_at: None,
            next_check_in_ms: None,
            attempts: 1,
            in_draw: true,
            auto_issue: true,
            entrants: None,
            voucher: None,
            error: None,
        }
    }

    fn pre_queue(campaign: &str, check_in_s: i64) -> Progress {
        let mut p = progress(campaign, Phase::PreQueue);
        p.next_check_at = Some(t0() + Duration::seconds(check_in_s));
        p
    }

    fn in_line(campaign: &str, admit_in_s: i64, auto_issue: bool) -> Progress {
        let mut p = progress(campaign, Phase::InLine);
        p.position = Some(12);
        p.admit_at = Some(t0() + Duration::seconds(admit_in_s));
        p.next_check_at = p.admit_at;
        p.auto_issue = auto_issue;
        p
    }

    fn voucher() -> Voucher {
        Voucher {
            campaign_id: "demo".parse().unwrap(),
            serial: 1,
            code: VoucherCode::derive(b"r"),
            token: "t".into(),
            amount: 6000,
            currency: "KRW".into(),
            kid: 1,
            issued_at: t0(),
            expires_at: t0() + Duration::days(30),
            status: VoucherStatus::Unused,
            redeemed_at: None,
        }
    }

    /// The words the app would choose, made visible to the tests: kind, campaign and a language.
    fn words(d: &Due, language: &str) -> Scheduled {
        Scheduled {
            id: d.id(),
            at: d.at,
            title: format!("{language}:{:?}", d.kind),
            body: d.campaign_id.to_string(),
        }
    }

    /// The app's loop in one step: what is wanted for these claims, and the operations from `current`.
    fn step(current: &[Scheduled], claims: &[Progress], on: bool, now: DateTime<Utc>) -> (Vec<Op>, Vec<Scheduled>) {
        let mut want: Vec<Scheduled> = wanted(claims, on, now).iter().map(|d| words(d, "ko")).collect();
        let ops = plan(current, &want);
        let after = apply(current, &ops);
        want.sort_by_key(|s| s.id);
        assert_eq!(
            after, want,
            "applying the plan reaches what is wanted (apply keeps id order)"
        );
        (ops, after)
    }

    fn id(campaign: &str, kind: Kind) -> i32 {
        reminder_id(&campaign.parse().unwrap(), kind)
    }

    const VOUCHER: Kind = Kind::VoucherDue { auto_issue: true };

    #[test]
    fn one_claim_through_its_life() {
        // Armed, waiting for the pre-queue: no instant is known yet.
        let (ops, s) = step(&[], &[progress("demo", Phase::WaitingOpen)], true, t0());
        assert!(ops.is_empty() && s.is_empty());

        // In the pre-queue: the result is announced at the ticket's check_at.
        let (ops, s) = step(&s, &[pre_queue("demo", 600)], true, t0());
        assert_eq!(ops.len(), 1);
        let Op::Schedule(r) = &ops[0] else { panic!("{ops:?}") };
        assert_eq!(
            (r.id, r.at),
            (id("demo", Kind::ResultDue), t0() + Duration::seconds(600))
        );

        // The same state again (a repeated status read): nothing to do.
        let (ops, s) = step(&s, &[pre_queue("demo", 600)], true, t0() + Duration::seconds(5));
        assert!(ops.is_empty(), "{ops:?}");

        // Won: the result notification goes, the voucher one is scheduled at the issuance.
        let (ops, s) = step(&s, &[in_line("demo", 900, true)], true, t0() + Duration::seconds(600));
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert_eq!(ops[0], Op::Cancel(id("demo", Kind::ResultDue)));
        let Op::Schedule(v) = &ops[1] else { panic!("{ops:?}") };
        assert_eq!(
            (v.id, v.at),
            (id("demo", VOUCHER), t0() + Duration::seconds(901)),
            "a second after the issuance instant, when the voucher is committed"
        );

        // The server moved the admission (a late re-read after a wake-up): replaced, same id.
        let (ops, s) = step(&s, &[in_line("demo", 960, true)], true, t0() + Duration::seconds(700));
        assert_eq!(ops.len(), 1, "{ops:?}");
        let Op::Replace(v) = &ops[0] else { panic!("{ops:?}") };
        assert_eq!((v.id, v.at), (id("demo", VOUCHER), t0() + Duration::seconds(961)));

        // Holding the voucher: nothing left to announce.
        let mut held = progress("demo", Phase::Holding);
        held.voucher = Some(voucher());
        let (ops, s) = step(&s, &[held], true, t0() + Duration::seconds(961));
        assert_eq!(ops, vec![Op::Cancel(id("demo", VOUCHER))]);
        assert!(s.is_empty());
    }

    #[test]
    fn every_ending_cancels_what_was_scheduled() {
        for end in [
            Phase::Waitlisted,
            Phase::SoldOut,
            Phase::Expired,
            Phase::Closed,
            Phase::Failed,
            Phase::Returned,
            Phase::Admitted,
            Phase::Claiming,
        ] {
            let (_, s) = step(&[], &[in_line("demo", 900, true)], true, t0());
            let (ops, after) = step(&s, &[progress("demo", end)], true, t0() + Duration::seconds(1));
            assert_eq!(ops, vec![Op::Cancel(id("demo", VOUCHER))], "{end:?}");
            assert!(after.is_empty(), "{end:?}");
        }
        // A pre-queue ticket given back before its result is due.
        let (_, s) = step(&[], &[pre_queue("demo", 600)], true, t0());
        let (ops, _) = step(&s, &[progress("demo", Phase::Returned)], true, t0());
        assert_eq!(ops, vec![Op::Cancel(id("demo", Kind::ResultDue))]);
    }

    #[test]
    fn turning_notifications_off_cancels_all_and_on_brings_them_back() {
        let claims = [pre_queue("a", 600), in_line("b", 900, true)];
        let (ops, s) = step(&[], &claims, true, t0());
        assert_eq!(ops.len(), 2);
        let (ops, s) = step(&s, &claims, false, t0());
        let mut cancelled: Vec<i32> = ops
            .iter()
            .map(|o| match o {
                Op::Cancel(id) => *id,
                other => panic!("only cancellations: {other:?}"),
            })
            .collect();
        cancelled.sort_unstable();
        let mut expected = vec![id("a", Kind::ResultDue), id("b", VOUCHER)];
        expected.sort_unstable();
        assert_eq!(cancelled, expected);
        let (ops, _) = step(&s, &claims, true, t0());
        assert!(
            ops.iter().all(|o| matches!(o, Op::Schedule(_))) && ops.len() == 2,
            "{ops:?}"
        );
    }

    #[test]
    fn other_words_replace_the_pending_notification() {
        let claims = [pre_queue("demo", 600)];
        let ko: Vec<Scheduled> = wanted(&claims, true, t0()).iter().map(|d| words(d, "ko")).collect();
        let en: Vec<Scheduled> = wanted(&claims, true, t0()).iter().map(|d| words(d, "en")).collect();
        assert_eq!(plan(&ko, &en), vec![Op::Replace(en[0].clone())]);
    }

    #[test]
    fn instants_already_passed_are_not_scheduled_and_a_pending_one_is_cancelled() {
        let (_, s) = step(&[], &[pre_queue("demo", 600)], true, t0());
        // The app was asleep past check_at and still holds the pre-queue state: the running
        // app reads the result now and tells it live; a notification in the past is stale.
        let (ops, after) = step(&s, &[pre_queue("demo", 600)], true, t0() + Duration::seconds(600));
        assert_eq!(ops, vec![Op::Cancel(id("demo", Kind::ResultDue))]);
        assert!(after.is_empty());
        assert!(wanted(&[in_line("demo", -1, true)], true, t0()).is_empty());
    }

    #[test]
    fn a_server_that_does_not_issue_by_itself_gets_a_your_turn_reminder() {
        let w = wanted(&[in_line("demo", 900, false)], true, t0());
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, Kind::VoucherDue { auto_issue: false });
        assert_eq!(w[0].at, t0() + Duration::seconds(900), "the turn starts at admit_at");
        assert_eq!(
            w[0].id(),
            id("demo", VOUCHER),
            "one voucher reminder per campaign either way"
        );
        // Holding already (an InLine state with a voucher is not possible, but be safe).
        let mut p = in_line("demo", 900, true);
        p.voucher = Some(voucher());
        assert!(wanted(&[p], true, t0()).is_empty());
    }

    #[test]
    fn claims_are_independent_and_ids_are_stable() {
        let (_, s) = step(&[], &[pre_queue("a", 600), pre_queue("b", 700)], true, t0());
        // b wins; a is unchanged.
        let (ops, _) = step(&s, &[pre_queue("a", 600), in_line("b", 900, true)], true, t0());
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert!(ops.contains(&Op::Cancel(id("b", Kind::ResultDue))));
        assert!(
            ops.iter()
                .any(|o| matches!(o, Op::Schedule(v) if v.id == id("b", VOUCHER)))
        );
        // Stable across runs (the system keeps them across restarts), distinct, positive.
        assert_eq!(id("demo", Kind::ResultDue), id("demo", Kind::ResultDue));
        let ids = [
            id("a", Kind::ResultDue),
            id("a", VOUCHER),
            id("b", Kind::ResultDue),
            id("b", VOUCHER),
        ];
        assert!(ids.iter().all(|i| *i > 0));
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 4);
        // Pinned: changing the hash would orphan notifications scheduled by an older version.
        assert_eq!(id("demo", Kind::ResultDue), FNV_DEMO_RESULT);
    }

    #[test]
    fn instants_are_rounded_up_to_the_second_the_system_keeps() {
        let mut p = pre_queue("demo", 600);
        p.next_check_at = Some(t0() + Duration::milliseconds(600_250));
        let w = wanted(&[p.clone()], true, t0());
        assert_eq!(w[0].at, t0() + Duration::seconds(601));
        p.next_check_at = Some(t0() + Duration::seconds(600));
        assert_eq!(wanted(&[p], true, t0())[0].at, t0() + Duration::seconds(600));
    }

    #[test]
    fn pending_notifications_of_campaigns_out_of_scope_are_left_alone() {
        let (_, s) = step(&[], &[pre_queue("a", 600), pre_queue("b", 700)], true, t0());
        // This run knows only `b` so far (it ended): `a`'s reminder is not its to cancel.
        let in_scope = scope([&"b".parse().unwrap()]);
        let current: Vec<Scheduled> = s.iter().filter(|x| in_scope.contains(&x.id)).cloned().collect();
        let ops = plan(&current, &[]);
        assert_eq!(ops, vec![Op::Cancel(id("b", Kind::ResultDue))]);
        assert!(in_scope.contains(&id("b", VOUCHER)) && !in_scope.contains(&id("a", Kind::ResultDue)));
    }

    /// FNV-1a 32 of "demo:result_due", top bit cleared.
    const FNV_DEMO_RESULT: i32 = 1_747_379_940;
}
