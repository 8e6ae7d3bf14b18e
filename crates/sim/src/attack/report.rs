//! The attack runs side by side: the calm people's figures and their ratio to the baseline's,
//! the server's memory and descriptors, and what each attacker was answered.

use super::RunRow;
use std::fmt::Write as _;

/// `a / b`, or `-` when the baseline is zero.
fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else if a == 0.0 {
        "1.00".into()
    } else {
        "-".into()
    }
}

fn mib(kib: u64) -> String {
    format!("{:.0}", kib as f64 / 1024.0)
}

fn render(header: &[&str], cells: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: &[String]| {
        let parts: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(
                |(i, (c, w))| {
                    if i == 0 { format!("{c:<w$}") } else { format!("{c:>w$}") }
                },
            )
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&mut out, &header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    for row in cells {
        line(&mut out, row);
    }
    out
}

/// The calm people's table (the first row is the baseline the ratios divide by) and the
/// server's resources.
pub fn calm_table(rows: &[RunRow]) -> String {
    let Some(base) = rows.first() else {
        return String::new();
    };
    let header = [
        "run",
        "issued",
        "lost",
        "dup",
        "failed",
        "req/person",
        "x base",
        "shed",
        "p99 wait s",
        "x base",
        "p50 ms",
        "p99 ms",
        "x base",
        "RSS MiB before/peak/after",
        "fds before/peak/after",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let c = &r.calm;
            let d = &r.calm_detail;
            let s = &r.server;
            vec![
                r.name.clone(),
                c.vouchers_issued.to_string(),
                c.lost.to_string(),
                c.duplicates.to_string(),
                d.failed().to_string(),
                format!("{:.3}", c.requests_per_client),
                ratio(c.requests_per_client, base.calm.requests_per_client),
                c.shed_total.to_string(),
                format!("{:.2}", c.p99_wait_s),
                ratio(c.p99_wait_s, base.calm.p99_wait_s),
                format!("{:.1}", d.latency_p50_ms),
                format!("{:.1}", d.latency_p99_ms),
                ratio(d.latency_p99_ms, base.calm_detail.latency_p99_ms),
                format!(
                    "{}/{}/{}",
                    mib(s.before.rss_kib),
                    mib(s.peak_rss_kib),
                    mib(s.after.rss_kib)
                ),
                format!("{}/{}/{}", s.before.fds, s.peak_fds, s.after.fds),
            ]
        })
        .collect();
    render(&header, &cells)
}

/// What each attacker sent and how the server answered, one line per attacker and run.
pub fn attacker_table(rows: &[RunRow]) -> String {
    let mut out = String::new();
    for r in rows {
        for (name, t) in &r.attackers {
            let outcomes = t
                .outcomes
                .iter()
                .map(|(k, v)| format!("{k} x{v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(out, "{} / {name}: sent {}", r.name, t.sent);
            if t.peak_open > 0 {
                let _ = write!(
                    out,
                    ", {} open at most, longest held {:.1} s",
                    t.peak_open,
                    t.longest_held_ms as f64 / 1000.0
                );
            }
            if t.skipped > 0 {
                let _ = write!(out, ", {} not sent (in-flight cap)", t.skipped);
            }
            let _ = writeln!(out, "; {outcomes}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_divide_by_the_baseline() {
        assert_eq!(ratio(3.3, 3.0), "1.10");
        assert_eq!(ratio(0.0, 0.0), "1.00");
        assert_eq!(ratio(1.0, 0.0), "-");
        assert_eq!(mib(2048), "2");
    }

    #[test]
    fn tables_align() {
        let t = render(&["a", "bb"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "a    bb\nxyz   1\n");
    }
}
