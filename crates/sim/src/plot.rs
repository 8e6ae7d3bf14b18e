//! `--plot FILE.svg`: requests per second reaching the server over time, one line per row,
//! on a log scale (hammer and lineup differ by orders of magnitude).

use crate::stats::StrategyReport;
use plotters::prelude::*;
use std::path::Path;

/// Why the plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the plot: {0}")]
pub struct PlotError(String);

fn err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError(e.to_string())
}

/// Draws `rows` into an SVG at `path`. Time 0 is opening (`opens_at_s` seconds after the
/// pre-queue opened); the window starts `before_s` seconds before it and ends when the last
/// row goes quiet (at most `max_after_s` after opening).
pub fn draw(
    path: &Path,
    title: &str,
    rows: &[StrategyReport],
    opens_at_s: u64,
    before_s: u64,
    max_after_s: u64,
) -> Result<(), PlotError> {
    let first = opens_at_s.saturating_sub(before_s);
    let last_busy = rows
        .iter()
        .filter_map(|r| r.per_sec.iter().rposition(|&n| n > 0))
        .max()
        .unwrap_or(opens_at_s as usize) as u64;
    let last = last_busy.clamp(opens_at_s + 10, opens_at_s + max_after_s) + 2;
    let peak = rows
        .iter()
        .flat_map(|r| r.per_sec.iter().copied())
        .max()
        .unwrap_or(1)
        .max(10);
    let x = |bin: u64| bin as f64 - opens_at_s as f64;
    let several_costs = rows.iter().any(|r| r.reject_cost != rows[0].reject_cost);

    let root = SVGBackend::new(path, (1200, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x(first)..x(last), (1f64..f64::from(peak) * 2.0).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds from opening")
        .y_desc("requests per second (log)")
        .draw()
        .map_err(err)?;
    for (i, r) in rows.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points = (first..=last).map(|b| {
            let n = r.per_sec.get(b as usize).copied().unwrap_or(0);
            (x(b), f64::from(n.max(1)))
        });
        let label = if several_costs {
            format!("{} (reject {})", r.name, r.reject_cost.unwrap_or(0.0))
        } else {
            r.name.clone()
        };
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(lx, ly)| PathElement::new(vec![(lx, ly), (lx + 20, ly)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg_with_one_line_per_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rps.svg");
        let row = |name: &str, per_sec: Vec<u32>| StrategyReport {
            name: name.into(),
            reject_cost: None,
            clients: 1,
            vouchers_issued: 0,
            requests_total: 0,
            requests_per_client: 0.0,
            request_floor: 2.0,
            floor_ratio: 0.0,
            setup_requests: 0,
            peak_rps: 0,
            shed_total: 0,
            drain_seconds: None,
            drain_ratio: None,
            p50_wait_s: 0.0,
            p99_wait_s: 0.0,
            fairness: 1.0,
            lost: 0,
            duplicates: 0,
            sleepy_clients: 0,
            sleepy_winners: 0,
            sleepy_holding: 0,
            per_sec,
        };
        let rows = vec![row("hammer", vec![0, 5, 900, 30]), row("lineup", vec![3, 3, 40, 1])];
        draw(&path, "test", &rows, 2, 2, 60).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("hammer") && svg.contains("lineup"));
        assert!(svg.matches("<polyline").count() >= 2, "{svg}");
    }
}
