//! Every bad input gets its specific 4xx as application/problem+json.

use crate::common::*;
use lineup_protocol::ProblemCode;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_their_problems() {
    for backend in backends() {
        bad_inputs(backend).await;
    }
}

async fn bad_inputs(backend: Backend) {
    let app = spawn_app(backend, demo(1, 10, 60)).await;
    let alice = Person::new(1);
    let bob = Person::new(2);
    let mallory = Person::new(3);
    assert_eq!(app.register(&alice).await, StatusCode::CREATED);
    assert_eq!(app.register(&bob).await, StatusCode::CREATED);

    // Registration: malformed JSON, wrong media type, bad contact, no consent, contact taken.
    let r = app
        .signed_raw(
            &mallory,
            Method::POST,
            "/v1/identities",
            b"{\"contact\":".to_vec(),
            app.now().timestamp(),
            &[],
        )
        .await;
    expect_problem(r, ProblemCode::MalformedJson).await;
    let r = app
        .http
        .post(format!("{}/v1/identities", app.url))
        .header("Content-Type", "text/plain")
        .header(
            "Authorization",
            lineup_protocol::auth::sign_request(&mallory.key, "POST", "/v1/identities", app.now().timestamp(), b"hi"),
        )
        .body("hi")
        .send()
        .await
        .unwrap();
    expect_problem(r, ProblemCode::UnsupportedMediaType).await;
    let body = json!({"contact": "not a contact", "consent": true});
    let r = app
        .signed(&mallory, Method::POST, "/v1/identities", Some(&body), &[])
        .await;
    expect_problem(r, ProblemCode::InvalidInput).await;
    let body = json!({"contact": "mallory@example.com", "consent": false});
    let r = app
        .signed(&mallory, Method::POST, "/v1/identities", Some(&body), &[])
        .await;
    expect_problem(r, ProblemCode::ConsentRequired).await;
    let body = json!({"contact": alice.contact, "consent": true});
    let r = app
        .signed(&mallory, Method::POST, "/v1/identities", Some(&body), &[])
        .await;
    expect_problem(r, ProblemCode::ContactTaken).await;

    // Authentication: none, unregistered, forged, replayed (stale).
    let r = app
        .http
        .post(format!("{}/v1/campaigns/demo/tickets", app.url))
        .send()
        .await
        .unwrap();
    expect_problem(r, ProblemCode::Unauthenticated).await;
    let r = app
        .signed(&mallory, Method::POST, "/v1/campaigns/demo/tickets", None, &[])
        .await;
    expect_problem(r, ProblemCode::UnknownIdentity).await;
    // Bob's key in the header, Alice's signature: forged.
    let ts = app.now().timestamp();
    let by_alice = lineup_protocol::auth::sign_request(&alice.key, "POST", "/v1/campaigns/demo/tickets", ts, b"");
    let sig = by_alice.split("sig=").nth(1).unwrap();
    let forged = format!("Lineup key={}, ts={ts}, sig={sig}", bob.id);
    let r = app
        .http
        .post(format!("{}/v1/campaigns/demo/tickets", app.url))
        .header("Authorization", forged)
        .send()
        .await
        .unwrap();
    expect_problem(r, ProblemCode::BadSignature).await;
    // A signature for another path does not carry over.
    let r = app
        .http
        .get(format!("{}/v1/vouchers", app.url))
        .header("Authorization", by_alice.clone())
        .send()
        .await
        .unwrap();
    expect_problem(r, ProblemCode::BadSignature).await;
    // A captured request replayed three minutes later is stale, and the problem carries server_time.
    let old = app.now().timestamp() - 180;
    let r = app
        .signed_raw(&alice, Method::POST, "/v1/campaigns/demo/tickets", Vec::new(), old, &[])
        .await;
    let p = expect_problem(r, ProblemCode::StaleSignature).await;
    assert!(p.server_time.is_some());

    // Unknown campaign, unknown route, wrong method.
    let r = app
        .signed(&alice, Method::POST, "/v1/campaigns/nope/tickets", None, &[])
        .await;
    expect_problem(r, ProblemCode::UnknownCampaign).await;
    let r = app
        .signed(&alice, Method::POST, "/v1/campaigns/NOT_AN_ID/tickets", None, &[])
        .await;
    expect_problem(r, ProblemCode::UnknownCampaign).await;
    expect_problem(app.get("/v1/campaigns/nope").await, ProblemCode::UnknownCampaign).await;
    expect_problem(app.get("/v1/nothing-here").await, ProblemCode::NotFound).await;
    let r = app
        .http
        .delete(format!("{}/v1/campaigns", app.url))
        .send()
        .await
        .unwrap();
    expect_problem(r, ProblemCode::MethodNotAllowed).await;

    // No ticket yet.
    let r = app
        .signed(&alice, Method::GET, "/v1/campaigns/demo/tickets/me", None, &[])
        .await;
    expect_problem(r, ProblemCode::NoTicket).await;

    // Oversized body: 413 before anything else is looked at.
    let big = vec![b' '; 17 * 1024];
    let r = app
        .signed_raw(&alice, Method::POST, "/v1/identities", big, app.now().timestamp(), &[])
        .await;
    expect_problem(r, ProblemCode::PayloadTooLarge).await;

    // Claims: no key, bad key, another identity's ticket, before admission.
    let (_, ta) = app.take(&alice).await;
    let (_, tb) = app.take(&bob).await;
    let ta = ta["ticket_id"].as_str().unwrap().to_owned();
    let tb = tb["ticket_id"].as_str().unwrap().to_owned();
    let body = json!({"ticket_id": ta});
    let r = app
        .signed(&alice, Method::POST, "/v1/campaigns/demo/claim", Some(&body), &[])
        .await;
    expect_problem(r, ProblemCode::IdempotencyKeyRequired).await;
    let r = app
        .signed(
            &alice,
            Method::POST,
            "/v1/campaigns/demo/claim",
            Some(&body),
            &[("Idempotency-Key", "has space")],
        )
        .await;
    expect_problem(r, ProblemCode::InvalidInput).await;
    let r = app
        .signed_raw(
            &alice,
            Method::POST,
            "/v1/campaigns/demo/claim",
            b"[1,2".to_vec(),
            app.now().timestamp(),
            &[("Idempotency-Key", "k")],
        )
        .await;
    expect_problem(r, ProblemCode::MalformedJson).await;
    let (s, p) = app.claim(&alice, &tb, "k-wrong").await;
    assert_eq!((s, problem_code(&p)), (StatusCode::NOT_FOUND, ProblemCode::NoTicket));
    let (s, p) = app.claim(&alice, &ta, "k-early").await;
    assert_eq!((s, problem_code(&p)), (StatusCode::CONFLICT, ProblemCode::NotAdmitted));

    // After opening: one voucher for two people; the second claimant is sold out.
    app.advance(61);
    let (sa, va) = app.claim(&alice, &ta, "ka").await;
    let (sb, vb) = app.claim(&bob, &tb, "kb").await;
    let (winner_status, loser) = if sa == StatusCode::CREATED {
        (sa, vb.clone())
    } else {
        (sb, va.clone())
    };
    assert_eq!(winner_status, StatusCode::CREATED);
    let code = problem_code(&loser);
    assert!(
        matches!(code, ProblemCode::SoldOut | ProblemCode::NotAdmitted),
        "the loser is waitlisted or sold out: {loser}"
    );
    let winner = if sa == StatusCode::CREATED { &va } else { &vb };

    // Box office: no token, wrong token, forged token, unknown code, neither field.
    let r = app
        .http
        .post(format!("{}/v1/redemptions", app.url))
        .json(&json!({"token": winner["token"]}))
        .send()
        .await
        .unwrap();
    expect_problem(r, ProblemCode::StaffUnauthorized).await;
    let (s, p) = app
        .redeem("not-the-staff-token", &json!({"token": winner["token"]}))
        .await;
    assert_eq!(
        (s, problem_code(&p)),
        (StatusCode::UNAUTHORIZED, ProblemCode::StaffUnauthorized)
    );
    let mut forged = winner["token"].as_str().unwrap().to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let (s, p) = app.redeem(&app.staff, &json!({"token": forged})).await;
    assert_eq!(
        (s, problem_code(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, ProblemCode::InvalidVoucher)
    );
    let unknown = lineup_protocol::VoucherCode::derive(b"never issued");
    let (s, p) = app.redeem(&app.staff, &json!({"code": unknown})).await;
    assert_eq!((s, problem_code(&p)), (StatusCode::NOT_FOUND, ProblemCode::NotFound));
    let (s, p) = app.redeem(&app.staff, &json!({})).await;
    assert_eq!(
        (s, problem_code(&p)),
        (StatusCode::BAD_REQUEST, ProblemCode::InvalidInput)
    );
    let (s, _) = app.redeem(&app.staff, &json!({"token": winner["token"]})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, p) = app.redeem(&app.staff, &json!({"code": winner["code"]})).await;
    assert_eq!(
        (s, problem_code(&p)),
        (StatusCode::CONFLICT, ProblemCode::AlreadyRedeemed)
    );
    app.stop().await;
}

/// Overload: with one request slot held by a slow upload, the next request is shed at once with
/// 503 overloaded + Retry-After; the slow request itself ends with 503 timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_sheds_and_times_out() {
    let app = spawn_app_with(Backend::Sqlite, demo(1, 10, 60), |c| {
        c.max_concurrency = 1;
        c.request_timeout = std::time::Duration::from_millis(1500);
    })
    .await;
    let mut slow = tokio::net::TcpStream::connect(app.running().addr).await.unwrap();
    slow.write_all(
        b"POST /v1/identities HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"contact\"",
    )
    .await
    .unwrap();
    // The slot is taken once the server has read the headers; poll until a request is shed.
    let mut shed = None;
    for _ in 0..100 {
        let r = app.get("/v1/campaigns/demo").await;
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            shed = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = shed.expect("a request beyond the concurrency limit is shed");
    assert_eq!(r.headers()["retry-after"], "1");
    expect_problem(r, ProblemCode::Overloaded).await;
    // Health and metrics stay outside the limit.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let text = app.get("/metrics").await.text().await.unwrap();
    let shed_total: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("lineup_shed_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(shed_total >= 1, "{text}");
    // The stalled request is ended by the timeout.
    let mut buf = vec![0u8; 4096];
    let n = slow.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(head.contains("\"code\":\"timeout\""), "{head}");
    app.stop().await;
}
