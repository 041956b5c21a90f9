//! The analytics reports on a seeded history: the PC-lifetime estimate and the daily
//! usage report over HTTP, at a small and a large number of activations, each on a fresh
//! server, one request at a time (a report is what one person asks for, not a storm).

use std::time::{Duration, Instant};

use keyport_core::{DisplayName, ProductCode, ProductSpec};

use crate::load::Stats;
use crate::world::World;

/// The product and item of the seeded history (its own, so that the scenarios' other
/// activations are not counted).
const PRODUCT: &str = "history";
const SKU: &str = "HISTORY-1";

/// What one report measured: its latencies and what it answered (machines estimated, or
/// rows of the daily report), so that a run that answered nothing cannot pass.
struct Measured {
    stats: Stats,
    answered: u64,
}

/// Answers `(label, stats)` for both reports at each size, in the order of `sizes`.
pub async fn measure(world: &World, sizes: [u64; 2], runs: usize) -> anyhow::Result<Vec<(String, Stats)>> {
    world
        .blocking(|store, ctx| {
            store.define_product(
                &ctx,
                &ProductSpec { code: ProductCode::parse(PRODUCT)?, name: DisplayName::parse("History")? },
            )?;
            crate::world::define_item(store, PRODUCT, SKU)
        })
        .await?;
    let (mut seeded, mut moved) = (0, 0);
    let mut out = Vec::new();
    for size in sizes {
        let started = Instant::now();
        let more = size.saturating_sub(seeded);
        // Pair p of a call moved unless p % 4 == 0 (batches hold a multiple of 4 pairs).
        let pairs = more.div_ceil(2);
        moved += pairs - pairs / 4;
        world.blocking(move |store, ctx| Ok(store.seed_history(&ctx, SKU, more)?)).await?;
        seeded = size;
        eprintln!("   seeded a history of {more} activations in {:.1} s", started.elapsed().as_secs_f64());
        world.analyze().await?;
        let server = world.serve().await?;
        let client = reqwest::Client::new();
        let today = chrono::Utc::now().date_naive();
        // The whole history, day by day.
        let first = today - chrono::Days::new(keyport_store::HISTORY_DAYS.unsigned_abs());
        let lifetimes = format!("{}/api/v1/analytics/machine-lifetimes?product={PRODUCT}", server.base);
        let usage = format!(
            "{}/api/v1/analytics/usage?product={PRODUCT}&period=day&from={first}&to={}",
            server.base,
            today + chrono::Days::new(1)
        );
        let machines = repeat(&client, world.admin_key(), &lifetimes, runs, |body| {
            body["curves"][0]["subjects"].as_u64().unwrap_or(0)
        })
        .await?;
        let days = repeat(&client, world.admin_key(), &usage, runs, |body| {
            body["rows"].as_array().map_or(0, |rows| rows.len() as u64)
        })
        .await?;
        // Every seeded session is in the range: two per usage day, 1.5 usage days per
        // activation; and three machines in four of the first of each pair were replaced.
        let (sessions, replaced) = (
            answer(&client, world.admin_key(), &usage, |body| {
                body["rows"]
                    .as_array()
                    .map_or(0, |rows| rows.iter().map(|r| r["sessions"].as_u64().unwrap_or(0)).sum())
            })
            .await?,
            answer(&client, world.admin_key(), &lifetimes, |body| {
                body["curves"][0]["ended"].as_u64().unwrap_or(0)
            })
            .await?,
        );
        anyhow::ensure!(
            sessions == 3 * size,
            "the daily report counted {sessions} sessions, not {}",
            3 * size
        );
        anyhow::ensure!(replaced == moved, "the estimate saw {replaced} PCs replaced, not {moved}");
        let peak = server.peak_rss_mb();
        drop(server);
        anyhow::ensure!(
            machines.answered == size,
            "the estimate counted {} machines, not {size}",
            machines.answered
        );
        anyhow::ensure!(days.answered > 0, "the daily report had no day with use");
        eprintln!("   {size}: {} machines estimated, {} days with use", machines.answered, days.answered);
        out.push((
            format!("analytics machine-lifetimes@{size}"),
            Stats { peak_rss_mb: peak, ..machines.stats },
        ));
        out.push((format!("analytics usage per day@{size}"), Stats { peak_rss_mb: peak, ..days.stats }));
    }
    Ok(out)
}

/// Asks `url` once (not measured) and answers what `read` finds in the answer.
async fn answer(
    client: &reqwest::Client,
    key: &str,
    url: &str,
    read: impl Fn(&serde_json::Value) -> u64,
) -> anyhow::Result<u64> {
    Ok(repeat(client, key, url, 0, read).await?.answered)
}

/// Asks `url` once unmeasured and then `runs` times, one after another.
async fn repeat(
    client: &reqwest::Client,
    key: &str,
    url: &str,
    runs: usize,
    answered: impl Fn(&serde_json::Value) -> u64,
) -> anyhow::Result<Measured> {
    let mut micros = Vec::with_capacity(runs);
    let mut last = 0;
    for run in 0..=runs {
        let started = Instant::now();
        let response = client.get(url).bearer_auth(key).timeout(Duration::from_secs(240)).send().await?;
        anyhow::ensure!(response.status().is_success(), "{url} answered {}", response.status());
        let body: serde_json::Value = response.json().await?;
        if run > 0 {
            micros.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
        last = answered(&body);
    }
    Ok(Measured { stats: Stats::of_sequential(&mut micros), answered: last })
}
