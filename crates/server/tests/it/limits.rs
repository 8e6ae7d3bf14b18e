//! Rate limits over real HTTP: one address's budget (and its own for another address and for
//! each client behind a trusted proxy), one identity's budget, the 429 problem with
//! `Retry-After` and the RateLimit header fields; junk claims that write nothing; idempotency keys
//! that expire; `/metrics` on a listener of its own.

use crate::common::*;
use lineup_protocol::ProblemCode;
use lineup_server::limit::{Rate, RateLimitConfig};
use reqwest::{Method, StatusCode};
use std::num::NonZeroU32;

fn rate(per_second: u32, burst: u32) -> Option<Rate> {
    Some(Rate::new(
        NonZeroU32::new(per_second).unwrap(),
        NonZeroU32::new(burst).unwrap(),
    ))
}

fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn code_of(r: reqwest::Response) -> (StatusCode, reqwest::header::HeaderMap, ProblemCode) {
    let (s, h) = (r.status(), r.headers().clone());
    let v: serde_json::Value = r.json().await.unwrap();
    (s, h, problem_code(&v))
}

#[tokio::test]
async fn an_address_gets_its_burst_then_429_and_others_are_untouched() {
    let app = spawn_app_with(Backend::Sqlite, demo(10, 10, 60), |c| {
        c.rate_limits = RateLimitConfig {
            per_address: rate(1, 5),
            per_identity: None,
            trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        };
    })
    .await;
    let list = format!("{}/v1/campaigns", app.url);
    let from_one = client_from("127.0.0.3");
    for left in (0..5).rev() {
        let r = from_one.get(&list).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["ratelimit-policy"], "\"address\";q=5;w=5");
        let state = r.headers()["ratelimit"].to_str().unwrap().to_owned();
        assert!(state.starts_with(&format!("\"address\";r={left};t=")), "{state}");
    }
    let r = from_one.get(&list).send().await.unwrap();
    assert_eq!(
        r.headers()["content-type"],
        lineup_protocol::problem::PROBLEM_CONTENT_TYPE
    );
    let (s, h, code) = code_of(r).await;
    assert_eq!((s, code), (StatusCode::TOO_MANY_REQUESTS, ProblemCode::RateLimited));
    assert_eq!(h["retry-after"], "1");
    assert_eq!(h["ratelimit"], "\"address\";r=0;t=1");
    // Health checks are not /v1 and still answer; another address has its own budget.
    assert_eq!(
        from_one
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        client_from("127.0.0.4").get(&list).send().await.unwrap().status(),
        StatusCode::OK
    );

    // Behind the trusted proxy (127.0.0.1), each forwarded client counts on its own, and the
    // proxy's own address budget is not what is spent.
    let proxy = client_from("127.0.0.1");
    for i in 0..12 {
        let r = proxy
            .get(&list)
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "forwarded client {i}");
    }
    let mut limited = 0;
    for _ in 0..6 {
        let r = proxy
            .get(&list)
            .header("X-Forwarded-For", "203.0.113.7")
            .send()
            .await
            .unwrap();
        limited += usize::from(r.status() == StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(limited, 1, "one forwarded client is limited after its burst of 5");
    // A stranger's X-Forwarded-For is not believed: it spends the stranger's own budget.
    let stranger = client_from("127.0.0.5");
    let mut limited = 0;
    for i in 0..6 {
        let r = stranger
            .get(&list)
            .header("X-Forwarded-For", format!("192.0.2.{i}"))
            .send()
            .await
            .unwrap();
        limited += usize::from(r.status() == StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(limited, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_hammering_identity_is_limited_and_a_calm_one_is_not() {
    let app = spawn_app_with(Backend::Sqlite, demo(10, 10, 60), |c| {
        c.rate_limits = RateLimitConfig {
            per_address: None,
            per_identity: rate(1, 10),
            trusted_proxies: Vec::new(),
        };
    })
    .await;
    let (bot, calm) = (Person::new(1), Person::new(2));
    assert_eq!(app.register(&bot).await, StatusCode::CREATED);
    assert_eq!(app.register(&calm).await, StatusCode::CREATED);
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let r = app.signed(&bot, Method::GET, "/v1/vouchers", None, &[]).await;
        statuses.push(r.status());
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.headers()["ratelimit-policy"], "\"identity\";q=10;w=10");
            assert!(r.headers().contains_key("retry-after"));
        }
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    // The registration spent one of the burst (10): nine more pass in the same second.
    assert!((9..=10).contains(&ok), "{ok} of 40 passed: {statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::TOO_MANY_REQUESTS)
    );
    let r = app.signed(&calm, Method::GET, "/v1/vouchers", None, &[]).await;
    assert_eq!(r.status(), StatusCode::OK, "another identity keeps its own budget");
    app.stop().await;
}

async fn junk_writes_nothing(backend: Backend) {
    // 60 claims in a row from two people: faster than the identity limit allows, and beside
    // the point here.
    let app = spawn_app_with(backend, demo(2, 100, 600), |c| c.rate_limits = RateLimitConfig::off()).await;
    let (holder, stranger) = (Person::new(1), Person::new(2));
    for p in [&holder, &stranger] {
        assert_eq!(app.register(p).await, StatusCode::CREATED);
    }
    let (_, t) = app.take(&holder).await;
    let ticket = t["ticket_id"].as_str().unwrap().to_owned();
    app.advance(62);
    let (s, v) = app.claim(&holder, &ticket, "first").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // The holder asks again with 30 fresh keys; a stranger with no ticket claims 30 times.
    for i in 0..30 {
        let (s, again) = app.claim(&holder, &ticket, &format!("again-{i}")).await;
        assert_eq!(s, StatusCode::OK, "{again}");
        assert_eq!(again["serial"], v["serial"]);
        let (s, p) = app.claim(&stranger, &ticket, &format!("junk-{i}")).await;
        assert_eq!((s, problem_code(&p)), (StatusCode::NOT_FOUND, ProblemCode::NoTicket));
    }
    // The first key still answers its own body, and refuses another.
    let (s, _) = app.claim(&holder, &ticket, "first").await;
    assert_eq!(s, StatusCode::OK);
    let (s, p) = app.claim(&holder, "t_other", "first").await;
    assert_eq!(
        (s, problem_code(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, ProblemCode::IdempotencyKeyMismatch)
    );
    // Only the first claim's key was ever stored: the sweep of everything finds one.
    let store = app.running().state.store();
    let far = app.now() + chrono::Duration::days(2);
    assert_eq!(store.expire_idempotency_keys(far).await.unwrap(), 1, "{backend:?}");
    // After expiry a retry with the same key is answered from what the holder holds.
    let (s, again) = app.claim(&holder, &ticket, "first").await;
    assert_eq!((s, &again["serial"]), (StatusCode::OK, &v["serial"]));
    app.stop().await;
}

#[tokio::test]
async fn junk_claims_and_repeats_write_nothing_and_keys_expire() {
    for backend in backends() {
        junk_writes_nothing(backend).await;
    }
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let app = spawn_app_with(Backend::Sqlite, demo(10, 10, 60), |c| {
        c.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (s, _, code) = code_of(app.get("/metrics").await).await;
    assert_eq!((s, code), (StatusCode::NOT_FOUND, ProblemCode::NotFound));
    let at = app.running().metrics_addr.expect("a metrics address");
    let r = reqwest::get(format!("http://{at}/metrics")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains("lineup_requests_total"), "{text}");
    app.stop().await;
}
