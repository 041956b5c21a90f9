//! Pages: the templates, the context every page gets (words, theme, CSRF token, login),
//! refusals in the visitor's language, the stylesheets and the logo, the language switch.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpResponse, HttpResponseBuilder, web};
use keyport_core::{Actor, Channel, CoreError, ErrorCode, Lang};
use keyport_store::{Context, SessionSubject, StoreError};
use minijinja::value::Kwargs;
use serde::Deserialize;
use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::session::{CSRF_COOKIE, LANG_COOKIE, Visitor, cookie};
use crate::{BASE_PATH, Depot};

pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("files.html", include_str!("../templates/files.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("register.html", include_str!("../templates/register.html")),
    ("message.html", include_str!("../templates/message.html")),
    ("token_form.html", include_str!("../templates/token_form.html")),
    ("forgot.html", include_str!("../templates/forgot.html")),
    ("licenses.html", include_str!("../templates/licenses.html")),
    ("downloads.html", include_str!("../templates/downloads.html")),
    ("demos.html", include_str!("../templates/demos.html")),
    ("license.html", include_str!("../templates/license.html")),
    ("recover.html", include_str!("../templates/recover.html")),
    ("profile.html", include_str!("../templates/profile.html")),
];

/// Notices a page shows after a redirect (`?done=`); anything else is ignored.
const NOTICES: &[&str] = &[
    "logged_out",
    "receipt_done",
    "proof_done",
    "password_changed",
    "other_sessions_ended",
    "profile_saved",
    "demo_given",
];

pub(crate) fn templates() -> Result<minijinja::Environment<'static>, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    env.add_filter("fill", fill);
    env.add_filter("day", day);
    env.add_filter("bytes", bytes);
    Ok(env)
}

/// `"{credits} left" | fill(credits=2)`: a text with its facts.
fn fill(text: String, facts: Kwargs) -> Result<String, minijinja::Error> {
    let mut out = text;
    for name in facts.args() {
        let value: minijinja::Value = facts.get(name)?;
        out = out.replace(&format!("{{{name}}}"), &value.to_string());
    }
    Ok(out)
}

/// A size for people: `830 bytes`, `12.4 KB`, `1.2 GB`.
fn bytes(size: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if size < 1024 {
        return format!("{size} bytes");
    }
    let mut value = size as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A time as its day (`2026-12-01`).
fn day(value: String) -> String {
    value.chars().take(10).collect()
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/depot.css", web::get().to(stylesheet))
        .route("/theme.css", web::get().to(theme_css))
        .route("/theme/extra.css", web::get().to(extra_css))
        .route("/theme/logo", web::get().to(logo))
        .route("/language", web::get().to(language));
}

/// The context of a use case run from a page.
pub(crate) fn ctx(depot: &Depot, visitor: &Visitor) -> Context {
    let actor = match visitor.login.as_ref().map(|l| l.subject) {
        Some(SessionSubject::Customer(id)) => Actor::Customer(id),
        Some(SessionSubject::Ticket(id)) => Actor::Ticket(id),
        None => Actor::System,
    };
    Context::new(actor, Channel::Depot, depot.store.now())
}

/// Runs a store call off the async workers; an internal failure is logged once and
/// becomes its code without detail.
pub(crate) async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, CoreError> {
    let span = tracing::Span::current();
    match web::block(move || span.in_scope(f)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(StoreError::Domain(e))) => Err(e),
        Ok(Err(other)) => {
            let code = other.code();
            tracing::error!(error = %other, code = code.as_str(), "store failure");
            Err(CoreError::new(code))
        }
        Err(e) => {
            tracing::error!(error = %e, "a blocking task failed");
            Err(CoreError::new(ErrorCode::InternalError))
        }
    }
}

fn lang_name(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "en",
        Lang::De => "de",
    }
}

/// Every word of the depot in both languages with the theme's overrides, and the footer's
/// links: made once at start (each page shares them).
pub(crate) struct Words {
    en: (BTreeMap<&'static str, String>, minijinja::Value, minijinja::Value),
    de: (BTreeMap<&'static str, String>, minijinja::Value, minijinja::Value),
}

impl Words {
    pub(crate) fn new(theme: &crate::Theme) -> Words {
        let of = |lang: Lang| {
            let table = crate::texts::table(lang, &theme.texts_of(lang));
            let footer: Vec<Value> = theme
                .footer
                .iter()
                .map(|link| {
                    let label = match lang {
                        Lang::En => link.en.clone(),
                        Lang::De => link.de.clone().unwrap_or_else(|| link.en.clone()),
                    };
                    json!({"label": label, "url": link.url})
                })
                .collect();
            let value = minijinja::Value::from_serialize(&table);
            (table, value, minijinja::Value::from_serialize(&footer))
        };
        Words { en: of(Lang::En), de: of(Lang::De) }
    }

    fn of(&self, lang: Lang) -> &(BTreeMap<&'static str, String>, minijinja::Value, minijinja::Value) {
        match lang {
            Lang::En => &self.en,
            Lang::De => &self.de,
        }
    }

    /// One word in a language (the key itself if there is none: a template test guards that).
    pub(crate) fn word(&self, lang: Lang, key: &str) -> String {
        self.of(lang).0.get(key).cloned().unwrap_or_else(|| key.to_owned())
    }
}

/// Renders a page: `data`'s fields beside the common ones (a field of `data` wins).
pub(crate) fn page(
    depot: &Depot,
    visitor: &Visitor,
    status: StatusCode,
    template: &str,
    data: impl serde::Serialize,
) -> HttpResponse {
    let theme = &depot.settings.theme;
    let lang = visitor.lang;
    let (_, words, footer) = depot.words.of(lang);
    let (logged_in, customer) = match visitor.login.as_ref().map(|l| l.subject) {
        Some(SessionSubject::Customer(_)) => (true, true),
        Some(SessionSubject::Ticket(_)) => (true, false),
        None => (false, false),
    };
    let common = minijinja::context! {
        t => words.clone(),
        lang => lang_name(lang),
        other_lang => lang_name(other(lang)),
        csrf => visitor.form_token(depot),
        product_name => theme.product_name.as_str(),
        footer => footer.clone(),
        has_logo => theme.logo.is_some(),
        has_extra_css => theme.extra_css.is_some(),
        has_downloads => depot.settings.download_links.is_some(),
        logged_in => logged_in,
        customer => customer,
        path => visitor.path.as_str(),
        error => (),
        notice => (),
        title => (),
    };
    // The last map wins a key (merge_maps' own code; its documentation says the opposite).
    let context = minijinja::value::merge_maps([common, minijinja::Value::from_serialize(&data)]);
    let rendered = depot.templates.get_template(template).and_then(|t| t.render(context));
    let mut builder = HttpResponse::build(status);
    with_csrf_cookie(depot, visitor, &mut builder);
    match rendered {
        Ok(html) => builder.content_type("text/html; charset=utf-8").body(html),
        Err(e) => {
            tracing::error!(error = %e, template, "a depot template failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body(depot.words.word(lang, "internal_error"))
        }
    }
}

/// Sets the CSRF cookie on an answer when the visitor had none.
pub(crate) fn with_csrf_cookie(depot: &Depot, visitor: &Visitor, builder: &mut HttpResponseBuilder) {
    if visitor.fresh_csrf {
        builder.cookie(cookie(depot, CSRF_COOKIE, visitor.csrf_cookie.clone()));
    }
}

fn other(lang: Lang) -> Lang {
    match lang {
        Lang::En => Lang::De,
        Lang::De => Lang::En,
    }
}

/// A page that says one thing (a confirmation, a refusal).
pub(crate) fn message(
    depot: &Depot,
    visitor: &Visitor,
    status: StatusCode,
    title: &str,
    text: &str,
) -> HttpResponse {
    let (title, text) = (depot.words.word(visitor.lang, title), depot.words.word(visitor.lang, text));
    page(depot, visitor, status, "message.html", json!({"title": title, "text": text}))
}

/// A refusal as a page: the API's message in the visitor's language, with its status.
pub(crate) fn refusal(depot: &Depot, visitor: &Visitor, error: &CoreError) -> HttpResponse {
    let status = status_of(error);
    let title = depot.words.word(visitor.lang, "error_title");
    let data = json!({"title": title, "text": error.message(visitor.lang), "code": error.code().as_str()});
    with_retry_after(error, page(depot, visitor, status, "message.html", data))
}

/// The status a refusal answers with (the API's for the same code).
pub(crate) fn status_of(error: &CoreError) -> StatusCode {
    StatusCode::from_u16(error.code().http_status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// A refused answer's `Retry-After`, as the API sends it.
pub(crate) fn with_retry_after(error: &CoreError, mut response: HttpResponse) -> HttpResponse {
    if let Some(value) = error.retry_after().and_then(|s| header::HeaderValue::from_str(&s).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A form shown again after a refusal (its message in `data`): the refusal's status and
/// `Retry-After`.
pub(crate) fn refused_form(
    depot: &Depot,
    visitor: &Visitor,
    error: &CoreError,
    template: &str,
    data: impl serde::Serialize,
) -> HttpResponse {
    with_retry_after(error, page(depot, visitor, status_of(error), template, data))
}

/// A form whose CSRF token is missing or wrong: refused, nothing done.
pub(crate) fn form_expired(depot: &Depot, visitor: &Visitor) -> HttpResponse {
    message(depot, visitor, StatusCode::FORBIDDEN, "error_title", "form_expired")
}

/// To the login page (a page that needs a login, visited without one).
pub(crate) fn to_login() -> HttpResponse {
    see_other(&format!("{BASE_PATH}/login"))
}

/// A redirect after a form (303: the browser follows with GET).
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location.to_owned())).finish()
}

/// The notice a redirect asked for, if it is one of the known ones.
pub(crate) fn notice(done: Option<&str>) -> Option<&'static str> {
    done.and_then(|d| NOTICES.iter().copied().find(|n| *n == d))
}

/// `?done=` after a redirect.
#[derive(Debug, Deserialize)]
pub(crate) struct DoneQuery {
    pub done: Option<String>,
}

pub(crate) async fn not_found(depot: web::Data<Depot>, visitor: Visitor) -> HttpResponse {
    message(&depot, &visitor, StatusCode::NOT_FOUND, "not_found_title", "not_found_text")
}

fn cached(content_type: &str) -> HttpResponseBuilder {
    let mut builder = HttpResponse::Ok();
    builder
        .content_type(content_type.to_owned())
        .insert_header(CacheControl(vec![CacheDirective::Public, CacheDirective::MaxAge(3600)]));
    builder
}

async fn stylesheet() -> HttpResponse {
    cached("text/css; charset=utf-8").body(include_str!("../static/depot.css"))
}

async fn theme_css(depot: web::Data<Depot>) -> HttpResponse {
    cached("text/css; charset=utf-8").body(depot.settings.theme.css.clone())
}

async fn extra_css(depot: web::Data<Depot>, visitor: Visitor) -> HttpResponse {
    match &depot.settings.theme.extra_css {
        Some(css) => cached("text/css; charset=utf-8").body(css.clone()),
        None => not_found(depot, visitor).await,
    }
}

async fn logo(depot: web::Data<Depot>, visitor: Visitor) -> HttpResponse {
    match &depot.settings.theme.logo {
        Some((bytes, content_type)) => cached(content_type).body(bytes.clone()),
        None => not_found(depot, visitor).await,
    }
}

#[derive(Debug, Deserialize)]
struct LanguageQuery {
    to: Option<String>,
    back: Option<String>,
}

/// The language switch: remembers the choice in a cookie and goes back to a depot page.
async fn language(depot: web::Data<Depot>, query: web::Query<LanguageQuery>) -> HttpResponse {
    let lang = match query.to.as_deref() {
        Some("de") => "de",
        _ => "en",
    };
    let back = query
        .back
        .as_deref()
        .filter(|b| {
            b.starts_with("/depot/")
                && !b.contains("//")
                && b.len() < 400
                && b.bytes().all(|c| c.is_ascii_graphic() && c != b'\\')
        })
        .unwrap_or("/depot/");
    let mut response = see_other(back);
    let _ = response.add_cookie(&cookie(&depot, LANG_COOKIE, lang.to_owned()));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pages_own_values_win_over_the_common_ones() {
        // `page` relies on this (minijinja's merge_maps: the last map wins a key).
        let merged = minijinja::value::merge_maps([
            minijinja::context! { error => (), notice => "common" },
            minijinja::context! { notice => "own" },
        ]);
        let env = minijinja::Environment::new();
        let shown = env.render_str("{{ notice }}|{{ error is none }}", merged).unwrap();
        assert_eq!(shown, "own|True");
    }

    #[test]
    fn page_titles_are_text() {
        for (name, source) in TEMPLATES {
            if let Some(at) = source.find("{% block title %}") {
                let rest = &source[at..];
                let title = &rest[..rest.find("{% endblock %}").unwrap()];
                assert!(!title.contains('<') && !title.contains('\n'), "{name}: {title}");
            }
        }
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(bytes(830), "830 bytes");
        assert_eq!(bytes(12 * 1024 + 400), "12.4 KB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GB");
    }
}
