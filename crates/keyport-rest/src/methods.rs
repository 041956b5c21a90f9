//! HTTP methods per path: `HEAD` wherever `GET` answers (monitoring uses it), and `405` with
//! an `Allow` header for a path that exists with another method, instead of `404`.
//!
//! The table of the API's paths is the OpenAPI document's, so it cannot drift from the
//! routes; the server adds its own few paths (health, SOAP, JWKS).

use std::sync::LazyLock;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse};
use keyport_core::{CoreError, ErrorCode};

use crate::ApiError;

/// Path templates (`/api/v1/products/{code}`) with the methods each answers.
pub struct MethodTable {
    routes: Vec<(Vec<String>, Vec<Method>)>,
}

impl MethodTable {
    /// The API's paths (from the OpenAPI document) and `extra` ones.
    pub fn with(extra: &[(&str, &[Method])]) -> MethodTable {
        let api = crate::openapi();
        let mut routes: Vec<(Vec<String>, Vec<Method>)> = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let present = [
                    (item.get.is_some(), Method::GET),
                    (item.put.is_some(), Method::PUT),
                    (item.post.is_some(), Method::POST),
                    (item.patch.is_some(), Method::PATCH),
                    (item.delete.is_some(), Method::DELETE),
                ];
                (segments(path), present.into_iter().filter(|(on, _)| *on).map(|(_, m)| m).collect())
            })
            .collect();
        routes.push((segments("/api/v1/openapi.json"), vec![Method::GET]));
        routes.extend(extra.iter().map(|(path, methods)| (segments(path), methods.to_vec())));
        MethodTable { routes }
    }

    /// The methods `path` answers, `None` when no route has this shape.
    pub fn allowed(&self, path: &str) -> Option<Vec<Method>> {
        let wanted = segments(path);
        let mut allowed: Vec<Method> = Vec::new();
        for (template, methods) in &self.routes {
            let fits = template.len() == wanted.len()
                && template.iter().zip(&wanted).all(|(t, w)| t == w || (t.starts_with('{') && !w.is_empty()));
            if fits {
                allowed.extend(methods.iter().cloned());
            }
        }
        if allowed.is_empty() {
            return None;
        }
        if allowed.contains(&Method::GET) {
            allowed.push(Method::HEAD);
        }
        allowed.dedup();
        Some(allowed)
    }
}

fn segments(path: &str) -> Vec<String> {
    path.trim_end_matches('/').split('/').map(str::to_owned).collect()
}

/// The server's table: the API's paths and the server's own.
static TABLE: LazyLock<MethodTable> = LazyLock::new(|| {
    MethodTable::with(&[
        ("/healthz", &[Method::GET]),
        ("/readyz", &[Method::GET]),
        ("/soap", &[Method::GET, Method::POST]),
        ("/.well-known/jwks.json", &[Method::GET]),
        ("/docs", &[Method::GET]),
        ("/metrics", &[Method::GET]),
    ])
});

/// The answer for a request no route took: `405` with `Allow` when the path exists with
/// other methods, `404` otherwise.
pub async fn no_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    match TABLE.allowed(req.path()) {
        Some(allowed) => {
            let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
            Err(ApiError::from(
                CoreError::new(ErrorCode::MethodNotAllowed)
                    .with("method", req.method().as_str().to_owned())
                    .with("allowed", names.join(", ")),
            ))
        }
        None => Err(ApiError::from(CoreError::new(ErrorCode::NotFound).with("resource", "route"))),
    }
}

/// Middleware: a `HEAD` request is answered as the `GET` of the same path; the server sends
/// the headers and no body.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
