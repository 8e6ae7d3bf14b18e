//! Desktop tray icon: shows where the claim stands (tooltip and a disabled first menu line) and
//! offers "Open" and "Quit". With it the window can close while a claim runs: the claim goes on
//! in the background and the tray is how the person gets back.

use crate::settings::Language;
use crate::tray_state::{TrayState, status_text};
use tauri::menu::{Menu, MenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

const TRAY_ID: &str = "lineup";
const MENU_OPEN: &str = "open";
const MENU_QUIT: &str = "quit";

fn labels(language: Language) -> (&'static str, &'static str) {
    match language {
        Language::Ko => ("열기", "종료"),
        Language::En => ("Open", "Quit"),
    }
}

/// The status menu line, kept so it can be re-labelled.
pub struct Tray<R: Runtime> {
    status: MenuItem<R>,
}

/// Shows the main window and brings it to the front (tray "Open", a second launch).
pub fn show_main_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        for result in [window.unminimize(), window.show(), window.set_focus()] {
            if let Err(e) = result {
                tracing::warn!(error = %e, "cannot bring the window back");
            }
        }
    }
}

/// Creates the tray icon.
pub fn install<R: Runtime>(app: &AppHandle<R>, language: Language) -> tauri::Result<Tray<R>> {
    let (open, quit) = labels(language);
    let status = MenuItem::with_id(
        app,
        "status",
        status_text(TrayState::Idle, language),
        false,
        None::<&str>,
    )?;
    let open = MenuItem::with_id(app, MENU_OPEN, open, true, None::<&str>)?;
    let quit = MenuItem::with_id(app, MENU_QUIT, quit, true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&status, &open, &quit])?;
    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip(format!("Lineup · {}", status_text(TrayState::Idle, language)))
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            MENU_OPEN => show_main_window(app),
            MENU_QUIT => app.exit(0),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                show_main_window(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    Ok(Tray { status })
}

impl<R: Runtime> Tray<R> {
    /// Re-labels the tray for a new state.
    pub fn show(&self, app: &AppHandle<R>, state: TrayState, language: Language) {
        let text = status_text(state, language);
        if let Err(e) = self.status.set_text(&text) {
            tracing::debug!(error = %e, "cannot relabel the tray menu");
        }
        if let Some(tray) = app.tray_by_id(TRAY_ID)
            && let Err(e) = tray.set_tooltip(Some(format!("Lineup · {text}")))
        {
            tracing::debug!(error = %e, "cannot set the tray tooltip");
        }
    }
}
