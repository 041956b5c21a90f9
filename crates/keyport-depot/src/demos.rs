//! Demos: the products a customer may try on their own (those with a self-service demo
//! item), and the request for one, decided as `POST /me/demos` decides it (one per customer
//! and product, the e-mail address confirmed, refused domains).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use keyport_core::ProductCode;
use keyport_store::DemoFor;
use serde::Deserialize;
use serde_json::json;

use crate::render::status_of;
use crate::render::{self, ctx, page, run, see_other};
use crate::session::Visitor;
use crate::{BASE_PATH, Depot};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/demos", web::get().to(demos)).route("/demos", web::post().to(request));
}

async fn show(
    depot: &Depot,
    visitor: &Visitor,
    status: StatusCode,
    extra: serde_json::Value,
) -> HttpResponse {
    let store = depot.store.clone();
    match run(move || store.demo_products()).await {
        Ok(products) => {
            let products: Vec<_> =
                products.into_iter().map(|(code, name)| json!({"code": code, "name": name})).collect();
            let mut data = json!({"products": products});
            if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
                data.extend(extra);
            }
            page(depot, visitor, status, "demos.html", data)
        }
        Err(e) => render::refusal(depot, visitor, &e),
    }
}

async fn demos(depot: web::Data<Depot>, visitor: Visitor) -> HttpResponse {
    if visitor.customer().is_none() {
        return render::to_login();
    }
    show(&depot, &visitor, StatusCode::OK, json!({})).await
}

#[derive(Debug, Deserialize)]
struct DemoForm {
    csrf: String,
    product_code: String,
}

async fn request(depot: web::Data<Depot>, visitor: Visitor, form: web::Form<DemoForm>) -> HttpResponse {
    let Some(customer) = visitor.customer() else { return render::to_login() };
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let result = match ProductCode::parse(&form.product_code) {
        Ok(product) => {
            let (store, context, policy) =
                (depot.store.clone(), ctx(&depot, &visitor), depot.settings.demo.clone());
            run(move || store.request_demo(&context, &product, DemoFor::Customer(customer), None, &policy))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        // To the demo's license (a reload asks for nothing again).
        Ok(demo) => see_other(&format!("{BASE_PATH}/licenses/{}?done=demo_given", demo.license_id)),
        Err(e) => {
            let page =
                show(&depot, &visitor, status_of(&e), json!({"demo_error": e.message(visitor.lang)})).await;
            render::with_retry_after(&e, page)
        }
    }
}
