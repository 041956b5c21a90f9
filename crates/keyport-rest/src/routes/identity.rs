//! Self-registration, e-mail verification, password reset and change, and single sign-on.
//! Answers never tell whether an e-mail address has an account.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use keyport_api::{
    Accepted, PasswordChange, RegisterRequest, ResetConfirmation, ResetRequest, SsoRequest, TokenQuery,
    TokenResponse,
};
use keyport_core::{DisplayName, Email, Lang, Password, TicketCode};
use keyport_store::Registration;
use utoipa_actix_web::service_config::ServiceConfig;

use super::sessions::{anonymous, source, tokens};
use crate::auth::{Principal, RestState};
use crate::input::Json;
use crate::problem::WriteProblems;
use crate::{ApiError, run};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(register)
        .service(verify_email)
        .service(create_password_reset)
        .service(confirm_password_reset)
        .service(update_password)
        .service(create_sso_session);
}

fn accepted(status: &str) -> HttpResponse {
    HttpResponse::Accepted().json(Accepted { status: status.to_owned() })
}

/// Register an account (optionally with a ticket). The answer is the same whether or not the
/// address has an account; the mail tells the owner what happened.
#[utoipa::path(operation_id = "register_customer", tag = "auth", security(), request_body = RegisterRequest,
    responses((status = 202, description = "Accepted; a mail tells the address's owner what happened", body = Accepted), WriteProblems))]
#[post("/auth/register")]
async fn register(
    state: web::Data<RestState>,
    req: HttpRequest,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let lang = match body.language.as_deref() {
        None | Some("en") => Lang::En,
        Some("de") => Lang::De,
        Some(_) => return Err(keyport_core::CoreError::invalid("language", "must be en or de").into()),
    };
    let registration = Registration {
        email: Email::parse(&body.email)?,
        name: DisplayName::parse(&body.name)?,
        password: Password::parse(&body.password)?,
        lang,
        ticket: body.ticket_code.as_deref().map(TicketCode::parse).transpose()?,
    };
    let (store, links, limits, source) =
        (state.store.clone(), state.identity.links.clone(), state.identity.limits, source(&req));
    run(move || store.guarded_register(&anonymous(&store), &limits, &source, &links, &registration)).await?;
    Ok(accepted("check your mail to confirm the address"))
}

/// Confirm an e-mail address: the link in the verification mail.
#[utoipa::path(operation_id = "verify_email", tag = "auth", security(), params(TokenQuery),
    responses((status = 200, description = "The address is confirmed", body = Accepted), WriteProblems))]
#[get("/auth/verify-email")]
async fn verify_email(
    state: web::Data<RestState>,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    run(move || store.verify_email(&anonymous(&store), &query.token)).await?;
    Ok(HttpResponse::Ok().json(Accepted { status: "verified".to_owned() }))
}

/// Ask for a password-reset mail. The answer is the same whether or not the address has an
/// account.
#[utoipa::path(operation_id = "create_password_reset", tag = "auth", security(), request_body = ResetRequest,
    responses((status = 202, description = "Accepted; if the address has an account, a mail with a link is on its way", body = Accepted), (status = 429, description = "Too many reset requests; see Retry-After", body = crate::Problem, content_type = "application/problem+json"), WriteProblems))]
#[post("/auth/password-reset")]
async fn create_password_reset(
    state: web::Data<RestState>,
    req: HttpRequest,
    body: Json<ResetRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse(&body.email)?;
    let (store, links) = (state.store.clone(), state.identity.links.clone());
    let (limits, source) = (state.identity.limits, source(&req));
    run(move || store.guarded_password_reset(&anonymous(&store), &limits, &source, &links, &email)).await?;
    Ok(accepted("if the address has an account, a mail with a link is on its way"))
}

/// Set a new password with the token from a reset or invitation mail; every session of the
/// account ends.
#[utoipa::path(operation_id = "update_password_by_token", tag = "auth", security(), request_body = ResetConfirmation,
    responses((status = 204, description = "The password is set"), WriteProblems))]
#[post("/auth/password-reset/confirm")]
async fn confirm_password_reset(
    state: web::Data<RestState>,
    body: Json<ResetConfirmation>,
) -> Result<HttpResponse, ApiError> {
    let password = Password::parse(&body.new_password)?;
    let store = state.store.clone();
    run(move || store.reset_password(&anonymous(&store), &body.token, &password)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Change my password.
#[utoipa::path(operation_id = "update_password", tag = "customer", request_body = PasswordChange,
    responses((status = 204, description = "The password is changed"), WriteProblems),
    security(("customer_token" = [])))]
#[post("/me/password")]
async fn update_password(
    state: web::Data<RestState>,
    who: Principal,
    body: Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let customer = match who {
        Principal::Customer { customer, portal: None } => customer,
        _ => return Err(ApiError::new(keyport_core::ErrorCode::Forbidden)),
    };
    let password = Password::parse(&body.new_password)?;
    let store = state.store.clone();
    run(move || store.change_password(&who.ctx(&store), customer, &body.old_password, &password, None))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Exchange a token of the ISV's identity provider for Keyport tokens. The customer is found
/// by (issuer, subject), or linked or created from a verified e-mail claim.
#[utoipa::path(operation_id = "create_sso_session", tag = "auth", security(), request_body = SsoRequest,
    responses((status = 200, description = "Logged in", body = TokenResponse), WriteProblems))]
#[post("/auth/sso")]
async fn create_sso_session(
    state: web::Data<RestState>,
    body: Json<SsoRequest>,
) -> Result<HttpResponse, ApiError> {
    let identity = crate::sso::verify(&body.token, &state.identity.issuers)?;
    let (email, name) = identity.login_facts()?;
    let store = state.store.clone();
    let session = run(move || {
        store.sso_login(
            &anonymous(&store),
            &identity.issuer,
            identity.subject.as_str(),
            email.as_ref(),
            &name,
        )
    })
    .await?;
    tokens(&state, session)
}
