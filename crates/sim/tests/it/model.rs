//! The model mode end to end, at a scale that runs in seconds.

use lineup_sim::model::{Issuance, run_all, run_all_issuance};
use lineup_sim::scenario::Scenario;
use lineup_sim::stats::StrategyReport;
use lineup_sim::strategy::Strategy;

/// The reference surge scaled down 40 times (N/V/C ratios kept): 2,500 people, 500
/// vouchers, 50 issuances per second (admission 48/s: the wire's rate is whole).
fn small() -> Scenario {
    Scenario {
        clients: 2_500,
        vouchers: 500,
        capacity: 50.0,
        ..Scenario::default()
    }
}

fn row<'a>(rows: &'a [StrategyReport], name: &str) -> &'a StrategyReport {
    rows.iter().find(|r| r.name == name).unwrap()
}

#[test]
fn lineup_meets_its_targets_and_nobody_loses_or_doubles_a_voucher() {
    let s = small();
    let rows = run_all(&s, &Strategy::ALL, &[0.0, 0.02], 2);
    assert_eq!(rows.len(), 12);
    for r in &rows {
        assert_eq!(r.lost, 0, "{r:?}");
        assert_eq!(r.duplicates, 0, "{r:?}");
        assert_eq!(r.clients, 2_500);
    }
    for l in rows.iter().filter(|r| r.name == "lineup") {
        // Floor 2 + V/N, plus one re-check per waitlisted person at the moment a returned
        // voucher could first reach them: at most 3.
        assert!(l.requests_per_client >= s.request_floor() - 1e-9, "{l:?}");
        assert!(l.requests_per_client <= 3.0 + 1e-9, "{l:?}");
        assert_eq!(l.vouchers_issued, 500);
        assert!(l.drain_ratio.is_some_and(|d| d <= 1.05), "{l:?}");
        assert!(l.peak_rps as f64 <= 2.0 * s.capacity, "{l:?}");
        assert_eq!(l.shed_total, 0);
        assert!(l.fairness >= 0.99, "{l:?}");
    }
    // When a refusal costs a fiftieth of an issuance, the crowd that refreshes hardest keeps
    // the server busy refusing: it gets fewer vouchers out and makes many times lineup's requests.
    let costly: Vec<StrategyReport> = rows.iter().filter(|r| r.reject_cost == Some(0.02)).cloned().collect();
    let (hammer, lineup) = (row(&costly, "hammer"), row(&costly, "lineup"));
    assert!(hammer.requests_total > 30 * lineup.requests_total, "{hammer:?}");
    assert!(hammer.vouchers_issued < lineup.vouchers_issued);
}

#[test]
fn lost_replies_never_double_a_voucher_and_lineup_never_loses_one() {
    let s = Scenario {
        clients: 2_000,
        vouchers: 400,
        capacity: 40.0,
        loss: 0.05,
        ..Scenario::default()
    };
    let rows = run_all(&s, &Strategy::ALL, &[0.0], 2);
    for r in &rows {
        assert_eq!(r.duplicates, 0, "{r:?}");
    }
    // A baseline person whose reply was lost may give up before asking again; lineup's engine
    // claims again with the same key (or lists its vouchers) until it holds the voucher.
    let l = row(&rows, "lineup");
    assert_eq!(l.lost, 0, "{l:?}");
    assert_eq!(l.vouchers_issued, 400);
    // Lost replies cost retries, but not many.
    assert!(l.requests_per_client > 3.0 && l.requests_per_client < 3.5, "{l:?}");
}

#[test]
fn same_seed_same_results_other_seed_other_draw() {
    let s = Scenario {
        clients: 1_000,
        vouchers: 200,
        capacity: 20.0,
        ..Scenario::default()
    };
    let strategies = [Strategy::FullJitter, Strategy::Lineup];
    let a = run_all(&s, &strategies, &[0.02], 2);
    let b = run_all(&s, &strategies, &[0.02], 1);
    assert_eq!(a, b);
    let c = run_all(&Scenario { seed: 2, ..s }, &strategies, &[0.02], 2);
    assert_ne!(a, c);
}

#[test]
fn the_binary_prints_the_table_and_one_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("rps.svg");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lineup-sim"))
        .args([
            "model",
            "--clients",
            "500",
            "--vouchers",
            "100",
            "--capacity",
            "10",
            "--json",
            "--plot",
        ])
        .arg(&svg)
        .args(["--reject-cost", "0,0.1", "--strategies", "hammer,lineup"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stderr);
    assert!(table.contains("strategy") && table.contains("drain/(V/C)"), "{table}");
    assert!(
        table.lines().filter(|l| l.starts_with("lineup ")).count() == 2,
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["scenario"]["clients"], 500);
    assert_eq!(json["scenario"]["costs"]["issue"], 1.0);
    let rows = json["strategies"].as_array().unwrap();
    // lineup runs in both issuance modes by default: hammer, lineup, lineup-auto per cost.
    assert_eq!(rows.len(), 6);
    assert_eq!(json["scenario"]["issuance"], "both");
    for r in rows {
        for key in [
            "vouchers_issued",
            "drain_ratio",
            "p99_wait_s",
            "fairness",
            "lost",
            "duplicates",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
    }
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.contains("lineup (reject 0.1)"));

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_lineup-sim"))
        .args(["model", "--clients", "0"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("clients must be at least 1"));
}

/// The reference surge scaled down 10 times (N/V/C ratios kept: V/N = 0.2, V/C = 10 s).
fn reference_tenth() -> Scenario {
    Scenario {
        clients: 10_000,
        vouchers: 2_000,
        capacity: 200.0,
        ..Scenario::default()
    }
}

#[test]
fn server_issuance_reaches_the_request_floor() {
    let s = reference_tenth();
    let rows = run_all_issuance(&s, &[Strategy::Lineup], Issuance::Both, &[0.0, 0.02, 0.1], 2);
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["lineup", "lineup-auto"].repeat(3));
    for auto in rows.iter().filter(|r| r.name == "lineup-auto") {
        assert!((auto.request_floor - 2.2).abs() < 1e-12, "{auto:?}");
        assert!(auto.floor_ratio <= 1.02, "{auto:?}");
        assert!(auto.requests_per_client >= s.request_floor() - 1e-9, "{auto:?}");
        assert_eq!(auto.vouchers_issued, 2_000);
        assert!(auto.drain_ratio.is_some_and(|d| d <= 1.05), "{auto:?}");
        assert_eq!((auto.shed_total, auto.lost, auto.duplicates), (0, 0, 0), "{auto:?}");
        assert!(auto.fairness >= 0.99, "{auto:?}");
        assert!(auto.peak_rps as f64 <= 2.0 * s.capacity, "{auto:?}");
    }
    // Explicit claims keep today's behaviour: one re-check per waitlisted person.
    for lineup in rows.iter().filter(|r| r.name == "lineup") {
        assert!(lineup.requests_per_client > 2.9 && lineup.requests_per_client <= 3.0 + 1e-9);
        assert!(lineup.floor_ratio > 1.3, "{lineup:?}");
    }
    // The same rows as run_all gives for explicit claims alone.
    let explicit = run_all(&s, &[Strategy::Lineup], &[0.02], 1);
    assert_eq!(explicit[0], rows[2]);
}

#[test]
fn sleepy_winners_hold_their_vouchers_only_with_server_issuance() {
    let s = Scenario {
        sleepy: 0.3,
        ..reference_tenth()
    };
    let rows = run_all_issuance(&s, &[Strategy::Lineup], Issuance::Both, &[0.02], 2);
    let (client, server) = (row(&rows, "lineup"), row(&rows, "lineup-auto"));
    for r in [client, server] {
        assert!((2_800..=3_200).contains(&r.sleepy_clients), "{r:?}");
        assert!(r.sleepy_winners > 450, "{r:?}");
        assert_eq!((r.lost, r.duplicates), (0, 0), "{r:?}");
    }
    // Server-side issuance: every sleepy winner holds its voucher when it comes back, and the
    // drop drains as if everyone were awake.
    assert_eq!(server.sleepy_holding, server.sleepy_winners, "{server:?}");
    assert_eq!(server.vouchers_issued, 2_000);
    assert!(server.drain_ratio.is_some_and(|d| d <= 1.05), "{server:?}");
    assert!(server.fairness >= 0.99, "{server:?}");
    assert_eq!(server.shed_total, 0);
    // Explicit claims: sleepy winners lose their turn (admissions expire to the waitlist),
    // so the vouchers go further down the line, minutes later.
    assert_eq!(client.sleepy_holding, 0, "{client:?}");
    assert!(client.fairness < 0.9, "{client:?}");
    assert!(client.drain_ratio.is_none_or(|d| d > 10.0), "{client:?}");
}

#[test]
fn server_issuance_survives_lost_replies_exactly_once() {
    let s = Scenario {
        loss: 0.05,
        ..reference_tenth()
    };
    let rows = run_all_issuance(&s, &[Strategy::Lineup], Issuance::Server, &[0.0], 1);
    assert_eq!(rows.len(), 1);
    let auto = row(&rows, "lineup-auto");
    assert_eq!(
        (auto.vouchers_issued, auto.lost, auto.duplicates),
        (2_000, 0, 0),
        "{auto:?}"
    );
    // A lost reply costs one more request after the client's timeout.
    assert!(auto.floor_ratio > 1.0 && auto.floor_ratio < 1.1, "{auto:?}");
}

#[test]
fn the_binary_runs_the_issuance_modes_and_sleepy_people() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lineup-sim"))
            .args(["model", "--clients", "2000", "--vouchers", "400", "--capacity", "40"])
            .args(["--strategies", "lineup", "--json"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (String::from_utf8_lossy(&out.stderr).into_owned(), json)
    };
    let (table, json) = run(&["--sleepy", "0.3"]);
    assert!(table.contains("req/floor") && table.contains("sleepy held"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("lineup-auto ")), "{table}");
    assert_eq!(json["scenario"]["sleepy"], 0.3);
    let rows = json["strategies"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        for key in ["request_floor", "floor_ratio", "sleepy_winners", "sleepy_holding"] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
    }
    assert_eq!(rows[1]["name"], "lineup-auto");
    assert_eq!(rows[1]["sleepy_holding"], rows[1]["sleepy_winners"]);

    let (table, json) = run(&["--issuance", "server"]);
    let header = table.lines().find(|l| l.starts_with("strategy")).unwrap();
    assert!(!header.contains("sleepy"), "{table}");
    assert_eq!(json["strategies"].as_array().unwrap().len(), 1);
    assert_eq!(json["strategies"][0]["name"], "lineup-auto");
    assert_eq!(json["strategies"][0]["floor_ratio"], 1.0);
}
