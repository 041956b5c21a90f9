//! The webhook sender: fans new events out into deliveries, claims due ones and posts them,
//! signed after the Standard Webhooks specification, then records each attempt.
//!
//! Outbound safety: only `http`/`https` (checked when an endpoint is saved), no proxy from
//! the environment, a timeout per attempt, at most [`MAX_RESPONSE`] bytes of an answer read,
//! redirects followed only to the same origin (three at most), and addresses in private,
//! loopback or link-local ranges refused after resolution (so a name that resolves inside
//! is refused too) unless the configuration allows them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyport_core::webhook::{RetryPolicy, is_public, signature_header};
use keyport_store::{AttemptOutcome, ClaimRequest, DueDelivery, Store};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::task::JoinSet;

use crate::settings::WebhookSettings;

/// The most bytes of an answer read (the rest is dropped with the connection).
const MAX_RESPONSE: usize = 64 * 1024;
/// Events fanned out per step.
const FAN_OUT_BATCH: i64 = 500;
/// Outcomes kept for recording while the database fails, at most.
const MAX_UNRECORDED: usize = 10_000;
/// How often the sender looks up from waiting for attempts, to claim and to record.
const TICK: Duration = Duration::from_millis(50);

/// Resolves names, keeping only addresses Keyport may call.
struct Guarded {
    allow_private: bool,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found.into_iter().filter(|a| allow || is_public(a.ip())).collect();
            if kept.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> =
                    format!("{} resolves only to private, loopback or link-local addresses", name.as_str())
                        .into();
                return Err(refused);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// A sender running on its own thread; dropping this stops it (attempts in flight end
/// with their timeout; their claims expire and another round sends them).
pub struct Background {
    _stop: tokio::sync::oneshot::Sender<()>,
    _thread: std::thread::JoinHandle<()>,
}

/// Sends webhook deliveries.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    /// Where database work runs: the server's runtime, at normal priority (a niced thread
    /// holding SQLite's write lock would hold up requests behind it).
    database: Option<tokio::runtime::Handle>,
    settings: WebhookSettings,
    policy: RetryPolicy,
}

impl Sender {
    /// A sender with these settings.
    pub fn new(settings: &WebhookSettings) -> anyhow::Result<Sender> {
        // Only 307 and 308 keep the method and body; a 301, 302 or 303 would turn the post
        // into a GET without its body, and a 2xx to that GET is no delivery.
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let first = attempt.previous().first().map(reqwest::Url::origin);
            let keeps_body = matches!(attempt.status().as_u16(), 307 | 308);
            if !keeps_body || attempt.previous().len() > 3 || first.as_ref() != Some(&attempt.url().origin())
            {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let timeout = settings.timeout_ms.clamp(100, 120_000);
        let client = reqwest::Client::builder()
            .user_agent(concat!("Keyport-Webhooks/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_millis(timeout))
            .connect_timeout(Duration::from_millis(timeout.min(5_000)))
            .redirect(redirects)
            .no_proxy()
            .dns_resolver(Arc::new(Guarded { allow_private: settings.allow_private_addresses }))
            .build()?;
        Ok(Sender { client, database: None, settings: settings.clone(), policy: settings.policy() })
    }

    /// Runs the sender on a thread of its own until the answer is dropped. The thread and
    /// the threads it starts for database work run at a lower CPU priority than requests
    /// (nice 10, on Linux a per-thread setting they inherit): under a peak of requests,
    /// deliveries wait a little and catch up after it, instead of slowing every request.
    pub fn start(mut self, store: Store) -> std::io::Result<Background> {
        self.database = tokio::runtime::Handle::try_current().ok();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("keyport-webhooks".to_owned()).spawn(move || {
            #[cfg(unix)]
            if let Err(e) = rustix::process::nice(10) {
                tracing::warn!(error = %e, "the webhook sender runs at normal priority");
            }
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().max_blocking_threads(8).build();
            match runtime {
                Ok(runtime) => runtime.block_on(async {
                    tokio::select! {
                        () = self.run(store) => {}
                        _ = stopped => {}
                    }
                }),
                Err(e) => tracing::error!(error = %e, "the webhook sender could not start"),
            }
        })?;
        Ok(Background { _stop: stop, _thread: thread })
    }

    /// Fans out and sends until the process stops: two loops, so that a slow fan-out never
    /// holds up deliveries that are due, and the other way round.
    pub async fn run(self, store: Store) {
        tokio::join!(self.fan_out(&store), self.send(&store));
    }

    /// Turns new events into deliveries, a batch at a time, as they come.
    async fn fan_out(&self, store: &Store) {
        let poll = self.poll();
        loop {
            let store = store.clone();
            let made = self.blocking(move || store.fan_out_webhooks(store.now(), FAN_OUT_BATCH)).await;
            match made {
                Ok(Ok(n)) if n == usize::try_from(FAN_OUT_BATCH).unwrap_or(usize::MAX) => continue,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "webhook fan-out failed; trying again"),
                Err(e) => tracing::warn!(error = %e, "webhook fan-out failed; trying again"),
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Keeps up to `concurrency` attempts in flight (at most a quarter of them, and at
    /// least one, per endpoint). Each round is one write: it records the outcomes gathered
    /// since the last and claims as many as have room; a round runs when half the room is
    /// free or a tick has passed, so the sender's writes stay few under load.
    async fn send(&self, store: &Store) {
        let poll = self.poll();
        let concurrency = self.settings.concurrency.clamp(1, 256);
        let per_endpoint = (concurrency / 4).max(1);
        let mut in_flight: JoinSet<AttemptOutcome> = JoinSet::new();
        let mut per: HashMap<String, usize> = HashMap::new();
        let mut done: Vec<AttemptOutcome> = Vec::new();
        let mut last_round = Instant::now() - TICK;
        loop {
            let free = concurrency.saturating_sub(in_flight.len());
            if free * 2 >= concurrency || last_round.elapsed() >= TICK {
                last_round = Instant::now();
                match self.round(store, &mut done, free, per_endpoint, &per).await {
                    Ok(due) => {
                        for delivery in due {
                            *per.entry(delivery.endpoint_id.clone()).or_default() += 1;
                            let (sender, offset) = (self.clone(), store.clock_offset());
                            in_flight.spawn(async move { sender.attempt(delivery, offset).await });
                        }
                    }
                    Err(e) => {
                        // A failing database gets a pause, not a loop of failing writes.
                        tracing::warn!(error = %e, "webhook round failed; trying again");
                        tokio::time::sleep(poll.max(Duration::from_secs(1))).await;
                        if done.len() > MAX_UNRECORDED {
                            // Their claims expire and they are sent again: nothing is lost.
                            done.drain(..done.len() - MAX_UNRECORDED);
                        }
                    }
                }
            }
            if in_flight.is_empty() {
                if done.is_empty() {
                    tokio::time::sleep(poll).await;
                    last_round = Instant::now() - TICK;
                }
                continue;
            }
            // Wait for an attempt to end (or a short tick).
            let mut ended = Vec::new();
            tokio::select! {
                Some(one) = in_flight.join_next() => ended.push(one),
                () = tokio::time::sleep(TICK) => {}
            }
            while let Some(one) = in_flight.try_join_next() {
                ended.push(one);
            }
            for outcome in ended.into_iter().flatten() {
                if let Some(n) = per.get_mut(&outcome.endpoint_id) {
                    *n = n.saturating_sub(1);
                }
                done.push(outcome);
            }
            per.retain(|_, n| *n > 0);
        }
    }

    /// Runs database work off this thread: on the server's blocking pool when there is one.
    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        match &self.database {
            Some(handle) => handle.spawn_blocking(f),
            None => tokio::task::spawn_blocking(f),
        }
    }

    fn poll(&self) -> Duration {
        Duration::from_millis(self.settings.poll_ms.clamp(10, 60_000))
    }

    /// Records `done` and claims up to `free` (rendered, ready to post). Outcomes stay in
    /// `done` when the write fails, for the next round.
    async fn round(
        &self,
        store: &Store,
        done: &mut Vec<AttemptOutcome>,
        free: usize,
        per_endpoint: usize,
        per: &HashMap<String, usize>,
    ) -> anyhow::Result<Vec<DueDelivery>> {
        // Twice an attempt's timeout and the time to record it: never taken from a live sender.
        let hold = chrono::Duration::milliseconds(
            i64::try_from(2 * self.timeout().as_millis() + 5_000).unwrap_or(i64::MAX / 4),
        );
        let outcomes = std::mem::take(done);
        let (store, per, policy, kept) = (store.clone(), per.clone(), self.policy, outcomes.clone());
        let max = i64::try_from(free).unwrap_or(16);
        let result = self
            .blocking(move || {
                let now = store.now();
                let claim = ClaimRequest { max, hold, per_endpoint, in_flight: &per };
                let mut due = store.exchange_webhook_attempts(&outcomes, &policy, now, &claim)?;
                // The outcomes are recorded now; deliveries that cannot be rendered are left to
                // their claim's expiry (and a later round).
                if !due.is_empty()
                    && let Err(e) = store.render_webhook_payloads(&mut due, now)
                {
                    tracing::warn!(error = %e, "webhook bodies could not be rendered; trying again later");
                    due.clear();
                }
                anyhow::Ok(due)
            })
            .await;
        match result {
            Ok(Ok(due)) => {
                for o in &kept {
                    let result = if o.error.is_none() { "delivered" } else { "failed" };
                    metrics::counter!("keyport_webhook_attempts_total", "result" => result).increment(1);
                }
                Ok(due)
            }
            Ok(Err(e)) => {
                done.extend(kept);
                Err(e)
            }
            Err(e) => {
                done.extend(kept);
                Err(e.into())
            }
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.settings.timeout_ms.clamp(100, 120_000))
    }

    /// Posts one delivery and tells how it went. The signature's timestamp is the system's
    /// time (receivers compare it with theirs); the outcome is recorded on the store's clock,
    /// `offset` ahead of it in the sandbox.
    async fn attempt(&self, d: DueDelivery, offset: chrono::Duration) -> AttemptOutcome {
        let started = Instant::now();
        let sent = chrono::Utc::now();
        let at = sent + offset;
        let (status, error) = match self.post(&d, sent).await {
            Ok((status, _)) if keyport_core::webhook::is_delivered(status) => (Some(status), None),
            Ok((status, _)) if (300..400).contains(&status) => (
                Some(status),
                Some(format!(
                    "HTTP {status}: a redirect is followed only with 307 or 308 and to the same origin"
                )),
            ),
            Ok((status, excerpt)) => (Some(status), Some(format!("HTTP {status}: {excerpt}"))),
            Err(e) => (None, Some(e)),
        };
        if let Some(e) = &error {
            tracing::info!(delivery = %d.id, endpoint = %d.endpoint_id, error = %e, "webhook attempt failed");
        }
        AttemptOutcome {
            delivery_id: d.id,
            endpoint_id: d.endpoint_id,
            at,
            status,
            error,
            latency_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
            jitter: jitter(),
            attempts_before: d.attempts,
            created_at: d.created_at,
            claim: d.claim,
        }
    }

    async fn post(
        &self,
        d: &DueDelivery,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(u16, String), String> {
        let url = reqwest::Url::parse(&d.url).map_err(|e| format!("the address is not valid: {e}"))?;
        if !self.settings.allow_private_addresses
            && let Some(ip) = literal_ip(&url)
            && !is_public(ip)
        {
            return Err(format!("{ip} is a private, loopback or link-local address"));
        }
        let previous = d.previous.as_ref().map(|(s, until)| (s, *until));
        let signature = signature_header(&d.secret, previous, now, &d.message_id, d.payload.as_bytes());
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &d.message_id)
            .header("webhook-timestamp", now.timestamp().to_string())
            .header("webhook-signature", signature)
            .body(d.payload.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let excerpt = read_capped(response).await;
        Ok((status, excerpt))
    }
}

/// The first 200 characters of at most [`MAX_RESPONSE`] bytes of an answer.
async fn read_capped(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_RESPONSE {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(MAX_RESPONSE - body.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&body).chars().filter(|c| !c.is_control()).take(200).collect()
}

fn literal_ip(url: &reqwest::Url) -> Option<std::net::IpAddr> {
    match url.host()? {
        url::Host::Ipv4(a) => Some(a.into()),
        url::Host::Ipv6(a) => Some(a.into()),
        url::Host::Domain(_) => None,
    }
}

/// A transport error in words, with its cause (a refused address, a timeout).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "no answer within the timeout".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else if e.is_redirect() {
        "too many redirects".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}
