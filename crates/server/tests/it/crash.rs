//! Exactly-once across a crash of the issuing server (SQLite and PostgreSQL): the real
//! `lineup-server` binary issues opted-in vouchers at their turns and is killed with SIGKILL in
//! the middle of it; a restart on the same database goes on. Nobody holds two vouchers, nobody
//! who won is left without one, the campaign's counter equals the vouchers that exist (every
//! batch was committed whole or not at all), and serials are dense.

use crate::common::Person;
use lineup_protocol::auth::sign_request;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const PEOPLE: u32 = 600;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_issuer_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    killed_mid_issuance(&dir.path().join("lineup.db").display().to_string(), dir.path()).await;
    if crate::postgres::admin_url().is_some() {
        let db = crate::postgres::PgDb::fresh().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        killed_mid_issuance(&db.url, dir.path()).await;
        db.drop().await;
    }
}

struct Server {
    child: Child,
    url: String,
}

async fn start(db: &str, data: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lineup-server"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--demo",
            "--verify-contacts",
            "off",
            "--db",
            db,
            "--rate-per-address",
            "0",
        ])
        .arg("--data-dir")
        .arg(data)
        // 600 vouchers, opening 14 s after the first start, 150 admissions/s: issuance by the
        // server runs for 4 s, long enough to be killed in the middle.
        .args(["--demo-vouchers", "600", "--demo-open-in", "14", "--demo-rate", "150"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the server printed its address")
            .unwrap()
            .expect("the server exited before listening");
        if let Some(u) = line.strip_prefix("Lineup server listening on ") {
            break u.trim().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server { child, url }
}

async fn signed(
    http: &reqwest::Client,
    url: &str,
    who: &Person,
    method: Method,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> reqwest::Response {
    let bytes = body.map(|b| serde_json::to_vec(&b).unwrap()).unwrap_or_default();
    let ts = chrono::Utc::now().timestamp();
    let mut rb = http.request(method.clone(), format!("{url}{path}")).header(
        "Authorization",
        sign_request(&who.key, &url.parse().unwrap(), method.as_str(), path, ts, &bytes),
    );
    if !bytes.is_empty() {
        rb = rb.header("Content-Type", "application/json");
    }
    if let Some(k) = key {
        rb = rb.header("Idempotency-Key", k);
    }
    rb.body(bytes).send().await.unwrap()
}

async fn campaign(http: &reqwest::Client, url: &str) -> Value {
    http.get(format!("{url}/v1/campaigns/demo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn killed_mid_issuance(db: &str, data: &std::path::Path) {
    let http = reqwest::Client::new();
    let mut server = start(db, data).await;
    let people: Vec<Person> = (0..PEOPLE).map(|n| Person::new(50_000 + n)).collect();
    // Everyone registers and opts in (a few at a time).
    let url = server.url.clone();
    let mut joins = Vec::new();
    for w in 0..8u32 {
        let (http, url) = (http.clone(), url.clone());
        joins.push(tokio::spawn(async move {
            for p in (0..PEOPLE).filter(|n| n % 8 == w).map(|n| Person::new(50_000 + n)) {
                let p = &p;
                let body = json!({"contact": p.contact, "consent": true});
                let r = signed(&http, &url, p, Method::POST, "/v1/identities", Some(body), None).await;
                assert_eq!(r.status(), StatusCode::CREATED);
                let r = signed(
                    &http,
                    &url,
                    p,
                    Method::POST,
                    "/v1/campaigns/demo/tickets",
                    Some(json!({"auto_issue": true})),
                    Some("k"),
                )
                .await;
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        }));
    }
    for j in joins {
        j.await.unwrap();
    }
    // Kill it once it has issued some but not all.
    let deadline = Instant::now() + Duration::from_secs(40);
    let at_kill = loop {
        let c = campaign(&http, &server.url).await;
        let issued = c["issued"].as_u64().unwrap();
        if issued >= 100 {
            break issued;
        }
        assert!(Instant::now() < deadline, "issuance never started: {c}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    assert!(
        at_kill < u64::from(PEOPLE),
        "killed after issuance finished ({at_kill}); the test proves nothing"
    );

    // Restart on the same database: issuance goes on to the end.
    let mut server = start(db, data).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = campaign(&http, &server.url).await;
        if c["issued"].as_u64().unwrap() == u64::from(PEOPLE) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "issuance did not finish after the restart: {c}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut serials = HashSet::new();
    for p in &people {
        let r = signed(&http, &server.url, p, Method::GET, "/v1/vouchers", None, None).await;
        let list: Value = r.json().await.unwrap();
        let vs = list["vouchers"].as_array().unwrap();
        assert_eq!(vs.len(), 1, "{} holds {} vouchers", p.contact, vs.len());
        assert!(
            serials.insert(vs[0]["serial"].as_u64().unwrap()),
            "a serial given twice"
        );
    }
    let expected: HashSet<u64> = (1..=u64::from(PEOPLE)).collect();
    assert_eq!(serials, expected, "serials are dense: no batch half-written");
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
}
