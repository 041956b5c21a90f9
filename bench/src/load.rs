//! The load loop: concurrent clients, a warm-up, a measured window, latencies and errors.
//! A client that is refused with `Retry-After` (503 or 429) waits as long as it is told
//! before it asks again, as a well-behaved client does; refusals are counted apart from
//! errors.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Mutex;

/// What one scenario measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Successful operations per second in the measured window.
    pub throughput: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Successful operations measured.
    pub ok: u64,
    /// Failed operations measured (refusals not counted).
    pub errors: u64,
    /// Operations refused with `Retry-After` (503 or 429) in the measured window.
    pub refused: u64,
    /// The server's peak resident memory, MB (none for in-process scenarios).
    pub peak_rss_mb: Option<f64>,
}

impl Stats {
    /// The stats of operations made one after another, from their times in microseconds
    /// (sorted here): the throughput is operations per second of their total time.
    pub fn of_sequential(micros: &mut [u64]) -> Stats {
        if micros.is_empty() {
            return Stats::default();
        }
        micros.sort_unstable();
        let total: u64 = micros.iter().sum();
        let at = |p: f64| micros[((micros.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0;
        Stats {
            throughput: if total > 0 { micros.len() as f64 / (total as f64 / 1e6) } else { 0.0 },
            p50_ms: at(0.5),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            ok: micros.len() as u64,
            errors: 0,
            refused: 0,
            peak_rss_mb: None,
        }
    }

    /// One line for the terminal.
    pub fn summary(&self) -> String {
        format!(
            "{:.0}/s p50 {:.2} ms p95 {:.2} ms p99 {:.2} ms, {} errors, {} refused, peak RSS {}",
            self.throughput,
            self.p50_ms,
            self.p95_ms,
            self.p99_ms,
            self.errors,
            self.refused,
            self.peak_rss_mb.map_or("-".to_owned(), |m| format!("{m:.1} MB"))
        )
    }
}

/// How one operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did what it should.
    Done,
    /// The server refused it for now and said when to ask again.
    Refused(Duration),
    /// Anything else.
    Failed,
}

impl From<bool> for Outcome {
    fn from(ok: bool) -> Outcome {
        if ok { Outcome::Done } else { Outcome::Failed }
    }
}

/// Set (to anything), refused clients ask again at once instead of waiting as
/// `Retry-After` says: a storm of clients that do not listen.
pub const IMPATIENT: &str = "KEYPORT_BENCH_IMPATIENT";

/// The longest a refused client waits, whatever `Retry-After` says.
const LONGEST_WAIT: Duration = Duration::from_secs(5);

/// Sends a request: `Done` when `ok` holds for its status, `Refused` for a 503 or 429 with
/// `Retry-After` (in seconds), `Failed` otherwise.
pub async fn send(request: reqwest::RequestBuilder, ok: impl Fn(reqwest::StatusCode) -> bool) -> Outcome {
    let Ok(response) = request.send().await else { return Outcome::Failed };
    let status = response.status();
    if ok(status) {
        return Outcome::Done;
    }
    let busy =
        matches!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE | reqwest::StatusCode::TOO_MANY_REQUESTS);
    let wait = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match (busy, wait) {
        (true, Some(seconds)) => Outcome::Refused(Duration::from_secs(seconds).min(LONGEST_WAIT)),
        _ => Outcome::Failed,
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

/// Runs `op(n)` (n counting up from 0) from `concurrency` clients: a warm-up of a fifth of
/// `duration`, then `duration` measured.
pub async fn run<F, Fut, O>(concurrency: usize, duration: Duration, op: F) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = O> + Send,
    O: Into<Outcome>,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let errors = Arc::new(AtomicU64::new(0));
    let refusals = Arc::new(AtomicU64::new(0));
    let impatient = std::env::var_os(IMPATIENT).is_some();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (op, next, measuring, stop) = (op.clone(), next.clone(), measuring.clone(), stop.clone());
        let (latencies, errors, refusals) = (latencies.clone(), errors.clone(), refusals.clone());
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let (mut failed, mut refused) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                let outcome = op(n).await.into();
                let counted = measuring.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed);
                match outcome {
                    Outcome::Done if counted => {
                        mine.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
                    }
                    Outcome::Failed if counted => failed += 1,
                    Outcome::Refused(wait) => {
                        refused += u64::from(counted);
                        if !impatient {
                            tokio::time::sleep(wait).await;
                        }
                    }
                    Outcome::Done | Outcome::Failed => {}
                }
            }
            latencies.lock().await.extend(mine);
            errors.fetch_add(failed, Ordering::Relaxed);
            refusals.fetch_add(refused, Ordering::Relaxed);
        }));
    }
    tokio::time::sleep(duration / 5).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let measured = started.elapsed().as_secs_f64();
    for w in workers {
        let _ = w.await;
    }
    let mut all = std::mem::take(&mut *latencies.lock().await);
    all.sort_unstable();
    Stats {
        throughput: all.len() as f64 / measured,
        p50_ms: percentile(&all, 0.50),
        p95_ms: percentile(&all, 0.95),
        p99_ms: percentile(&all, 0.99),
        ok: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        refused: refusals.load(Ordering::Relaxed),
        peak_rss_mb: None,
    }
}
