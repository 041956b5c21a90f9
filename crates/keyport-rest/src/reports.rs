//! The analytics answers in three forms: JSON (the contract's schema), CSV (one row per
//! point, for a spreadsheet) and SVG (a chart drawn by `keyport-charts`), chosen by the
//! `format` parameter or else the `Accept` header; labels in English or German by
//! `Accept-Language`.

use std::fmt::Write;

use actix_web::http::header::{ACCEPT, CACHE_CONTROL, VARY};
use actix_web::{HttpRequest, HttpResponse};
use keyport_api::{ActivityReport, AdoptionReport, LifetimeReport, UsageReportView};
use keyport_charts::{Chart, Curve, Labels, Series, StepPoint};
use keyport_core::analytics::{DayRange, Period};
use keyport_core::{CoreError, Lang};
use serde::Serialize;

use crate::problem::lang_of;

/// The form of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `text/csv`.
    Csv,
    /// `image/svg+xml`.
    Svg,
}

impl Format {
    /// The `format` parameter when given, else the first of `Accept` that is one of the
    /// three, else JSON.
    pub fn of(req: &HttpRequest, format: Option<&str>) -> Result<Format, CoreError> {
        if let Some(format) = format {
            return match format.trim().to_ascii_lowercase().as_str() {
                "json" => Ok(Format::Json),
                "csv" => Ok(Format::Csv),
                "svg" => Ok(Format::Svg),
                _ => Err(CoreError::invalid("format", "must be json, csv or svg")),
            };
        }
        let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        for part in accept.split(',') {
            match part.split(';').next().unwrap_or("").trim() {
                "application/json" => return Ok(Format::Json),
                "text/csv" => return Ok(Format::Csv),
                "image/svg+xml" => return Ok(Format::Svg),
                _ => {}
            }
        }
        Ok(Format::Json)
    }
}

/// Words of the charts and CSV headers, in English and German.
fn word(lang: Lang, key: &str) -> &'static str {
    match (lang, key) {
        (Lang::En, "machines_title") => "PC lifetime",
        (Lang::De, "machines_title") => "Lebensdauer der PCs",
        (Lang::En, "versions_title") => "Lifetime of major versions",
        (Lang::De, "versions_title") => "Nutzungsdauer der Hauptversionen",
        (Lang::En, "days") => "days",
        (Lang::De, "days") => "Tage",
        (Lang::En, "still") => "still in use (95 % band)",
        (Lang::De, "still") => "noch in Gebrauch (95-%-Band)",
        (Lang::En, "at_risk") => "Number at risk",
        (Lang::De, "at_risk") => "Unter Beobachtung",
        (Lang::En, "all") => "all",
        (Lang::De, "all") => "alle",
        (Lang::En, "subjects") => "subjects",
        (Lang::De, "subjects") => "Fälle",
        (Lang::En, "ended") => "ended",
        (Lang::De, "ended") => "beendet",
        (Lang::En, "median") => "median",
        (Lang::De, "median") => "Median",
        (Lang::En, "usage_title") => "Active machines",
        (Lang::De, "usage_title") => "Aktive Rechner",
        (Lang::En, "machines") => "machines",
        (Lang::De, "machines") => "Rechner",
        (Lang::En, "adoption_title") => "Version adoption (share of active machines)",
        (Lang::De, "adoption_title") => "Verbreitung der Versionen (Anteil aktiver Rechner)",
        (Lang::En, "share") => "share",
        (Lang::De, "share") => "Anteil",
        (Lang::En, "activity_title") => "License activity",
        (Lang::De, "activity_title") => "Lizenzaktivität",
        (Lang::En, "count") => "count",
        (Lang::De, "count") => "Anzahl",
        (Lang::En, "period") => "period starting",
        (Lang::De, "period") => "Zeitraum ab",
        (Lang::En, "activations") => "activations",
        (Lang::De, "activations") => "Aktivierungen",
        (Lang::En, "deactivations") => "deactivations",
        (Lang::De, "deactivations") => "Deaktivierungen",
        (Lang::En, "recoveries") => "recoveries",
        (Lang::De, "recoveries") => "Wiederherstellungen",
        (Lang::En, "emergency") => "emergency licenses",
        (Lang::De, "emergency") => "Notfalllizenzen",
        (Lang::En, "demos") => "demos",
        (Lang::De, "demos") => "Demos",
        (Lang::En, "to") => "to",
        (Lang::De, "to") => "bis",
        (Lang::En, "all_time") => "all time",
        (Lang::De, "all_time") => "gesamter Zeitraum",
        (Lang::En | Lang::De, _) => "",
    }
}

/// Text for a CSV field: quoted when it holds a separator, a quote or a line break, and a
/// leading `=`, `+`, `-` or `@` defused so a spreadsheet does not run it as a formula.
pub(crate) fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn respond<T: Serialize>(
    format: Format,
    json: &T,
    csv: impl FnOnce() -> String,
    svg: impl FnOnce() -> Chart,
) -> HttpResponse {
    let mut res = match format {
        Format::Json => HttpResponse::Ok().json(json),
        Format::Csv => HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(csv()),
        Format::Svg => HttpResponse::Ok().content_type("image/svg+xml; charset=utf-8").body(svg().svg),
    };
    let headers = res.headers_mut();
    headers.insert(VARY, actix_web::http::header::HeaderValue::from_static("Accept, Accept-Language"));
    headers.insert(CACHE_CONTROL, actix_web::http::header::HeaderValue::from_static("private, no-store"));
    res
}

/// A lifetime estimate in the asked form.
pub fn lifetime(req: &HttpRequest, format: Format, report: &LifetimeReport) -> HttpResponse {
    let lang = lang_of(req.headers());
    let csv = || {
        let mut out = String::from("group,days,at_risk,ended,censored,survival,lower,upper\n");
        for c in &report.curves {
            for p in &c.points {
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{},{}",
                    csv_field(&c.group),
                    p.days,
                    p.at_risk,
                    p.ended,
                    p.censored,
                    p.survival,
                    p.lower,
                    p.upper
                );
            }
        }
        out
    };
    let svg = || {
        let curves: Vec<Curve> = report
            .curves
            .iter()
            .map(|c| Curve {
                name: if c.group.is_empty() { word(lang, "all").to_owned() } else { c.group.clone() },
                points: c
                    .points
                    .iter()
                    .map(|p| StepPoint {
                        time: p.days,
                        survival: p.survival,
                        lower: p.lower,
                        upper: p.upper,
                        at_risk: p.at_risk,
                    })
                    .collect(),
            })
            .collect();
        let subjects: u64 = report.curves.iter().map(|c| c.subjects).sum();
        let ended: u64 = report.curves.iter().map(|c| c.ended).sum();
        let range = match (report.from, report.to) {
            (Some(from), Some(to)) => format!("{from} {} {to}", word(lang, "to")),
            _ => word(lang, "all_time").to_owned(),
        };
        let medians: Vec<String> = report
            .curves
            .iter()
            .filter_map(|c| {
                c.median_days.map(|m| {
                    format!("{} {}{m} {}", word(lang, "median"), label_of(&c.group), word(lang, "days"))
                })
            })
            .collect();
        let title = if report.subject == "versions" { "versions_title" } else { "machines_title" };
        let labels = Labels {
            title: format!("{} · {}", word(lang, title), report.product),
            x: word(lang, "days").to_owned(),
            y: word(lang, "still").replace("95", &format!("{}", (report.confidence * 100.0).round())),
            caption: format!(
                "{range} · {subjects} {} · {ended} {}{}",
                word(lang, "subjects"),
                word(lang, "ended"),
                if medians.is_empty() { String::new() } else { format!(" · {}", medians.join(", ")) }
            ),
            at_risk: word(lang, "at_risk").to_owned(),
        };
        keyport_charts::survival(&curves, &labels)
    };
    respond(format, report, csv, svg)
}

fn label_of(group: &str) -> String {
    if group.is_empty() { String::new() } else { format!("{group}: ") }
}

fn range_caption(lang: Lang, from: chrono::NaiveDate, to: chrono::NaiveDate, extra: String) -> String {
    let last = to - chrono::Duration::days(1);
    format!("{from} {} {last} · {extra}", word(lang, "to"))
}

/// A usage report in the asked form (the chart: active machines per period and key).
pub fn usage(req: &HttpRequest, format: Format, report: &UsageReportView) -> HttpResponse {
    let lang = lang_of(req.headers());
    let csv = || {
        let mut out = String::from(
            "period,key,active_machines,checkins,sessions,session_seconds,median_session_seconds\n",
        );
        for r in &report.rows {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{}",
                r.period,
                csv_field(&r.key),
                r.active_machines,
                r.checkins,
                r.sessions,
                r.session_seconds,
                opt(r.median_session_seconds)
            );
        }
        out
    };
    let svg = || {
        let periods = every_period(&report.period, report.from, report.to);
        let keys: Vec<String> = dedup(report.rows.iter().map(|r| r.key.clone()));
        let series: Vec<Series> = keys
            .iter()
            .take(keyport_charts::PALETTE.len())
            .map(|k| Series {
                name: if k.is_empty() { word(lang, "machines").to_owned() } else { k.clone() },
                values: periods
                    .iter()
                    .map(|p| {
                        report
                            .rows
                            .iter()
                            .find(|r| r.period == *p && r.key == *k)
                            .map_or(0.0, |r| r.active_machines as f64)
                    })
                    .collect(),
            })
            .collect();
        let total: u64 = report.rows.iter().map(|r| r.active_machines).max().unwrap_or(0);
        let labels = Labels {
            title: format!("{} · {}", word(lang, "usage_title"), report.product),
            x: word(lang, "period").to_owned(),
            y: word(lang, "machines").to_owned(),
            caption: range_caption(
                lang,
                report.from,
                report.to,
                format!("max. {total} {}", word(lang, "machines")),
            ),
            at_risk: String::new(),
        };
        keyport_charts::lines(&categories(&periods), &series, &labels)
    };
    respond(format, report, csv, svg)
}

/// Version adoption in the asked form (the chart: shares stacked per period; the most used
/// versions, the rest as one band).
pub fn adoption(req: &HttpRequest, format: Format, report: &AdoptionReport) -> HttpResponse {
    let lang = lang_of(req.headers());
    let csv = || {
        let mut out = String::from("period,active_machines,version,machines,share\n");
        for p in &report.periods {
            for v in &p.versions {
                let _ = writeln!(
                    out,
                    "{},{},{},{},{}",
                    p.period,
                    p.active_machines,
                    csv_field(&v.version),
                    v.machines,
                    v.share
                );
            }
        }
        out
    };
    let svg = || {
        let periods = every_period(&report.period, report.from, report.to);
        let mut versions: Vec<(String, u64)> = Vec::new();
        for v in report.periods.iter().flat_map(|p| &p.versions) {
            match versions.iter_mut().find(|(name, _)| *name == v.version) {
                Some((_, n)) => *n += v.machines,
                None => versions.push((v.version.clone(), v.machines)),
            }
        }
        versions.sort_by_key(|v| std::cmp::Reverse(v.1));
        let shown: Vec<String> = versions.into_iter().take(7).map(|(v, _)| v).collect();
        let series: Vec<Series> = shown
            .iter()
            .map(|name| Series {
                name: name.clone(),
                values: periods
                    .iter()
                    .map(|day| {
                        let period = report.periods.iter().find(|p| p.period == *day);
                        period
                            .and_then(|p| p.versions.iter().find(|v| v.version == *name))
                            .map_or(0.0, |v| v.share)
                    })
                    .collect(),
            })
            .collect();
        let machines: u64 = report.periods.iter().map(|p| p.active_machines).max().unwrap_or(0);
        let labels = Labels {
            title: format!("{} · {}", word(lang, "adoption_title"), report.product),
            x: word(lang, "period").to_owned(),
            y: word(lang, "share").to_owned(),
            caption: range_caption(
                lang,
                report.from,
                report.to,
                format!("max. {machines} {}", word(lang, "machines")),
            ),
            at_risk: String::new(),
        };
        keyport_charts::stacked(&categories(&periods), &series, &labels)
    };
    respond(format, report, csv, svg)
}

/// License activity in the asked form (the chart: a line per kind).
pub fn activity(req: &HttpRequest, format: Format, report: &ActivityReport) -> HttpResponse {
    let lang = lang_of(req.headers());
    let csv = || {
        let mut out = String::from(
            "period,activations,deactivations,recoveries,emergency_licenses,demos,converted_demos\n",
        );
        for r in &report.rows {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{}",
                r.period,
                r.activations,
                r.deactivations,
                r.recoveries,
                r.emergency_licenses,
                r.demos,
                r.converted_demos
            );
        }
        out
    };
    let svg = || {
        let periods = every_period(&report.period, report.from, report.to);
        let kinds: [(&str, Pick); 5] = [
            ("activations", |r| r.activations),
            ("deactivations", |r| r.deactivations),
            ("recoveries", |r| r.recoveries),
            ("emergency", |r| r.emergency_licenses),
            ("demos", |r| r.demos),
        ];
        let series: Vec<Series> = kinds
            .iter()
            .map(|(key, pick)| Series {
                name: word(lang, key).to_owned(),
                values: periods
                    .iter()
                    .map(|day| report.rows.iter().find(|r| r.period == *day).map_or(0.0, |r| pick(r) as f64))
                    .collect(),
            })
            .collect();
        let total: u64 = report.rows.iter().map(|r| r.activations).sum();
        let labels = Labels {
            title: format!("{} · {}", word(lang, "activity_title"), report.product),
            x: word(lang, "period").to_owned(),
            y: word(lang, "count").to_owned(),
            caption: range_caption(
                lang,
                report.from,
                report.to,
                format!("{total} {}", word(lang, "activations")),
            ),
            at_risk: String::new(),
        };
        keyport_charts::lines(&categories(&periods), &series, &labels)
    };
    respond(format, report, csv, svg)
}

/// Reads one count of an activity row.
type Pick = fn(&keyport_api::ActivityRowView) -> u64;

fn dedup<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The start of every period of a report's range, with or without data.
fn every_period(period: &str, from: chrono::NaiveDate, to: chrono::NaiveDate) -> Vec<chrono::NaiveDate> {
    let period = Period::parse(period).unwrap_or(Period::Day);
    period.starts(DayRange { from, to })
}

fn categories(periods: &[chrono::NaiveDate]) -> Vec<String> {
    periods.iter().map(|p| p.format("%Y-%m-%d").to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("5.1.0"), "5.1.0");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }

    #[test]
    fn every_chart_word_exists_in_both_languages() {
        for key in [
            "machines_title",
            "versions_title",
            "days",
            "still",
            "at_risk",
            "usage_title",
            "adoption_title",
            "activity_title",
            "period",
            "demos",
        ] {
            assert!(!word(Lang::En, key).is_empty() && !word(Lang::De, key).is_empty(), "{key}");
        }
    }
}
