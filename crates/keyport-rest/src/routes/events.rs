//! `/events`: the event log for admins and support.

use actix_web::{get, web};
use keyport_api::EventQuery;
use keyport_core::{EventKind, Role};
use keyport_store::{EventFilter, EventPage};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::{Principal, RestState};
use crate::problem::ReadProblems;
use crate::{ApiError, run};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_events);
}

/// The event log, oldest first, with filters and a cursor.
#[utoipa::path(operation_id = "list_events", tag = "events", params(EventQuery),
    responses((status = 200, description = "A page of events", body = EventPage), ReadProblems), security(("api_key" = [])))]
#[get("/events")]
async fn list_events(
    state: web::Data<RestState>,
    who: Principal,
    query: web::Query<EventQuery>,
) -> Result<web::Json<EventPage>, ApiError> {
    who.staff(&[Role::Admin, Role::Support])?;
    let query = query.into_inner();
    let filter = EventFilter {
        license_id: query.license_id,
        customer_id: query.customer_id,
        kind: query.kind.as_deref().map(EventKind::parse).transpose()?,
        after: query.after,
        limit: query.limit,
        ..EventFilter::default()
    };
    let store = state.store.clone();
    Ok(web::Json(run(move || store.query_events(&filter)).await?))
}
