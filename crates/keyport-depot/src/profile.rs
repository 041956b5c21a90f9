//! The profile: who the account is, its password, its newsletter consent.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use keyport_core::{CoreError, Password};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::render::status_of;
use crate::render::{self, DoneQuery, ctx, page, run, see_other};
use crate::session::{CsrfForm, Visitor};
use crate::{BASE_PATH, Depot};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/profile", web::get().to(profile))
        .route("/profile/password", web::post().to(change_password))
        .route("/profile/newsletter", web::post().to(newsletter))
        .route("/profile/sessions", web::post().to(end_other_sessions))
        .route("/profile/account", web::post().to(update_account));
}

async fn profile_data(depot: &Depot, customer: Uuid) -> Result<serde_json::Value, CoreError> {
    let store = depot.store.clone();
    let (account, consent, lang) = run(move || {
        Ok((
            store.get_customer(customer)?,
            store.marketing_consent(customer)?,
            store.customer_language(customer)?,
        ))
    })
    .await?;
    Ok(json!({"account": account, "consent": consent.state, "account_lang": lang.code()}))
}

async fn show(
    depot: &Depot,
    visitor: &Visitor,
    customer: Uuid,
    status: StatusCode,
    extra: serde_json::Value,
) -> HttpResponse {
    match profile_data(depot, customer).await {
        Ok(mut data) => {
            if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
                data.extend(extra);
            }
            page(depot, visitor, status, "profile.html", data)
        }
        Err(e) => render::refusal(depot, visitor, &e),
    }
}

async fn profile(depot: web::Data<Depot>, visitor: Visitor, query: web::Query<DoneQuery>) -> HttpResponse {
    let Some(customer) = visitor.customer() else { return render::to_login() };
    let notice = render::notice(query.done.as_deref());
    show(&depot, &visitor, customer, StatusCode::OK, json!({"notice": notice})).await
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    csrf: String,
    old_password: String,
    new_password: String,
}

async fn change_password(
    depot: web::Data<Depot>,
    visitor: Visitor,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    let Some(customer) = visitor.customer() else { return render::to_login() };
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let form = form.into_inner();
    // Every other session ends with the change (a stolen one among them); this one stays.
    let keep = visitor.login.as_ref().map(|l| l.family.clone());
    let result = match Password::parse(&form.new_password) {
        Ok(password) => {
            let (store, context) = (depot.store.clone(), ctx(&depot, &visitor));
            run(move || {
                store.change_password(&context, customer, &form.old_password, &password, keep.as_deref())
            })
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => see_other(&format!("{BASE_PATH}/profile?done=password_changed")),
        Err(e) => {
            let extra = json!({"password_error": e.message(visitor.lang)});
            render::with_retry_after(&e, show(&depot, &visitor, customer, status_of(&e), extra).await)
        }
    }
}

#[derive(Debug, Deserialize)]
struct NewsletterForm {
    csrf: String,
    action: String,
}

async fn newsletter(
    depot: web::Data<Depot>,
    visitor: Visitor,
    form: web::Form<NewsletterForm>,
) -> HttpResponse {
    let Some(customer) = visitor.customer() else { return render::to_login() };
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let (store, context, links) = (depot.store.clone(), ctx(&depot, &visitor), depot.settings.links.clone());
    let (limits, source) = (depot.settings.limits, visitor.source.clone());
    let result = match form.action.as_str() {
        "subscribe" => {
            run(move || store.guarded_marketing_request(&context, &limits, customer, &source, &links)).await
        }
        "unsubscribe" => {
            run(move || store.withdraw_marketing_consent(&context, customer, false, Some(&source), &links))
                .await
        }
        _ => Err(CoreError::invalid("action", "must be subscribe or unsubscribe")),
    };
    match result {
        Ok(_) => see_other(&format!("{BASE_PATH}/profile")),
        Err(e) => {
            let extra = json!({"newsletter_error": e.message(visitor.lang)});
            render::with_retry_after(&e, show(&depot, &visitor, customer, status_of(&e), extra).await)
        }
    }
}

/// Ends every other session of the account (a device left logged in); this one stays.
async fn end_other_sessions(
    depot: web::Data<Depot>,
    visitor: Visitor,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (Some(customer), Some(login)) = (visitor.customer(), visitor.login.clone()) else {
        return render::to_login();
    };
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let (store, context) = (depot.store.clone(), ctx(&depot, &visitor));
    match run(move || store.end_other_sessions(&context, customer, &login.family)).await {
        Ok(()) => see_other(&format!("{BASE_PATH}/profile?done=other_sessions_ended")),
        Err(e) => render::refusal(&depot, &visitor, &e),
    }
}

#[derive(Debug, Deserialize)]
struct AccountForm {
    csrf: String,
    name: String,
    language: String,
}

/// Name and the account's language (mails, and the depot after a login).
async fn update_account(
    depot: web::Data<Depot>,
    visitor: Visitor,
    form: web::Form<AccountForm>,
) -> HttpResponse {
    let Some(customer) = visitor.customer() else { return render::to_login() };
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let lang = match form.language.as_str() {
        "en" => Ok(keyport_core::Lang::En),
        "de" => Ok(keyport_core::Lang::De),
        _ => Err(CoreError::invalid("language", "must be en or de")),
    };
    let result = match (keyport_core::DisplayName::parse(&form.name), lang) {
        (Ok(name), Ok(lang)) => {
            let (store, context) = (depot.store.clone(), ctx(&depot, &visitor));
            run(move || store.update_profile(&context, customer, &name, lang)).await.map(|_| lang)
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(lang) => {
            let mut response = see_other(&format!("{BASE_PATH}/profile?done=profile_saved"));
            // The pages follow the account's language from now on (an earlier switch is undone).
            let account =
                crate::session::cookie(&depot, crate::session::ACCOUNT_LANG_COOKIE, lang.code().to_owned());
            let _ = response.add_cookie(&account);
            let _ = response.add_cookie(&crate::session::removal(&depot, crate::session::LANG_COOKIE));
            response
        }
        Err(e) => {
            let extra = json!({"account_error": e.message(visitor.lang)});
            render::with_retry_after(&e, show(&depot, &visitor, customer, status_of(&e), extra).await)
        }
    }
}
