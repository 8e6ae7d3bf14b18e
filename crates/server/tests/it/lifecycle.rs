//! The whole life of a campaign over real HTTP: registration, pre-queue, draw, fate before
//! opening, paced admission, claims with idempotency, expiry returning a voucher to the
//! waitlist, sell-out, recovery, box office, closing.

use crate::common::*;
use lineup_protocol::voucher::{PublicKeySet, verify};
use lineup_protocol::{Campaign, KeysResponse, ProblemCode, Voucher, VoucherList};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_lifecycle() {
    for backend in backends() {
        lifecycle(backend).await;
    }
}

async fn lifecycle(backend: Backend) {
    // 3 vouchers, one admission per second, a 60 s window.
    let app = spawn_app(backend, demo(3, 1, 60)).await;

    // Public, cacheable reads.
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get("/v1/campaigns/demo").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "public, max-age=1");
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let c: Campaign = r.json().await.unwrap();
    assert_eq!(
        (c.supply, c.remaining, c.amount, c.currency.as_str()),
        (3, 3, 6000, "KRW")
    );
    assert_eq!(c.title, "영화관람 6천원 할인권");
    assert_eq!(c.brands, ["CGV", "Lotte Cinema", "Megabox"]);
    assert!(c.prequeue_opens_at <= c.draw_at && c.draw_at < c.opens_at && c.opens_at < c.closes_at);
    let r = app
        .http
        .get(format!("{}/v1/campaigns/demo", app.url))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let list: Value = app.get("/v1/campaigns").await.json().await.unwrap();
    assert_eq!(list["campaigns"][0]["id"], "demo");
    let keys: KeysResponse = app.get("/v1/keys").await.json().await.unwrap();
    assert_eq!(keys.keys[0].kid, app.running().kid);
    let keyset = PublicKeySet::from_response(&keys).unwrap();
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"]["/v1/campaigns/{id}/claim"]["post"].is_object());

    // Pre-registration: 201, then 200 for the same key and contact.
    let people: Vec<Person> = (0..6).map(Person::new).collect();
    for p in &people[..5] {
        assert_eq!(app.register(p).await, StatusCode::CREATED);
    }
    assert_eq!(app.register(&people[0]).await, StatusCode::OK);

    // Pre-queue: a place, the same place again, a check moment inside the first 80% of the draw span.
    let mut tickets = HashMap::new();
    for (i, p) in people[..5].iter().enumerate() {
        let (s, t) = app.take(p).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        assert_eq!(t["state"], "pre_queue");
        assert_eq!(t["in_draw"], true);
        assert!(t.get("position").is_none());
        let check: chrono::DateTime<chrono::Utc> = serde_json::from_value(t["check_at"]["at"].clone()).unwrap();
        assert!(check >= c.draw_at && check < c.draw_at + (c.opens_at - c.draw_at) * 8 / 10);
        tickets.insert(i, t["ticket_id"].as_str().unwrap().to_owned());
    }
    let (s, again) = app.take(&people[0]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["ticket_id"], tickets[&0].as_str());

    // Claim before admission: 409 not_admitted with check_at and Retry-After.
    let (s, p) = app.claim(&people[0], &tickets[&0], "k0").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(problem_code(&p), ProblemCode::NotAdmitted);
    assert!(p["check_at"]["in_ms"].as_u64().is_some());

    // The draw: positions 1..5 in some order, the fate known before opening.
    app.advance(31);
    let mut by_pos = HashMap::new();
    for (i, p) in people[..5].iter().enumerate() {
        let t = app.status(p).await;
        let pos = t["position"].as_u64().unwrap();
        if pos <= 3 {
            assert_eq!(t["state"], "in_line", "{t}");
            assert_eq!(t["check_at"], t["admit_at"]);
        } else {
            assert_eq!(t["state"], "waitlisted", "{t}");
            assert_eq!(t["waitlist"].as_u64().unwrap(), pos - 3);
        }
        assert!(by_pos.insert(pos, i).is_none());
    }
    assert_eq!(by_pos.len(), 5);

    // A late arrival joins the back of the line and learns its fate in the same response.
    assert_eq!(app.register(&people[5]).await, StatusCode::CREATED);
    let (s, late) = app.take(&people[5]).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(late["in_draw"], false);
    assert_eq!(late["position"], 6);
    assert_eq!(late["state"], "waitlisted");
    assert_eq!(late["waitlist"], 3);
    tickets.insert(5, late["ticket_id"].as_str().unwrap().to_owned());
    by_pos.insert(6, 5);

    // Opening: position 1 is admitted and claims; the token verifies offline.
    app.advance(29);
    let first = by_pos[&1];
    let t = app.status(&people[first]).await;
    assert_eq!(t["state"], "admitted", "{t}");
    let (s, v) = app.claim(&people[first], &tickets[&first], "key-first").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let v: Voucher = serde_json::from_value(v).unwrap();
    assert_eq!(v.serial, 1);
    let checked = verify(&v.token, &keyset, Some(app.now())).unwrap();
    assert!(checked.claims.is_held_by(&people[first].id));
    assert_eq!(checked.code(), v.code);
    // Replay with the same key: 200, same voucher. Another key: the same voucher. Same key, other body: 422.
    let (s, again) = app.claim(&people[first], &tickets[&first], "key-first").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["token"], v.token.as_str());
    let (s, again) = app.claim(&people[first], &tickets[&first], "another-key").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["serial"], 1);
    let (s, p) = app.claim(&people[first], "some-other-ticket", "key-first").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_code(&p), ProblemCode::IdempotencyKeyMismatch);
    let t = app.status(&people[first]).await;
    assert_eq!(t["state"], "claimed");
    assert_eq!(t["voucher"]["serial"], 1);

    // Position 3 is not admitted yet at opening + 1 s (rate 1/s: admitted at + 2 s).
    app.advance(1);
    let third = by_pos[&3];
    let (s, p) = app.claim(&people[third], &tickets[&third], "k3").await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    // The problem points at the ticket's own admission instant (compared as instants: the
    // test clock also moves with real time, so the delay shrinks on a loaded machine).
    let wait = p["check_at"]["in_ms"].as_u64().unwrap();
    assert!(wait <= 1000, "position 3 is admitted 1 s later, not {wait} ms");
    let t3 = app.status(&people[third]).await;
    assert_eq!(p["check_at"]["at"], t3["admit_at"]["at"], "{p} vs {t3}");
    let second = by_pos[&2];
    let (s, v2) = app.claim(&people[second], &tickets[&second], "k2").await;
    assert_eq!(s, StatusCode::CREATED, "{v2}");
    assert_eq!(v2["serial"], 2);

    // Position 3 never claims: after its window it is expired and the first waitlisted is admitted.
    let t = app.status(by_pos_person(&people, &by_pos, 4)).await;
    assert_eq!(t["state"], "waitlisted");
    assert!(t["check_at"]["in_ms"].as_u64().unwrap() > 60_000, "{t}");
    app.advance(62);
    let t = app.status(&people[third]).await;
    assert_eq!(t["state"], "expired", "{t}");
    assert!(t.get("check_at").is_none());
    let (s, p) = app.claim(&people[third], &tickets[&third], "k3").await;
    assert_eq!(s, StatusCode::GONE);
    assert_eq!(problem_code(&p), ProblemCode::AdmissionExpired);
    let fourth = by_pos[&4];
    let t = app.status(&people[fourth]).await;
    assert_eq!(t["state"], "admitted", "{t}");
    let (s, v3) = app.claim(&people[fourth], &tickets[&fourth], "k4").await;
    assert_eq!(s, StatusCode::CREATED, "{v3}");
    assert_eq!(v3["serial"], 3);

    // Sold out: the rest are told so, and claims get 410 sold_out.
    for pos in [5, 6] {
        let who = by_pos[&pos];
        let t = app.status(&people[who]).await;
        assert_eq!(t["state"], "sold_out", "{t}");
        let (s, p) = app.claim(&people[who], &tickets[&who], "kx").await;
        assert_eq!(s, StatusCode::GONE);
        assert_eq!(problem_code(&p), ProblemCode::SoldOut);
    }
    let c: Campaign = app.get("/v1/campaigns/demo").await.json().await.unwrap();
    assert_eq!((c.remaining, c.issued), (0, 3));
    assert_eq!(c.phase, lineup_protocol::CampaignPhase::SoldOut);

    // Recovery: GET /v1/vouchers lists what the identity holds.
    let r = app
        .signed(&people[second], Method::GET, "/v1/vouchers", None, &[])
        .await;
    let list: VoucherList = r.json().await.unwrap();
    assert_eq!(list.vouchers.len(), 1);
    assert_eq!(list.vouchers[0].serial, 2);
    let r = app.signed(&people[third], Method::GET, "/v1/vouchers", None, &[]).await;
    let list: VoucherList = r.json().await.unwrap();
    assert!(list.vouchers.is_empty());

    // Box office: first redemption wins, the second is 409 with when; by code works too.
    let staff = app.staff.clone();
    let (s, r1) = app.redeem(&staff, &json!({"token": v.token})).await;
    assert_eq!(s, StatusCode::OK, "{r1}");
    assert_eq!(r1["serial"], 1);
    let (s, p) = app.redeem(&staff, &json!({"token": v.token})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(problem_code(&p), ProblemCode::AlreadyRedeemed);
    assert_eq!(p["first_redeemed_at"], r1["redeemed_at"]);
    let (s, r2) = app.redeem(&staff, &json!({"code": v2["code"]})).await;
    assert_eq!(s, StatusCode::OK, "{r2}");
    let (s, p) = app.redeem(&staff, &json!({"code": v2["code"]})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(problem_code(&p), ProblemCode::AlreadyRedeemed);
    let r = app.signed(&people[first], Method::GET, "/v1/vouchers", None, &[]).await;
    let list: VoucherList = r.json().await.unwrap();
    assert_eq!(list.vouchers[0].status, lineup_protocol::VoucherStatus::Redeemed);

    // Metrics mirror the campaign, within the background tick's refresh (a scrape reads no
    // database).
    let mut text = String::new();
    for _ in 0..50 {
        text = app.get("/metrics").await.text().await.unwrap();
        if text.contains(r#"lineup_redeemed_total{campaign="demo"} 2"#) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(text.contains(r#"lineup_issued_total{campaign="demo"} 3"#), "{text}");
    assert!(text.contains(r#"lineup_redeemed_total{campaign="demo"} 2"#), "{text}");
    assert!(text.contains("lineup_request_duration_seconds_bucket"), "{text}");
    assert!(
        text.contains(r#"route="/v1/campaigns/{id}/claim",status="201""#),
        "{text}"
    );

    // Closing: unclaimed tickets are closed, claims get 410 campaign_closed.
    app.advance(3600);
    let who = by_pos[&5];
    let t = app.status(&people[who]).await;
    assert_eq!(t["state"], "closed");
    let (s, p) = app.claim(&people[who], &tickets[&who], "late").await;
    assert_eq!(s, StatusCode::GONE);
    assert_eq!(problem_code(&p), ProblemCode::CampaignClosed);
    let t = app.status(&people[first]).await;
    assert_eq!(t["state"], "claimed", "a claimed ticket stays claimed");
    app.stop().await;
}

fn by_pos_person<'a>(people: &'a [Person], by_pos: &HashMap<u64, usize>, pos: u64) -> &'a Person {
    &people[by_pos[&pos]]
}
