//! Lists answered as JSON arrays (as in 1.0) page with `after` and `limit`: the address of
//! the next page is in the `Link` header (RFC 8288, `rel="next"`) and its cursor in
//! `X-Next-Cursor`; the last page has neither. Without `limit` such a list answers up to
//! 500 rows, so a client of 1.0 sees what it saw unless a list grew past that.

use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyport_core::CoreError;
use keyport_store::{Page, Paging};
use serde::Serialize;

use crate::ApiError;

/// The page size of an array list without `limit`.
pub const ARRAY_DEFAULT: u32 = 500;

/// The header with the next page's cursor.
pub const NEXT_CURSOR: &str = "X-Next-Cursor";

/// Reads the page of an array list. Its cursors are opaque (base64url of a row's key), so
/// they fit in a header and a URL whatever the key holds.
pub fn array_paging(after: Option<&str>, limit: Option<u32>) -> Result<Paging, ApiError> {
    let key = match after.map(str::trim).filter(|a| !a.is_empty()) {
        None => None,
        Some(cursor) => Some(
            URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| CoreError::invalid("after", "is not a cursor from this list"))?,
        ),
    };
    Ok(Paging::new(key.as_deref(), limit, ARRAY_DEFAULT)?)
}

/// The page as a JSON array, with `Link` and `X-Next-Cursor` when another page follows.
pub fn array_page<T: Serialize>(req: &HttpRequest, page: Page<T>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if let Some(next) = page.next_cursor.as_deref().map(|key| URL_SAFE_NO_PAD.encode(key)) {
        let kept = url::form_urlencoded::parse(req.query_string().as_bytes()).filter(|(k, _)| k != "after");
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .append_pair("after", &next)
            .finish();
        response.insert_header(("Link", format!("<{}?{query}>; rel=\"next\"", req.path())));
        response.insert_header((NEXT_CURSOR, next.as_str()));
    }
    response.json(page.items)
}
