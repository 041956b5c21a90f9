//! Building and running the HTTP application.

use std::net::TcpListener;

use actix_web::dev::{Server, Service};
use actix_web::http::header::{HeaderName, HeaderValue, LOCATION};
use actix_web::{App, HttpMessage, HttpResponse, HttpServer, web};
use keyport_rest::{Identity, RestState};

use crate::mailer::Mailer;
use keyport_soap::SoapState;
use keyport_store::{PoolOptions, Store};
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa_swagger_ui::SwaggerUi;

use std::time::Duration;

use crate::guards::Guards;
use crate::health;
use crate::proxies::TrustedProxies;
use crate::settings::Settings;

/// The response header that carries the request id (also in every log line of the request).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The largest request body accepted, in bytes (REST's JSON limit).
pub const BODY_LIMIT: usize = keyport_rest::problem::JSON_LIMIT;

/// The most of a body the guards read before the handler sees it: the largest any
/// handler accepts (SOAP's), so every accepted body arrives under the body deadline.
const GUARDED_BODY: usize = if keyport_soap::service::BODY_LIMIT > BODY_LIMIT {
    keyport_soap::service::BODY_LIMIT
} else {
    BODY_LIMIT
};

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    workers: Option<Workers>,
    /// The artifact folder of [`Application::with_store`], removed with the application.
    _artifacts: Option<tempfile::TempDir>,
}

/// How the server meets its clients.
struct Front {
    metrics: crate::metrics::MetricsAccess,
    public_url: Option<String>,
    identity: Identity,
    trusted: TrustedProxies,
    guards: Guards,
    head_timeout: Duration,
    /// The sandbox's own endpoints, in `keyport sandbox` only.
    sandbox: Option<web::Data<crate::sandbox::Sandbox>>,
    /// Releases' files.
    delivery: Option<keyport_rest::Delivery>,
    /// The web depot's corporate design and framing.
    depot: crate::settings::DepotLook,
}

impl Default for Front {
    fn default() -> Self {
        let http = crate::settings::HttpSettings::default();
        Front {
            metrics: crate::metrics::MetricsAccess::default(),
            public_url: None,
            identity: Identity::default(),
            trusted: TrustedProxies::default(),
            guards: Guards::new(
                Duration::from_millis(http.body_timeout_ms),
                BODY_LIMIT,
                http.requests_per_address,
                http.max_in_flight,
            ),
            head_timeout: Duration::from_millis(http.head_timeout_ms),
            sandbox: None,
            delivery: None,
            depot: crate::settings::DepotLook::default(),
        }
    }
}

/// The depot's single sign-on hand-off checks tokens as `POST /api/v1/auth/sso` does, with
/// the same trusted issuers.
fn sso_check(issuers: Vec<keyport_rest::sso::Issuer>) -> keyport_depot::SsoCheck {
    keyport_depot::SsoCheck(std::sync::Arc::new(move |token| {
        let identity = keyport_rest::sso::verify(token, &issuers)?;
        let (email, name) = identity.login_facts()?;
        Ok(keyport_depot::SsoLogin {
            issuer: identity.issuer,
            subject: identity.subject.as_str().to_owned(),
            email,
            name,
        })
    }))
}

/// The background jobs `keyport serve` runs beside the HTTP server.
struct Workers {
    store: Store,
    /// The mail worker; none in the sandbox, which keeps mails in the outbox to show them.
    mailer: Option<Mailer>,
    webhooks: Option<crate::webhooks::Sender>,
    /// What the pruner keeps and how often it runs; none in the sandbox, which is too
    /// short-lived to need it and whose seeded ids are dated at a fixed day.
    prune: Option<(keyport_store::Retention, std::time::Duration)>,
    /// The artifact storage, whose broken-off uploads are swept.
    artifacts: Option<keyport_artifacts::ArtifactStorage>,
}

impl Application {
    /// Opens the store (creating the data folder and migrating), binds the listen address
    /// and prepares the server. Port 0 picks a free port; see [`Application::port`].
    pub fn build(settings: &Settings) -> anyhow::Result<Application> {
        let store = open_store(settings, settings.server_pool())?;
        let listener = TcpListener::bind(settings.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
        Application::assemble(settings, listener, store, None)
    }

    /// Serves a seeded sandbox on a bound listener: its store, its own endpoints, no mail
    /// worker (mails stay in the outbox, where `/sandbox/mails` reads them), no pruner.
    pub fn sandbox(
        settings: &Settings,
        listener: TcpListener,
        sandbox: crate::sandbox::Sandbox,
    ) -> anyhow::Result<Application> {
        let store = sandbox.store().clone();
        Application::assemble(settings, listener, store, Some(web::Data::new(sandbox)))
    }

    fn assemble(
        settings: &Settings,
        listener: TcpListener,
        store: Store,
        sandbox: Option<web::Data<crate::sandbox::Sandbox>>,
    ) -> anyhow::Result<Application> {
        let in_sandbox = sandbox.is_some();
        let identity = crate::identity::identity(settings)?;
        let mailer = Mailer::from_settings(settings)?;
        let delivery = settings.delivery()?;
        let artifacts = delivery.storage.clone();
        let front = Front {
            metrics: crate::metrics::MetricsAccess(settings.metrics_token.clone()),
            public_url: settings.public_url.clone(),
            identity,
            trusted: TrustedProxies(settings.trusted_proxies.clone()),
            guards: Guards::new(
                Duration::from_millis(settings.http.body_timeout_ms.max(1)),
                GUARDED_BODY,
                settings.http.requests_per_address,
                settings.http.max_in_flight,
            ),
            head_timeout: Duration::from_millis(settings.http.head_timeout_ms.max(1)),
            sandbox,
            delivery: Some(delivery),
            depot: settings.depot.look()?,
        };
        let mut app = Application::serve(listener, store.clone(), front)?;
        let webhooks =
            settings.webhooks.send.then(|| crate::webhooks::Sender::new(&settings.webhooks)).transpose()?;
        let prune_every =
            std::time::Duration::from_secs(u64::from(settings.retention.prune_every_seconds.max(1)));
        app.workers = Some(Workers {
            store,
            mailer: (!in_sandbox).then_some(mailer),
            webhooks,
            prune: (!in_sandbox).then(|| (settings.retention.retention(&settings.limits), prune_every)),
            artifacts: Some(artifacts),
        });
        Ok(app)
    }

    /// Serves an opened store on a bound listener with default identity settings and no
    /// mail worker (mails stay in the outbox); the WSDL names the request's host.
    /// Releases' files go to a temporary folder removed with the application.
    pub fn with_store(listener: TcpListener, store: Store) -> anyhow::Result<Application> {
        let folder = tempfile::tempdir()?;
        let storage = keyport_artifacts::ArtifactStorage::local(&folder.path().join("artifacts"))?;
        let front = Front { delivery: Some(keyport_rest::Delivery::new(storage, None)), ..Front::default() };
        let mut app = Application::serve(listener, store, front)?;
        app._artifacts = Some(folder);
        Ok(app)
    }

    fn serve(listener: TcpListener, store: Store, front: Front) -> anyhow::Result<Application> {
        let Front { metrics, public_url, identity, trusted, guards, head_timeout, sandbox, delivery, depot } =
            front;
        let depot = web::Data::new(keyport_depot::Depot::new(
            store.clone(),
            keyport_depot::DepotSettings {
                links: identity.links.clone(),
                limits: identity.limits,
                secure_cookies: public_url.as_deref().is_some_and(|u| u.starts_with("https://")),
                frame_ancestors: depot.frame_ancestors,
                theme: depot.theme,
                sso: Some(sso_check(identity.issuers.clone())),
                demo: identity.demo.clone(),
                download_links: delivery
                    .as_ref()
                    .map(|d| keyport_depot::LinkBase { public_url: public_url.clone(), ttl: d.link_ttl }),
            },
        )?);
        let (trusted, guards, metrics) =
            (web::Data::new(trusted), web::Data::new(guards), web::Data::new(metrics));
        let port = listener.local_addr()?.port();
        let (links, demo) = (identity.links.clone(), identity.demo.clone());
        let mut rest = RestState::with_identity(store.clone(), identity)?;
        if let Some(delivery) = delivery {
            rest = rest.with_delivery(delivery);
        }
        let rest = web::Data::new(rest);
        let soap = web::Data::new(SoapState { store: store.clone(), public_url, links, demo });
        let store = web::Data::new(store);
        // The contract, serialized once and shared by every worker (each worker's own copy of
        // the document, as the Swagger UI would keep it, costs megabytes).
        let openapi = web::Bytes::from(keyport_rest::openapi().to_json()?);
        let server = HttpServer::new(move || {
            let openapi = openapi.clone();
            App::new()
                .app_data(store.clone())
                .app_data(rest.clone())
                .app_data(soap.clone())
                .app_data(web::PayloadConfig::new(BODY_LIMIT))
                .app_data(trusted.clone())
                .app_data(guards.clone())
                .app_data(metrics.clone())
                .route("/metrics", web::get().to(crate::metrics::metrics))
                .configure(health::configure)
                .configure(keyport_soap::configure)
                // The docs come before the API scope, which answers everything under /api/v1.
                .route(
                    "/api/v1/openapi.json",
                    web::get().to(move || {
                        let body = openapi.clone();
                        async move { HttpResponse::Ok().content_type("application/json").body(body) }
                    }),
                )
                .service(
                    SwaggerUi::new("/docs/{_:.*}")
                        .config(utoipa_swagger_ui::Config::from("/api/v1/openapi.json")),
                )
                .route("/docs", web::get().to(docs_redirect))
                .route("/.well-known/jwks.json", web::get().to(keyport_rest::jwks))
                .configure(|cfg| {
                    if let Some(sandbox) = &sandbox {
                        crate::sandbox::configure(cfg, sandbox.clone());
                    }
                })
                .route("/", web::get().to(keyport_depot::root))
                .configure(|cfg| keyport_depot::configure(cfg, depot.clone()))
                .service(keyport_rest::services())
                .default_service(web::to(keyport_rest::methods::no_route))
                .wrap(actix_web::middleware::from_fn(keyport_rest::methods::head_as_get))
                .wrap(actix_web::middleware::from_fn(crate::guards::guard))
                .wrap(actix_web::middleware::from_fn(crate::metrics::record))
                .wrap(actix_web::middleware::from_fn(crate::proxies::resolve))
                .wrap_fn(|req, srv| {
                    let id: Option<String> = req.extensions().get::<RequestId>().map(|id| id.to_string());
                    let fut = srv.call(req);
                    async move {
                        let mut res = fut.await?;
                        if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                            res.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
                        }
                        Ok(res)
                    }
                })
                .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
        })
        .shutdown_timeout(10)
        .client_request_timeout(head_timeout)
        .listen(listener)?
        .run();
        Ok(Application { port, server, workers: None, _artifacts: None })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight and stops.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut webhooks = None;
        let jobs = self.workers.map(|w| {
            if let Some(sender) = w.webhooks {
                match sender.start(w.store.clone()) {
                    Ok(running) => webhooks = Some(running),
                    Err(e) => tracing::error!(error = %e, "the webhook sender could not start"),
                }
            }
            let mailer = w.mailer.map(|m| tokio::spawn(m.run(w.store.clone())));
            let pruner =
                w.prune.map(|(retention, every)| tokio::spawn(crate::pruner::run(w.store, retention, every)));
            let sweeper = w.artifacts.map(|storage| tokio::spawn(crate::pruner::sweep_uploads(storage)));
            [mailer, pruner, sweeper]
        });
        let result = self.server.await;
        for job in jobs.into_iter().flatten().flatten() {
            job.abort();
        }
        drop(webhooks);
        result
    }
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::Found().insert_header((LOCATION, "/docs/")).finish()
}

/// Creates the data folder if needed (readable by its owner only: it holds the signing
/// keys and mails with one-time links), then opens and migrates the configured database.
pub fn open_store(settings: &Settings, pool: PoolOptions) -> anyhow::Result<Store> {
    let url = settings.database_url()?;
    if url.backend() == keyport_store::Backend::Sqlite {
        keyport_store::files::owner_only_dir(&settings.data_dir).map_err(|e| {
            anyhow::anyhow!("cannot create the data folder {}: {e}", settings.data_dir.display())
        })?;
    }
    tracing::info!(database = %url.redacted(), "opening the database");
    let store = Store::open(&url, pool)?;
    store.ensure_signing_key()?;
    Ok(store)
}
