//! Connection-level limits on a real listener: a client that sends its headers too slowly, or
//! keeps a connection idle, is closed at the header deadline; past the connection cap a new
//! connection gets a 503 problem+json at once; calm requests go on throughout.

use crate::common::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn read_all(s: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut out)).await;
    (String::from_utf8_lossy(&out).into_owned(), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_surplus_connections_are_closed() {
    let app = spawn_app_with(Backend::Sqlite, demo(10, 10, 60), |c| {
        c.connections.max_connections = 4;
        c.connections.header_read_timeout = Duration::from_millis(600);
    })
    .await;
    let addr = app.running().addr;

    // Half a request line, then nothing: closed at the deadline, long before any 10 s timeout.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHo").await.unwrap();
    let (_, waited) = read_all(&mut slow, Duration::from_secs(5)).await;
    assert!(
        waited < Duration::from_secs(3),
        "a slow header was closed after {waited:?}"
    );

    // A kept-alive connection that goes quiet after one request is closed the same way.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let (text, waited) = read_all(&mut idle, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        waited < Duration::from_secs(3),
        "an idle connection was closed after {waited:?}"
    );

    // Four silent connections fill the cap: the fifth is refused at once, as problem+json.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fifth = TcpStream::connect(addr).await.unwrap();
    let (text, waited) = read_all(&mut fifth, Duration::from_secs(5)).await;
    assert!(
        waited < Duration::from_millis(500),
        "refused at once, not after {waited:?}"
    );
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.contains("application/problem+json") && text.contains("\"code\":\"overloaded\""),
        "{text}"
    );
    assert!(text.contains("Retry-After: 1"), "{text}");

    // Once the silent ones pass their deadline (they never sent a byte), they are closed and
    // their slots are free again.
    for h in &mut held {
        let (_, waited) = read_all(h, Duration::from_secs(5)).await;
        assert!(
            waited < Duration::from_secs(3),
            "a silent connection was closed after {waited:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    drop(held);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_do_not_hold_the_api() {
    // Two requests at once under /v1, bodies due within 600 ms.
    let app = spawn_app_with(Backend::Sqlite, demo(10, 10, 60), |c| {
        c.max_concurrency = 2;
        c.body_timeout = Duration::from_millis(600);
    })
    .await;
    let addr = app.running().addr;
    // Three uploads that declare 100 bytes and send one.
    let mut slow = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            b"POST /v1/identities HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The API answers meanwhile: the uploads wait for their bodies outside its two slots.
    for _ in 0..3 {
        let r = app.get("/v1/campaigns/demo").await;
        assert_eq!(r.status(), reqwest::StatusCode::OK);
    }
    // Each upload ends with 408 problem+json at its deadline.
    for s in &mut slow {
        let (text, waited) = read_all(s, Duration::from_secs(5)).await;
        assert!(waited < Duration::from_secs(2), "answered after {waited:?}");
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("\"code\":\"body_timeout\""), "{text}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_a_newcomer_takes_the_place_of_the_longest_silent() {
    let app = spawn_app_with(Backend::Sqlite, demo(10, 10, 60), |c| {
        c.connections.max_connections = 4;
        c.connections.header_read_timeout = Duration::from_secs(30);
    })
    .await;
    let addr = app.running().addr;
    // Four connections that never send a byte fill the cap, and stay silent past the eviction age.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(lineup_server::listen::EVICT_SILENT_AFTER + Duration::from_millis(200)).await;
    // Calm requests, each on a new connection, are served (30 s before the silent ones' deadline).
    for _ in 0..3 {
        let mut calm = TcpStream::connect(addr).await.unwrap();
        calm.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let (text, _) = read_all(&mut calm, Duration::from_secs(5)).await;
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    }
    // The oldest silent ones were closed to make room (read returns at once: end of stream).
    let (_, waited) = read_all(&mut held[0], Duration::from_secs(5)).await;
    assert!(
        waited < Duration::from_secs(1),
        "the longest-silent was closed, after {waited:?}"
    );
    // A newcomer that finds only fresh connections at the cap is still refused at once.
    let mut fresh = Vec::new();
    for _ in 0..4 {
        fresh.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut late = TcpStream::connect(addr).await.unwrap();
    let (text, _) = read_all(&mut late, Duration::from_secs(5)).await;
    assert!(
        text.starts_with("HTTP/1.1 503") || text.is_empty(),
        "refused while every silent connection is younger than the eviction age: {text}"
    );
    drop((held, fresh));
    app.stop().await;
}
