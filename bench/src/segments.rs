//! A newsletter segment's export: every consenting customer of a segment streamed as CSV in
//! one answer, at two sizes, with the server's peak resident memory (target: under 150 MB
//! at 1e6 customers: the server holds one page of 1,000 whatever the size).

use std::time::Instant;

use keyport_core::DisplayName;
use keyport_core::targeting::Rule;
use serde_json::json;

use crate::load::Stats;
use crate::world::World;

/// Answers `("segment-export@<n> (rows/s)", ..)` for each size.
pub async fn measure(world: &World, sizes: [u64; 2]) -> anyhow::Result<Vec<(String, Stats)>> {
    let segment = world
        .blocking(|store, ctx| {
            let rule = Rule::parse(&json!({"language": ["en"]}))?;
            Ok(store.create_segment(&ctx, &DisplayName::parse("Bench subscribers")?, &rule)?.id)
        })
        .await?;
    let mut seeded = 0;
    let mut out = Vec::new();
    for size in sizes {
        let more = size.saturating_sub(seeded);
        let started = Instant::now();
        world.blocking(move |store, ctx| Ok(store.seed_subscribers(&ctx, seeded, more)?)).await?;
        seeded = size;
        eprintln!("   seeded {more} subscribers in {:.1} s", started.elapsed().as_secs_f64());
        world.analyze().await?;
        let server = world.serve().await?;
        let url = format!("{}/api/v1/segments/{segment}/export?format=csv", server.base);
        let started = Instant::now();
        let mut answer = reqwest::Client::new().get(&url).bearer_auth(world.admin_key()).send().await?;
        anyhow::ensure!(answer.status() == 200, "the export answered {}", answer.status());
        let (mut lines, mut bytes) = (0u64, 0u64);
        while let Some(chunk) = answer.chunk().await? {
            lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            bytes += chunk.len() as u64;
        }
        let elapsed = started.elapsed();
        if size <= 10_000 {
            // The JSON form of the same export (pages joined into one array) holds the same.
            let json = url.replace("format=csv", "format=json");
            let all: Vec<serde_json::Value> =
                reqwest::Client::new().get(&json).bearer_auth(world.admin_key()).send().await?.json().await?;
            anyhow::ensure!(all.len() as u64 == size, "the JSON export held {}, not {size}", all.len());
        }
        let peak = server.peak_rss_mb();
        drop(server);
        let rows = lines.saturating_sub(1);
        anyhow::ensure!(rows == size, "the export held {rows} customers, not {size}");
        eprintln!("   {size}: {rows} rows, {:.1} MB in {:.1} s", bytes as f64 / 1e6, elapsed.as_secs_f64());
        let ms = elapsed.as_secs_f64() * 1000.0;
        out.push((
            format!("segment-export@{size} (rows/s)"),
            Stats {
                throughput: rows as f64 / elapsed.as_secs_f64().max(1e-9),
                p50_ms: ms,
                p95_ms: ms,
                p99_ms: ms,
                ok: rows,
                errors: 0,
                refused: 0,
                peak_rss_mb: peak,
            },
        ));
    }
    Ok(out)
}
