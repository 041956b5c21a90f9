//! The benchmark's world: a database seeded in bulk, the real `keyport` binary started per
//! scenario, and the operations each scenario repeats.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::{Connection, RunQueryDsl};
use keyport_core::{
    Actor, Channel, DisplayName, Email, ExternalOrderNumber, Features, Fingerprint, ItemSpec, LicenseModel,
    MachineIdentity, MachineKey, OrderCustomer, OrderLine, OrderRequest, Password, ProductCode, ProductSpec,
    Role, RuleSet, RuleSetName, RuleSetParams, ShopName, Sku, VersionRange,
};
use keyport_store::{Context, DatabaseUrl, NewCustomer, Scope, Store};
use serde_json::json;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::load::{self, Stats};

/// Which database the run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A fresh database on the server `KEYPORT_TEST_POSTGRES_URL` names.
    Postgres,
}

/// The seeded database and what the scenarios need.
pub struct World {
    url: String,
    dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
    store: Store,
    bin: PathBuf,
    run: String,
    admin_key: String,
    sku: String,
    activation_customer: Uuid,
    activation_licenses: Arc<Vec<Uuid>>,
    webhook_licenses: Arc<Vec<Uuid>>,
    tokens: Mutex<Option<(String, String)>>,
    seeded: Mutex<u64>,
}

fn ctx() -> Context {
    Context::new(Actor::System, Channel::Cli, Utc::now())
}

fn bad(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The `keyport` binary to measure: `KEYPORT_BIN` when set; under `cargo run`, the binary
/// of this profile, built first; otherwise the `keyport` next to this executable (an
/// installed pair needs no cargo).
fn server_binary() -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("KEYPORT_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let me = std::env::current_exe()?;
    let dir = me.parent().ok_or_else(|| bad("no executable folder"))?.to_path_buf();
    let Some(cargo_bin) = std::env::var_os("CARGO") else {
        let beside = dir.join("keyport");
        anyhow::ensure!(
            beside.exists(),
            "no keyport binary next to keyport-bench: set KEYPORT_BIN=/path/to/keyport or run it with cargo run"
        );
        return Ok(beside);
    };
    let release = dir.file_name().is_some_and(|n| n == "release");
    let mut cargo = std::process::Command::new(cargo_bin);
    cargo.args(["build", "-q", "-p", "keyport-server"]);
    if release {
        cargo.arg("--release");
    }
    anyhow::ensure!(cargo.status()?.success(), "building keyport failed");
    Ok(dir.join("keyport"))
}

/// One client's activation over REST: the n-th activates license `n % len` on machine
/// `n + offset`.
struct Activate {
    client: reqwest::Client,
    base: String,
    token: String,
    licenses: Arc<Vec<Uuid>>,
    offset: u64,
}

impl Activate {
    fn send(&self, n: u64) -> impl std::future::Future<Output = load::Outcome> + Send + use<> {
        let license = self.licenses[usize::try_from(n).unwrap_or(0) % self.licenses.len()];
        let m = machine(n + self.offset);
        let body = json!({"fingerprint": m.fingerprint.as_str(), "machine_key": m.key.to_string()});
        let request = self
            .client
            .post(format!("{}/api/v1/me/licenses/{license}/activations", self.base))
            .bearer_auth(&self.token)
            .json(&body);
        load::send(request, |status| status.is_success())
    }
}

#[expect(
    clippy::expect_used,
    reason = "29 characters of letters, digits, ':' and '-' always make a fingerprint"
)]
fn machine(n: u64) -> MachineIdentity {
    let mut key = [7u8; 32];
    key[..8].copy_from_slice(&n.to_be_bytes());
    MachineIdentity {
        fingerprint: Fingerprint::parse(&format!("sha256:bench-{n:016x}")).expect("a valid fingerprint"),
        key: MachineKey::from_bytes(key),
    }
}

/// A memory figure of a process from `/proc/<pid>/status` (`VmRSS`, `VmHWM`), MB.
fn status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// A machine whose key can sign: the seed and its identity.
fn signing_machine(n: u64) -> ([u8; 32], MachineIdentity) {
    let mut seed = [9u8; 32];
    seed[..8].copy_from_slice(&n.to_be_bytes());
    let m = machine(n | (1 << 50));
    (seed, MachineIdentity { key: MachineKey::from_bytes(keyport_core::jws::public_key(&seed)), ..m })
}

/// Activations on machines whose keys sign, for the check-in scenario: (seed, license,
/// activation, the newest check-in time used).
type Field = Vec<([u8; 32], Uuid, Uuid, std::sync::atomic::AtomicI64)>;

/// A started `keyport serve` (stopped when dropped).
pub struct Server {
    /// Its address, `http://127.0.0.1:<port>`.
    pub base: String,
    child: tokio::process::Child,
}

impl Server {
    /// The server's peak resident memory so far, MB.
    pub fn peak_rss_mb(&self) -> Option<f64> {
        status_mb(self.child.id()?, "VmHWM:")
    }
}

impl World {
    /// Creates and seeds the database.
    pub async fn prepare(backend: Backend, scale: u64, quick: bool) -> anyhow::Result<World> {
        let bin = tokio::task::spawn_blocking(server_binary).await??;
        let dir = tempfile::tempdir()?;
        let (url, postgres) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.path().join("keyport.db").display()), None),
            Backend::Postgres => {
                let admin = std::env::var("KEYPORT_TEST_POSTGRES_URL")
                    .map_err(|_| bad("--backend postgres needs KEYPORT_TEST_POSTGRES_URL (a server URL)"))?;
                let name = format!("keyport_bench_{}", std::process::id());
                let mut conn = diesel::PgConnection::establish(&admin)?;
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn)?;
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(admin.clone());
                (format!("{base}/{name}"), Some((admin, name)))
            }
        };
        let store = Store::open(&DatabaseUrl::parse(&url)?, keyport_store::PoolOptions::server(16))?;
        store.ensure_signing_key()?;
        let (sku, admin_key, activation_customer, activation_licenses, webhook_licenses) =
            tokio::task::spawn_blocking({
                let store = store.clone();
                move || {
                    let (sku, key, customer, licenses) = seed(&store, scale, quick)?;
                    let webhook = seed_webhook_licenses(&store, &sku, scale)?;
                    anyhow::Ok((sku, key, customer, licenses, webhook))
                }
            })
            .await??;
        let seeded = 2 * scale + 10;
        Ok(World {
            url,
            dir,
            postgres,
            store,
            bin,
            run: Uuid::now_v7().simple().to_string()[..8].to_owned(),
            admin_key,
            sku,
            activation_customer,
            activation_licenses: Arc::new(activation_licenses),
            webhook_licenses: Arc::new(webhook_licenses),
            tokens: Mutex::new(None),
            seeded: Mutex::new(seeded),
        })
    }

    /// Adds filler licenses until the database holds about `total`.
    pub async fn fill_to(&self, total: u64) -> anyhow::Result<()> {
        let mut seeded = self.seeded.lock().await;
        if *seeded < total {
            let (store, sku, more) = (self.store.clone(), self.sku.clone(), total - *seeded);
            let started = Instant::now();
            tokio::task::spawn_blocking(move || store.seed_filler_licenses(&ctx(), &sku, more)).await??;
            eprintln!("   seeded {more} licenses in {:.1} s", started.elapsed().as_secs_f64());
            *seeded = total;
        }
        Ok(())
    }

    async fn start(&self, config: Option<&std::path::Path>) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut command = tokio::process::Command::new(&self.bin);
        command.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", &self.url]);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let child = command
            .arg("--data-dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let base = format!("http://127.0.0.1:{port}");
        crate::starts::ready(&reqwest::Client::new(), &base, Instant::now()).await?;
        Ok(Server { base, child })
    }

    async fn login(&self, base: &str) -> anyhow::Result<(String, String)> {
        let mut tokens = self.tokens.lock().await;
        if let Some(t) = tokens.clone() {
            return Ok(t);
        }
        let pair = (
            login(base, "activate@bench.example", "bench password 1").await?,
            login(base, "list@bench.example", "bench password 1").await?,
        );
        *tokens = Some(pair.clone());
        Ok(pair)
    }

    /// Runs one scenario on a freshly started server.
    pub async fn run(&self, name: &str, duration: Duration, concurrency: usize) -> anyhow::Result<Stats> {
        if name == "checkin-store" {
            let field = Arc::new(self.field(if concurrency <= 4 { 50 } else { 1000 }).await?);
            let store = self.store.clone();
            return Ok(load::run(concurrency, duration, move |n| {
                let proof = field_check_in(&field, n);
                let store = store.clone();
                async move {
                    tokio::task::spawn_blocking(move || store.check_in(Utc::now(), &proof).is_ok())
                        .await
                        .unwrap_or(false)
                }
            })
            .await);
        }
        if name == "activate-store" {
            let (store, customer, licenses) =
                (self.store.clone(), self.activation_customer, self.activation_licenses.clone());
            return Ok(load::run(concurrency, duration, move |n| {
                let (store, licenses) = (store.clone(), licenses.clone());
                async move {
                    let license = licenses[usize::try_from(n).unwrap_or(0) % licenses.len()];
                    tokio::task::spawn_blocking(move || {
                        store
                            .activate(&ctx(), Scope::Customer(customer), license, &machine(n + (1 << 40)))
                            .is_ok()
                    })
                    .await
                    .unwrap_or(false)
                }
            })
            .await);
        }
        let webhooks = name == "webhooks-activate";
        let mut server = self.serve_clients(webhooks).await?;
        let (activate_token, list_token) = self.login(&server.base).await?;
        let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
        let base = server.base.clone();
        let receiver = if webhooks { Some(self.subscribe(&client, &base, 3).await?) } else { None };
        let stats = match name {
            "checkin" => {
                let field = Arc::new(self.field(if concurrency <= 4 { 50 } else { 1000 }).await?);
                load::run(concurrency, duration, move |n| {
                    let proof = field_check_in(&field, n);
                    let request =
                        client.post(format!("{base}/api/v1/checkins")).json(&json!({"proof": proof}));
                    load::send(request, |status| status.is_success())
                })
                .await
            }
            "healthz" => {
                load::run(concurrency, duration, move |_| {
                    let (client, url) = (client.clone(), format!("{base}/healthz"));
                    load::send(client.get(url), |status| status.is_success())
                })
                .await
            }
            "activate-rest" | "webhooks-activate" => {
                let licenses =
                    if webhooks { self.webhook_licenses.clone() } else { self.activation_licenses.clone() };
                // Other machines than activate-rest's: every activation takes a new seat.
                let offset = if webhooks { 1 << 45 } else { 0 };
                let activate = Activate { client, base, token: activate_token, licenses, offset };
                load::run(concurrency, duration, move |n| activate.send(n)).await
            }
            "list-licenses" => {
                load::run(concurrency, duration, move |_| {
                    let request = client.get(format!("{base}/api/v1/me/licenses")).bearer_auth(&list_token);
                    load::send(request, |status| status.is_success())
                })
                .await
            }
            "order-rest" => {
                let (key, sku, run) = (self.admin_key.clone(), self.sku.clone(), self.run.clone());
                load::run(concurrency, duration, move |n| {
                    let body = json!({"shop": "bench-rest", "external_order_number": format!("R-{run}-{n}"),
                                      "lines": [{"line_number": 1, "sku": sku, "quantity": 1}]});
                    let request = client.post(format!("{base}/api/v1/orders")).bearer_auth(&key).json(&body);
                    load::send(request, |status| status.as_u16() == 201)
                })
                .await
            }
            "order-soap" => {
                let (key, sku, run) = (self.admin_key.clone(), self.sku.clone(), self.run.clone());
                load::run(concurrency, duration, move |n| {
                    let envelope = format!(
                        "<e:Envelope xmlns:e=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:k=\"urn:keyport:soap:v1\"><e:Body>\
                         <k:CreateOrder><k:shop>bench-soap</k:shop><k:externalOrderNumber>S-{run}-{n}</k:externalOrderNumber>\
                         <k:line><k:lineNumber>1</k:lineNumber><k:sku>{sku}</k:sku><k:quantity>1</k:quantity></k:line>\
                         </k:CreateOrder></e:Body></e:Envelope>"
                    );
                    let request = client
                        .post(format!("{base}/soap"))
                        .basic_auth("bench", Some(&key))
                        .header("Content-Type", "text/xml; charset=utf-8")
                        .body(envelope);
                    load::send(request, |status| status.is_success())
                })
                .await
            }
            other => anyhow::bail!("unknown scenario {other}"),
        };
        let peak = server.peak_rss_mb();
        if let Some(received) = receiver {
            // Deliveries wait during a peak and catch up after it: how long that takes.
            let count = || received.load(std::sync::atomic::Ordering::Relaxed);
            let (at_end, ended) = (count(), Instant::now());
            let (mut last, mut still) = (at_end, 0);
            while still < 4 && ended.elapsed() < Duration::from_secs(180) {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let now = count();
                still = if now == last { still + 1 } else { 0 };
                last = now;
            }
            let drained = ended.elapsed().as_secs_f64() - 2.0;
            eprintln!("   webhook deliveries: {at_end} during the run, all {last} {drained:.1} s after it");
        }
        let _ = server.child.kill().await;
        Ok(Stats { peak_rss_mb: peak, ..stats })
    }

    /// `activate-rest` at each number of clients in `levels`, each on a fresh server (the
    /// instance's bound `max_in_flight` as configured by default) with licenses and machines
    /// of its own: how the rate and the latency hold when more clients come than the
    /// instance admits. Refused clients wait as `Retry-After` tells them.
    pub async fn overload(
        &self,
        duration: Duration,
        levels: &[usize],
    ) -> anyhow::Result<Vec<(String, Stats)>> {
        let share = (self.activation_licenses.len() / levels.len().max(1)).max(1);
        let mut out = Vec::new();
        for (i, &clients) in levels.iter().enumerate() {
            let server = self.serve_clients(false).await?;
            let (token, _) = self.login(&server.base).await?;
            let licenses: Vec<Uuid> =
                self.activation_licenses.iter().skip(i * share).take(share).copied().collect();
            let activate = Activate {
                client: reqwest::Client::builder().pool_max_idle_per_host(clients).build()?,
                base: server.base.clone(),
                token,
                licenses: Arc::new(licenses),
                // Machines of their own: every activation takes a new seat.
                offset: (1 << 41) + (u64::try_from(i).unwrap_or(0) << 36),
            };
            let stats = load::run(clients, duration, move |n| activate.send(n)).await;
            let stats = Stats { peak_rss_mb: server.peak_rss_mb(), ..stats };
            eprintln!("   overload@{clients}: {}", stats.summary());
            out.push((format!("overload@{clients}"), stats));
        }
        Ok(out)
    }

    /// Starts a receiver that answers every post 204 and registers `endpoints` endpoints
    /// for it, each for every event; answers the count of posts received.
    async fn subscribe(
        &self,
        client: &reqwest::Client,
        base: &str,
        endpoints: usize,
    ) -> anyhow::Result<Arc<std::sync::atomic::AtomicU64>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
        tokio::spawn(receive(listener, received.clone()));
        for n in 0..endpoints {
            let body = json!({"url": format!("http://127.0.0.1:{port}/hook/{n}"), "description": "bench"});
            client
                .post(format!("{base}/api/v1/webhook-endpoints"))
                .bearer_auth(&self.admin_key)
                .json(&body)
                .send()
                .await?
                .error_for_status()?;
        }
        Ok(received)
    }

    /// Concurrent downloads of one artifact through Keyport's signed link, then of the same
    /// file from Python's `http.server` (the anchor): `[download, download-static]`.
    pub async fn downloads(&self, concurrency: usize, quick: bool) -> anyhow::Result<Vec<(String, Stats)>> {
        let size: u64 = if quick { 8 << 20 } else { 1 << 30 };
        let files = tempfile::tempdir()?;
        let name = "keyport-bench.bin";
        let file = files.path().join(name);
        crate::downloads::make_file(&file, size).await?;
        let config = self.dir.path().join("bench-downloads.toml");
        // Every client logs in with a ticket from 127.0.0.1: the per-address limits are lifted.
        std::fs::write(
            &config,
            "[http]\nrequests_per_address = 100000\n[limits]\nticket_logins_per_address = 100000\n",
        )?;
        let mut server = self.start(Some(&config)).await?;
        let base = server.base.clone();
        let client = reqwest::Client::new();
        let item = self.store.get_item(&self.sku).map_err(bad)?;
        let version = format!("{}.{}.0", item.version_min, Utc::now().timestamp());
        let release: serde_json::Value = client
            .post(format!("{base}/api/v1/releases"))
            .bearer_auth(&self.admin_key)
            .json(&json!({"product": item.product_code, "version": version}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = release["id"].as_str().unwrap_or_default().to_owned();
        let upload = format!("{base}/api/v1/releases/{id}/artifacts?os=linux&arch=x86_64&file_name={name}");
        crate::downloads::upload(&upload, &self.admin_key, &file).await?;
        client
            .post(format!("{base}/api/v1/releases/{id}/publish"))
            .bearer_auth(&self.admin_key)
            .send()
            .await?
            .error_for_status()?;
        // A buyer per client (one holder of links runs at most 16 downloads at once), each
        // with a ticket login: a password login's hash would leave its memory in the server.
        let mut urls = Vec::new();
        for n in 0..concurrency {
            let order = json!({"shop": "bench", "external_order_number": format!("D-{version}-{n}"),
                               "lines": [{"line_number": 1, "sku": self.sku, "quantity": 1}]});
            let order: serde_json::Value = client
                .post(format!("{base}/api/v1/orders"))
                .bearer_auth(&self.admin_key)
                .json(&order)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let login: keyport_api::TokenResponse = client
                .post(format!("{base}/api/v1/auth/ticket-login"))
                .json(&json!({"ticket_code": order["order"]["ticket_code"]}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let listed: serde_json::Value = client
                .get(format!("{base}/api/v1/me/downloads?product={}&limit=1", item.product_code))
                .bearer_auth(&login.access_token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let url = listed["products"][0]["releases"][0]["artifacts"][0]["download_url"]
                .as_str()
                .ok_or_else(|| bad(format!("no download link in {listed}")))?
                .to_owned();
            urls.push(url);
        }
        // The server's resident memory while the downloads run (its high-water mark would
        // also count the login's password hash), sampled every 20 ms.
        let pid = server.child.id().unwrap_or_default();
        let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let sampler = tokio::spawn({
            let sampling = sampling.clone();
            async move {
                let mut peak: Option<f64> = None;
                while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                    peak = match (peak, status_mb(pid, "VmRSS:")) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                peak
            }
        });
        let keyport = crate::downloads::fetch_all(&urls, size).await?;
        sampling.store(false, std::sync::atomic::Ordering::Relaxed);
        let keyport = Stats { peak_rss_mb: sampler.await?, ..keyport };
        let _ = server.child.kill().await;
        let (_python, static_base) = crate::downloads::static_server(files.path()).await?;
        let anchor =
            crate::downloads::fetch_all(&vec![format!("{static_base}/{name}"); concurrency], size).await?;
        Ok(vec![("download MB/s".to_owned(), keyport), ("download-static MB/s".to_owned(), anchor)])
    }

    /// Activates `count` licenses on machines whose keys sign (in the store, before the clock
    /// starts).
    async fn field(&self, count: usize) -> anyhow::Result<Field> {
        let (store, customer) = (self.store.clone(), self.activation_customer);
        let licenses: Vec<Uuid> = self.activation_licenses.iter().copied().take(count).collect();
        let run = u64::from_str_radix(&self.run, 16).unwrap_or(0) << 20;
        tokio::task::spawn_blocking(move || {
            licenses
                .into_iter()
                .enumerate()
                .map(|(i, license)| {
                    let (seed, m) = signing_machine(run + i as u64);
                    let outcome = store.activate(&ctx(), Scope::Customer(customer), license, &m)?;
                    Ok((seed, license, outcome.activation.id, std::sync::atomic::AtomicI64::new(0)))
                })
                .collect::<anyhow::Result<Field>>()
        })
        .await?
    }

    /// PostgreSQL's own `pgbench -N` beside this database, if it is on PostgreSQL.
    pub async fn pgbench(
        &self,
        concurrency: usize,
        duration: Duration,
        quick: bool,
    ) -> anyhow::Result<Option<Stats>> {
        let Some((admin, _)) = &self.postgres else { return Ok(None) };
        if tokio::process::Command::new("pgbench").arg("--version").output().await.is_err() {
            eprintln!(
                "   pgbench: not installed (Debian: postgresql-contrib or the server package); skipped"
            );
            return Ok(None);
        }
        let dir = tempfile::tempdir()?;
        crate::pgbench::measure(admin, dir.path(), concurrency, duration, quick).await.map(Some)
    }

    /// Starts `keyport sandbox` (or `keyport serve` on this database) `runs` times and
    /// reports the times to ready.
    pub async fn starts(&self, sandbox: bool, runs: usize) -> anyhow::Result<Stats> {
        let what = if sandbox {
            crate::starts::Start::Sandbox
        } else {
            crate::starts::Start::Serve { url: &self.url, dir: self.dir.path() }
        };
        crate::starts::measure(&self.bin, what, runs).await
    }

    /// Runs `f` with the store on a blocking thread.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store, Context) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store, ctx())).await?
    }

    /// A customer who bought `licenses` of the bench's item over the years (orders of ten,
    /// their numbers starting with `orders`), with a password to log in with.
    pub fn customer_with_licenses(
        store: &Store,
        ctx: &Context,
        (email, name, password): (&str, &str, &str),
        orders: &str,
        sku: &str,
        licenses: u32,
    ) -> anyhow::Result<()> {
        use keyport_core::{
            DisplayName, Email, ExternalOrderNumber, OrderCustomer, OrderLine, OrderRequest, Password,
            ShopName, Sku,
        };
        let new = keyport_store::NewCustomer {
            email: Email::parse(email)?,
            name: DisplayName::parse(name)?,
            customer_number: None,
            password: Some(Password::parse(password)?),
        };
        store.create_customer(ctx, &new)?;
        for order in 0..licenses / 10 {
            let request = OrderRequest::new(
                ShopName::parse("bench")?,
                ExternalOrderNumber::parse(&format!("{orders}-{order}"))?,
                OrderCustomer::ByEmail(Email::parse(email)?),
                vec![OrderLine::new(1, Sku::parse(sku)?, 10)?],
            )?;
            store.create_order(ctx, &request)?;
        }
        Ok(())
    }

    /// Refreshes the database's planner statistics after bulk seeding (what autovacuum, or
    /// an operator after an import, does).
    pub async fn analyze(&self) -> anyhow::Result<()> {
        self.blocking(|store, _| Ok(store.refresh_statistics()?)).await
    }

    /// Starts a server on the benchmark's database with the default settings.
    pub async fn serve(&self) -> anyhow::Result<Server> {
        self.start(None).await
    }

    /// Starts a server for many clients on one address: every bench client comes from
    /// 127.0.0.1 and stands for a client of its own, so the per-address cap is lifted; the
    /// instance's own bound (`max_in_flight`) stays. `webhooks`: endpoints on 127.0.0.1 allowed.
    pub async fn serve_clients(&self, webhooks: bool) -> anyhow::Result<Server> {
        let path = self.dir.path().join("bench.toml");
        let mut config = "[http]\nrequests_per_address = 100000\n".to_owned();
        if webhooks {
            config.push_str("[webhooks]\nallow_private_addresses = true\n");
        }
        std::fs::write(&path, config)?;
        self.start(Some(&path)).await
    }

    /// The item every seeded license is of (product `bench`).
    pub fn sku(&self) -> &str {
        &self.sku
    }

    /// The admin key.
    pub fn admin_key(&self) -> &str {
        &self.admin_key
    }

    /// Drops the scratch PostgreSQL database, if one was made, unless `KEYPORT_BENCH_KEEP_DATABASE` is set
    /// (to look at the seeded data and the query plans afterwards).
    pub async fn finish(self) {
        drop(self.store);
        if let Some((_, name)) = &self.postgres
            && std::env::var_os("KEYPORT_BENCH_KEEP_DATABASE").is_some()
        {
            eprintln!("kept the database {name}");
            return;
        }
        if let Some((admin, name)) = self.postgres {
            let _ = tokio::task::spawn_blocking(move || {
                if let Ok(mut conn) = diesel::PgConnection::establish(&admin) {
                    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn);
                }
            })
            .await;
        }
    }
}

/// An access token for a customer's e-mail address and password.
pub async fn login(base: &str, email: &str, password: &str) -> anyhow::Result<String> {
    let body = keyport_api::LoginRequest { email: email.to_owned(), password: password.to_owned() };
    let reply: keyport_api::TokenResponse = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(reply.access_token)
}

/// The next check-in of the `n`-th operation: the activations in turn, each only with newer
/// times (never the same millisecond twice).
fn field_check_in(field: &Field, n: u64) -> String {
    let (seed, license, activation, last) = &field[usize::try_from(n).unwrap_or(0) % field.len()];
    let now = Utc::now().timestamp_millis();
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    let previous = last.fetch_update(relaxed, relaxed, |l| Some(now.max(l + 1))).unwrap_or(now);
    check_in(seed, *license, *activation, now.max(previous + 1))
}

#[expect(clippy::expect_used, reason = "the bench's own statement always signs")]
fn check_in(seed: &[u8; 32], license_id: Uuid, activation_id: Uuid, at_ms: i64) -> String {
    let statement = keyport_core::checkin::CheckIn {
        activation_id,
        license_id,
        machine_key: MachineKey::from_bytes(keyport_core::jws::public_key(seed)).to_string(),
        at_ms,
        queued: false,
        report: keyport_core::checkin::ClientReport {
            version: "5.1.0".to_owned(),
            os: "linux".to_owned(),
            os_version: "12".to_owned(),
            arch: "x86_64".to_owned(),
            locale: "en-US".to_owned(),
        },
    };
    keyport_core::files::write(&statement, seed).expect("a signed check-in")
}

/// The catalog, an admin key, two customers (one with `scale` licenses to activate, one with
/// ten to list).
fn seed(store: &Store, scale: u64, _quick: bool) -> anyhow::Result<(String, String, Uuid, Vec<Uuid>)> {
    let c = ctx();
    store.define_product(
        &c,
        &ProductSpec { code: ProductCode::parse("bench")?, name: DisplayName::parse("Bench")? },
    )?;
    let rules = RuleSet::new(RuleSetParams {
        name: "bench".to_owned(),
        seats: 10_000,
        deactivation_allowed: true,
        offline_allowed: true,
        initial_credits: 1,
        blocking_days: 0,
        replenish_credits: 1,
        replenish_every_days: 30,
        credit_cap: 3,
        emergency_days: 14,
        emergency_per_year: 1,
        // Check-ins renew the certificate's lease: the check-in scenarios measure the signing too.
        checkin_interval_days: Some(30),
        checkin_grace_days: 0,
    })?;
    store.define_rule_set(&c, &rules)?;
    let sku = "BENCH-1".to_owned();
    define_item(store, "bench", &sku)?;
    let admin_key = store.create_api_key(&c, Role::Admin, &DisplayName::parse("bench")?)?.key;
    let mut customers = Vec::new();
    for email in ["activate@bench.example", "list@bench.example"] {
        let new = NewCustomer {
            email: Email::parse(email)?,
            name: DisplayName::parse("Bench")?,
            customer_number: None,
            password: Some(Password::parse("bench password 1")?),
        };
        customers.push(store.create_customer(&c, &new)?);
    }
    let order = |email: &str, number: &str, total: u64| -> anyhow::Result<Vec<Uuid>> {
        let mut lines = Vec::new();
        let mut left = total;
        let mut line = 1;
        while left > 0 {
            let q = left.min(1000);
            lines.push(OrderLine::new(line, Sku::parse(&sku)?, u32::try_from(q)?)?);
            left -= q;
            line += 1;
        }
        let request = OrderRequest::new(
            ShopName::parse("bench")?,
            ExternalOrderNumber::parse(number)?,
            OrderCustomer::ByEmail(Email::parse(email)?),
            lines,
        )?;
        let outcome = store.create_order(&c, &request)?;
        Ok(outcome.order.lines.into_iter().flat_map(|l| l.license_ids).collect())
    };
    let mut activation = Vec::new();
    let mut part = 0;
    while (activation.len() as u64) < scale {
        let want = (scale - activation.len() as u64).min(500_000);
        activation.extend(order("activate@bench.example", &format!("A-{part}"), want)?);
        part += 1;
    }
    order("list@bench.example", "L-1", 10)?;
    Ok((sku, admin_key, customers[0].id, activation))
}

/// Defines a perpetual item `sku` of `product` (which exists) under the rule set `bench`.
pub fn define_item(store: &Store, product: &str, sku: &str) -> anyhow::Result<()> {
    store.define_item(
        &ctx(),
        &ItemSpec {
            sku: Sku::parse(sku)?,
            product: ProductCode::parse(product)?,
            name: DisplayName::parse(&format!("{sku} item"))?,
            model: LicenseModel::Perpetual,
            features: Features::new(["export"])?,
            versions: VersionRange::new(1, None)?,
            rule_set: RuleSetName::parse("bench")?,
            self_service: false,
            upgrade_from: Vec::new(),
        },
    )?;
    Ok(())
}

/// As many licenses again for `webhooks-activate`, so that it starts, as `activate-rest`
/// does, on licenses no scenario has activated (histories grow with each activation).
fn seed_webhook_licenses(store: &Store, sku: &str, scale: u64) -> anyhow::Result<Vec<Uuid>> {
    let c = ctx();
    let mut licenses = Vec::new();
    let mut part = 0;
    while (licenses.len() as u64) < scale {
        let mut lines = Vec::new();
        let mut left = (scale - licenses.len() as u64).min(500_000);
        let mut line = 1;
        while left > 0 {
            let q = left.min(1000);
            lines.push(OrderLine::new(line, Sku::parse(sku)?, u32::try_from(q)?)?);
            left -= q;
            line += 1;
        }
        let request = OrderRequest::new(
            ShopName::parse("bench")?,
            ExternalOrderNumber::parse(&format!("W-{part}"))?,
            OrderCustomer::ByEmail(Email::parse("activate@bench.example")?),
            lines,
        )?;
        licenses
            .extend(store.create_order(&c, &request)?.order.lines.into_iter().flat_map(|l| l.license_ids));
        part += 1;
    }
    Ok(licenses)
}

/// A webhook receiver as small as it gets: HTTP/1.1 with keep-alive, every post answered 204.
async fn receive(listener: tokio::net::TcpListener, received: Arc<std::sync::atomic::AtomicU64>) {
    while let Ok((stream, _)) = listener.accept().await {
        let received = received.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = stream;
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 16 * 1024];
            loop {
                let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                    }
                    continue;
                };
                let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buffer.len() < end + 4 + length {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                    }
                }
                buffer.drain(..end + 4 + length);
                received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if stream.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await.is_err() {
                    return;
                }
            }
        });
    }
}
