//! Web Push end to end, on SQLite and PostgreSQL, against a real receiver written independently
//! of the sender (tests/push/receiver.py: Python `http_ece` and `cryptography`). The receiver
//! checks every request's VAPID JWT and headers and decrypts each payload with the
//! subscriber's private key (another key must fail); the test checks what arrived: draw
//! results, vouchers issued by the server (code only inside the encrypted payload; hidden from
//! the visible text unless allowed), a returned voucher reaching the waitlist; a 410 removes the
//! subscription; a 500 is retried; slow push services delay neither issuance nor other pushes;
//! a server that was not sending derives every missed push after a restart.
//!
//! The receiver needs a Python with `http-ece` and `cryptography`: scripts/test prepares it
//! (`ensure_push_venv`), or set `LINEUP_PUSH_PYTHON`. Without it the test fails, unless
//! `LINEUP_SKIP_PUSH=1`.

use crate::common::*;
use lineup_protocol::ProblemCode;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

/// The Python that runs the receiver, or `None` when the test is explicitly skipped.
fn python() -> Option<String> {
    if std::env::var("LINEUP_SKIP_PUSH").as_deref() == Ok("1") {
        eprintln!("LINEUP_SKIP_PUSH=1: the Web Push receiver test is skipped");
        return None;
    }
    let py = std::env::var("LINEUP_PUSH_PYTHON").unwrap_or_else(|_| {
        let cache = std::env::var("XDG_CACHE_HOME")
            .unwrap_or_else(|_| format!("{}/.cache", std::env::var("HOME").unwrap_or_default()));
        format!("{cache}/lineup/push-venv/bin/python")
    });
    let ok = std::process::Command::new(&py)
        .args(["-c", "import http_ece, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no Python with http-ece and cryptography at {py}: run scripts/test (it prepares the venv), or \
         `python3 -m venv ~/.cache/lineup/push-venv && ~/.cache/lineup/push-venv/bin/pip install -r tests/push/requirements.txt`, \
         or set LINEUP_PUSH_PYTHON; LINEUP_SKIP_PUSH=1 skips this test"
    );
    Some(py)
}

/// A running receiver (killed when dropped).
struct Receiver {
    _child: tokio::process::Child,
    url: String,
    http: reqwest::Client,
}

impl Receiver {
    async fn start(py: &str, vapid_key: &str) -> Receiver {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/push/receiver.py");
        let mut child = tokio::process::Command::new(py)
            .args([script, "--vapid-key", vapid_key, "--slow-s", "3", "--fail-times", "2"])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the receiver");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the receiver did not start within 20 s")
            .unwrap()
            .expect("the receiver printed nothing");
        let port = serde_json::from_str::<Value>(&first).unwrap()["port"].as_u64().unwrap();
        Receiver {
            _child: child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    /// A new subscriber `name`: its endpoint and public keys.
    async fn subscriber(&self, name: &str) -> Value {
        self.http
            .get(format!("{}/subscriber/{name}", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn records(&self) -> (Vec<Value>, u64) {
        let v: Value = self
            .http
            .get(format!("{}/records", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            v["records"].as_array().unwrap().clone(),
            v["in_progress"].as_u64().unwrap(),
        )
    }

    /// Waits (real time, at most `secs`) until `pred` holds over the records.
    async fn wait(&self, secs: u64, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let (r, _) = self.records().await;
            if pred(&r) {
                return r;
            }
            assert!(Instant::now() < until, "{what} within {secs} s; records: {r:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn delivered<'a>(records: &'a [Value], name: &str, kind: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["name"] == name && r["status"] == 201 && r["payload"]["kind"] == kind)
        .collect()
}

impl TestApp {
    async fn subscribe(&self, who: &Person, sub: &Value, hide_code: bool) -> reqwest::Response {
        let body = json!({
            "endpoint": sub["endpoint"],
            "keys": {"p256dh": sub["p256dh"], "auth": sub["auth"]},
            "hide_code": hide_code,
        });
        self.signed(who, Method::POST, "/v1/push/subscriptions", Some(&body), &[])
            .await
    }

    async fn take_opted_in(&self, who: &Person) {
        let key = format!("auto-{}", who.contact);
        let r = self
            .signed(
                who,
                Method::POST,
                "/v1/campaigns/demo/tickets",
                Some(&json!({"auto_issue": true})),
                &[("Idempotency-Key", key.as_str())],
            )
            .await;
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    async fn voucher_codes(&self, who: &Person) -> Vec<String> {
        let r = self.signed(who, Method::GET, "/v1/vouchers", None, &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        v["vouchers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["status"] == "unused")
            .map(|v| v["code"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn push_config(c: &mut lineup_server::ServerConfig) {
    c.push.allow_private_endpoints = true;
    c.push.timeout = Duration::from_secs(1);
    c.push.retry.base = chrono::Duration::milliseconds(200);
    c.push.retry.max_attempts = 8;
    c.push.draw_window = Duration::from_secs(1);
    c.push.tick = Duration::from_millis(50);
    c.push.max_subscriptions = 3;
    // Two requests at once: two slow push services occupy the sender entirely.
    c.push.in_flight = 2;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_reach_a_real_receiver() {
    let Some(py) = python() else { return };
    for backend in backends() {
        pushes(backend, &py).await;
    }
}

async fn pushes(backend: Backend, py: &str) {
    // 3 vouchers, 1000 admissions/s, 60 s windows; 8 people, all opted in to server issuance.
    let app = spawn_app_with(backend, demo(3, 1000, 60), push_config).await;
    let r = app.get("/v1/push/vapid").await;
    assert_eq!(r.status(), StatusCode::OK);
    let vapid = r.json::<Value>().await.unwrap()["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let rx = Receiver::start(py, &vapid).await;
    let people: Vec<Person> = (0..8).map(|n| Person::new(900 + n)).collect();
    for p in &people {
        assert_eq!(app.register(p).await, StatusCode::CREATED);
    }

    // Refusals.
    let ok0 = rx.subscriber("ok-0").await;
    let stranger = Person::new(999);
    expect_problem(app.subscribe(&stranger, &ok0, true).await, ProblemCode::UnknownIdentity).await;
    let mut bad = ok0.clone();
    bad["endpoint"] = json!("ftp://127.0.0.1/x");
    expect_problem(app.subscribe(&people[0], &bad, true).await, ProblemCode::InvalidInput).await;
    let mut bad = ok0.clone();
    bad["p256dh"] = json!("AAAA");
    expect_problem(app.subscribe(&people[0], &bad, true).await, ProblemCode::InvalidInput).await;
    let mut bad = ok0.clone();
    // 65 bytes starting 0x04 that are not a point on the curve.
    bad["p256dh"] = json!(format!("BA{}", "A".repeat(85)));
    expect_problem(app.subscribe(&people[0], &bad, true).await, ProblemCode::InvalidInput).await;

    // Everyone has a working device; person 4 lets the code show on the lock screen.
    for (i, p) in people.iter().enumerate() {
        let sub = rx.subscriber(&format!("ok-{i}")).await;
        let r = app.subscribe(p, &sub, i != 4).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    }
    // Registering the same endpoint again updates it.
    let r = app.subscribe(&people[0], &ok0, true).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["subscriptions"], 1);
    // Further devices: one the push service forgot, one failing twice, and a slow one for
    // persons 0 to 6 (it answers after 3 s; the sender gives up on a request after 1 s).
    for (who, name) in [(0, "gone-0"), (1, "fail-1")] {
        let sub = rx.subscriber(name).await;
        assert_eq!(
            app.subscribe(&people[who], &sub, true).await.status(),
            StatusCode::CREATED
        );
    }
    for (who, p) in people.iter().enumerate().take(7) {
        let sub = rx.subscriber(&format!("slow-{who}")).await;
        assert_eq!(app.subscribe(p, &sub, true).await.status(), StatusCode::CREATED);
    }
    // At most three per identity; removal makes room.
    let extra: Vec<Value> = futures_subscribers(&rx, "ok-7-", 3).await;
    assert_eq!(
        app.subscribe(&people[7], &extra[0], true).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.subscribe(&people[7], &extra[1], true).await.status(),
        StatusCode::CREATED
    );
    let p = expect_problem(
        app.subscribe(&people[7], &extra[2], true).await,
        ProblemCode::TooManySubscriptions,
    )
    .await;
    assert!(p.detail.contains("(3)"), "{}", p.detail);
    for expected in [true, false] {
        let r = app
            .signed(
                &people[7],
                Method::POST,
                "/v1/push/subscriptions/remove",
                Some(&json!({"endpoint": extra[0]["endpoint"]})),
                &[],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["removed"], expected);
    }
    assert_eq!(
        app.subscribe(&people[7], &extra[2], true).await.status(),
        StatusCode::CREATED
    );
    let store = app.running().state.store();
    assert_eq!(store.push_subscriptions_of(&people[7].id).await.unwrap().len(), 3);

    for p in &people {
        app.take_opted_in(p).await;
    }

    // The draw (30 s before opening): every device hears its result.
    app.advance(31);
    let records = rx
        .wait(20, "every ok device's draw result", |r| {
            (0..8).all(|i| delivered(r, &format!("ok-{i}"), "draw_result").len() == 1)
        })
        .await;
    let mut won = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let rec = delivered(&records, &format!("ok-{i}"), "draw_result")[0];
        let pay = &rec["payload"];
        let status = app.status(p).await;
        assert_eq!(pay["position"], status["position"], "{pay}");
        assert_eq!(pay["campaign"], "demo");
        assert_eq!(rec["urgency"], "normal");
        if pay["won"] == true {
            won.push(i);
            assert!(pay["title"].as_str().unwrap().contains("당첨"), "{pay}");
        } else {
            assert!(pay["title_en"].as_str().unwrap().contains("waitlist"), "{pay}");
        }
        assert!(pay.get("code").is_none(), "{pay}");
    }
    assert_eq!(won.len(), 3);
    // The forgotten device answered 410 once and is gone, with nothing left to send it.
    rx.wait(10, "gone-0 tried", |r| r.iter().any(|x| x["name"] == "gone-0"))
        .await;
    let until = Instant::now() + Duration::from_secs(10);
    let endpoints = || async {
        let subs = store.push_subscriptions_of(&people[0].id).await.unwrap();
        subs.into_iter().map(|s| s.endpoint).collect::<Vec<_>>()
    };
    while endpoints().await.iter().any(|e| e.ends_with("/gone-0")) {
        assert!(Instant::now() < until, "the 410 did not remove the subscription");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = endpoints().await;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&ok0["endpoint"].as_str().unwrap().to_owned()), "{left:?}");
    let gone_tries = rx.records().await.0.iter().filter(|r| r["name"] == "gone-0").count();
    assert_eq!(gone_tries, 1, "a gone subscription is not tried again");
    // The failing device got it on the third attempt.
    let r = rx
        .wait(20, "fail-1 delivered after two 500s", |r| {
            !delivered(r, "fail-1", "draw_result").is_empty()
        })
        .await;
    let fails: Vec<_> = r.iter().filter(|x| x["name"] == "fail-1").collect();
    assert_eq!(fails[0]["status"], 500);
    assert_eq!(fails[1]["status"], 500);

    // Opening, while slow push services hold every request slot of the sender (both of them):
    // the server issues the winners' vouchers on time regardless.
    let until = Instant::now() + Duration::from_secs(15);
    let stats = &app.running().state.push().unwrap().stats;
    let busy = loop {
        let (_, busy) = rx.records().await;
        // Both of the sender's request slots open, and the receiver is sitting on requests.
        if stats.in_flight.load(std::sync::atomic::Ordering::Relaxed) == 2 && busy >= 2 {
            break busy;
        }
        assert!(Instant::now() < until, "the slow devices never held both request slots");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    app.advance(30);
    let opened = Instant::now();
    let mut codes = std::collections::HashMap::new();
    for &i in &won {
        loop {
            let c = app.voucher_codes(&people[i]).await;
            if let Some(code) = c.first() {
                codes.insert(i, code.clone());
                break;
            }
            assert!(opened.elapsed() < Duration::from_secs(3), "issuance waited on pushes");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let issued_in = opened.elapsed();
    let (_, busy_after) = rx.records().await;
    eprintln!(
        "issued 3 vouchers {issued_in:?} after opening; slow requests in progress: {busy} before, {busy_after} after"
    );
    assert!(issued_in < Duration::from_secs(2), "{issued_in:?}");

    // Each winner's device gets its voucher: the code inside the encrypted payload only.
    let records = rx
        .wait(30, "every winner's voucher push", |r| {
            won.iter()
                .all(|i| delivered(r, &format!("ok-{i}"), "voucher").len() == 1)
        })
        .await;
    for &i in &won {
        let rec = delivered(&records, &format!("ok-{i}"), "voucher")[0];
        let pay = &rec["payload"];
        let code = &codes[&i];
        assert_eq!(pay["code"], code.as_str());
        assert_eq!(rec["urgency"], "high");
        assert!(rec["ttl"].as_str().unwrap().parse::<u64>().unwrap() > 86_400);
        assert!(pay["token"].as_str().is_some_and(|t| t.len() > 100));
        let visible = format!("{}{}{}{}", pay["title"], pay["body"], pay["title_en"], pay["body_en"]);
        assert_eq!(visible.contains(code.as_str()), i == 4, "hide_code: {pay}");
        // Never in clear: not in the body bytes, not in a header.
        let raw = base64_decode(rec["raw_b64"].as_str().unwrap());
        let compact: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        for needle in [code.as_str(), compact.as_str()] {
            assert!(!contains(&raw, needle.as_bytes()), "code {needle} in clear in the body");
            assert!(!rec["header_text"].as_str().unwrap().contains(needle));
        }
    }

    // A winner gives the voucher back: it reaches the first waitlisted place, whose device hears.
    let giver = won[0];
    let r = app
        .signed(
            &people[giver],
            Method::POST,
            "/v1/campaigns/demo/tickets/me/return",
            None,
            &[],
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let mut next = None;
    for (i, p) in people.iter().enumerate() {
        if app.status(p).await["position"] == 4 {
            next = Some(i);
        }
    }
    let next = next.expect("someone is fourth");
    let records = rx
        .wait(20, "the handed-on push and its voucher", |r| {
            delivered(r, &format!("ok-{next}"), "handed_on").len() == 1
                && delivered(r, &format!("ok-{next}"), "voucher").len() == 1
        })
        .await;
    assert_eq!(
        delivered(&records, &format!("ok-{next}"), "handed_on")[0]["payload"]["position"],
        4
    );

    // Every request the receiver saw was properly signed and encrypted for its subscriber only.
    let (records, _) = rx.records().await;
    for r in &records {
        assert_eq!(r["errors"], json!([]), "{r:#}");
        assert_eq!(r["other_key_decrypts"], false, "{r:#}");
    }
    // Exactly once per device and message.
    for i in 0..8 {
        for kind in ["draw_result", "voucher", "handed_on"] {
            assert!(
                delivered(&records, &format!("ok-{i}"), kind).len() <= 1,
                "ok-{i} {kind} twice"
            );
        }
    }
    // The slow devices were tried and retried; they never held anything up.
    let slow_tries = records
        .iter()
        .filter(|r| r["name"].as_str().unwrap().starts_with("slow-"))
        .count();
    assert!(slow_tries >= 2, "{slow_tries}");
    assert!(stats.gone.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    assert!(stats.retried.load(std::sync::atomic::Ordering::Relaxed) >= 2);
    // The same outcomes on /metrics, for operators.
    let text = app.get("/metrics").await.text().await.unwrap();
    let count = |outcome: &str| -> u64 {
        let prefix = format!("lineup_pushes_total{{outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(
        count("gone"),
        stats.gone.load(std::sync::atomic::Ordering::Relaxed),
        "{text}"
    );
    assert!(count("delivered") >= 1, "{text}");
    assert!(text.contains("lineup_push_pending "), "{text}");
    app.stop().await;
}

/// The draw's burst leaves at the configured rate: 120 devices at 40 pushes/s (burst 4) take
/// about three seconds, and no second carries more than the rate allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draw_burst_is_paced() {
    let Some(py) = python() else { return };
    for backend in backends() {
        paced(backend, &py).await;
    }
}

async fn paced(backend: Backend, py: &str) {
    let app = spawn_app_with(backend, demo(5, 1000, 60), |c| {
        push_config(c);
        c.push.in_flight = 64;
        c.push.max_subscriptions = 10;
        c.push.rate_per_s = 40;
        c.push.burst = 4;
    })
    .await;
    let vapid = app.get("/v1/push/vapid").await.json::<Value>().await.unwrap()["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let rx = Receiver::start(py, &vapid).await;
    for n in 0..12 {
        let p = Person::new(700 + n);
        assert_eq!(app.register(&p).await, StatusCode::CREATED);
        for d in 0..10 {
            let sub = rx.subscriber(&format!("ok-{n}-{d}")).await;
            assert_eq!(app.subscribe(&p, &sub, true).await.status(), StatusCode::CREATED);
        }
        app.take_opted_in(&p).await;
    }
    app.advance(31);
    let records = rx
        .wait(20, "120 draw results", |r| {
            r.iter().filter(|x| x["status"] == 201).count() == 120
        })
        .await;
    let mut times: Vec<f64> = records.iter().map(|r| r["t"].as_f64().unwrap()).collect();
    times.sort_by(f64::total_cmp);
    let span = times[119] - times[0];
    // (120 - 4 saved up) / 40 per second = 2.9 s at the least.
    assert!(span >= 2.6, "120 pushes in {span:.2} s: not paced");
    // Any one second holds at most the rate plus the burst (and a little for timing).
    let busiest = (0..times.len())
        .map(|i| times[i..].iter().take_while(|&&t| t < times[i] + 1.0).count())
        .max()
        .unwrap();
    assert!(busiest <= 40 + 4 + 2, "{busiest} pushes within one second");
    eprintln!("120 draw results at 40/s: {span:.2} s from first to last, at most {busiest} in any second");
    for r in &records {
        assert_eq!(r["errors"], json!([]), "{r:#}");
    }
    app.stop().await;
}

/// A server that was not sending (or crashed before it sent) derives every missed push from
/// the stored state once it runs again, and sends each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_pushes_are_derived_after_a_restart() {
    let Some(py) = python() else { return };
    for backend in backends() {
        restart(backend, &py).await;
    }
}

async fn restart(backend: Backend, py: &str) {
    let mut app = spawn_app_with(backend, demo(2, 1000, 60), |c| {
        push_config(c);
        c.push.enabled = false;
    })
    .await;
    let vapid = app.get("/v1/push/vapid").await.json::<Value>().await.unwrap()["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let rx = Receiver::start(py, &vapid).await;
    let people: Vec<Person> = (0..3).map(|n| Person::new(950 + n)).collect();
    for (i, p) in people.iter().enumerate() {
        assert_eq!(app.register(p).await, StatusCode::CREATED);
        let sub = rx.subscriber(&format!("ok-{i}")).await;
        assert_eq!(app.subscribe(p, &sub, true).await.status(), StatusCode::CREATED);
        app.take_opted_in(p).await;
    }
    // Draw and opening happen while nothing is sent.
    app.advance(31);
    app.advance(30);
    let until = Instant::now() + Duration::from_secs(5);
    let mut holders = 0;
    while holders < 2 {
        holders = 0;
        for p in &people {
            holders += usize::from(!app.voucher_codes(p).await.is_empty());
        }
        assert!(Instant::now() < until, "vouchers not issued");
        // Polled gently: each person's requests are rate-limited (2/s, burst 20).
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.records().await.0.is_empty());
    app.config.push.enabled = true;
    app.restart().await;
    let records = rx
        .wait(20, "three draw results and two vouchers after the restart", |r| {
            let draws = (0..3)
                .filter(|i| delivered(r, &format!("ok-{i}"), "draw_result").len() == 1)
                .count();
            let vouchers = (0..3)
                .filter(|i| delivered(r, &format!("ok-{i}"), "voucher").len() == 1)
                .count();
            draws == 3 && vouchers == 2
        })
        .await;
    // Nothing more arrives: each was sent once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (again, _) = rx.records().await;
    assert_eq!(again.len(), records.len(), "{again:#?}");
    assert_eq!(app.running().state.store().push_pending().await.unwrap(), 0);
    app.stop().await;
}

async fn futures_subscribers(rx: &Receiver, prefix: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for k in 0..n {
        out.push(rx.subscriber(&format!("{prefix}{k}")).await);
    }
    out
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
