//! `/analytics/...` (staff: admin and support keys): lifetimes of PCs and versions, usage,
//! version adoption and license activity, as JSON, CSV or SVG.

use actix_web::{HttpRequest, HttpResponse, get, web};
use keyport_api::{
    ActivityReport, AdoptionReport, LifetimeQuery, LifetimeReport, UsageQuery, UsageReportView,
};
use keyport_core::Role;
use keyport_store::LifetimeSubject;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::{Principal, RestState};
use crate::problem::ReadProblems;
use crate::reports::{self, Format};
use crate::{ApiError, run};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_machine_lifetimes)
        .service(get_version_lifetimes)
        .service(get_usage)
        .service(get_adoption)
        .service(get_activity);
}

/// Staff who read analytics.
const READERS: &[Role] = &[Role::Admin, Role::Support];

async fn lifetimes(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: LifetimeQuery,
    subject: LifetimeSubject,
) -> Result<HttpResponse, ApiError> {
    who.staff(READERS)?;
    let format = Format::of(&req, query.format.as_deref())?;
    let store = state.store.clone();
    let (filter, group, born, confidence) = query.parse(store.now().date_naive())?;
    let report = run(move || store.lifetime_report(subject, &filter, group, born, confidence)).await?;
    Ok(reports::lifetime(&req, format, &report))
}

/// How long PCs live: from a machine's first activation until its seat moved to another
/// machine (a recovery, or a deactivation followed by an activation elsewhere); machines
/// still in use are censored. A Kaplan–Meier curve per group with its confidence band, the
/// median with its interval and the restricted mean; JSON, CSV or an SVG chart.
#[utoipa::path(operation_id = "get_machine_lifetimes", tag = "analytics", params(LifetimeQuery),
    responses((status = 200, description = "The estimate", content(
        (LifetimeReport = "application/json"), (String = "text/csv"), (String = "image/svg+xml"))), ReadProblems),
    security(("api_key" = [])))]
#[get("/analytics/machine-lifetimes")]
async fn get_machine_lifetimes(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<LifetimeQuery>,
) -> Result<HttpResponse, ApiError> {
    lifetimes(state, who, req, query.into_inner(), LifetimeSubject::Machines).await
}

/// How long a major version stays in use on a machine: from the first day the software
/// reported it until a later major version was reported; without one, until it was last
/// seen (ended after 60 silent days, censored before).
#[utoipa::path(operation_id = "get_version_lifetimes", tag = "analytics", params(LifetimeQuery),
    responses((status = 200, description = "The estimate", content(
        (LifetimeReport = "application/json"), (String = "text/csv"), (String = "image/svg+xml"))), ReadProblems),
    security(("api_key" = [])))]
#[get("/analytics/version-lifetimes")]
async fn get_version_lifetimes(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<LifetimeQuery>,
) -> Result<HttpResponse, ApiError> {
    lifetimes(state, who, req, query.into_inner(), LifetimeSubject::Versions).await
}

/// Usage per day, week or month: active machines (a check-in, a session or an
/// activation), check-ins, sessions, seconds of use and the median session length; by
/// version or OS on request.
#[utoipa::path(operation_id = "get_usage", tag = "analytics", params(UsageQuery),
    responses((status = 200, description = "Usage per period", content(
        (UsageReportView = "application/json"), (String = "text/csv"), (String = "image/svg+xml"))), ReadProblems),
    security(("api_key" = [])))]
#[get("/analytics/usage")]
async fn get_usage(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<UsageQuery>,
) -> Result<HttpResponse, ApiError> {
    who.staff(READERS)?;
    let format = Format::of(&req, query.format.as_deref())?;
    let store = state.store.clone();
    let (filter, period, range, split) = query.parse(store.now().date_naive())?;
    let report = run(move || store.usage_report(&filter, period, range, split)).await?;
    Ok(reports::usage(&req, format, &report))
}

/// Version adoption: each version's share of the active machines per period, and for each
/// published release the days until it ran on half of them.
#[utoipa::path(operation_id = "get_adoption", tag = "analytics", params(UsageQuery),
    responses((status = 200, description = "Adoption per period", content(
        (AdoptionReport = "application/json"), (String = "text/csv"), (String = "image/svg+xml"))), ReadProblems),
    security(("api_key" = [])))]
#[get("/analytics/adoption")]
async fn get_adoption(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<UsageQuery>,
) -> Result<HttpResponse, ApiError> {
    who.staff(READERS)?;
    let format = Format::of(&req, query.format.as_deref())?;
    let store = state.store.clone();
    let (filter, period, range, _) = query.parse(store.now().date_naive())?;
    let report = run(move || store.adoption_report(&filter, period, range)).await?;
    Ok(reports::adoption(&req, format, &report))
}

/// License activity per period: activations, deactivations, recoveries, emergency
/// licenses, demos and the share of demos followed by a purchase.
#[utoipa::path(operation_id = "get_activity", tag = "analytics", params(UsageQuery),
    responses((status = 200, description = "Activity per period", content(
        (ActivityReport = "application/json"), (String = "text/csv"), (String = "image/svg+xml"))), ReadProblems),
    security(("api_key" = [])))]
#[get("/analytics/activity")]
async fn get_activity(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<UsageQuery>,
) -> Result<HttpResponse, ApiError> {
    who.staff(READERS)?;
    let format = Format::of(&req, query.format.as_deref())?;
    let store = state.store.clone();
    let (filter, period, range, _) = query.parse(store.now().date_naive())?;
    let report = run(move || store.activity_report(&filter, period, range)).await?;
    Ok(reports::activity(&req, format, &report))
}
