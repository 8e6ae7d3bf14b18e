//! Server secrets and files: private modes, the issuer key pinned in the database (a second
//! data directory on the same database may not sign under the pinned kid with another key),
//! key rotation (old vouchers keep verifying), a staff token changed in the configuration,
//! throttled wrong staff tokens, and a redemption replayed after a lost response.

use crate::common::{Backend, Person, TestApp, backends, demo, expect_problem, spawn_app, spawn_app_with};
use lineup_protocol::voucher::verify;
use lineup_protocol::{KeysResponse, ProblemCode, PublicKeySet, Voucher};
use lineup_server::issuer::IssuerError;
use lineup_server::{ConfiguredCampaign, ServerError};
use serde_json::json;
use std::time::Duration;

/// A voucher for `who`: joins after opening (admitted at once) and claims.
async fn voucher_for(app: &TestApp, who: &Person, key: &str) -> Voucher {
    assert_eq!(app.register(who).await, 201);
    let (_, t) = app.take(who).await;
    let (s, v) = app.claim(who, t["ticket_id"].as_str().unwrap(), key).await;
    assert_eq!(s, 201, "{v}");
    serde_json::from_value(v).unwrap()
}

async fn keys(app: &TestApp) -> KeysResponse {
    app.get("/v1/keys").await.json().await.unwrap()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_key_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let outer = tempfile::tempdir().unwrap();
    let data = outer.path().join("data");
    // A data directory an older version left open is tightened too.
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = spawn_app_with(Backend::Sqlite, demo(5, 100, 300), |c| {
        c.data_dir = data.clone();
        c.db = lineup_server::DbLocation::Sqlite(data.join("lineup.db"));
    })
    .await;
    // A write, so the WAL and shared-memory files exist.
    assert_eq!(app.register(&Person::new(1)).await, 201);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("issuer-ed25519.key")), 0o600);
    for f in ["lineup.db", "lineup.db-wal", "lineup.db-shm"] {
        assert!(data.join(f).exists(), "{f}");
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    // A rotated key's file is private as well.
    let (kid, _) = lineup_server::rotate_issuer_key(&app.config).await.unwrap();
    assert_eq!(mode(&data.join(format!("issuer-ed25519-k{kid}.key"))), 0o600);
    app.stop().await;
}

async fn second_data_dir_on_one_database(backend: Backend) {
    let app = spawn_app(backend, demo(5, 100, 300)).await;
    let first_keys = keys(&app).await;
    let other = tempfile::tempdir().unwrap();
    let mut b = app.config.clone();
    b.data_dir = other.path().to_path_buf();
    b.addr = "127.0.0.1:0".parse().unwrap();
    // No key file in the second data directory: it refuses rather than make and sign with one.
    match lineup_server::spawn(b.clone()).await {
        Err(ServerError::Issuer(IssuerError::MissingKey { kid: 1, .. })) => {}
        Err(e) => panic!("{backend:?}: unexpected error {e}"),
        Ok(_) => panic!("{backend:?}: started without the pinned key"),
    }
    assert!(!other.path().join("issuer-ed25519.key").exists());
    // Another key under the pinned kid: refused.
    std::fs::write(other.path().join("issuer-ed25519.key"), [9u8; 32]).unwrap();
    match lineup_server::spawn(b.clone()).await {
        Err(ServerError::Issuer(IssuerError::KeyMismatch { kid: 1, .. })) => {}
        Err(e) => panic!("{backend:?}: unexpected error {e}"),
        Ok(_) => panic!("{backend:?}: signed under the pinned kid with another key"),
    }
    // The same key (copied from the first instance): both serve, with the same keys.
    std::fs::copy(
        app.config.data_dir.join("issuer-ed25519.key"),
        other.path().join("issuer-ed25519.key"),
    )
    .unwrap();
    let second = lineup_server::spawn(b).await.unwrap();
    let second_keys: KeysResponse = reqwest::get(format!("{}/v1/keys", second.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second_keys, first_keys);
    assert_eq!(second.demo_staff_token.as_deref(), Some(app.staff.as_str()));
    second.shutdown().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_data_directory_may_not_sign_under_the_pinned_kid_with_another_key() {
    for b in backends() {
        second_data_dir_on_one_database(b).await;
    }
}

async fn rotation(backend: Backend) {
    let mut app = spawn_app(backend, demo(5, 100, 300)).await;
    app.advance(61);
    let old = voucher_for(&app, &Person::new(1), "k1").await;
    assert_eq!(old.kid, 1);
    let staff = app.staff.clone();
    // Rotated while the server runs (it keeps signing with kid 1 until it restarts).
    let (kid, public_key) = lineup_server::rotate_issuer_key(&app.config).await.unwrap();
    assert_eq!(kid, 2);
    // Restarted: signs with kid 2; the demo staff token is unchanged (restart asserts it).
    app.restart().await;
    assert_eq!(app.running().kid, 2);
    assert_eq!(app.running().public_key, public_key);
    let published = keys(&app).await;
    assert_eq!(published.keys.iter().map(|k| k.kid).collect::<Vec<_>>(), [1, 2]);
    let set = PublicKeySet::from_response(&published).unwrap();
    // The old voucher still verifies offline and at the box office; a new one is signed by kid 2.
    verify(&old.token, &set, Some(app.now())).unwrap();
    let new = voucher_for(&app, &Person::new(2), "k2").await;
    assert_eq!(new.kid, 2);
    verify(&new.token, &set, Some(app.now())).unwrap();
    let (s, r) = app.redeem(&staff, &json!({"token": old.token})).await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = app.redeem(&staff, &json!({"token": new.token})).await;
    assert_eq!(s, 200, "{r}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vouchers_signed_before_a_rotation_keep_verifying() {
    for b in backends() {
        rotation(b).await;
    }
}

fn configured(token: &str, now: chrono::DateTime<chrono::Utc>) -> ConfiguredCampaign {
    let text = format!(
        r#"[[campaign]]
id = "conf"
title = "t"
title_en = "t"
issuer = "i"
brands = ["CGV"]
amount = 6000
currency = "KRW"
supply = 5
prequeue_opens_at = "{p}"
draw_at = "{d}"
opens_at = "{o}"
closes_at = "{c}"
voucher_expires_at = "{e}"
admission_rate_per_s = 10
admission_window_s = 300
staff_token = "{token}"
"#,
        p = now.to_rfc3339(),
        d = (now + chrono::Duration::seconds(30)).to_rfc3339(),
        o = (now + chrono::Duration::seconds(60)).to_rfc3339(),
        c = (now + chrono::Duration::hours(2)).to_rfc3339(),
        e = (now + chrono::Duration::days(30)).to_rfc3339(),
    );
    lineup_server::config::parse_config(&text).unwrap().remove(0)
}

async fn staff_token_change(backend: Backend) {
    let now = chrono::Utc::now();
    let mut app = spawn_app_with(backend, demo(5, 100, 300), |c| {
        c.campaigns = vec![configured("first-token-0123456789", now)];
    })
    .await;
    // A bearer that is some campaign's staff token passes the first check (the empty body is
    // then 400); any other is 401.
    let (s, _) = app.redeem("first-token-0123456789", &json!({})).await;
    assert_eq!(s, 400);
    app.config.campaigns = vec![configured("second-token-0123456789", now)];
    app.restart().await;
    let (s, p) = app.redeem("first-token-0123456789", &json!({})).await;
    assert_eq!((s.as_u16(), p["code"].as_str()), (401, Some("staff_unauthorized")));
    let (s, _) = app.redeem("second-token-0123456789", &json!({})).await;
    assert_eq!(s, 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_token_changed_in_the_configuration_takes_effect_on_restart() {
    for b in backends() {
        staff_token_change(b).await;
    }
}

async fn redemption_retry(backend: Backend) {
    let app = spawn_app(backend, demo(5, 100, 300)).await;
    app.advance(61);
    let v = voucher_for(&app, &Person::new(1), "k1").await;
    let send = |key: Option<&'static str>| {
        let mut rb = app
            .http
            .post(format!("{}/v1/redemptions", app.url))
            .bearer_auth(&app.staff)
            .json(&json!({"code": v.code}));
        if let Some(k) = key {
            rb = rb.header("Idempotency-Key", k);
        }
        rb.send()
    };
    let first = send(Some("scan-1")).await.unwrap();
    assert_eq!(first.status(), 200);
    let first: serde_json::Value = first.json().await.unwrap();
    app.advance(5);
    // The response was lost; the retry with the same key gets the same 200.
    let again = send(Some("scan-1")).await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), first);
    // Another scan of the same voucher (another key, or none) is refused.
    let other = expect_problem(send(Some("scan-2")).await.unwrap(), ProblemCode::AlreadyRedeemed).await;
    assert_eq!(
        other.first_redeemed_at.map(|t| t.to_rfc3339()),
        first["redeemed_at"].as_str().map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&chrono::Utc)
                .to_rfc3339()
        })
    );
    expect_problem(send(None).await.unwrap(), ProblemCode::AlreadyRedeemed).await;
    let bad = app
        .http
        .post(format!("{}/v1/redemptions", app.url))
        .bearer_auth(&app.staff)
        .header("Idempotency-Key", "has space")
        .json(&json!({"code": v.code}))
        .send()
        .await
        .unwrap();
    expect_problem(bad, ProblemCode::InvalidInput).await;
    assert_eq!(
        app.get("/v1/campaigns/demo")
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap()["issued"],
        1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_retried_after_a_lost_response_gets_the_same_200() {
    for b in backends() {
        redemption_retry(b).await;
    }
}

/// The real binary, so its log lines can be read: wrong staff tokens are throttled per address
/// (429 problem+json with Retry-After) and logged without the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_staff_tokens_are_throttled_and_logged_without_the_token() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let data = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_lineup-server"))
        .args(["--addr", "127.0.0.1:0", "--demo", "--data-dir"])
        .arg(data.path())
        .env("LINEUP_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("LINEUP_DB")
        .env_remove("LINEUP_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut staff) = (String::new(), String::new());
    while url.is_empty() || staff.is_empty() {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("the server prints its URL and staff token");
        if let Some(u) = line.strip_prefix("Lineup server listening on ") {
            url = u.trim().to_owned();
        }
        if let Some(t) = line.strip_prefix("Demo staff token: ") {
            staff = t.trim().to_owned();
        }
    }
    let http = reqwest::Client::new();
    let wrong = "wrong-guess-7c1f2e9d4b";
    let post = |token: String| {
        http.post(format!("{url}/v1/redemptions"))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
    };
    for _ in 0..5 {
        let r = post(wrong.into()).await.unwrap();
        assert_eq!(r.status(), 401);
    }
    // Blocked now, even with the right token, before anything is compared.
    for token in [wrong.to_owned(), staff.clone()] {
        let r = post(token).await.unwrap();
        assert_eq!(r.status(), 429);
        let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        let p = expect_problem(r, ProblemCode::RateLimited).await;
        assert_eq!(p.retry_after_s, Some(retry));
    }
    child.start_kill().unwrap();
    let _ = child.wait().await;
    // The log goes to stdout after the lines read above, and to stderr.
    let mut log = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        log.push_str(&line);
        log.push('\n');
    }
    child.stderr.take().unwrap().read_to_string(&mut log).await.unwrap();
    assert_eq!(log.matches("staff token refused").count(), 5, "{log}");
    assert!(log.contains("failures=5"), "{log}");
    assert!(!log.contains(wrong), "the token was logged: {log}");
    assert!(!log.contains(&staff), "the token was logged: {log}");
}
