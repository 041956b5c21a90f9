#![doc = include_str!("../README.md")]

pub mod auth;
pub mod delivery;
pub mod idempotency;
pub mod input;
pub mod methods;
mod openapi_common;
pub mod paging;
pub mod problem;
pub mod reports;
mod routes;
pub mod sso;

use actix_web::{middleware, web};
use keyport_store::StoreError;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::{AppExt, scope};

pub use auth::{Identity, Principal, RestState};
pub use delivery::Delivery;
pub use keyport_store::Limits;
pub use problem::{ApiError, Problem};

/// Where the API is mounted.
pub const BASE_PATH: &str = "/api/v1";

/// Where the links in mails point, for a server at `public_base`: the web depot's pages
/// (`/depot/verify-email`, `/depot/reset-password` for resets and invitations,
/// `/depot/newsletter/confirm` for the double opt-in, `/depot/` for everything else; each
/// shows a button that posts the token), and this façade's one-click unsubscribe route.
pub fn mail_links(public_base: &str) -> keyport_store::mail::MailLinks {
    let base = public_base.trim_end_matches('/');
    keyport_store::mail::MailLinks {
        verify_email: format!("{base}/depot/verify-email"),
        set_password: format!("{base}/depot/reset-password"),
        portal: format!("{base}/depot/"),
        confirm_marketing: format!("{base}/depot/newsletter/confirm"),
        unsubscribe: format!("{base}{BASE_PATH}/unsubscribe"),
    }
}

/// Runs a store call off the async workers, inside the request's span (so the store's log
/// lines carry the request id), and turns its error into a problem.
pub async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let span = tracing::Span::current();
    web::block(move || span.in_scope(f)).await.map_err(|e| ApiError::internal(&e))?.map_err(ApiError::from)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyport REST API",
        description = "Licenses for the whole of their life: catalog, orders, tickets, customers, activations. \
            Errors are RFC 9457 problem documents with a stable `code`; send `Accept-Language: de` for German messages."
    ),
    tags(
        (name = "auth", description = "Logins and sessions"),
        (name = "customer", description = "What a logged-in customer (or a portal acting for one) can do"),
        (name = "catalog", description = "Products, rule sets and items"),
        (name = "orders", description = "Orders from shops, and their tickets"),
        (name = "customers", description = "Customer accounts"),
        (name = "support", description = "Support actions on licenses and tickets"),
        (name = "events", description = "The event log"),
        (name = "admin", description = "API keys"),
        (name = "field", description = "The licensed software in the field: check-ins, usage sessions, demos, update checks"),
        (name = "webhooks", description = "Webhook endpoints and their deliveries (Standard Webhooks)"),
        (name = "releases", description = "Releases of products and their files (artifacts), for staff"),
        (name = "analytics", description = "Lifetimes of PCs and versions, usage, adoption and license activity, for staff (JSON, CSV or SVG)"),
        (name = "offers", description = "Offers targeted by what customers own, for staff"),
        (name = "bonus", description = "The bonus program: rewards for registering tickets, coupon pools, for staff"),
        (name = "segments", description = "Newsletter segments by what customers own, exported with consenting customers only, for staff"),
        (name = "downloads", description = "Following a download link (no login: the link is the permission)"),
    ),
    servers((url = "/", description = "This Keyport server; every path starts with /api/v1")),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("kp_...").build(),
            ),
        );
        components.add_security_scheme(
            "customer_token",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
        components.add_security_scheme(
            "portal_for_customer",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                auth::ACT_FOR_HEADER,
                "With a portal API key: the id of the customer the portal acts for",
            ))),
        );
    }
}

/// The API's services under [`BASE_PATH`], with problem documents for every error and
/// messages in the caller's language.
pub fn services() -> impl actix_web::dev::HttpServiceFactory + utoipa_actix_web::OpenApiFactory + 'static {
    scope(BASE_PATH)
        .app_data(problem::json_config())
        .app_data(problem::query_config())
        .app_data(problem::path_config())
        .app_data(problem::payload_config())
        .configure(routes::configure)
        .default_service(web::to(methods::no_route))
        .wrap(middleware::from_fn(input::refuse_unusable_path))
        .wrap(middleware::from_fn(problem::localize))
}

/// `GET /.well-known/jwks.json`: the public keys license certificates are signed with
/// (RFC 8037), newest first. Public: the ISV's software and any JOSE library use it.
pub async fn jwks(state: web::Data<RestState>) -> Result<actix_web::HttpResponse, ApiError> {
    let store = state.store.clone();
    let keys = run(move || store.jwks()).await?;
    Ok(actix_web::HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).json(keys))
}

/// The OpenAPI document of the API, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(services())
        .split_for_parts();
    openapi_common::CommonAnswers.modify(&mut api);
    api
}

/// The OpenAPI document as pretty JSON with a final newline, as committed in
/// `openapi/openapi.json`.
pub fn openapi_json() -> Result<String, serde_json::Error> {
    let mut text = openapi().to_pretty_json()?;
    text.push('\n');
    Ok(text)
}
