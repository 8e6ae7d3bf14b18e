//! Signatures name the server: a request signed for another origin is refused (a malicious
//! server cannot replay a user's signed request to the real one), and a server with its public
//! origins configured accepts only those.

use crate::common::*;
use lineup_protocol::ProblemCode;
use lineup_protocol::auth::{Origin, sign_request};
use reqwest::StatusCode;

async fn vouchers_signed_for(app: &TestApp, who: &Person, origin: &Origin) -> reqwest::Response {
    let auth = sign_request(&who.key, origin, "GET", "/v1/vouchers", app.now().timestamp(), b"");
    app.http
        .get(format!("{}/v1/vouchers", app.url))
        .header("Authorization", auth)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_request_signed_for_another_server_is_refused() {
    let app = spawn_app(Backend::Sqlite, demo(5, 10, 60)).await;
    let who = Person::new(1);
    assert_eq!(app.register(&who).await, StatusCode::CREATED);
    // What a malicious server at evil.example would forward within the 120 s window.
    let evil: Origin = "https://evil.example".parse().unwrap();
    let p = expect_problem(vouchers_signed_for(&app, &who, &evil).await, ProblemCode::BadSignature).await;
    assert!(p.detail.contains("origin"), "{}", p.detail);
    // The same request signed for this server's origin (its Host) passes.
    assert_eq!(
        vouchers_signed_for(&app, &who, &app.origin()).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn configured_origins_are_the_only_ones_accepted() {
    let public: Origin = "https://lineup.example".parse().unwrap();
    let app = spawn_app_with(Backend::Sqlite, demo(5, 10, 60), |c| {
        c.public_origins = vec![public.clone()];
    })
    .await;
    let who = Person::new(2);
    // Registration signed for the loopback address the test reaches: not this server's origin.
    assert_eq!(app.register(&who).await, StatusCode::UNAUTHORIZED);
    let body = serde_json::to_vec(&serde_json::json!({"contact": who.contact, "consent": true})).unwrap();
    let auth = sign_request(
        &who.key,
        &public,
        "POST",
        "/v1/identities",
        app.now().timestamp(),
        &body,
    );
    let r = app
        .http
        .post(format!("{}/v1/identities", app.url))
        .header("Authorization", auth)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(vouchers_signed_for(&app, &who, &public).await.status(), StatusCode::OK);
    app.stop().await;
}
