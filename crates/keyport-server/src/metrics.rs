//! `GET /metrics` in the Prometheus text format, and what feeds it: every request by route
//! pattern (never the raw path), method and status, with a latency histogram; refusals by
//! their stable code; database pool, write retries and pool timeouts; the mail outbox's depth
//! and the age of its oldest mail; certificates signed; SOAP operations (recorded by
//! keyport-soap); build info. An optional bearer token guards the endpoint.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use keyport_core::CoreError;
use keyport_store::Store;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds, from a cached answer to a slow database.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The process's recorder (metrics are process-wide, like the allocator): installed once.
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &BUCKETS)
                .and_then(|builder| builder.install_recorder());
            match installed {
                Ok(handle) => {
                    metrics::gauge!("keyport_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
                    Some(handle)
                }
                Err(e) => {
                    tracing::error!(error = %e, "the metrics recorder could not be installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Who may read `/metrics`: anyone, or callers with this bearer token.
#[derive(Debug, Clone, Default)]
pub struct MetricsAccess(pub Option<String>);

/// Middleware: counts and times every request by its route pattern.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    handle();
    let started = Instant::now();
    // A fixed set: any other token a client makes up would be a new series.
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let route = req.match_pattern().unwrap_or_else(|| "(no route)".to_owned());
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status().as_u16().to_string();
    if let Some(error) = res.response().extensions().get::<CoreError>() {
        metrics::counter!("keyport_refusals_total", "code" => error.code().as_str()).increment(1);
    }
    metrics::counter!("keyport_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("keyport_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(res)
}

/// Compares two secrets by their digests, every byte, so the time taken tells nothing.
fn same_secret(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(given.as_bytes()), Sha256::digest(expected.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// `GET /metrics`.
pub async fn metrics(
    req: HttpRequest,
    store: web::Data<Store>,
    access: web::Data<MetricsAccess>,
) -> HttpResponse {
    if let Some(token) = &access.0 {
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, given)| given.trim());
        if !given.is_some_and(|given| same_secret(given, token)) {
            return HttpResponse::Unauthorized().insert_header(("WWW-Authenticate", "Bearer")).finish();
        }
    }
    let Some(handle) = handle() else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let store = store.into_inner();
    let (open, idle) = store.pool_state();
    metrics::gauge!("keyport_db_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("keyport_db_connections", "state" => "in_use").set(f64::from(open.saturating_sub(idle)));
    let state_store = store.clone();
    let outbox = web::block(move || store.outbox_stats(store.now())).await;
    match outbox {
        Ok(Ok((depth, oldest))) => {
            metrics::gauge!("keyport_mail_outbox_depth").set(depth as f64);
            metrics::gauge!("keyport_mail_outbox_oldest_seconds").set(oldest.unwrap_or(0) as f64);
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "the outbox could not be measured"),
        Err(e) => tracing::warn!(error = %e, "the outbox could not be measured"),
    }
    let store = state_store.clone();
    let webhooks = web::block(move || store.webhook_stats(store.now())).await;
    match webhooks {
        Ok(Ok((depth, oldest))) => {
            metrics::gauge!("keyport_webhook_queue_depth").set(depth as f64);
            metrics::gauge!("keyport_webhook_oldest_seconds").set(oldest.unwrap_or(0) as f64);
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "the webhook queue could not be measured"),
        Err(e) => tracing::warn!(error = %e, "the webhook queue could not be measured"),
    }
    handle.run_upkeep();
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(handle.render())
}
