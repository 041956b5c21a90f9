//! API keys, for admins: create one (shown once), list them, revoke one at once.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use keyport_api::{ApiKeyRequest, CreatedApiKey, PageQuery};
use keyport_core::{DisplayName, Role};
use keyport_store::ApiKeyView;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::auth::{Principal, RestState};
use crate::input::Json;
use crate::paging::{array_page, array_paging};
use crate::problem::{ReadProblems, WriteProblems};
use crate::{ApiError, run};

const ADMIN: &[Role] = &[Role::Admin];

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_api_keys).service(create_api_key).service(create_api_key_revocation);
}

/// The API keys, newest first, one page at a time (never the keys themselves).
#[utoipa::path(operation_id = "list_api_keys", tag = "admin", params(PageQuery),
    responses((status = 200, description = "API keys (a page)", body = Vec<ApiKeyView>, headers(("Link" = String, description = "The next page (rel=next), when one follows"), ("X-Next-Cursor" = String, description = "The next page's cursor, for `after`"))), ReadProblems),
    security(("api_key" = [])))]
#[get("/api-keys")]
async fn list_api_keys(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    who.staff(ADMIN)?;
    let paging = array_paging(query.after.as_deref(), query.limit)?;
    let store = state.store.clone();
    Ok(array_page(&req, run(move || store.list_api_keys(&paging)).await?))
}

/// Create an API key; the answer is the only time the key is shown.
#[utoipa::path(operation_id = "create_api_key", tag = "admin", request_body = ApiKeyRequest,
    responses((status = 201, description = "The new key, shown once", body = CreatedApiKey), WriteProblems),
    security(("api_key" = [])))]
#[post("/api-keys")]
async fn create_api_key(
    state: web::Data<RestState>,
    who: Principal,
    body: Json<ApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    who.staff(ADMIN)?;
    let name = DisplayName::parse(&body.name)?;
    let (store, role, expires_at) = (state.store.clone(), body.role, body.expires_at);
    let created = run(move || store.create_api_key_until(&who.ctx(&store), role, &name, expires_at)).await?;
    Ok(HttpResponse::build(StatusCode::CREATED)
        .json(CreatedApiKey { key: created.key, record: created.record }))
}

/// Revoke an API key: it stops working at once. Revoking it again changes nothing.
#[utoipa::path(operation_id = "create_api_key_revocation", tag = "admin", params(("key_id" = Uuid, Path)),
    responses((status = 200, description = "The revoked key", body = ApiKeyView), WriteProblems),
    security(("api_key" = [])))]
#[post("/api-keys/{key_id}/revocation")]
async fn create_api_key_revocation(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<ApiKeyView>, ApiError> {
    who.staff(ADMIN)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.revoke_api_key(&who.ctx(&store), id)).await?))
}
