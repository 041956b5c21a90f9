//! Licenses in the field: the software's check-in and usage sessions (signed by the machine
//! key, no login), demo licenses (for the software, for a logged-in customer), and emergency
//! licenses (for a customer; support ends one early).

use actix_web::{HttpRequest, HttpResponse, post, web};
use keyport_api::{DemoRequest, EmergencyRequest, EndEmergencyRequest, MyDemoRequest, SignedReportRequest};
use keyport_core::{Email, Lang, ProductCode, Reason, Role};
use keyport_store::{
    ActivationView, CheckInOutcome, DemoFor, DemoOutcome, EmergencyOutcome, SessionOutcome, SoftwareDemo,
};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::sessions::{anonymous, source};
use crate::auth::{Principal, RestState};
use crate::input::Json;
use crate::problem::WriteProblems;
use crate::{ApiError, run};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_checkin)
        .service(create_usage_report)
        .service(create_demo)
        .service(create_my_demo)
        .service(create_emergency)
        .service(create_emergency_end);
}

/// The software checks in: a statement signed by the machine key of its activation
/// (`keyport-client checkin` writes it), with the version, OS, architecture and locale. The
/// answer says where the license stands on this machine; a live check-in of a license that
/// runs here gets a renewed certificate (with a new lease where the rule set asks for
/// check-ins). A clock skew of 5 minutes is tolerated; queued
/// check-ins (sent late, oldest first) may be up to 30 days old.
#[utoipa::path(operation_id = "create_checkin", tag = "field", security(), request_body = SignedReportRequest,
    responses((status = 200, description = "Where the license stands, with a renewed certificate where it runs", body = CheckInOutcome), WriteProblems))]
#[post("/checkins")]
async fn create_checkin(
    state: web::Data<RestState>,
    body: Json<SignedReportRequest>,
) -> Result<web::Json<CheckInOutcome>, ApiError> {
    let store = state.store.clone();
    Ok(web::Json(run(move || store.check_in(store.now(), &body.proof)).await?))
}

/// A session of use starts, goes on (a heartbeat every 15 minutes) or ends: a statement
/// signed by the machine key. Reports of one session are idempotent; a session without a
/// heartbeat for 45 minutes is closed at its last one.
#[utoipa::path(operation_id = "create_usage_report", tag = "field", security(), request_body = SignedReportRequest,
    responses((status = 200, description = "The session after this report", body = SessionOutcome), WriteProblems))]
#[post("/usage-reports")]
async fn create_usage_report(
    state: web::Data<RestState>,
    body: Json<SignedReportRequest>,
) -> Result<web::Json<SessionOutcome>, ApiError> {
    let store = state.store.clone();
    Ok(web::Json(run(move || store.report_usage(store.now(), &body.proof)).await?))
}

fn language(value: Option<&str>) -> Result<Lang, ApiError> {
    match value {
        None | Some("en") => Ok(Lang::En),
        Some("de") => Ok(Lang::De),
        Some(_) => Err(keyport_core::CoreError::invalid("language", "must be en or de").into()),
    }
}

/// The ISV's software asks for a demo of a product on its machine, for the user's e-mail
/// address: the demo is activated at once (the answer carries the certificate) and its
/// ticket is mailed to the address. One demo per address and one per machine per product.
#[utoipa::path(operation_id = "create_demo", tag = "field", security(), request_body = DemoRequest,
    responses((status = 201, description = "The demo, activated on the machine", body = DemoOutcome), WriteProblems))]
#[post("/demos")]
async fn create_demo(
    state: web::Data<RestState>,
    req: HttpRequest,
    body: Json<DemoRequest>,
) -> Result<HttpResponse, ApiError> {
    let (product, email) = (ProductCode::parse(&body.product_code)?, Email::parse(&body.email)?);
    let (lang, machine) = (language(body.language.as_deref())?, body.machine.parse()?);
    let (store, identity, source) = (state.store.clone(), state.identity.clone(), source(&req));
    let outcome = run(move || {
        let demo = SoftwareDemo { product: &product, email: &email, lang, machine: &machine };
        store.guarded_demo(
            &anonymous(&store),
            &identity.limits,
            &source,
            &identity.links,
            &identity.demo,
            &demo,
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(outcome))
}

/// A demo of a product for my account (my e-mail address must be confirmed), activated on
/// the machine when one is named. One demo per customer and one per machine per product.
#[utoipa::path(operation_id = "create_my_demo", tag = "customer", request_body = MyDemoRequest,
    responses((status = 201, description = "The demo, with its ticket", body = DemoOutcome), WriteProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = [])))]
#[post("/me/demos")]
async fn create_my_demo(
    state: web::Data<RestState>,
    who: Principal,
    body: Json<MyDemoRequest>,
) -> Result<HttpResponse, ApiError> {
    let customer = who.customer()?;
    let product = ProductCode::parse(&body.product_code)?;
    let machine = body.machine.as_ref().map(keyport_api::MachineRequest::parse).transpose()?;
    let (store, policy) = (state.store.clone(), state.identity.demo.clone());
    let outcome = run(move || {
        store.request_demo(&who.ctx(&store), &product, DemoFor::Customer(customer), machine.as_ref(), &policy)
    })
    .await?;
    Ok(HttpResponse::Created().json(outcome))
}

/// Run one of my licenses on a new machine for a few days while its machine is lost and a
/// recovery is blocked (blocking period, or no re-activation credit left): it spends no
/// credit, takes no seat and ends by itself, its certificate with it. A recovery to the same
/// machine, once possible, makes it a normal activation.
#[utoipa::path(operation_id = "create_emergency", tag = "customer",
    params(("activation_id" = Uuid, Path, description = "The activation on the lost machine")),
    request_body = EmergencyRequest,
    responses((status = 201, description = "The emergency license and its certificate", body = EmergencyOutcome), WriteProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = [])))]
#[post("/me/activations/{activation_id}/emergency")]
async fn create_emergency(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<EmergencyRequest>,
) -> Result<HttpResponse, ApiError> {
    let scope = who.customer_scope()?;
    let machine = body.machine.parse()?;
    let (store, id) = (state.store.clone(), path.into_inner());
    let outcome = run(move || store.start_emergency(&who.ctx(&store), scope, id, &machine)).await?;
    Ok(HttpResponse::Created().json(outcome))
}

/// End an emergency license now (support), with the reason recorded. One that has ended
/// already stays as it is.
#[utoipa::path(operation_id = "create_emergency_end", tag = "support",
    params(("activation_id" = Uuid, Path, description = "The emergency license's activation")),
    request_body = EndEmergencyRequest,
    responses((status = 200, description = "The ended emergency license", body = ActivationView), WriteProblems),
    security(("api_key" = [])))]
#[post("/activations/{activation_id}/emergency-end")]
async fn create_emergency_end(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<EndEmergencyRequest>,
) -> Result<web::Json<ActivationView>, ApiError> {
    who.staff(&[Role::Admin, Role::Support])?;
    let reason = Reason::parse(&body.reason)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.end_emergency(&who.ctx(&store), id, &reason)).await?))
}
