//! A restart mid-campaign loses no issued voucher and no place in line, and the draw is not
//! redone.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_places_and_vouchers() {
    for backend in backends() {
        restart(backend).await;
    }
}

async fn restart(backend: Backend) {
    let mut app = spawn_app(backend, demo(5, 1000, 600)).await;
    let people: Vec<Person> = (0..12).map(Person::new).collect();
    for p in &people {
        assert_eq!(app.register(p).await, StatusCode::CREATED);
        assert_eq!(app.take(p).await.0, StatusCode::CREATED);
    }
    let campaign_before: Value = app.get("/v1/campaigns/demo").await.json().await.unwrap();

    // Restart before the draw: the pre-queue survives.
    app.restart().await;
    let campaign_after: Value = app.get("/v1/campaigns/demo").await.json().await.unwrap();
    assert_eq!(
        campaign_before["opens_at"], campaign_after["opens_at"],
        "the demo keeps its instants"
    );
    for p in &people {
        assert_eq!(app.status(p).await["state"], "pre_queue");
    }

    app.advance(61);
    let mut before = Vec::new();
    for p in &people {
        before.push(app.status(p).await);
    }
    let mut vouchers = Vec::new();
    for (p, t) in people.iter().zip(&before) {
        if t["state"] == "admitted" {
            let (s, v) = app.claim(p, t["ticket_id"].as_str().unwrap(), "restart-key").await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            vouchers.push(v);
        }
    }
    assert_eq!(vouchers.len(), 5);

    // Restart after opening: positions, tickets and vouchers are as they were.
    app.restart().await;
    for (p, t) in people.iter().zip(&before) {
        let now = app.status(p).await;
        assert_eq!(now["ticket_id"], t["ticket_id"]);
        assert_eq!(now["position"], t["position"], "the draw is not redone");
    }
    let mut listed = 0;
    for (p, t) in people.iter().zip(&before) {
        let r = app.signed(p, Method::GET, "/v1/vouchers", None, &[]).await;
        let list: Value = r.json().await.unwrap();
        let n = list["vouchers"].as_array().unwrap().len();
        listed += n;
        if t["state"] == "admitted" {
            assert_eq!(n, 1);
            // Replaying the claim after the restart returns the stored voucher.
            let (s, v) = app.claim(p, t["ticket_id"].as_str().unwrap(), "restart-key").await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(v["token"], list["vouchers"][0]["token"]);
        } else {
            assert_eq!(n, 0);
        }
    }
    assert_eq!(listed, 5);
    let c: Value = app.get("/v1/campaigns/demo").await.json().await.unwrap();
    assert_eq!(c["issued"], 5);
    app.stop().await;
}
