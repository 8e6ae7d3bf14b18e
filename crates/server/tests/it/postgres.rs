//! PostgreSQL: a fresh database per test (so tests run in parallel), the store's exactly-once
//! guarantees checked on both backends with two store handles on one database, and three
//! `lineup-server` instances sharing one PostgreSQL under 2,000 concurrent claimants.
//!
//! The PostgreSQL variants need `LINEUP_TEST_DATABASE_URL` (an admin URL; `scripts/test` starts a
//! throwaway cluster and sets it). Without it they fail, unless `LINEUP_SKIP_POSTGRES=1` says to
//! skip them, which is for a quick local run only.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use ed25519_dalek::SigningKey;
use lineup_protocol::{CampaignId, IdentityKey, TicketState, TicketStatus, Voucher};
use lineup_server::config::{CampaignSpec, ConfiguredCampaign};
use lineup_server::issuer::Issuer;
use lineup_server::store::postgres::{create_database, drop_database};
use lineup_server::store::redemption::{self, Redeemed};
use lineup_server::store::{ClaimInput, ClaimOutcome, ClaimRefusal, RedeemTarget, RegisterOutcome, Store, TakeOutcome};
use lineup_server::{Clock, DbLocation, ServerConfig};
use reqwest::{Method, StatusCode};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// The admin URL of the test PostgreSQL; `None` only when skipping was asked for explicitly.
pub fn admin_url() -> Option<String> {
    match std::env::var("LINEUP_TEST_DATABASE_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ if std::env::var("LINEUP_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("NOTICE: LINEUP_SKIP_POSTGRES=1 and no LINEUP_TEST_DATABASE_URL: PostgreSQL variant skipped");
            None
        }
        _ => panic!(
            "LINEUP_TEST_DATABASE_URL is not set. Run scripts/test (it starts a throwaway PostgreSQL), \
             give an admin URL such as postgres://lineup@127.0.0.1:5432/postgres, \
             or set LINEUP_SKIP_POSTGRES=1 to skip the PostgreSQL variants locally"
        ),
    }
}

/// A database made for one test, dropped by [`PgDb::drop`] at the end of a passing test (a failed
/// test leaves it behind for inspection; the throwaway cluster goes away anyway).
pub struct PgDb {
    admin: String,
    name: String,
    pub url: String,
}

impl PgDb {
    pub async fn fresh() -> Option<PgDb> {
        let admin = admin_url()?;
        let name = format!("lineup_test_{}", uuid::Uuid::new_v4().simple());
        let url = create_database(&admin, &name).await.expect("creating a test database");
        Some(PgDb { admin, name, url })
    }

    pub fn location(&self) -> DbLocation {
        DbLocation::Postgres(self.url.clone())
    }

    pub async fn drop(self) {
        drop_database(&self.admin, &self.name)
            .await
            .expect("dropping the test database");
    }
}

pub fn spec(supply: u64, t0: DateTime<Utc>) -> CampaignSpec {
    CampaignSpec {
        id: "pg".parse().unwrap(),
        title: "영화관람 6천원 할인권".into(),
        title_en: "6,000-won cinema discount".into(),
        issuer: "test".into(),
        brands: vec!["CGV".into(), "Lotte Cinema".into(), "Megabox".into()],
        amount: 6000,
        currency: *b"KRW",
        supply,
        prequeue_opens_at: t0,
        draw_at: t0 + ChronoDuration::hours(1),
        opens_at: t0 + ChronoDuration::hours(1) + ChronoDuration::seconds(60),
        closes_at: t0 + ChronoDuration::hours(30),
        voucher_expires_at: t0 + ChronoDuration::days(30),
        admission_rate_per_s: 1000,
        admission_window_s: 300,
    }
}

fn key(n: u32) -> SigningKey {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_be_bytes());
    b[4] = 0x5a;
    SigningKey::from_bytes(&b)
}

fn identity(n: u32) -> IdentityKey {
    lineup_protocol::auth::identity_of(&key(n))
}

// ---------------------------------------------------------------------------------------------
// The store, directly: the same checks on SQLite and PostgreSQL, with two handles on one database
// standing for two server instances.

async fn store_exactly_once(a: Store, b: Store) {
    const PEOPLE: u32 = 120;
    const SUPPLY: u64 = 40;
    // Whole seconds: instants are stored in milliseconds and compared below.
    let t0 = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let s = spec(SUPPLY, t0);
    let id: CampaignId = s.id.clone();
    let row = a.ensure_campaign(&s, [7; 32], 42).await.unwrap();
    let again = b.ensure_campaign(&s, [8; 32], 43).await.unwrap();
    assert_eq!(row, again, "a second instance keeps the stored seed and token hash");
    assert_eq!(again.draw_seed, 42);

    for n in 0..PEOPLE {
        let st = if n % 2 == 0 { &a } else { &b };
        let out = st.register_identity(&identity(n), [n as u8; 32], t0).await.unwrap();
        assert!(matches!(out, RegisterOutcome::Created { .. }), "{out:?}");
    }
    // The same contact under another key is refused whichever instance sees it.
    let taken = b.register_identity(&identity(10_000), [0u8; 32], t0).await.unwrap();
    assert_eq!(taken, RegisterOutcome::ContactTaken);
    assert!(matches!(
        a.register_identity(&identity(1), [1u8; 32], t0).await.unwrap(),
        RegisterOutcome::Existing { .. }
    ));

    // Everyone takes a place twice at once, through both instances: one ticket each.
    let joined = t0 + ChronoDuration::seconds(5);
    let mut tasks = Vec::new();
    for n in 0..PEOPLE {
        for st in [a.clone(), b.clone()] {
            let id = id.clone();
            tasks.push(tokio::spawn(async move {
                (n, st.take_ticket(&id, &identity(n), None, joined).await.unwrap())
            }));
        }
    }
    let mut tickets: HashMap<u32, String> = HashMap::new();
    let mut created = 0;
    for t in tasks {
        let (n, out) = t.await.unwrap();
        let row = match out {
            TakeOutcome::Created(r) => {
                created += 1;
                r
            }
            TakeOutcome::Existing(r) => r,
            TakeOutcome::UnknownCampaign => panic!("campaign unknown"),
        };
        assert!(row.in_draw && row.position.is_none());
        if let Some(prev) = tickets.insert(n, row.id.clone()) {
            assert_eq!(prev, row.id, "one ticket per identity");
        }
    }
    assert_eq!(created, PEOPLE);

    // The draw, raced by both instances: performed once, the same positions seen from both.
    let draw_time = s.draw_at + ChronoDuration::milliseconds(1);
    let (da, db) = tokio::join!(a.ensure_draw(&id, draw_time), b.ensure_draw(&id, draw_time));
    assert_eq!(
        u8::from(da.unwrap()) + u8::from(db.unwrap()),
        1,
        "exactly one instance draws"
    );
    let mut positions = HashSet::new();
    for n in 0..PEOPLE {
        let ra = a.ticket_status_row(&id, &identity(n)).await.unwrap().unwrap();
        let rb = b.ticket_status_row(&id, &identity(n)).await.unwrap().unwrap();
        assert_eq!(ra, rb);
        assert!(positions.insert(ra.position.unwrap()));
    }
    assert_eq!(positions, (1..=u64::from(PEOPLE)).collect::<HashSet<_>>());

    // Everyone claims at once after opening, each twice with two keys through both instances.
    let issuer = Arc::new(Issuer::new(1, SigningKey::from_bytes(&[9; 32])));
    let at = s.opens_at + ChronoDuration::seconds(1);
    // The store reads the time of a claim itself: a clock that reads `at` now.
    let clock = Clock::system();
    clock.advance((at - clock.now()).to_std().unwrap());
    let mut tasks = Vec::new();
    for n in 0..PEOPLE {
        for (k, st) in [a.clone(), b.clone()].into_iter().enumerate() {
            let input = ClaimInput {
                campaign_id: id.clone(),
                identity: identity(n),
                ticket_id: tickets[&n].clone(),
                idempotency_key: format!("key-{n}-{k}"),
                request_hash: [k as u8; 32],
            };
            let (issuer, clock) = (issuer.clone(), clock.clone());
            tasks.push(tokio::spawn(async move {
                (n, st.claim(&input, &issuer, &clock).await.unwrap())
            }));
        }
    }
    let mut issued = HashMap::new();
    let mut serials = HashSet::new();
    let mut held: HashMap<u32, u64> = HashMap::new();
    for t in tasks {
        let (n, out) = t.await.unwrap();
        match out {
            ClaimOutcome::Issued(v) => {
                assert!(issued.insert(n, v.serial).is_none(), "identity {n} issued twice");
                assert!(serials.insert(v.serial), "serial {} issued twice", v.serial);
            }
            ClaimOutcome::Existing(v) => {
                held.insert(n, v.serial);
            }
            // Beyond the supply: waitlisted while vouchers remain, then sold out.
            ClaimOutcome::Refused(ClaimRefusal::NotAdmitted { .. } | ClaimRefusal::SoldOut) => {}
            other => panic!("unexpected claim outcome {other:?}"),
        }
    }
    assert_eq!(issued.len() as u64, SUPPLY, "exactly the supply is issued");
    assert_eq!(serials, (1..=SUPPLY).collect::<HashSet<_>>(), "serials are dense");
    for (n, serial) in &held {
        assert_eq!(
            issued.get(n),
            Some(serial),
            "the second key of {n} got the same voucher"
        );
    }
    let counters = b.campaign_counters(&id).await.unwrap().unwrap();
    assert_eq!(counters.issued, SUPPLY);

    // Idempotency keys across instances: replay gives the same voucher, another body is refused.
    let (&winner, &serial) = issued.iter().next().unwrap();
    let replay = ClaimInput {
        campaign_id: id.clone(),
        identity: identity(winner),
        ticket_id: tickets[&winner].clone(),
        idempotency_key: format!("key-{winner}-0"),
        request_hash: [0; 32],
    };
    match b.claim(&replay, &issuer, &clock).await.unwrap() {
        ClaimOutcome::Existing(v) => assert_eq!(v.serial, serial),
        other => panic!("replay gave {other:?}"),
    }
    let mismatch = ClaimInput {
        request_hash: [0xee; 32],
        ..replay.clone()
    };
    assert_eq!(
        a.claim(&mismatch, &issuer, &clock).await.unwrap(),
        ClaimOutcome::KeyMismatch
    );

    // Redemption raced through both instances: the first wins, the rest see when it happened.
    let target = RedeemTarget::Serial {
        campaign_id: id.clone(),
        serial,
    };
    let when = at + ChronoDuration::seconds(10);
    let found = a.find_voucher(&target).await.unwrap().expect("the voucher is found");
    let mut tasks = Vec::new();
    for k in 0..10 {
        let st = if k % 2 == 0 { a.clone() } else { b.clone() };
        let v = found.clone();
        tasks.push(tokio::spawn(async move {
            redemption::redeem(&st, &v, None, when).await.unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Redeemed::Now(v) => {
                wins += 1;
                assert_eq!(v.redeemed_at, Some(when));
            }
            Redeemed::AlreadyRedeemed { first_redeemed_at } => assert_eq!(first_redeemed_at, when),
            Redeemed::Replayed(_) | Redeemed::Returned | Redeemed::Moved => {
                panic!("replayed without a key, returned or moved")
            }
        }
    }
    assert_eq!(wins, 1, "exactly one redemption wins");
    assert_eq!(a.campaign_counters(&id).await.unwrap().unwrap().redeemed, 1);
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_exactly_once_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let loc = DbLocation::Sqlite(dir.path().join("lineup.db"));
    let a = Store::open(&loc).await.unwrap();
    let b = Store::open(&loc).await.unwrap();
    store_exactly_once(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_exactly_once_postgres() {
    let Some(db) = PgDb::fresh().await else { return };
    // Both handles start together: the migration runs once under sqlx's advisory lock.
    let loc = db.location();
    let (a, b) = tokio::join!(Store::open(&loc), Store::open(&loc));
    store_exactly_once(a.unwrap(), b.unwrap()).await;
    db.drop().await;
}

#[tokio::test]
async fn postgres_migrations_are_idempotent_and_restart_keeps_state() {
    let Some(db) = PgDb::fresh().await else { return };
    let t0 = Utc::now();
    let s = spec(3, t0);
    let st = Store::open(&db.location()).await.unwrap();
    st.ensure_campaign(&s, [1; 32], 5).await.unwrap();
    st.register_identity(&identity(1), [1; 32], t0).await.unwrap();
    let TakeOutcome::Created(t) = st.take_ticket(&s.id, &identity(1), None, t0).await.unwrap() else {
        panic!("expected a new ticket");
    };
    st.close().await;
    let st = Store::open(&db.location()).await.unwrap();
    assert_eq!(st.campaign(&s.id).await.unwrap().unwrap().draw_seed, 5);
    assert_eq!(st.ticket_status_row(&s.id, &identity(1)).await.unwrap(), Some(t));
    assert!(st.identity_exists(&identity(1)).await.unwrap());
    assert!(!st.identity_exists(&identity(2)).await.unwrap());
    st.close().await;
    db.drop().await;
}

// ---------------------------------------------------------------------------------------------
// Three server instances on one PostgreSQL, over HTTP.

struct Client {
    http: reqwest::Client,
    clock: Clock,
}

impl Client {
    /// Sends a signed request; retries while the server sheds load (503), as a client must.
    async fn call(
        &self,
        base: &str,
        method: Method,
        path: &str,
        who: &SigningKey,
        body: Option<Vec<u8>>,
        idem: Option<&str>,
    ) -> (StatusCode, serde_json::Value) {
        for _ in 0..200 {
            let bytes = body.clone().unwrap_or_default();
            let auth = lineup_protocol::auth::sign_request(
                who,
                &lineup_protocol::auth::Origin::parse(base).unwrap(),
                method.as_str(),
                path,
                self.clock.now().timestamp(),
                &bytes,
            );
            let mut req = self
                .http
                .request(method.clone(), format!("{base}{path}"))
                .header("Authorization", auth);
            if body.is_some() {
                req = req.header("Content-Type", "application/json").body(bytes);
            }
            if let Some(k) = idem {
                req = req.header(lineup_protocol::IDEMPOTENCY_KEY_HEADER, k);
            }
            let resp = req.send().await.expect("request");
            let status = resp.status();
            let json = resp
                .json::<serde_json::Value>()
                .await
                .unwrap_or(serde_json::Value::Null);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            return (status, json);
        }
        panic!("{method} {path}: still shed after 200 attempts");
    }
}

/// Two thousand people, 500 vouchers, three instances: each person registers and takes a place
/// on one instance, checks on the next and claims on the one after (all at once after opening).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_issue_exactly_once() {
    const PEOPLE: u32 = 2000;
    const SUPPLY: u64 = 500;
    let Some(db) = PgDb::fresh().await else { return };
    let data = tempfile::tempdir().unwrap();
    let clock = Clock::system();
    let t0 = clock.now();
    let s = spec(SUPPLY, t0);
    let id = s.id.clone();
    let campaign = ConfiguredCampaign {
        spec: s.clone(),
        staff_token_hash: lineup_server::issuer::staff_token_hash("a-long-box-office-secret"),
    };
    let config = |_: usize| {
        let mut c = ServerConfig::new(data.path());
        c.db = db.location();
        c.rate_limits.per_address = None;
        c.campaigns = vec![campaign.clone()];
        c.clock = clock.clone();
        c.max_concurrency = 4096;
        c.request_timeout = Duration::from_secs(60);
        c
    };
    // The first start makes the issuer key in the shared data directory; the others load it (all
    // instances of one deployment must sign with the same key).
    let started = std::time::Instant::now();
    let first = lineup_server::spawn(config(0)).await.unwrap();
    let (second, third) = tokio::join!(lineup_server::spawn(config(1)), lineup_server::spawn(config(2)));
    let servers = [first, second.unwrap(), third.unwrap()];
    let urls: Arc<Vec<String>> = Arc::new(servers.iter().map(|s| s.url.clone()).collect());
    assert!(servers.iter().all(|s| s.public_key == servers[0].public_key));

    let client = Arc::new(Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        clock: clock.clone(),
    });
    let path_tickets = format!("/v1/campaigns/{id}/tickets");
    let path_me = format!("/v1/campaigns/{id}/tickets/me");
    let path_claim = format!("/v1/campaigns/{id}/claim");
    // Bounds the requests in flight from this one test process, not the claimants' concurrency.
    let gate = Arc::new(tokio::sync::Semaphore::new(256));

    // Register and take a place in the pre-queue, on instance n % 3.
    let mut tasks = Vec::new();
    for n in 0..PEOPLE {
        let (client, urls, gate, path_tickets) = (client.clone(), urls.clone(), gate.clone(), path_tickets.clone());
        tasks.push(tokio::spawn(async move {
            let _g = gate.acquire().await.unwrap();
            let who = key(n);
            let base = &urls[n as usize % 3];
            let body = serde_json::to_vec(&serde_json::json!({
                "contact": format!("person{n}@example.com"), "consent": true
            }))
            .unwrap();
            let (st, _) = client
                .call(base, Method::POST, "/v1/identities", &who, Some(body), None)
                .await;
            assert_eq!(st, StatusCode::CREATED);
            let (st, v) = client.call(base, Method::POST, &path_tickets, &who, None, None).await;
            assert_eq!(st, StatusCode::CREATED, "{v}");
            let t: TicketStatus = serde_json::from_value(v).unwrap();
            assert_eq!(t.state, TicketState::PreQueue);
            t.ticket_id
        }));
    }
    let mut ticket_ids = Vec::with_capacity(PEOPLE as usize);
    for t in tasks {
        ticket_ids.push(t.await.unwrap());
    }
    assert_eq!(ticket_ids.iter().collect::<HashSet<_>>().len(), PEOPLE as usize);

    eprintln!("3 instances: registered and queued {PEOPLE} in {:?}", started.elapsed());
    // Past the draw: every person asks two other instances; both must tell the same place.
    clock.advance((s.draw_at - t0 + ChronoDuration::seconds(1)).to_std().unwrap());
    let ticket_ids = Arc::new(ticket_ids);
    let mut tasks = Vec::new();
    for n in 0..PEOPLE {
        let (client, urls, gate, ids, me, tk) = (
            client.clone(),
            urls.clone(),
            gate.clone(),
            ticket_ids.clone(),
            path_me.clone(),
            path_tickets.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _g = gate.acquire().await.unwrap();
            let who = key(n);
            let (st, v) = client
                .call(&urls[(n as usize + 1) % 3], Method::GET, &me, &who, None, None)
                .await;
            assert_eq!(st, StatusCode::OK, "{v}");
            let a: TicketStatus = serde_json::from_value(v).unwrap();
            // Taking a place again on the third instance returns the same place.
            let (st, v) = client
                .call(&urls[(n as usize + 2) % 3], Method::POST, &tk, &who, None, None)
                .await;
            assert_eq!(st, StatusCode::OK, "{v}");
            let b: TicketStatus = serde_json::from_value(v).unwrap();
            assert_eq!(a.ticket_id, ids[n as usize]);
            assert_eq!(b.ticket_id, ids[n as usize]);
            assert!(a.position.is_some(), "drawn: {a:?}");
            assert_eq!(a.position, b.position);
            assert_eq!(a.admit_at.map(|w| w.at), b.admit_at.map(|w| w.at));
            a.position.unwrap().0
        }));
    }
    let mut positions = HashSet::new();
    for t in tasks {
        assert!(positions.insert(t.await.unwrap()), "a place given twice");
    }
    assert_eq!(positions, (1..=u64::from(PEOPLE)).collect::<HashSet<_>>());

    eprintln!("3 instances: checked {PEOPLE} places twice at {:?}", started.elapsed());
    // After opening (the whole supply admitted at 1000/s within 0.5 s): everyone claims at once,
    // on instance n + 1, with a key made before the first attempt.
    clock.advance((s.opens_at - s.draw_at + ChronoDuration::seconds(1)).to_std().unwrap());
    let mut tasks = Vec::new();
    for n in 0..PEOPLE {
        let (client, urls, gate, ids, path) = (
            client.clone(),
            urls.clone(),
            gate.clone(),
            ticket_ids.clone(),
            path_claim.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _g = gate.acquire().await.unwrap();
            let who = key(n);
            let idem = format!("claim-{n}");
            let body = serde_json::to_vec(&serde_json::json!({ "ticket_id": ids[n as usize] })).unwrap();
            let base = &urls[(n as usize + 1) % 3];
            let (st, v) = client
                .call(base, Method::POST, &path, &who, Some(body.clone()), Some(&idem))
                .await;
            if st != StatusCode::CREATED {
                let code = v["code"].as_str().unwrap_or_default().to_owned();
                assert!(
                    st == StatusCode::CONFLICT && code == "not_admitted"
                        || st == StatusCode::GONE && code == "sold_out",
                    "{st} {v}"
                );
                return None;
            }
            let first: Voucher = serde_json::from_value(v).unwrap();
            // The same key on another instance replays the same voucher.
            let other = &urls[(n as usize + 2) % 3];
            let (st, v) = client
                .call(other, Method::POST, &path, &who, Some(body), Some(&idem))
                .await;
            assert_eq!(st, StatusCode::OK, "{v}");
            let again: Voucher = serde_json::from_value(v).unwrap();
            assert_eq!(again, first);
            Some((n, first))
        }));
    }
    let mut vouchers = Vec::new();
    for t in tasks {
        if let Some(v) = t.await.unwrap() {
            vouchers.push(v);
        }
    }
    eprintln!("3 instances: {PEOPLE} claims at {:?}", started.elapsed());
    assert_eq!(vouchers.len() as u64, SUPPLY, "the clients hold exactly the supply");
    let holders: HashSet<u32> = vouchers.iter().map(|(n, _)| *n).collect();
    assert_eq!(holders.len(), vouchers.len(), "nobody holds two vouchers");
    let serials: HashSet<u64> = vouchers.iter().map(|(_, v)| v.serial).collect();
    assert_eq!(serials, (1..=SUPPLY).collect::<HashSet<_>>());
    let codes: HashSet<String> = vouchers.iter().map(|(_, v)| v.code.to_string()).collect();
    assert_eq!(codes.len(), vouchers.len());
    // Every voucher verifies offline against the keys any instance publishes.
    let keys = servers[2].state.issuer().public_keys().clone();
    for (n, v) in &vouchers {
        let token = lineup_protocol::voucher::verify(&v.token, &keys, Some(clock.now())).expect("voucher verifies");
        assert_eq!(token.claims.holder, identity(*n).holder_binding());
        assert_eq!(token.claims.serial, v.serial);
    }

    // The database agrees.
    let check = sqlx::PgPool::connect(&db.url).await.unwrap();
    let (count, distinct_ids, distinct_serials): (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT identity), COUNT(DISTINCT serial) FROM vouchers WHERE campaign_id = $1",
    )
    .bind(id.as_str())
    .fetch_one(&check)
    .await
    .unwrap();
    assert_eq!((count, distinct_ids, distinct_serials), (500, 500, 500));
    let issued: i64 = sqlx::query_scalar("SELECT issued FROM campaigns WHERE id = $1")
        .bind(id.as_str())
        .fetch_one(&check)
        .await
        .unwrap();
    assert_eq!(issued, 500);
    check.close().await;
    for s in servers {
        s.shutdown().await;
    }
    db.drop().await;
}
