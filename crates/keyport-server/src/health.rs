//! `/healthz` (the process is up) and `/readyz` (the database answers).

use std::time::Duration;

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

/// How long the readiness check waits for the database: a load balancer needs an answer
/// within a second, not after the database's own timeouts.
const READY_WAIT: Duration = Duration::from_millis(800);

/// The database answers; 503 with a problem document within a second when it does not.
#[get("/readyz")]
async fn readyz(store: web::Data<Store>) -> HttpResponse {
    let store = store.into_inner();
    let checked = tokio::time::timeout(READY_WAIT, web::block(move || store.ping(READY_WAIT))).await;
    match checked {
        Ok(Ok(Ok(()))) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "readiness check failed");
            unavailable()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check could not run");
            unavailable()
        }
        Err(_) => {
            tracing::warn!(
                waited_ms = READY_WAIT.as_millis(),
                "the database did not answer the readiness check in time"
            );
            unavailable()
        }
    }
}

fn unavailable() -> HttpResponse {
    let error = CoreError::new(ErrorCode::Unavailable);
    HttpResponse::ServiceUnavailable()
        .insert_header(("Retry-After", "1"))
        .content_type("application/problem+json")
        .json(json!({
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "code": error.code().as_str(),
            "detail": error.message(Lang::En),
        }))
}
