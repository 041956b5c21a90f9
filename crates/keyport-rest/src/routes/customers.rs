//! `/customers`: customer accounts, for shops, portals, support and admins.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use keyport_api::{CustomerChangesRequest, CustomerQuery, CustomerRequest, PageQuery};
use keyport_core::{CustomerNumber, DisplayName, Email, Password, Role};
use keyport_store::{CustomerChanges, CustomerView, LicenseView, NewCustomer, Scope};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::auth::{Principal, RestState};
use crate::input::Json;
use crate::paging::{array_page, array_paging};
use crate::problem::{ReadProblems, WriteProblems};
use crate::{ApiError, idempotency, run};

const CUSTOMER_STAFF: &[Role] = &[Role::Admin, Role::Support, Role::Shop, Role::Portal];
/// Who may search and list customers beyond one named exactly.
const SEARCHERS: &[Role] = &[Role::Admin, Role::Support];

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_customer)
        .service(list_customers)
        .service(get_customer)
        .service(update_customer)
        .service(list_customer_licenses);
}

/// Create a customer account. Accepts an `Idempotency-Key` header.
#[utoipa::path(
    operation_id = "create_customer", tag = "customers",
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeats of this key get the first answer again")),
    request_body = CustomerRequest,
    responses((status = 201, description = "The new customer", body = CustomerView, headers(("Idempotent-Replayed" = bool, description = "`true` when this is the kept answer to an earlier request with the same Idempotency-Key"))), WriteProblems),
    security(("api_key" = []))
)]
#[post("/customers")]
async fn create_customer(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    body: Json<CustomerRequest>,
) -> Result<HttpResponse, ApiError> {
    who.staff(CUSTOMER_STAFF)?;
    let new = NewCustomer {
        email: Email::parse(&body.email)?,
        name: DisplayName::parse(&body.name)?,
        customer_number: body.customer_number.as_deref().map(CustomerNumber::parse).transpose()?,
        password: body.password.as_deref().map(Password::parse).transpose()?,
    };
    let store = state.store.clone();
    let ctx = who.ctx(&store);
    // The password is not part of the kept request, so it is never stored in clear.
    let fingerprint =
        CustomerRequest { password: body.password.as_ref().map(|_| "***".to_owned()), ..body.into_inner() };
    idempotency::once(&state, &who, &req, &fingerprint, || async move {
        Ok((StatusCode::CREATED, run(move || store.create_customer(&ctx, &new)).await?))
    })
    .await
}

/// Find customers: by e-mail address, customer number, e-mail prefix, part of the name or a
/// ticket code (every given filter must match; none lists every customer), by creation,
/// one page at a time.
#[utoipa::path(
    operation_id = "list_customers", tag = "customers",
    params(CustomerQuery),
    responses((status = 200, description = "The matching customers (a page)", body = Vec<CustomerView>, headers(("Link" = String, description = "The next page (rel=next), when one follows"), ("X-Next-Cursor" = String, description = "The next page's cursor, for `after`"))), ReadProblems),
    security(("api_key" = []))
)]
#[get("/customers")]
async fn list_customers(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<CustomerQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let search = q.parse()?;
    who.staff(if search.is_search() { SEARCHERS } else { CUSTOMER_STAFF })?;
    let paging = array_paging(q.after.as_deref(), Some(q.limit.unwrap_or(100)))?;
    let store = state.store.clone();
    Ok(array_page(&req, run(move || store.search_customers(&search, &paging)).await?))
}

/// One customer.
#[utoipa::path(
    operation_id = "get_customer", tag = "customers",
    params(("customer_id" = Uuid, Path)),
    responses((status = 200, description = "The customer", body = CustomerView), ReadProblems),
    security(("api_key" = []))
)]
#[get("/customers/{customer_id}")]
async fn get_customer(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<CustomerView>, ApiError> {
    who.staff(CUSTOMER_STAFF)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.get_customer(id)).await?))
}

/// A customer's licenses, as the customer sees them (`/me/licenses`): every license on the
/// tickets registered to the account, with state, seats in use, machines, re-activation
/// credits and the date of the next one; for staff, the whole picture of one customer.
#[utoipa::path(
    operation_id = "list_customer_licenses", tag = "customers",
    params(("customer_id" = Uuid, Path), PageQuery),
    responses((status = 200, description = "The customer's licenses (a page)", body = Vec<LicenseView>, headers(("Link" = String, description = "The next page (rel=next), when one follows"), ("X-Next-Cursor" = String, description = "The next page's cursor, for `after`"))), ReadProblems),
    security(("api_key" = []))
)]
#[get("/customers/{customer_id}/licenses")]
async fn list_customer_licenses(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    path: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    // As SOAP's ListCustomerLicenses (admin, support, shop), and the portal that shows them.
    who.staff(CUSTOMER_STAFF)?;
    let paging = array_paging(query.after.as_deref(), query.limit)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    let page = run(move || {
        // An unknown customer is a 404, not an empty list.
        store.get_customer(id)?;
        store.page_licenses(Scope::Customer(id), &paging, store.now())
    })
    .await?;
    Ok(array_page(&req, page))
}

/// Change a customer's e-mail address, name or customer number.
#[utoipa::path(
    operation_id = "update_customer", tag = "customers",
    params(("customer_id" = Uuid, Path)),
    request_body = CustomerChangesRequest,
    responses((status = 200, description = "The changed customer", body = CustomerView), WriteProblems),
    security(("api_key" = []))
)]
#[patch("/customers/{customer_id}")]
async fn update_customer(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<CustomerChangesRequest>,
) -> Result<web::Json<CustomerView>, ApiError> {
    who.staff(CUSTOMER_STAFF)?;
    let changes = CustomerChanges {
        email: body.email.as_deref().map(Email::parse).transpose()?,
        name: body.name.as_deref().map(DisplayName::parse).transpose()?,
        customer_number: body.customer_number.as_deref().map(CustomerNumber::parse).transpose()?,
    };
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.update_customer(&who.ctx(&store), id, &changes)).await?))
}
