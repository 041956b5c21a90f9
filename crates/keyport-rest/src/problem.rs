//! Errors as RFC 9457 problem documents.
//!
//! Policy: every error a handler or extractor returns becomes `application/problem+json`
//! with the stable `code` from keyport-core's table, the HTTP status of that code, a message
//! (`detail`) in English or German by `Accept-Language`, and the named `facts`. Internal
//! causes are logged once here and never put in a body.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::ACCEPT_LANGUAGE;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError, error, web};
use keyport_core::{CoreError, ErrorCode, Lang};
use keyport_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The largest JSON body accepted, in bytes.
pub const JSON_LIMIT: usize = 256 * 1024;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:keyport:error:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The stable error code.
    pub code: String,
    /// What went wrong, for a person, in English or German.
    pub detail: String,
    /// The named facts the message mentions (for example `date`, `seats`, `field`).
    pub facts: std::collections::BTreeMap<String, String>,
}

/// An error a handler answers with.
#[derive(Debug)]
pub struct ApiError(CoreError);

impl ApiError {
    /// An error with this code and no facts.
    pub fn new(code: ErrorCode) -> ApiError {
        ApiError(CoreError::new(code))
    }

    /// An internal failure: logged here with its cause, shown as `internal_error`.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(ErrorCode::InternalError)
    }

    /// The domain error inside.
    pub fn error(&self) -> &CoreError {
        &self.0
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(e) => ApiError(e),
            other => {
                let code = other.code();
                tracing::error!(error = %other, code = code.as_str(), "store failure");
                ApiError::new(code)
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.0.code())
    }

    fn error_response(&self) -> HttpResponse {
        problem_response(&self.0, Lang::En)
    }
}

fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Renders an error as a problem response in a language. The error rides along in the
/// response's extensions so [`localize`] can render it again in the caller's language.
pub fn problem_response(error: &CoreError, lang: Lang) -> HttpResponse {
    let status = status_of(error.code());
    let problem = Problem {
        kind: format!("urn:keyport:error:{}", error.code()),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        code: error.code().as_str().to_owned(),
        detail: error.message(lang),
        facts: error.facts().iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
    };
    let mut builder = HttpResponse::build(status);
    if let Some(seconds) = error.retry_after() {
        builder.insert_header(("Retry-After", seconds));
    }
    if let Some(allowed) =
        error.facts().get("allowed").filter(|_| error.code() == ErrorCode::MethodNotAllowed)
    {
        builder.insert_header(("Allow", allowed.as_str()));
    }
    let mut response = builder.content_type("application/problem+json").json(problem);
    response.extensions_mut().insert(error.clone());
    response
}

/// The language `Accept-Language` asks for (English without one).
pub fn lang_of(headers: &actix_web::http::header::HeaderMap) -> Lang {
    headers
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or_default()
}

/// Middleware: renders problem responses again in the language `Accept-Language` asks for.
pub async fn localize(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let lang = lang_of(req.headers());
    let res = next.call(req).await?;
    if lang == Lang::En {
        return Ok(res.map_into_boxed_body());
    }
    let error = res.response().extensions().get::<CoreError>().cloned();
    match error {
        Some(error) => {
            let (req, _) = res.into_parts();
            Ok(ServiceResponse::new(req, problem_response(&error, lang)))
        }
        None => Ok(res.map_into_boxed_body()),
    }
}

/// JSON bodies: size limit, and problem documents for every way a body can be wrong.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(JSON_LIMIT).error_handler(|err, _req: &HttpRequest| {
        let core = match &err {
            error::JsonPayloadError::Overflow { .. }
            | error::JsonPayloadError::OverflowKnownLength { .. } => {
                CoreError::new(ErrorCode::PayloadTooLarge).with("limit", JSON_LIMIT)
            }
            error::JsonPayloadError::ContentType => CoreError::new(ErrorCode::MalformedRequest)
                .with("reason", "the body must be JSON with Content-Type: application/json"),
            error::JsonPayloadError::Deserialize(e) if e.is_data() => {
                CoreError::invalid("body", e.to_string())
            }
            other => CoreError::new(ErrorCode::MalformedRequest).with("reason", other.to_string()),
        };
        error::InternalError::from_response(err, problem_response(&core, Lang::En)).into()
    })
}

/// Query strings: wrong values are `invalid_input`.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let core = CoreError::invalid("query", err.to_string());
        error::InternalError::from_response(err, problem_response(&core, Lang::En)).into()
    })
}

/// Path segments that cannot name anything (a malformed id) are `not_found`.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        let core = CoreError::new(ErrorCode::NotFound).with("resource", "resource");
        error::InternalError::from_response(err, problem_response(&core, Lang::En)).into()
    })
}

/// Any other body (a payload limit outside JSON).
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(JSON_LIMIT)
}

/// The problems a reading call can answer with.
#[derive(utoipa::IntoResponses)]
pub enum ReadProblems {
    /// No or invalid credentials.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The caller's role may not do this.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// Not found, or not visible to the caller.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// A query parameter is invalid.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
    /// Too many requests from this address at once, or over a limit; see Retry-After.
    #[response(status = 429, content_type = "application/problem+json")]
    TooMany(Problem),
}

/// The problems a changing call can answer with.
#[derive(utoipa::IntoResponses)]
pub enum WriteProblems {
    /// The body is not valid JSON.
    #[response(status = 400, content_type = "application/problem+json")]
    Malformed(Problem),
    /// No or invalid credentials.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The caller's role may not do this.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// Not found, or not visible to the caller.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// A rule says no (seats, credits, duplicates, ...); `code` says which.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// The body is larger than 256 KiB.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// A field is missing, unknown or has an invalid value; `facts.field` names it.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
    /// The body did not arrive in time.
    #[response(status = 408, content_type = "application/problem+json")]
    Timeout(Problem),
    /// Too many requests from this address at once, or over a limit; see Retry-After.
    #[response(status = 429, content_type = "application/problem+json")]
    TooMany(Problem),
}

/// The problems a download link can answer with.
#[derive(utoipa::IntoResponses)]
pub enum DownloadProblems {
    /// The `token` parameter is missing.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
    /// The link is forged, expired or for another file (`download_link_invalid`), or its
    /// holder is not entitled to the release any more (`not_entitled`).
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such file.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The `Range` lies beyond the file's end.
    #[response(status = 416, content_type = "application/problem+json")]
    RangeNotSatisfiable(Problem),
}
