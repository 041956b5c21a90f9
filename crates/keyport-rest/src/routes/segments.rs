//! Newsletter segments for staff: define them by a targeting rule (`/segments`), read their
//! consenting members a page at a time (`/segments/{id}/members`, JSON or CSV) or export
//! them all in one streamed answer (`/segments/{id}/export`).

use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use bytes::Bytes;
use futures_util::StreamExt;
use keyport_api::{SegmentExportQuery, SegmentMember, SegmentMemberPage, SegmentRequest, SegmentView};
use keyport_core::targeting::Rule;
use keyport_core::{CoreError, Role};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::auth::{Principal, RestState};
use crate::input::Json;
use crate::problem::{ReadProblems, WriteProblems};
use crate::reports::csv_field;
use crate::{ApiError, run};

const ADMIN: &[Role] = &[Role::Admin];
const READERS: &[Role] = &[Role::Admin, Role::Support];

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_segment)
        .service(list_segments)
        .service(get_segment)
        .service(update_segment)
        .service(delete_segment)
        .service(list_segment_members)
        .service(get_segment_export);
}

/// Define a newsletter segment: a name and a targeting rule (as for offers).
#[utoipa::path(operation_id = "create_segment", tag = "segments", request_body = SegmentRequest,
    responses((status = 201, description = "The segment", body = SegmentView), WriteProblems),
    security(("api_key" = [])))]
#[post("/segments")]
async fn create_segment(
    state: web::Data<RestState>,
    who: Principal,
    body: Json<SegmentRequest>,
) -> Result<HttpResponse, ApiError> {
    who.staff(ADMIN)?;
    let (name, rule) = body.parse()?;
    let store = state.store.clone();
    let segment = run(move || store.create_segment(&who.ctx(&store), &name, &rule)).await?;
    Ok(HttpResponse::Created().json(segment))
}

/// The segments, by name (at most 200).
#[utoipa::path(operation_id = "list_segments", tag = "segments",
    responses((status = 200, description = "The segments", body = Vec<SegmentView>), ReadProblems),
    security(("api_key" = [])))]
#[get("/segments")]
async fn list_segments(
    state: web::Data<RestState>,
    who: Principal,
) -> Result<web::Json<Vec<SegmentView>>, ApiError> {
    who.staff(READERS)?;
    let store = state.store.clone();
    Ok(web::Json(run(move || store.list_segments()).await?))
}

/// One segment.
#[utoipa::path(operation_id = "get_segment", tag = "segments", params(("segment_id" = Uuid, Path)),
    responses((status = 200, description = "The segment", body = SegmentView), ReadProblems),
    security(("api_key" = [])))]
#[get("/segments/{segment_id}")]
async fn get_segment(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<web::Json<SegmentView>, ApiError> {
    who.staff(READERS)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.get_segment(id)).await?))
}

/// Change a segment: the body is what it becomes.
#[utoipa::path(operation_id = "update_segment", tag = "segments", params(("segment_id" = Uuid, Path)),
    request_body = SegmentRequest,
    responses((status = 200, description = "The changed segment", body = SegmentView), WriteProblems),
    security(("api_key" = [])))]
#[put("/segments/{segment_id}")]
async fn update_segment(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
    body: Json<SegmentRequest>,
) -> Result<web::Json<SegmentView>, ApiError> {
    who.staff(ADMIN)?;
    let (name, rule) = body.parse()?;
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(web::Json(run(move || store.replace_segment(&who.ctx(&store), id, &name, &rule)).await?))
}

/// Delete a segment.
#[utoipa::path(operation_id = "delete_segment", tag = "segments", params(("segment_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), WriteProblems),
    security(("api_key" = [])))]
#[delete("/segments/{segment_id}")]
async fn delete_segment(
    state: web::Data<RestState>,
    who: Principal,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    who.staff(ADMIN)?;
    let (store, id) = (state.store.clone(), path.into_inner());
    run(move || store.delete_segment(&who.ctx(&store), id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Whether CSV was asked for (`format`, else `Accept: text/csv`); JSON otherwise.
fn wants_csv(req: &HttpRequest, format: Option<&str>) -> Result<bool, ApiError> {
    match format.map(|f| f.trim().to_ascii_lowercase()) {
        Some(f) if f == "csv" => Ok(true),
        Some(f) if f == "json" => Ok(false),
        Some(_) => Err(CoreError::invalid("format", "must be json or csv").into()),
        None => Ok(req
            .headers()
            .get("Accept")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"))),
    }
}

/// The CSV header line.
const CSV_HEADER: &str = "customer_id,email,name,language,customer_number,products,unsubscribe_url\r\n";

/// One member as a CSV line (products separated by spaces).
fn csv_line(m: &SegmentMember) -> String {
    let fields = [
        m.customer_id.to_string(),
        csv_field(&m.email),
        csv_field(&m.name),
        m.language.clone(),
        csv_field(m.customer_number.as_deref().unwrap_or_default()),
        csv_field(&m.products.join(" ")),
        csv_field(&m.unsubscribe_url),
    ];
    format!("{}\r\n", fields.join(","))
}

/// A page of a segment's members: only customers who confirmed marketing consent, by id.
/// JSON (`SegmentMemberPage`) or CSV (with the next page's cursor in `X-Next-Cursor`).
#[utoipa::path(operation_id = "list_segment_members", tag = "segments",
    params(("segment_id" = Uuid, Path), SegmentExportQuery),
    responses((status = 200, description = "A page of members", content(
        (SegmentMemberPage = "application/json"), (String = "text/csv"))), ReadProblems),
    security(("api_key" = [])))]
#[get("/segments/{segment_id}/members")]
async fn list_segment_members(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    path: web::Path<Uuid>,
    query: web::Query<SegmentExportQuery>,
) -> Result<HttpResponse, ApiError> {
    who.staff(ADMIN)?;
    let q = query.into_inner();
    let csv = wants_csv(&req, q.format.as_deref())?;
    let (store, links, id) = (state.store.clone(), state.identity.links.clone(), path.into_inner());
    let page =
        run(move || store.segment_members(id, store.now(), q.after.as_deref(), q.limit, &links)).await?;
    let mut answer = HttpResponse::Ok();
    answer.insert_header(("Cache-Control", "private, no-store"));
    if !csv {
        return Ok(answer.json(page));
    }
    if let Some(next) = &page.next_cursor {
        answer.insert_header(("X-Next-Cursor", next.as_str()));
    }
    let body: String =
        std::iter::once(CSV_HEADER.to_owned()).chain(page.items.iter().map(csv_line)).collect();
    Ok(answer.content_type("text/csv; charset=utf-8").body(body))
}

/// Where a streamed export stands: the rule and the time it was asked at (the same for
/// every page), the cursor, and the page read before the answer began.
struct Export {
    state: web::Data<RestState>,
    rule: std::sync::Arc<Rule>,
    now: chrono::DateTime<chrono::Utc>,
    csv: bool,
    next: Option<SegmentMemberPage>,
    wrote: bool,
    done: bool,
}

impl Export {
    /// A page of members after `after`.
    async fn page(&self, after: Option<String>) -> Result<SegmentMemberPage, ApiError> {
        let (store, links, rule, now) =
            (self.state.store.clone(), self.state.identity.links.clone(), self.rule.clone(), self.now);
        run(move || store.members_of(&rule, now, after.as_deref(), None, &links)).await
    }

    /// The text of a page: its members, and the closing after the last.
    fn text(&mut self, page: &SegmentMemberPage) -> String {
        let mut chunk = String::new();
        for member in &page.items {
            if self.csv {
                chunk.push_str(&csv_line(member));
            } else {
                if self.wrote {
                    chunk.push(',');
                }
                chunk.push_str(&serde_json::to_string(member).unwrap_or_default());
            }
            self.wrote = true;
        }
        if page.next_cursor.is_none() && !self.csv {
            chunk.push(']');
        }
        chunk
    }

    /// The next chunk; `None` at the end.
    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Export)> {
        if self.done {
            return None;
        }
        let page = self.next.take()?;
        let chunk = self.text(&page);
        match page.next_cursor {
            None => self.done = true,
            Some(after) => match self.page(Some(after)).await {
                Ok(next) => self.next = Some(next),
                Err(e) => {
                    // The status line is out already: the client sees the answer cut short
                    // (a CSV then lacks its last line break, a JSON array its closing bracket).
                    tracing::error!(error = ?e, "a segment export stopped");
                    self.done = true;
                    return Some((Err(std::io::Error::other("the segment export stopped")), self));
                }
            },
        }
        Some((Ok(Bytes::from(chunk)), self))
    }
}

/// Export every member of a segment in one streamed answer (JSON array or CSV), read from
/// the database a page of 1,000 at a time (the server holds two pages whatever the size),
/// with the segment's rule and the time as they were when the export began. Only customers
/// who confirmed marketing consent; each with the one-click unsubscribe URL for the
/// newsletter's `List-Unsubscribe` header. A failure after the first page cuts the answer
/// short.
#[utoipa::path(operation_id = "get_segment_export", tag = "segments",
    params(("segment_id" = Uuid, Path), ("format" = Option<String>, Query, description = "`json` (default) or `csv`")),
    responses((status = 200, description = "Every member", content(
        (Vec<SegmentMember> = "application/json"), (String = "text/csv"))), ReadProblems),
    security(("api_key" = [])))]
#[get("/segments/{segment_id}/export")]
async fn get_segment_export(
    state: web::Data<RestState>,
    who: Principal,
    req: HttpRequest,
    path: web::Path<Uuid>,
    query: web::Query<ExportFormat>,
) -> Result<HttpResponse, ApiError> {
    who.staff(ADMIN)?;
    let csv = wants_csv(&req, query.format.as_deref())?;
    let id = path.into_inner();
    let store = state.store.clone();
    let rule = std::sync::Arc::new(run(move || store.segment_rule(id)).await?);
    let mut export =
        Export { now: state.store.now(), state, rule, csv, next: None, wrote: false, done: false };
    // The first page before the answer begins: a failure now is a problem, not a cut.
    export.next = Some(export.page(None).await?);
    let opening = Bytes::from_static(if csv { CSV_HEADER.as_bytes() } else { b"[" });
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(opening) })
        .chain(futures_util::stream::unfold(export, Export::next));
    let (content_type, extension) =
        if csv { ("text/csv; charset=utf-8", "csv") } else { ("application/json", "json") };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "private, no-store"))
        .insert_header(("Content-Disposition", format!("attachment; filename=\"segment-{id}.{extension}\"")))
        .streaming(stream))
}

/// The export's form.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportFormat {
    format: Option<String>,
}
