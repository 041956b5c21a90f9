//! The SVG writer behind the charts: elements appended to one string.

use std::fmt::Write;

use crate::{Labels, PlotArea, StepPoint};

/// Text made safe for SVG (XML) content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const FONT: &str = "DejaVu Sans, Helvetica, Arial, sans-serif";
const INK: &str = "#222222";
const GRID: &str = "#DDDDDD";

pub(crate) struct Svg<'a> {
    out: String,
    labels: &'a Labels,
    width: f64,
}

impl<'a> Svg<'a> {
    pub(crate) fn new(width: f64, height: f64, plot: &PlotArea, labels: &'a Labels) -> Svg<'a> {
        let mut out = String::new();
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{width}\" height=\"{height}\" \
             viewBox=\"0 0 {width} {height}\" font-family=\"{FONT}\" role=\"img\" aria-label=\"{}\" \
             data-plot=\"{} {} {} {} {} {}\">",
            escape(&labels.title),
            plot.left,
            plot.top,
            plot.width,
            plot.height,
            plot.x_max,
            plot.y_max
        );
        let _ = write!(out, "<title>{}</title>", escape(&labels.title));
        let _ = write!(out, "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#FFFFFF\"/>");
        let mut svg = Svg { out, labels, width };
        svg.text(width / 2.0, 30.0, &labels.title, "middle", 18.0, true);
        svg.text(
            plot.left + plot.width / 2.0,
            plot.top + plot.height + 44.0,
            &labels.x,
            "middle",
            13.0,
            false,
        );
        let (x, y) = (20.0, plot.top + plot.height / 2.0);
        let _ = write!(
            svg.out,
            "<text x=\"{x}\" y=\"{y}\" font-size=\"13\" fill=\"{INK}\" text-anchor=\"middle\" \
             transform=\"rotate(-90 {x} {y})\">{}</text>",
            escape(&labels.y)
        );
        svg
    }

    pub(crate) fn text(&mut self, x: f64, y: f64, text: &str, anchor: &str, size: f64, bold: bool) {
        let weight = if bold { " font-weight=\"bold\"" } else { "" };
        let _ = write!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{size}\" fill=\"{INK}\" text-anchor=\"{anchor}\"{weight}>{}</text>",
            escape(text)
        );
    }

    pub(crate) fn coloured_text(&mut self, x: f64, y: f64, text: &str, colour: &str) {
        let _ = write!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"12\" fill=\"{colour}\" font-weight=\"bold\">{}</text>",
            escape(&shorten(text, 14))
        );
    }

    /// Swatches and names in a row under the title.
    pub(crate) fn legend<'n>(&mut self, names: impl Iterator<Item = &'n str>, y: f64) {
        let mut x = 80.0;
        for (i, name) in names.enumerate() {
            let colour = crate::PALETTE[i % crate::PALETTE.len()];
            let name = shorten(name, 24);
            let _ = write!(
                self.out,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"14\" height=\"14\" fill=\"{colour}\"/>",
                y - 11.0
            );
            self.text(x + 20.0, y, &name, "start", 13.0, false);
            x += 40.0 + 7.5 * name.chars().count() as f64;
            if x > self.width - 100.0 {
                break;
            }
        }
    }

    pub(crate) fn x_axis(&mut self, plot: &PlotArea, ticks: impl Iterator<Item = (f64, String)>) {
        let bottom = plot.top + plot.height;
        for (value, label) in ticks {
            let x = plot.x(value);
            self.line(x, plot.top, x, bottom, GRID);
            self.text(x, bottom + 18.0, &label, "middle", 12.0, false);
        }
        self.line(plot.left, bottom, plot.left + plot.width, bottom, INK);
    }

    /// Category labels under the x axis, at most about twelve shown.
    pub(crate) fn category_axis(&mut self, plot: &PlotArea, categories: &[String]) {
        let every = categories.len().div_ceil(12).max(1);
        let bottom = plot.top + plot.height;
        for (i, label) in categories.iter().enumerate() {
            if i % every == 0 {
                let x = plot.x(i as f64);
                self.line(x, bottom, x, bottom + 5.0, INK);
                self.text(x, bottom + 18.0, label, "middle", 11.0, false);
            }
        }
        self.line(plot.left, bottom, plot.left + plot.width, bottom, INK);
    }

    pub(crate) fn y_axis(&mut self, plot: &PlotArea, ticks: impl Iterator<Item = (f64, String)>) {
        for (value, label) in ticks {
            let y = plot.y(value);
            self.line(plot.left, y, plot.left + plot.width, y, GRID);
            self.text(plot.left - 8.0, y + 4.0, &label, "end", 12.0, false);
        }
        self.line(plot.left, plot.top, plot.left, plot.top + plot.height, INK);
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, colour: &str) {
        let _ = write!(
            self.out,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{colour}\" stroke-width=\"1\"/>"
        );
    }

    /// The step function of `value` over the points, as path data, left to right.
    fn steps(plot: &PlotArea, points: &[StepPoint], value: impl Fn(&StepPoint) -> f64) -> Vec<(f64, f64)> {
        let mut at = Vec::with_capacity(points.len() * 2 + 2);
        let mut previous = 1.0;
        for p in points {
            at.push((plot.x(p.time), plot.y(previous)));
            previous = value(p);
            at.push((plot.x(p.time), plot.y(previous)));
        }
        let end = points.last().map_or(0.0, |p| p.time);
        at.push((plot.x(end), plot.y(previous)));
        at
    }

    pub(crate) fn step_line(&mut self, plot: &PlotArea, points: &[StepPoint], colour: &str) {
        let path = path_of(&Self::steps(plot, points, |p| p.survival));
        let _ = write!(
            self.out,
            "<path d=\"{path}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2.5\" stroke-linejoin=\"miter\"/>"
        );
    }

    pub(crate) fn band(&mut self, plot: &PlotArea, points: &[StepPoint], colour: &str) {
        let mut outline = Self::steps(plot, points, |p| p.upper);
        let lower = Self::steps(plot, points, |p| p.lower);
        outline.extend(lower.into_iter().rev());
        let path = path_of(&outline);
        let _ =
            write!(self.out, "<path d=\"{path}Z\" fill=\"{colour}\" fill-opacity=\"0.18\" stroke=\"none\"/>");
    }

    pub(crate) fn area(&mut self, plot: &PlotArea, base: &[f64], top: &[f64], colour: &str) {
        let mut outline: Vec<(f64, f64)> =
            top.iter().enumerate().map(|(i, v)| (plot.x(i as f64), plot.y(*v))).collect();
        outline.extend(base.iter().enumerate().rev().map(|(i, v)| (plot.x(i as f64), plot.y(*v))));
        if outline.is_empty() {
            return;
        }
        let path = path_of(&outline);
        let _ = write!(
            self.out,
            "<path d=\"{path}Z\" fill=\"{colour}\" stroke=\"#FFFFFF\" stroke-width=\"0.5\"/>"
        );
    }

    pub(crate) fn polyline(&mut self, plot: &PlotArea, values: &[f64], colour: &str) {
        let at: Vec<(f64, f64)> =
            values.iter().enumerate().map(|(i, v)| (plot.x(i as f64), plot.y(*v))).collect();
        if at.is_empty() {
            return;
        }
        let path = path_of(&at);
        let _ =
            write!(self.out, "<path d=\"{path}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2.5\"/>");
        if at.len() <= 60 {
            for (x, y) in at {
                let _ = write!(self.out, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{colour}\"/>");
            }
        }
    }

    pub(crate) fn caption(&mut self, y: f64) {
        let caption = self.labels.caption.clone();
        self.text(16.0, y, &caption, "start", 12.0, false);
    }

    pub(crate) fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

fn path_of(points: &[(f64, f64)]) -> String {
    let mut d = String::with_capacity(points.len() * 16);
    for (i, (x, y)) in points.iter().enumerate() {
        let _ = write!(d, "{}{x:.2},{y:.2} ", if i == 0 { 'M' } else { 'L' });
    }
    d
}

/// At most `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}
