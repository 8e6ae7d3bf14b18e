//! A claim cut off by a stopped instance is taken over by its retry at once; one still being
//! carried out by a live instance answers `request_in_flight`. The keys are planted in the
//! database as a crashed instance would have left them (a SIGKILL at the right instant is not
//! reproducible; `crash.rs` kills real processes for the exactly-once side).

use crate::common::*;
use lineup_protocol::{ClaimRequest, ProblemCode};
use lineup_server::DbLocation;
use reqwest::StatusCode;
use sha2::Digest;

/// Plants `key` for `who`'s claim of `ticket` as in flight since now, owned by `owner`.
async fn plant(app: &TestApp, who: &Person, ticket: &str, key: &str, owner: &str) {
    let body = serde_json::to_vec(&ClaimRequest {
        ticket_id: ticket.to_owned(),
    })
    .unwrap();
    let hash: [u8; 32] = sha2::Sha256::digest(&body).into();
    let now = app.now().timestamp_millis();
    let identity = lineup_protocol::auth::identity_of(&who.key);
    match &app.config.db {
        DbLocation::Sqlite(path) => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO idempotency_keys (campaign_id, identity, key, request_hash, started_at, owner)
                 VALUES ('demo', ?, ?, ?, ?, ?)",
            )
            .bind(&identity.0[..])
            .bind(key)
            .bind(&hash[..])
            .bind(now)
            .bind(owner)
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        DbLocation::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(
                "INSERT INTO idempotency_keys (campaign_id, identity, key, request_hash, started_at, owner)
                 VALUES ('demo', $1, $2, $3, $4, $5)",
            )
            .bind(&identity.0[..])
            .bind(key)
            .bind(&hash[..])
            .bind(now)
            .bind(owner)
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
    }
}

async fn takeover(backend: Backend) {
    let app = spawn_app(backend, demo(5, 100, 600)).await;
    let people: Vec<Person> = (0..2).map(Person::new).collect();
    let mut tickets = Vec::new();
    for p in &people {
        assert_eq!(app.register(p).await, StatusCode::CREATED);
        let (_, t) = app.take(p).await;
        tickets.push(t["ticket_id"].as_str().unwrap().to_owned());
    }
    app.advance(62);
    // Left by an instance that stopped (no heartbeat): the retry carries the claim out at once.
    plant(&app, &people[0], &tickets[0], "cut-off", "a-crashed-instance").await;
    let body = serde_json::json!({"ticket_id": tickets[0]});
    let r = app
        .signed(
            &people[0],
            reqwest::Method::POST,
            "/v1/campaigns/demo/claim",
            Some(&body),
            &[("Idempotency-Key", "cut-off")],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{backend:?}: {}",
        r.text().await.unwrap()
    );
    // Held by this (live) instance: still in flight.
    let me = app.running().state.store().instance().to_owned();
    plant(&app, &people[1], &tickets[1], "running", &me).await;
    let r = app
        .signed(
            &people[1],
            reqwest::Method::POST,
            "/v1/campaigns/demo/claim",
            Some(&serde_json::json!({"ticket_id": tickets[1]})),
            &[("Idempotency-Key", "running")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(problem_code(&p), ProblemCode::RequestInFlight, "{backend:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_claim_cut_off_by_a_stopped_instance_is_taken_over_at_once() {
    for backend in backends() {
        takeover(backend).await;
    }
}
