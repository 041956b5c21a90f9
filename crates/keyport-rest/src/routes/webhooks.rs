//! Webhook endpoints and deliveries, for admins.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use keyport_api::{
    CreatedWebhookEndpoint, DeliveryQuery, PageQuery, SecretRotationRequest, WebhookDeliveryDetail,
    WebhookDeliveryPage, WebhookDeliveryView, WebhookEndpointChanges, WebhookEndpointPage,
    WebhookEndpointRequest, WebhookEndpointView, WebhookSecretView,
};
use keyport_core::Role;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::auth::{Principal, RestState};
use crate::input::Json;
use crate::problem::{ReadProblems, WriteProblems};
use crate::{ApiError, run};

const ADMIN: &[Role] = &[Role::Admin];

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_webhook_endpoint)
        .service(list_webhook_endpoints)
        .service(get_webhook_endpoint)
        .service(update_webhook_endpoint)
        .service(delete_webhook_endpoint)
        .service(get_webhook_secret)
        .service(create_webhook_secret_rotation)
        .service(list_webhook_deliveries)
        .service(get_webhook_delivery)
        .service(create_webhook_delivery_resend);
}

/// Register an endpoint. The answer carries its signing secret (`whsec_...`).
#[utoipa::path(operation_id = "create_webhook_endpoint", tag = "webhooks", request_body = WebhookEndpointRequest,
    responses((status = 201, description = "The endpoint and its secret", body = CreatedWebhookEndpoint), WriteProblems),
    security(("api_key" = [])))]
#[post("/webhook-endpoints")]
async fn create_webhook_endpoint(
    state: web::Data<RestState>,
    who: Principal,
    body: Json<WebhookEndpointRequest>,
) -> Result<HttpResponse, ApiError> {
    who.staff(ADMIN)?;
    let spec = body.parse()?;
    spec.url.check_address(state.identity.private_webhooks)?;
    let store = state.store.clone();
    let created = run(move || store.create_webhook_endpoint(&who.ctx(&store), &spec)).await?;
    Ok(HttpResponse::Created().insert_header(("Cache-Control", "no-store")).json(created))
}

/// The endpoints, oldest first.
#[utoipa::path(operation_id = "list_webhook_endpoints", tag = "webhooks", params(PageQuery),
    responses((status = 200, description = "A page of endpoints", body = WebhookEndpointPage), ReadProblems),
    security(("api_key" = [])))]
#[get("/webhook-endpoints")]
async fn list_webhook_endpoints(
    state: web::Data<RestState>,
    who: Principal,
    query: web::Query<PageQuery>,
) -> Result<web::Json<WebhookEndpointPage>, ApiError> {
    who.staff(ADMIN)?;
    let (store, q) = (state.store.clone(), query.into_inner());
    Ok(web::Json(run(move || store.list_webhook_endpoints(q.after.as_deref(), q.limit)).await?))
}

/// One endpoint.
#[utoipa::path(operation_id = "get_webhook_endpoint", tag = "webhooks", params(("endpoint_id" = Uuid, Path)),
    responses((status = 200, description = "The endpoint", body = WebhookEndpointView), ReadProblems),
    security(("api_key" = [])))]
#[get("/webhook-endpoints/{endpoint_id}")]
async fn get_webhook_endpoint(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<WebhookEndpointView>, ApiError> {
    who.staff(ADMIN)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.get_webhook_endpoint(id)).await?))
}

/// Change an endpoint: address, kinds, description; `enabled: true` enables a disabled one.
#[utoipa::path(operation_id = "update_webhook_endpoint", tag = "webhooks", params(("endpoint_id" = Uuid, Path)),
    request_body = WebhookEndpointChanges,
    responses((status = 200, description = "The changed endpoint", body = WebhookEndpointView), WriteProblems),
    security(("api_key" = [])))]
#[patch("/webhook-endpoints/{endpoint_id}")]
async fn update_webhook_endpoint(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<WebhookEndpointChanges>,
) -> Result<web::Json<WebhookEndpointView>, ApiError> {
    who.staff(ADMIN)?;
    let changes = body.parse()?;
    if let Some(url) = &changes.url {
        url.check_address(state.identity.private_webhooks)?;
    }
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.update_webhook_endpoint(&who.ctx(&store), id, &changes)).await?))
}

/// Delete an endpoint with its deliveries.
#[utoipa::path(operation_id = "delete_webhook_endpoint", tag = "webhooks", params(("endpoint_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), WriteProblems),
    security(("api_key" = [])))]
#[delete("/webhook-endpoints/{endpoint_id}")]
async fn delete_webhook_endpoint(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    who.staff(ADMIN)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    run(move || store.delete_webhook_endpoint(&who.ctx(&store), id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The endpoint's signing secret (and the previous one during a rotation's overlap).
#[utoipa::path(operation_id = "get_webhook_secret", tag = "webhooks", params(("endpoint_id" = Uuid, Path)),
    responses((status = 200, description = "The secrets", body = WebhookSecretView), ReadProblems),
    security(("api_key" = [])))]
#[get("/webhook-endpoints/{endpoint_id}/secret")]
async fn get_webhook_secret(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    who.staff(ADMIN)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    let secret = run(move || store.webhook_secret(id, store.now())).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(secret))
}

/// Rotate the signing secret: the previous one keeps signing beside the new one for the
/// overlap (a day unless given), so receivers switch without losing a delivery.
#[utoipa::path(operation_id = "create_webhook_secret_rotation", tag = "webhooks", params(("endpoint_id" = Uuid, Path)),
    request_body(content = SecretRotationRequest, description = "`{}` for an overlap of a day"),
    responses((status = 200, description = "The new and the previous secret", body = WebhookSecretView), WriteProblems),
    security(("api_key" = [])))]
#[post("/webhook-endpoints/{endpoint_id}/secret-rotation")]
async fn create_webhook_secret_rotation(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<SecretRotationRequest>,
) -> Result<HttpResponse, ApiError> {
    who.staff(ADMIN)?;
    let overlap = body.overlap()?;
    let (store, id) = (state.store.clone(), path.into_inner());
    let secrets = run(move || store.rotate_webhook_secret(&who.ctx(&store), id, overlap)).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(secrets))
}

/// The endpoint's deliveries, newest first.
#[utoipa::path(operation_id = "list_webhook_deliveries", tag = "webhooks",
    params(("endpoint_id" = Uuid, Path), DeliveryQuery),
    responses((status = 200, description = "A page of deliveries", body = WebhookDeliveryPage), ReadProblems),
    security(("api_key" = [])))]
#[get("/webhook-endpoints/{endpoint_id}/deliveries")]
async fn list_webhook_deliveries(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    query: web::Query<DeliveryQuery>,
) -> Result<web::Json<WebhookDeliveryPage>, ApiError> {
    who.staff(ADMIN)?;
    let (store, id, q) = (state.store.clone(), path.into_inner(), query.into_inner());
    Ok(web::Json(run(move || store.list_webhook_deliveries(id, q.state, q.after.as_deref(), q.limit)).await?))
}

/// One delivery with its attempts (status, error, latency) and the body it posts.
#[utoipa::path(operation_id = "get_webhook_delivery", tag = "webhooks", params(("delivery_id" = Uuid, Path)),
    responses((status = 200, description = "The delivery", body = WebhookDeliveryDetail), ReadProblems),
    security(("api_key" = [])))]
#[get("/webhook-deliveries/{delivery_id}")]
async fn get_webhook_delivery(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<WebhookDeliveryDetail>, ApiError> {
    who.staff(ADMIN)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.get_webhook_delivery(id, store.now())).await?))
}

/// Send a delivery again now (with the same `webhook-id`), delivered or failed alike.
#[utoipa::path(operation_id = "create_webhook_delivery_resend", tag = "webhooks", params(("delivery_id" = Uuid, Path)),
    responses((status = 200, description = "The delivery, pending again", body = WebhookDeliveryView), WriteProblems),
    security(("api_key" = [])))]
#[post("/webhook-deliveries/{delivery_id}/resend")]
async fn create_webhook_delivery_resend(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<WebhookDeliveryView>, ApiError> {
    who.staff(ADMIN)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.resend_webhook_delivery(&who.ctx(&store), id)).await?))
}
