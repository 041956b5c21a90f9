//! `keyport sandbox`: Keyport for an integrator's tests. A temporary SQLite database seeded
//! with a small catalog (`sandbox/catalog.json`, or the integrator's own) and an API key
//! for every role; mails are captured, not sent; three endpoints that exist only here read
//! the mails, restore the seeded state and move the clock forward.
//!
//! - `GET /sandbox/mails?to=ADDRESS`: the captured mails, newest first, with their links.
//! - `POST /sandbox/reset`: every row back as seeded, the clock back to now, the fixed
//!   seed's sequence back to where seeding left it.
//! - `GET /sandbox/clock`, `POST /sandbox/clock` with `{"days": N}` (and/or `"hours"`):
//!   the clock every decision reads, moved forward.
//!
//! All three take the sandbox's admin key, like every staff call.

use std::path::{Path, PathBuf};

use actix_web::{HttpResponse, web};
use keyport_api::{ItemRequest, ProductRequest};
use keyport_core::{
    Actor, Channel, CoreError, DisplayName, ProductCode, ProductSpec, Role, RuleSet, RuleSetParams,
};
use keyport_rest::{ApiError, Principal};
use keyport_store::{Context, Store};
use serde::{Deserialize, Serialize};

/// The catalog seeded when no other is named.
pub const DEFAULT_CATALOG: &str = include_str!("../sandbox/catalog.json");

/// Every role, with the environment variable naming its key.
pub const ROLES: [(Role, &str); 4] = [
    (Role::Admin, "KEYPORT_SANDBOX_ADMIN_KEY"),
    (Role::Support, "KEYPORT_SANDBOX_SUPPORT_KEY"),
    (Role::Shop, "KEYPORT_SANDBOX_SHOP_KEY"),
    (Role::Portal, "KEYPORT_SANDBOX_PORTAL_KEY"),
];

/// The catalog a sandbox is seeded with: the bodies of `POST /products`, `/rule-sets` and
/// `/items`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Products, created first.
    pub products: Vec<ProductRequest>,
    /// Rule sets.
    pub rule_sets: Vec<RuleSetParams>,
    /// Items, naming the products and rule sets above.
    pub items: Vec<ItemRequest>,
}

impl Catalog {
    /// The catalog in `file`, or the default one.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Catalog> {
        let text = match file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read the catalog {}: {e}", path.display()))?,
            None => DEFAULT_CATALOG.to_owned(),
        };
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("the catalog is not valid: {e}"))
    }
}

/// The role keys chosen in `KEYPORT_SANDBOX_<ROLE>_KEY`, in the order of [`ROLES`]; `None`
/// where unset or empty (a CI secret that is not set), for a new key.
pub fn keys_from_env() -> anyhow::Result<Vec<Option<String>>> {
    ROLES
        .iter()
        .map(|(_, var)| match std::env::var(var) {
            Ok(key) if !key.trim().is_empty() => Ok(Some(key)),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(e) => Err(anyhow::anyhow!("{var}: {e}")),
        })
        .collect()
}

/// A seeded sandbox: its store, and what a reset goes back to.
pub struct Sandbox {
    store: Store,
    snapshot: PathBuf,
    /// Holds the temporary folder; it is removed when the sandbox ends.
    _dir: tempfile::TempDir,
}

impl Sandbox {
    /// Seeds the opened, empty `store` (in `dir`) with `catalog` and a key per role (the
    /// `chosen` one, in the order of [`ROLES`], or a new one), and keeps a snapshot of the
    /// result for resets. Answers the sandbox and the keys, in the order of [`ROLES`].
    pub fn seed(
        store: Store,
        dir: tempfile::TempDir,
        catalog: &Catalog,
        chosen: &[Option<String>],
    ) -> anyhow::Result<(Sandbox, Vec<String>)> {
        // Seeding is the command's own work (its events draw from the seed, unlike background work).
        let ctx = Context::new(Actor::System, Channel::Cli, store.now());
        let mut keys = Vec::with_capacity(ROLES.len());
        for ((role, var), chosen) in ROLES.iter().zip(chosen) {
            let name = DisplayName::parse(&format!("sandbox {}", role.as_str()))?;
            let made = match chosen {
                Some(key) => store.create_api_key_from(&ctx, *role, &name, key),
                None => store.create_api_key(&ctx, *role, &name),
            };
            keys.push(made.map_err(|e| anyhow::anyhow!("the {var} key: {e}"))?.key);
        }
        for p in &catalog.products {
            let spec = ProductSpec { code: ProductCode::parse(&p.code)?, name: DisplayName::parse(&p.name)? };
            store.define_product(&ctx, &spec).map_err(|e| anyhow::anyhow!("product {}: {e}", p.code))?;
        }
        for r in &catalog.rule_sets {
            let rules = RuleSet::new(r.clone()).map_err(|e| anyhow::anyhow!("rule set {}: {e}", r.name))?;
            store.define_rule_set(&ctx, &rules).map_err(|e| anyhow::anyhow!("rule set {}: {e}", r.name))?;
        }
        for i in &catalog.items {
            let spec = i.clone().parse().map_err(|e| anyhow::anyhow!("item {}: {e}", i.sku))?;
            store.define_item(&ctx, &spec).map_err(|e| anyhow::anyhow!("item {}: {e}", i.sku))?;
        }
        // Made now, so that the snapshot holds it and a reset keeps tokens valid.
        store.secret("access_token_hs256")?;
        let snapshot = dir.path().join("seeded.sqlite");
        store.backup_to(&snapshot)?;
        // The integrator's calls draw from the requests' stream, from its beginning.
        keyport_store::fixed_seed::restart_requests();
        Ok((Sandbox { store, snapshot, _dir: dir }, keys))
    }

    /// The seeded store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Puts everything back as seeded.
    pub fn reset(&self) -> Result<(), keyport_store::StoreError> {
        self.store.restore_snapshot(&self.snapshot)
    }
}

/// Registers the sandbox-only endpoints under `/sandbox`, answering every error (a bad
/// query or body, a wrong method) with a problem document like the REST API.
pub fn configure(cfg: &mut web::ServiceConfig, sandbox: web::Data<Sandbox>) {
    use keyport_rest::problem;
    let resource = |path: &str| web::resource(path).default_service(web::to(not_allowed));
    cfg.service(
        web::scope("/sandbox")
            .app_data(sandbox)
            .app_data(problem::json_config())
            .app_data(problem::query_config())
            .app_data(problem::payload_config())
            .service(resource("/mails").route(web::get().to(mails)))
            .service(resource("/reset").route(web::post().to(reset)))
            .service(resource("/clock").route(web::get().to(clock)).route(web::post().to(advance)))
            .default_service(web::to(keyport_rest::methods::no_route))
            .wrap(actix_web::middleware::from_fn(problem::localize)),
    );
}

/// A sandbox endpoint asked with a method it does not take: 405 with `Allow`.
async fn not_allowed(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    let allowed = match req.path().trim_end_matches('/') {
        "/sandbox/mails" => "GET, HEAD",
        "/sandbox/reset" => "POST",
        _ => "GET, HEAD, POST",
    };
    Err(CoreError::new(keyport_core::ErrorCode::MethodNotAllowed)
        .with("method", req.method().as_str().to_owned())
        .with("allowed", allowed)
        .into())
}

/// A captured mail.
#[derive(Debug, Serialize)]
struct MailView {
    id: String,
    to: String,
    subject: String,
    body: String,
    created_at: chrono::DateTime<chrono::Utc>,
    /// The links in the body, in order (a test follows the verification link).
    links: Vec<String>,
    /// The `List-Unsubscribe` URL (RFC 8058) of a marketing mail.
    list_unsubscribe: Option<String>,
}

/// The links in a mail's body: every word that starts with `http://` or `https://`.
pub fn links_in(body: &str) -> Vec<String> {
    body.split_whitespace()
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(|w| w.trim_end_matches(['.', ',', ')', '>', '"']).to_owned())
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MailQuery {
    to: Option<String>,
}

async fn mails(
    sandbox: web::Data<Sandbox>,
    who: Principal,
    query: web::Query<MailQuery>,
) -> Result<HttpResponse, ApiError> {
    who.staff(&[Role::Admin])?;
    let store = sandbox.store.clone();
    let found = keyport_rest::run(move || store.captured_mails(query.to.as_deref())).await?;
    let views: Vec<MailView> = found
        .into_iter()
        .map(|m| MailView {
            links: links_in(&m.body),
            id: m.id,
            to: m.to,
            subject: m.subject,
            body: m.body,
            created_at: m.created_at,
            list_unsubscribe: m.list_unsubscribe,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

async fn reset(sandbox: web::Data<Sandbox>, who: Principal) -> Result<HttpResponse, ApiError> {
    who.staff(&[Role::Admin])?;
    let kept = sandbox.clone();
    keyport_rest::run(move || kept.reset()).await?;
    tracing::info!("sandbox reset to its seeded state");
    Ok(HttpResponse::Ok().json(ClockView::of(&sandbox.store)))
}

/// The sandbox's clock.
#[derive(Debug, Serialize)]
struct ClockView {
    /// The time every decision reads.
    now: chrono::DateTime<chrono::Utc>,
    /// How far it is ahead of the system's, in seconds.
    offset_seconds: i64,
}

impl ClockView {
    fn of(store: &Store) -> ClockView {
        ClockView { now: store.now(), offset_seconds: store.clock_offset().num_seconds() }
    }
}

/// How far to move the clock.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(default)]
    days: u32,
    #[serde(default)]
    hours: u32,
}

async fn clock(sandbox: web::Data<Sandbox>, who: Principal) -> Result<HttpResponse, ApiError> {
    who.staff(&[Role::Admin])?;
    Ok(HttpResponse::Ok().json(ClockView::of(&sandbox.store)))
}

async fn advance(
    sandbox: web::Data<Sandbox>,
    who: Principal,
    body: keyport_rest::input::Json<Advance>,
) -> Result<HttpResponse, ApiError> {
    who.staff(&[Role::Admin])?;
    let hours = i64::from(body.days) * 24 + i64::from(body.hours);
    if hours == 0 {
        return Err(CoreError::invalid("days", "name days or hours to move the clock forward").into());
    }
    sandbox.store.advance_clock(chrono::Duration::hours(hours))?;
    tracing::info!(hours, "sandbox clock moved forward");
    Ok(HttpResponse::Ok().json(ClockView::of(&sandbox.store)))
}

/// The sandbox's own options (its command line).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The address to listen on; 127.0.0.1:8080 when absent.
    pub listen: Option<std::net::SocketAddr>,
    /// The base URL clients reach it at; `http://<listen address>` when absent.
    pub public_url: Option<String>,
    /// A fixed seed (else `KEYPORT_SANDBOX_SEED`, else none).
    pub seed: Option<u64>,
    /// A catalog of one's own.
    pub catalog: Option<PathBuf>,
}

/// Where the sandbox listens unless told.
pub const DEFAULT_LISTEN: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// Runs `keyport sandbox`: seeds, prints the `KEYPORT_SANDBOX_*=` lines and serves until
/// SIGINT or SIGTERM; the temporary folder is removed at the end. The database, the listen
/// address, the public URL and the mail transport are the sandbox's own, whatever the
/// environment or a configuration file say for a real server.
pub async fn serve(mut settings: crate::Settings, options: Options) -> anyhow::Result<()> {
    let Options { listen, public_url, seed, catalog } = options;
    let seed = match seed {
        Some(seed) => Some(seed),
        None => match std::env::var("KEYPORT_SANDBOX_SEED") {
            Ok(text) => Some(text.trim().parse().map_err(|_| {
                anyhow::anyhow!("KEYPORT_SANDBOX_SEED must be a whole number from 0 to 18446744073709551615")
            })?),
            Err(_) => None,
        },
    };
    let catalog = Catalog::load(catalog.as_deref())?;
    let chosen = keys_from_env()?;
    let dir = tempfile::Builder::new().prefix("keyport-sandbox-").tempdir()?;
    settings.data_dir = dir.path().to_owned();
    settings.database_url = None;
    settings.smtp = None;
    settings.webhooks.allow_private_addresses = true;
    // Releases' files in the temporary folder too, whatever a configuration says.
    settings.artifacts.storage = "file".to_owned();
    settings.artifacts.path = None;
    let wanted = listen.unwrap_or(DEFAULT_LISTEN);
    let listener =
        std::net::TcpListener::bind(wanted).map_err(|e| anyhow::anyhow!("cannot listen on {wanted}: {e}"))?;
    settings.listen = listener.local_addr()?;
    let url = public_url
        .map_or_else(|| format!("http://{}", settings.listen), |u| u.trim_end_matches('/').to_owned());
    settings.public_url = Some(url.clone());
    if let Some(seed) = seed {
        keyport_store::fixed_seed::use_fixed_seed(seed);
    }
    let opened = settings.clone();
    let sandbox = tokio::task::spawn_blocking(move || {
        let store = crate::startup::open_store(&opened, opened.server_pool())?;
        Sandbox::seed(store, dir, &catalog, &chosen)
    })
    .await??;
    let (sandbox, keys) = sandbox;
    let app = crate::Application::sandbox(&settings, listener, sandbox)?;
    // The portal's key comes last: a reader that has it has every line.
    let mut lines = format!("KEYPORT_SANDBOX_URL={url}\n");
    if let Some(seed) = seed {
        lines.push_str(&format!("KEYPORT_SANDBOX_SEED={seed}\n"));
    }
    for ((_, var), key) in ROLES.iter().zip(&keys) {
        lines.push_str(&format!("{var}={key}\n"));
    }
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(lines.as_bytes())?;
        out.flush()?;
    }
    tracing::info!(url = %url, "sandbox ready");
    app.run_until_stopped().await?;
    Ok(())
}
