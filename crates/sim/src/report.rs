//! The results as people and programs read them: an aligned table for the terminal and one
//! JSON object (`{"scenario": {...}, "strategies": [...]}`) for `--json`.

use crate::stats::StrategyReport;
use serde::Serialize;
use std::fmt::Write as _;

/// The whole result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport<S: Serialize> {
    pub scenario: S,
    pub strategies: Vec<StrategyReport>,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.digits$}"))
}

/// Renders the rows as a fixed-width table; `capacity` puts the peak in multiples of C.
/// Requests per person are shown next to the floor `2 + V/N` and their ratio; the sleepy
/// columns appear when some row had sleepy people (`--sleepy`).
pub fn table(rows: &[StrategyReport], capacity: f64) -> String {
    let sleepy = rows.iter().any(|r| r.sleepy_clients > 0);
    let mut header = vec![
        "strategy",
        "reject",
        "issued",
        "requests",
        "req/client",
        "floor",
        "req/floor",
        "peak rps",
        "peak/C",
        "shed",
        "drain s",
        "drain/(V/C)",
        "p50 wait s",
        "p99 wait s",
        "fairness",
        "lost",
        "dup",
    ];
    if sleepy {
        header.extend(["sleepy", "sleepy won", "sleepy held"]);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                r.name.clone(),
                opt(r.reject_cost, 2),
                r.vouchers_issued.to_string(),
                r.requests_total.to_string(),
                format!("{:.2}", r.requests_per_client),
                format!("{:.2}", r.request_floor),
                format!("{:.3}", r.floor_ratio),
                r.peak_rps.to_string(),
                format!("{:.2}", r.peak_rps as f64 / capacity),
                r.shed_total.to_string(),
                opt(r.drain_seconds, 1),
                opt(r.drain_ratio, 3),
                format!("{:.1}", r.p50_wait_s),
                format!("{:.1}", r.p99_wait_s),
                format!("{:.3}", r.fairness),
                r.lost.to_string(),
                r.duplicates.to_string(),
            ];
            if sleepy {
                row.extend([
                    r.sleepy_clients.to_string(),
                    r.sleepy_winners.to_string(),
                    r.sleepy_holding.to_string(),
                ]);
            }
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, items: &mut dyn Iterator<Item = &str>| {
        for (i, (c, w)) in items.zip(&widths).enumerate() {
            if i == 0 {
                let _ = write!(out, "{c:<w$}");
            } else {
                let _ = write!(out, "  {c:>w$}");
            }
        }
        out.push('\n');
    };
    line(&mut out, &mut header.iter().copied());
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&mut out, &mut rule.iter().map(String::as_str));
    for row in &cells {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str) -> StrategyReport {
        StrategyReport {
            name: name.into(),
            reject_cost: Some(0.02),
            clients: 10,
            vouchers_issued: 2,
            requests_total: 22,
            requests_per_client: 2.2,
            request_floor: 2.2,
            floor_ratio: 1.0,
            setup_requests: 10,
            peak_rps: 4,
            shed_total: 0,
            drain_seconds: Some(1.5),
            drain_ratio: None,
            p50_wait_s: 0.0,
            p99_wait_s: 1.0,
            fairness: 1.0,
            lost: 0,
            duplicates: 0,
            sleepy_clients: 0,
            sleepy_winners: 0,
            sleepy_holding: 0,
            per_sec: vec![1, 4],
        }
    }

    #[test]
    fn table_aligns_columns_and_json_has_the_published_keys() {
        let t = table(&[row("lineup"), row("decorrelated-jitter")], 2.0);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{t}");
        assert!(lines[2].starts_with("lineup "));
        assert!(lines[2].contains("  2.20  ") && lines[2].contains("  -  "), "{t}");
        assert!(lines[0].contains("req/floor") && !lines[0].contains("sleepy"), "{t}");
        let mut sleepy = row("lineup-auto");
        (sleepy.sleepy_clients, sleepy.sleepy_winners, sleepy.sleepy_holding) = (3, 1, 1);
        let t = table(&[row("lineup"), sleepy], 2.0);
        assert!(t.lines().next().unwrap().ends_with("sleepy won  sleepy held"), "{t}");
        let last: Vec<&str> = t.lines().nth(3).unwrap().split_whitespace().rev().take(3).collect();
        assert_eq!(last, ["1", "1", "3"], "{t}");
        assert!(t.lines().all(|l| l.len() == t.lines().next().unwrap().len()), "{t}");

        let json = serde_json::to_value(RunReport {
            scenario: serde_json::json!({"clients": 10}),
            strategies: vec![row("lineup")],
        })
        .unwrap();
        let s = &json["strategies"][0];
        for key in [
            "name",
            "clients",
            "vouchers_issued",
            "requests_total",
            "requests_per_client",
            "request_floor",
            "floor_ratio",
            "peak_rps",
            "shed_total",
            "drain_seconds",
            "drain_ratio",
            "p50_wait_s",
            "p99_wait_s",
            "fairness",
            "lost",
            "duplicates",
            "sleepy_clients",
            "sleepy_winners",
            "sleepy_holding",
        ] {
            assert!(s.get(key).is_some(), "missing {key}");
        }
        assert!(s.get("per_sec").is_none());
        assert_eq!(json["scenario"]["clients"], 10);
    }
}
