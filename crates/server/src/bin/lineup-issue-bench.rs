//! `lineup-issue-bench`: how fast one `lineup-server` draws and issues, on SQLite or PostgreSQL,
//! measured side by side in one run against the same server's `GET /healthz`.
//!
//! It starts a real server in-process on the chosen database with one campaign, fills the
//! campaign's pre-queue with `--tickets` opted-in places in bulk (SQL, as a pre-queue built over
//! ten minutes would leave it), then measures in one run:
//! 1. `GET /healthz` over keep-alive HTTP/1.1 (`--http-conns` connections, `--http-secs`): the
//!    server's HTTP ceiling on this machine;
//! 2. the draw, while other tasks read campaign counters and ticket rows in a loop (the slowest
//!    of those reads during the draw is printed: nothing may wait on it);
//! 3. explicit claims (protocol 1.0: two transactions each) for `--explicit` winners;
//! 4. server-side issuance in batches for the other `--supply - --explicit` winners;
//!
//! and prints vouchers/s of both next to `/healthz` req/s. It fails if any place holds other
//! than one voucher or the counters disagree with the rows.
//!
//!     cargo build --release -p lineup-server --bin lineup-issue-bench
//!     target/release/lineup-issue-bench --tickets 1000000 --supply 200000
//!     target/release/lineup-issue-bench --db postgres://user@host/db --tickets 1000000

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, Duration, Utc};
use clap::Parser;
use lineup_protocol::{CampaignId, IdentityKey};
use lineup_server::clock::Clock;
use lineup_server::config::{CampaignSpec, ConfiguredCampaign};
use lineup_server::issuance::BATCH;

use lineup_server::store::{ClaimInput, ClaimOutcome, DbLocation, Store};
use lineup_server::{ServerConfig, spawn};
use sha2::Digest;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Parser)]
#[command(about = "Draw and issuance speed of one lineup-server, next to its /healthz req/s")]
struct Args {
    /// Places in the pre-queue (all opted in to server-side issuance).
    #[arg(long, default_value_t = 100_000)]
    tickets: u64,
    /// Vouchers (the first `--supply` positions win).
    #[arg(long, default_value_t = 40_000)]
    supply: u64,
    /// Of the winners, how many claim explicitly (protocol 1.0), for comparison.
    #[arg(long, default_value_t = 1_000)]
    explicit: u64,
    /// SQLite file or postgres:// URL (default: a fresh SQLite file in a temporary directory).
    /// A PostgreSQL database should be empty (made for the run).
    #[arg(long, env = "LINEUP_BENCH_DB")]
    db: Option<String>,
    /// Vouchers per issuance transaction (the server's issuer uses `issuance::BATCH`).
    #[arg(long, default_value_t = BATCH)]
    batch: usize,
    /// Keep-alive connections for the /healthz measurement.
    #[arg(long, default_value_t = 32)]
    http_conns: usize,
    /// Seconds of /healthz load.
    #[arg(long, default_value_t = 3.0)]
    http_secs: f64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.supply <= args.tickets, "--supply must not exceed --tickets");
    ensure!(args.explicit <= args.supply, "--explicit must not exceed --supply");
    let dir = std::env::temp_dir().join(format!("lineup-issue-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = match &args.db {
        Some(d) => DbLocation::parse(d),
        None => DbLocation::Sqlite(dir.join("bench.db")),
    };
    let t0 = Utc::now();
    let id: CampaignId = "bench".parse().context("campaign id")?;
    let spec = CampaignSpec {
        id: id.clone(),
        title: "bench".into(),
        title_en: "bench".into(),
        issuer: "bench".into(),
        brands: vec![],
        amount: 6000,
        currency: *b"KRW",
        supply: args.supply,
        prequeue_opens_at: t0 - Duration::seconds(10),
        draw_at: t0 + Duration::hours(1),
        opens_at: t0 + Duration::hours(2),
        closes_at: t0 + Duration::hours(30),
        voucher_expires_at: t0 + Duration::days(30),
        // Every winner is admitted within a second of opening: the database is the limit.
        admission_rate_per_s: u32::try_from(args.supply.max(1)).unwrap_or(u32::MAX),
        admission_window_s: 3600,
    };
    let mut config = ServerConfig::new(&dir);
    config.db = db.clone();
    config.rate_limits = lineup_server::limit::RateLimitConfig::off();
    config.campaigns = vec![ConfiguredCampaign {
        spec: spec.clone(),
        staff_token_hash: [0; 32],
    }];
    // The server's own clock stays at the real time, so its issuer and sweeper never act on
    // the campaign (it opens in two hours): this run drives them at chosen instants.
    let server = spawn(config).await.context("starting the server")?;
    let store = server.state.store().clone();

    let fill = Instant::now();
    bulk_fill(&db, &id, args.tickets, t0)
        .await
        .context("filling the pre-queue")?;
    let fill_s = fill.elapsed().as_secs_f64();

    let (healthz_rps, healthz_n) = healthz(server.addr, args.http_conns, args.http_secs).await?;

    // The draw, with readers running.
    let stop = Arc::new(AtomicBool::new(false));
    let worst_us = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for r in 0..4u64 {
        let (store, id, stop, worst, reads) =
            (store.clone(), id.clone(), stop.clone(), worst_us.clone(), reads.clone());
        let n = args.tickets;
        readers.push(tokio::spawn(async move {
            let mut k = r;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = if k % 2 == 0 {
                    store.campaign_counters(&id).await.is_ok()
                } else {
                    store.ticket_status_row(&id, &identity(1 + k * 7919 % n)).await.is_ok()
                };
                worst.fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                reads.fetch_add(u64::from(ok), Ordering::Relaxed);
                k += 4;
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let draw = Instant::now();
    ensure!(store.ensure_draw(&id, spec.draw_at).await?, "the draw did not happen");
    let draw_ms = draw.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await?;
    }
    // Every position is computed from the draw: a sample of positions must be distinct.
    let mut sample = std::collections::HashSet::new();
    for k in 1..=args.tickets.min(2000) {
        let t = store
            .ticket_status_row(&id, &identity(k))
            .await?
            .context("ticket vanished")?;
        ensure!(
            sample.insert(t.position.context("no position after the draw")?),
            "a position given twice"
        );
    }

    // Explicit claims of the first `explicit` winners, all at once as a surge would send them.
    let clock = Clock::system();
    clock.advance(std::time::Duration::from_secs(2 * 3600 + 5));
    let issuer = server.state.issuer().clone();
    let winners = winners_by_position(&store, &id, args.tickets, args.explicit).await?;
    // Through the server's claim path: concurrent claims share transactions (batch.rs).
    let mut inputs = Vec::new();
    for (k, key) in winners.iter().enumerate() {
        let t = store.ticket_status_row(&id, key).await?.context("ticket vanished")?;
        let body = serde_json::to_vec(&serde_json::json!({"ticket_id": t.id}))?;
        inputs.push(ClaimInput {
            campaign_id: id.clone(),
            identity: *key,
            ticket_id: t.id.clone(),
            idempotency_key: format!("claim-{k}"),
            request_hash: sha2::Sha256::digest(&body).into(),
        });
    }
    // The server's clock is the real one (the campaign opens in two hours): claims need their
    // own, moved past opening, so they run through a claim batcher of the bench's with that clock.
    let batcher = Arc::new(lineup_server::batch::claims(
        store.clone(),
        issuer.clone(),
        clock.clone(),
    ));
    let claims = Instant::now();
    let mut tasks = Vec::new();
    for input in inputs {
        let (batcher, id) = (batcher.clone(), id.clone());
        tasks.push(tokio::spawn(async move { batcher.submit(&id, input).await }));
    }
    let mut claimed = 0u64;
    for t in tasks {
        match t.await?? {
            ClaimOutcome::Issued(_) => claimed += 1,
            other => bail!("an explicit claim was refused: {other:?}"),
        }
    }
    let claims_s = claims.elapsed().as_secs_f64();

    // Server-side issuance of the other winners, in batches.
    let now = clock.now();
    let batches = Instant::now();
    let drained = lineup_server::issuance::drain(&store, &issuer, &id, now, args.batch, |_| {}).await?;
    let (issued, rounds) = (drained.issued, drained.batches);
    ensure!(
        drained.conflicts == 0,
        "{} conflicts with nobody else writing",
        drained.conflicts
    );
    let batches_s = batches.elapsed().as_secs_f64();

    let c = store.campaign_counters(&id).await?.context("campaign vanished")?;
    let claim_rate = claimed as f64 / claims_s.max(1e-9);
    let batch_rate = issued as f64 / batches_s.max(1e-9);
    let backend = match db {
        DbLocation::Sqlite(_) => "sqlite",
        DbLocation::Postgres(_) => "postgres",
    };
    println!("backend                  {backend} (one lineup-server, in-process)");
    println!(
        "pre-queue                {} places (bulk fill {fill_s:.1} s)",
        args.tickets
    );
    println!(
        "GET /healthz             {healthz_rps:.0} req/s ({healthz_n} over {} keep-alive connections)",
        args.http_conns
    );
    println!(
        "draw                     {draw_ms:.1} ms for {} tickets; slowest read during it {:.1} ms ({} reads)",
        args.tickets,
        worst_us.load(Ordering::Relaxed) as f64 / 1000.0,
        reads.load(Ordering::Relaxed)
    );
    println!("explicit claims          {claimed} in {claims_s:.2} s = {claim_rate:.0} vouchers/s");
    println!("server-side batches      {issued} in {batches_s:.2} s = {batch_rate:.0} vouchers/s ({rounds} batches)");
    println!("batches / explicit       {:.1} x", batch_rate / claim_rate.max(1e-9));
    println!("batches / healthz        {:.3}", batch_rate / healthz_rps.max(1e-9));
    ensure!(
        c.issued == claimed + issued,
        "issued counter {} != {claimed} + {issued}",
        c.issued
    );
    ensure!(
        c.issued == args.supply,
        "{} vouchers out of supply {}",
        c.issued,
        args.supply
    );
    check_rows(&db, &id, args.supply).await?;
    println!(
        "check                    {} vouchers, one per winner, serials 1..={}",
        c.issued, c.issued
    );
    server.shutdown().await;
    if args.db.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// The identity of the `k`-th place (1-based): `k` big-endian in the last 8 of 32 bytes, as the
/// bulk fill writes it.
fn identity(k: u64) -> IdentityKey {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&k.to_be_bytes());
    IdentityKey(b)
}

/// The holders of positions 1..=count, from the draw's permutation (as every status read does).
async fn winners_by_position(store: &Store, id: &CampaignId, n: u64, count: u64) -> Result<Vec<IdentityKey>> {
    let seed = store.campaign(id).await?.context("campaign vanished")?.draw_seed;
    let draw = lineup_server::draw::Draw::new(seed, n);
    (1..=count)
        .map(|p| {
            draw.index_at(p)
                .map(|i| identity(i + 1))
                .context("position outside the draw")
        })
        .collect()
}

/// Writes `n` identities and opted-in pre-queue tickets in one transaction, as a pre-queue built
/// by `n` joins would leave them (seq 1..=n).
async fn bulk_fill(db: &DbLocation, id: &CampaignId, n: u64, t0: DateTime<Utc>) -> Result<()> {
    let n = i64::try_from(n)?;
    let at = t0.timestamp_millis();
    match db {
        DbLocation::Sqlite(path) => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await?;
            let mut tx = pool.begin().await?;
            sqlx::query(
                "WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < ?)
                 INSERT INTO identities (public_key, contact_digest, registered_at)
                 SELECT unhex(printf('%064x', k)), unhex(printf('%064x', k + 1000000000000)), ? FROM s",
            )
            .bind(n)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < ?)
                 INSERT INTO tickets (id, campaign_id, identity, seq, joined_at, in_draw, prequeue_check_at,
                    auto_issue, auto_key)
                 SELECT 'bench-' || k, ?, unhex(printf('%064x', k)), k, ?, 1, ?, 1, 'auto-' || k FROM s",
            )
            .bind(n)
            .bind(id.as_str())
            .bind(at)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE campaigns SET next_seq = ? + 1, next_position = ? + 1 WHERE id = ?")
                .bind(n)
                .bind(n)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            pool.close().await;
        }
        DbLocation::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await?;
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO identities (public_key, contact_digest, registered_at)
                 SELECT decode(lpad(to_hex(k), 64, '0'), 'hex'), decode(lpad(to_hex(k + 1000000000000), 64, '0'), 'hex'), $2
                 FROM generate_series(1, $1::int8) AS k",
            )
            .bind(n)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO tickets (id, campaign_id, identity, seq, joined_at, in_draw, prequeue_check_at,
                    auto_issue, auto_key)
                 SELECT 'bench-' || k, $2, decode(lpad(to_hex(k), 64, '0'), 'hex'), k, $3, TRUE, $3, TRUE, 'auto-' || k
                 FROM generate_series(1, $1::int8) AS k",
            )
            .bind(n)
            .bind(id.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE campaigns SET next_seq = $1 + 1, next_position = $1 + 1 WHERE id = $2")
                .bind(n)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            // As autovacuum would have during a pre-queue of minutes.
            sqlx::query("ANALYZE tickets").execute(&pool).await?;
            sqlx::query("ANALYZE identities").execute(&pool).await?;
            pool.close().await;
        }
    }
    Ok(())
}

/// Checks the rows themselves: `supply` vouchers, one per ticket and identity, serials dense.
async fn check_rows(db: &DbLocation, id: &CampaignId, supply: u64) -> Result<()> {
    let q = "SELECT COUNT(*), COUNT(DISTINCT ticket_id), COUNT(DISTINCT identity), MIN(serial), MAX(serial)
             FROM vouchers WHERE campaign_id = ";
    let (a, b, c, lo, hi): (i64, i64, i64, i64, i64) = match db {
        DbLocation::Sqlite(path) => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await?;
            let r = sqlx::query_as(sqlx::AssertSqlSafe(format!("{q}?")))
                .bind(id.as_str())
                .fetch_one(&pool)
                .await?;
            pool.close().await;
            r
        }
        DbLocation::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await?;
            let r = sqlx::query_as(sqlx::AssertSqlSafe(format!("{q}$1")))
                .bind(id.as_str())
                .fetch_one(&pool)
                .await?;
            pool.close().await;
            r
        }
    };
    let s = i64::try_from(supply)?;
    ensure!(
        a == s && b == s && c == s && lo == 1 && hi == s,
        "rows: {a} vouchers, {b} tickets, {c} identities, serials {lo}..={hi}"
    );
    Ok(())
}

/// Keep-alive `GET /healthz` load: returns (requests/s, requests).
async fn healthz(addr: SocketAddr, conns: usize, secs: f64) -> Result<(f64, u64)> {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + std::time::Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            let req = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n";
            let mut buf = vec![0u8; 4096];
            while Instant::now() < until {
                s.write_all(req).await?;
                read_response(&mut s, &mut buf).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let n = done.load(Ordering::Relaxed);
    Ok((n as f64 / start.elapsed().as_secs_f64(), n))
}

/// Reads one HTTP/1.1 response with a `Content-Length` body.
async fn read_response(s: &mut tokio::net::TcpStream, buf: &mut [u8]) -> Result<()> {
    let mut have = 0usize;
    loop {
        let n = s.read(&mut buf[have..]).await?;
        ensure!(n > 0, "the server closed the connection");
        have += n;
        let text = &buf[..have];
        if let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&text[..end])?.to_ascii_lowercase();
            ensure!(
                head.starts_with("http/1.1 200"),
                "healthz answered {}",
                head.lines().next().unwrap_or("")
            );
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .context("no content-length")?
                .trim()
                .parse()?;
            if have >= end + 4 + len {
                ensure!(have == end + 4 + len, "pipelined bytes left over");
                return Ok(());
            }
        }
        ensure!(have < buf.len(), "response larger than the buffer");
    }
}
