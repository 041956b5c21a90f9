//! Marketing consent: a customer asks for (double opt-in), confirms and withdraws it
//! (`/me/marketing-consent`, `/marketing-consent/confirmations`); the one-click unsubscribe
//! link of marketing mails (`/unsubscribe`, RFC 8058); staff read and withdraw it
//! (`/customers/{id}/marketing-consent`).

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use keyport_api::{ConsentConfirmation, ConsentStateAnswer, MarketingConsentView, UnsubscribeQuery};
use keyport_core::{Lang, Role};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::sessions::{anonymous, source};
use crate::auth::{Principal, RestState};
use crate::input::Json;
use crate::problem::{ReadProblems, WriteProblems};
use crate::{ApiError, run};

/// Who may read a customer's consent.
const READERS: &[Role] = &[Role::Admin, Role::Support, Role::Shop, Role::Portal];
/// Who may record a withdrawal for a customer (e.g. one received in writing).
const WITHDRAWERS: &[Role] = &[Role::Admin, Role::Support];

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_my_marketing_consent)
        .service(create_marketing_consent_request)
        .service(delete_my_marketing_consent)
        .service(create_marketing_consent_confirmation)
        .service(get_unsubscribe_page)
        .service(create_unsubscription)
        .service(get_customer_marketing_consent)
        .service(delete_customer_marketing_consent);
}

fn private(view: MarketingConsentView) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "private, no-store")).json(view)
}

/// My marketing consent (separate from my account) and its history.
#[utoipa::path(operation_id = "get_my_marketing_consent", tag = "customer",
    responses((status = 200, description = "My consent", body = MarketingConsentView), ReadProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = [])))]
#[get("/me/marketing-consent")]
async fn get_my_marketing_consent(
    state: web::Data<RestState>,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    let (store, customer) = (state.store.clone(), who.customer()?);
    Ok(private(run(move || store.marketing_consent(customer)).await?))
}

/// Ask for news and offers by e-mail: a mail with a confirmation link goes to my address
/// (double opt-in; again while it is pending, within the limit of mails per account). Until
/// the link is used nothing is sent to me.
#[utoipa::path(operation_id = "create_marketing_consent_request", tag = "customer",
    responses((status = 200, description = "My consent (pending until confirmed)", body = MarketingConsentView), WriteProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = [])))]
#[post("/me/marketing-consent")]
async fn create_marketing_consent_request(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let customer = who.customer()?;
    let (store, links, limits, source) =
        (state.store.clone(), state.identity.links.clone(), state.identity.limits, source(&req));
    let ctx = who.ctx(&store);
    let view = run(move || store.guarded_marketing_request(&ctx, &limits, customer, &source, &links)).await?;
    Ok(private(view))
}

/// Withdraw my marketing consent: from now on I am in no newsletter export. Twice is no error.
#[utoipa::path(operation_id = "delete_my_marketing_consent", tag = "customer",
    responses((status = 200, description = "My consent (unsubscribed)", body = MarketingConsentView), WriteProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = [])))]
#[delete("/me/marketing-consent")]
async fn delete_my_marketing_consent(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let customer = who.customer()?;
    let (store, links, source) = (state.store.clone(), state.identity.links.clone(), source(&req));
    let ctx = who.ctx(&store);
    Ok(private(
        run(move || store.withdraw_marketing_consent(&ctx, customer, false, Some(&source), &links)).await?,
    ))
}

/// Confirm marketing consent with the token from the confirmation mail (the portal's
/// `/newsletter/confirm` page posts it). Only the newest link works, once, and none after
/// the consent moved on (e.g. a withdrawal or a new e-mail address): `invalid_token`. The
/// answer is the state only.
#[utoipa::path(operation_id = "create_marketing_consent_confirmation", tag = "auth", security(),
    request_body = ConsentConfirmation,
    responses((status = 200, description = "Subscribed", body = ConsentStateAnswer), WriteProblems))]
#[post("/marketing-consent/confirmations")]
async fn create_marketing_consent_confirmation(
    state: web::Data<RestState>,
    req: HttpRequest,
    body: Json<ConsentConfirmation>,
) -> Result<HttpResponse, ApiError> {
    let (store, links, source) = (state.store.clone(), state.identity.links.clone(), source(&req));
    let token = body.into_inner().token;
    let state =
        run(move || store.confirm_marketing_consent(&anonymous(&store), &token, Some(&source), &links))
            .await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(ConsentStateAnswer { state }))
}

/// The page behind a marketing mail's unsubscribe link: one button that unsubscribes (a
/// `GET` changes nothing, so link scanners cannot unsubscribe anyone).
#[utoipa::path(operation_id = "get_unsubscribe_page", tag = "auth", security(), params(UnsubscribeQuery),
    responses((status = 200, description = "An HTML page with the unsubscribe button", body = String, content_type = "text/html"), ReadProblems))]
#[get("/unsubscribe")]
async fn get_unsubscribe_page(req: HttpRequest, query: web::Query<UnsubscribeQuery>) -> HttpResponse {
    let lang = crate::problem::lang_of(req.headers());
    let action = format!(
        "?token={}",
        url::form_urlencoded::byte_serialize(query.token.as_bytes()).collect::<String>()
    );
    let (title, button) = match lang {
        Lang::En => ("Unsubscribe from news and offers", "Unsubscribe"),
        Lang::De => ("Von Neuigkeiten und Angeboten abmelden", "Abmelden"),
    };
    page(
        lang,
        title,
        &format!(
            "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\"><button type=\"submit\">{button}</button></form>",
            html_escape(&action)
        ),
    )
}

/// One-click unsubscribe (RFC 8058): the `POST` a mail client sends for the
/// `List-Unsubscribe` header (body `List-Unsubscribe=One-Click`), or the page's button. A
/// forged or foreign token is `invalid_token`; unsubscribing again changes nothing.
#[utoipa::path(operation_id = "create_unsubscription", tag = "auth", security(), params(UnsubscribeQuery),
    responses((status = 200, description = "Unsubscribed: an HTML page saying so", body = String, content_type = "text/html"), WriteProblems))]
#[post("/unsubscribe")]
async fn create_unsubscription(
    state: web::Data<RestState>,
    req: HttpRequest,
    query: web::Query<UnsubscribeQuery>,
) -> Result<HttpResponse, ApiError> {
    let (store, links, source) = (state.store.clone(), state.identity.links.clone(), source(&req));
    let token = query.into_inner().token;
    run(move || store.unsubscribe(&anonymous(&store), &token, Some(&source), &links)).await?;
    let lang = crate::problem::lang_of(req.headers());
    let text = match lang {
        Lang::En => "You are unsubscribed: you will get no more news and offers by e-mail.",
        Lang::De => "Sie sind abgemeldet: Sie erhalten keine Neuigkeiten und Angebote mehr per E-Mail.",
    };
    Ok(page(lang, text, ""))
}

/// A minimal page: no scripts, no external resources.
fn page(lang: Lang, title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", "default-src 'none'; form-action 'self'; style-src 'unsafe-inline'"))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(format!(
            "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>",
            lang.code()
        ))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A customer's marketing consent and its history (the proof of consent).
#[utoipa::path(operation_id = "get_customer_marketing_consent", tag = "customers", params(("customer_id" = Uuid, Path)),
    responses((status = 200, description = "The customer's consent", body = MarketingConsentView), ReadProblems),
    security(("api_key" = [])))]
#[get("/customers/{customer_id}/marketing-consent")]
async fn get_customer_marketing_consent(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    who.staff(READERS)?;
    let (store, customer) = (state.store.clone(), path.into_inner());
    Ok(private(run(move || store.marketing_consent(customer)).await?))
}

/// Record a customer's withdrawal (e.g. one received by letter). Twice is no error.
#[utoipa::path(operation_id = "delete_customer_marketing_consent", tag = "customers", params(("customer_id" = Uuid, Path)),
    responses((status = 200, description = "The customer's consent (unsubscribed)", body = MarketingConsentView), WriteProblems),
    security(("api_key" = [])))]
#[delete("/customers/{customer_id}/marketing-consent")]
async fn delete_customer_marketing_consent(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    who.staff(WITHDRAWERS)?;
    let (store, links, source, customer) =
        (state.store.clone(), state.identity.links.clone(), source(&req), path.into_inner());
    let ctx = who.ctx(&store);
    Ok(private(
        run(move || store.withdraw_marketing_consent(&ctx, customer, true, Some(&source), &links)).await?,
    ))
}
