#![doc = include_str!("../README.md")]

mod account;
mod demos;
mod downloads;
mod licenses;
mod offers;
mod profile;
mod render;
mod session;
mod texts;
mod theme;
mod upload;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use keyport_store::mail::MailLinks;
use keyport_store::{Limits, Store, StoreError};

pub use theme::{FooterLink, Theme};

/// Where the depot is mounted.
pub const BASE_PATH: &str = "/depot";

/// How the depot is set up.
#[derive(Debug, Clone)]
pub struct DepotSettings {
    /// Where links in mails point.
    pub links: MailLinks,
    /// Login, registration and reset limits (the same as the API's).
    pub limits: Limits,
    /// Whether cookies carry `Secure` (the public URL is `https://`).
    pub secure_cookies: bool,
    /// Origins allowed to embed the depot in a frame (`frame-ancestors`); none when empty.
    pub frame_ancestors: Vec<String>,
    /// The corporate design.
    pub theme: Theme,
    /// Who gets no demo (the same policy as the API's).
    pub demo: keyport_core::demo::DemoPolicy,
    /// Where download links point and how long they work (none: no downloads page).
    pub download_links: Option<LinkBase>,
    /// Checks single sign-on tokens for the hand-off from the ISV's portal (none: the
    /// hand-off is refused).
    pub sso: Option<SsoCheck>,
}

/// The base of download links: the public URL, else the request's origin (forwarded
/// headers believed from trusted proxies only), and how long a link works.
#[derive(Debug, Clone)]
pub struct LinkBase {
    /// The configured public URL.
    pub public_url: Option<String>,
    /// How long a link works.
    pub ttl: chrono::Duration,
}

impl LinkBase {
    /// The origin links start with, without a trailing slash.
    pub(crate) fn origin(&self, req: &actix_web::HttpRequest) -> String {
        use actix_web::HttpMessage;
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => match req.extensions().get::<keyport_core::net::Origin>() {
                Some(origin) => format!("{}://{}", origin.scheme, origin.host),
                None => {
                    let info = req.connection_info();
                    format!("{}://{}", info.scheme(), info.host())
                }
            },
        }
    }
}

/// Who a single sign-on token of a trusted issuer names.
#[derive(Debug, Clone)]
pub struct SsoLogin {
    /// The issuer.
    pub issuer: String,
    /// The user's id at the issuer.
    pub subject: String,
    /// The e-mail address, if the issuer vouches for it.
    pub email: Option<keyport_core::Email>,
    /// The name to show.
    pub name: keyport_core::DisplayName,
}

/// A function that verifies a single sign-on token.
pub type SsoVerifier = dyn Fn(&str) -> Result<SsoLogin, keyport_core::CoreError> + Send + Sync;

/// Verifies a single sign-on token (the server wires the REST façade's verifier in, so the
/// trusted issuers are configured once).
#[derive(Clone)]
pub struct SsoCheck(pub std::sync::Arc<SsoVerifier>);

impl std::fmt::Debug for SsoCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SsoCheck")
    }
}

/// What the depot shares between requests.
pub struct Depot {
    store: Store,
    settings: DepotSettings,
    keys: session::Keys,
    templates: minijinja::Environment<'static>,
    words: render::Words,
    csp: HeaderValue,
}

impl Depot {
    /// Loads (or creates, once per database) the depot's cookie secrets and its templates.
    pub fn new(store: Store, settings: DepotSettings) -> Result<Depot, StoreError> {
        let keys = session::Keys::load(&store)?;
        let templates =
            render::templates().map_err(|e| StoreError::Config(format!("depot templates: {e}")))?;
        let ancestors = if settings.frame_ancestors.is_empty() {
            "'none'".to_owned()
        } else {
            settings.frame_ancestors.join(" ")
        };
        let csp = HeaderValue::from_str(&format!(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
        ))
        .map_err(|_| StoreError::Config("depot frame_ancestors: not a valid header value".to_owned()))?;
        let words = render::Words::new(&settings.theme);
        Ok(Depot { store, settings, keys, templates, words, csp })
    }
}

/// Checks the origins allowed to frame the depot (`https://portal.example.com`, or `'self'`).
pub fn check_frame_ancestor(origin: &str) -> Result<(), String> {
    let ok = origin == "'self'"
        || ((origin.starts_with("https://") || origin.starts_with("http://"))
            && origin.len() < 200
            && origin.chars().all(|ch| ch.is_ascii_alphanumeric() || ".:/-*".contains(ch)));
    if ok { Ok(()) } else { Err(format!("'{origin}' is not an origin like https://portal.example.com")) }
}

/// Mounts the depot's pages under [`BASE_PATH`], with their security headers.
pub fn configure(cfg: &mut web::ServiceConfig, depot: web::Data<Depot>) {
    cfg.service(
        web::scope(BASE_PATH)
            .app_data(depot)
            .app_data(web::FormConfig::default().limit(16 * 1024))
            .configure(account::configure)
            .configure(licenses::configure)
            .configure(offers::configure)
            .configure(downloads::configure)
            .configure(demos::configure)
            .configure(profile::configure)
            .configure(render::configure)
            .default_service(web::to(render::not_found))
            .wrap(actix_web::middleware::from_fn(security_headers)),
    );
}

/// The root of the site: to the depot.
pub async fn root() -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, format!("{BASE_PATH}/"))).finish()
}

/// A strict Content-Security-Policy (no scripts at all, styles and images from the depot
/// only), no framing unless configured, no referrer (links carry tokens), no caching of
/// pages, no sniffing.
async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let depot = req.app_data::<web::Data<Depot>>().cloned();
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    if let Some(depot) = depot {
        headers.insert(header::CONTENT_SECURITY_POLICY, depot.csp.clone());
        if depot.settings.frame_ancestors.is_empty() {
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
    }
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}
