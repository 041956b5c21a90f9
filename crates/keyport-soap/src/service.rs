//! The actix service at `/soap`: `GET /soap?wsdl` serves the contract with this server's
//! address; `POST /soap` reads the envelope, authenticates, checks the payload against the
//! contract, and dispatches.

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT_LANGUAGE, AUTHORIZATION};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt as _;
use keyport_core::{Actor, Channel, CoreError, ErrorCode, Lang};
use keyport_store::{Context, Store};

use crate::contract::OPERATIONS;
use crate::envelope::{self, Fault};
use crate::operations;

/// The largest SOAP request accepted, in bytes.
pub const BODY_LIMIT: usize = 512 * 1024;

/// The contract as committed.
pub const WSDL: &str = include_str!("../../../wsdl/keyport.wsdl");

/// What the SOAP service shares between requests.
#[derive(Clone)]
pub struct SoapState {
    /// The store.
    pub store: Store,
    /// The public base URL for the WSDL's service address; the request's host when absent.
    pub public_url: Option<String>,
    /// Where links in invitation mails point.
    pub links: keyport_store::mail::MailLinks,
    /// Who gets no demo.
    pub demo: keyport_core::demo::DemoPolicy,
}

/// Mounts `/soap`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/soap")
            .route(web::get().to(wsdl))
            .route(web::post().to(call))
            .default_service(web::to(other_method)),
    );
}

/// Any other method: 405 with the methods `/soap` answers.
async fn other_method() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", "GET, POST, HEAD"))
        .content_type("text/plain")
        .body("/soap answers GET /soap?wsdl (the contract) and POST (operations)\n")
}

async fn wsdl(req: HttpRequest, state: web::Data<SoapState>) -> HttpResponse {
    if !req.query_string().eq_ignore_ascii_case("wsdl") {
        return HttpResponse::NotFound().content_type("text/plain").body("GET /soap?wsdl for the contract\n");
    }
    // The configured public URL; else the origin (forwarded headers count only from a
    // trusted proxy); never a caller's own X-Forwarded-Host.
    let base = state.public_url.clone().unwrap_or_else(|| {
        use actix_web::HttpMessage;
        match req.extensions().get::<keyport_core::net::Origin>() {
            Some(origin) => format!("{}://{}", origin.scheme, origin.host),
            None => {
                let host = req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
                format!("http://{host}")
            }
        }
    });
    let location = format!("{}/soap", base.trim_end_matches('/'));
    let text = WSDL.replace("http://localhost:8080/soap", &crate::xml::escape(&location));
    HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(text)
}

fn lang(req: &HttpRequest) -> Lang {
    req.headers()
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or_default()
}

fn xml(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status).content_type("text/xml; charset=utf-8").body(body)
}

async fn call(req: HttpRequest, mut payload: web::Payload, state: web::Data<SoapState>) -> HttpResponse {
    let lang = lang(&req);
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return xml(
                StatusCode::INTERNAL_SERVER_ERROR,
                envelope::fault(&envelope::malformed("the body could not be read"), lang),
            );
        };
        if body.len() + chunk.len() > BODY_LIMIT {
            let fault = Fault::from(CoreError::new(ErrorCode::PayloadTooLarge).with("limit", BODY_LIMIT));
            return xml(StatusCode::INTERNAL_SERVER_ERROR, envelope::fault(&fault, lang));
        }
        body.extend_from_slice(&chunk);
    }
    let basic = basic_password(&req);
    let state = state.into_inner();
    // The request's span goes along, so the store's log lines carry the request id.
    let span = tracing::Span::current();
    let answer = web::block(move || span.in_scope(|| handle(&state, &body, basic))).await;
    match answer {
        Ok(Ok(text)) => xml(StatusCode::OK, text),
        Ok(Err(fault)) => {
            tracing::Span::current().record("error.code", fault.error.code().as_str());
            metrics::counter!("keyport_refusals_total", "code" => fault.error.code().as_str()).increment(1);
            xml(StatusCode::INTERNAL_SERVER_ERROR, envelope::fault(&fault, lang))
        }
        Err(e) => {
            tracing::error!(error = %e, "a SOAP call could not run");
            let fault = Fault::from(CoreError::new(ErrorCode::InternalError));
            xml(StatusCode::INTERNAL_SERVER_ERROR, envelope::fault(&fault, lang))
        }
    }
}

/// The password of HTTP Basic authentication, if given.
fn basic_password(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    decoded.split_once(':').map(|(_, password)| password.to_owned())
}

/// Everything after the body was read: runs off the async workers.
fn handle(state: &SoapState, body: &[u8], basic: Option<String>) -> Result<String, Fault> {
    let text = std::str::from_utf8(body).map_err(|_| envelope::malformed("the body is not UTF-8"))?;
    let request = envelope::read(text)?;
    let operation = OPERATIONS
        .iter()
        .find(|op| op.input == request.payload.name)
        .ok_or_else(|| envelope::malformed(format!("there is no operation {}", request.payload.name)))?;
    tracing::Span::current().record("soap.operation", operation.name);
    let started = std::time::Instant::now();
    let answered = run_operation(state, operation, &request, basic);
    let outcome = match &answered {
        Ok(_) => "ok",
        Err(fault) => fault.error.code().as_str(),
    };
    metrics::counter!("keyport_soap_requests_total", "operation" => operation.name, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("keyport_soap_request_duration_seconds", "operation" => operation.name)
        .record(started.elapsed().as_secs_f64());
    answered
}

/// An operation of a read envelope: authentication, role, the strict schema check, the call.
fn run_operation(
    state: &SoapState,
    operation: &crate::schema::OperationDesc,
    request: &envelope::Request,
    basic: Option<String>,
) -> Result<String, Fault> {
    let store = &state.store;
    let key = request
        .ws_password
        .clone()
        .or(basic)
        .ok_or_else(|| Fault::from(CoreError::new(ErrorCode::Unauthorized)))?;
    let key = store
        .authenticate_api_key(&key, store.now())
        .map_err(|_| Fault::from(CoreError::new(ErrorCode::Unauthorized)))?;
    if !operations::allowed(operation.operation).contains(&key.role) {
        return Err(CoreError::new(ErrorCode::Forbidden).into());
    }
    let canonical = crate::schema::check(&request.payload, operation.input).map_err(envelope::malformed)?;
    let ctx = Context::new(Actor::ApiKey(key.id), Channel::Soap, store.now());
    let payload =
        operations::dispatch(store, &state.links, &state.demo, &ctx, operation.operation, &canonical)?;
    Ok(envelope::response(&payload))
}
