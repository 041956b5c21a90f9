//! `/auth`: password login, ticket login, refresh, logout.

use actix_web::{HttpRequest, HttpResponse, post, web};
use keyport_api::{LoginRequest, RefreshRequest, TicketLoginRequest, TokenResponse};
use keyport_core::{Actor, Channel, TicketCode};
use keyport_store::{Context, Session};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::{ACCESS_TOKEN_SECONDS, RestState};
use crate::input::Json;
use crate::{ApiError, Problem, run};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_session)
        .service(create_ticket_session)
        .service(refresh_session)
        .service(delete_session);
}

pub(crate) fn anonymous(store: &keyport_store::Store) -> Context {
    Context::new(Actor::System, Channel::Rest, store.now())
}

pub(crate) fn tokens(state: &RestState, session: Session) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token: state.access_token(&session)?,
        token_type: "Bearer".to_owned(),
        expires_in: ACCESS_TOKEN_SECONDS,
        refresh_token: session.refresh_token,
        refresh_expires_at: session.refresh_expires_at,
    }))
}

/// Log in with e-mail address and password.
///
/// Any failure answers the same 401, whether or not the address has an account.
#[utoipa::path(
    operation_id = "create_session", tag = "auth", security(),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong e-mail address or password", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The e-mail address is not confirmed yet", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/login")]
async fn create_session(
    state: web::Data<RestState>,
    req: HttpRequest,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let (store, limits, source) = (state.store.clone(), state.identity.limits, source(&req));
    let session =
        run(move || store.guarded_login(&anonymous(&store), &limits, &source, &body.email, &body.password))
            .await?;
    tokens(&state, session)
}

/// The caller's address, for per-address limits: the request's origin (which believes
/// forwarded headers from trusted proxies only), or the connection's peer.
pub fn source(req: &HttpRequest) -> String {
    use actix_web::HttpMessage;
    match req.extensions().get::<keyport_core::net::Origin>() {
        Some(origin) => origin.client.to_string(),
        None => req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".to_owned()),
    }
}

/// Log in with a ticket code alone; the token sees only that ticket's licenses.
#[utoipa::path(
    operation_id = "create_ticket_session", tag = "auth", security(),
    request_body = TicketLoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Unknown ticket", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many ticket logins from this address; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a ticket code", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/ticket-login")]
async fn create_ticket_session(
    state: web::Data<RestState>,
    req: HttpRequest,
    body: Json<TicketLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let code = TicketCode::parse(&body.ticket_code)?;
    let (store, limits, source) = (state.store.clone(), state.identity.limits, source(&req));
    let session =
        run(move || store.guarded_ticket_login(&anonymous(&store), &limits, &source, &code)).await?;
    tokens(&state, session)
}

/// Trade a refresh token for new tokens. Each refresh token works once.
#[utoipa::path(
    operation_id = "refresh_session", tag = "auth", security(),
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or reused refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/refresh")]
async fn refresh_session(
    state: web::Data<RestState>,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let session = run(move || store.refresh_session(&anonymous(&store), &body.refresh_token)).await?;
    tokens(&state, session)
}

/// Log out: the session's refresh and access tokens stop working.
#[utoipa::path(
    operation_id = "delete_session", tag = "auth", security(),
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Unknown refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/logout")]
async fn delete_session(
    state: web::Data<RestState>,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    run(move || store.logout(&anonymous(&store), &body.refresh_token)).await?;
    Ok(HttpResponse::NoContent().finish())
}
