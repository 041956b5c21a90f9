//! The charts as a person sees them: rendered to pixels by resvg (an SVG renderer that is
//! not ours), with the curve's colour where the data say it must be, and written to
//! `target/chart-renders/` to look at.
#![expect(clippy::unwrap_used, reason = "a test stops at the first surprise")]

use keyport_charts::{Chart, Curve, Labels, PALETTE, PlotArea, Series, StepPoint};
use resvg::{tiny_skia, usvg};

fn render(chart: &Chart, name: &str) -> tiny_skia::Pixmap {
    let mut options = usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    let tree = usvg::Tree::from_str(&chart.svg, &options).unwrap();
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/chart-renders");
    std::fs::create_dir_all(&dir).unwrap();
    pixmap.save_png(dir.join(format!("{name}.png"))).unwrap();
    pixmap
}

fn rgb(hex: &str) -> (u8, u8, u8) {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap();
    ((v >> 16) as u8, (v >> 8) as u8, v as u8)
}

/// Whether a pixel within `r` of (x, y) has the colour (within a little anti-aliasing).
fn has_colour(pixmap: &tiny_skia::Pixmap, (x, y): (f64, f64), colour: (u8, u8, u8), r: i64) -> bool {
    let near = |a: u8, b: u8| (i16::from(a) - i16::from(b)).abs() <= 40;
    for dx in -r..=r {
        for dy in -r..=r {
            let (px, py) = (x.round() as i64 + dx, y.round() as i64 + dy);
            if let Some(p) = pixmap.pixel(px as u32, py as u32) {
                let c = p.demultiply();
                if near(c.red(), colour.0) && near(c.green(), colour.1) && near(c.blue(), colour.2) {
                    return true;
                }
            }
        }
    }
    false
}

fn value_at(curve: &Curve, t: f64) -> f64 {
    curve.points.iter().take_while(|p| p.time <= t).last().map_or(1.0, |p| p.survival)
}

fn inked(pixmap: &tiny_skia::Pixmap) -> usize {
    pixmap.pixels().iter().filter(|p| p.red() < 200 || p.green() < 200 || p.blue() < 200).count()
}

fn labels() -> Labels {
    Labels {
        title: "PC lifetime <CAD Pro & \"friends\">".into(),
        x: "days".into(),
        y: "still in use".into(),
        caption: "2024-01-01 to 2026-11-30 · 12 machines".into(),
        at_risk: "At risk".into(),
    }
}

fn point(time: f64, survival: f64, at_risk: u64) -> StepPoint {
    StepPoint { time, survival, lower: (survival - 0.15).max(0.0), upper: (survival + 0.1).min(1.0), at_risk }
}

#[test]
fn a_survival_curve_is_drawn_where_its_points_are() {
    let curves = vec![
        Curve {
            name: "CADP-STD".into(),
            points: vec![
                point(0.0, 1.0, 12),
                point(200.0, 0.75, 12),
                point(450.0, 0.5, 8),
                point(700.0, 0.25, 4),
            ],
        },
        Curve {
            name: "CADP-PRO".into(),
            points: vec![point(0.0, 1.0, 5), point(300.0, 0.6, 5), point(800.0, 0.6, 2)],
        },
    ];
    let chart = keyport_charts::survival(&curves, &labels());
    let pixmap = render(&chart, "survival");
    assert!(inked(&pixmap) > 5_000, "the chart has ink");
    let plot: PlotArea = chart.plot;
    for (i, curve) in curves.iter().enumerate() {
        let colour = rgb(PALETTE[i]);
        // The middle of every flat step lies on the curve's colour.
        for pair in curve.points.windows(2) {
            let mid = (pair[0].time + pair[1].time) / 2.0;
            // Where a later curve runs on top at the same height, this one is hidden.
            let hidden = curves[i + 1..].iter().any(|c| value_at(c, mid) == pair[0].survival);
            if hidden {
                continue;
            }
            let at = (plot.x(mid), plot.y(pair[0].survival));
            assert!(has_colour(&pixmap, at, colour, 2), "{} at t={mid} s={}", curve.name, pair[0].survival);
        }
    }
    // Not where the curve is not: a quarter above the first curve's last step.
    assert!(!has_colour(&pixmap, (plot.x(750.0), plot.y(0.9)), rgb(PALETTE[0]), 1));
    // Text arrives escaped and readable.
    assert!(chart.svg.contains("&lt;CAD Pro &amp; &quot;friends&quot;&gt;"));
    assert!(chart.svg.contains(">12 machines<") || chart.svg.contains("12 machines"));
}

#[test]
fn stacked_shares_fill_their_band() {
    let categories: Vec<String> = (1..=6).map(|w| format!("W{w}")).collect();
    let series = vec![
        Series { name: "5.0".into(), values: vec![1.0, 0.8, 0.5, 0.3, 0.2, 0.1] },
        Series { name: "5.1".into(), values: vec![0.0, 0.2, 0.5, 0.7, 0.8, 0.9] },
    ];
    let chart = keyport_charts::stacked(&categories, &series, &labels());
    let pixmap = render(&chart, "stacked");
    let plot = chart.plot;
    // At W4, 5.0 fills 0 to 0.3 and 5.1 from 0.3 to 1.
    assert!(has_colour(&pixmap, (plot.x(3.0), plot.y(0.15)), rgb(PALETTE[0]), 1));
    assert!(has_colour(&pixmap, (plot.x(3.0), plot.y(0.65)), rgb(PALETTE[1]), 1));
}

#[test]
fn lines_pass_through_their_values() {
    let categories: Vec<String> = (1..=5).map(|d| format!("2026-11-0{d}")).collect();
    let series = vec![Series { name: "machines".into(), values: vec![3.0, 7.0, 12.0, 9.0, 15.0] }];
    let chart = keyport_charts::lines(&categories, &series, &labels());
    let pixmap = render(&chart, "lines");
    for (i, v) in series[0].values.iter().enumerate() {
        assert!(has_colour(&pixmap, (chart.plot.x(i as f64), chart.plot.y(*v)), rgb(PALETTE[0]), 2), "{v}");
    }
    assert_eq!(chart.plot.y_max, 15.0);
}

#[test]
fn ticks_are_round_numbers() {
    assert_eq!(keyport_charts::tick_step(730.0, 8.0), 100.0);
    assert_eq!(keyport_charts::nice_max(730.0, 8.0), 800.0);
    assert_eq!(keyport_charts::nice_max(0.0, 8.0), 1.0);
}
