//! A draw anyone can check: the commitment is published from the start and never changes, the
//! reveal matches it, the published join order recomputes every position the server tells
//! people (from the whole list and from per-ticket Merkle proofs), and a join order changed in
//! the database after the seal is caught.

use crate::common::{Backend, Person, TestApp, backends, demo, expect_problem, spawn_app};
use lineup_protocol::ProblemCode;
use lineup_protocol::draw::{DrawInfo, DrawPage, DrawProof, DrawVerifyError, RevealedDraw};
use lineup_server::DbLocation;
use std::collections::HashMap;

async fn info(app: &TestApp) -> DrawInfo {
    let r = app.get("/v1/campaigns/demo/draw").await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The whole list, in pages of `limit`.
async fn list(app: &TestApp, limit: u64) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let r = app
            .get(&format!(
                "/v1/campaigns/demo/draw/tickets?from={}&limit={limit}",
                ids.len() + 1
            ))
            .await;
        assert_eq!(r.status(), 200);
        let page: DrawPage = r.json().await.unwrap();
        assert_eq!(page.from, ids.len() as u64 + 1);
        if page.tickets.is_empty() {
            return ids;
        }
        assert!(page.tickets.len() as u64 <= limit);
        ids.extend(page.tickets);
    }
}

/// Runs SQL on the test server's database, as someone with access to it would.
async fn tamper(app: &TestApp, sql: &str) {
    match &app.config.db {
        DbLocation::Sqlite(path) => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        DbLocation::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

async fn run(backend: Backend) {
    let app = spawn_app(backend, demo(4, 100, 300)).await;
    // Before the draw: a commitment, nothing revealed, no list yet.
    let before = info(&app).await;
    assert!(!before.drawn);
    assert_eq!(before.commitment.len(), 64);
    assert!(before.seed.is_none() && before.salt.is_none() && before.n.is_none() && before.list_root.is_none());
    // 37 tickets: the server keeps its tree in blocks of 16, so proofs cross two full blocks and
    // a partial one.
    let people: Vec<Person> = (0..38).map(Person::new).collect();
    let mut ticket_of = HashMap::new();
    for p in &people[..37] {
        assert_eq!(app.register(p).await, 201);
        let (s, t) = app.take(p).await;
        assert_eq!(s, 201);
        ticket_of.insert(t["ticket_id"].as_str().unwrap().to_owned(), p);
    }
    expect_problem(app.get("/v1/campaigns/demo/draw/tickets").await, ProblemCode::TooEarly).await;
    assert_eq!(
        info(&app).await.commitment,
        before.commitment,
        "the commitment is fixed"
    );

    // The draw: the reveal matches the commitment seen before it.
    app.advance(31);
    // A late arrival is not in the draw.
    assert_eq!(app.register(&people[37]).await, 201);
    let (_, late) = app.take(&people[37]).await;
    let after = info(&app).await;
    assert!(after.drawn);
    assert_eq!(after.n, Some(37));
    let revealed: RevealedDraw = after.reveal(Some(&before.commitment)).unwrap();
    let ids = list(&app, 5).await;
    assert_eq!(ids.len(), 37);
    assert!(!ids.contains(&late["ticket_id"].as_str().unwrap().to_owned()));
    let order = revealed.verify_list(&ids).unwrap();
    // Every position the server tells a person is the one the published draw gives, and every
    // per-ticket proof (what a phone checks) gives it too.
    for (tid, p) in &ticket_of {
        let told = app.status(p).await["position"].as_u64().unwrap();
        assert_eq!(order.position_of[tid], told, "ticket {tid}");
        let proof: DrawProof = app
            .get(&format!("/v1/campaigns/demo/draw/proof/{tid}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(revealed.verify_proof(&proof).unwrap(), told);
    }
    expect_problem(
        app.get(&format!(
            "/v1/campaigns/demo/draw/proof/{}",
            late["ticket_id"].as_str().unwrap()
        ))
        .await,
        ProblemCode::NotFound,
    )
    .await;
    expect_problem(
        app.get("/v1/campaigns/demo/draw/tickets?limit=0").await,
        ProblemCode::InvalidInput,
    )
    .await;

    // A list with an id dropped or two ids swapped does not verify.
    let mut dropped = ids.clone();
    dropped.remove(3);
    assert!(matches!(
        revealed.verify_list(&dropped),
        Err(DrawVerifyError::CountMismatch { n: 37, got: 36 })
    ));
    // Someone with database access swaps two tickets' join numbers after the seal: the list the
    // server now serves no longer matches the sealed root.
    tamper(
        &app,
        "UPDATE tickets SET seq = -1 WHERE campaign_id = 'demo' AND seq = 1;
         UPDATE tickets SET seq = 1 WHERE campaign_id = 'demo' AND seq = 2;
         UPDATE tickets SET seq = 2 WHERE campaign_id = 'demo' AND seq = -1;",
    )
    .await;
    let served = list(&app, 100).await;
    assert_eq!(served[0], ids[1]);
    assert_eq!(info(&app).await.list_root, after.list_root, "the seal does not move");
    assert!(matches!(
        revealed.verify_list(&served),
        Err(DrawVerifyError::RootMismatch { .. })
    ));
    // A person whose join number was moved: the server's proof no longer leads to the root.
    let proof: DrawProof = app
        .get(&format!("/v1/campaigns/demo/draw/proof/{}", ids[0]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(proof.seq, 2);
    assert!(matches!(
        revealed.verify_proof(&proof),
        Err(DrawVerifyError::BadProof(_))
    ));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_draw_recomputes_every_position_and_catches_a_tampered_list() {
    for b in backends() {
        run(b).await;
    }
}
