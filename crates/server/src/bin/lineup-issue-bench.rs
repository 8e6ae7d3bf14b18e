//! `lineup-issue-bench`: how fast the store draws and issues, on SQLite or PostgreSQL.
//!
//! Fills a campaign with `--tickets` opted-in places (through the store's own API, as the
//! server would), then measures in one run: the draw (one statement, whatever the size), the
//! old way of issuing (one explicit claim per voucher, two transactions each) on a share of the
//! winners, and server-side issuance in batches for the rest. Prints vouchers/s of both and
//! their ratio.
//!
//!     cargo run --release -p lineup-server --bin lineup-issue-bench -- --tickets 40000
//!     cargo run --release -p lineup-server --bin lineup-issue-bench -- --db postgres://...

use anyhow::{Context, Result};
use chrono::{Duration, Utc};
use clap::Parser;
use lineup_protocol::IdentityKey;
use lineup_server::clock::Clock;
use lineup_server::config::CampaignSpec;
use lineup_server::issuance::BATCH;
use lineup_server::issuer::Issuer;
use lineup_server::store::{ClaimInput, ClaimOutcome, DbLocation, Store};
use sha2::Digest;
use std::time::Instant;

#[derive(Debug, Parser)]
struct Args {
    /// Places in the campaign; every one is within the supply and opted in.
    #[arg(long, default_value_t = 40_000)]
    tickets: u64,
    /// Of these, how many claim explicitly (the protocol-1.0 path), for comparison.
    #[arg(long, default_value_t = 2_000)]
    explicit: u64,
    /// SQLite file or postgres:// URL (default: a fresh SQLite file in a temporary directory).
    #[arg(long, env = "LINEUP_BENCH_DB")]
    db: Option<String>,
    /// Concurrent writers while filling.
    #[arg(long, default_value_t = 64)]
    fill_tasks: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let dir = tempfile_dir()?;
    let db = match &args.db {
        Some(d) => DbLocation::parse(d),
        None => DbLocation::Sqlite(dir.join("bench.db")),
    };
    let store = Store::open(&db).await.context("opening the store")?;
    let issuer = Issuer::load_or_create(&dir).context("issuer key")?;
    let t0 = Utc::now();
    let id: lineup_protocol::CampaignId = format!("bench{}", t0.timestamp_millis() % 1_000_000)
        .parse()
        .context("campaign id")?;
    let spec = CampaignSpec {
        id: id.clone(),
        title: "bench".into(),
        title_en: "bench".into(),
        issuer: "bench".into(),
        brands: vec![],
        amount: 6000,
        currency: *b"KRW",
        supply: args.tickets,
        prequeue_opens_at: t0 - Duration::seconds(10),
        draw_at: t0 + Duration::hours(1),
        opens_at: t0 + Duration::hours(2),
        closes_at: t0 + Duration::hours(30),
        voucher_expires_at: t0 + Duration::days(30),
        // Everyone is admitted within a second of opening: the database is the only limit.
        admission_rate_per_s: u32::try_from(args.tickets.max(1)).unwrap_or(u32::MAX),
        admission_window_s: 3600,
    };
    store.ensure_campaign(&spec, [0; 32], 42).await?;

    let fill = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.fill_tasks {
        let store = store.clone();
        let id = id.clone();
        let n = args.tickets;
        let explicit = args.explicit;
        let step = args.fill_tasks;
        tasks.push(tokio::spawn(async move {
            let mut k = w;
            while k < n {
                let key = identity(k);
                let digest: [u8; 32] = sha2::Sha256::digest(k.to_be_bytes()).into();
                store.register_identity(&key, digest, t0).await?;
                let auto = format!("auto-{k}");
                let opt_in = (k >= explicit).then_some(auto.as_str());
                store.take_ticket(&id, &key, opt_in, t0).await?;
                k += step;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let fill_s = fill.elapsed().as_secs_f64();

    let draw = Instant::now();
    store.ensure_draw(&id, spec.draw_at).await?;
    let draw_s = draw.elapsed().as_secs_f64();

    // Explicit claims: one request per voucher, as protocol-1.0 clients do (sequential: SQLite
    // has one writer anyway, and PostgreSQL serialises them on the campaign's row).
    let clock = Clock::system();
    clock.advance(std::time::Duration::from_secs(2 * 3600 + 5));
    let claims = Instant::now();
    let mut claimed = 0u64;
    for k in 0..args.explicit {
        let key = identity(k);
        let Some(t) = store.ticket_status_row(&id, &key).await? else {
            continue;
        };
        let body = serde_json::to_vec(&serde_json::json!({"ticket_id": t.id}))?;
        let input = ClaimInput {
            campaign_id: id.clone(),
            identity: key,
            ticket_id: t.id.clone(),
            idempotency_key: format!("claim-{k}"),
            request_hash: sha2::Sha256::digest(&body).into(),
        };
        if let ClaimOutcome::Issued(_) = store.claim(&input, &issuer, &clock).await? {
            claimed += 1;
        }
    }
    let claims_s = claims.elapsed().as_secs_f64();

    // Server-side issuance of everyone else, in batches.
    let now = clock.now();
    let batches = Instant::now();
    let mut issued = 0u64;
    let mut conflicts = 0u64;
    loop {
        let b = store.issue_due(&id, &issuer, now, BATCH).await?;
        if b.conflict {
            conflicts += 1;
            continue;
        }
        issued += b.issued.len() as u64;
        if !b.more && b.issued.is_empty() {
            break;
        }
    }
    let batches_s = batches.elapsed().as_secs_f64();
    let counters = store.campaign_counters(&id).await?.context("campaign vanished")?;
    let claim_rate = claimed as f64 / claims_s.max(1e-9);
    let batch_rate = issued as f64 / batches_s.max(1e-9);
    let backend = match db {
        DbLocation::Sqlite(_) => "sqlite",
        DbLocation::Postgres(_) => "postgres",
    };
    println!("backend                  {backend}");
    println!("tickets                  {} (filled in {fill_s:.1} s)", args.tickets);
    println!(
        "draw                     {:.1} ms for {} tickets (one statement)",
        draw_s * 1000.0,
        args.tickets
    );
    println!("explicit claims          {claimed} in {claims_s:.2} s = {claim_rate:.0} vouchers/s");
    println!(
        "server-side batches      {issued} in {batches_s:.2} s = {batch_rate:.0} vouchers/s ({conflicts} re-plans)"
    );
    println!("ratio batches / claims   {:.1} x", batch_rate / claim_rate.max(1e-9));
    println!(
        "vouchers out             {} of supply {} (every place holds exactly one)",
        counters.issued, args.tickets
    );
    anyhow::ensure!(counters.issued == claimed + issued, "issued count disagrees");
    anyhow::ensure!(counters.issued == args.tickets, "not every place got its voucher");
    store.close().await;
    Ok(())
}

fn identity(k: u64) -> IdentityKey {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&k.to_be_bytes());
    b[31] = 1;
    IdentityKey(b)
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("lineup-issue-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
