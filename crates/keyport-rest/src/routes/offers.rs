//! Offers: staff define, change and withdraw them (`/offers`); a customer lists the ones
//! that apply to them and reports what they did (`/me/offers`); staff see what one
//! customer is offered (`/customers/{id}/offers`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use keyport_api::{CustomerOfferView, OfferListQuery, OfferPage, OfferRequest, OfferView, PageQuery};
use keyport_core::Role;
use keyport_core::offer::Response;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::auth::{Principal, RestState};
use crate::input::Json;
use crate::problem::{ReadProblems, WriteProblems};
use crate::{ApiError, idempotency, run};

const ADMIN: &[Role] = &[Role::Admin];
const READERS: &[Role] = &[Role::Admin, Role::Support];
/// Who may see what one customer is offered.
const CUSTOMER_STAFF: &[Role] = &[Role::Admin, Role::Support, Role::Shop, Role::Portal];

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_offer)
        .service(list_offers)
        .service(get_offer)
        .service(update_offer)
        .service(create_offer_withdrawal)
        .service(list_my_offers)
        .service(create_offer_impression)
        .service(create_offer_click)
        .service(create_offer_dismissal)
        .service(list_customer_offers);
}

/// Define an offer: whom it targets (a rule over what customers own), what it says in
/// English and German, where it leads, when it runs. Accepts an `Idempotency-Key` header.
#[utoipa::path(operation_id = "create_offer", tag = "offers",
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeats of this key get the first answer again")),
    request_body = OfferRequest,
    responses((status = 201, description = "The offer", body = OfferView), WriteProblems),
    security(("api_key" = [])))]
#[post("/offers")]
async fn create_offer(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    body: Json<OfferRequest>,
) -> Result<HttpResponse, ApiError> {
    who.staff(ADMIN)?;
    let store = state.store.clone();
    let ctx = who.ctx(&store);
    let draft = body.parse()?;
    idempotency::once(&state, &who, &req, &body.into_inner(), || async move {
        Ok((StatusCode::CREATED, run(move || store.create_offer(&ctx, &draft)).await?))
    })
    .await
}

/// The offers, oldest first, with what customers did with each.
#[utoipa::path(operation_id = "list_offers", tag = "offers", params(PageQuery),
    responses((status = 200, description = "A page of offers", body = OfferPage), ReadProblems),
    security(("api_key" = [])))]
#[get("/offers")]
async fn list_offers(
    state: web::Data<RestState>,
    who: Principal,
    query: web::Query<PageQuery>,
) -> Result<web::Json<OfferPage>, ApiError> {
    who.staff(READERS)?;
    let (store, q) = (state.store.clone(), query.into_inner());
    Ok(web::Json(run(move || store.list_offers(q.after.as_deref(), q.limit, store.now())).await?))
}

/// One offer with what customers did with it: shown to how many, impressions, clicks, dismissals.
#[utoipa::path(operation_id = "get_offer", tag = "offers", params(("offer_id" = Uuid, Path)),
    responses((status = 200, description = "The offer", body = OfferView), ReadProblems),
    security(("api_key" = [])))]
#[get("/offers/{offer_id}")]
async fn get_offer(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<OfferView>, ApiError> {
    who.staff(READERS)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.get_offer(id, store.now())).await?))
}

/// Change an offer: the body is what it becomes (what customers did with it stays). A
/// withdrawn offer cannot change (`offer_withdrawn`).
#[utoipa::path(operation_id = "update_offer", tag = "offers", params(("offer_id" = Uuid, Path)),
    request_body = OfferRequest,
    responses((status = 200, description = "The changed offer", body = OfferView), WriteProblems),
    security(("api_key" = [])))]
#[put("/offers/{offer_id}")]
async fn update_offer(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<OfferRequest>,
) -> Result<web::Json<OfferView>, ApiError> {
    who.staff(ADMIN)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    let ctx = who.ctx(&store);
    let draft = body.parse()?;
    Ok(web::Json(run(move || store.replace_offer(&ctx, id, &draft)).await?))
}

/// Withdraw an offer: no customer sees it again. Withdrawing it again answers the same.
#[utoipa::path(operation_id = "create_offer_withdrawal", tag = "offers", params(("offer_id" = Uuid, Path)),
    responses((status = 200, description = "The withdrawn offer", body = OfferView), WriteProblems),
    security(("api_key" = [])))]
#[post("/offers/{offer_id}/withdrawal")]
async fn create_offer_withdrawal(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<OfferView>, ApiError> {
    who.staff(ADMIN)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.withdraw_offer(&who.ctx(&store), id)).await?))
}

/// The offers for me now, best first, in my account's language: those whose rule matches
/// what I own, running, not dismissed, and not shown on more days than their cap allows.
#[utoipa::path(operation_id = "list_my_offers", tag = "customer", params(OfferListQuery),
    responses((status = 200, description = "My offers, best first", body = Vec<CustomerOfferView>), ReadProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = [])))]
#[get("/me/offers")]
async fn list_my_offers(
    state: web::Data<RestState>,
    who: Principal,
    query: web::Query<OfferListQuery>,
) -> Result<HttpResponse, ApiError> {
    let customer = who.customer()?;
    let limit = query.limit()?;
    let store = state.store.clone();
    let offers = run(move || store.customer_offers(customer, store.now(), limit)).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "private, no-store")).json(offers))
}

/// The offers a customer sees now (what `GET /me/offers` answers them), for support,
/// shops and portals.
#[utoipa::path(operation_id = "list_customer_offers", tag = "customers",
    params(("customer_id" = Uuid, Path), OfferListQuery),
    responses((status = 200, description = "The customer's offers, best first", body = Vec<CustomerOfferView>), ReadProblems),
    security(("api_key" = [])))]
#[get("/customers/{customer_id}/offers")]
async fn list_customer_offers(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    query: web::Query<OfferListQuery>,
) -> Result<HttpResponse, ApiError> {
    who.staff(CUSTOMER_STAFF)?;
    let limit = query.limit()?;
    let (store, customer) = (state.store.clone(), path.into_inner());
    let offers = run(move || store.customer_offers(customer, store.now(), limit)).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "private, no-store")).json(offers))
}

async fn respond(
    state: web::Data<RestState>,
    who: Principal,
    offer: Uuid,
    response: Response,
) -> Result<HttpResponse, ApiError> {
    let customer = who.customer()?;
    let store = state.store.clone();
    run(move || store.respond_to_offer(customer, offer, response, store.now())).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Report that an offer was shown to me. Counts once a UTC day: reloads and retries count once.
#[utoipa::path(operation_id = "create_offer_impression", tag = "customer", params(("offer_id" = Uuid, Path)),
    responses((status = 204, description = "Recorded (or counted today already)"), WriteProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = [])))]
#[post("/me/offers/{offer_id}/impressions")]
async fn create_offer_impression(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    respond(state, who, path.into_inner(), Response::Impression).await
}

/// Report that I followed an offer (its link or its code). Counts once.
#[utoipa::path(operation_id = "create_offer_click", tag = "customer", params(("offer_id" = Uuid, Path)),
    responses((status = 204, description = "Recorded (or recorded before)"), WriteProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = [])))]
#[post("/me/offers/{offer_id}/clicks")]
async fn create_offer_click(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    respond(state, who, path.into_inner(), Response::Click).await
}

/// Dismiss an offer: it is not shown to me again.
#[utoipa::path(operation_id = "create_offer_dismissal", tag = "customer", params(("offer_id" = Uuid, Path)),
    responses((status = 204, description = "Dismissed (or dismissed before)"), WriteProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = [])))]
#[post("/me/offers/{offer_id}/dismissals")]
async fn create_offer_dismissal(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    respond(state, who, path.into_inner(), Response::Dismissal).await
}
