//! `/events`: the event log for admins and support.

use actix_web::{get, web};
use keyport_core::{EventKind, Role};
use keyport_store::{EventFilter, EventPage};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::auth::{Principal, RestState};
use crate::problem::ReadProblems;
use crate::{ApiError, run};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_events);
}

/// Filters and the page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only events about this license.
    pub license_id: Option<Uuid>,
    /// Only events about this customer.
    pub customer_id: Option<Uuid>,
    /// Only events of this kind, e.g. `license_activated`.
    #[param(max_length = 64)]
    pub kind: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
    /// At most this many (1 to 500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
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
