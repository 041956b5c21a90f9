//! `/healthz` (the process is up) and `/readyz` (the database answers).

use actix_web::{HttpResponse, get, web};
use keyport_core::{CoreError, ErrorCode, Lang};
use keyport_store::Store;
use serde_json::json;

/// Mounts the health endpoints.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

/// The process is up and serving.
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers; 503 with a problem document when it does not.
#[get("/readyz")]
async fn readyz(store: web::Data<Store>) -> HttpResponse {
    let store = store.into_inner();
    let checked = web::block(move || store.ping()).await;
    match checked {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            unavailable()
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check could not run");
            unavailable()
        }
    }
}

fn unavailable() -> HttpResponse {
    let error = CoreError::new(ErrorCode::Unavailable);
    HttpResponse::ServiceUnavailable().content_type("application/problem+json").json(json!({
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "code": error.code().as_str(),
        "detail": error.message(Lang::En),
    }))
}
