//! Downloads: `concurrency` parallel `curl`s fetch one artifact, each through the signed
//! link of a buyer of its own (`download`), against the same `curl`s fetching the same file
//! from Python's `http.server` on the same machine (`download-static`, the anchor).
//! Throughput is MB/s of all clients together; latencies are one whole download each; the
//! server's resident memory is sampled while they run.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::load::Stats;

/// The file: `size` bytes of a repeating pattern, written in 1 MiB pieces.
pub async fn make_file(path: &Path, size: u64) -> anyhow::Result<()> {
    let piece: Vec<u8> = (0..1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let mut file = tokio::fs::File::create(path).await?;
    let mut left = size;
    while left > 0 {
        let n = left.min(piece.len() as u64) as usize;
        file.write_all(&piece[..n]).await?;
        left -= n as u64;
    }
    file.flush().await?;
    Ok(())
}

/// Uploads the file as an artifact with `curl -T` (streamed; curl does not hold it).
pub async fn upload(url: &str, admin_key: &str, file: &Path) -> anyhow::Result<()> {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--fail-with-body", "-X", "POST", "-H"])
        .arg(format!("Authorization: Bearer {admin_key}"))
        .args(["-H", "Content-Type: application/octet-stream", "-T"])
        .arg(file)
        .arg(url)
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "uploading the artifact failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    Ok(())
}

/// Python's `http.server` serving `dir` on a free port; killed when dropped.
pub async fn static_server(dir: &Path) -> anyhow::Result<(tokio::process::Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = tokio::process::Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(20), "python3 -m http.server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((child, format!("http://127.0.0.1:{port}")))
}

/// A `curl` per URL fetches it (`size` bytes) to nowhere, all in parallel.
pub async fn fetch_all(urls: &[String], size: u64) -> anyhow::Result<Stats> {
    let started = Instant::now();
    let mut running = Vec::new();
    for url in urls {
        running.push(
            tokio::process::Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}"])
                .arg(url)
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()?,
        );
    }
    let mut outputs = Vec::new();
    for child in running {
        outputs.push(child.wait_with_output().await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (mut times, mut errors) = (Vec::new(), 0u64);
    for out in outputs {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let parts: Vec<&str> = text.split_whitespace().collect();
        match parts.as_slice() {
            ["200", bytes, time] if bytes.parse::<u64>().ok() == Some(size) => {
                times.push((time.parse::<f64>().unwrap_or(0.0) * 1_000_000.0) as u64);
            }
            _ => errors += 1,
        }
    }
    times.sort_unstable();
    let at = |p: f64| -> f64 {
        if times.is_empty() {
            return 0.0;
        }
        let rank = ((times.len() as f64 - 1.0) * p).round() as usize;
        times[rank.min(times.len() - 1)] as f64 / 1000.0
    };
    let ok = times.len() as u64;
    Ok(Stats {
        throughput: (ok * size) as f64 / 1_000_000.0 / elapsed,
        p50_ms: at(0.5),
        p95_ms: at(0.95),
        p99_ms: at(0.99),
        ok,
        errors,
        refused: 0,
        peak_rss_mb: None,
    })
}
