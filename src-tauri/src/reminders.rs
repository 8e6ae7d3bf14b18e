//! Scheduled local notifications for a phone that may be asleep when the draw's result or the
//! voucher is due (issue 11): after every change of a claim or of the settings, the whole set the
//! claims want ([`lineup_core::reminders`]) is worded here and handed to the shell, which on
//! mobile reconciles it with what the system has pending (schedule, replace, cancel) and on
//! desktop does nothing: the desktop app runs in the tray and says the same things live
//! (crate::notify). A scheduled notification never carries the voucher code (it is not known
//! when the notification is scheduled), so `hide_code_on_lock_screen` has nothing to hide here.

use crate::settings::Language;
use crate::state::AppState;
use lineup_core::reminders::{Due, Kind, Scheduled, scope, wanted};
use std::collections::BTreeSet;

/// The notifications the app wants scheduled now, and the identifiers it may touch (those of
/// the campaigns this run knows about).
pub fn wanted_now(state: &AppState, now: chrono::DateTime<chrono::Utc>) -> (Vec<Scheduled>, BTreeSet<i32>) {
    let claims = state.all_progress();
    let settings = state.settings();
    let list = wanted(&claims, settings.notifications, now)
        .iter()
        .map(|due| {
            let (title, body) = words(
                due,
                settings.language,
                state.campaign_title(&due.campaign_id).as_deref(),
            );
            Scheduled {
                id: due.id(),
                at: due.at,
                title,
                body,
            }
        })
        .collect();
    (list, scope(claims.iter().map(|p| &p.campaign_id)))
}

/// Brings the system's scheduled notifications in line with the claims (a no-op on desktop).
pub fn sync(state: &AppState) {
    let (wanted, scope) = wanted_now(state, chrono::Utc::now());
    state.shell.reschedule(&wanted, &scope);
}

/// A reminder's title and body, fate-first like the app's other notifications.
pub fn words(due: &Due, language: Language, campaign_title: Option<&str>) -> (String, String) {
    let (title, text) = match (due.kind, language) {
        (Kind::ResultDue, Language::Ko) => ("추첨 결과가 나왔습니다", "앱을 열어 결과를 확인하세요."),
        (Kind::ResultDue, Language::En) => ("The draw is done", "Open Lineup to see your result."),
        (Kind::VoucherDue { auto_issue: true }, Language::Ko) => {
            ("할인권이 준비되었습니다", "앱을 열면 할인권 코드를 볼 수 있습니다.")
        }
        (Kind::VoucherDue { auto_issue: true }, Language::En) => {
            ("Your voucher is ready", "Open Lineup to see its code.")
        }
        (Kind::VoucherDue { auto_issue: false }, Language::Ko) => {
            ("할인권을 받을 차례입니다", "지금 앱을 열면 바로 받습니다.")
        }
        (Kind::VoucherDue { auto_issue: false }, Language::En) => {
            ("It is your turn", "Open Lineup now to receive your voucher.")
        }
    };
    let body = match campaign_title {
        Some(t) => format!("{t}\n{text}"),
        None => text.to_owned(),
    };
    (title.to_owned(), body)
}

/// Mobile: reconciles `wanted` with the system's pending notifications through
/// tauri-plugin-notification (`Schedule::At` with `allow_while_idle`, so Android's Doze lets it
/// through within minutes; there is no exact-alarm permission).
/// Called off the main thread (the plugin's calls wait for the platform's UI thread), one
/// reconciliation at a time.
#[cfg(mobile)]
pub fn apply_on_device<R: tauri::Runtime>(app: &tauri::AppHandle<R>, wanted: &[Scheduled], scope: &BTreeSet<i32>) {
    use lineup_core::reminders::{Op, plan};
    use tauri_plugin_notification::{NotificationExt, Schedule};
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let n = app.notification();
    let current: Vec<Scheduled> = match n.pending() {
        Ok(list) => list
            .iter()
            .filter(|p| scope.contains(&p.id()))
            .map(|p| Scheduled {
                id: p.id(),
                at: match p.schedule() {
                    Schedule::At { date, .. } => {
                        chrono::DateTime::from_timestamp(date.unix_timestamp(), date.nanosecond()).unwrap_or_default()
                    }
                    // Not one of ours: replaced by what is wanted.
                    _ => chrono::DateTime::default(),
                },
                title: p.title().unwrap_or_default().to_owned(),
                body: p.body().unwrap_or_default().to_owned(),
            })
            .collect(),
        Err(e) => {
            // Without the list, cancel everything in scope first: never leave a stale one.
            tracing::warn!(error = %e, "cannot list pending notifications");
            if let Err(e) = n.cancel(scope.iter().copied().collect()) {
                tracing::warn!(error = %e, "cannot cancel pending notifications");
            }
            Vec::new()
        }
    };
    for op in plan(&current, wanted) {
        let (cancel, schedule) = match &op {
            Op::Cancel(id) => (Some(*id), None),
            Op::Replace(s) => (Some(s.id), Some(s)),
            Op::Schedule(s) => (None, Some(s)),
        };
        if let Some(id) = cancel
            && let Err(e) = n.cancel(vec![id])
        {
            tracing::warn!(id, error = %e, "cannot cancel a scheduled notification");
        }
        let Some(s) = schedule else { continue };
        let date = match time::OffsetDateTime::from_unix_timestamp(s.at.timestamp()) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "a reminder instant out of range");
                continue;
            }
        };
        let shown = n
            .builder()
            .id(s.id)
            .title(&s.title)
            .body(&s.body)
            .schedule(Schedule::At {
                date,
                repeating: false,
                allow_while_idle: true,
            })
            .show();
        match shown {
            Ok(()) => tracing::info!(id = s.id, at = %s.at, "notification scheduled"),
            Err(e) => tracing::warn!(id = s.id, error = %e, "cannot schedule a notification"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineup_core::engine::{Phase, Progress};
    use serde_json::json;

    fn due(kind: Kind) -> Due {
        Due {
            campaign_id: "demo".parse().unwrap(),
            kind,
            at: "2026-12-01T10:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn reminders_say_what_is_due_and_never_a_code() {
        let (t, b) = words(&due(Kind::ResultDue), Language::Ko, Some("영화관람 6천원 할인권"));
        assert_eq!(t, "추첨 결과가 나왔습니다");
        assert_eq!(b, "영화관람 6천원 할인권\n앱을 열어 결과를 확인하세요.");
        let (t, b) = words(&due(Kind::ResultDue), Language::En, None);
        assert_eq!(
            (t.as_str(), b.as_str()),
            ("The draw is done", "Open Lineup to see your result.")
        );
        let (t, b) = words(&due(Kind::VoucherDue { auto_issue: true }), Language::Ko, None);
        assert_eq!(
            (t.as_str(), b.as_str()),
            ("할인권이 준비되었습니다", "앱을 열면 할인권 코드를 볼 수 있습니다.")
        );
        let (t, _) = words(&due(Kind::VoucherDue { auto_issue: true }), Language::En, None);
        assert_eq!(t, "Your voucher is ready");
        let (t, b) = words(&due(Kind::VoucherDue { auto_issue: false }), Language::Ko, None);
        assert_eq!(
            (t.as_str(), b.as_str()),
            ("할인권을 받을 차례입니다", "지금 앱을 열면 바로 받습니다.")
        );
    }

    fn in_pre_queue(check_at: chrono::DateTime<chrono::Utc>) -> Progress {
        let mut p = crate::claims::from_record(&lineup_core::engine::ClaimRecord::new(
            "demo".parse().unwrap(),
            "k".into(),
        ));
        p.phase = Phase::PreQueue;
        p.next_check_at = Some(check_at);
        p
    }

    #[test]
    fn the_app_words_what_its_claims_want_in_the_chosen_language_and_respects_the_switch() {
        let app = crate::tests::test_app("http://127.0.0.1:9");
        let state = app.state();
        let now = chrono::Utc::now();
        // A whole second: the schedule keeps whole seconds (rounded up).
        let check_at = chrono::DateTime::from_timestamp(now.timestamp() + 600, 0).unwrap();
        state.record_progress(&in_pre_queue(check_at));
        let (w, scope) = wanted_now(&state, now);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].at, check_at);
        assert_eq!(w[0].title, "추첨 결과가 나왔습니다");
        assert!(scope.contains(&w[0].id));

        let mut settings = state.settings();
        settings.language = Language::En;
        app.invoke("set_settings", json!({ "settings": settings })).unwrap();
        let (en, _) = wanted_now(&state, now);
        assert_eq!((en[0].id, en[0].title.as_str()), (w[0].id, "The draw is done"));

        settings.notifications = false;
        app.invoke("set_settings", json!({ "settings": settings })).unwrap();
        let (off, scope) = wanted_now(&state, now);
        assert!(off.is_empty(), "notifications off: nothing scheduled");
        assert!(scope.contains(&w[0].id), "and what was scheduled is cancelled");
        // On desktop the shell has nothing to schedule: syncing is harmless.
        sync(&state);
    }
}
