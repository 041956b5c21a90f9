//! The anchor on PostgreSQL: `pgbench -N` (PostgreSQL's own tool, its simple-update script:
//! one row-locking update, a select and an insert per transaction, no hot rows, like
//! activations of distinct licenses) against a scratch database, at the same concurrency and
//! for the same time as the Keyport scenarios, in the same run.

use std::path::Path;
use std::time::Duration;

use diesel::{Connection, RunQueryDsl};

use crate::load::Stats;

/// Runs pgbench on a new database next to `admin`'s and drops it afterwards. `quick` makes it
/// tiny (scale 1).
pub async fn measure(
    admin: &str,
    dir: &Path,
    concurrency: usize,
    duration: Duration,
    quick: bool,
) -> anyhow::Result<Stats> {
    let name = format!("keyport_pgbench_{}", std::process::id());
    // The same server, user and parameters (`?sslmode=...`), another database.
    let (server, query) = admin.split_once('?').map_or((admin, None), |(s, q)| (s, Some(q)));
    let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
    let url = match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    };
    admin_sql(admin, format!("CREATE DATABASE {name}")).await?;
    let result = run(&url, dir, concurrency, duration, quick).await;
    admin_sql(admin, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    result
}

/// Runs one statement on the server's admin database.
async fn admin_sql(admin: &str, sql: String) -> anyhow::Result<()> {
    let admin = admin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = diesel::PgConnection::establish(&admin)?;
        diesel::sql_query(sql).execute(&mut conn)?;
        anyhow::Ok(())
    })
    .await?
}

async fn run(
    url: &str,
    dir: &Path,
    concurrency: usize,
    duration: Duration,
    quick: bool,
) -> anyhow::Result<Stats> {
    // Scale 10: a million accounts, so 32 clients rarely touch the same row (as activations
    // of distinct licenses do not).
    let scale = if quick { "1" } else { "10" };
    let init = tokio::process::Command::new("pgbench").args(["-i", "-q", "-s", scale, url]).output().await?;
    anyhow::ensure!(init.status.success(), "pgbench -i failed: {}", String::from_utf8_lossy(&init.stderr));
    let warmup = duration / 5;
    let seconds = (duration + warmup).as_secs().max(1);
    let prefix = dir.join("pgbench");
    let clients = concurrency.to_string();
    let threads = std::thread::available_parallelism().map_or(2, usize::from).min(concurrency).to_string();
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs_f64();
    let out = tokio::process::Command::new("pgbench")
        .args(["-N", "-n", "-c", &clients, "-j", &threads, "-T", &seconds.to_string(), "-l", "--log-prefix"])
        .arg(&prefix)
        .arg(url)
        .current_dir(dir)
        .output()
        .await?;
    anyhow::ensure!(out.status.success(), "pgbench -N failed: {}", String::from_utf8_lossy(&out.stderr));
    // Per transaction: client, number, latency in µs, script, epoch seconds, µs.
    let from = started + warmup.as_secs_f64();
    let (mut latencies, mut failed) = (Vec::new(), 0u64);
    let mut last = from;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("pgbench")) {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(latency), Some(secs), Some(micros)) = (fields.get(2), fields.get(4), fields.get(5))
            else {
                continue;
            };
            let at = secs.parse::<f64>().unwrap_or(0.0) + micros.parse::<f64>().unwrap_or(0.0) / 1e6;
            if at >= from {
                // A failed or skipped transaction is logged with a word for its latency.
                match latency.parse::<u64>() {
                    Ok(micros) => latencies.push(micros),
                    Err(_) => failed += 1,
                }
                last = last.max(at);
            }
        }
        std::fs::remove_file(&path)?;
    }
    latencies.sort_unstable();
    anyhow::ensure!(!latencies.is_empty(), "pgbench logged no transaction");
    let at = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0;
    let window = (last - from).max(1e-3);
    Ok(Stats {
        throughput: latencies.len() as f64 / window,
        p50_ms: at(0.5),
        p95_ms: at(0.95),
        p99_ms: at(0.99),
        ok: latencies.len() as u64,
        errors: failed,
        refused: 0,
        peak_rss_mb: None,
    })
}
