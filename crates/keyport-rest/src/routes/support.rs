//! Support actions: read any license, grant re-activation credits, revoke a license, move a
//! ticket to another customer.

use actix_web::{get, post, web};
use keyport_api::{CreditGrantRequest, RevocationRequest, TicketTransferRequest};
use keyport_core::{Reason, Role, TicketCode};
use keyport_store::{LicenseView, Scope, TicketView};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::auth::{Principal, RestState};
use crate::input::Json;
use crate::problem::{ReadProblems, WriteProblems};
use crate::{ApiError, run};

const SUPPORT: &[Role] = &[Role::Admin, Role::Support];

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_license)
        .service(create_credit_grant)
        .service(create_revocation)
        .service(create_ticket_transfer);
}

/// Any license, with its activations.
#[utoipa::path(operation_id = "get_license", tag = "support", params(("license_id" = Uuid, Path)),
    responses((status = 200, description = "The license with its activations", body = LicenseView), ReadProblems), security(("api_key" = [])))]
#[get("/licenses/{license_id}")]
async fn get_license(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<LicenseView>, ApiError> {
    who.staff(SUPPORT)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.get_license(Scope::Staff, id, store.now())).await?))
}

/// Grant extra re-activation credits, with a reason.
#[utoipa::path(operation_id = "create_credit_grant", tag = "support", params(("license_id" = Uuid, Path)),
    request_body = CreditGrantRequest, responses((status = 200, description = "The license with its new credits", body = LicenseView), WriteProblems),
    security(("api_key" = [])))]
#[post("/licenses/{license_id}/credit-grants")]
async fn create_credit_grant(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<CreditGrantRequest>,
) -> Result<web::Json<LicenseView>, ApiError> {
    who.staff(SUPPORT)?;
    let reason = Reason::parse(&body.reason)?;
    let (store, id, amount) = (state.store.clone(), path.into_inner(), body.amount);
    Ok(web::Json(run(move || store.grant_credits(&who.ctx(&store), id, amount, &reason)).await?))
}

/// Revoke a license: its seats are freed and it cannot be activated again.
#[utoipa::path(operation_id = "create_revocation", tag = "support", params(("license_id" = Uuid, Path)),
    request_body = RevocationRequest, responses((status = 200, description = "The revoked license", body = LicenseView), WriteProblems),
    security(("api_key" = [])))]
#[post("/licenses/{license_id}/revocation")]
async fn create_revocation(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<RevocationRequest>,
) -> Result<web::Json<LicenseView>, ApiError> {
    who.staff(SUPPORT)?;
    let reason = Reason::parse(&body.reason)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.revoke_license(&who.ctx(&store), id, &reason)).await?))
}

/// Move a ticket, with its licenses, to another customer.
#[utoipa::path(operation_id = "create_ticket_transfer", tag = "support", params(("ticket_code" = String, Path)),
    request_body = TicketTransferRequest, responses((status = 200, description = "The moved ticket", body = TicketView), WriteProblems),
    security(("api_key" = [])))]
#[post("/tickets/{ticket_code}/transfer")]
async fn create_ticket_transfer(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<String>,
    body: Json<TicketTransferRequest>,
) -> Result<web::Json<TicketView>, ApiError> {
    who.staff(SUPPORT)?;
    let code = TicketCode::parse(&path)?;
    let (store, customer) = (state.store.clone(), body.customer_id);
    Ok(web::Json(run(move || store.move_ticket(&who.ctx(&store), &code, customer)).await?))
}
