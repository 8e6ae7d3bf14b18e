//! A claim that arrived before its ticket's `admit_until` but is carried out after it, or after
//! the release that handed the voucher to the next person in line, is refused as expired and the
//! next person gets the voucher; a claim that committed first keeps its voucher and the release
//! skips it. On SQLite and PostgreSQL, with two store handles on one database standing for two
//! server instances.

use crate::common::{Backend, backends};
use crate::postgres::PgDb;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use ed25519_dalek::SigningKey;
use lineup_protocol::{CampaignId, IdentityKey};
use lineup_server::config::CampaignSpec;
use lineup_server::issuer::Issuer;
use lineup_server::store::{ClaimInput, ClaimOutcome, ClaimRefusal, Store, TakeOutcome};
use lineup_server::{Clock, DbLocation};
use std::time::Duration;

const WINDOW_S: u64 = 300;

/// One voucher, two people: `first` holds position 1 (admitted until `deadline`), `second`
/// position 2 (waitlisted until a voucher comes back).
struct Line {
    a: Store,
    b: Store,
    db: Db,
    id: CampaignId,
    first: (IdentityKey, String),
    second: (IdentityKey, String),
    deadline: DateTime<Utc>,
    issuer: Issuer,
}

enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(PgDb),
}

impl Db {
    fn location(&self) -> DbLocation {
        match self {
            Db::Sqlite(dir) => DbLocation::Sqlite(dir.path().join("lineup.db")),
            Db::Postgres(pg) => pg.location(),
        }
    }
}

fn identity(n: u32) -> IdentityKey {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_be_bytes());
    b[4] = 0x6c;
    lineup_protocol::auth::identity_of(&SigningKey::from_bytes(&b))
}

/// A clock that reads `t` now (and moves on in real time from there).
fn clock_at(t: DateTime<Utc>) -> Clock {
    let c = Clock::system();
    c.advance((t - c.now()).to_std().expect("an instant ahead of the real time"));
    c
}

impl Line {
    async fn new(backend: Backend) -> Line {
        let db = match backend {
            Backend::Sqlite => Db::Sqlite(tempfile::tempdir().unwrap()),
            Backend::Postgres => Db::Postgres(PgDb::fresh().await.expect("LINEUP_TEST_DATABASE_URL")),
        };
        let loc = db.location();
        let a = Store::open(&loc).await.unwrap();
        let b = Store::open(&loc).await.unwrap();
        let t0 = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
        // The suite's campaign, with one voucher and a short admission window.
        let spec = CampaignSpec {
            id: "late".parse().unwrap(),
            admission_window_s: WINDOW_S,
            ..crate::postgres::spec(1, t0)
        };
        let id = spec.id.clone();
        a.ensure_campaign(&spec, [3; 32], 11).await.unwrap();
        let mut tickets = Vec::new();
        for n in 0..2 {
            a.register_identity(&identity(n), [n as u8; 32], t0).await.unwrap();
            let TakeOutcome::Created(t) = a
                .take_ticket(&id, &identity(n), None, t0 + ChronoDuration::seconds(5))
                .await
                .unwrap()
            else {
                panic!("expected a new ticket");
            };
            tickets.push(t.id);
        }
        assert!(
            a.ensure_draw(&id, spec.draw_at + ChronoDuration::milliseconds(1))
                .await
                .unwrap()
        );
        let mut first = None;
        let mut second = None;
        let mut deadline = None;
        for (n, ticket) in tickets.into_iter().enumerate() {
            let who = identity(n as u32);
            let row = a.ticket_status_row(&id, &who).await.unwrap().unwrap();
            match row.position {
                Some(1) => {
                    deadline = row.admit_until;
                    first = Some((who, ticket));
                }
                Some(2) => {
                    assert_eq!(row.admit_at, None, "position 2 waits for a returned voucher");
                    second = Some((who, ticket));
                }
                other => panic!("position {other:?}"),
            }
        }
        Line {
            a,
            b,
            db,
            id,
            first: first.unwrap(),
            second: second.unwrap(),
            deadline: deadline.unwrap(),
            issuer: Issuer::new(1, SigningKey::from_bytes(&[9; 32])),
        }
    }

    fn input(&self, who: &(IdentityKey, String), key: &str) -> ClaimInput {
        ClaimInput {
            campaign_id: self.id.clone(),
            identity: who.0,
            ticket_id: who.1.clone(),
            idempotency_key: key.into(),
            request_hash: [1; 32],
        }
    }

    /// The waitlisted person was admitted from the deadline on, and claims the voucher.
    async fn second_gets_the_voucher(&self) {
        let row = self
            .a
            .ticket_status_row(&self.id, &self.second.0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.admit_at,
            Some(self.deadline),
            "the returned voucher reached position 2"
        );
        let clock = clock_at(self.deadline + ChronoDuration::seconds(2));
        match self
            .a
            .claim(&self.input(&self.second, "second"), &self.issuer, &clock)
            .await
            .unwrap()
        {
            ClaimOutcome::Issued(v) => assert_eq!(v.serial, 1),
            other => panic!("the admitted waitlisted person got {other:?}"),
        }
        let c = self.b.campaign_counters(&self.id).await.unwrap().unwrap();
        assert_eq!((c.issued, c.reach), (1, 2));
    }

    async fn stop(self) {
        self.a.close().await;
        self.b.close().await;
        if let Db::Postgres(pg) = self.db {
            pg.drop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_after_the_release_is_refused_as_expired() {
    for backend in backends() {
        // Instance B, whose clock is past the deadline, returns the voucher to the line. Then a
        // claim is carried out by instance A, whose clock still reads before the deadline (the
        // time the request arrived, or a clock running behind B's): the database's record of the
        // release decides, not A's clock.
        let line = Line::new(backend).await;
        let released = line
            .b
            .release_expired(&line.id, line.deadline + ChronoDuration::seconds(1))
            .await
            .unwrap();
        assert_eq!(released, 1, "{backend:?}");
        let behind = clock_at(line.deadline - ChronoDuration::seconds(1));
        let out = line
            .a
            .claim(&line.input(&line.first, "first"), &line.issuer, &behind)
            .await
            .unwrap();
        assert_eq!(
            out,
            ClaimOutcome::Refused(ClaimRefusal::AdmissionExpired),
            "{backend:?}: a claim for an admission already given to the next in line"
        );
        line.second_gets_the_voucher().await;
        line.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_that_waits_for_the_lock_past_the_deadline_is_refused() {
    for backend in backends() {
        let line = Line::new(backend).await;
        // Another transaction holds what the claim must lock (SQLite's write lock, the campaign's
        // row in PostgreSQL) while the request arrives before the deadline.
        let holder = Holder::take(&line).await;
        let clock = clock_at(line.deadline - ChronoDuration::seconds(1));
        let claim = {
            let (a, input, issuer, clock) = (
                line.a.clone(),
                line.input(&line.first, "first"),
                line.issuer.clone(),
                clock.clone(),
            );
            tokio::spawn(async move { a.claim(&input, &issuer, &clock).await.unwrap() })
        };
        holder.wait_until_blocked(&claim).await;
        // The deadline passes while the claim waits; then the lock is free.
        clock.advance(Duration::from_secs(2));
        holder.release().await;
        assert_eq!(
            claim.await.unwrap(),
            ClaimOutcome::Refused(ClaimRefusal::AdmissionExpired),
            "{backend:?}: a claim carried out after the deadline"
        );
        line.second_gets_the_voucher().await;
        line.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_committed_first_wins_and_the_release_skips_it() {
    for backend in backends() {
        let line = Line::new(backend).await;
        let clock = clock_at(line.deadline - ChronoDuration::seconds(1));
        let out = line
            .a
            .claim(&line.input(&line.first, "first"), &line.issuer, &clock)
            .await
            .unwrap();
        assert!(matches!(out, ClaimOutcome::Issued(ref v) if v.serial == 1), "{out:?}");
        let released = line
            .b
            .release_expired(&line.id, line.deadline + ChronoDuration::seconds(1))
            .await
            .unwrap();
        assert_eq!(released, 0, "{backend:?}: a claimed admission is not released");
        let row = line
            .b
            .ticket_status_row(&line.id, &line.second.0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.admit_at, None, "{backend:?}: no voucher came back");
        let c = line.b.campaign_counters(&line.id).await.unwrap().unwrap();
        assert_eq!((c.issued, c.reach), (1, 1));
        // Below the store's logic, the database itself refuses to mark a claimed ticket expired.
        assert!(
            mark_expired(&line.db.location(), &line.first.1).await.is_err(),
            "{backend:?}: a claimed ticket was marked expired"
        );
        line.stop().await;
    }
}

/// A transaction of the test's own that holds the lock a claim needs.
enum Holder {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::SqlitePool),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>, sqlx::PgPool),
}

impl Holder {
    async fn take(line: &Line) -> Holder {
        match line.db.location() {
            DbLocation::Sqlite(path) => {
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(path))
                    .await
                    .unwrap();
                let tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
                Holder::Sqlite(tx, pool)
            }
            DbLocation::Postgres(url) => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(&url)
                    .await
                    .unwrap();
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE")
                    .bind(line.id.as_str())
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                Holder::Postgres(tx, pool)
            }
        }
    }

    /// Returns once the claim is waiting for the held lock (it has read its arrival time).
    async fn wait_until_blocked(&self, claim: &tokio::task::JoinHandle<ClaimOutcome>) {
        match self {
            Holder::Sqlite(..) => {
                // SQLite's busy wait cannot be observed from outside: give the claim time to get
                // to it (its read-only steps do not wait for the write lock in WAL mode).
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Holder::Postgres(_, pool) => {
                let started = std::time::Instant::now();
                loop {
                    let waiting: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM pg_stat_activity
                         WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    )
                    .fetch_one(pool)
                    .await
                    .unwrap();
                    if waiting > 0 {
                        break;
                    }
                    assert!(
                        started.elapsed() < Duration::from_secs(20),
                        "the claim never waited for the lock"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        assert!(!claim.is_finished(), "the claim did not wait for the lock");
    }

    async fn release(self) {
        match self {
            Holder::Sqlite(tx, pool) => {
                tx.rollback().await.unwrap();
                pool.close().await;
            }
            Holder::Postgres(tx, pool) => {
                tx.rollback().await.unwrap();
                pool.close().await;
            }
        }
    }
}

/// Marks ticket `id` expired behind the store's back.
async fn mark_expired(loc: &DbLocation, id: &str) -> Result<(), sqlx::Error> {
    match loc {
        DbLocation::Sqlite(path) => {
            let pool = sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(path)).await?;
            let done = sqlx::query("UPDATE tickets SET expired_at = 1 WHERE id = ?")
                .bind(id)
                .execute(&pool)
                .await;
            pool.close().await;
            done.map(drop)
        }
        DbLocation::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await?;
            let done = sqlx::query("UPDATE tickets SET expired_at = 1 WHERE id = $1")
                .bind(id)
                .execute(&pool)
                .await;
            pool.close().await;
            done.map(drop)
        }
    }
}
