//! `/products`, `/rule-sets`, `/items`: the catalog. Admins change it; every staff role
//! reads it.

use actix_web::{HttpRequest, HttpResponse, get, patch, post, put, web};
use keyport_api::{ItemChangesRequest, ItemRequest, PageQuery, ProductChanges, ProductRequest};
use keyport_core::{DisplayName, ProductCode, ProductSpec, Role, RuleSet, RuleSetParams};
use keyport_store::{ItemView, ProductView, RuleSetView};
use utoipa_actix_web::service_config::ServiceConfig;

use super::CATALOG_READERS;
use crate::auth::{Principal, RestState};
use crate::input::Json;
use crate::paging::{array_page, array_paging};
use crate::problem::{ReadProblems, WriteProblems};
use crate::{ApiError, run};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_product)
        .service(list_products)
        .service(get_product)
        .service(update_product)
        .service(create_rule_set)
        .service(list_rule_sets)
        .service(get_rule_set)
        .service(update_rule_set)
        .service(create_item)
        .service(list_items)
        .service(get_item)
        .service(update_item);
}

/// Define a product.
#[utoipa::path(operation_id = "create_product", tag = "catalog", request_body = ProductRequest,
    responses((status = 201, description = "The new product", body = ProductView), WriteProblems), security(("api_key" = [])))]
#[post("/products")]
async fn create_product(
    state: web::Data<RestState>,
    who: Principal,
    body: Json<ProductRequest>,
) -> Result<HttpResponse, ApiError> {
    who.staff(&[Role::Admin])?;
    let spec = ProductSpec { code: ProductCode::parse(&body.code)?, name: DisplayName::parse(&body.name)? };
    let store = state.store.clone();
    Ok(HttpResponse::Created().json(run(move || store.define_product(&who.ctx(&store), &spec)).await?))
}

/// Every product, one page at a time.
#[utoipa::path(operation_id = "list_products", tag = "catalog", params(PageQuery),
    responses((status = 200, description = "Every product (a page)", body = Vec<ProductView>, headers(("Link" = String, description = "The next page (rel=next), when one follows"), ("X-Next-Cursor" = String, description = "The next page's cursor, for `after`"))), ReadProblems), security(("api_key" = [])))]
#[get("/products")]
async fn list_products(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    who.staff(CATALOG_READERS)?;
    let paging = array_paging(query.after.as_deref(), query.limit)?;
    let store = state.store.clone();
    Ok(array_page(&req, run(move || store.list_products(&paging)).await?))
}

/// One product.
#[utoipa::path(operation_id = "get_product", tag = "catalog", params(("code" = String, Path)),
    responses((status = 200, description = "The product", body = ProductView), ReadProblems), security(("api_key" = [])))]
#[get("/products/{code}")]
async fn get_product(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<String>,
) -> Result<web::Json<ProductView>, ApiError> {
    who.staff(CATALOG_READERS)?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.get_product(&path)).await?))
}

/// Rename a product.
#[utoipa::path(operation_id = "update_product", tag = "catalog", params(("code" = String, Path)),
    request_body = ProductChanges, responses((status = 200, description = "The renamed product", body = ProductView), WriteProblems),
    security(("api_key" = [])))]
#[patch("/products/{code}")]
async fn update_product(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<String>,
    body: Json<ProductChanges>,
) -> Result<web::Json<ProductView>, ApiError> {
    who.staff(&[Role::Admin])?;
    let name = DisplayName::parse(&body.name)?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.update_product(&who.ctx(&store), &path, &name)).await?))
}

/// Define a rule set.
#[utoipa::path(operation_id = "create_rule_set", tag = "catalog", request_body = RuleSetParams,
    responses((status = 201, description = "The new rule set", body = RuleSetView), WriteProblems), security(("api_key" = [])))]
#[post("/rule-sets")]
async fn create_rule_set(
    state: web::Data<RestState>,
    who: Principal,
    body: Json<RuleSetParams>,
) -> Result<HttpResponse, ApiError> {
    who.staff(&[Role::Admin])?;
    let rules = RuleSet::new(body.into_inner())?;
    let store = state.store.clone();
    Ok(HttpResponse::Created().json(run(move || store.define_rule_set(&who.ctx(&store), &rules)).await?))
}

/// Every rule set, one page at a time.
#[utoipa::path(operation_id = "list_rule_sets", tag = "catalog", params(PageQuery),
    responses((status = 200, description = "Every rule set (a page)", body = Vec<RuleSetView>, headers(("Link" = String, description = "The next page (rel=next), when one follows"), ("X-Next-Cursor" = String, description = "The next page's cursor, for `after`"))), ReadProblems), security(("api_key" = [])))]
#[get("/rule-sets")]
async fn list_rule_sets(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    who.staff(CATALOG_READERS)?;
    let paging = array_paging(query.after.as_deref(), query.limit)?;
    let store = state.store.clone();
    Ok(array_page(&req, run(move || store.list_rule_sets(&paging)).await?))
}

/// One rule set.
#[utoipa::path(operation_id = "get_rule_set", tag = "catalog", params(("name" = String, Path)),
    responses((status = 200, description = "The rule set", body = RuleSetView), ReadProblems), security(("api_key" = [])))]
#[get("/rule-sets/{name}")]
async fn get_rule_set(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<String>,
) -> Result<web::Json<RuleSetView>, ApiError> {
    who.staff(CATALOG_READERS)?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.get_rule_set(&path)).await?))
}

/// Replace a rule set's numbers; its licenses follow them from now on. The name in the
/// body must be the one in the path.
#[utoipa::path(operation_id = "update_rule_set", tag = "catalog", params(("name" = String, Path)),
    request_body = RuleSetParams, responses((status = 200, description = "The changed rule set", body = RuleSetView), WriteProblems),
    security(("api_key" = [])))]
#[put("/rule-sets/{name}")]
async fn update_rule_set(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<String>,
    body: Json<RuleSetParams>,
) -> Result<web::Json<RuleSetView>, ApiError> {
    who.staff(&[Role::Admin])?;
    if body.name != *path {
        return Err(
            keyport_core::CoreError::invalid("name", "must be the rule set's name in the path").into()
        );
    }
    let rules = RuleSet::new(body.into_inner())?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.update_rule_set(&who.ctx(&store), &rules)).await?))
}

/// Define an item of a product under a rule set.
#[utoipa::path(operation_id = "create_item", tag = "catalog", request_body = ItemRequest,
    responses((status = 201, description = "The new item", body = ItemView), WriteProblems), security(("api_key" = [])))]
#[post("/items")]
async fn create_item(
    state: web::Data<RestState>,
    who: Principal,
    body: Json<ItemRequest>,
) -> Result<HttpResponse, ApiError> {
    who.staff(&[Role::Admin])?;
    let spec = body.into_inner().parse()?;
    let store = state.store.clone();
    Ok(HttpResponse::Created().json(run(move || store.define_item(&who.ctx(&store), &spec)).await?))
}

/// Every item, one page at a time.
#[utoipa::path(operation_id = "list_items", tag = "catalog", params(PageQuery),
    responses((status = 200, description = "Every item (a page)", body = Vec<ItemView>, headers(("Link" = String, description = "The next page (rel=next), when one follows"), ("X-Next-Cursor" = String, description = "The next page's cursor, for `after`"))), ReadProblems), security(("api_key" = [])))]
#[get("/items")]
async fn list_items(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    who.staff(CATALOG_READERS)?;
    let paging = array_paging(query.after.as_deref(), query.limit)?;
    let store = state.store.clone();
    Ok(array_page(&req, run(move || store.list_items(&paging)).await?))
}

/// One item.
#[utoipa::path(operation_id = "get_item", tag = "catalog", params(("sku" = String, Path)),
    responses((status = 200, description = "The item", body = ItemView), ReadProblems), security(("api_key" = [])))]
#[get("/items/{sku}")]
async fn get_item(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<String>,
) -> Result<web::Json<ItemView>, ApiError> {
    who.staff(CATALOG_READERS)?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.get_item(&path)).await?))
}

/// Change an item's name, features or rule set.
#[utoipa::path(operation_id = "update_item", tag = "catalog", params(("sku" = String, Path)),
    request_body = ItemChangesRequest, responses((status = 200, description = "The changed item", body = ItemView), WriteProblems),
    security(("api_key" = [])))]
#[patch("/items/{sku}")]
async fn update_item(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<String>,
    body: Json<ItemChangesRequest>,
) -> Result<web::Json<ItemView>, ApiError> {
    who.staff(&[Role::Admin])?;
    let changes = body.into_inner().parse()?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.update_item(&who.ctx(&store), &path, &changes)).await?))
}
