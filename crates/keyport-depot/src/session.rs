//! Who is visiting: the session cookie (a signed token naming a session family of the
//! store, checked against the store on every request, so logout and a password reset end
//! it at once), the CSRF cookie and the token every form carries, and the language.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header::ACCEPT_LANGUAGE;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use keyport_core::Lang;
use keyport_store::{Scope, Session, SessionSubject, Store, StoreError, family_of};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::Depot;

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "kp_depot";
/// The CSRF cookie (a random value; forms carry its HMAC).
pub(crate) const CSRF_COOKIE: &str = "kp_csrf";
/// The language switch's cookie.
pub(crate) const LANG_COOKIE: &str = "kp_lang";
/// The logged-in account's language (set at login, removed at logout).
pub(crate) const ACCOUNT_LANG_COOKIE: &str = "kp_account_lang";
/// How long a depot login lasts at most, in seconds (the session's refresh expiry if sooner).
const SESSION_SECONDS: i64 = 12 * 3600;
const AUDIENCE: &str = "keyport-depot";

/// The depot's signing keys, from secrets of the database (the same for every instance).
pub(crate) struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    csrf: Vec<u8>,
}

impl Keys {
    pub(crate) fn load(store: &Store) -> Result<Keys, StoreError> {
        let session = store.secret("depot_session_hs256")?;
        Ok(Keys {
            encoding: EncodingKey::from_secret(&session),
            decoding: DecodingKey::from_secret(&session),
            csrf: store.secret("depot_csrf_hmac")?,
        })
    }

    /// The token a form must carry for a CSRF cookie (empty, so never matching, if HMAC
    /// refused the key: it takes keys of any length).
    /// The token is bound to the visitor's session too, so a token read before a login (or
    /// planted with a cookie) does not work after it.
    pub(crate) fn form_token(&self, cookie: &str, family: Option<&str>) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.csrf) else { return String::new() };
        mac.update(b"keyport-depot-csrf:");
        mac.update(cookie.as_bytes());
        mac.update(b":");
        mac.update(family.unwrap_or("").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    sid: String,
    aud: String,
    exp: i64,
}

/// A logged-in visitor's session.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub subject: SessionSubject,
    pub family: String,
}

impl Login {
    /// What the visitor may see.
    pub(crate) fn scope(&self) -> Scope {
        match self.subject {
            SessionSubject::Customer(id) => Scope::Customer(id),
            SessionSubject::Ticket(id) => Scope::Ticket(id),
        }
    }
}

/// The session cookie for a new login.
pub(crate) fn session_cookie(
    depot: &Depot,
    session: &Session,
) -> Result<Cookie<'static>, jsonwebtoken::errors::Error> {
    let now = depot.store.now().timestamp();
    let exp = (now + SESSION_SECONDS).min(session.refresh_expires_at.timestamp());
    let sub = match session.subject {
        SessionSubject::Customer(id) => format!("customer:{id}"),
        SessionSubject::Ticket(id) => format!("ticket:{id}"),
    };
    let claims = Claims { sub, sid: family_of(session), aud: AUDIENCE.to_owned(), exp };
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &depot.keys.encoding)?;
    Ok(cookie(depot, SESSION_COOKIE, token))
}

/// A cookie with the depot's flags: HttpOnly, SameSite=Lax, Secure when served over HTTPS,
/// for the depot's paths only, ending with the browser.
pub(crate) fn cookie(depot: &Depot, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/depot")
        .http_only(true)
        .secure(depot.settings.secure_cookies)
        .same_site(SameSite::Lax)
        .finish()
}

/// The same cookie, expired.
pub(crate) fn removal(depot: &Depot, name: &'static str) -> Cookie<'static> {
    let mut gone = cookie(depot, name, String::new());
    gone.make_removal();
    gone
}

fn read_session(depot: &Depot, token: &str) -> Option<(SessionSubject, String)> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Claims>(token, &depot.keys.decoding, &validation).ok()?.claims;
    if claims.exp < depot.store.now().timestamp() {
        return None;
    }
    let subject = match claims.sub.split_once(':')? {
        ("customer", id) => SessionSubject::Customer(uuid::Uuid::parse_str(id).ok()?),
        ("ticket", id) => SessionSubject::Ticket(uuid::Uuid::parse_str(id).ok()?),
        _ => return None,
    };
    Some((subject, claims.sid))
}

/// A form with nothing but its CSRF token (log out, dismiss, end other sessions).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct CsrfForm {
    pub csrf: String,
}

/// Everything a page needs to know about its visitor.
pub(crate) struct Visitor {
    /// The language: the switch's cookie, else the account's (after a login), else
    /// `Accept-Language`.
    pub lang: Lang,
    /// Whether the language was chosen with the switch (its cookie).
    pub chosen_lang: bool,
    /// The open session, if any.
    pub login: Option<Login>,
    /// The CSRF cookie's value, and whether it is new (then the answer sets it).
    pub csrf_cookie: String,
    pub fresh_csrf: bool,
    /// The client's address, for the per-address limits.
    pub source: String,
    /// The page's path and query, for the language switch to come back to.
    pub path: String,
    /// The browser says the request comes from another site (`Sec-Fetch-Site`).
    pub foreign: bool,
}

impl Visitor {
    /// The customer account of a password (or single sign-on) login; `None` for a ticket
    /// login or no login (what needs an account is not theirs).
    pub(crate) fn customer(&self) -> Option<uuid::Uuid> {
        match self.login.as_ref().map(|l| l.subject) {
            Some(SessionSubject::Customer(id)) => Some(id),
            Some(SessionSubject::Ticket(_)) | None => None,
        }
    }

    /// The token this visitor's forms carry.
    pub(crate) fn form_token(&self, depot: &Depot) -> String {
        depot.keys.form_token(&self.csrf_cookie, self.login.as_ref().map(|l| l.family.as_str()))
    }

    /// Whether a form's token belongs to this visitor's CSRF cookie.
    pub(crate) fn csrf_ok(&self, depot: &Depot, token: &str) -> bool {
        if self.fresh_csrf || self.foreign || token.len() != 64 {
            return false;
        }
        let expected = self.form_token(depot);
        // Constant time over the hex strings.
        expected.len() == token.len()
            && expected.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // Without randomness no form is accepted (an empty cookie never matches).
        return String::new();
    }
    hex::encode(bytes)
}

/// The caller's address: the origin the proxy resolver set (it believes forwarded headers
/// from trusted proxies only), or the connection's peer.
fn source(req: &HttpRequest) -> String {
    use actix_web::HttpMessage;
    match req.extensions().get::<keyport_core::net::Origin>() {
        Some(origin) => origin.client.to_string(),
        None => req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".to_owned()),
    }
}

impl FromRequest for Visitor {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Visitor, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let depot = req.app_data::<web::Data<Depot>>().cloned();
        let chosen = req.cookie(LANG_COOKIE).map(|c| c.value().to_owned());
        let chosen_lang = matches!(chosen.as_deref(), Some("de" | "en"));
        let account = req.cookie(ACCOUNT_LANG_COOKIE).map(|c| c.value().to_owned());
        let lang = match chosen.as_deref().or(account.as_deref()) {
            Some("de") => Lang::De,
            Some("en") => Lang::En,
            _ => req
                .headers()
                .get(ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(Lang::from_accept_language)
                .unwrap_or_default(),
        };
        let existing = req
            .cookie(CSRF_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
        let (csrf_cookie, fresh_csrf) = match existing {
            Some(value) => (value, false),
            None => (random_hex(), true),
        };
        let session = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        let source = source(req);
        // A page answering a form has no address of its own to come back to; a page opened
        // from a mail keeps its token.
        let path = match req.method() == actix_web::http::Method::GET {
            true => req.uri().path_and_query().map_or("/depot/", |p| p.as_str()),
            false => "/depot/",
        }
        .to_owned();
        // A sibling subdomain is "same-site": it could set cookies, so only the depot's own
        // pages (or a typed address) may post its forms.
        let foreign = matches!(
            req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok()),
            Some("cross-site" | "same-site")
        );
        Box::pin(async move {
            let depot = depot
                .ok_or_else(|| actix_web::error::ErrorInternalServerError("the depot is not configured"))?;
            let claimed = session.as_deref().and_then(|token| read_session(&depot, token));
            let login = match claimed {
                None => None,
                Some((subject, family)) => {
                    let store = depot.store.clone();
                    let sid = family.clone();
                    let open = web::block(move || store.open_session_subject(&sid)).await;
                    match open {
                        Ok(Ok(Some(found))) if found == subject => Some(Login { subject, family }),
                        Ok(Ok(_)) => None,
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "depot session check failed");
                            return Err(actix_web::error::ErrorServiceUnavailable(
                                "the database is unavailable",
                            ));
                        }
                        Err(e) => return Err(actix_web::error::ErrorInternalServerError(e)),
                    }
                }
            };
            Ok(Visitor { lang, chosen_lang, login, csrf_cookie, fresh_csrf, source, path, foreign })
        })
    }
}
