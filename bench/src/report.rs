//! The results: JSON and a Markdown table with the machine and the ratios against targets.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::load::Stats;

/// How the run was made.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// sqlite or postgres.
    pub backend: String,
    /// Licenses seeded for activations.
    pub scale: u64,
    /// Seconds measured per scenario.
    pub duration_s: u64,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Whether this was the quick check.
    pub quick: bool,
}

/// A ratio against its target.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// What is compared.
    pub name: String,
    /// The measured value.
    pub value: f64,
    /// The target, as text (`>= 0.7`, `< 20 ms`).
    pub target: String,
    /// Whether it is met.
    pub met: bool,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    machine: String,
    date: String,
    settings: &'a Settings,
    scenarios: Vec<(&'a str, &'a Stats)>,
    ratios: Vec<Ratio>,
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_owned())))
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {memory} memory, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}

fn find<'a>(results: &'a [(String, Stats)], prefix: &str) -> Option<&'a Stats> {
    results.iter().find(|(n, _)| n.starts_with(prefix)).map(|(_, s)| s)
}

fn ratios(settings: &Settings, results: &[(String, Stats)]) -> Vec<Ratio> {
    let mut out = Vec::new();
    let mut ratio = |name: &str, a: Option<&Stats>, b: Option<&Stats>, target: f64| {
        if let (Some(a), Some(b)) = (a, b) {
            let value = if b.throughput > 0.0 { a.throughput / b.throughput } else { 0.0 };
            out.push(Ratio {
                name: name.to_owned(),
                value,
                target: format!(">= {target}"),
                met: value >= target,
            });
        }
    };
    ratio(
        &format!("activate-rest / activate-store ({})", settings.backend),
        find(results, "activate-rest"),
        find(results, "activate-store"),
        0.7,
    );
    ratio(
        &format!("checkin-store / activate-store ({})", settings.backend),
        find(results, "checkin-store"),
        find(results, "activate-store"),
        1.5,
    );
    ratio(
        &format!("checkin / activate-rest, both over HTTP ({})", settings.backend),
        results.iter().find(|(n, _)| n == "checkin").map(|(_, s)| s),
        find(results, "activate-rest"),
        1.5,
    );
    ratio(
        &format!("webhooks-activate (3 endpoints) / activate-rest ({})", settings.backend),
        find(results, "webhooks-activate"),
        find(results, "activate-rest"),
        0.9,
    );
    ratio("order-soap / order-rest", find(results, "order-soap"), find(results, "order-rest"), 0.85);
    ratio(
        "me-offers (200 offers) / list-licenses of the same customer (50 licenses)",
        find(results, "me-offers"),
        find(results, "offers-list-licenses"),
        0.5,
    );
    ratio(
        "depot license overview page / list-licenses of the same customer (50 licenses)",
        find(results, "depot-licenses-page"),
        find(results, "depot-list-licenses"),
        0.7,
    );
    // PostgreSQL's own limit for a transaction of an activation's shape, in the same run.
    let anchor = find(results, "pgbench -N");
    ratio("activate-rest / pgbench -N, rate (postgres)", find(results, "activate-rest"), anchor, 0.5);
    let lists: Vec<&Stats> =
        results.iter().filter(|(n, _)| n.starts_with("list-licenses@")).map(|(_, s)| s).collect();
    if lists.len() == 2 {
        ratio("list-licenses at the larger / at the smaller database", Some(lists[1]), Some(lists[0]), 0.8);
    }
    // Downloads: Keyport's signed links against a plain static file server, same file, same
    // clients, same run; and the memory of the server while they run.
    ratio(
        &format!("download / download-static, MB/s at {} concurrent", settings.concurrency),
        find(results, "download MB/s"),
        find(results, "download-static MB/s"),
        0.8,
    );
    if let (Some(a), Some(p)) = (find(results, "activate-rest"), anchor) {
        let value = if p.p99_ms > 0.0 { a.p99_ms / p.p99_ms } else { 0.0 };
        out.push(Ratio {
            name: "activate-rest p99 / pgbench -N p99 (postgres)".to_owned(),
            value,
            target: "<= 1.5".to_owned(),
            met: value <= 1.5,
        });
    }
    // The latency target is set for PostgreSQL, the scale-out backend; SQLite serializes its
    // writers by design, so its p99 grows with the number of clients and is only reported.
    if let Some(a) = find(results, "activate-rest").filter(|_| settings.backend == "postgres") {
        out.push(Ratio {
            name: format!("activate-rest p99 at {} concurrent ({})", settings.concurrency, settings.backend),
            value: a.p99_ms,
            target: "< 20 ms".to_owned(),
            met: a.p99_ms < 20.0,
        });
    }
    // Overload: the rate at 4 and 16 times the clients stays within 80% of the rate at the
    // first level, and the p99 grows no more than the number of clients (Little's law: a
    // queue n times as long waits n times as long).
    let levels: Vec<(usize, &Stats)> =
        results.iter().filter_map(|(n, s)| Some((n.strip_prefix("overload@")?.parse().ok()?, s))).collect();
    if let Some(&(base_clients, base)) = levels.first() {
        for &(clients, stats) in &levels[1..] {
            let rate = if base.throughput > 0.0 { stats.throughput / base.throughput } else { 0.0 };
            out.push(Ratio {
                name: format!(
                    "overload: rate at {clients} / at {base_clients} clients ({})",
                    settings.backend
                ),
                value: rate,
                target: ">= 0.8".to_owned(),
                met: rate >= 0.8,
            });
            let growth = if base.p99_ms > 0.0 { stats.p99_ms / base.p99_ms } else { f64::INFINITY };
            let bound = clients as f64 / base_clients as f64;
            out.push(Ratio {
                name: format!(
                    "overload: p99 at {clients} / at {base_clients} clients ({})",
                    settings.backend
                ),
                value: growth,
                target: format!("<= {bound}"),
                met: growth <= bound,
            });
        }
    }
    // The sandbox in an integrator's CI: ready well under a second on the 2-core machine,
    // and at most twice as long as a server opening an existing database.
    if let Some(sandbox) = find(results, "sandbox-start") {
        out.push(Ratio {
            name: "sandbox-start p99, spawn to /readyz (ms)".to_owned(),
            value: sandbox.p99_ms,
            target: "< 1000".to_owned(),
            met: sandbox.p99_ms < 1000.0,
        });
        if let Some(serve) = find(results, "serve-start") {
            let value = if serve.p50_ms > 0.0 { sandbox.p50_ms / serve.p50_ms } else { 0.0 };
            out.push(Ratio {
                name: format!("sandbox-start p50 / serve-start p50 ({})", settings.backend),
                value,
                target: "<= 2".to_owned(),
                met: value <= 2.0,
            });
        }
    }
    // Analytics: one pass in SQL grows no faster than the data (100 times the activations
    // within 20 times the time), the large estimate within 5 s, the server small meanwhile.
    for report in ["analytics machine-lifetimes@", "analytics usage per day@"] {
        let sized: Vec<&Stats> =
            results.iter().filter(|(n, _)| n.starts_with(report)).map(|(_, s)| s).collect();
        if let [small, large] = sized[..] {
            let value = if small.p50_ms > 0.0 { large.p50_ms / small.p50_ms } else { 0.0 };
            out.push(Ratio {
                name: format!(
                    "{} p50, larger / smaller history ({})",
                    report.trim_end_matches('@'),
                    settings.backend
                ),
                value,
                target: "<= 20".to_owned(),
                met: value <= 20.0,
            });
        }
    }
    if let Some((name, large)) = results.iter().rfind(|(n, _)| n.starts_with("analytics machine-lifetimes@"))
    {
        out.push(Ratio {
            name: format!("{name} p99 (ms)"),
            value: large.p99_ms,
            target: "< 5000".to_owned(),
            met: large.p99_ms < 5000.0,
        });
    }
    let analytics_peak = results
        .iter()
        .filter(|(n, _)| n.starts_with("analytics "))
        .filter_map(|(_, s)| s.peak_rss_mb)
        .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p))));
    if let Some(peak) = analytics_peak {
        out.push(Ratio {
            name: "server peak RSS during the analytics reports (MB)".to_owned(),
            value: peak,
            target: "< 150".to_owned(),
            met: peak < 150.0,
        });
    }
    if let Some(peak) = find(results, "download MB/s").and_then(|s| s.peak_rss_mb) {
        out.push(Ratio {
            name: format!("server peak RSS during {} parallel downloads (MB)", settings.concurrency),
            value: peak,
            target: "< 150".to_owned(),
            met: peak < 150.0,
        });
    }
    let peaks: Vec<f64> = results.iter().filter_map(|(_, s)| s.peak_rss_mb).collect();
    if peaks.is_empty() {
        return out;
    }
    let peak = peaks.into_iter().fold(0.0, f64::max);
    out.push(Ratio {
        name: "server peak RSS in any scenario (MB)".to_owned(),
        value: peak,
        target: "< 150".to_owned(),
        met: peak < 150.0,
    });
    out
}

/// Writes `<out>/<backend>.json` and `<out>/<backend>.md`; returns the Markdown's path.
pub fn write(out: &Path, settings: &Settings, results: &[(String, Stats)]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    let report = Report {
        machine: machine(),
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        settings,
        scenarios: results.iter().map(|(n, s)| (n.as_str(), s)).collect(),
        ratios: ratios(settings, results),
    };
    std::fs::write(out.join(format!("{}.json", settings.backend)), serde_json::to_string_pretty(&report)?)?;
    let mut md = format!(
        "# Keyport benchmark: {}\n\n{} on {}; {} licenses seeded, {} s per scenario after a warm-up, {} concurrent clients{}.\n\n",
        settings.backend,
        report.date,
        report.machine,
        settings.scale,
        settings.duration_s,
        settings.concurrency,
        if settings.quick { " (quick check: the numbers mean nothing)" } else { "" }
    );
    md.push_str("| scenario | ops/s | p50 ms | p95 ms | p99 ms | errors | refused | server peak RSS MB |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (name, s) in results {
        md.push_str(&format!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} |\n",
            s.throughput,
            s.p50_ms,
            s.p95_ms,
            s.p99_ms,
            s.errors,
            s.refused,
            s.peak_rss_mb.map_or("-".to_owned(), |m| format!("{m:.1}"))
        ));
    }
    md.push_str("\n| ratio | value | target | met |\n|---|---:|---|---|\n");
    for r in &report.ratios {
        md.push_str(&format!(
            "| {} | {:.2} | {} | {} |\n",
            r.name,
            r.value,
            r.target,
            if r.met { "yes" } else { "**no**" }
        ));
    }
    let path = out.join(format!("{}.md", settings.backend));
    std::fs::write(&path, md)?;
    Ok(path)
}
