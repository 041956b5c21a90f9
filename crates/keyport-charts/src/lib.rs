//! Charts drawn on the server as plain SVG 1.1, legible without a browser's help: a
//! survival curve with its confidence band and a number-at-risk table, shares stacked over
//! time, and lines over time. The data come in as numbers and the labels as finished text
//! (the caller picks the language); nothing here reads a clock, a file or a font.
//!
//! Every chart tells where its plot area lies ([`PlotArea`]), in the answer and in the SVG
//! (`data-plot` on the root), so a test can check the pixels of a rendered chart against
//! the data it was drawn from.

mod svg;

pub use svg::escape;

use svg::Svg;

/// The colours of the series, in order (Okabe–Ito: told apart with any colour vision).
pub const PALETTE: [&str; 8] =
    ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C6D00", "#000000"];

/// The width of every chart, in pixels.
pub const WIDTH: f64 = 820.0;

/// The text of a chart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Labels {
    /// Above the chart.
    pub title: String,
    /// Under the x axis.
    pub x: String,
    /// Beside the y axis.
    pub y: String,
    /// Under everything: the data's time range and sample size.
    pub caption: String,
    /// The heading of the number-at-risk table (survival charts).
    pub at_risk: String,
}

/// Where data land: the plot area in pixels and the data range it shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlotArea {
    /// Left edge, pixels.
    pub left: f64,
    /// Top edge, pixels.
    pub top: f64,
    /// Width, pixels.
    pub width: f64,
    /// Height, pixels.
    pub height: f64,
    /// The x value at the right edge (the left edge is 0, or the first category).
    pub x_max: f64,
    /// The y value at the top edge (the bottom is 0).
    pub y_max: f64,
}

impl PlotArea {
    /// The pixel x of a data x (0 to `x_max`).
    pub fn x(&self, x: f64) -> f64 {
        self.left + if self.x_max > 0.0 { x / self.x_max * self.width } else { 0.0 }
    }

    /// The pixel y of a data y (0 to `y_max`).
    pub fn y(&self, y: f64) -> f64 {
        self.top + self.height - if self.y_max > 0.0 { y / self.y_max * self.height } else { 0.0 }
    }
}

/// A chart: its SVG text and where its data lie.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The SVG document.
    pub svg: String,
    /// The plot area.
    pub plot: PlotArea,
}

/// One point of a survival curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepPoint {
    /// The time.
    pub time: f64,
    /// The estimate after this time.
    pub survival: f64,
    /// The lower confidence bound.
    pub lower: f64,
    /// The upper confidence bound.
    pub upper: f64,
    /// Subjects at risk just before this time.
    pub at_risk: u64,
}

/// A survival curve with its name (the legend).
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// The legend's text.
    pub name: String,
    /// The points by time; the first at time 0.
    pub points: Vec<StepPoint>,
}

/// A series of values over the chart's categories.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend's text.
    pub name: String,
    /// One value per category.
    pub values: Vec<f64>,
}

/// A number-ish step for about `count` ticks up to `max`: 1, 2 or 5 times a power of ten.
pub fn tick_step(max: f64, count: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / count;
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|s| *s >= raw).unwrap_or(10.0 * power)
}

/// `max` rounded up to a whole number of [`tick_step`]s (at least one step).
pub fn nice_max(max: f64, count: f64) -> f64 {
    let step = tick_step(max, count);
    ((max / step).ceil() * step).max(step)
}

fn number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 { format!("{}", v.round() as i64) } else { format!("{v:.1}") }
}

/// The curves of a lifetime estimate: each a step line over its shaded confidence band,
/// the y axis from 0 to 100 %, and under the x axis one row per curve with the number at
/// risk at each tick.
pub fn survival(curves: &[Curve], labels: &Labels) -> Chart {
    let longest = curves.iter().flat_map(|c| c.points.iter().map(|p| p.time)).fold(0.0, f64::max);
    let x_max = nice_max(longest.max(1.0), 8.0);
    let rows = curves.len().max(1) as f64;
    let legend = 26.0;
    let plot =
        PlotArea { left: 130.0, top: 60.0 + legend, width: WIDTH - 170.0, height: 300.0, x_max, y_max: 1.0 };
    let table_top = plot.top + plot.height + 64.0;
    let height = table_top + 22.0 * (rows + 1.0) + 40.0;
    let mut svg = Svg::new(WIDTH, height, &plot, labels);
    svg.legend(curves.iter().map(|c| c.name.as_str()), 60.0);
    let step = tick_step(x_max, 8.0);
    svg.x_axis(
        &plot,
        (0..=((x_max / step).round() as i64)).map(|i| (i as f64 * step, number(i as f64 * step))),
    );
    svg.y_axis(&plot, (0..=5).map(|i| (f64::from(i) * 0.2, format!("{} %", i * 20))));
    for (i, curve) in curves.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        svg.band(&plot, &curve.points, colour);
        svg.step_line(&plot, &curve.points, colour);
    }
    // The number at risk at a tick: subjects still observed at that time.
    svg.text(16.0, table_top, &labels.at_risk, "start", 13.0, true);
    for (i, curve) in curves.iter().enumerate() {
        let y = table_top + 22.0 * (i as f64 + 1.0);
        let colour = PALETTE[i % PALETTE.len()];
        svg.coloured_text(16.0, y, &curve.name, colour);
        let mut t = 0.0;
        while t <= x_max + 1e-9 {
            let n = curve.points.iter().find(|p| p.time >= t).map_or(0, |p| p.at_risk);
            svg.text(plot.x(t), y, &n.to_string(), "middle", 12.0, false);
            t += step;
        }
    }
    svg.caption(height - 14.0);
    Chart { svg: svg.finish(), plot }
}

/// Shares (0 to 1) stacked per category (e.g. versions per week), bottom to top in the
/// order of `series`; categories are spread evenly and labelled with `categories`.
pub fn stacked(categories: &[String], series: &[Series], labels: &Labels) -> Chart {
    let x_max = categories.len().saturating_sub(1).max(1) as f64;
    let plot = PlotArea { left: 80.0, top: 86.0, width: WIDTH - 120.0, height: 320.0, x_max, y_max: 1.0 };
    let height = plot.top + plot.height + 100.0;
    let mut svg = Svg::new(WIDTH, height, &plot, labels);
    svg.legend(series.iter().map(|s| s.name.as_str()), 60.0);
    svg.category_axis(&plot, categories);
    svg.y_axis(&plot, (0..=5).map(|i| (f64::from(i) * 0.2, format!("{} %", i * 20))));
    let mut base = vec![0.0; categories.len()];
    for (i, s) in series.iter().enumerate() {
        let top: Vec<f64> =
            base.iter().zip(&s.values).map(|(b, v)| (b + v.clamp(0.0, 1.0)).min(1.0)).collect();
        svg.area(&plot, &base, &top, PALETTE[i % PALETTE.len()]);
        base = top;
    }
    svg.caption(height - 14.0);
    Chart { svg: svg.finish(), plot }
}

/// Values per category (e.g. active machines per day), one line per series.
pub fn lines(categories: &[String], series: &[Series], labels: &Labels) -> Chart {
    let x_max = categories.len().saturating_sub(1).max(1) as f64;
    let highest = series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0, f64::max);
    // Counts: at least 0 to 5, so the ticks are whole numbers.
    let y_max = nice_max(highest.max(5.0), 5.0);
    let plot = PlotArea { left: 80.0, top: 86.0, width: WIDTH - 120.0, height: 320.0, x_max, y_max };
    let height = plot.top + plot.height + 100.0;
    let mut svg = Svg::new(WIDTH, height, &plot, labels);
    svg.legend(series.iter().map(|s| s.name.as_str()), 60.0);
    svg.category_axis(&plot, categories);
    let step = tick_step(y_max, 5.0);
    svg.y_axis(
        &plot,
        (0..=((y_max / step).round() as i64)).map(|i| (i as f64 * step, number(i as f64 * step))),
    );
    for (i, s) in series.iter().enumerate() {
        svg.polyline(&plot, &s.values, PALETTE[i % PALETTE.len()]);
    }
    svg.caption(height - 14.0);
    Chart { svg: svg.finish(), plot }
}
