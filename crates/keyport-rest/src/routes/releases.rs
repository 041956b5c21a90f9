//! `/releases` (staff: releases and their artifacts), `/me/downloads` and `/me/updates`
//! (customers), `/downloads/...` (the signed links, no login) and `/update-checks` (the
//! ISV's software, signed by its machine key).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use keyport_api::{
    ArtifactQuery, ArtifactView, DownloadsQuery, DownloadsView, ReleaseQuery, ReleaseRequest, ReleaseView,
    RolloutRequest, SignedReportRequest, UpdateQuery, UpdatesView, YankRequest,
};
use keyport_artifacts::UploadError;
use keyport_core::release::{Os, Sha256Digest, rollout_percent};
use keyport_core::{CoreError, ErrorCode, Reason, Role};
use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::auth::{Principal, RestState};
use crate::delivery::{ByteRange, byte_range, content_disposition};
use crate::input::Json;
use crate::paging::{array_page, array_paging};
use crate::problem::{DownloadProblems, ReadProblems, WriteProblems, lang_of};
use crate::{ApiError, run};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_release)
        .service(list_releases)
        .service(get_release)
        .service(create_release_publication)
        .service(create_release_yank)
        .service(update_release_rollout)
        .service(delete_release)
        .service(create_artifact)
        .service(delete_artifact)
        .service(list_my_downloads)
        .service(get_my_updates)
        .service(create_update_check)
        .service(get_download);
}

/// Staff who read releases.
const READERS: &[Role] = &[Role::Admin, Role::Support];

/// An artifact's bytes (any media type; sent as they are).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct FileBody(#[expect(dead_code, reason = "only the contract's shape: bodies stream")] Vec<u8>);

/// Create a release of a product, as a draft (artifacts are uploaded to it, then it is
/// published).
#[utoipa::path(operation_id = "create_release", tag = "releases", request_body = ReleaseRequest,
    responses((status = 201, description = "The new draft", body = ReleaseView), WriteProblems), security(("api_key" = [])))]
#[post("/releases")]
async fn create_release(
    state: web::Data<RestState>,
    who: Principal,
    body: Json<ReleaseRequest>,
) -> Result<HttpResponse, ApiError> {
    who.staff(&[Role::Admin])?;
    let spec = body.parse()?;
    let store = state.store.clone();
    Ok(HttpResponse::Created().json(run(move || store.create_release(&who.ctx(&store), &spec)).await?))
}

/// Releases (of one product, or all), oldest first, one page at a time; drafts and yanked
/// releases included.
#[utoipa::path(operation_id = "list_releases", tag = "releases", params(ReleaseQuery),
    responses((status = 200, description = "Releases (a page)", body = Vec<ReleaseView>, headers(("Link" = String, description = "The next page (rel=next), when one follows"), ("X-Next-Cursor" = String, description = "The next page's cursor, for `after`"))), ReadProblems), security(("api_key" = [])))]
#[get("/releases")]
async fn list_releases(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<ReleaseQuery>,
) -> Result<HttpResponse, ApiError> {
    who.staff(READERS)?;
    let paging = array_paging(query.after.as_deref(), query.limit)?;
    let product = query.product.clone();
    let store = state.store.clone();
    Ok(array_page(&req, run(move || store.list_releases(product.as_deref(), &paging)).await?))
}

/// One release with its artifacts.
#[utoipa::path(operation_id = "get_release", tag = "releases", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The release", body = ReleaseView), ReadProblems), security(("api_key" = [])))]
#[get("/releases/{id}")]
async fn get_release(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<ReleaseView>, ApiError> {
    who.staff(READERS)?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.get_release(*path)).await?))
}

/// Publish a draft that has artifacts: customers see it, and it is offered as an update (to
/// its rollout percentage). Publishing a published release again changes nothing.
#[utoipa::path(operation_id = "create_release_publication", tag = "releases", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The published release", body = ReleaseView), WriteProblems), security(("api_key" = [])))]
#[post("/releases/{id}/publish")]
async fn create_release_publication(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<ReleaseView>, ApiError> {
    who.staff(&[Role::Admin])?;
    // Every file must be there (a draft's file can go missing if an identical one was being
    // deleted while it was uploaded): refused while one is not.
    let (store, id) = (state.store.clone(), *path);
    let release = run(move || store.get_release(id)).await?;
    let storage = &state.delivery()?.storage;
    for artifact in &release.artifacts {
        let digest = Sha256Digest::parse(&artifact.sha256)?;
        if !storage.contains(digest).await.map_err(|e| {
            tracing::error!(error = %e, "artifact storage failed");
            ApiError::new(ErrorCode::Unavailable)
        })? {
            return Err(CoreError::new(ErrorCode::ReleaseState)
                .with("version", &release.version)
                .with("state", "draft")
                .with("reason", keyport_core::release::reason::FILE_MISSING)
                .with("artifact_id", artifact.id)
                .into());
        }
    }
    let store = state.store.clone();
    Ok(web::Json(run(move || store.publish_release(&who.ctx(&store), id)).await?))
}

/// Yank (withdraw) a published release: never offered as an update again; customers who
/// downloaded it keep access only with `keep_downloadable`. Yanking again changes nothing.
#[utoipa::path(operation_id = "create_release_yank", tag = "releases", params(("id" = Uuid, Path)), request_body = YankRequest,
    responses((status = 200, description = "The yanked release", body = ReleaseView), WriteProblems), security(("api_key" = [])))]
#[post("/releases/{id}/yank")]
async fn create_release_yank(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<YankRequest>,
) -> Result<web::Json<ReleaseView>, ApiError> {
    who.staff(&[Role::Admin])?;
    let reason = Reason::parse(&body.reason)?;
    let keep = body.keep_downloadable;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.yank_release(&who.ctx(&store), *path, &reason, keep)).await?))
}

/// Set a release's staged rollout: the share of machines (chosen by a stable hash of their
/// activation; for a customer, of their account) offered it as an update.
#[utoipa::path(operation_id = "update_release_rollout", tag = "releases", params(("id" = Uuid, Path)), request_body = RolloutRequest,
    responses((status = 200, description = "The release", body = ReleaseView), WriteProblems), security(("api_key" = [])))]
#[put("/releases/{id}/rollout")]
async fn update_release_rollout(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<RolloutRequest>,
) -> Result<web::Json<ReleaseView>, ApiError> {
    who.staff(&[Role::Admin])?;
    let percent = rollout_percent(body.percent)?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.set_release_rollout(&who.ctx(&store), *path, percent)).await?))
}

/// Delete a draft with its artifacts (files no other artifact uses are removed).
#[utoipa::path(operation_id = "delete_release", tag = "releases", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), WriteProblems), security(("api_key" = [])))]
#[delete("/releases/{id}")]
async fn delete_release(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    who.staff(&[Role::Admin])?;
    let store = state.store.clone();
    let unused = run(move || store.delete_release(&who.ctx(&store), *path)).await?;
    state.delivery()?.forget(&state.store, unused).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Upload an artifact (the body is the file, any size up to the configured limit, 4 GiB by
/// default) to a draft: streamed to the storage, hashed while it streams, and refused with
/// nothing stored when `sha256` is given and differs. One per OS and architecture.
#[utoipa::path(operation_id = "create_artifact", tag = "releases", params(("id" = Uuid, Path), ArtifactQuery),
    request_body(content = FileBody, content_type = "application/octet-stream"),
    responses((status = 201, description = "The stored artifact", body = ArtifactView), WriteProblems), security(("api_key" = [])))]
#[post("/releases/{id}/artifacts")]
async fn create_artifact(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    query: web::Query<ArtifactQuery>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    who.staff(&[Role::Admin])?;
    let spec = query.parse()?;
    let delivery = state.delivery()?;
    let limit = delivery.max_upload_bytes;
    let announced =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit) {
        return Err(CoreError::new(ErrorCode::PayloadTooLarge).with("limit", limit).into());
    }
    let (store, id) = (state.store.clone(), *path);
    run(move || store.editable_release(id)).await?;
    let received = delivery.storage.receive(body, limit, spec.sha256).await.map_err(upload_error)?;
    let store = state.store.clone();
    let recorded =
        run(move || store.add_artifact(&who.ctx(&store), id, &spec, received.digest, received.size)).await;
    match recorded {
        Ok(view) => Ok(HttpResponse::Created().json(view)),
        Err(e) => {
            delivery.forget(&state.store, vec![received.digest]).await;
            Err(e)
        }
    }
}

fn upload_error(e: UploadError) -> ApiError {
    match e {
        UploadError::TooLarge { limit } => {
            CoreError::new(ErrorCode::PayloadTooLarge).with("limit", limit).into()
        }
        UploadError::HashMismatch { expected, actual } => {
            CoreError::new(ErrorCode::HashMismatch).with("expected", expected).with("actual", actual).into()
        }
        UploadError::Body(reason) => {
            CoreError::new(ErrorCode::MalformedRequest).with("reason", reason).into()
        }
        UploadError::Storage(e) => {
            tracing::error!(error = %e, "artifact storage failed");
            ApiError::new(ErrorCode::Unavailable)
        }
    }
}

/// Delete an artifact of a draft.
#[utoipa::path(operation_id = "delete_artifact", tag = "releases", params(("id" = Uuid, Path), ("artifact_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), WriteProblems), security(("api_key" = [])))]
#[delete("/releases/{id}/artifacts/{artifact_id}")]
async fn delete_artifact(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    who.staff(&[Role::Admin])?;
    let (release, artifact) = path.into_inner();
    let store = state.store.clone();
    let unused = run(move || store.delete_artifact(&who.ctx(&store), release, artifact)).await?;
    state.delivery()?.forget(&state.store, unused).await;
    Ok(HttpResponse::NoContent().finish())
}

/// What the customer may download: per owned product, the releases their licenses entitle
/// them to (newest first), each file with a link that works for 10 minutes without a login.
#[utoipa::path(operation_id = "list_my_downloads", tag = "customer", params(DownloadsQuery),
    responses((status = 200, description = "The downloads", body = DownloadsView), ReadProblems), security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = [])))]
#[get("/me/downloads")]
async fn list_my_downloads(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<DownloadsQuery>,
) -> Result<web::Json<DownloadsView>, ApiError> {
    let scope = who.customer_scope()?;
    let os = query.os.as_deref().map(Os::parse).transpose()?;
    let limit = match query.limit {
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(_) => return Err(CoreError::invalid("limit", "must be between 1 and 100").into()),
        None => 20,
    };
    let links = state.delivery()?.links(&req);
    let (store, product) = (state.store.clone(), query.product.clone());
    Ok(web::Json(
        run(move || store.list_downloads(scope, product.as_deref(), os, limit, &links, store.now())).await?,
    ))
}

/// Which updates there are for the customer's products on an OS and architecture: per
/// owned product, the newest release offered (on the channel, within its staged rollout),
/// whether the installed version is behind, and a newer release that needs an upgrade or a
/// renewal. The offered file has a link and a signed manifest (its SHA-256 and size).
#[utoipa::path(operation_id = "get_my_updates", tag = "customer", params(UpdateQuery),
    responses((status = 200, description = "The update answer", body = UpdatesView), ReadProblems), security(("customer_token" = []), ("api_key" = [], "portal_for_customer" = [])))]
#[get("/me/updates")]
async fn get_my_updates(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<UpdateQuery>,
) -> Result<web::Json<UpdatesView>, ApiError> {
    let scope = who.customer_scope()?;
    let question = query.parse()?;
    let links = state.delivery()?.links(&req);
    let (store, lang) = (state.store.clone(), lang_of(req.headers()));
    Ok(web::Json(run(move || store.updates(scope, &question, &links, lang, store.now())).await?))
}

/// The ISV's software asks for updates: a statement signed by the machine key of an active
/// activation (`keyport-client update-check` writes it) naming the installed version, OS and
/// architecture. No login; the answer is that of `/me/updates` for the activation's license,
/// with a link bound to this activation. A clock skew of 5 minutes is tolerated.
#[utoipa::path(operation_id = "create_update_check", tag = "field", security(), request_body = SignedReportRequest,
    responses((status = 200, description = "The update answer for the machine's product", body = UpdatesView), WriteProblems))]
#[post("/update-checks")]
async fn create_update_check(
    state: web::Data<RestState>,
    req: HttpRequest,
    body: Json<SignedReportRequest>,
) -> Result<web::Json<UpdatesView>, ApiError> {
    let links = state.delivery()?.links(&req);
    let (store, lang) = (state.store.clone(), lang_of(req.headers()));
    Ok(web::Json(run(move || store.machine_update_check(&body.proof, &links, lang, store.now())).await?))
}

/// A download link's query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DownloadLinkQuery {
    /// The signed token from the link.
    pub token: String,
}

/// Follow a download link (no login: the token is the permission, for 10 minutes, for one
/// customer or machine and one file). Answers the file with `Content-Length`, `ETag` (its
/// SHA-256) and `Content-Disposition`; `Range` (one range) resumes a broken download (206).
#[utoipa::path(operation_id = "get_download", tag = "downloads", security(),
    params(("artifact_id" = Uuid, Path), ("file_name" = String, Path), DownloadLinkQuery),
    responses((status = 200, description = "The file", body = FileBody, content_type = "application/octet-stream"),
        (status = 206, description = "The requested range of the file", body = FileBody, content_type = "application/octet-stream"),
        (status = 304, description = "Not modified (If-None-Match names its ETag)"),
        DownloadProblems))]
#[get("/downloads/{artifact_id}/{file_name}")]
async fn get_download(
    state: web::Data<RestState>,
    req: HttpRequest,
    path: web::Path<(Uuid, String)>,
    query: web::Query<DownloadLinkQuery>,
) -> Result<HttpResponse, ApiError> {
    let (artifact, _) = path.into_inner();
    let delivery = state.delivery()?;
    let store = state.store.clone();
    let token = query.into_inner().token;
    let grant = run(move || store.open_download(artifact, &token, store.now())).await?;
    let running = delivery.start(grant.downloader)?;
    let etag = format!("\"{}\"", grant.digest.to_hex());
    let header_text = |name| req.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    if header_text(header::IF_NONE_MATCH)
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish());
    }
    // A Range applies only while the file is the one If-Range names.
    let range_header =
        header_text(header::RANGE).filter(|_| header_text(header::IF_RANGE).is_none_or(|v| v == etag));
    let range = match byte_range(range_header, grant.size) {
        ByteRange::Whole => None,
        ByteRange::Part(start, end) => Some((start, end)),
        ByteRange::Unsatisfiable => {
            let error = CoreError::new(ErrorCode::RangeNotSatisfiable).with("size", grant.size);
            let mut response = crate::problem::problem_response(&error, lang_of(req.headers()));
            let range = HeaderValue::from_str(&format!("bytes */{}", grant.size))
                .map_err(|e| ApiError::internal(&e))?;
            response.headers_mut().insert(header::CONTENT_RANGE, range);
            return Ok(response);
        }
    };
    let (start, end) = range.unwrap_or((0, grant.size));
    let stream = delivery.storage.read(grant.digest, start..end).await.map_err(|e| {
        tracing::error!(error = %e, artifact = %grant.artifact_id, "reading an artifact failed");
        ApiError::new(ErrorCode::Unavailable)
    })?;
    let body = delivery.recorded(stream, (state.store.clone(), grant.clone()), end == grant.size, running);
    let mut response = match range {
        Some(_) => HttpResponse::PartialContent(),
        None => HttpResponse::Ok(),
    };
    if range.is_some() {
        response.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{}", end.saturating_sub(1), grant.size),
        ));
    }
    Ok(response
        .insert_header((header::CONTENT_TYPE, grant.media_type.clone()))
        .insert_header((header::ETAG, etag))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CONTENT_DISPOSITION, content_disposition(&grant.file_name)))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .no_chunking(end - start)
        .streaming(body))
}
