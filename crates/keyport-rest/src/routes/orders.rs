//! `/orders` and `/tickets`: what shops send and read.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use keyport_api::OrderRequestBody;
use keyport_core::{Role, TicketCode};
use keyport_store::{OrderOutcome, OrderView, TicketView};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::{Principal, RestState};
use crate::input::Json;
use crate::problem::{ReadProblems, WriteProblems};
use crate::{ApiError, idempotency, run};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_order).service(get_order).service(get_ticket);
}

/// Create an order, or extend it with new lines. Answers 201 when this call created the
/// order and 200 otherwise. Accepts an `Idempotency-Key` header.
#[utoipa::path(
    operation_id = "create_order", tag = "orders",
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeats of this key get the first answer again")),
    request_body = OrderRequestBody,
    responses(
        (status = 201, description = "Created, with its ticket", body = OrderOutcome, headers(("Idempotent-Replayed" = bool, description = "`true` when this is the kept answer to an earlier request with the same Idempotency-Key"))),
        (status = 200, description = "Sent before: extended by new lines, or unchanged", body = OrderOutcome, headers(("Idempotent-Replayed" = bool, description = "`true` when this is the kept answer to an earlier request with the same Idempotency-Key"))),
        WriteProblems
    ),
    security(("api_key" = []))
)]
#[post("/orders")]
async fn create_order(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    body: Json<OrderRequestBody>,
) -> Result<HttpResponse, ApiError> {
    who.staff(&[Role::Admin, Role::Shop])?;
    let request = body.parse()?;
    let store = state.store.clone();
    let ctx = who.ctx(&store);
    idempotency::once(&state, &who, &req, &*body, || async move {
        let outcome = run(move || store.create_order(&ctx, &request)).await?;
        let status = if outcome.created { StatusCode::CREATED } else { StatusCode::OK };
        Ok((status, outcome))
    })
    .await
}

/// An order by shop and order number.
#[utoipa::path(
    operation_id = "get_order", tag = "orders",
    params(("shop" = String, Path), ("external_order_number" = String, Path)),
    responses((status = 200, description = "The order", body = OrderView), ReadProblems),
    security(("api_key" = []))
)]
#[get("/orders/{shop}/{external_order_number}")]
async fn get_order(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> Result<web::Json<OrderView>, ApiError> {
    who.staff(&[Role::Admin, Role::Support, Role::Shop])?;
    let (shop, number) = path.into_inner();
    let store = state.store.clone();
    Ok(web::Json(run(move || store.get_order(&shop, &number)).await?))
}

/// A ticket with its licenses, their states and activations.
#[utoipa::path(
    operation_id = "get_ticket", tag = "orders",
    params(("ticket_code" = String, Path, description = "The ticket code; dashes optional")),
    responses((status = 200, description = "The ticket with its licenses", body = TicketView), ReadProblems),
    security(("api_key" = []))
)]
#[get("/tickets/{ticket_code}")]
async fn get_ticket(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<String>,
) -> Result<web::Json<TicketView>, ApiError> {
    who.staff(&[Role::Admin, Role::Support, Role::Shop])?;
    let code = TicketCode::parse(&path)?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.lookup_ticket(&code, store.now())).await?))
}
