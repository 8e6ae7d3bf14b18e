//! Contact verification (issue 13 items 1-3): a code sent through a real SMTP server (aiosmtpd)
//! and read back from the delivered mail; a crowd of bots without codes registers no one;
//! a squatter's pending code does not stop the contact's owner; codes expire and tries are
//! bounded; the answer to "send a code" never tells whether a contact is held.

use crate::common::{Person, backends, demo, expect_problem, spawn_app_with};
use lineup_protocol::{Contact, ProblemCode};
use lineup_server::verify::{SmtpConfig, VerifyConfig, VerifyMode};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// aiosmtpd on 127.0.0.1 (crates/server/tests/smtp/smtpd.py), with the messages it received.
struct Smtpd {
    child: Child,
    port: u16,
    mail: mpsc::Receiver<Value>,
}

impl Smtpd {
    fn start() -> Smtpd {
        let python = std::env::var("LINEUP_TEST_SMTP_PYTHON").unwrap_or_else(|_| {
            let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/venv-smtp/bin/python");
            if std::path::Path::new(venv).exists() {
                venv.into()
            } else {
                "python3".into()
            }
        });
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/smtpd.py");
        let mut child = Command::new(&python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {python} (set LINEUP_TEST_SMTP_PYTHON to a python with aiosmtpd): {e}")
            });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let port: u16 = first
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!("aiosmtpd did not start ({first:?}): pip install -r crates/server/tests/smtp/requirements.txt")
            });
        let (tx, mail) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        Smtpd { child, port, mail }
    }

    /// The next delivered message (waits up to 10 s).
    fn next(&self) -> Value {
        self.mail
            .recv_timeout(Duration::from_secs(10))
            .expect("no mail delivered")
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        drop(self.child.stdin.take().map(|mut s| s.flush()));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The six digits after "Lineup code: " in a delivered message's subject and body.
fn code_in(mail: &Value) -> String {
    let subject = mail["subject"].as_str().unwrap();
    let code = subject
        .strip_prefix("Lineup code: ")
        .expect("subject names the code")
        .to_owned();
    assert_eq!(code.len(), 6);
    assert!(
        mail["body"].as_str().unwrap().contains(&code),
        "the body carries the code too"
    );
    code
}

fn log_mode(c: &mut lineup_server::ServerConfig) {
    c.verify = VerifyConfig::log();
}

#[tokio::test]
async fn an_email_code_through_a_real_smtp_server_registers() {
    let smtpd = Smtpd::start();
    for backend in backends() {
        let port = smtpd.port;
        let app = spawn_app_with(backend, demo(10, 10, 60), |c| {
            c.verify = VerifyConfig {
                mode: VerifyMode::Smtp,
                smtp: Some(SmtpConfig {
                    url: format!("smtp://127.0.0.1:{port}"),
                    from: "Lineup <no-reply@lineup.test>".into(),
                }),
                ..VerifyConfig::default()
            };
        })
        .await;
        let kim = Person::new(1);
        let contact = format!("Kim.{backend:?}@Example.COM");
        let r = app.ask_code(&kim, &contact).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let sent: Value = r.json().await.unwrap();
        assert_eq!(sent["status"], "verification_sent");
        assert_eq!(sent["expires_in_s"], 600);
        let mail = smtpd.next();
        // Delivered to the canonical spelling.
        assert_eq!(
            mail["to"],
            json!([format!("kim.{backend:?}@example.com").to_lowercase()])
        );
        let code = code_in(&mail);
        // Not registered yet: the identity is unknown until the code comes back.
        let (st, _) = app.take(&kim).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let wrong = if code == "000000" { "000001" } else { "000000" };
        let p = expect_problem(app.send_code(&kim, wrong, false).await, ProblemCode::WrongCode).await;
        assert_eq!(p.attempts_left, Some(4));
        let r = app.send_code(&kim, &code, false).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        // A repeat (a lost answer) is the same registration; so is asking to register again.
        let r = app.send_code(&kim, &code, false).await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = app.ask_code(&kim, &contact).await;
        assert_eq!(r.status(), StatusCode::OK);
        let (st, _) = app.take(&kim).await;
        assert_eq!(st, StatusCode::CREATED);
        // A phone number cannot be reached by this server (no SMS sender): said plainly.
        let lee = Person::new(2);
        expect_problem(app.ask_code(&lee, "010-2222-3333").await, ProblemCode::InvalidInput).await;
        app.stop().await;
    }
}

/// 10,000 bots with made-up contacts get nowhere without codes; run here with 500 (the same
/// path per bot). Each bot gets its 202 and one guess: a guess is right with probability
/// 1/1,000,000, so 500 guesses register nobody except with probability 5 in 10,000; the test
/// uses codes known to be wrong (the demo outbox shows the real ones) so it cannot flake.
#[tokio::test]
async fn a_crowd_of_bots_without_codes_registers_no_one() {
    const BOTS: u32 = 500;
    for backend in backends() {
        // Every bot here comes from 127.0.0.1: the address budget (tested below) is lifted so each
        // bot reaches the code step.
        let app = spawn_app_with(backend, demo(10, 10, 60), |c| {
            c.verify = VerifyConfig {
                per_address_per_hour: None,
                ..VerifyConfig::log()
            };
        })
        .await;
        for n in 0..BOTS {
            let bot = Person::new(10_000 + n);
            let contact = format!("010-9{n:03}-{n:04}");
            let r = app.ask_code(&bot, &contact).await;
            assert_eq!(r.status(), StatusCode::ACCEPTED, "bot {n}");
            let real = app
                .running()
                .state
                .demo_code(&contact.parse::<Contact>().unwrap())
                .unwrap();
            let guess = format!("{:06}", (real.parse::<u32>().unwrap() + 1 + n) % 1_000_000);
            let r = app.send_code(&bot, &guess, false).await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "bot {n}");
            let (st, _) = app.take(&bot).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "bot {n} holds no ticket");
        }
        let c: Value = app.get("/v1/campaigns/demo").await.json().await.unwrap();
        assert_eq!(c["entrants"].as_u64(), Some(0), "{c}");
        app.stop().await;
    }
}

/// A squatter asks for a code to someone else's number: the owner still registers it, and a
/// third key that proves the number (after the owner) learns it is taken only after the code.
#[tokio::test]
async fn a_squatters_pending_code_does_not_stop_the_owner() {
    for backend in backends() {
        let app = spawn_app_with(backend, demo(10, 10, 60), log_mode).await;
        let phone: Contact = "+82 10 5555 0001".parse().unwrap();
        let squatter = Person::new(1);
        let owner = Person::new(2);
        let r = app.ask_code(&squatter, "010-5555-0001").await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let squat_body: Value = r.json().await.unwrap();
        // One code a minute per number, whoever asks.
        let r = app.ask_code(&owner, "01055550001").await;
        let p = expect_problem(r, ProblemCode::RateLimited).await;
        assert!(p.retry_after_s.unwrap() <= 60);
        app.advance(61);
        let r = app.ask_code(&owner, "01055550001").await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let code = app.running().state.demo_code(&phone).unwrap();
        let r = app.send_code(&owner, &code, false).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        // The squatter's own (unknown to it) code does not become the owner's number.
        let r = app.send_code(&squatter, &code, false).await;
        expect_problem(r, ProblemCode::WrongCode).await;
        // A third key asks for the now-held number: the same answer as for a free one.
        app.advance(61);
        let third = Person::new(3);
        let r = app.ask_code(&third, "+821055550001").await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let held_body: Value = r.json().await.unwrap();
        assert_eq!(
            held_body, squat_body,
            "no enumeration: a held contact answers like a free one"
        );
        let code = app.running().state.demo_code(&phone).unwrap();
        let wrong = if code == "999999" { "999998" } else { "999999" };
        let r = app.send_code(&third, wrong, false).await;
        expect_problem(r, ProblemCode::WrongCode).await;
        let r = app.send_code(&third, &code, false).await;
        expect_problem(r, ProblemCode::ContactTaken).await;
        app.stop().await;
    }
}

#[tokio::test]
async fn codes_expire_and_tries_are_bounded() {
    for backend in backends() {
        let app = spawn_app_with(backend, demo(10, 10, 60), log_mode).await;
        let kim = Person::new(1);
        let contact: Contact = "kim@example.com".parse().unwrap();
        assert_eq!(
            app.ask_code(&kim, "kim@example.com").await.status(),
            StatusCode::ACCEPTED
        );
        let code = app.running().state.demo_code(&contact).unwrap();
        app.advance(601);
        expect_problem(app.send_code(&kim, &code, false).await, ProblemCode::NoPendingCode).await;
        // A new code; five wrong tries void it, and then even the right one is refused.
        assert_eq!(
            app.ask_code(&kim, "kim@example.com").await.status(),
            StatusCode::ACCEPTED
        );
        let code = app.running().state.demo_code(&contact).unwrap();
        let wrong = if code == "123456" { "654321" } else { "123456" };
        for left in (0..5).rev() {
            let p = expect_problem(app.send_code(&kim, wrong, false).await, ProblemCode::WrongCode).await;
            assert_eq!(p.attempts_left, Some(left));
        }
        expect_problem(app.send_code(&kim, &code, false).await, ProblemCode::NoPendingCode).await;
        let (st, _) = app.take(&kim).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        app.stop().await;
    }
}

/// From one address, codes stop after the burst (20) of the hourly budget (60 by default).
#[tokio::test]
async fn one_address_cannot_ask_for_codes_without_end() {
    let app = spawn_app_with(crate::common::Backend::Sqlite, demo(10, 10, 60), log_mode).await;
    let mut statuses = Vec::new();
    for n in 0..25u32 {
        let bot = Person::new(20_000 + n);
        let r = app.ask_code(&bot, &format!("bot{n}@example.com")).await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[..20], [202; 20]);
    assert_eq!(statuses[20..], [429; 5]);
    app.stop().await;
}

#[tokio::test]
async fn the_demo_sender_refuses_a_public_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = lineup_server::ServerConfig::new(dir.path());
    config.addr = "0.0.0.0:0".parse().unwrap();
    config.verify = VerifyConfig::log();
    let err = lineup_server::spawn(config).await.err().expect("refused");
    assert!(err.to_string().contains("DEMO — NOT FOR PRODUCTION"), "{err}");
    // SMTP mode without a relay is refused too.
    let mut config = lineup_server::ServerConfig::new(dir.path());
    config.verify = VerifyConfig {
        mode: VerifyMode::Smtp,
        ..VerifyConfig::default()
    };
    let err = lineup_server::spawn(config).await.err().expect("refused");
    assert!(err.to_string().contains("--smtp-url"), "{err}");
}

/// SMS through the HTTP sender: a real HTTP receiver (axum on port 0) stands in for the
/// provider and gets the documented shape; a provider's refusal is 502 `delivery_failed`.
#[tokio::test]
async fn an_sms_code_through_the_http_sender_registers() {
    use axum::http::HeaderMap;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Option<String>, Value)>();
    let provider = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let refuse = body["to"].as_str().is_some_and(|t| t.ends_with("9999"));
                let _ = tx.send((auth, body));
                if refuse {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    axum::http::StatusCode::ACCEPTED
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, provider).await });
    let app = spawn_app_with(crate::common::Backend::Sqlite, demo(10, 10, 60), |c| {
        c.verify = VerifyConfig {
            mode: VerifyMode::Sms,
            sms: Some(lineup_server::verify::SmsConfig {
                url: format!("http://{at}/sms"),
                api_key: Some("provider-key-123".into()),
                from: "Lineup".into(),
            }),
            ..VerifyConfig::default()
        };
    })
    .await;
    let park = Person::new(1);
    let r = app.ask_code(&park, "010-7777-0001").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let (auth, body) = rx.recv().await.unwrap();
    assert_eq!(auth.as_deref(), Some("Bearer provider-key-123"));
    assert_eq!(body["to"], "+821077770001");
    assert_eq!(body["from"], "Lineup");
    let text = body["text"].as_str().unwrap();
    let code = text
        .strip_prefix("Lineup code: ")
        .map(|t| t[..6].to_owned())
        .unwrap_or_else(|| panic!("{text}"));
    let r = app.send_code(&park, &code, false).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // The provider refuses: the person is told to ask again, nothing is registered.
    let choi = Person::new(2);
    let r = app.ask_code(&choi, "010-7777-9999").await;
    let p = expect_problem(r, ProblemCode::DeliveryFailed).await;
    assert!(p.retry_after_s.is_some());
    // E-mail cannot be reached by this server (no SMTP relay).
    let r = app.ask_code(&choi, "choi@example.com").await;
    expect_problem(r, ProblemCode::InvalidInput).await;
    app.stop().await;
}

/// Instances on one PostgreSQL with different data directories key contacts and codes alike:
/// a code asked for on one instance is accepted on the other.
#[tokio::test]
async fn instances_on_one_postgres_share_the_contact_secret() {
    if crate::postgres::admin_url().is_none() {
        return;
    }
    let mut app = spawn_app_with(crate::common::Backend::Postgres, demo(10, 10, 60), log_mode).await;
    let other_dir = tempfile::tempdir().unwrap();
    let mut config = app.config.clone();
    config.data_dir = other_dir.path().to_owned();
    config.addr = "127.0.0.1:0".parse().unwrap();
    // Instances on one database share the issuer key file (docs/protocol.md, "Secrets and
    // files"); the contact secret they share comes from the database alone.
    std::fs::copy(
        app.config.data_dir.join("issuer-ed25519.key"),
        other_dir.path().join("issuer-ed25519.key"),
    )
    .unwrap();
    let b = lineup_server::spawn(config).await.unwrap();
    let kim = Person::new(1);
    let r = app.ask_code(&kim, "010-8888-0001").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let phone: Contact = "+821088880001".parse().unwrap();
    let code = app.running().state.demo_code(&phone).unwrap();
    assert_eq!(
        b.state.demo_code(&phone),
        None,
        "the code was sent by the first instance"
    );
    let a_url = std::mem::replace(&mut app.url, b.url.clone());
    let r = app.send_code(&kim, &code, false).await;
    assert_eq!(r.status(), StatusCode::CREATED, "the second instance knows the code");
    // The per-contact limit is shared too: the second instance refuses a second code at once.
    let lee = Person::new(2);
    let r = app.ask_code(&lee, "010-8888-0002").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    app.url = a_url;
    let r = app.ask_code(&lee, "01088880002").await;
    expect_problem(r, ProblemCode::RateLimited).await;
    b.shutdown().await;
    app.stop().await;
}
