//! Where the running claims stand, in one line for the tray (desktop) and its tooltip. Pure, so
//! it is shared by every platform and tested without a window system.

#[cfg(desktop)]
use crate::settings::Language;
use lineup_core::engine::{Phase, Progress};

/// What the tray says, derived from the running claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    /// No claim is running.
    Idle,
    /// A claim waits for its turn; `ahead` people are before it, when known.
    Waiting { ahead: Option<u64> },
    /// A claim is being sent right now.
    Claiming,
    /// A voucher is held.
    Holding,
    /// The claim ended without a voucher.
    Ended,
}

/// The status line for a state (the desktop tray's; a phone has no tray).
#[cfg(desktop)]
pub fn status_text(state: TrayState, language: Language) -> String {
    match (state, language) {
        (TrayState::Idle, Language::Ko) => "대기 중인 신청 없음".into(),
        (TrayState::Idle, Language::En) => "No claim running".into(),
        (TrayState::Waiting { ahead: Some(n) }, Language::Ko) => format!("줄 서는 중 · 앞에 {n}명"),
        (TrayState::Waiting { ahead: Some(n) }, Language::En) => format!("In line · {n} ahead"),
        (TrayState::Waiting { ahead: None }, Language::Ko) => "줄 서는 중".into(),
        (TrayState::Waiting { ahead: None }, Language::En) => "In line".into(),
        (TrayState::Claiming, Language::Ko) => "할인권 받는 중".into(),
        (TrayState::Claiming, Language::En) => "Claiming the voucher".into(),
        (TrayState::Holding, Language::Ko) => "할인권을 받았습니다".into(),
        (TrayState::Holding, Language::En) => "Voucher received".into(),
        (TrayState::Ended, Language::Ko) => "신청이 끝났습니다".into(),
        (TrayState::Ended, Language::En) => "Claim ended".into(),
    }
}

/// The one state to show for all claims: a claim still working outranks a finished one, and
/// of the waiting ones the closest to its turn is shown.
pub fn summarise<'a>(claims: impl IntoIterator<Item = &'a Progress>) -> TrayState {
    let mut claiming = false;
    let mut waiting: Option<Option<u64>> = None;
    let mut holding = false;
    let mut ended = false;
    for p in claims {
        match p.phase {
            Phase::Admitted | Phase::Claiming => claiming = true,
            Phase::Armed
            | Phase::WaitingOpen
            | Phase::SlotRequested
            | Phase::PreQueue
            | Phase::InLine
            | Phase::Waitlisted => {
                waiting = Some(match (waiting.flatten(), p.ahead) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                });
            }
            Phase::Holding => holding = true,
            Phase::SoldOut | Phase::Expired | Phase::Closed | Phase::Failed | Phase::Returned => ended = true,
        }
    }
    if claiming {
        TrayState::Claiming
    } else if let Some(ahead) = waiting {
        TrayState::Waiting { ahead }
    } else if holding {
        TrayState::Holding
    } else if ended {
        TrayState::Ended
    } else {
        TrayState::Idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(desktop)]
    #[test]
    fn status_text_names_the_state_in_both_languages() {
        assert_eq!(
            status_text(TrayState::Waiting { ahead: Some(12) }, Language::Ko),
            "줄 서는 중 · 앞에 12명"
        );
        assert_eq!(
            status_text(TrayState::Waiting { ahead: Some(12) }, Language::En),
            "In line · 12 ahead"
        );
        assert_eq!(status_text(TrayState::Holding, Language::En), "Voucher received");
        assert_ne!(
            status_text(TrayState::Idle, Language::Ko),
            status_text(TrayState::Ended, Language::Ko)
        );
    }

    fn progress(phase: Phase, ahead: Option<u64>) -> Progress {
        Progress {
            campaign_id: "demo".parse().unwrap(),
            phase,
            position: None,
            ahead,
            waitlist: None,
            supply: None,
            admit_at: None,
            eta_ms: None,
            next_check_at: None,
            next_check_in_ms: None,
            attempts: 0,
            in_draw: false,
            auto_issue: false,
            entrants: None,
            voucher: None,
            error: None,
        }
    }

    #[test]
    fn a_working_claim_outranks_a_finished_one() {
        assert_eq!(summarise([]), TrayState::Idle);
        let held = progress(Phase::Holding, None);
        let waiting = progress(Phase::InLine, Some(40));
        let nearer = progress(Phase::PreQueue, Some(3));
        assert_eq!(summarise([&held]), TrayState::Holding);
        assert_eq!(
            summarise([&held, &waiting, &nearer]),
            TrayState::Waiting { ahead: Some(3) }
        );
        assert_eq!(
            summarise([&waiting, &progress(Phase::Claiming, None)]),
            TrayState::Claiming
        );
        assert_eq!(summarise([&progress(Phase::SoldOut, None)]), TrayState::Ended);
        assert_eq!(
            summarise([&progress(Phase::Armed, None)]),
            TrayState::Waiting { ahead: None }
        );
    }
}
