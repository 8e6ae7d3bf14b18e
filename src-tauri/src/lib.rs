//! Lineup's Tauri 2 shell: thin commands over `lineup-core` (docs/app-ipc.md), claim progress
//! to the UI as events, system notifications, and on desktop a tray icon and a single
//! instance. The same library is the desktop binary's body and the Android/iOS entry point.

mod claims;
mod commands;
mod config;
mod error;
mod notify;
mod settings;
mod shell;
mod state;
#[cfg(desktop)]
mod tray;
mod tray_state;

pub use config::Config;
pub use error::{AppError, ErrorCode};
pub use settings::{Language, ServerUrl, Settings};
pub use state::Secrets;

use shell::TauriShell;
use state::AppState;
use std::sync::Arc;
use tauri::{Manager, Runtime};

/// Starts the app (desktop `main`, and the mobile entry point).
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    init_tracing();
    let config = Config::from_args();
    let builder = tauri::Builder::default();
    #[cfg(desktop)]
    let builder = builder.plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
        // A second launch only brings the first one's window forward.
        tray::show_main_window(app);
    }));
    let app = match run_app(builder, config, Secrets::Platform).build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "Lineup could not start");
            eprintln!("Lineup could not start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|_, _| {});
}

/// Registers the plugins, state and commands on any runtime (the real one or the mock one in tests).
pub fn run_app<R: Runtime>(builder: tauri::Builder<R>, config: Config, secrets: Secrets) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_notification::init())
        .setup(move |app| {
            init(app.handle(), &config, secrets)?;
            let state = app.state::<AppState>().inner().clone();
            tauri::async_runtime::spawn(async move { claims::resume_unfinished(&state).await });
            // Setup runs once the real event loop starts, never under the tests' mock runtime,
            // so the tray (which needs a window system) is made here.
            #[cfg(desktop)]
            {
                let language = app.state::<AppState>().language();
                match tray::install(app.handle(), language) {
                    Ok(tray) => {
                        app.manage(tray);
                    }
                    // Some desktops have no tray host; the app still works with its window.
                    Err(e) => tracing::warn!(error = %e, "no tray icon"),
                }
            }
            Ok(())
        })
        .on_window_event(on_window_event)
        .invoke_handler(commands::handler())
}

/// Opens the profile and puts the app state under Tauri's management (run by `setup`; the
/// tests call it directly).
pub(crate) fn init<R: Runtime>(app: &tauri::AppHandle<R>, config: &Config, secrets: Secrets) -> Result<(), AppError> {
    let data_dir = match &config.data_dir {
        Some(dir) => dir.clone(),
        None => app
            .path()
            .app_data_dir()
            .map_err(|e| AppError::internal(format!("no app data directory: {e}")))?,
    };
    tracing::info!(data_dir = %data_dir.display(), "starting");
    let shell = Arc::new(TauriShell::new(app.clone()));
    app.manage(AppState::new(data_dir, config, secrets, shell)?);
    Ok(())
}

/// Closing the window while a claim runs keeps the claim going: the window hides to the tray.
fn on_window_event<R: Runtime>(window: &tauri::Window<R>, event: &tauri::WindowEvent) {
    #[cfg(desktop)]
    if let tauri::WindowEvent::CloseRequested { api, .. } = event {
        let busy = window.try_state::<AppState>().is_some_and(|s| s.claim_running());
        if busy && window.app_handle().try_state::<tray::Tray<R>>().is_some() {
            api.prevent_close();
            if let Err(e) = window.hide() {
                tracing::warn!(error = %e, "cannot hide the window");
            }
            tracing::info!("window hidden to the tray while a claim runs");
        }
    }
    #[cfg(mobile)]
    let _ = (window, event);
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINEUP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,lineup_app_lib=debug"));
    // A second initialisation (tests) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    //! The commands through Tauri's mock runtime: real IPC plumbing (argument parsing, state,
    //! error serialisation), no window system.

    use super::*;
    use serde_json::{Value, json};
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
    use tauri::webview::InvokeRequest;

    pub(crate) struct TestApp {
        _app: tauri::App<MockRuntime>,
        webview: tauri::WebviewWindow<MockRuntime>,
        pub(crate) dir: tempfile::TempDir,
    }

    pub(crate) fn test_app(server: &str) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            server: Some(server.parse().unwrap()),
            data_dir: Some(dir.path().join("data")),
        };
        // The real context: its capabilities (capabilities/default.json) decide what the window
        // may invoke, so a command missing from them fails here as it would in the app.
        let app = run_app(mock_builder(), config.clone(), Secrets::Memory)
            .build(tauri::generate_context!())
            .unwrap();
        init(app.handle(), &config, Secrets::Memory).unwrap();
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();
        TestApp {
            _app: app,
            webview,
            dir,
        }
    }

    impl TestApp {
        /// Invokes a command as the UI would; Err carries the rejection payload.
        pub(crate) fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
            let request = InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                // The origin Tauri serves the bundled UI from on Linux and macOS.
                url: "tauri://localhost".parse().unwrap(),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            };
            get_ipc_response(&self.webview, request).map(|body| body.deserialize::<Value>().unwrap())
        }
    }

    #[test]
    fn settings_round_trip_through_ipc_and_disk() {
        let app = test_app("http://127.0.0.1:9");
        let s = app.invoke("get_settings", json!({})).unwrap();
        assert_eq!(
            s,
            json!({"server_url": "http://127.0.0.1:9", "language": "ko", "notifications": true})
        );

        let new = json!({"server_url": "https://claims.example.kr/", "language": "en", "notifications": false});
        let saved = app.invoke("set_settings", json!({"settings": new})).unwrap();
        assert_eq!(saved["server_url"], "https://claims.example.kr");
        assert_eq!(app.invoke("get_settings", json!({})).unwrap(), saved);
        let on_disk: Value =
            serde_json::from_slice(&std::fs::read(app.dir.path().join("data/settings.json")).unwrap()).unwrap();
        assert_eq!(on_disk, saved);
    }

    #[test]
    fn a_bad_server_url_is_refused_at_the_boundary() {
        let app = test_app("http://127.0.0.1:9");
        let bad = json!({"settings": {"server_url": "file:///etc/passwd", "language": "ko", "notifications": true}});
        let err = app.invoke("set_settings", bad).unwrap_err();
        assert_eq!(err["code"], "invalid_input", "{err}");
        assert!(err["message"].as_str().is_some_and(|m| m.contains("http")), "{err}");
        assert_eq!(
            app.invoke("get_settings", json!({})).unwrap()["server_url"],
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn notification_permission_is_reported_as_the_contract_says() {
        let app = test_app("http://127.0.0.1:9");
        let p = app.invoke("notification_permission", json!({})).unwrap();
        assert!(
            ["granted", "denied", "prompt"].contains(&p.as_str().unwrap_or("")),
            "{p}"
        );
    }

    #[test]
    fn a_fresh_profile_is_not_registered_and_cannot_arm() {
        let app = test_app("http://127.0.0.1:9");
        let status = app.invoke("identity_status", json!({})).unwrap();
        assert_eq!(
            status,
            json!({"registered": false, "contact_hint": null, "server_url": "http://127.0.0.1:9", "identity": null})
        );
        let err = app.invoke("arm_claim", json!({"campaign_id": "demo"})).unwrap_err();
        assert_eq!(err["code"], "not_registered", "{err}");
        assert_eq!(
            app.invoke("claim_status", json!({"campaign_id": "demo"})).unwrap(),
            Value::Null
        );
        assert_eq!(app.invoke("wallet", json!({})).unwrap(), json!([]));
    }

    #[test]
    fn arguments_are_parsed_at_the_boundary() {
        let app = test_app("http://127.0.0.1:9");
        let err = app
            .invoke("arm_claim", json!({"campaign_id": "../../etc"}))
            .unwrap_err();
        assert_eq!(err["code"], "invalid_input", "{err}");
        let err = app
            .invoke("register", json!({"contact": "not a contact", "consent": true}))
            .unwrap_err();
        assert_eq!(err["code"], "invalid_input", "{err}");
        let err = app
            .invoke("register", json!({"contact": "+82 10-1234-5678", "consent": false}))
            .unwrap_err();
        assert_eq!(err["code"], "consent_required", "{err}");
    }

    #[test]
    fn an_unreachable_server_is_reported_as_offline() {
        // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        let app = test_app("http://127.0.0.1:9");
        let err = app.invoke("list_campaigns", json!({})).unwrap_err();
        assert_eq!(err["code"], "offline", "{err}");
        let err = app
            .invoke("register", json!({"contact": "e2e@lineup.test", "consent": true}))
            .unwrap_err();
        assert_eq!(err["code"], "offline", "{err}");
        // The key was made (in the in-memory store) but the profile does not claim a registration.
        let status = app.invoke("identity_status", json!({})).unwrap();
        assert_eq!(status["registered"], false);
        assert!(status["identity"].as_str().is_some_and(|k| k.len() == 43), "{status}");
    }
}
