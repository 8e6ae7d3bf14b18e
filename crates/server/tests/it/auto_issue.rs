//! Issuance by the server (protocol 1.1) over real HTTP, on SQLite and PostgreSQL: opted-in
//! winners hold their voucher without ever claiming (a phone asleep from join to close), in
//! admission order and exactly once across a restart; waitlisted people get no check to make;
//! a give-back reaches the first waitlisted person and is issued the same way; explicit claims
//! still work next to it; a restarted server goes on issuing.

use crate::common::*;
use lineup_protocol::ProblemCode;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_issues_at_each_turn() {
    for backend in backends() {
        server_issues(backend).await;
    }
}

impl TestApp {
    pub(crate) async fn take_auto(&self, who: &Person, key: &str) -> (StatusCode, Value) {
        let r = self
            .signed(
                who,
                Method::POST,
                "/v1/campaigns/demo/tickets",
                Some(&json!({"auto_issue": true})),
                &[("Idempotency-Key", key)],
            )
            .await;
        (r.status(), r.json().await.unwrap())
    }

    pub(crate) async fn vouchers(&self, who: &Person) -> Vec<Value> {
        let r = self.signed(who, Method::GET, "/v1/vouchers", None, &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        v["vouchers"].as_array().unwrap().clone()
    }

    /// Waits (real time) until `who`'s ticket is in `state`, at most 10 s.
    pub(crate) async fn wait_state(&self, who: &Person, state: &str) -> Value {
        for _ in 0..200 {
            let t = self.status(who).await;
            if t["state"] == state {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} never reached {state}: {}", who.contact, self.status(who).await);
    }
}

async fn server_issues(backend: Backend) {
    // 4 vouchers, 1000 admissions/s (all admitted within milliseconds of opening), 60 s window.
    let mut app = spawn_app(backend, demo(4, 1000, 60)).await;
    let people: Vec<Person> = (0..8).map(Person::new).collect();
    for p in &people {
        assert_eq!(app.register(p).await, StatusCode::CREATED);
    }
    // Opting in needs a key made before the first attempt.
    let r = app
        .signed(
            &people[0],
            Method::POST,
            "/v1/campaigns/demo/tickets",
            Some(&json!({"auto_issue": true})),
            &[],
        )
        .await;
    let p = expect_problem(r, ProblemCode::AutoIssueKeyRequired).await;
    assert_eq!(p.status, 400);
    // Unknown fields are refused.
    let r = app
        .signed(
            &people[0],
            Method::POST,
            "/v1/campaigns/demo/tickets",
            Some(&json!({"auto_issue": true, "turbo": 1})),
            &[("Idempotency-Key", "k0")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Seven opt in (one of them twice: same place), one claims explicitly (protocol 1.0).
    let mut tickets = HashMap::new();
    for (n, p) in people.iter().enumerate().take(7) {
        let (s, t) = app.take_auto(p, &format!("auto-{n}")).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        assert_eq!(t["auto_issue"], true);
        assert_eq!(t["state"], "pre_queue");
        tickets.insert(n, t["ticket_id"].as_str().unwrap().to_owned());
    }
    let (s, again) = app.take_auto(&people[0], "auto-0").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["ticket_id"], tickets[&0].as_str());
    let (s, manual) = app.take(&people[7]).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(manual["auto_issue"], false);
    tickets.insert(7, manual["ticket_id"].as_str().unwrap().to_owned());
    let c: Value = app.get("/v1/campaigns/demo").await.json().await.unwrap();
    assert_eq!(c["entrants"], 8);

    // The draw (30 s before opening): winners learn their turn and that no claim is needed.
    app.advance(31);
    let mut by_pos = HashMap::new();
    for (n, p) in people.iter().enumerate() {
        let t = app.status(p).await;
        by_pos.insert(t["position"].as_u64().unwrap(), n);
        let pos = t["position"].as_u64().unwrap();
        if pos <= 4 {
            assert_eq!(t["state"], "in_line", "{t}");
            if n < 7 {
                assert!(
                    t.get("admit_until").is_none(),
                    "no claim deadline when the server issues: {t}"
                );
                // check_at: one fetch shortly after the admission instant.
                let admit = t["admit_at"]["in_ms"].as_u64().unwrap();
                let check = t["check_at"]["in_ms"].as_u64().unwrap();
                assert!(check >= admit && check <= admit + 1_001, "{t}");
            }
        } else {
            assert_eq!(t["state"], "waitlisted", "{t}");
            if n < 7 {
                assert!(
                    t.get("check_at").is_none(),
                    "an opted-in waitlisted person checks nothing: {t}"
                );
            }
        }
    }
    let mut positions: Vec<u64> = by_pos.keys().copied().collect();
    positions.sort();
    assert_eq!(positions, (1..=8).collect::<Vec<_>>(), "the draw is a permutation");

    // Opening: every opted-in winner holds a voucher without a claim, serials in admission order.
    app.advance(30);
    let winners: Vec<usize> = (1..=4).map(|p| by_pos[&p]).collect();
    let mut serial_by_pos = Vec::new();
    for (i, &n) in winners.iter().enumerate() {
        if n == 7 {
            // The protocol-1.0 client claims itself, inside its window.
            let (s, v) = app.claim(&people[7], &tickets[&7], "manual").await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            continue;
        }
        let t = app.wait_state(&people[n], "claimed").await;
        serial_by_pos.push((i + 1, t["voucher"]["serial"].as_u64().unwrap()));
        let list = app.vouchers(&people[n]).await;
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["token"], t["voucher"]["token"]);
        // A claim with any key returns the same voucher (exactly once).
        let (s, v) = app.claim(&people[n], &tickets[&n], &format!("auto-{n}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["token"], t["voucher"]["token"]);
    }
    let c: Value = app.get("/v1/campaigns/demo").await.json().await.unwrap();
    assert_eq!(c["issued"], 4, "{c}");
    assert_eq!(c["phase"], "sold_out");

    // A restart changes nothing: no second voucher, same serials.
    app.restart().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (i, &n) in winners.iter().enumerate() {
        if n == 7 {
            continue;
        }
        assert_eq!(app.vouchers(&people[n]).await.len(), 1);
        let t = app.status(&people[n]).await;
        assert!(serial_by_pos.contains(&(i + 1, t["voucher"]["serial"].as_u64().unwrap())));
    }

    // Give-back: the first winner returns the voucher; it is void at the box office and the
    // first waitlisted person (opted in) is issued a voucher by the server.
    let giver = winners.iter().copied().find(|&n| n != 7).unwrap();
    let held = app.status(&people[giver]).await;
    let r = app
        .signed(
            &people[giver],
            Method::POST,
            "/v1/campaigns/demo/tickets/me/return",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["state"], "returned", "{t}");
    // Idempotent.
    let r = app
        .signed(
            &people[giver],
            Method::POST,
            "/v1/campaigns/demo/tickets/me/return",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (s, p) = app
        .redeem(&app.staff.clone(), &json!({"token": held["voucher"]["token"]}))
        .await;
    assert_eq!(s, StatusCode::GONE, "{p}");
    assert_eq!(problem_code(&p), ProblemCode::Returned);
    let list = app.vouchers(&people[giver]).await;
    assert_eq!(list[0]["status"], "returned");
    let first_waitlisted = by_pos[&5];
    if first_waitlisted != 7 {
        let t = app.wait_state(&people[first_waitlisted], "claimed").await;
        assert_eq!(t["voucher"]["serial"], 5, "{t}");
        let second_waitlisted = by_pos[&6];
        if second_waitlisted != 7 {
            // Every voucher is out again: the rest of the waitlist reads sold out (from counters
            // at most 100 ms old).
            app.wait_state(&people[second_waitlisted], "sold_out").await;
        }
    }
    app.stop().await;
}
