//! "I changed phones" (issue 13 item 4), over real HTTP on SQLite and PostgreSQL: a person who
//! lost their key proves their contact from a new device and moves there, with their place in
//! line and their vouchers, exactly once; the old key is revoked everywhere (also on another
//! instance that had it cached); old voucher copies are void at the box office; a squatter is
//! moved out by the contact's owner; nobody moves anything without the code; a redemption racing
//! the move ends with exactly one use.

use crate::common::*;
use lineup_protocol::auth::{Origin, sign_request};
use lineup_protocol::voucher::{PublicKeySet, verify};
use lineup_protocol::{Contact, KeysResponse, ProblemCode};
use lineup_server::verify::VerifyConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

fn log_mode(c: &mut lineup_server::ServerConfig) {
    c.verify = VerifyConfig::log();
}

/// Asks for a code for `contact` as `who` (202 expected) and returns the code the demo sender
/// printed.
async fn code_for(app: &TestApp, who: &Person, contact: &str) -> String {
    let r = app.ask_code(who, contact).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().await.unwrap());
    let c: Contact = contact.parse().unwrap();
    app.running()
        .state
        .demo_code(&c)
        .expect("the demo sender printed a code")
}

/// Registers `who` with `contact` through a code.
async fn register_verified(app: &TestApp, who: &Person, contact: &str) {
    let code = code_for(app, who, contact).await;
    assert_eq!(app.send_code(who, &code, false).await.status(), StatusCode::CREATED);
}

async fn keyset(app: &TestApp) -> PublicKeySet {
    let keys: KeysResponse = app.get("/v1/keys").await.json().await.unwrap();
    PublicKeySet::from_response(&keys).unwrap()
}

async fn remaining(app: &TestApp) -> u64 {
    let c: Value = app.get("/v1/campaigns/demo").await.json().await.unwrap();
    c["remaining"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_phone_takes_the_place_and_the_voucher_exactly_once() {
    for backend in backends() {
        // 2 vouchers, 10 admissions/s, a 60 s window; opens 60 s after start.
        let app = spawn_app_with(backend, demo(2, 10, 60), log_mode).await;
        let kim = "kim@example.com";
        let old = Person::new(1);
        let other = Person::new(2);
        register_verified(&app, &old, kim).await;
        register_verified(&app, &other, "lee@example.com").await;
        let (s, t) = app.take(&old).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        let ticket_id = t["ticket_id"].as_str().unwrap().to_owned();
        app.take(&other).await;
        app.advance(61);
        let t = app.status(&old).await;
        assert_eq!(t["state"], "admitted", "{t}");
        let (s, v) = app.claim(&old, &ticket_id, "old-phone-claim").await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let old_code = v["code"].as_str().unwrap().to_owned();
        let old_token = v["token"].as_str().unwrap().to_owned();
        let left = remaining(&app).await;

        // The old phone is lost. The new one proves the contact: first told it is held.
        let new = Person::new(3);
        let code = code_for(&app, &new, kim).await;
        let p = expect_problem(app.send_code(&new, &code, false).await, ProblemCode::ContactTaken).await;
        assert!(p.detail.contains("move_here"), "{}", p.detail);
        // The same code, now with move_here.
        let r = app.send_code(&new, &code, true).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let reg: Value = r.json().await.unwrap();
        assert_eq!(reg["identity"], json!(new.id));
        assert_eq!(
            (
                &reg["moved"]["tickets"],
                &reg["moved"]["vouchers"],
                &reg["moved"]["vouchers_reissued"]
            ),
            (&json!(1), &json!(1), &json!(1)),
            "{reg}"
        );
        // A retry after a lost answer: the same registration and the same account of the move,
        // and nothing moved or issued twice.
        let r = app.send_code(&new, &code, true).await;
        assert_eq!(r.status(), StatusCode::OK);
        let again: Value = r.json().await.unwrap();
        assert_eq!(again["moved"], reg["moved"]);
        assert_eq!(again["registered_at"], reg["registered_at"]);
        assert_eq!(remaining(&app).await, left, "supply untouched by the move");
        let metrics = app.get("/metrics").await.text().await.unwrap();
        assert!(metrics.contains("lineup_identity_moves_total 1\n"), "{metrics}");

        // The place follows the person.
        let t = app.status(&new).await;
        assert_eq!(
            (t["ticket_id"].as_str(), t["state"].as_str()),
            (Some(ticket_id.as_str()), Some("claimed"))
        );
        // One voucher, same serial, signed again for the new key: new token and code.
        let list = app.vouchers(&new).await;
        assert_eq!(list.len(), 1);
        let moved = &list[0];
        assert_eq!(moved["serial"], v["serial"]);
        assert_ne!(moved["code"].as_str().unwrap(), old_code);
        let token = verify(moved["token"].as_str().unwrap(), &keyset(&app).await, None).unwrap();
        assert!(token.claims.is_held_by(&new.id));
        assert!(!token.claims.is_held_by(&old.id));

        // The old key is revoked: for reads, places and registering anew.
        let r = app.signed(&old, Method::GET, "/v1/vouchers", None, &[]).await;
        expect_problem(r, ProblemCode::KeyRevoked).await;
        let (s, body) = app.take(&old).await;
        assert_eq!(
            (s, problem_code(&body)),
            (StatusCode::UNAUTHORIZED, ProblemCode::KeyRevoked)
        );
        let r = app
            .signed(
                &old,
                Method::POST,
                "/v1/identities",
                Some(&json!({"contact": "kim2@example.com", "consent": true})),
                &[],
            )
            .await;
        expect_problem(r, ProblemCode::KeyRevoked).await;

        // Box office: the old copy is void, by token or by code; the new one works once.
        let (s, p) = app.redeem(&app.staff, &json!({"token": old_token})).await;
        assert_eq!(
            (s, problem_code(&p)),
            (StatusCode::GONE, ProblemCode::VoucherMoved),
            "{p}"
        );
        let (s, p) = app.redeem(&app.staff, &json!({"code": old_code})).await;
        assert_eq!(
            (s, problem_code(&p)),
            (StatusCode::GONE, ProblemCode::VoucherMoved),
            "{p}"
        );
        // Another campaign's staff (here: a wrong token) learns nothing about the old code.
        let (s, _) = app.redeem("not-the-staff-token", &json!({"code": old_code})).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, r) = app.redeem(&app.staff, &json!({"code": moved["code"]})).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        let (s, p) = app.redeem(&app.staff, &json!({"token": moved["token"]})).await;
        assert_eq!(
            (s, problem_code(&p)),
            (StatusCode::CONFLICT, ProblemCode::AlreadyRedeemed)
        );
        app.stop().await;
    }
}

/// The move happens before opening: the server issues the voucher at the person's turn to the
/// new key (the place moved; nothing was signed for the old one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_moved_before_opening_is_issued_to_the_new_phone() {
    for backend in backends() {
        let mut options = demo(1, 1000, 60);
        options.open_in = Duration::from_secs(180);
        let app = spawn_app_with(backend, options, log_mode).await;
        let old = Person::new(1);
        register_verified(&app, &old, "+82 10 1234 5678").await;
        let (s, t) = app.take_auto(&old, "join-1").await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        let ticket_id = t["ticket_id"].clone();
        app.advance(61);
        let new = Person::new(2);
        // Typed another way: the same person.
        let code = code_for(&app, &new, "010-1234-5678").await;
        let r = app.send_code(&new, &code, true).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let reg: Value = r.json().await.unwrap();
        assert_eq!(reg["moved"]["tickets"], 1);
        assert_eq!(reg["moved"]["vouchers"], 0);
        app.advance(120);
        let t = app.wait_state(&new, "claimed").await;
        assert_eq!(t["ticket_id"], ticket_id);
        let list = app.vouchers(&new).await;
        assert_eq!(list.len(), 1);
        let token = verify(list[0]["token"].as_str().unwrap(), &keyset(&app).await, None).unwrap();
        assert!(token.claims.is_held_by(&new.id));
        app.stop().await;
    }
}

/// Someone registered the victim's number before the server verified contacts (a squat); once
/// it does, the owner proves the number and moves the squatter out. Without the code, nobody
/// moves anything.
#[tokio::test]
async fn the_owner_moves_a_squatter_out_and_nobody_moves_without_the_code() {
    for backend in backends() {
        let mut app = spawn_app(backend, demo(2, 10, 60)).await;
        let squatter = Person::new(1);
        let body = json!({"contact": "010-7777-0001", "consent": true});
        let r = app
            .signed(&squatter, Method::POST, "/v1/identities", Some(&body), &[])
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        app.config.verify = VerifyConfig::log();
        app.restart().await;

        // An attacker without the code: wrong codes, with or without move_here, move nothing.
        let attacker = Person::new(2);
        let code = code_for(&app, &attacker, "01077770001").await;
        let wrong = if code == "000000" { "000001" } else { "000000" };
        expect_problem(app.send_code(&attacker, wrong, true).await, ProblemCode::WrongCode).await;
        let r = app.signed(&squatter, Method::GET, "/v1/vouchers", None, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "the holder is untouched");

        // The owner, with the code that reached their phone.
        app.advance(61);
        let owner = Person::new(3);
        let code = code_for(&app, &owner, "+82 10 7777 0001").await;
        let r = app.send_code(&owner, &code, true).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = app.signed(&squatter, Method::GET, "/v1/vouchers", None, &[]).await;
        expect_problem(r, ProblemCode::KeyRevoked).await;
        let (s, t) = app.take(&owner).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        // The attacker's pending code is for a key that never proved anything.
        expect_problem(app.send_code(&attacker, &code, true).await, ProblemCode::WrongCode).await;
        app.stop().await;
    }
}

/// Another instance on the same PostgreSQL had the old key cached as registered: it refuses the
/// key within a moment of the move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_forgets_the_revoked_key() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let app = spawn_app_with(Backend::Postgres, demo(2, 10, 60), log_mode).await;
    let mut second = app.config.clone();
    second.addr = "127.0.0.1:0".parse().unwrap();
    let second = lineup_server::spawn(second).await.unwrap();
    let old = Person::new(1);
    register_verified(&app, &old, "kim@example.com").await;
    let at_second = |who: &Person| {
        let auth = sign_request(
            &who.key,
            &Origin::parse(&second.url).unwrap(),
            "GET",
            "/v1/vouchers",
            app.now().timestamp(),
            b"",
        );
        app.http
            .get(format!("{}/v1/vouchers", second.url))
            .header("Authorization", auth)
            .send()
    };
    // Cached there as registered.
    assert_eq!(at_second(&old).await.unwrap().status(), StatusCode::OK);
    app.advance(61);
    let new = Person::new(2);
    let code = code_for(&app, &new, "kim@example.com").await;
    assert_eq!(app.send_code(&new, &code, true).await.status(), StatusCode::CREATED);
    let mut last = StatusCode::OK;
    for _ in 0..50 {
        last = at_second(&old).await.unwrap().status();
        if last == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        last,
        StatusCode::UNAUTHORIZED,
        "the second instance still accepts the old key after 5 s"
    );
    let r = at_second(&old).await.unwrap();
    expect_problem(r, ProblemCode::KeyRevoked).await;
    second.shutdown().await;
    app.stop().await;
}

/// The box office scans the old phone's code while the person moves: exactly one use, either
/// the old copy before the move (and the moved voucher shows it redeemed) or none of it after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_racing_the_move_uses_the_voucher_once() {
    for backend in backends() {
        let rounds = 6;
        let app = spawn_app_with(backend, demo(rounds, 1000, 600), log_mode).await;
        let mut olds = Vec::new();
        for n in 0..rounds as u32 {
            let old = Person::new(100 + n);
            register_verified(&app, &old, &format!("p{n}@example.com")).await;
            let (_, t) = app.take(&old).await;
            olds.push((old, t["ticket_id"].as_str().unwrap().to_owned()));
        }
        app.advance(61);
        let mut outcomes = Vec::new();
        for (n, (old, ticket)) in olds.iter().enumerate() {
            let (s, v) = app.claim(old, ticket, "k").await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            let new = Person::new(200 + n as u32);
            let code = code_for(&app, &new, &format!("p{n}@example.com")).await;
            let scanned = json!({"code": v["code"]});
            // Scans a little later each round, so the runs cover both orders and the moment
            // between (the invariant is asserted whichever comes first).
            let delay = Duration::from_millis([0, 3, 6, 12, 25, 60][n % 6]);
            let (moved, redeemed) = tokio::join!(app.send_code(&new, &code, true), async {
                tokio::time::sleep(delay).await;
                app.redeem(&app.staff, &scanned).await
            });
            assert_eq!(moved.status(), StatusCode::CREATED);
            let reg: Value = moved.json().await.unwrap();
            let list = app.vouchers(&new).await;
            assert_eq!(list.len(), 1);
            match redeemed.0 {
                StatusCode::OK => {
                    // Used before the move: it moved as it was, not signed again.
                    assert_eq!(reg["moved"]["vouchers_reissued"], 0, "{reg}");
                    assert_eq!(list[0]["status"], "redeemed");
                    assert_eq!(list[0]["code"], v["code"]);
                }
                StatusCode::GONE => {
                    assert_eq!(problem_code(&redeemed.1), ProblemCode::VoucherMoved);
                    assert_eq!(reg["moved"]["vouchers_reissued"], 1, "{reg}");
                    assert_eq!(list[0]["status"], "unused");
                    let (s, _) = app.redeem(&app.staff, &json!({"code": list[0]["code"]})).await;
                    assert_eq!(s, StatusCode::OK);
                }
                other => panic!("redemption during the move: {other} {}", redeemed.1),
            }
            outcomes.push(redeemed.0);
        }
        let c: Value = app.get("/v1/campaigns/demo").await.json().await.unwrap();
        assert_eq!(c["remaining"], 0, "{c}");
        eprintln!("{backend:?}: redemption vs move outcomes {outcomes:?}");
        app.stop().await;
    }
}

/// A right code answered "held by another key" costs no try: even on the last try, the same
/// code with `move_here` moves.
#[tokio::test]
async fn the_right_code_on_the_last_try_still_moves() {
    for backend in backends() {
        let app = spawn_app_with(backend, demo(2, 10, 60), log_mode).await;
        let old = Person::new(1);
        register_verified(&app, &old, "kim@example.com").await;
        app.advance(61);
        let new = Person::new(2);
        let code = code_for(&app, &new, "kim@example.com").await;
        let wrong = if code == "000000" { "000001" } else { "000000" };
        for _ in 0..4 {
            expect_problem(app.send_code(&new, wrong, false).await, ProblemCode::WrongCode).await;
        }
        expect_problem(app.send_code(&new, &code, false).await, ProblemCode::ContactTaken).await;
        let r = app.send_code(&new, &code, true).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
        app.stop().await;
    }
}

/// A move whose transaction fails (here: a trigger standing for a lost connection or a pool
/// timeout) changes nothing and keeps the code: the retry with the same code moves.
#[tokio::test]
async fn a_failed_move_keeps_the_code_for_the_retry() {
    use sqlx::Connection as _;
    let app = spawn_app_with(Backend::Sqlite, demo(2, 10, 60), log_mode).await;
    let lineup_server::DbLocation::Sqlite(path) = app.config.db.clone() else {
        panic!("a SQLite test app")
    };
    let old = Person::new(1);
    register_verified(&app, &old, "kim@example.com").await;
    app.advance(61);
    let new = Person::new(2);
    let code = code_for(&app, &new, "kim@example.com").await;
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER fail_moves BEFORE INSERT ON key_revocations BEGIN SELECT RAISE(ABORT, 'injected'); END",
    )
    .execute(&mut db)
    .await
    .unwrap();
    let r = app.send_code(&new, &code, true).await;
    assert!(r.status().is_server_error(), "{}", r.status());
    let r = app.signed(&old, Method::GET, "/v1/vouchers", None, &[]).await;
    assert_eq!(r.status(), StatusCode::OK, "nothing moved: the old key still works");
    sqlx::query("DROP TRIGGER fail_moves").execute(&mut db).await.unwrap();
    let r = app.send_code(&new, &code, true).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let r = app.signed(&old, Method::GET, "/v1/vouchers", None, &[]).await;
    expect_problem(r, ProblemCode::KeyRevoked).await;
    app.stop().await;
}
