//! `lineup-sim`: the surge benchmark. `model` simulates in virtual time; `load` drives a real
//! server over loopback HTTP; `attack` drives it beside attackers. Both print the same table and, with `--json`, one JSON object.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use lineup_sim::cli::{ModelArgs, SurgeArgs};
use lineup_sim::load::{LoadArgs, ServerArgs};
use lineup_sim::report::{RunReport, table};
use lineup_sim::scenario::Scenario;
use lineup_sim::stats::StrategyReport;
use serde::Serialize;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, Parser)]
#[command(
    name = "lineup-sim",
    version,
    about = "What each client strategy costs the server and the people in a voucher surge"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Discrete-event simulation of the protocol and the server's capacity in virtual time.
    Model {
        #[command(flatten)]
        surge: SurgeArgs,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Real HTTP against real lineup-server instances spawned on loopback, on a fresh database
    /// per strategy (SQLite, or PostgreSQL shared by --servers instances).
    Load {
        #[command(flatten)]
        surge: SurgeArgs,
        #[command(flatten)]
        load: LoadArgs,
        #[command(flatten)]
        servers: ServerArgs,
    },
    /// Calm `lineup` clients on a real server, without attackers and then beside each attack
    /// (slow headers and bodies, idle connections, hammering bots, junk claims, a registration
    /// flood): their figures side by side, and the server's memory and open descriptors.
    Attack {
        #[command(flatten)]
        args: lineup_sim::attack::AttackArgs,
    },
}

/// The scenario block of the JSON output.
#[derive(Debug, Serialize)]
struct ModelScenario<'a> {
    mode: &'static str,
    #[serde(flatten)]
    scenario: &'a Scenario,
    reject_costs: &'a [f64],
    strategies: Vec<&'static str>,
    issuance: lineup_sim::model::Issuance,
    admission_rate_per_s: u32,
    /// `V / C`, the physical limit on the drain.
    drain_floor_s: f64,
    /// `2 + V / N` requests per person.
    request_floor: f64,
    /// One registration per person, before the scenario (not in `requests_total`).
    registration_requests: u32,
    wall_seconds: f64,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().mode {
        Mode::Model { surge, model } => run_model(&surge, &model),
        Mode::Load { surge, load, servers } => run_load(&surge, &load, &servers),
        Mode::Attack { args } => run_attack(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, the causes joined with ": " (a bad flag should not need a backtrace).
            eprintln!("lineup-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_load(surge: &SurgeArgs, args: &LoadArgs, servers: &ServerArgs) -> anyhow::Result<()> {
    let setup = servers.setup()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (scenario, rows) = runtime
        .block_on(lineup_sim::load::run(surge, args, &setup))
        .context("load run failed")?;
    let header = format!(
        "load: N={} V={} C={}/s (admission {}/s), pre-queue {} s, draw {} s before opening, window {} s; \
         {} server(s) on {}{}, clients routed per {}, max concurrency {} per server, client timeout {} s, seed {}\n\
         floors: drain V/C = {:.1} s, requests 2+V/N = {:.3}/person; registration: {} requests before the scenario \
         ({:?} s per strategy); clients and server share {} cores; wall time {:.1} s\n",
        scenario.clients,
        scenario.vouchers,
        scenario.capacity,
        scenario.admission_rate_per_s,
        scenario.prequeue_s,
        scenario.draw_lead_s,
        scenario.admission_window_s,
        scenario.servers,
        scenario.db,
        scenario
            .db_max_connections
            .map(|n| format!(" (a fresh database per strategy, pool {n} per server)"))
            .unwrap_or_default(),
        scenario.route,
        scenario.max_concurrency,
        scenario.client_timeout_s,
        scenario.seed,
        scenario.drain_floor_s,
        scenario.request_floor,
        scenario.registration_requests,
        scenario
            .registration_seconds
            .iter()
            .map(|s| (s * 10.0).round() / 10.0)
            .collect::<Vec<_>>(),
        scenario.cores,
        scenario.wall_seconds,
    );
    let header = if scenario.servers > 1 {
        let spread = scenario
            .instance_requests
            .iter()
            .map(|(s, n)| format!("{s} {n:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("{header}scenario requests per server: {spread}\n")
    } else {
        header
    };
    let opens_at = lineup_sim::scenario::secs(args.prequeue_s);
    let (capacity, lead) = (scenario.capacity, args.draw_lead_s);
    emit(surge, &header, scenario, rows, capacity, opens_at, lead)
}

fn run_attack(args: &lineup_sim::attack::AttackArgs) -> anyhow::Result<()> {
    use lineup_sim::attack::report::{attacker_table, calm_table};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let started = Instant::now();
    let rows = runtime
        .block_on(lineup_sim::attack::run_all(args))
        .context("attack run failed")?;
    let separate = rows.iter().all(|r| r.server_separate);
    let text = format!(
        "attack: {} calm lineup people, V={} C={}/s, pre-queue {} s (+{} s ramp), draw {} s before opening; \
         server max concurrency {}, max connections {}, header deadline {} ms, body deadline {} ms{}; seed {}; \
         server memory and descriptors are {}; wall time {:.1} s\n\n{}\n{}",
        args.clients,
        args.vouchers,
        args.capacity,
        args.load.prequeue_s,
        args.strength.ramp_s,
        args.load.draw_lead_s,
        args.load.max_concurrency,
        args.max_connections,
        args.header_read_timeout_ms,
        args.body_timeout_ms,
        if args.server_args.is_empty() {
            String::new()
        } else {
            format!(", extra flags {:?}", args.server_args)
        },
        args.seed,
        if separate {
            "the server process's"
        } else {
            "this whole process's (server in-process)"
        },
        started.elapsed().as_secs_f64(),
        calm_table(&rows),
        attacker_table(&rows),
    );
    if args.json {
        eprint!("{text}");
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, &serde_json::json!({ "mode": "attack", "runs": rows }))
            .context("writing JSON")?;
        writeln!(stdout).context("writing JSON")?;
    } else {
        print!("{text}");
    }
    Ok(())
}

fn run_model(surge: &SurgeArgs, args: &ModelArgs) -> anyhow::Result<()> {
    let scenario = args.scenario(surge);
    scenario.validate().context("invalid scenario")?;
    if let Some(bad) = args.reject_cost.iter().find(|c| !(c.is_finite() && **c >= 0.0)) {
        bail!("--reject-cost values must be finite and >= 0 (got {bad})");
    }
    let started = Instant::now();
    let rows = lineup_sim::model::run_all_issuance(
        &scenario,
        &surge.strategies,
        args.issuance,
        &args.reject_cost,
        args.threads,
    );
    let wall = started.elapsed().as_secs_f64();
    let header = format!(
        "model: N={} V={} C={}/s, pre-queue {} s, draw {} s before opening, admission {}/s, window {} s\n\
         costs (issuances): issue {}, read {}, 503 {:?}; queue bound {} s, backlog bound {} s, rtt {} ms, \
         client timeout {} s, loss {}, waitlist checks {:?}, seed {}\n\
         issuance {}: lineup = explicit claims, lineup-auto = by the server in a batch every {} ms (at most {}), \
         {} issuance per voucher, fetched {} s after admit_at; sleepy share {}\n\
         floors: drain V/C = {:.1} s, requests 2+V/N = {:.3}/person; registration: {} requests before the scenario; \
         wall time {:.1} s\n",
        scenario.clients,
        scenario.vouchers,
        scenario.capacity,
        scenario.prequeue_s,
        scenario.draw_lead_s,
        scenario.admission_rate(),
        scenario.admission_window_s,
        scenario.costs.issue,
        scenario.costs.read,
        args.reject_cost,
        scenario.max_queue_s,
        scenario.max_backlog_s,
        scenario.rtt_ms,
        scenario.client_timeout_s,
        scenario.loss,
        scenario.waitlist_checks,
        scenario.seed,
        args.issuance.name(),
        scenario.issue_batch_ms,
        scenario.issue_batch_max,
        scenario.costs.batch_issue,
        scenario.fetch_lag_s,
        scenario.sleepy,
        scenario.drain_floor_s(),
        scenario.request_floor(),
        scenario.clients,
        wall,
    );
    let out = ModelScenario {
        mode: "model",
        scenario: &scenario,
        reject_costs: &args.reject_cost,
        strategies: surge.strategies.iter().map(|s| s.name()).collect(),
        issuance: args.issuance,
        admission_rate_per_s: scenario.admission_rate(),
        drain_floor_s: scenario.drain_floor_s(),
        request_floor: scenario.request_floor(),
        registration_requests: scenario.clients,
        wall_seconds: wall,
    };
    emit(
        surge,
        &header,
        out,
        rows,
        scenario.capacity,
        scenario.opens_at(),
        scenario.draw_lead_s,
    )
}

/// Prints the table (stdout, or stderr when the JSON goes to stdout), the JSON and the plot.
fn emit<S: Serialize>(
    surge: &SurgeArgs,
    header: &str,
    scenario: S,
    rows: Vec<StrategyReport>,
    capacity: f64,
    opens_at: u64,
    lead_s: f64,
) -> anyhow::Result<()> {
    let text = format!("{header}\n{}", table(&rows, capacity));
    if let Some(path) = &surge.plot {
        let title = format!("requests per second reaching the server (C = {capacity}/s)");
        lineup_sim::plot::draw(path, &title, &rows, opens_at / 1_000_000, lead_s as u64 + 10, 420)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if surge.json {
        eprint!("{text}");
        let report = RunReport {
            scenario,
            strategies: rows,
        };
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, &report).context("writing JSON")?;
        writeln!(stdout).context("writing JSON")?;
    } else {
        print!("{text}");
    }
    Ok(())
}
