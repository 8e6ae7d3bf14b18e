//! System notifications for a claim's end: the voucher code when one is held (or only that it
//! is there, with `hide_code_on_lock_screen`), a plain word when the supply ran out. What to say is pure (`note_for`); whether it was already said survives
//! restarts (`Notified`, a small JSON file) so resuming a finished claim does not notify twice.

use crate::settings::Language;
use lineup_core::engine::{Phase, Progress};
use lineup_core::profile::{read_json, write_json};
use lineup_protocol::{CampaignId, Voucher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How a claim ended, as far as the person needs to hear about it.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    Holding(&'a Voucher),
    SoldOut,
}

impl Outcome<'_> {
    fn key(&self, campaign: &CampaignId) -> String {
        match self {
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
    match (outcome, language) {
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
