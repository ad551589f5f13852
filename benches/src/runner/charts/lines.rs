//! The line charts: one line per phase over the keep-alive connection counts.

use plotters::coord::Shift;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{colour, draw_footer, err, thousands, Series, FONT, LABEL_BELOW_PCT, SIZE};

/// A line chart over log10(connections), one line per phase; `log_y` for latency.
pub(super) fn line_chart(
    path: &Path,
    title: &str,
    y_label: &str,
    log_y: bool,
    series: &[Series],
    footer: &str,
) -> Result<(), String> {
    let xs = || series.iter().flat_map(|(_, p)| p.iter().map(|p| p.x));
    let ys = || series.iter().flat_map(|(_, p)| p.iter().map(|p| p.y));
    let (x_min, x_max) = (
        xs().fold(f64::INFINITY, f64::min).min(1.0),
        xs().fold(f64::NEG_INFINITY, f64::max).max(3.0),
    );
    let x_range = (x_min - 0.25)..(x_max + 0.25);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, (FONT, 22))
        .margin(18)
        .margin_right(LEGEND_WIDTH)
        .x_label_area_size(50)
        .y_label_area_size(80);
    // One label (and grid line) per power of ten: the measured connection counts.
    let x_labels = (x_max - x_min).round() as usize + 1;
    let x_format = |x: &f64| {
        // Only whole powers of ten get a label: those are the measured points.
        if (x - x.round()).abs() < 1e-6 {
            thousands(10f64.powf(x.round()))
        } else {
            String::new()
        }
    };
    if log_y {
        let lo = ys().fold(f64::INFINITY, f64::min).min(1.0) / 2.0;
        let hi = ys().fold(0.0, f64::max).max(1.0) * 3.0;
        let mut chart = builder
            .build_cartesian_2d(x_range, (lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("keep-alive connections")
            .y_desc(y_label)
            .x_labels(x_labels)
            .x_label_formatter(&x_format)
            .y_label_formatter(&|y| format_ms(*y))
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 13))
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .draw()
            .map_err(err)?;
        draw_lines(&mut chart, series, x_max)?;
    } else {
        let hi = ys().fold(0.0, f64::max).max(1.0) * 1.12;
        let mut chart = builder.build_cartesian_2d(x_range, 0.0..hi).map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("keep-alive connections")
            .y_desc(y_label)
            .x_labels(x_labels)
            .x_label_formatter(&x_format)
            .y_label_formatter(&|y| thousands(*y))
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 13))
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .draw()
            .map_err(err)?;
        draw_lines(&mut chart, series, x_max)?;
    }
    draw_legend(&root, series)?;
    draw_footer(&root, footer)?;
    root.present().map_err(err)
}

/// `0.25`, `3`, `1,200`: as few digits as still tell the values apart.
fn format_ms(ms: f64) -> String {
    if ms >= 10.0 {
        thousands(ms)
    } else if ms >= 1.0 {
        format!("{ms:.1}").trim_end_matches(".0").to_string()
    } else {
        let s = format!("{ms:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The lines, their markers and the legend, on either kind of y axis.
fn draw_lines<'a, 'b: 'a, Y>(
    chart: &mut ChartContext<
        'a,
        SVGBackend<'b>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, Y>,
    >,
    series: &[Series],
    x_max: f64,
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64>,
{
    for (i, (_, points)) in series.iter().enumerate() {
        let c = colour(i);
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.x, p.y)),
                c.stroke_width(3),
            ))
            .map_err(err)?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.x, p.y), 4, c.filled())),
            )
            .map_err(err)?;
        // Right of the point, except at the right edge, where it goes left.
        let style = |right: bool| {
            let h = if right { HPos::Left } else { HPos::Right };
            TextStyle::from((FONT, 13).into_font())
                .color(&c)
                .pos(Pos::new(h, VPos::Bottom))
        };
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.success_pct < LABEL_BELOW_PCT)
                    .map(|p| {
                        let right = p.x < x_max;
                        EmptyElement::at((p.x, p.y))
                            + Text::new(
                                format!("{:.1} % ok", p.success_pct),
                                (if right { 7 } else { -7 }, -5),
                                style(right),
                            )
                    }),
            )
            .map_err(err)?;
    }
    Ok(())
}

/// Width of the legend column right of the plot: a legend inside the plot
/// would sit on some phase's line, wherever it went.
const LEGEND_WIDTH: u32 = 175;

/// The legend, drawn in the margin right of the plot, one phase per line.
fn draw_legend(root: &DrawingArea<SVGBackend, Shift>, series: &[Series]) -> Result<(), String> {
    let x = (SIZE.0 - LEGEND_WIDTH + 20) as i32;
    for (i, (name, points)) in series.iter().enumerate() {
        let y = 80 + 26 * i as i32;
        let c = colour(i);
        root.draw(&PathElement::new(
            vec![(x, y), (x + 24, y)],
            c.stroke_width(3),
        ))
        .map_err(err)?;
        root.draw(&Circle::new((x + 12, y), 4, c.filled()))
            .map_err(err)?;
        let label = if points.is_empty() {
            format!("{name} (no data)")
        } else {
            name.clone()
        };
        let style = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new(label, (x + 32, y), style))
            .map_err(err)?;
    }
    Ok(())
}
