//! 1,000 concurrent claimants for 100 vouchers: exactly 100 vouchers, dense serials, no identity
//! holding two, every token valid.

use crate::common::*;
use lineup_protocol::voucher::{PublicKeySet, verify};
use lineup_protocol::{KeysResponse, VoucherList};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

const PEOPLE: u32 = 1000;
const SUPPLY: u64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_claimants_hundred_vouchers() {
    for backend in backends() {
        race(backend).await;
    }
}

/// Runs `f` for every person with at most `width` requests at once.
async fn for_all<F, Fut, T>(app: &Arc<TestApp>, people: &Arc<Vec<Person>>, width: usize, f: F) -> Vec<T>
where
    F: Fn(Arc<TestApp>, Arc<Vec<Person>>, usize) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let sem = Arc::new(tokio::sync::Semaphore::new(width));
    let mut tasks = Vec::new();
    for i in 0..people.len() {
        let (app, people, f, sem) = (app.clone(), people.clone(), f.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.unwrap();
            f(app, people, i).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn race(backend: Backend) {
    // Everyone in reach is admitted in the first second after opening; the window is long.
    let app = Arc::new(spawn_app(backend, demo(SUPPLY, 10_000, 600)).await);
    let people: Arc<Vec<Person>> = Arc::new((0..PEOPLE).map(Person::new).collect());

    let regs = for_all(&app, &people, 64, |app, people, i| async move {
        app.register(&people[i]).await
    })
    .await;
    assert!(regs.iter().all(|s| *s == StatusCode::CREATED));
    let tickets = for_all(&app, &people, 64, |app, people, i| async move {
        let (s, t) = app.take(&people[i]).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        t["ticket_id"].as_str().unwrap().to_owned()
    })
    .await;
    let tickets = Arc::new(tickets);
    app.advance(62);

    // All 1,000 at once, each twice with two different keys.
    let outcomes = for_all(&app, &people, PEOPLE as usize, {
        let tickets = tickets.clone();
        move |app, people, i| {
            let tickets = tickets.clone();
            async move {
                let (ka, kb) = (format!("a-{i}"), format!("b-{i}"));
                let (a, b) = tokio::join!(
                    app.claim(&people[i], &tickets[i], &ka),
                    app.claim(&people[i], &tickets[i], &kb),
                );
                (i, a, b)
            }
        }
    })
    .await;

    // A 201 whose response was cut off (503 timeout under load) is replayed as 200 by the
    // retry with the same key, so count vouchers by identity and serial, not by status.
    let mut serial_of = std::collections::HashMap::new();
    let mut serials = HashSet::new();
    for (i, (sa, va), (sb, vb)) in &outcomes {
        for (s, v) in [(sa, va), (sb, vb)] {
            match *s {
                StatusCode::CREATED | StatusCode::OK => {
                    let serial = v["serial"].as_u64().unwrap();
                    if let Some(prev) = serial_of.insert(*i, serial) {
                        assert_eq!(prev, serial, "identity {i} holds two vouchers");
                    } else {
                        assert!(serials.insert(serial), "serial {serial} issued twice: {v}");
                    }
                }
                StatusCode::CONFLICT | StatusCode::GONE => {}
                other => panic!("unexpected {other}: {v}"),
            }
        }
    }
    let mut refusals = std::collections::BTreeMap::new();
    for (_, (sa, va), (sb, vb)) in &outcomes {
        for (s, v) in [(sa, va), (sb, vb)] {
            if !s.is_success() {
                *refusals.entry(format!("{s} {}", v["code"])).or_insert(0) += 1;
            }
        }
    }
    assert_eq!(
        serial_of.len() as u64,
        SUPPLY,
        "{backend:?}: exactly the supply is issued; refusals: {refusals:?}"
    );
    assert_eq!(serials, (1..=SUPPLY).collect::<HashSet<_>>(), "serials are dense");

    // The server agrees: each holder lists exactly one voucher, which verifies offline.
    let keys: KeysResponse = app.get("/v1/keys").await.json().await.unwrap();
    let keyset = Arc::new(PublicKeySet::from_response(&keys).unwrap());
    let listed = for_all(&app, &people, 64, move |app, people, i| {
        let keyset = keyset.clone();
        async move {
            let r = app.signed(&people[i], Method::GET, "/v1/vouchers", None, &[]).await;
            let list: VoucherList = r.json().await.unwrap();
            for v in &list.vouchers {
                let t = verify(&v.token, &keyset, None).unwrap();
                assert!(t.claims.is_held_by(&people[i].id));
            }
            list.vouchers.len()
        }
    })
    .await;
    assert!(listed.iter().all(|n| *n <= 1));
    assert_eq!(listed.iter().sum::<usize>() as u64, SUPPLY);
    let c: Value = app.get("/v1/campaigns/demo").await.json().await.unwrap();
    assert_eq!(c["issued"], SUPPLY);
    assert_eq!(c["remaining"], 0);
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => panic!("test app still shared"),
    }
}
