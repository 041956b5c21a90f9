//! Input that cannot reach the database unchecked, whatever the handler does with it.
//!
//! - [`Json`] replaces `web::Json` for every body: every string of the document (values and
//!   keys, at any depth) passes [`keyport_core::check_text`] (no NUL, at most
//!   [`keyport_core::text::MAX_TEXT`] characters) before it is turned into the handler's type;
//!   the answer is `invalid_input` naming the field (`lines[0].sku`).
//! - [`refuse_unusable_path`] answers `not_found` for a path with a segment that holds a
//!   control character (`%00`, ...) or is longer than [`MAX_SEGMENT`] bytes: no resource has
//!   such a name, so it is refused before routing, on every route, alike on both backends.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, web};
use keyport_core::{CoreError, Lang, check_text};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::problem::{ApiError, problem_response};

/// The longest path segment accepted, in bytes after percent-decoding (no id, code or
/// number Keyport names is near it).
pub const MAX_SEGMENT: usize = 1024;

/// A JSON body of `T`. Read like `web::Json` (the same size limit and problem answers,
/// from [`crate::problem::json_config`]), then checked string by string. It keeps the name
/// `Json` so that utoipa still infers the request body from a handler's signature.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Json<T>, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let document = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let mut document = document.await?.into_inner();
            check_strings(&document, &mut String::new()).map_err(ApiError::from)?;
            whole_numbers_as_integers(&mut document);
            let body = serde_json::from_value(document)
                .map_err(|e| ApiError::from(CoreError::invalid("body", e.to_string())))?;
            Ok(Json(body))
        })
    }
}

/// Checks every string under `value`; `path` is where `value` is (`""` for the document).
fn check_strings(value: &Value, path: &mut String) -> Result<(), CoreError> {
    match value {
        Value::String(text) => check_text(field(path), text),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                check_strings(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(members) => {
            for (key, member) in members {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                // A key is named as far as it is printable; the check below refuses the rest.
                path.extend(key.chars().filter(|c| !c.is_control()).take(64));
                check_text(field(path), key)?;
                check_strings(member, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// JSON Schema counts `5.0` as an integer, and so does the contract: a number without a
/// fraction becomes an integer before the handler's type reads it.
fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                // A whole number below 2^53 converts exactly.
                let whole = f as i64;
                *value = Value::from(whole);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(members) => members.values_mut().for_each(whole_numbers_as_integers),
        Value::Number(_) | Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

fn field(path: &str) -> &str {
    if path.is_empty() { "body" } else { path }
}

/// Middleware: a path no resource can have answers `not_found` before any route sees it.
pub async fn refuse_unusable_path(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.path().split('/').all(usable_segment) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let error = CoreError::not_found("resource");
    Ok(req.into_response(problem_response(&error, Lang::En)))
}

/// A raw (percent-encoded) segment that decodes to no control character and at most
/// [`MAX_SEGMENT`] bytes.
fn usable_segment(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    let (mut at, mut decoded) = (0, 0usize);
    while at < bytes.len() {
        let escaped = match bytes.get(at..at + 3) {
            Some([b'%', high, low]) => hex(*high).zip(hex(*low)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        let byte = match escaped {
            Some(byte) => {
                at += 3;
                byte
            }
            None => {
                at += 1;
                bytes[at - 1]
            }
        };
        if byte < 0x20 || byte == 0x7f {
            return false;
        }
        decoded += 1;
    }
    decoded <= MAX_SEGMENT
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_anywhere_in_a_document_is_refused_naming_its_field() {
        let doc = serde_json::json!({"lines": [{"sku": "A"}, {"sku": "B\u{0}"}]});
        let err = check_strings(&doc, &mut String::new()).err();
        assert_eq!(err.map(|e| e.facts()["field"].clone()).as_deref(), Some("lines[1].sku"));
        let key = serde_json::json!({"a\u{0}b": 1});
        assert!(check_strings(&key, &mut String::new()).is_err());
        assert!(check_strings(&serde_json::json!({"email": "a@example.com"}), &mut String::new()).is_ok());
    }

    #[test]
    fn control_characters_and_huge_segments_name_nothing() {
        assert!(usable_segment("CAD-PRO%2D5"));
        assert!(usable_segment("M%C3%BCller"));
        assert!(!usable_segment("a%00b"));
        assert!(!usable_segment("a%0Ab"));
        assert!(usable_segment("100%"), "a lone % is no escape");
        assert!(!usable_segment(&"x".repeat(MAX_SEGMENT + 1)));
    }
}
