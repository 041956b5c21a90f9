//! Getting in and out: log in (password or ticket), log out, register, confirm the e-mail
//! address, forgot password, set a new one from a mail's link, confirm the newsletter.
//! Links from mails open a page with a button (GET changes nothing: mail scanners follow
//! links); the button posts the token.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use keyport_core::{CoreError, DisplayName, Email, Lang, Password, TicketCode};
use keyport_store::Registration;
use serde::Deserialize;
use serde_json::json;

use crate::render::{self, DoneQuery, ctx, page, run, see_other};
use crate::session::{CsrfForm, SESSION_COOKIE, Visitor, removal, session_cookie};
use crate::{BASE_PATH, Depot};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login))
        .route("/ticket-login", web::post().to(ticket_login))
        .route("/sso", web::get().to(sso_page))
        .route("/sso", web::post().to(sso))
        .route("/logout", web::post().to(logout))
        .route("/register", web::get().to(register_page))
        .route("/register", web::post().to(register))
        .route("/verify-email", web::get().to(verify_page))
        .route("/verify-email", web::post().to(verify))
        .route("/forgot-password", web::get().to(forgot_page))
        .route("/forgot-password", web::post().to(forgot))
        .route("/reset-password", web::get().to(reset_page))
        .route("/reset-password", web::post().to(reset))
        .route("/newsletter/confirm", web::get().to(newsletter_page))
        .route("/newsletter/confirm", web::post().to(newsletter_confirm));
}

async fn home(visitor: Visitor) -> HttpResponse {
    match visitor.login {
        Some(_) => see_other(&format!("{BASE_PATH}/licenses")),
        None => render::to_login(),
    }
}

async fn login_page(depot: web::Data<Depot>, visitor: Visitor, query: web::Query<DoneQuery>) -> HttpResponse {
    if visitor.login.is_some() {
        return see_other(&format!("{BASE_PATH}/licenses"));
    }
    let notice = render::notice(query.done.as_deref());
    page(&depot, &visitor, StatusCode::OK, "login.html", json!({"notice": notice, "email": ""}))
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    csrf: String,
    email: String,
    password: String,
}

async fn login(depot: web::Data<Depot>, visitor: Visitor, form: web::Form<LoginForm>) -> HttpResponse {
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let form = form.into_inner();
    let email = form.email.clone();
    let (store, limits, source, context) =
        (depot.store.clone(), depot.settings.limits, visitor.source.clone(), ctx(&depot, &visitor));
    let result =
        run(move || store.guarded_login(&context, &limits, &source, &form.email, &form.password)).await;
    match result {
        Ok(session) => logged_in(&depot, &visitor, &session).await,
        Err(e) => {
            let data = json!({"error": e.message(visitor.lang), "email": email});
            render::refused_form(&depot, &visitor, &e, "login.html", data)
        }
    }
}

#[derive(Debug, Deserialize)]
struct TicketLoginForm {
    csrf: String,
    ticket_code: String,
}

async fn ticket_login(
    depot: web::Data<Depot>,
    visitor: Visitor,
    form: web::Form<TicketLoginForm>,
) -> HttpResponse {
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let (store, limits, source, context) =
        (depot.store.clone(), depot.settings.limits, visitor.source.clone(), ctx(&depot, &visitor));
    let result = match TicketCode::parse(&form.ticket_code) {
        Ok(code) => run(move || store.guarded_ticket_login(&context, &limits, &source, &code)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(session) => logged_in(&depot, &visitor, &session).await,
        Err(e) => {
            let data = json!({"ticket_error": e.message(visitor.lang), "email": "", "ticket_code": form.ticket_code});
            render::refused_form(&depot, &visitor, &e, "login.html", data)
        }
    }
}

/// The single sign-on hand-off: a link from the ISV's portal carrying a token of its
/// identity provider opens a page with one button; pressing it logs the customer in (found
/// by issuer and subject, or linked or created from a verified e-mail address, as
/// `POST /api/v1/auth/sso` does). A link alone logs nobody in: a page of another site
/// cannot log a visitor into someone else's account.
async fn sso_page(depot: web::Data<Depot>, visitor: Visitor, query: web::Query<TokenQuery>) -> HttpResponse {
    token_form(&depot, &visitor, "sso", "sso_title", "sso_intro", "sso_button", &query.token)
}

async fn sso(depot: web::Data<Depot>, visitor: Visitor, form: web::Form<TokenForm>) -> HttpResponse {
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let invalid = |reason: &str| {
        CoreError::new(keyport_core::ErrorCode::SsoTokenInvalid).with("reason", reason.to_owned())
    };
    let checked = match &depot.settings.sso {
        Some(check) if form.token.len() <= 16 * 1024 => (check.0)(&form.token),
        Some(_) => Err(invalid("it is too long")),
        None => Err(invalid("single sign-on is not configured")),
    };
    let result = match checked {
        Ok(login) => {
            let (store, context) = (depot.store.clone(), ctx(&depot, &visitor));
            let previous = visitor.login.as_ref().map(|l| l.family.clone());
            run(move || {
                // Whoever was logged in in this browser is logged out first.
                if let Some(family) = previous {
                    store.end_session(&context, &family)?;
                }
                store.sso_login(&context, &login.issuer, &login.subject, login.email.as_ref(), &login.name)
            })
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(session) => logged_in(&depot, &visitor, &session).await,
        Err(e) => render::refusal(&depot, &visitor, &e),
    }
}

/// Logged in: the session cookie, and the account's language unless the visitor chose one.
async fn logged_in(depot: &Depot, visitor: &Visitor, session: &keyport_store::Session) -> HttpResponse {
    let account_lang = match (session.subject, visitor.chosen_lang) {
        (keyport_store::SessionSubject::Customer(customer), false) => {
            let store = depot.store.clone();
            run(move || store.customer_language(customer)).await.ok()
        }
        _ => None,
    };
    match session_cookie(depot, session) {
        Ok(cookie) => {
            let mut response = see_other(&format!("{BASE_PATH}/licenses"));
            let _ = response.add_cookie(&cookie);
            if let Some(lang) = account_lang {
                let code = match lang {
                    Lang::En => "en",
                    Lang::De => "de",
                };
                let _ = response.add_cookie(&crate::session::cookie(
                    depot,
                    crate::session::ACCOUNT_LANG_COOKIE,
                    code.to_owned(),
                ));
            }
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot sign a depot session cookie");
            HttpResponse::InternalServerError().finish()
        }
    }
}

async fn logout(depot: web::Data<Depot>, visitor: Visitor, form: web::Form<CsrfForm>) -> HttpResponse {
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    if let Some(login) = &visitor.login {
        let (store, context, family) = (depot.store.clone(), ctx(&depot, &visitor), login.family.clone());
        if let Err(e) = run(move || store.end_session(&context, &family)).await {
            return render::refusal(&depot, &visitor, &e);
        }
    }
    let mut response = see_other(&format!("{BASE_PATH}/login?done=logged_out"));
    let _ = response.add_cookie(&removal(&depot, SESSION_COOKIE));
    let _ = response.add_cookie(&removal(&depot, crate::session::ACCOUNT_LANG_COOKIE));
    response
}

async fn register_page(depot: web::Data<Depot>, visitor: Visitor) -> HttpResponse {
    page(
        &depot,
        &visitor,
        StatusCode::OK,
        "register.html",
        json!({"name": "", "email": "", "ticket_code": ""}),
    )
}

#[derive(Debug, Deserialize)]
struct RegisterForm {
    csrf: String,
    name: String,
    email: String,
    password: String,
    #[serde(default)]
    ticket_code: String,
}

fn registration(form: &RegisterForm, lang: Lang) -> Result<Registration, CoreError> {
    let ticket = Some(form.ticket_code.trim()).filter(|c| !c.is_empty());
    Ok(Registration {
        email: Email::parse(&form.email)?,
        name: DisplayName::parse(&form.name)?,
        password: Password::parse(&form.password)?,
        lang,
        ticket: ticket.map(TicketCode::parse).transpose()?,
    })
}

async fn register(depot: web::Data<Depot>, visitor: Visitor, form: web::Form<RegisterForm>) -> HttpResponse {
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let result = match registration(&form, visitor.lang) {
        Ok(registration) => {
            let (store, limits, source, context) =
                (depot.store.clone(), depot.settings.limits, visitor.source.clone(), ctx(&depot, &visitor));
            let links = depot.settings.links.clone();
            run(move || store.guarded_register(&context, &limits, &source, &links, &registration)).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            render::message(&depot, &visitor, StatusCode::OK, "check_mail_title", "check_mail_register")
        }
        Err(e) => {
            let data = json!({"error": e.message(visitor.lang), "name": form.name, "email": form.email, "ticket_code": form.ticket_code});
            render::refused_form(&depot, &visitor, &e, "register.html", data)
        }
    }
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// A page with one button that posts a mail's token.
fn token_form(
    depot: &Depot,
    visitor: &Visitor,
    action: &str,
    title: &str,
    intro: &str,
    button: &str,
    token: &str,
) -> HttpResponse {
    let data = json!({"action": action, "title_key": title, "intro_key": intro, "button_key": button, "token": token});
    page(depot, visitor, StatusCode::OK, "token_form.html", data)
}

async fn verify_page(
    depot: web::Data<Depot>,
    visitor: Visitor,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    token_form(
        &depot,
        &visitor,
        "verify-email",
        "verify_title",
        "verify_intro",
        "verify_button",
        &query.token,
    )
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    csrf: String,
    token: String,
}

async fn verify(depot: web::Data<Depot>, visitor: Visitor, form: web::Form<TokenForm>) -> HttpResponse {
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let form = form.into_inner();
    let (store, context) = (depot.store.clone(), ctx(&depot, &visitor));
    match run(move || store.verify_email(&context, &form.token)).await {
        Ok(()) => render::message(&depot, &visitor, StatusCode::OK, "verified_title", "verified_text"),
        Err(e) => render::refusal(&depot, &visitor, &e),
    }
}

async fn forgot_page(depot: web::Data<Depot>, visitor: Visitor) -> HttpResponse {
    page(&depot, &visitor, StatusCode::OK, "forgot.html", json!({"email": ""}))
}

#[derive(Debug, Deserialize)]
struct ForgotForm {
    csrf: String,
    email: String,
}

async fn forgot(depot: web::Data<Depot>, visitor: Visitor, form: web::Form<ForgotForm>) -> HttpResponse {
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let result = match Email::parse(&form.email) {
        Ok(email) => {
            let (store, limits, source, context) =
                (depot.store.clone(), depot.settings.limits, visitor.source.clone(), ctx(&depot, &visitor));
            let links = depot.settings.links.clone();
            run(move || store.guarded_password_reset(&context, &limits, &source, &links, &email)).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => render::message(&depot, &visitor, StatusCode::OK, "check_mail_title", "check_mail_reset"),
        Err(e) => {
            let data = json!({"error": e.message(visitor.lang), "email": form.email});
            render::refused_form(&depot, &visitor, &e, "forgot.html", data)
        }
    }
}

async fn reset_page(
    depot: web::Data<Depot>,
    visitor: Visitor,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    page(&depot, &visitor, StatusCode::OK, "token_form.html", reset_data(&query.token))
}

fn reset_data(token: &str) -> serde_json::Value {
    json!({"action": "reset-password", "title_key": "reset_title", "intro_key": "reset_intro",
           "button_key": "reset_button", "token": token, "new_password": true})
}

#[derive(Debug, Deserialize)]
struct ResetForm {
    csrf: String,
    token: String,
    new_password: String,
}

async fn reset(depot: web::Data<Depot>, visitor: Visitor, form: web::Form<ResetForm>) -> HttpResponse {
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let form = form.into_inner();
    let token = form.token.clone();
    let result = match Password::parse(&form.new_password) {
        Ok(password) => {
            let (store, context) = (depot.store.clone(), ctx(&depot, &visitor));
            run(move || store.reset_password(&context, &form.token, &password)).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            let mut response =
                render::message(&depot, &visitor, StatusCode::OK, "reset_done_title", "reset_done_text");
            // Every session of the account ended; this browser's cookie goes too.
            let _ = response.add_cookie(&removal(&depot, SESSION_COOKIE));
            response
        }
        Err(e) => {
            let mut data = reset_data(&token);
            data["error"] = json!(e.message(visitor.lang));
            render::refused_form(&depot, &visitor, &e, "token_form.html", data)
        }
    }
}

async fn newsletter_page(
    depot: web::Data<Depot>,
    visitor: Visitor,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    let (title, intro, button) =
        ("newsletter_confirm_title", "newsletter_confirm_intro", "newsletter_confirm_button");
    token_form(&depot, &visitor, "newsletter/confirm", title, intro, button, &query.token)
}

async fn newsletter_confirm(
    depot: web::Data<Depot>,
    visitor: Visitor,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let form = form.into_inner();
    let (store, context, links, source) =
        (depot.store.clone(), ctx(&depot, &visitor), depot.settings.links.clone(), visitor.source.clone());
    match run(move || store.confirm_marketing_consent(&context, &form.token, Some(&source), &links)).await {
        Ok(_) => {
            render::message(&depot, &visitor, StatusCode::OK, "newsletter_title", "newsletter_confirmed")
        }
        Err(e) => render::refusal(&depot, &visitor, &e),
    }
}
