//! `/me`: what a customer sees and does: profile, licenses, tickets, activation,
//! deactivation, recovery, history. Works with a customer token, a ticket-login token
//! (that ticket only), or a portal key acting for a customer.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use keyport_api::{HistoryQuery, MachineRequest, PageQuery, RegisterTicketRequest, SignedFileRequest};
use keyport_core::TicketCode;
use keyport_store::{
    ActivationOutcome, ActivationView, CustomerView, EventFilter, EventPage, LicenseView, TicketView,
};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::auth::{Principal, RestState};
use crate::input::Json;
use crate::paging::{array_page, array_paging};
use crate::problem::{ReadProblems, WriteProblems};
use crate::{ApiError, run};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_profile)
        .service(list_my_licenses)
        .service(get_my_license)
        .service(list_my_tickets)
        .service(register_ticket)
        .service(create_activation)
        .service(create_deactivation)
        .service(create_transfer)
        .service(list_transfers)
        .service(get_transfer)
        .service(create_transfer_cancellation)
        .service(create_receipt)
        .service(create_recovery)
        .service(list_my_events);
}

/// My account.
#[utoipa::path(
    operation_id = "get_profile", tag = "customer",
    responses((status = 200, description = "My account", body = CustomerView), ReadProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = []))
)]
#[get("/me")]
async fn get_profile(
    state: web::Data<RestState>,
    who: Principal,
) -> Result<web::Json<CustomerView>, ApiError> {
    let customer = who.customer()?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.get_customer(customer)).await?))
}

/// My licenses, with state, seats in use, re-activation credits and the date of the next one.
#[utoipa::path(
    operation_id = "list_my_licenses", tag = "customer", params(PageQuery),
    responses((status = 200, description = "My licenses (a page)", body = Vec<LicenseView>, headers(("Link" = String, description = "The next page (rel=next), when one follows"), ("X-Next-Cursor" = String, description = "The next page's cursor, for `after`"))), ReadProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = []))
)]
#[get("/me/licenses")]
async fn list_my_licenses(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = who.customer_scope()?;
    let paging = array_paging(query.after.as_deref(), query.limit)?;
    let store = state.store.clone();
    Ok(array_page(&req, run(move || store.page_licenses(scope, &paging, store.now())).await?))
}

/// One of my licenses.
#[utoipa::path(
    operation_id = "get_my_license", tag = "customer",
    params(("license_id" = Uuid, Path, description = "The license")),
    responses((status = 200, description = "The license", body = LicenseView), ReadProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = []))
)]
#[get("/me/licenses/{license_id}")]
async fn get_my_license(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<LicenseView>, ApiError> {
    let scope = who.customer_scope()?;
    let store = state.store.clone();
    let id = path.into_inner();
    Ok(web::Json(run(move || store.get_license(scope, id, store.now())).await?))
}

/// My tickets and their licenses.
#[utoipa::path(
    operation_id = "list_my_tickets", tag = "customer", params(PageQuery),
    responses((status = 200, description = "My tickets (a page)", body = Vec<TicketView>, headers(("Link" = String, description = "The next page (rel=next), when one follows"), ("X-Next-Cursor" = String, description = "The next page's cursor, for `after`"))), ReadProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = []))
)]
#[get("/me/tickets")]
async fn list_my_tickets(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = who.customer_scope()?;
    let paging = array_paging(query.after.as_deref(), query.limit)?;
    let store = state.store.clone();
    Ok(array_page(&req, run(move || store.list_tickets(scope, &paging, store.now())).await?))
}

/// Register a ticket (bought from a reseller, say) to my account.
#[utoipa::path(
    operation_id = "register_ticket", tag = "customer",
    request_body = RegisterTicketRequest,
    responses((status = 200, description = "The registered ticket", body = TicketView), WriteProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = []))
)]
#[post("/me/tickets")]
async fn register_ticket(
    state: web::Data<RestState>,
    who: Principal,
    body: Json<RegisterTicketRequest>,
) -> Result<web::Json<TicketView>, ApiError> {
    let customer = who.customer()?;
    let code = TicketCode::parse(&body.ticket_code)?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.register_ticket(&who.ctx(&store), customer, &code)).await?))
}

/// Activate one of my licenses on a machine. The same machine again gets its existing
/// activation (200); a new one takes a free seat (201).
#[utoipa::path(
    operation_id = "create_activation", tag = "customer",
    params(("license_id" = Uuid, Path, description = "The license")),
    request_body = MachineRequest,
    responses(
        (status = 201, description = "A seat was taken", body = ActivationOutcome),
        (status = 200, description = "The machine had this activation already", body = ActivationOutcome),
        WriteProblems
    ),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = []))
)]
#[post("/me/licenses/{license_id}/activations")]
async fn create_activation(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<MachineRequest>,
) -> Result<HttpResponse, ApiError> {
    let scope = who.customer_scope()?;
    let machine = body.parse()?;
    let (store, id) = (state.store.clone(), path.into_inner());
    let outcome = run(move || store.activate(&who.ctx(&store), scope, id, &machine)).await?;
    let mut response = if outcome.created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(response.json(outcome))
}

/// Give a seat back with a deactivation proof signed by the machine's key (written by
/// `keyport-client deactivate`, online or as a file). Only the machine that holds the
/// activation can sign it; a lost machine goes through recovery instead.
#[utoipa::path(
    operation_id = "create_deactivation", tag = "customer",
    request_body = SignedFileRequest,
    responses((status = 200, description = "The ended activation", body = ActivationView), WriteProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = []))
)]
#[post("/me/deactivations")]
async fn create_deactivation(
    state: web::Data<RestState>,
    who: Principal,
    body: Json<SignedFileRequest>,
) -> Result<web::Json<ActivationView>, ApiError> {
    let scope = who.customer_scope()?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.deactivate_with_proof(&who.ctx(&store), scope, &body.file)).await?))
}

/// Upload an activation request file from an offline machine: the seat is held (the
/// activation is *pending*) and the answer carries the certificate file to take back.
#[utoipa::path(
    operation_id = "create_transfer", tag = "customer",
    request_body = SignedFileRequest,
    responses(
        (status = 201, description = "A seat is held for the machine", body = ActivationOutcome),
        (status = 200, description = "The machine holds this license already", body = ActivationOutcome),
        WriteProblems
    ),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = []))
)]
#[post("/me/transfers")]
async fn create_transfer(
    state: web::Data<RestState>,
    who: Principal,
    body: Json<SignedFileRequest>,
) -> Result<HttpResponse, ApiError> {
    let scope = who.customer_scope()?;
    let store = state.store.clone();
    let outcome = run(move || store.request_offline_activation(&who.ctx(&store), scope, &body.file)).await?;
    let mut response = if outcome.created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(response.json(outcome))
}

/// Pending offline activations ("transfers") waiting for their receipt.
#[utoipa::path(
    operation_id = "list_transfers", tag = "customer", params(PageQuery),
    responses((status = 200, description = "The pending transfers among a page of my licenses (`limit` counts licenses)", body = Vec<ActivationView>, headers(("Link" = String, description = "The next page (rel=next), when one follows"), ("X-Next-Cursor" = String, description = "The next page's cursor, for `after`"))), ReadProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = []))
)]
#[get("/me/transfers")]
async fn list_transfers(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = who.customer_scope()?;
    let paging = array_paging(query.after.as_deref(), query.limit)?;
    let store = state.store.clone();
    Ok(array_page(&req, run(move || store.list_transfers(scope, &paging)).await?))
}

/// Continue an interrupted transfer: the pending activation with its certificate again.
#[utoipa::path(
    operation_id = "get_transfer", tag = "customer",
    params(("activation_id" = Uuid, Path, description = "The pending activation")),
    responses((status = 200, description = "The pending activation and its certificate", body = ActivationOutcome), WriteProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = []))
)]
#[get("/me/transfers/{activation_id}")]
async fn get_transfer(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<ActivationOutcome>, ApiError> {
    let scope = who.customer_scope()?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.continue_transfer(&who.ctx(&store), scope, id)).await?))
}

/// Cancel a pending transfer: the held seat is free again.
#[utoipa::path(
    operation_id = "create_transfer_cancellation", tag = "customer",
    params(("activation_id" = Uuid, Path, description = "The pending activation")),
    responses((status = 200, description = "The cancelled activation", body = ActivationView), WriteProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = []))
)]
#[post("/me/transfers/{activation_id}/cancellation")]
async fn create_transfer_cancellation(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<ActivationView>, ApiError> {
    let scope = who.customer_scope()?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.cancel_transfer(&who.ctx(&store), scope, id)).await?))
}

/// Upload the receipt file the offline machine wrote after importing its certificate: the
/// pending activation becomes active.
#[utoipa::path(
    operation_id = "create_receipt", tag = "customer",
    request_body = SignedFileRequest,
    responses((status = 200, description = "The activation, now active", body = ActivationView), WriteProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = []))
)]
#[post("/me/receipts")]
async fn create_receipt(
    state: web::Data<RestState>,
    who: Principal,
    body: Json<SignedFileRequest>,
) -> Result<web::Json<ActivationView>, ApiError> {
    let scope = who.customer_scope()?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.complete_offline_activation(&who.ctx(&store), scope, &body.file)).await?))
}

/// Move the seat of an activation on a lost machine to a new machine, for one
/// re-activation credit.
#[utoipa::path(
    operation_id = "create_recovery", tag = "customer",
    params(("activation_id" = Uuid, Path, description = "The activation on the lost machine")),
    request_body = MachineRequest,
    responses((status = 201, description = "The new activation and its certificate", body = ActivationOutcome), WriteProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = []))
)]
#[post("/me/activations/{activation_id}/recovery")]
async fn create_recovery(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<MachineRequest>,
) -> Result<HttpResponse, ApiError> {
    let scope = who.customer_scope()?;
    let machine = body.parse()?;
    let (store, id) = (state.store.clone(), path.into_inner());
    let activation = run(move || store.recover(&who.ctx(&store), scope, id, &machine)).await?;
    Ok(HttpResponse::Created().json(activation))
}

/// The history of my licenses and tickets, oldest first.
#[utoipa::path(
    operation_id = "list_my_events", tag = "customer",
    params(HistoryQuery),
    responses((status = 200, description = "A page of my history", body = EventPage), ReadProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = []))
)]
#[get("/me/events")]
async fn list_my_events(
    state: web::Data<RestState>,
    who: Principal,
    query: web::Query<HistoryQuery>,
) -> Result<web::Json<EventPage>, ApiError> {
    let query = query.into_inner();
    let mut filter = EventFilter { after: query.after, limit: query.limit, ..EventFilter::default() };
    match who.customer_scope()? {
        keyport_store::Scope::Customer(id) => filter.customer_id = Some(id),
        keyport_store::Scope::Ticket(id) => filter.ticket_id = Some(id),
        keyport_store::Scope::Staff => return Err(ApiError::new(keyport_core::ErrorCode::Forbidden)),
    }
    let store = state.store.clone();
    Ok(web::Json(run(move || store.query_events(&filter)).await?))
}
