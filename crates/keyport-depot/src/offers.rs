//! Offers on the license overview: the customer's best few (the same decision as
//! `GET /me/offers`), each shown once a day counted as an impression; following one counts
//! a click and leads to its link; a dismissal hides it for good.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use keyport_api::CustomerOfferView;
use keyport_core::offer::Response;
use keyport_core::{CoreError, ErrorCode};
use keyport_store::{SessionSubject, Store};
use uuid::Uuid;

use crate::render::{self, run, see_other};
use crate::session::{CsrfForm, Visitor};
use crate::{BASE_PATH, Depot};

/// Offers shown on the overview.
const SHOWN: usize = 3;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/offers/{offer_id}/go", web::get().to(follow))
        .route("/offers/{offer_id}/dismissal", web::post().to(dismiss));
}

/// The offers for the overview (an account's; a ticket login sees none), their
/// impressions recorded (once a day each: a reload writes nothing). Runs on the blocking
/// pool with the page's other reads. A failure costs the page its offers, never the page.
pub(crate) fn shown(store: &Store, subject: SessionSubject, now: DateTime<Utc>) -> Vec<CustomerOfferView> {
    let SessionSubject::Customer(customer) = subject else { return Vec::new() };
    store.show_offers(customer, now, SHOWN).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the overview's offers were not read");
        Vec::new()
    })
}

/// Follows an offer's link: the click is counted (when the offer is the customer's and the
/// request comes from the depot's own page), then the browser goes on to the shop.
async fn follow(depot: web::Data<Depot>, visitor: Visitor, path: web::Path<String>) -> HttpResponse {
    let Some(customer) = visitor.customer() else { return render::to_login() };
    let Ok(offer) = Uuid::parse_str(&path) else { return render::not_found(depot, visitor).await };
    let (store, count) = (depot.store.clone(), !visitor.foreign);
    let link = run(move || {
        let now = store.now();
        let link = store.get_offer(offer, now)?.link;
        if link.is_some() && count {
            match store.respond_to_offer(customer, offer, Response::Click, now) {
                // Not this customer's offer (or no longer shown): the link still works.
                Err(keyport_store::StoreError::Domain(e)) if e.code() == ErrorCode::NotFound => {}
                other => other?,
            }
        }
        Ok(link)
    })
    .await;
    match link {
        Ok(Some(link)) => see_other(&link),
        Ok(None) => render::refusal(&depot, &visitor, &CoreError::not_found("offer")),
        Err(e) => render::refusal(&depot, &visitor, &e),
    }
}

async fn dismiss(
    depot: web::Data<Depot>,
    visitor: Visitor,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let Some(customer) = visitor.customer() else { return render::to_login() };
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let Ok(offer) = Uuid::parse_str(&path) else { return render::not_found(depot, visitor).await };
    let store = depot.store.clone();
    match run(move || store.respond_to_offer(customer, offer, Response::Dismissal, store.now())).await {
        Ok(()) => see_other(&format!("{BASE_PATH}/licenses")),
        Err(e) if e.code() == ErrorCode::NotFound => {
            render::message(&depot, &visitor, StatusCode::NOT_FOUND, "not_found_title", "not_found_text")
        }
        Err(e) => render::refusal(&depot, &visitor, &e),
    }
}
