//! The licenses: the overview, registering a ticket, one license with its machines, and
//! the offline files (request in, certificate out; receipt in; deactivation proof in),
//! recovery from a lost machine with its cost stated before it is confirmed.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, web};
use keyport_core::files::ActivationRequest;
use keyport_core::{CoreError, Fingerprint, MachineIdentity, MachineKey, TicketCode};
use keyport_store::{Context, LicenseView, Paging, Scope, SessionSubject, Store, StoreError};
use minijinja::Value;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::render::status_of;
use crate::render::{self, DoneQuery, ctx, page, run, see_other};
use crate::session::{Login, Visitor};
use crate::upload::{self, Upload, UploadError};
use crate::{BASE_PATH, Depot};

/// Licenses per page of the overview.
const PAGE: u32 = 50;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/licenses", web::get().to(overview))
        .route("/tickets", web::post().to(register_ticket))
        .route("/licenses/{license_id}", web::get().to(license))
        .route("/licenses/{license_id}/offline-activation", web::post().to(offline_activation))
        .route("/receipts", web::post().to(receipt))
        .route("/deactivations", web::post().to(deactivation))
        .route("/licenses/{license_id}/activations/{activation_id}/recovery", web::get().to(recovery_page))
        .route("/licenses/{license_id}/activations/{activation_id}/recovery", web::post().to(recover))
        .route("/licenses/{license_id}/activations/{activation_id}/emergency", web::post().to(emergency));
}

#[derive(Debug, Deserialize)]
struct OverviewQuery {
    after: Option<String>,
    done: Option<String>,
}

async fn overview(
    depot: web::Data<Depot>,
    visitor: Visitor,
    query: web::Query<OverviewQuery>,
) -> HttpResponse {
    let Some(login) = visitor.login.clone() else { return render::to_login() };
    let notice = render::notice(query.done.as_deref());
    match load_page(&depot, &login, query.after.as_deref()).await {
        Ok(licenses) => {
            let data = minijinja::value::merge_maps([licenses, minijinja::context! { notice }]);
            page(&depot, &visitor, StatusCode::OK, "licenses.html", data)
        }
        Err(e) => render::refusal(&depot, &visitor, &e),
    }
}

/// A page of the visitor's licenses and (for an account) its offers, read in one trip to
/// the blocking pool, as the template's values (straight from the views, not through a JSON
/// tree: 50 licenses with their activations are most of the page's work).
async fn load_page(depot: &Depot, login: &Login, after: Option<&str>) -> Result<Value, CoreError> {
    let paging = Paging::new(after, Some(PAGE), PAGE)?;
    let (store, scope, subject) = (depot.store.clone(), login.scope(), login.subject);
    let (page, offers) = run(move || {
        let now = store.now();
        let page = store.page_licenses(scope, &paging, now)?;
        Ok((page, crate::offers::shown(&store, subject, now)))
    })
    .await?;
    Ok(minijinja::context! {
        licenses => Value::from_serialize(&page.items),
        next => page.next_cursor,
        offers => Value::from_serialize(&offers),
        ticket_code => "",
    })
}

#[derive(Debug, Deserialize)]
struct TicketForm {
    csrf: String,
    ticket_code: String,
}

async fn register_ticket(
    depot: web::Data<Depot>,
    visitor: Visitor,
    form: web::Form<TicketForm>,
) -> HttpResponse {
    let Some(login) = visitor.login.clone() else { return render::to_login() };
    if !visitor.csrf_ok(&depot, &form.csrf) {
        return render::form_expired(&depot, &visitor);
    }
    let SessionSubject::Customer(customer) = login.subject else {
        return render::refusal(&depot, &visitor, &CoreError::new(keyport_core::ErrorCode::Forbidden));
    };
    let (store, context) = (depot.store.clone(), ctx(&depot, &visitor));
    let result = match TicketCode::parse(&form.ticket_code) {
        Ok(code) => run(move || store.register_ticket(&context, customer, &code)).await,
        Err(e) => Err(e),
    };
    let (status, outcome) = match result {
        Ok(ticket) => (
            StatusCode::OK,
            minijinja::context! { notice => "ticket_registered", bonus => Value::from_serialize(&ticket.bonus) },
        ),
        Err(e) => (
            status_of(&e),
            minijinja::context! { ticket_error => e.message(visitor.lang), ticket_code => form.ticket_code.as_str() },
        ),
    };
    match load_page(&depot, &login, None).await {
        Ok(licenses) => {
            let data = minijinja::value::merge_maps([licenses, outcome]);
            page(&depot, &visitor, status, "licenses.html", data)
        }
        Err(e) => render::refusal(&depot, &visitor, &e),
    }
}

async fn load_license(depot: &Depot, login: &Login, id: Uuid) -> Result<LicenseView, CoreError> {
    let (store, scope) = (depot.store.clone(), login.scope());
    run(move || store.get_license(scope, id, store.now())).await
}

async fn license(
    depot: web::Data<Depot>,
    visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> HttpResponse {
    let Some(login) = visitor.login.clone() else { return render::to_login() };
    let Ok(id) = Uuid::parse_str(&path) else { return render::not_found(depot, visitor).await };
    match load_license(&depot, &login, id).await {
        Ok(license) => {
            let notice = render::notice(query.done.as_deref());
            page(
                &depot,
                &visitor,
                StatusCode::OK,
                "license.html",
                json!({"license": license, "notice": notice}),
            )
        }
        Err(e) => render::refusal(&depot, &visitor, &e),
    }
}

/// Reads a file form and checks its CSRF token; the refusal page when either fails.
async fn file_form(depot: &Depot, visitor: &Visitor, payload: Multipart) -> Result<Upload, HttpResponse> {
    let upload = match upload::read(payload).await {
        Ok(upload) => upload,
        Err(UploadError::TooLarge) => {
            return Err(render::message(
                depot,
                visitor,
                StatusCode::PAYLOAD_TOO_LARGE,
                "error_title",
                "file_too_large",
            ));
        }
        Err(UploadError::Malformed) => {
            return Err(render::refusal(depot, visitor, &CoreError::invalid("file", "is not a text file")));
        }
    };
    if !visitor.csrf_ok(depot, &upload.csrf) {
        return Err(render::form_expired(depot, visitor));
    }
    if upload.file.trim().is_empty() {
        return Err(render::message(
            depot,
            visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
            "error_title",
            "file_missing",
        ));
    }
    Ok(upload)
}

/// The certificate as a file to carry to the machine.
fn certificate_file(license: Uuid, certificate: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!("certificate-{license}.txt"))],
        })
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(certificate)
}

/// A file form's use case: the visitor logged in, the file read and its CSRF token checked,
/// the use case run in the visitor's scope; the page to answer with when any of it fails.
async fn file_use_case<T: Send + 'static>(
    depot: &Depot,
    visitor: &Visitor,
    payload: Multipart,
    use_case: impl FnOnce(&Store, &Context, Scope, &str) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, HttpResponse> {
    let Some(login) = visitor.login.clone() else { return Err(render::to_login()) };
    let upload = file_form(depot, visitor, payload).await?;
    let (store, context, scope) = (depot.store.clone(), ctx(depot, visitor), login.scope());
    run(move || use_case(&store, &context, scope, &upload.file))
        .await
        .map_err(|e| render::refusal(depot, visitor, &e))
}

async fn offline_activation(depot: web::Data<Depot>, visitor: Visitor, payload: Multipart) -> HttpResponse {
    let outcome = file_use_case(&depot, &visitor, payload, |store, ctx, scope, file| {
        store.request_offline_activation(ctx, scope, file)
    });
    match outcome.await {
        Ok(outcome) => certificate_file(outcome.activation.license_id, outcome.certificate),
        Err(page) => page,
    }
}

async fn receipt(depot: web::Data<Depot>, visitor: Visitor, payload: Multipart) -> HttpResponse {
    let done = file_use_case(&depot, &visitor, payload, |store, ctx, scope, file| {
        store.complete_offline_activation(ctx, scope, file)
    });
    match done.await {
        Ok(activation) => {
            see_other(&format!("{BASE_PATH}/licenses/{}?done=receipt_done", activation.license_id))
        }
        Err(page) => page,
    }
}

async fn deactivation(depot: web::Data<Depot>, visitor: Visitor, payload: Multipart) -> HttpResponse {
    let done = file_use_case(&depot, &visitor, payload, |store, ctx, scope, file| {
        store.deactivate_with_proof(ctx, scope, file)
    });
    match done.await {
        Ok(activation) => {
            see_other(&format!("{BASE_PATH}/licenses/{}?done=proof_done", activation.license_id))
        }
        Err(page) => page,
    }
}

/// The recovery page's data: the license, the lost machine's activation, and the cost.
async fn recovery_data(
    depot: &Depot,
    login: &Login,
    lang: keyport_core::Lang,
    path: &(String, String),
) -> Result<serde_json::Value, CoreError> {
    let not_found = || CoreError::not_found("activation");
    let license_id = Uuid::parse_str(&path.0).map_err(|_| CoreError::not_found("license"))?;
    let activation_id = Uuid::parse_str(&path.1).map_err(|_| not_found())?;
    let license = load_license(depot, login, license_id).await?;
    let activation =
        license.activations.iter().find(|a| a.id == activation_id).cloned().ok_or_else(not_found)?;
    // The cost as the recovery itself would decide it now (blocking period, credits, state).
    let (store, scope) = (depot.store.clone(), login.scope());
    let preview = run(move || store.preview_recovery(scope, activation_id, store.now())).await;
    let (after, refusal) = match preview {
        Ok(after) => (Some(after), None),
        Err(e) if e.code().http_status() < 500 => (None, Some(e.message(lang))),
        Err(e) => return Err(e),
    };
    Ok(json!({
        "license": license,
        "activation": activation,
        "credits": after.map(|a| a + 1),
        "after": after,
        "refusal": refusal,
    }))
}

async fn recovery_page(
    depot: web::Data<Depot>,
    visitor: Visitor,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let Some(login) = visitor.login.clone() else { return render::to_login() };
    match recovery_data(&depot, &login, visitor.lang, &path).await {
        Ok(data) => page(&depot, &visitor, StatusCode::OK, "recover.html", data),
        Err(e) => render::refusal(&depot, &visitor, &e),
    }
}

/// The new machine named by its activation request file, for the lost machine's license.
fn new_machine(text: &str, license: Uuid) -> Result<MachineIdentity, CoreError> {
    let request: ActivationRequest = keyport_core::files::read(text)?;
    if request.license_id != license {
        return Err(CoreError::invalid("file", "is a request for another license"));
    }
    Ok(MachineIdentity {
        fingerprint: Fingerprint::parse(&request.fingerprint)?,
        key: MachineKey::parse(&request.machine_key)?,
    })
}

async fn recover(
    depot: web::Data<Depot>,
    visitor: Visitor,
    path: web::Path<(String, String)>,
    payload: Multipart,
) -> HttpResponse {
    let Some(login) = visitor.login.clone() else { return render::to_login() };
    let upload = match file_form(&depot, &visitor, payload).await {
        Ok(upload) => upload,
        Err(response) => return response,
    };
    let data = match recovery_data(&depot, &login, visitor.lang, &path).await {
        Ok(data) => data,
        Err(e) => return render::refusal(&depot, &visitor, &e),
    };
    if !upload.confirmed {
        let mut data = data;
        data["error"] = json!(depot.words.word(visitor.lang, "recover_confirm_missing"));
        return page(&depot, &visitor, StatusCode::UNPROCESSABLE_ENTITY, "recover.html", data);
    }
    let (license_id, lost) = match (Uuid::parse_str(&path.0), Uuid::parse_str(&path.1)) {
        (Ok(license), Ok(lost)) => (license, lost),
        _ => return render::not_found(depot, visitor).await,
    };
    let machine = match new_machine(&upload.file, license_id) {
        Ok(machine) => machine,
        Err(e) => return render::refusal(&depot, &visitor, &e),
    };
    let (store, context, scope) = (depot.store.clone(), ctx(&depot, &visitor), login.scope());
    match run(move || store.recover(&context, scope, lost, &machine)).await {
        Ok(outcome) => certificate_file(license_id, outcome.certificate),
        Err(e) => render::refusal(&depot, &visitor, &e),
    }
}

/// An emergency license for the new machine while the lost machine's seat cannot move: its
/// certificate to carry to the machine.
async fn emergency(
    depot: web::Data<Depot>,
    visitor: Visitor,
    path: web::Path<(String, String)>,
    payload: Multipart,
) -> HttpResponse {
    let Some(login) = visitor.login.clone() else { return render::to_login() };
    let upload = match file_form(&depot, &visitor, payload).await {
        Ok(upload) => upload,
        Err(response) => return response,
    };
    let (license_id, lost) = match (Uuid::parse_str(&path.0), Uuid::parse_str(&path.1)) {
        (Ok(license), Ok(lost)) => (license, lost),
        _ => return render::not_found(depot, visitor).await,
    };
    // The lost machine's activation must be one of the license the path names.
    match load_license(&depot, &login, license_id).await {
        Ok(license) if license.activations.iter().any(|a| a.id == lost) => {}
        Ok(_) => return render::refusal(&depot, &visitor, &CoreError::not_found("activation")),
        Err(e) => return render::refusal(&depot, &visitor, &e),
    }
    let machine = match new_machine(&upload.file, license_id) {
        Ok(machine) => machine,
        Err(e) => return render::refusal(&depot, &visitor, &e),
    };
    let (store, context, scope) = (depot.store.clone(), ctx(&depot, &visitor), login.scope());
    match run(move || store.start_emergency(&context, scope, lost, &machine)).await {
        Ok(outcome) => certificate_file(license_id, outcome.certificate),
        Err(e) => render::refusal(&depot, &visitor, &e),
    }
}
