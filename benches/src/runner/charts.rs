//! SVG charts for the book: RPS and p99 latency against connections (one line
//! per phase), and the memory each idle connection costs.

use std::path::Path;

use plotters::prelude::*;

use super::output::Results;

/// The `POST /ingest` keep-alive scenarios, whose connection counts form the x axis.
fn ingest_points(
    results: &Results,
    phase: &str,
    value: impl Fn(&crate::loadgen::Report) -> f64,
) -> Vec<(f64, f64)> {
    results
        .scenarios
        .iter()
        .filter(|s| s.id.starts_with("ingest-"))
        .filter_map(|s| {
            let row = results
                .rows
                .iter()
                .find(|r| r.phase == phase && r.scenario == s.id)?;
            Some((s.connections as f64, value(row.report.as_ref()?)))
        })
        .collect()
}

fn phases(results: &Results) -> Vec<String> {
    let mut names: Vec<String> = results.rows.iter().map(|r| r.phase.clone()).collect();
    names.dedup();
    names
}

/// Draws every chart into `dir` (rps.svg, p99.svg, idle-memory.svg).
pub fn draw_all(results: &Results, dir: &Path) -> Result<(), String> {
    let series = |f: fn(&crate::loadgen::Report) -> f64| -> Vec<(String, Vec<(f64, f64)>)> {
        phases(results)
            .into_iter()
            .map(|p| {
                let pts = ingest_points(results, &p, f);
                (p, pts)
            })
            .collect()
    };
    line_chart(
        &dir.join("rps.svg"),
        "POST /ingest: requests per second",
        "RPS",
        &series(|r| r.rps),
    )?;
    line_chart(
        &dir.join("p99.svg"),
        "POST /ingest: p99 latency",
        "p99 ms",
        &series(|r| r.latency.p99_ms),
    )?;
    let idle: Vec<(String, f64)> = results
        .rows
        .iter()
        .filter_map(|r| Some((r.phase.clone(), r.bytes_per_idle_conn?)))
        .collect();
    if !idle.is_empty() {
        bar_chart(&dir.join("idle-memory.svg"), &idle)?;
    }
    Ok(())
}

fn err(e: impl std::fmt::Display) -> String {
    format!("cannot draw chart: {e}")
}

/// A log-x line chart, one line per phase.
fn line_chart(
    path: &Path,
    title: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let max_x = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.0))
        .fold(10.0, f64::max);
    let max_y = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((1.0..max_x * 1.5).log_scale(), 0.0..max_y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("connections")
        .y_desc(y_label)
        .draw()
        .map_err(err)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// One bar per phase: RSS bytes per idle keep-alive connection.
fn bar_chart(path: &Path, bars: &[(String, f64)]) -> Result<(), String> {
    let max_y = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Memory per idle keep-alive connection", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0..bars.len(), 0.0..max_y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len())
        .x_label_formatter(&|i| bars.get(*i).map_or(String::new(), |b| b.0.clone()))
        .y_desc("bytes of server RSS")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(
            bars.iter().enumerate().map(|(i, b)| {
                Rectangle::new([(i, 0.0), (i + 1, b.1)], Palette99::pick(i).filled())
            }),
        )
        .map_err(err)?;
    root.present().map_err(err)
}
