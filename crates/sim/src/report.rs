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
pub fn table(rows: &[StrategyReport], capacity: f64) -> String {
    let header = [
        "strategy",
        "reject",
        "issued",
        "requests",
        "req/client",
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
    let cells: Vec<[String; 15]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                opt(r.reject_cost, 2),
                r.vouchers_issued.to_string(),
                r.requests_total.to_string(),
                format!("{:.2}", r.requests_per_client),
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
            ]
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
            "peak_rps",
            "shed_total",
            "drain_seconds",
            "drain_ratio",
            "p50_wait_s",
            "p99_wait_s",
            "fairness",
            "lost",
            "duplicates",
        ] {
            assert!(s.get(key).is_some(), "missing {key}");
        }
        assert!(s.get("per_sec").is_none());
        assert_eq!(json["scenario"]["clients"], 10);
    }
}
