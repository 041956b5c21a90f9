//! `keyport-bench`: Keyport's speed against the limits of its own parts, as ratios measured
//! in one run. See the crate README.

mod analytics;
mod depot;
mod downloads;
mod load;
mod offers;
mod pgbench;
mod report;
mod segments;
mod starts;
mod world;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::load::Stats;
use crate::world::{Backend, World};

/// Measures Keyport's scenarios and writes the results table.
#[derive(Debug, Parser)]
#[command(name = "keyport-bench", about)]
struct Cli {
    /// Scenarios, comma-separated (healthz, activate-rest, webhooks-activate,
    /// activate-store, checkin, checkin-store, list-licenses, order-rest, order-soap,
    /// serve-start, sandbox-start, download, analytics, offers, segments, depot, overload,
    /// pgbench), or `all`. `overload` runs activate-rest at 32, 128 and 512 clients (2, 4 and
    /// 8 with --quick), each on a fresh server; refused clients wait as `Retry-After` says.
    /// `offers` lists the offers of a customer with 50 licenses among 200 defined
    /// offers, against that customer's license list; `depot` renders the web depot's license
    /// overview page of a customer with 50 licenses, against the same list as JSON. `analytics`
    /// times the PC-lifetime estimate and the daily usage report on histories of 1e4 and
    /// 1e6 activations. `download` measures
    /// concurrent downloads of one artifact (1 GB; 8 MB with --quick) against Python's
    /// `http.server` serving the same file. `pgbench` (PostgreSQL's own
    /// `pgbench -N` on a scratch database: the anchor) runs with `--backend postgres` only.
    scenario: String,
    /// The database.
    #[arg(long, default_value = "sqlite", value_parser = ["sqlite", "postgres"])]
    backend: String,
    /// Licenses seeded for the activation scenarios.
    #[arg(long, default_value_t = 20_000)]
    scale: u64,
    /// Seconds each scenario is measured (after a warm-up of a fifth of it).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds and tiny data: checks that every scenario runs and the table is written.
    #[arg(long)]
    quick: bool,
    /// Where results go [default: bench/results, or target/bench-quick with --quick].
    #[arg(long)]
    out: Option<PathBuf>,
}

const SCENARIOS: [&str; 18] = [
    "pgbench",
    "healthz",
    "activate-rest",
    "webhooks-activate",
    "activate-store",
    "checkin",
    "checkin-store",
    "list-licenses",
    "order-rest",
    "order-soap",
    "serve-start",
    "sandbox-start",
    "download",
    "analytics",
    "offers",
    "segments",
    "depot",
    "overload",
];

/// The numbers of clients of the overload scenario: the usual 32, then 4 and 16 times as
/// many (the instance admits 256 at once by default and refuses the rest with 503).
const OVERLOAD_CLIENTS: [usize; 3] = [32, 128, 512];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    if cli.quick {
        cli.scale = 200;
        cli.duration = 1;
        cli.concurrency = cli.concurrency.min(4);
    }
    let wanted: Vec<&str> = if cli.scenario == "all" {
        SCENARIOS.to_vec()
    } else {
        let named: Vec<&str> = cli.scenario.split(',').map(str::trim).collect();
        if let Some(unknown) = named.iter().find(|n| !SCENARIOS.contains(n)) {
            anyhow::bail!("unknown scenario '{unknown}'; one of {} or all", SCENARIOS.join(", "));
        }
        named
    };
    let backend = if cli.backend == "postgres" { Backend::Postgres } else { Backend::Sqlite };
    let duration = Duration::from_secs(cli.duration.max(1));
    let world = World::prepare(backend, cli.scale, cli.quick).await?;
    let mut results: Vec<(String, Stats)> = Vec::new();
    for name in wanted {
        eprintln!("== {name}");
        match name {
            "list-licenses" => {
                let (small, large) = if cli.quick { (100, 1_000) } else { (10_000, 1_000_000) };
                world.fill_to(small).await?;
                results.push((
                    format!("list-licenses@{small}"),
                    world.run(name, duration, cli.concurrency).await?,
                ));
                world.fill_to(large).await?;
                results.push((
                    format!("list-licenses@{large}"),
                    world.run(name, duration, cli.concurrency).await?,
                ));
            }
            "pgbench" => match world.pgbench(cli.concurrency, duration, cli.quick).await? {
                Some(stats) => results.push(("pgbench -N".to_owned(), stats)),
                None => eprintln!("   pgbench: PostgreSQL only (on SQLite the anchor is activate-store)"),
            },
            "serve-start" | "sandbox-start" => {
                let runs = if cli.quick { 3 } else { 30 };
                results.push((name.to_owned(), world.starts(name == "sandbox-start", runs).await?));
            }
            "download" => results.extend(world.downloads(cli.concurrency, cli.quick).await?),
            "overload" => {
                let levels: &[usize] = if cli.quick { &[2, 4, 8] } else { &OVERLOAD_CLIENTS };
                results.extend(world.overload(duration, levels).await?);
            }
            "offers" => results.extend(offers::measure(&world, duration, cli.concurrency).await?),
            "depot" => results.extend(depot::measure(&world, duration, cli.concurrency).await?),
            "segments" => {
                let sizes = if cli.quick { [1_000, 2_500] } else { [10_000, 1_000_000] };
                results.extend(segments::measure(&world, sizes).await?);
            }
            "analytics" => {
                let (sizes, runs) = if cli.quick { ([100, 1_000], 2) } else { ([10_000, 1_000_000], 5) };
                results.extend(analytics::measure(&world, sizes, runs).await?);
            }
            _ => results.push((name.to_owned(), world.run(name, duration, cli.concurrency).await?)),
        }
        if let Some((label, stats)) = results.last().filter(|_| name != "overload") {
            eprintln!("   {label}: {}", stats.summary());
        }
    }
    world.finish().await;
    let out = cli.out.clone().unwrap_or_else(|| {
        if cli.quick { PathBuf::from("target/bench-quick") } else { PathBuf::from("bench/results") }
    });
    let settings = report::Settings {
        backend: cli.backend.clone(),
        scale: cli.scale,
        duration_s: cli.duration,
        concurrency: cli.concurrency,
        quick: cli.quick,
    };
    let path = report::write(&out, &settings, &results)?;
    println!("wrote {}", path.display());
    Ok(())
}
