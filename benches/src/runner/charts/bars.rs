//! The idle-memory bar chart: one bar per phase.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{colour, draw_footer, err, thousands, FONT, SIZE};

/// One phase's idle-memory figure.
pub(super) struct Bar {
    pub(super) phase: String,
    /// RSS bytes per connection held.
    pub(super) bytes: f64,
    /// Said under the value when the figure needs a caveat.
    pub(super) note: Option<String>,
}

/// One bar per phase: server RSS per idle keep-alive connection, with the value
/// written above each bar. Bytes while every bar is under 4 KiB, KiB above.
pub(super) fn bar_chart(path: &Path, bars: &[Bar], footer: &str) -> Result<(), String> {
    let max_bytes = bars.iter().map(|b| b.bytes).fold(0.0, f64::max);
    let (unit, scale) = if max_bytes < 4096.0 {
        ("bytes", 1.0)
    } else {
        ("KiB", 1024.0)
    };
    let values: Vec<f64> = bars.iter().map(|b| (b.bytes / scale).max(0.0)).collect();
    let max_y = values.iter().copied().fold(1.0, f64::max) * 1.18;
    let n = bars.len() as f64;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    // Bar i is centred on x = i; the axis runs half a bar beyond each end.
    let mut chart = ChartBuilder::on(&root)
        .caption("Server memory per idle keep-alive connection", (FONT, 22))
        .margin(18)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..n - 0.5, 0.0..max_y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                bars.get(i as usize)
                    .map_or(String::new(), |b| b.phase.clone())
            } else {
                String::new()
            }
        })
        .y_desc(format!("{unit} of server RSS per connection"))
        .y_label_formatter(&|y| thousands(*y))
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(values.iter().enumerate().map(|(i, &v)| {
            let x = i as f64;
            Rectangle::new([(x - 0.32, 0.0), (x + 0.32, v)], colour(i).filled())
        }))
        .map_err(err)?;
    let label_style =
        TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart
        .draw_series(values.iter().enumerate().map(|(i, &v)| {
            let text = if scale == 1.0 {
                format!("{v:.0} B")
            } else {
                format!("{v:.1} KiB")
            };
            Text::new(text, (i as f64, v + max_y * 0.01), label_style.clone())
        }))
        .map_err(err)?;
    let note_style = TextStyle::from((FONT, 12).into_font())
        .color(&RGBColor(0x55, 0x55, 0x55))
        .pos(Pos::new(HPos::Center, VPos::Top));
    chart
        .draw_series(
            bars.iter()
                .zip(&values)
                .enumerate()
                .filter_map(|(i, (b, &v))| {
                    let note = b.note.clone()?;
                    Some(Text::new(
                        note,
                        (i as f64, v - max_y * 0.015),
                        note_style.clone(),
                    ))
                }),
        )
        .map_err(err)?;
    draw_footer(&root, footer)?;
    root.present().map_err(err)
}
