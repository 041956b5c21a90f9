//! The bonus program: staff define coupon pools and rewards for registering tickets
//! (`/coupon-pools`, `/rewards`); a customer reads their bonus account and ledger and
//! exchanges points for coupons (`/me/bonus`); shops, portals and support read a customer's
//! account and redeem points (`/customers/{id}/bonus`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use keyport_api::{
    BonusAccountView, BonusEntryView, BonusLedgerPage, CouponExchangeRequest, CouponPoolRequest,
    CouponPoolView, CouponUpload, CouponUploadView, PageQuery, RedemptionRequest, RewardPage, RewardRequest,
    RewardView,
};
use keyport_core::Role;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::auth::{Principal, RestState};
use crate::input::Json;
use crate::problem::{ReadProblems, WriteProblems};
use crate::{ApiError, idempotency, run};

const ADMIN: &[Role] = &[Role::Admin];
const READERS: &[Role] = &[Role::Admin, Role::Support];
/// Who may read a customer's bonus account and redeem their points.
const CUSTOMER_STAFF: &[Role] = &[Role::Admin, Role::Support, Role::Shop, Role::Portal];

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_coupon_pool)
        .service(list_coupon_pools)
        .service(create_coupons)
        .service(create_reward)
        .service(list_rewards)
        .service(create_reward_withdrawal)
        .service(get_my_bonus)
        .service(list_my_bonus_entries)
        .service(create_coupon_exchange)
        .service(get_customer_bonus)
        .service(list_customer_bonus_entries)
        .service(create_redemption);
}

/// Define a coupon pool: codes for a discounted add-on that rewards hand out, or that
/// customers exchange for points when it has a `points_price`.
#[utoipa::path(operation_id = "create_coupon_pool", tag = "bonus", request_body = CouponPoolRequest,
    responses((status = 201, description = "The pool", body = CouponPoolView), WriteProblems),
    security(("api_key" = [])))]
#[post("/coupon-pools")]
async fn create_coupon_pool(
    state: web::Data<RestState>,
    who: Principal,
    body: Json<CouponPoolRequest>,
) -> Result<HttpResponse, ApiError> {
    who.staff(ADMIN)?;
    let (name, price) = body.parse()?;
    let store = state.store.clone();
    let pool = run(move || store.create_coupon_pool(&who.ctx(&store), &name, price)).await?;
    Ok(HttpResponse::Created().json(pool))
}

/// The coupon pools, oldest first, with the codes available, handed out and owed.
#[utoipa::path(operation_id = "list_coupon_pools", tag = "bonus",
    responses((status = 200, description = "The pools", body = Vec<CouponPoolView>), ReadProblems),
    security(("api_key" = [])))]
#[get("/coupon-pools")]
async fn list_coupon_pools(
    state: web::Data<RestState>,
    who: Principal,
) -> Result<web::Json<Vec<CouponPoolView>>, ApiError> {
    who.staff(READERS)?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.list_coupon_pools()).await?))
}

/// Upload coupon codes to a pool (codes it has are skipped). Customers whom a reward owes a
/// coupon of this pool get the new codes first.
#[utoipa::path(operation_id = "create_coupons", tag = "bonus", params(("pool_id" = Uuid, Path)),
    request_body = CouponUpload,
    responses((status = 200, description = "What the upload did", body = CouponUploadView), WriteProblems),
    security(("api_key" = [])))]
#[post("/coupon-pools/{pool_id}/coupons")]
async fn create_coupons(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<CouponUpload>,
) -> Result<web::Json<CouponUploadView>, ApiError> {
    who.staff(ADMIN)?;
    let codes = body.parse()?;
    let (store, pool) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.add_coupons(&who.ctx(&store), pool, &codes)).await?))
}

/// Define a reward for registering tickets: points, a coupon from a pool, or an
/// entitlement; optionally only for tickets of one shop or one product. A ticket earns each
/// reward once, however often it is registered. Accepts an `Idempotency-Key` header.
#[utoipa::path(operation_id = "create_reward", tag = "bonus",
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeats of this key get the first answer again")),
    request_body = RewardRequest,
    responses((status = 201, description = "The reward", body = RewardView), WriteProblems),
    security(("api_key" = [])))]
#[post("/rewards")]
async fn create_reward(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    body: Json<RewardRequest>,
) -> Result<HttpResponse, ApiError> {
    who.staff(ADMIN)?;
    let store = state.store.clone();
    let ctx = who.ctx(&store);
    let draft = body.parse()?;
    idempotency::once(&state, &who, &req, &body.into_inner(), || async move {
        Ok((StatusCode::CREATED, run(move || store.create_reward(&ctx, &draft)).await?))
    })
    .await
}

/// The rewards, oldest first, with how many tickets earned each.
#[utoipa::path(operation_id = "list_rewards", tag = "bonus", params(PageQuery),
    responses((status = 200, description = "A page of rewards", body = RewardPage), ReadProblems),
    security(("api_key" = [])))]
#[get("/rewards")]
async fn list_rewards(
    state: web::Data<RestState>,
    who: Principal,
    query: web::Query<PageQuery>,
) -> Result<web::Json<RewardPage>, ApiError> {
    who.staff(READERS)?;
    let (store, q) = (state.store.clone(), query.into_inner());
    Ok(web::Json(run(move || store.list_rewards(q.after.as_deref(), q.limit, store.now())).await?))
}

/// Withdraw a reward: registrations no longer earn it; what was earned stays. Withdrawing
/// it again answers the same.
#[utoipa::path(operation_id = "create_reward_withdrawal", tag = "bonus", params(("reward_id" = Uuid, Path)),
    responses((status = 200, description = "The withdrawn reward", body = RewardView), WriteProblems),
    security(("api_key" = [])))]
#[post("/rewards/{reward_id}/withdrawal")]
async fn create_reward_withdrawal(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<RewardView>, ApiError> {
    who.staff(ADMIN)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.withdraw_reward(&who.ctx(&store), id)).await?))
}

/// My bonus account: points balance, entitlements, the coupons I hold and those owed to me.
#[utoipa::path(operation_id = "get_my_bonus", tag = "customer",
    responses((status = 200, description = "My bonus account", body = BonusAccountView), ReadProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = [])))]
#[get("/me/bonus")]
async fn get_my_bonus(state: web::Data<RestState>, who: Principal) -> Result<HttpResponse, ApiError> {
    let (store, customer) = (state.store.clone(), who.customer()?);
    let account = run(move || store.bonus_account(customer)).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "private, no-store")).json(account))
}

/// My bonus ledger, newest first: rewards earned, points redeemed, coupons exchanged.
#[utoipa::path(operation_id = "list_my_bonus_entries", tag = "customer", params(PageQuery),
    responses((status = 200, description = "A page of my ledger", body = BonusLedgerPage), ReadProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = [])))]
#[get("/me/bonus/ledger")]
async fn list_my_bonus_entries(
    state: web::Data<RestState>,
    who: Principal,
    query: web::Query<PageQuery>,
) -> Result<web::Json<BonusLedgerPage>, ApiError> {
    let (store, customer, q) = (state.store.clone(), who.customer()?, query.into_inner());
    Ok(web::Json(run(move || store.bonus_ledger(customer, q.after.as_deref(), q.limit)).await?))
}

/// Exchange my points for a coupon from a pool with a points price: the points and the
/// coupon change hands together, or not at all (`insufficient_points`,
/// `coupon_pool_empty`). Accepts an `Idempotency-Key` header.
#[utoipa::path(operation_id = "create_coupon_exchange", tag = "customer",
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeats of this key get the first answer again")),
    request_body = CouponExchangeRequest,
    responses((status = 201, description = "The ledger entry with the coupon", body = BonusEntryView), WriteProblems),
    security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = [])))]
#[post("/me/bonus/exchanges")]
async fn create_coupon_exchange(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    body: Json<CouponExchangeRequest>,
) -> Result<HttpResponse, ApiError> {
    let customer = who.customer()?;
    let store = state.store.clone();
    let (ctx, pool) = (who.ctx(&store), body.coupon_pool_id);
    idempotency::once(&state, &who, &req, &body.into_inner(), move || async move {
        Ok((StatusCode::CREATED, run(move || store.exchange_points(&ctx, customer, pool)).await?))
    })
    .await
}

/// A customer's bonus account (what `GET /me/bonus` answers them).
#[utoipa::path(operation_id = "get_customer_bonus", tag = "customers", params(("customer_id" = Uuid, Path)),
    responses((status = 200, description = "The customer's bonus account", body = BonusAccountView), ReadProblems),
    security(("api_key" = [])))]
#[get("/customers/{customer_id}/bonus")]
async fn get_customer_bonus(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    who.staff(CUSTOMER_STAFF)?;
    let (store, customer) = (state.store.clone(), path.into_inner());
    let account = run(move || store.bonus_account(customer)).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "private, no-store")).json(account))
}

/// A customer's bonus ledger, newest first.
#[utoipa::path(operation_id = "list_customer_bonus_entries", tag = "customers",
    params(("customer_id" = Uuid, Path), PageQuery),
    responses((status = 200, description = "A page of the customer's ledger", body = BonusLedgerPage), ReadProblems),
    security(("api_key" = [])))]
#[get("/customers/{customer_id}/bonus/ledger")]
async fn list_customer_bonus_entries(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<BonusLedgerPage>, ApiError> {
    who.staff(CUSTOMER_STAFF)?;
    let (store, customer, q) = (state.store.clone(), path.into_inner(), query.into_inner());
    Ok(web::Json(run(move || store.bonus_ledger(customer, q.after.as_deref(), q.limit)).await?))
}

/// Redeem a customer's points, e.g. as a discount at a shop's checkout: never more than the
/// balance (`insufficient_points`). The same shop's `reference` again answers the first
/// redemption (200) and takes nothing more; with other points it is refused
/// (`redemption_conflict`).
#[utoipa::path(operation_id = "create_redemption", tag = "customers", params(("customer_id" = Uuid, Path)),
    request_body = RedemptionRequest,
    responses((status = 201, description = "The redemption", body = BonusEntryView),
              (status = 200, description = "The redemption made before with this reference", body = BonusEntryView),
              WriteProblems),
    security(("api_key" = [])))]
#[post("/customers/{customer_id}/bonus/redemptions")]
async fn create_redemption(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<RedemptionRequest>,
) -> Result<HttpResponse, ApiError> {
    who.staff(CUSTOMER_STAFF)?;
    let (shop, points, reference) = body.parse()?;
    let (store, customer) = (state.store.clone(), path.into_inner());
    let (created, entry) =
        run(move || store.redeem_points(&who.ctx(&store), customer, &shop, points, &reference)).await?;
    let mut answer = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(answer.json(entry))
}
