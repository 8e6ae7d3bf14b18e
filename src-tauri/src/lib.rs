//! Lineup's Tauri 2 shell: thin commands over `lineup-core` (docs/app-ipc.md), claim progress
//! to the UI as events, system notifications, and on desktop a tray icon and a single
//! instance. The same library is the desktop binary's body and the Android/iOS entry point.

#[cfg(target_os = "android")]
mod android;
mod claims;
mod commands;
mod config;
mod enrol;
mod error;
mod notify;
mod reminders;
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
            let watcher = state.clone();
            // Android: HTTPS and the keystore need the app's JNI context first (android.rs).
            #[cfg(target_os = "android")]
            android::init(app.handle());
            tauri::async_runtime::spawn(async move {
                #[cfg(target_os = "android")]
                android::ready().await;
                claims::resume_unfinished(&state).await;
                // Also cancels what an earlier run scheduled for claims that ended since.
                reminders::sync(&state);
            });
            // Desktop: nothing tells the app the machine slept, so it watches the clocks. Mobile:
            // the window's `Resumed` event says it (on_window_event).
            #[cfg(desktop)]
            tauri::async_runtime::spawn(claims::watch_for_wakeups(watcher));
            #[cfg(mobile)]
            drop(watcher);
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
    if let tauri::WindowEvent::Resumed = event
        && let Some(state) = window.try_state::<AppState>()
    {
        let state = state.inner().clone();
        tauri::async_runtime::spawn(async move {
            #[cfg(target_os = "android")]
            android::ready().await;
            claims::reanchor(&state, None).await
        });
    }
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
        app: tauri::App<MockRuntime>,
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
        TestApp { app, webview, dir }
    }

    impl TestApp {
        /// Invokes a command as the UI would; Err carries the rejection payload.
        pub(crate) fn state(&self) -> AppState {
            self.app.state::<AppState>().inner().clone()
        }

        /// Collects the payloads of an event the app emits.
        pub(crate) fn events(&self, event: &str) -> std::sync::mpsc::Receiver<Value> {
            use tauri::Listener;
            let (tx, rx) = std::sync::mpsc::channel();
            self.app.handle().listen_any(event, move |e| {
                let _ = tx.send(serde_json::from_str(e.payload()).unwrap_or(Value::Null));
            });
            rx
        }

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
            json!({"server_url": "http://127.0.0.1:9", "language": "ko", "notifications": true,
                   "hide_code_on_lock_screen": cfg!(mobile)})
        );

        let new = json!({"server_url": "https://claims.example.kr/", "language": "en", "notifications": false,
                         "hide_code_on_lock_screen": true});
        let saved = app.invoke("set_settings", json!({"settings": new})).unwrap();
        assert_eq!(saved["server_url"], "https://claims.example.kr");
        assert_eq!(saved["hide_code_on_lock_screen"], true);
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

    /// A claim server that answers from `route(method, path)` with (status, body); bodies of
    /// 4xx/5xx are sent as problem+json. Requests are counted by "METHOD path".
    pub(crate) struct FakeServer {
        pub(crate) url: String,
        seen: Arc<std::sync::Mutex<Vec<String>>>,
        bodies: Arc<std::sync::Mutex<Vec<(String, String)>>>,
    }

    impl FakeServer {
        pub(crate) fn start(route: impl Fn(&str, &str) -> (u16, String) + Send + 'static) -> Self {
            use std::io::{BufRead, BufReader, Read, Write};
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
            let log = seen.clone();
            let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
            let body_log = bodies.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    let Ok(mut conn) = conn else { continue };
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        continue;
                    }
                    let mut parts = line.split_whitespace();
                    let (method, path) = (
                        parts.next().unwrap_or("").to_owned(),
                        parts.next().unwrap_or("").to_owned(),
                    );
                    let mut length = 0;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    let _ = reader.read_exact(&mut body);
                    log.lock().unwrap().push(format!("{method} {path}"));
                    body_log
                        .lock()
                        .unwrap()
                        .push((format!("{method} {path}"), String::from_utf8_lossy(&body).into_owned()));
                    let (status, text) = route(&method, &path);
                    let kind = if status >= 400 {
                        "application/problem+json"
                    } else {
                        "application/json"
                    };
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    );
                }
            });
            FakeServer { url, seen, bodies }
        }

        /// The bodies sent with `request` ("METHOD path"), in order.
        pub(crate) fn bodies(&self, request: &str) -> Vec<String> {
            self.bodies
                .lock()
                .unwrap()
                .iter()
                .filter(|(r, _)| r == request)
                .map(|(_, b)| b.clone())
                .collect()
        }

        pub(crate) fn count(&self, request: &str) -> usize {
            self.seen.lock().unwrap().iter().filter(|r| *r == request).count()
        }
    }

    /// The campaign `demo`, open now.
    pub(crate) fn open_campaign() -> lineup_protocol::Campaign {
        let now = chrono::Utc::now();
        lineup_protocol::Campaign {
            id: "demo".parse().unwrap(),
            title: "영화".into(),
            title_en: "Cinema".into(),
            issuer: "t".into(),
            brands: vec![],
            amount: 6000,
            currency: "KRW".into(),
            supply: 10,
            remaining: 9,
            entrants: 20,
            issued: 1,
            phase: lineup_protocol::CampaignPhase::Open,
            prequeue_opens_at: now - chrono::Duration::hours(2),
            draw_at: now - chrono::Duration::hours(1),
            opens_at: now - chrono::Duration::minutes(30),
            closes_at: now + chrono::Duration::hours(5),
            voucher_expires_at: now + chrono::Duration::days(30),
            admission_rate_per_s: 10,
            admission_window_s: 300,
            server_time: now,
        }
    }

    pub(crate) fn registration() -> String {
        json!({"identity": lineup_protocol::IdentityKey([1; 32]), "registered_at": "2026-01-01T00:00:00Z"}).to_string()
    }

    pub(crate) fn returned_ticket(voucher: Option<lineup_protocol::Voucher>) -> String {
        let now = chrono::Utc::now();
        serde_json::to_string(&lineup_protocol::TicketStatus {
            campaign_id: "demo".parse().unwrap(),
            ticket_id: "tk-1".into(),
            state: lineup_protocol::TicketState::Returned,
            joined_at: now,
            in_draw: true,
            auto_issue: true,
            position: Some(lineup_protocol::Position(4)),
            ahead: None,
            waitlist: None,
            admit_at: None,
            admit_until: None,
            check_at: None,
            voucher,
            server_time: now,
        })
        .unwrap()
    }

    /// An unused voucher valid for a month.
    pub(crate) fn fresh_voucher() -> lineup_protocol::Voucher {
        let mut v = crate::notify::tests::voucher();
        v.expires_at = chrono::Utc::now() + chrono::Duration::days(30);
        v
    }

    pub(crate) fn save_record(app: &TestApp, phase: lineup_core::engine::Phase, ticket: bool, voucher: bool) {
        use lineup_core::driver::{FileRecordStore, RecordStore};
        let state = app.state();
        let mut r = lineup_core::engine::ClaimRecord::new("demo".parse().unwrap(), "key-1".into());
        r.phase = phase;
        r.ticket_id = ticket.then(|| "tk-1".into());
        r.voucher = voucher.then(fresh_voucher);
        r.attempts = 3;
        FileRecordStore::new(&state.profile, &state.server_url())
            .save(&r)
            .unwrap();
    }

    fn stored_phase(app: &TestApp) -> lineup_core::engine::Phase {
        use lineup_core::driver::{FileRecordStore, RecordStore};
        let state = app.state();
        FileRecordStore::new(&state.profile, &state.server_url())
            .load(&"demo".parse().unwrap())
            .unwrap()
            .unwrap()
            .phase
    }

    /// Starts a claim task for `id` that never ends by itself; the receiver hears when its
    /// future is dropped (the task was stopped).
    fn spawn_endless_claim(state: &AppState, id: &lineup_protocol::CampaignId) -> std::sync::mpsc::Receiver<()> {
        let (stopped_tx, stopped_rx) = std::sync::mpsc::channel::<()>();
        struct Dropped(std::sync::mpsc::Sender<()>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        assert!(state.spawn_claim(id, async move {
            let _d = Dropped(stopped_tx);
            std::future::pending::<()>().await;
        }));
        stopped_rx
    }

    pub(crate) fn register(app: &TestApp) {
        app.invoke("register", json!({"contact": "e2e@lineup.test", "consent": true}))
            .unwrap();
    }

    #[test]
    fn give_back_without_a_claim_is_no_ticket() {
        let app = test_app("http://127.0.0.1:9");
        let err = app.invoke("give_back", json!({"campaign_id": "demo"})).unwrap_err();
        assert_eq!(err["code"], "no_ticket", "{err}");
        let err = app.invoke("give_back", json!({"campaignId": "demo"})).unwrap_err();
        assert!(
            err.to_string().contains("campaign_id"),
            "snake_case arguments only: {err}"
        );
        let err = app.invoke("give_back", json!({"campaign_id": "../x"})).unwrap_err();
        assert_eq!(err["code"], "invalid_input", "{err}");
    }

    #[test]
    fn give_back_before_a_place_stops_the_task_and_stays_returned() {
        use lineup_core::engine::Phase;
        // Nothing was sent yet (waiting for the pre-queue): no server and no registration needed.
        let app = test_app("http://127.0.0.1:9");
        save_record(&app, Phase::WaitingOpen, false, false);
        let state = app.state();
        let id: lineup_protocol::CampaignId = "demo".parse().unwrap();
        let stopped_rx = spawn_endless_claim(&state, &id);
        assert!(state.is_running(&id) && state.claim_running());
        let progress = app.events("claim-progress");
        let wallet = app.events("wallet-changed");

        let p = app.invoke("give_back", json!({"campaign_id": "demo"})).unwrap();
        assert_eq!(p["phase"], "returned", "{p}");
        assert_eq!(p["voucher"], Value::Null);
        assert_eq!(p["next_check_at"], Value::Null);
        // The task's future was dropped: its sender is gone (whether or not it ever ran).
        assert_ne!(
            stopped_rx.recv_timeout(std::time::Duration::from_secs(5)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout),
            "the claim task was stopped"
        );
        assert!(!state.is_running(&id) && !state.claim_running());
        assert_eq!(stored_phase(&app), Phase::Returned, "a restart does not resume it");
        let emitted = progress.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(emitted, p);
        assert!(wallet.try_recv().is_err(), "no voucher, no wallet change");

        // Idempotent, and what claim_status says from now on.
        assert_eq!(app.invoke("give_back", json!({"campaign_id": "demo"})).unwrap(), p);
        assert_eq!(app.invoke("claim_status", json!({"campaign_id": "demo"})).unwrap(), p);
    }

    #[test]
    fn waking_up_restarts_a_running_claim_from_the_server() {
        use lineup_core::engine::Phase;
        let campaign = serde_json::to_string(&open_campaign()).unwrap();
        let claimed = {
            let mut t: lineup_protocol::TicketStatus =
                serde_json::from_str(&returned_ticket(Some(fresh_voucher()))).unwrap();
            t.state = lineup_protocol::TicketState::Claimed;
            serde_json::to_string(&t).unwrap()
        };
        let server = FakeServer::start(move |method, path| match (method, path) {
            ("POST", "/v1/identities") => (201, registration()),
            ("GET", "/v1/campaigns/demo") => (200, campaign.clone()),
            ("GET", "/v1/keys") => (200, json!({"keys": []}).to_string()),
            ("GET", "/v1/campaigns/demo/tickets/me") => (200, claimed.clone()),
            ("GET", "/v1/vouchers") => (200, json!({"vouchers": [fresh_voucher()]}).to_string()),
            _ => (
                404,
                json!({"code": "not_found", "title": "x", "status": 404, "detail": "x"}).to_string(),
            ),
        });
        let app = test_app(&server.url);
        register(&app);
        // A claim in line whose task sleeps until an instant the (suspended) monotonic clock
        // has not reached.
        save_record(&app, Phase::InLine, true, false);
        let state = app.state();
        let id: lineup_protocol::CampaignId = "demo".parse().unwrap();
        let stopped_rx = spawn_endless_claim(&state, &id);
        tauri::async_runtime::block_on(crate::claims::reanchor(&state, Some(600_000)));
        assert_ne!(
            stopped_rx.recv_timeout(std::time::Duration::from_secs(5)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout),
            "the sleeping task was stopped"
        );
        // Taken up again: one status read, and the voucher the server issued meanwhile is held.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while stored_phase(&app) != Phase::Holding {
            assert!(std::time::Instant::now() < deadline, "the claim was not taken up again");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(server.count("GET /v1/campaigns/demo/tickets/me"), 1);
        assert!(server.count("GET /v1/vouchers") >= 1, "the wallet was refreshed");
    }

    #[test]
    fn give_back_of_an_unused_voucher_marks_it_returned_everywhere() {
        use lineup_core::engine::Phase;
        let server = FakeServer::start(|method, path| match (method, path) {
            ("POST", "/v1/identities") => (201, registration()),
            ("POST", "/v1/campaigns/demo/tickets/me/return") => {
                let mut v = fresh_voucher();
                v.status = lineup_protocol::VoucherStatus::Returned;
                (200, returned_ticket(Some(v)))
            }
            _ => (
                404,
                json!({"code": "not_found", "title": "x", "status": 404, "detail": "x"}).to_string(),
            ),
        });
        let app = test_app(&server.url);
        register(&app);
        save_record(&app, Phase::Holding, true, true);
        let state = app.state();
        state
            .wallet()
            .add(&server.url, fresh_voucher(), Some("영화".into()))
            .unwrap();
        assert_eq!(app.invoke("wallet", json!({})).unwrap()[0]["status"], "unused");
        let wallet_events = app.events("wallet-changed");
        let progress = app.events("claim-progress");

        let p = app.invoke("give_back", json!({"campaign_id": "demo"})).unwrap();
        assert_eq!(p["phase"], "returned", "{p}");
        assert_eq!(p["voucher"]["status"], "returned", "{p}");
        assert_eq!(p["attempts"], 4);
        assert_eq!(server.count("POST /v1/campaigns/demo/tickets/me/return"), 1);
        let w = app.invoke("wallet", json!({})).unwrap();
        assert_eq!(w.as_array().map(Vec::len), Some(1), "{w}");
        assert_eq!(w[0]["status"], "returned", "{w}");
        assert_eq!(w[0]["campaign_title"], "영화", "{w}");
        let changed = wallet_events.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(changed[0]["status"], "returned", "{changed}");
        assert_eq!(progress.recv_timeout(std::time::Duration::from_secs(5)).unwrap(), p);
        assert_eq!(stored_phase(&app), Phase::Returned);

        // Again: the same answer, without asking the server.
        assert_eq!(app.invoke("give_back", json!({"campaign_id": "demo"})).unwrap(), p);
        assert_eq!(server.count("POST /v1/campaigns/demo/tickets/me/return"), 1);
    }

    #[test]
    fn a_refused_give_back_keeps_the_claim_and_a_final_claim_is_answered_unchanged() {
        use lineup_core::engine::Phase;
        let server = FakeServer::start(|method, path| match (method, path) {
            ("POST", "/v1/identities") => (201, registration()),
            ("POST", "/v1/campaigns/demo/tickets/me/return") => (
                409,
                serde_json::to_string(&lineup_protocol::Problem::new(
                    lineup_protocol::ProblemCode::AlreadyRedeemed,
                    "used at the box office",
                ))
                .unwrap(),
            ),
            _ => (404, "{}".into()),
        });
        let app = test_app(&server.url);
        register(&app);
        save_record(&app, Phase::Holding, true, true);
        let err = app.invoke("give_back", json!({"campaign_id": "demo"})).unwrap_err();
        assert_eq!(err["code"], "already_redeemed", "{err}");
        assert_eq!(stored_phase(&app), Phase::Holding);

        save_record(&app, Phase::SoldOut, true, false);
        let p = app.invoke("give_back", json!({"campaign_id": "demo"})).unwrap();
        assert_eq!(p["phase"], "sold_out", "{p}");
        assert_eq!(stored_phase(&app), Phase::SoldOut);
        assert_eq!(server.count("POST /v1/campaigns/demo/tickets/me/return"), 1);
    }
}
