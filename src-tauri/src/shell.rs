//! The seam between the app's logic and Tauri: everything the commands and the claim tasks
//! need from the window system (events to the UI, system notifications, the tray). Commands
//! and tasks see only the `Shell` trait, so they are runtime-agnostic and testable with
//! Tauri's mock runtime; `TauriShell` is the one implementation over an `AppHandle`.

use crate::notify::Note;
use serde::Serialize;
use tauri::{AppHandle, Emitter, Runtime};
use tauri_plugin_notification::{NotificationExt, PermissionState};

/// Event names (docs/app-ipc.md).
pub const EVENT_CLAIM_PROGRESS: &str = "claim-progress";
pub const EVENT_WALLET_CHANGED: &str = "wallet-changed";

/// Whether the app may show system notifications, as the UI sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Granted,
    Denied,
    Prompt,
}

impl From<PermissionState> for Permission {
    fn from(p: PermissionState) -> Self {
        match p {
            PermissionState::Granted => Permission::Granted,
            PermissionState::Denied => Permission::Denied,
            PermissionState::Prompt | PermissionState::PromptWithRationale => Permission::Prompt,
        }
    }
}

/// What the app's logic asks of the shell.
pub trait Shell: Send + Sync + 'static {
    /// Sends an event with a JSON payload to every window.
    fn emit_json(&self, event: &str, payload: serde_json::Value);
    /// Shows a system notification.
    fn notify(&self, note: &Note);
    fn permission(&self) -> Permission;
    fn request_permission(&self) -> Permission;
    /// Tells the tray where the claims stand (a no-op without a tray).
    fn tray(&self, state: crate::tray_state::TrayState);
    /// Makes the system's scheduled notifications among `scope` exactly `wanted` (mobile; the
    /// desktop app speaks live instead and schedules nothing).
    fn reschedule(&self, wanted: &[lineup_core::reminders::Scheduled], scope: &std::collections::BTreeSet<i32>);
}

/// The shell over a running Tauri app.
pub struct TauriShell<R: Runtime> {
    app: AppHandle<R>,
}

impl<R: Runtime> TauriShell<R> {
    pub fn new(app: AppHandle<R>) -> Self {
        TauriShell { app }
    }
}

impl<R: Runtime> Shell for TauriShell<R> {
    fn emit_json(&self, event: &str, payload: serde_json::Value) {
        if let Err(e) = self.app.emit(event, payload) {
            tracing::warn!(event, error = %e, "cannot emit an event to the UI");
        }
    }

    fn notify(&self, note: &Note) {
        // Linux: `show` hands the message to a background task and reports no delivery errors;
        // the end-to-end test proves delivery by recording the D-Bus Notify call.
        let shown = self
            .app
            .notification()
            .builder()
            .title(&note.title)
            .body(&note.body)
            .show();
        match shown {
            Ok(()) => tracing::info!(title = %note.title, "notification sent"),
            Err(e) => tracing::warn!(error = %e, "cannot show a notification"),
        }
    }

    fn permission(&self) -> Permission {
        self.app
            .notification()
            .permission_state()
            .map(Permission::from)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the notification permission");
                Permission::Prompt
            })
    }

    fn request_permission(&self) -> Permission {
        self.app
            .notification()
            .request_permission()
            .map(Permission::from)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot request the notification permission");
                Permission::Prompt
            })
    }

    fn tray(&self, state: crate::tray_state::TrayState) {
        #[cfg(desktop)]
        {
            use tauri::Manager;
            if let (Some(tray), Some(app_state)) = (
                self.app.try_state::<crate::tray::Tray<R>>(),
                self.app.try_state::<crate::state::AppState>(),
            ) {
                tray.show(&self.app, state, app_state.language());
            }
        }
        #[cfg(mobile)]
        let _ = state;
    }

    fn reschedule(&self, wanted: &[lineup_core::reminders::Scheduled], scope: &std::collections::BTreeSet<i32>) {
        #[cfg(mobile)]
        {
            let (app, wanted, scope) = (self.app.clone(), wanted.to_vec(), scope.clone());
            // Off the caller's thread: commands may run on the main thread, and the plugin's
            // calls wait for it.
            tauri::async_runtime::spawn_blocking(move || crate::reminders::apply_on_device(&app, &wanted, &scope));
        }
        #[cfg(desktop)]
        tracing::trace!(
            wanted = wanted.len(),
            scope = scope.len(),
            "desktop: reminders are told live, not scheduled"
        );
    }
}
