//! Ticket status without a database read per request (`crate::ticket_cache` in the server):
//! repeated polls are answered from the instance's memory, yet every change the status must
//! show (the draw, a returned voucher reaching the waitlist, an admission running out, this
//! instance's claims and redemptions) shows at once, and a claim made through another instance
//! shows within the cache's TTL.

use crate::common::*;
use lineup_server::ServerConfig;
use lineup_server::metrics::TicketSource;
use lineup_server::ticket_cache::TicketCacheConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Long enough that no entry of a test ages out by itself: every reread below has a reason.
const LONG_TTL: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_polls_are_answered_from_memory() {
    for backend in backends() {
        polls(backend).await;
    }
}

/// Store reads of ticket rows so far on the app's instance.
fn store_reads(app: &TestApp) -> u64 {
    app.running().state.metrics().ticket_reads(TicketSource::Store)
}

/// Polls `who`'s status `n` times; returns the last answer and how many store reads that took.
async fn poll(app: &TestApp, who: &Person, n: usize) -> (Value, u64) {
    let before = store_reads(app);
    let mut last = Value::Null;
    for _ in 0..n {
        last = app.status(who).await;
    }
    (last, store_reads(app) - before)
}

async fn polls(backend: Backend) {
    // 2 vouchers, one admission per second, a 60 s window; 3 people, so one is waitlisted.
    let app = spawn_app_with(backend, demo(2, 1, 60), |c| {
        // Polls here come faster than any client would send them: the cache is measured, not the limits.
        c.rate_limits = lineup_server::limit::RateLimitConfig::off();
        c.ticket_cache = TicketCacheConfig {
            ttl: LONG_TTL,
            capacity: 1000,
        };
    })
    .await;
    let people: Vec<Person> = (0..3).map(Person::new).collect();
    for p in &people {
        assert_eq!(app.register(p).await, StatusCode::CREATED);
        let (s, t) = app.take(p).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
    }

    // Pre-queue: the join cached the row; twenty polls and a second join read nothing.
    let (t, reads) = poll(&app, &people[0], 20).await;
    assert_eq!(t["state"], "pre_queue", "{t}");
    assert_eq!(reads, 0, "{backend:?}: pre-queue polls reached the store");
    let before = store_reads(&app);
    let (s, _) = app.take(&people[0]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(store_reads(&app), before);
    let cached = app
        .get("/metrics")
        .await
        .text()
        .await
        .unwrap()
        .lines()
        .any(|l| l.starts_with(r#"lineup_ticket_reads_total{source="cache"}"#));
    assert!(cached, "the metric is exported");

    // The draw: a pre-queue row is never answered past draw_at; one read each, then none.
    app.advance(31);
    let mut by_pos = HashMap::new();
    for (i, p) in people.iter().enumerate() {
        let (t, reads) = poll(&app, p, 10).await;
        assert_eq!(reads, 1, "{backend:?}: {t}");
        by_pos.insert(
            t["position"].as_u64().unwrap(),
            (i, t["ticket_id"].as_str().unwrap().to_owned()),
        );
    }
    let (first, first_ticket) = by_pos[&1].clone();
    let (second, _) = by_pos[&2].clone();
    let (third, _) = by_pos[&3].clone();
    let (t, _) = poll(&app, &people[third], 1).await;
    assert_eq!(t["state"], "waitlisted", "{t}");

    // Opening: admitted from the same row (only the time moved), without a read.
    app.advance(29);
    let (t, reads) = poll(&app, &people[first], 10).await;
    assert_eq!(t["state"], "admitted", "{t}");
    assert_eq!(reads, 0);

    // A claim through this instance shows at once, then is cached again.
    let (s, v) = app.claim(&people[first], &first_ticket, "key-first").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (t, reads) = poll(&app, &people[first], 10).await;
    assert_eq!(t["state"], "claimed", "{t}");
    assert_eq!(t["voucher"]["serial"], v["serial"]);
    assert_eq!(reads, 1);

    // So does a redemption through this instance.
    let (s, r) = app.redeem(&app.staff, &json!({"code": v["code"]})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (t, reads) = poll(&app, &people[first], 5).await;
    assert_eq!(t["voucher"]["status"], "redeemed", "{t}");
    assert_eq!(reads, 1);

    // The second admission runs out unclaimed: its holder is told `expired` only from a row read
    // after the deadline, and the returned voucher reaches the waitlisted person at once (the
    // counters' reach covers the cached row), long before the TTL.
    let (t, _) = poll(&app, &people[second], 1).await;
    assert!(t["state"] == "in_line" || t["state"] == "admitted", "{t}");
    let (t, _) = poll(&app, &people[third], 3).await;
    assert_eq!(t["state"], "waitlisted", "{t}");
    app.advance(62);
    let (t, reads) = poll(&app, &people[second], 5).await;
    assert_eq!(t["state"], "expired", "{t}");
    assert_eq!(reads, 1);
    let (t, reads) = poll(&app, &people[third], 5).await;
    assert_eq!(t["state"], "admitted", "{t}");
    assert_eq!(reads, 1);

    app.stop().await;
}

/// Two instances on one PostgreSQL: a claim made through one shows on the other within the TTL,
/// and a voucher returned by the other reaches a waitlisted person cached here at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_instances_writes_show_within_the_bound() {
    let Some(db) = crate::postgres::PgDb::fresh().await else {
        return;
    };
    const TTL: Duration = Duration::from_secs(3);
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path());
    config.db = db.location();
    config.rate_limits.per_address = None;
    config.demo = Some(demo(2, 1, 60));
    config.ticket_cache = TicketCacheConfig {
        ttl: TTL,
        capacity: 1000,
    };
    let a = lineup_server::spawn(config.clone()).await.unwrap();
    let b = lineup_server::spawn(config.clone()).await.unwrap();
    let at = |url: &str| Remote {
        http: reqwest::Client::new(),
        url: url.to_owned(),
        clock: config.clock.clone(),
    };
    let (ra, rb) = (at(&a.url), at(&b.url));
    let b_reads = || b.state.metrics().ticket_reads(TicketSource::Store);

    let people: Vec<Person> = (0..3).map(Person::new).collect();
    for p in &people {
        let body = json!({"contact": p.contact, "consent": true});
        assert_eq!(
            ra.send(p, Method::POST, "/v1/identities", Some(&body), None).await.0,
            StatusCode::CREATED
        );
        let (s, t) = ra.send(p, Method::POST, "/v1/campaigns/demo/tickets", None, None).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
    }
    config.clock.advance(Duration::from_secs(31));
    let mut by_pos = HashMap::new();
    for (i, p) in people.iter().enumerate() {
        let t = rb.status(p).await;
        by_pos.insert(
            t["position"].as_u64().unwrap(),
            (i, t["ticket_id"].as_str().unwrap().to_owned()),
        );
    }
    let (first, first_ticket) = by_pos[&1].clone();
    let (third, _) = by_pos[&3].clone();

    // Opening: the first person's admitted row is cached on B; the claim goes through A.
    config.clock.advance(Duration::from_secs(29));
    assert_eq!(rb.status(&people[first]).await["state"], "admitted");
    let before = b_reads();
    assert_eq!(rb.status(&people[first]).await["state"], "admitted");
    assert_eq!(b_reads(), before, "B answered from memory");
    let body = json!({"ticket_id": first_ticket});
    let (s, v) = ra
        .send(
            &people[first],
            Method::POST,
            "/v1/campaigns/demo/claim",
            Some(&body),
            Some("k1"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let claimed = Instant::now();
    // Within the TTL B may still say admitted (never anything else); past it, claimed.
    let t = rb.status(&people[first]).await;
    assert!(t["state"] == "admitted" || t["state"] == "claimed", "{t}");
    tokio::time::sleep((claimed + TTL + Duration::from_millis(100)).saturating_duration_since(Instant::now())).await;
    let t = rb.status(&people[first]).await;
    assert_eq!(t["state"], "claimed", "stale past the TTL: {t}");
    assert_eq!(t["voucher"]["serial"], v["serial"]);
    // Following a stale "admitted" does no harm: claiming again (any key, any instance) gives
    // the same voucher, never a second one.
    let (s, again) = rb
        .send(
            &people[first],
            Method::POST,
            "/v1/campaigns/demo/claim",
            Some(&body),
            Some("k2"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["serial"], v["serial"]);

    // The second admission runs out; A returns the voucher (B may too: either does it once).
    // B's cached waitlisted row gives way as soon as B's counters (at most 100 ms old) show the
    // new reach, not when the TTL ends (half of it is a wide margin for a loaded machine).
    assert_eq!(rb.status(&people[third]).await["state"], "waitlisted");
    let cached = Instant::now();
    config.clock.advance(Duration::from_secs(62));
    assert_eq!(ra.status(&people[third]).await["state"], "admitted");
    let mut seen = rb.status(&people[third]).await;
    while seen["state"] != "admitted" && cached.elapsed() < TTL / 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = rb.status(&people[third]).await;
    }
    assert_eq!(
        seen["state"],
        "admitted",
        "B still says {seen} after {:?}",
        cached.elapsed()
    );

    a.shutdown().await;
    b.shutdown().await;
    db.drop().await;
}

/// A client of one instance, signing with the shared clock.
struct Remote {
    http: reqwest::Client,
    url: String,
    clock: lineup_server::Clock,
}

impl Remote {
    async fn send(
        &self,
        who: &Person,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idem: Option<&str>,
    ) -> (StatusCode, Value) {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
        let auth = lineup_protocol::auth::sign_request(
            &who.key,
            &lineup_protocol::auth::Origin::parse(&self.url).unwrap(),
            method.as_str(),
            path,
            self.clock.now().timestamp(),
            &bytes,
        );
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("Authorization", auth);
        if body.is_some() {
            rb = rb.header("Content-Type", "application/json").body(bytes);
        }
        if let Some(k) = idem {
            rb = rb.header(lineup_protocol::IDEMPOTENCY_KEY_HEADER, k);
        }
        let r = rb.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn status(&self, who: &Person) -> Value {
        let (s, v) = self
            .send(who, Method::GET, "/v1/campaigns/demo/tickets/me", None, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }
}
