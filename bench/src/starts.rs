//! Start-up: from spawning `keyport` to its first `200` on `/readyz`, measured again and
//! again. `sandbox-start` starts `keyport sandbox` (a new temporary database: migrations,
//! the seeded catalog and keys, the snapshot for resets); its anchor `serve-start` starts
//! `keyport serve` on the benchmark's existing database (migrations already applied).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::load::Stats;

/// What is started.
#[derive(Debug, Clone, Copy)]
pub enum Start<'a> {
    /// `keyport serve` on an existing database.
    Serve {
        /// The database URL.
        url: &'a str,
        /// The data folder.
        dir: &'a Path,
    },
    /// `keyport sandbox`.
    Sandbox,
}

/// Waits until `base` answers `/readyz` with a success (at most a minute from `started`) and
/// answers the time since `started`.
pub(crate) async fn ready(
    client: &reqwest::Client,
    base: &str,
    started: Instant,
) -> anyhow::Result<Duration> {
    loop {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "keyport did not become ready");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One start: the time from spawning to ready.
async fn once(bin: &Path, what: Start<'_>, client: &reqwest::Client) -> anyhow::Result<Duration> {
    let mut command = tokio::process::Command::new(bin);
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    match what {
        Start::Serve { url, dir } => {
            command
                .args([
                    "serve",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--database-url",
                    url,
                    "--data-dir",
                ])
                .arg(dir);
        }
        Start::Sandbox => {
            command.args(["sandbox", "--listen", &format!("127.0.0.1:{port}")]);
        }
    }
    let started = Instant::now();
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).kill_on_drop(true).spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    if matches!(what, Start::Sandbox) {
        // The sandbox prints its address first; it is ready to be asked from then on.
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let line = BufReader::new(stdout).lines().next_line().await?.unwrap_or_default();
        anyhow::ensure!(line == format!("KEYPORT_SANDBOX_URL={base}"), "unexpected first line: {line}");
    }
    let took = ready(client, &base, started).await;
    stop(&mut child).await?;
    took
}

/// Stops a started `keyport` the way an operator does (SIGTERM), so that a sandbox removes
/// its temporary folder; SIGKILL only if it has not ended within ten seconds.
async fn stop(child: &mut tokio::process::Child) -> anyhow::Result<()> {
    if let Some(pid) = child.id() {
        tokio::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().await?;
        if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_ok() {
            return Ok(());
        }
    }
    child.kill().await?;
    Ok(())
}

/// Starts `what` `runs` times, one after another, and reports the times to ready as
/// latencies (and starts per second as the throughput).
pub async fn measure(bin: &Path, what: Start<'_>, runs: usize) -> anyhow::Result<Stats> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    // One start unmeasured: the binary into the page cache.
    once(bin, what, &client).await?;
    let mut micros = Vec::with_capacity(runs);
    for _ in 0..runs {
        micros.push(u64::try_from(once(bin, what, &client).await?.as_micros()).unwrap_or(u64::MAX));
    }
    Ok(Stats::of_sequential(&mut micros))
}
