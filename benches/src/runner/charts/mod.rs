//! SVG charts for the book: requests per second and p99 latency against the
//! number of keep-alive connections (one line per phase), and the memory one idle
//! connection costs each phase.
//!
//! The x axis is the `POST /ingest` keep-alive scenarios (10, 100, 1,000, and
//! 10,000 with `--c10k`), spaced by powers of ten. Latency is drawn on a log axis
//! because the phases differ by orders of magnitude there; RPS on a linear one
//! from zero, so the heights compare honestly. Each phase keeps its colour in
//! every chart.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

mod bars;
mod lines;

use super::output::Results;
use super::tables::median;
use crate::loadgen::Report;
use bars::{bar_chart, Bar};
use lines::line_chart;

/// The charts' file names, as the book references them.
pub const FILES: [&str; 3] = [RPS, P99, IDLE];
const RPS: &str = "rps.svg";
const P99: &str = "p99.svg";
const IDLE: &str = "idle-memory.svg";

const SIZE: (u32, u32) = (860, 500);
const FONT: &str = "sans-serif";

/// Colour-blind-friendly (Tableau 10), one per phase in run order.
const COLOURS: [RGBColor; 8] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0x9c, 0x75, 0x5f),
];

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// One measured point: log10(connections), the value, and the success rate.
#[derive(Debug, Clone, Copy)]
pub(super) struct Point {
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) success_pct: f64,
}

/// One phase's line: its name and points.
pub(super) type Series = (String, Vec<Point>);

/// Points whose success rate is below this get a "N % ok" label: a latency or a
/// rate measured mostly on `503`s must not pass for a healthy one.
pub(super) const LABEL_BELOW_PCT: f64 = 99.0;

/// The keep-alive `POST /ingest` points of every phase, as `value` sees them: the median
/// over the repetitions.
fn ingest_series(results: &Results, value: impl Fn(&Report) -> Option<f64>) -> Vec<Series> {
    let ingest = |s: &&super::scenarios::Scenario| s.id.starts_with("ingest-");
    results
        .phases()
        .into_iter()
        // A peer that never runs /ingest (nginx) has no line, not an empty one.
        .filter(|phase| {
            results
                .scenarios
                .iter()
                .filter(ingest)
                .any(|s| !results.rows_of(phase, &s.id).is_empty())
        })
        .map(|phase| {
            let points = results
                .scenarios
                .iter()
                .filter(ingest)
                .filter_map(|s| {
                    let reports = results.reports_of(&phase, &s.id);
                    let values: Vec<f64> = reports.iter().filter_map(|r| value(r)).collect();
                    let success: Vec<f64> = reports.iter().map(|r| r.success_pct).collect();
                    Some(Point {
                        x: (s.connections as f64).log10(),
                        y: median(&values)?,
                        success_pct: median(&success)?,
                    })
                })
                .collect();
            (phase, points)
        })
        .collect()
}

/// Draws every chart into `dir`; returns the files written.
pub fn draw_all(results: &Results, dir: &Path) -> Result<Vec<PathBuf>, String> {
    let footer = format!("{}, {}", results.header.cpu, results.header.date);
    // Successful requests only: a server answering 503 at once is fast, not good.
    let rps = ingest_series(results, |r| (r.ok_per_s > 0.0).then_some(r.ok_per_s));
    let p99 = ingest_series(results, |r| {
        (r.latency.p99_ms > 0.0).then_some(r.latency.p99_ms)
    });
    let idle: Vec<Bar> = results
        .rows
        .iter()
        .filter_map(|r| {
            let idle = r.idle.as_ref()?;
            Some(Bar {
                phase: r.phase.clone(),
                bytes: idle.bytes_per_conn?,
                // A phase that held only some connections is averaged over those.
                note: (idle.open() < idle.requested).then(|| {
                    format!(
                        "over the {} of {} it held",
                        thousands(idle.open() as f64),
                        thousands(idle.requested as f64)
                    )
                }),
            })
        })
        .collect();
    let paths: Vec<PathBuf> = FILES.iter().map(|f| dir.join(f)).collect();
    line_chart(
        &paths[0],
        "POST /ingest: successful requests per second",
        "2xx responses per second",
        false,
        &rps,
        &footer,
    )?;
    line_chart(
        &paths[1],
        "POST /ingest: p99 latency (log scale)",
        "p99 latency, ms",
        true,
        &p99,
        &footer,
    )?;
    if idle.is_empty() {
        placeholder(
            &paths[2],
            "Memory per idle keep-alive connection",
            "Not measured in this run: `just bench --c10k --publish` measures it.",
        )?;
    } else {
        bar_chart(&paths[2], &idle, &footer)?;
    }
    Ok(paths)
}

fn err(e: impl std::fmt::Display) -> String {
    format!("cannot draw chart: {e}")
}

/// `1,000` for 1000.0: the axis shows connection counts the way people say them.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Small grey text in the bottom-right corner: which machine and when.
fn draw_footer(root: &DrawingArea<SVGBackend, Shift>, footer: &str) -> Result<(), String> {
    let style = TextStyle::from((FONT, 12).into_font())
        .color(&RGBColor(0x77, 0x77, 0x77))
        .pos(Pos::new(HPos::Right, VPos::Bottom));
    root.draw(&Text::new(
        footer.to_string(),
        (SIZE.0 as i32 - 8, SIZE.1 as i32 - 6),
        style,
    ))
    .map_err(err)
}

/// A chart-sized box that says why there is no chart, so the book's image link
/// never points at a missing or stale file.
fn placeholder(path: &Path, title: &str, message: &str) -> Result<(), String> {
    let root = SVGBackend::new(path, (SIZE.0, 140)).into_drawing_area();
    root.fill(&RGBColor(0xf6, 0xf6, 0xf6)).map_err(err)?;
    let centre = |size: u32| {
        TextStyle::from((FONT, size).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
    };
    root.draw(&Text::new(
        title.to_string(),
        (SIZE.0 as i32 / 2, 45),
        centre(20),
    ))
    .map_err(err)?;
    root.draw(&Text::new(
        message.to_string(),
        (SIZE.0 as i32 / 2, 90),
        centre(15),
    ))
    .map_err(err)?;
    root.present().map_err(err)
}
