//! A self-drawn line chart: white background, axes box, ticks with labels, a legend.

use std::path::Path;

use image::ExtendedColorType;

use super::atomic::write_png;
use super::canvas::{BLACK, Canvas, Rgb, text_height, text_width};
use crate::error::{Error, Result};

const WIDTH: usize = 800;
const HEIGHT: usize = 500;
/// The plot area's edges in canvas pixels: room for the title above, tick labels left and
/// below.
const LEFT: i64 = 80;
const RIGHT: i64 = WIDTH as i64 - 20;
const TOP: i64 = 40;
const BOTTOM: i64 = HEIGHT as i64 - 40;
/// Tick marks are this long, inside the box.
const TICK: i64 = 5;
const GRID: Rgb = [225, 225, 225];

/// Matplotlib's "tab10": distinct, readable on white; series cycle through them.
const PALETTE: [Rgb; 8] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
];

/// Draw `series` (name, (x, y) points in order) as lines on one 800x500 chart with a
/// title, axes, ticks and a legend, and write it to `path` as a PNG. With `log_y` the y
/// axis is logarithmic and points with y <= 0 are left out. Non-finite points are left
/// out, breaking the line there. Text uses a small built-in font (lower case shown as
/// capitals).
///
/// # Errors
/// [`Error::Format`] naming `path` if no series has a point to draw; [`Error::Io`] if
/// writing fails.
pub fn write_line_plot(
    path: &Path,
    title: &str,
    series: &[(&str, &[(f64, f64)])],
    log_y: bool,
) -> Result<()> {
    let to_plot = |&(x, y): &(f64, f64)| -> Option<(f64, f64)> {
        let y = if log_y {
            (y > 0.0).then(|| y.log10())?
        } else {
            y
        };
        (x.is_finite() && y.is_finite()).then_some((x, y))
    };
    let points = series
        .iter()
        .flat_map(|(_, s)| s.iter().filter_map(to_plot));
    let Some((x_range, y_range)) = ranges(points) else {
        return Err(Error::Format {
            path: path.to_path_buf(),
            problem: format!(
                "nothing to plot: no finite{} points",
                if log_y { " positive" } else { "" }
            ),
        });
    };
    let x_axis = Axis::new(x_range, LEFT, RIGHT, false);
    let y_axis = Axis::new(y_range, BOTTOM, TOP, log_y);

    let mut canvas = Canvas::new(WIDTH, HEIGHT);
    draw_ticks(&mut canvas, &x_axis, &y_axis);
    for (i, (_, points)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let mut previous: Option<(i64, i64)> = None;
        for point in points.iter() {
            let Some((x, y)) = to_plot(point) else {
                previous = None;
                continue;
            };
            let here = (x_axis.pixel(x), y_axis.pixel(y));
            match previous {
                Some(from) => canvas.line(from, here, 2, color),
                // A lone point still shows.
                None => canvas.square(here.0 - 1, here.1 - 1, 3, color),
            }
            previous = Some(here);
        }
    }
    canvas.outline(LEFT, TOP, RIGHT, BOTTOM, BLACK);
    let title_x = (WIDTH as i64 - text_width(title, 2)) / 2;
    canvas.text(title_x.max(0), 12, title, 2, BLACK);
    draw_legend(&mut canvas, series);
    write_png(path, WIDTH, HEIGHT, ExtendedColorType::Rgb8, &canvas.pixels)
}

/// The smallest and largest x and y.
fn ranges(points: impl Iterator<Item = (f64, f64)>) -> Option<((f64, f64), (f64, f64))> {
    points.fold(None, |acc, (x, y)| {
        let ((x0, x1), (y0, y1)) = acc.unwrap_or(((x, x), (y, y)));
        Some(((x0.min(x), x1.max(x)), (y0.min(y), y1.max(y))))
    })
}

/// A data interval mapped onto a pixel interval, with its ticks.
struct Axis {
    low: f64,
    high: f64,
    /// Pixels at `low` and `high` (y runs upward, so its `from` is the larger).
    from: i64,
    to: i64,
    /// Tick positions (in plotted units: log10 on a log axis) and their labels.
    ticks: Vec<(f64, String)>,
}

impl Axis {
    fn new((low, high): (f64, f64), from: i64, to: i64, log: bool) -> Self {
        // A flat series still needs a non-empty range; pad 5% so lines clear the box.
        let (low, high) = if high > low {
            (low, high)
        } else {
            (low - 0.5, high + 0.5)
        };
        let pad = 0.05 * (high - low);
        let (low, high) = (low - pad, high + pad);
        let ticks = if log {
            log_ticks(low, high)
        } else {
            linear_ticks(low, high)
                .into_iter()
                .map(|(v, step)| (v, label(v, step)))
                .collect()
        };
        Self {
            low,
            high,
            from,
            to,
            ticks,
        }
    }

    fn pixel(&self, v: f64) -> i64 {
        let t = (v - self.low) / (self.high - self.low);
        self.from + (t * (self.to - self.from) as f64).round() as i64
    }
}

/// About five ticks at round values (1, 2 or 5 times a power of ten), with the step.
fn linear_ticks(low: f64, high: f64) -> Vec<(f64, f64)> {
    let raw = (high - low) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (low / step).ceil() as i64;
    let last = (high / step).floor() as i64;
    if !step.is_finite() || last.saturating_sub(first) > 20 {
        // Extreme values beyond f64's comfortable range: no ticks rather than nonsense.
        return Vec::new();
    }
    (first..=last).map(|k| (k as f64 * step, step)).collect()
}

/// Ticks for a log10 axis spanning exponents `low..high`: at 1, 2 and 5 times powers of
/// ten, only at powers of ten (thinned out) when those are too many, at round values when
/// the range is too narrow for two of them.
fn log_ticks(low: f64, high: f64) -> Vec<(f64, String)> {
    const MOST: usize = 12;
    let decades = (low.floor() as i64)..=(high.ceil() as i64);
    if decades.clone().count() > 400 {
        return Vec::new(); // beyond f64's exponents: nothing sensible to mark
    }
    let marks = |mantissas: &[f64]| -> Vec<f64> {
        decades
            .clone()
            .flat_map(|k| mantissas.iter().map(move |m| m * 10f64.powi(k as i32)))
            .filter(|v| (low..=high).contains(&v.log10()))
            .collect()
    };
    let mut values = marks(&[1.0, 2.0, 5.0]);
    if values.len() > MOST {
        values = marks(&[1.0]);
        let every = values.len().div_ceil(MOST);
        values = values.into_iter().step_by(every).collect();
    }
    if values.len() < 2 {
        return linear_ticks(10f64.powf(low), 10f64.powf(high))
            .into_iter()
            .filter(|(v, _)| *v > 0.0)
            .map(|(v, step)| (v.log10(), label(v, step)))
            .collect();
    }
    values
        .into_iter()
        .map(|v| (v.log10(), label(v, v)))
        .collect()
}

/// A tick value printed with as many decimals as its step needs; scientific notation when
/// very large or small.
fn label(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&v.abs()) {
        let text = format!("{v:.1e}");
        return text.replace(".0e", "e");
    }
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

fn draw_ticks(canvas: &mut Canvas, x_axis: &Axis, y_axis: &Axis) {
    let h = text_height(1);
    for (v, text) in &x_axis.ticks {
        let x = x_axis.pixel(*v);
        canvas.line((x, TOP + 1), (x, BOTTOM - 1), 1, GRID);
        canvas.line((x, BOTTOM), (x, BOTTOM - TICK), 1, BLACK);
        canvas.text(x - text_width(text, 1) / 2, BOTTOM + 6, text, 1, BLACK);
    }
    for (v, text) in &y_axis.ticks {
        let y = y_axis.pixel(*v);
        canvas.line((LEFT + 1, y), (RIGHT - 1, y), 1, GRID);
        canvas.line((LEFT, y), (LEFT + TICK, y), 1, BLACK);
        canvas.text(LEFT - 6 - text_width(text, 1), y - h / 2, text, 1, BLACK);
    }
}

/// Names with colour swatches in a framed box at the top right of the plot area.
fn draw_legend(canvas: &mut Canvas, series: &[(&str, &[(f64, f64)])]) {
    if series.is_empty() {
        return;
    }
    let line_height = text_height(1) + 6;
    let widest = series
        .iter()
        .map(|(name, _)| text_width(name, 1))
        .max()
        .unwrap_or(0);
    let (width, height) = (widest + 40, series.len() as i64 * line_height + 6);
    let (left, top) = (RIGHT - 10 - width, TOP + 10);
    canvas.fill(left, top, left + width, top + height, [255, 255, 255]);
    canvas.outline(left, top, left + width, top + height, BLACK);
    for (i, (name, _)) in series.iter().enumerate() {
        let y = top + 6 + i as i64 * line_height;
        let color = PALETTE[i % PALETTE.len()];
        let middle = y + text_height(1) / 2;
        canvas.line((left + 6, middle), (left + 26, middle), 2, color);
        canvas.text(left + 32, y, name, 1, BLACK);
    }
}
