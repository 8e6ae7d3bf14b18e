//! System notifications for a claim: the draw's result as soon as the app learns it (won, with
//! when the voucher is issued; or the waitlist place), the voucher code when one is held (or
//! only that it is there, with `hide_code_on_lock_screen`), a plain word when the supply ran out. What to say is pure (`note_for`); whether it was already said survives
//! restarts (`Notified`, a small JSON file) so resuming a finished claim does not notify twice.

use crate::settings::Language;
use chrono::{DateTime, FixedOffset, Timelike, Utc};
use lineup_core::engine::{Phase, Progress};
use lineup_core::profile::{read_json, write_json};
use lineup_protocol::{CampaignId, Voucher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How a claim ended, as far as the person needs to hear about it.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The draw (or a late join) put the place within the supply.
    Won {
        position: u64,
        supply: Option<u64>,
        /// When the voucher is issued (server-side issuance) or may be claimed.
        at: Option<DateTime<Utc>>,
        auto_issue: bool,
    },
    /// The place is beyond the supply.
    Waitlisted {
        waitlist: Option<u64>,
        auto_issue: bool,
    },
    Holding(&'a Voucher),
    SoldOut,
}

impl Outcome<'_> {
    fn key(&self, campaign: &CampaignId) -> String {
        match self {
            // One result notification per campaign, whichever it was.
            Outcome::Won { .. } | Outcome::Waitlisted { .. } => format!("{}:result", campaign.as_str()),
            Outcome::Holding(_) => format!("{}:holding", campaign.as_str()),
            Outcome::SoldOut => format!("{}:sold_out", campaign.as_str()),
        }
    }
}

/// The outcome worth a notification, if the claim just reached one.
pub fn outcome_of(progress: &Progress) -> Option<Outcome<'_>> {
    match (progress.phase, &progress.voucher) {
        (Phase::Holding, Some(v)) => Some(Outcome::Holding(v)),
        (Phase::SoldOut, _) => Some(Outcome::SoldOut),
        (Phase::InLine | Phase::Admitted, _) => progress.position.map(|position| Outcome::Won {
            position,
            supply: progress.supply,
            at: progress.admit_at,
            auto_issue: progress.auto_issue,
        }),
        (Phase::Waitlisted, _) => Some(Outcome::Waitlisted {
            waitlist: progress.waitlist,
            auto_issue: progress.auto_issue,
        }),
        _ => None,
    }
}

/// A notification's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub title: String,
    pub body: String,
}

/// What to tell the person. The code is in the body so it can be read off the notification
/// at the box office even before the app is opened, unless `hide_code` (the setting
/// `hide_code_on_lock_screen`): a notification may show on a locked screen, where anyone
/// could read the code and use the voucher, so then it only says that the voucher is there.
pub fn note_for(outcome: Outcome<'_>, language: Language, campaign_title: Option<&str>, hide_code: bool) -> Note {
    let local = |t: DateTime<Utc>| t.with_timezone(&chrono::Local).fixed_offset();
    match (outcome, language) {
        (Outcome::Won { .. } | Outcome::Waitlisted { .. }, _) => result_note(outcome, language, campaign_title, local),
        (Outcome::Holding(_), Language::Ko) if hide_code => Note {
            title: "할인권을 받았습니다".into(),
            body: with_title(campaign_title, "할인권이 발급되었습니다. 앱에서 확인하세요"),
        },
        (Outcome::Holding(_), Language::En) if hide_code => Note {
            title: "You got the voucher".into(),
            body: with_title(campaign_title, "Your voucher has been issued. Open the app to see it."),
        },
        (Outcome::Holding(v), Language::Ko) => Note {
            title: "할인권을 받았습니다".into(),
            body: match campaign_title {
                Some(t) => format!("{t}\n코드 {} · {}", v.code.grouped(), amount_text(v, language)),
                None => format!("코드 {} · {}", v.code.grouped(), amount_text(v, language)),
            },
        },
        (Outcome::Holding(v), Language::En) => Note {
            title: "You got the voucher".into(),
            body: match campaign_title {
                Some(t) => format!("{t}\nCode {} · {}", v.code.grouped(), amount_text(v, language)),
                None => format!("Code {} · {}", v.code.grouped(), amount_text(v, language)),
            },
        },
        (Outcome::SoldOut, Language::Ko) => Note {
            title: "할인권이 모두 소진되었습니다".into(),
            body: "이번에는 받지 못했습니다. 줄은 정리되었고 더 기다리지 않아도 됩니다.".into(),
        },
        (Outcome::SoldOut, Language::En) => Note {
            title: "Sold out".into(),
            body: "Every voucher has been issued; this claim did not get one. There is nothing left to wait for."
                .into(),
        },
    }
}

/// The draw's result, in the words of the app's headline (ui/js/fate.js). `local` turns an
/// instant into the device's local time.
fn result_note(
    outcome: Outcome<'_>,
    language: Language,
    campaign_title: Option<&str>,
    local: impl Fn(DateTime<Utc>) -> DateTime<FixedOffset>,
) -> Note {
    let count = |n: u64| group_thousands(n);
    match (outcome, language) {
        (
            Outcome::Won {
                position,
                supply,
                at,
                auto_issue,
            },
            Language::Ko,
        ) => {
            let within = match supply {
                Some(s) => format!("준비된 {}장 안에 들었습니다 ({}번째).", count(s), count(position)),
                None => format!("{}번째로 당첨되었습니다.", count(position)),
            };
            let when = match (at, auto_issue) {
                (Some(t), true) => format!(" {}에 자동으로 발급됩니다. 앱을 닫아도 됩니다.", clock_ko(local(t))),
                (Some(t), false) => format!(" {}부터 받을 수 있고, 앱이 알아서 받습니다.", clock_ko(local(t))),
                (None, _) => String::new(),
            };
            Note {
                title: "당첨되었습니다".into(),
                body: with_title(campaign_title, &format!("{within}{when}")),
            }
        }
        (
            Outcome::Won {
                position,
                supply,
                at,
                auto_issue,
            },
            Language::En,
        ) => {
            let within = match supply {
                Some(s) => format!("You are within the {} vouchers (number {}).", count(s), count(position)),
                None => format!("You won (number {}).", count(position)),
            };
            let when = match (at, auto_issue) {
                (Some(t), true) => format!(
                    " It will be issued to you at {}; you may close the app.",
                    clock_en(local(t))
                ),
                (Some(t), false) => format!(
                    " You can receive it from {}; the app does it for you.",
                    clock_en(local(t))
                ),
                (None, _) => String::new(),
            };
            Note {
                title: "You won".into(),
                body: with_title(campaign_title, &format!("{within}{when}")),
            }
        }
        (Outcome::Waitlisted { waitlist, auto_issue }, Language::Ko) => {
            let place = waitlist
                .map(|w| format!(" (추가 대기 {}번)", count(w)))
                .unwrap_or_default();
            let then = if auto_issue {
                "반환되는 할인권이 생기면 순서대로 자동 발급하고 알려 드립니다."
            } else {
                "반환되는 할인권이 생기면 앱이 받아 알려 드립니다."
            };
            Note {
                title: "이번에는 당첨되지 않았습니다".into(),
                body: with_title(campaign_title, &format!("추첨 결과가 나왔습니다{place}. {then}")),
            }
        }
        (Outcome::Waitlisted { waitlist, auto_issue }, Language::En) => {
            let place = waitlist
                .map(|w| format!(" (waitlist number {})", count(w)))
                .unwrap_or_default();
            let then = if auto_issue {
                "If a voucher is given back and reaches you, it is issued to you and you are told."
            } else {
                "If a voucher is given back and reaches you, the app receives it and tells you."
            };
            Note {
                title: "Not this time".into(),
                body: with_title(campaign_title, &format!("The draw is done{place}. {then}")),
            }
        }
        (other, language) => note_for(other, language, campaign_title, true),
    }
}

/// "오후 7:01:51"
fn clock_ko(t: DateTime<FixedOffset>) -> String {
    let (pm, h) = t.hour12();
    format!(
        "{} {}:{:02}:{:02}",
        if pm { "오후" } else { "오전" },
        h,
        t.minute(),
        t.second()
    )
}

/// "7:01:51 PM"
fn clock_en(t: DateTime<FixedOffset>) -> String {
    let (pm, h) = t.hour12();
    format!(
        "{}:{:02}:{:02} {}",
        h,
        t.minute(),
        t.second(),
        if pm { "PM" } else { "AM" }
    )
}

fn with_title(campaign_title: Option<&str>, text: &str) -> String {
    match campaign_title {
        Some(t) => format!("{t}\n{text}"),
        None => text.to_owned(),
    }
}

fn amount_text(v: &Voucher, language: Language) -> String {
    match (v.currency.as_str(), language) {
        ("KRW", Language::Ko) => format!("{}원", group_thousands(u64::from(v.amount))),
        ("KRW", Language::En) => format!("₩{}", group_thousands(u64::from(v.amount))),
        (cur, _) => format!("{} {cur}", group_thousands(u64::from(v.amount))),
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Which outcomes were already notified, kept on disk.
#[derive(Debug)]
pub struct Notified {
    path: PathBuf,
    seen: Mutex<BTreeSet<String>>,
}

impl Notified {
    pub fn load(data_dir: &Path) -> Self {
        let path = data_dir.join("notified.json");
        let seen = read_json::<BTreeSet<String>>(&path).ok().flatten().unwrap_or_default();
        Notified {
            path,
            seen: Mutex::new(seen),
        }
    }

    /// Records the outcome; true when it had not been recorded before (so it should be shown).
    pub fn first_time(&self, campaign: &CampaignId, outcome: Outcome<'_>) -> bool {
        let Ok(mut seen) = self.seen.lock() else { return false };
        if !seen.insert(outcome.key(campaign)) {
            return false;
        }
        if let Err(e) = write_json(&self.path, &*seen) {
            // Worst case a restart shows the same notification once more.
            tracing::warn!(error = %e, "cannot record a sent notification");
        }
        true
    }
}

#[cfg(test)]
mod result_tests {
    use super::*;

    fn seoul(t: DateTime<Utc>) -> DateTime<FixedOffset> {
        t.with_timezone(&FixedOffset::east_opt(9 * 3600).unwrap())
    }

    fn at() -> DateTime<Utc> {
        "2026-12-01T10:01:51Z".parse().unwrap()
    }

    #[test]
    fn a_win_says_the_supply_the_place_and_when() {
        let won = Outcome::Won {
            position: 12_345,
            supply: Some(20_000),
            at: Some(at()),
            auto_issue: true,
        };
        let n = result_note(won, Language::Ko, Some("영화관람 6천원 할인권"), seoul);
        assert_eq!(n.title, "당첨되었습니다");
        assert_eq!(
            n.body,
            "영화관람 6천원 할인권\n준비된 20,000장 안에 들었습니다 (12,345번째). 오후 7:01:51에 자동으로 발급됩니다. 앱을 닫아도 됩니다."
        );
        let n = result_note(won, Language::En, None, seoul);
        assert_eq!(
            n.body,
            "You are within the 20,000 vouchers (number 12,345). It will be issued to you at 7:01:51 PM; you may close the app."
        );
        let manual = Outcome::Won {
            position: 12_345,
            supply: Some(20_000),
            at: Some(at()),
            auto_issue: false,
        };
        assert!(
            result_note(manual, Language::Ko, None, seoul)
                .body
                .contains("오후 7:01:51부터 받을 수 있고")
        );
    }

    #[test]
    fn the_waitlist_is_told_plainly() {
        let w = Outcome::Waitlisted {
            waitlist: Some(3_456),
            auto_issue: true,
        };
        let n = result_note(w, Language::Ko, None, seoul);
        assert_eq!(n.title, "이번에는 당첨되지 않았습니다");
        assert_eq!(
            n.body,
            "추첨 결과가 나왔습니다 (추가 대기 3,456번). 반환되는 할인권이 생기면 순서대로 자동 발급하고 알려 드립니다."
        );
        assert_eq!(result_note(w, Language::En, None, seoul).title, "Not this time");
    }

    #[test]
    fn one_result_notification_per_campaign() {
        let dir = tempfile::tempdir().unwrap();
        let n = Notified::load(dir.path());
        let c: CampaignId = "demo".parse().unwrap();
        let won = Outcome::Won {
            position: 1,
            supply: Some(10),
            at: None,
            auto_issue: true,
        };
        let later = Outcome::Waitlisted {
            waitlist: Some(1),
            auto_issue: true,
        };
        assert!(n.first_time(&c, won));
        assert!(!n.first_time(&c, won), "not again");
        assert!(!n.first_time(&c, later), "one result per campaign");
        assert!(
            Notified::load(dir.path()).seen.lock().unwrap().contains("demo:result"),
            "kept on disk"
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use lineup_protocol::{VoucherCode, VoucherStatus};

    pub(crate) fn voucher() -> Voucher {
        let now = chrono::Utc::now();
        Voucher {
            campaign_id: "demo".parse().unwrap(),
            serial: 7,
            code: VoucherCode::derive(b"seed"),
            token: "t".into(),
            amount: 6000,
            currency: "KRW".into(),
            kid: 1,
            issued_at: now,
            expires_at: now,
            status: VoucherStatus::Unused,
            redeemed_at: None,
        }
    }

    #[test]
    fn holding_note_carries_the_grouped_code_and_amount() {
        let v = voucher();
        let n = note_for(Outcome::Holding(&v), Language::Ko, Some("영화 할인권"), false);
        assert_eq!(n.title, "할인권을 받았습니다");
        assert!(n.body.contains(&v.code.grouped()), "{}", n.body);
        assert!(
            n.body.contains("6,000원") && n.body.starts_with("영화 할인권\n"),
            "{}",
            n.body
        );
        let n = note_for(Outcome::Holding(&v), Language::En, None, false);
        assert_eq!(n.body, format!("Code {} · ₩6,000", v.code.grouped()));
    }

    #[test]
    fn holding_note_leaves_the_code_out_when_asked() {
        let v = voucher();
        let code = v.code.grouped();
        let raw = v.code.to_string();
        let n = note_for(Outcome::Holding(&v), Language::Ko, Some("영화 할인권"), true);
        assert_eq!(n.title, "할인권을 받았습니다");
        assert_eq!(n.body, "영화 할인권\n할인권이 발급되었습니다. 앱에서 확인하세요");
        assert!(!n.body.contains(&code) && !n.body.contains(&raw), "{}", n.body);
        let n = note_for(Outcome::Holding(&v), Language::En, None, true);
        assert_eq!(n.title, "You got the voucher");
        assert_eq!(n.body, "Your voucher has been issued. Open the app to see it.");
        assert!(!n.body.contains(&code) && !n.body.contains(&raw), "{}", n.body);
        assert!(!n.title.contains(&code));
        // A sold-out note has no code either way.
        assert_eq!(
            note_for(Outcome::SoldOut, Language::Ko, None, true),
            note_for(Outcome::SoldOut, Language::Ko, None, false)
        );
    }

    #[test]
    fn sold_out_note_says_so_plainly() {
        let n = note_for(Outcome::SoldOut, Language::Ko, None, false);
        assert!(n.title.contains("소진"));
        let n = note_for(Outcome::SoldOut, Language::En, None, false);
        assert_eq!(n.title, "Sold out");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(6000), "6,000");
        assert_eq!(group_thousands(1234567), "1,234,567");
    }

    #[test]
    fn each_outcome_is_notified_once_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let c: CampaignId = "demo".parse().unwrap();
        let v = voucher();
        let n = Notified::load(dir.path());
        assert!(n.first_time(&c, Outcome::Holding(&v)));
        assert!(!n.first_time(&c, Outcome::Holding(&v)));
        assert!(n.first_time(&c, Outcome::SoldOut));
        let again = Notified::load(dir.path());
        assert!(!again.first_time(&c, Outcome::Holding(&v)));
        let other: CampaignId = "other".parse().unwrap();
        assert!(again.first_time(&other, Outcome::Holding(&v)));
    }
}
