//! The resource an event is about, as the REST API shows it to staff: what a webhook
//! delivery carries beside the event.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

use crate::db::DbConn;
use crate::rows::{ApiKeyRow, CustomerRow, EventRow, ItemRow, OrderRow, ProductRow, RuleSetRow, TicketRow};
use crate::schema::{api_keys, customers, items, orders, products, rule_sets, tickets};
use crate::{StoreResult, utc};
use keyport_core::webhook::Selection;
use serde_json::json;

/// The current view of an event's subject, or `Null` when the subject has no REST view
/// (a signing key) or is gone (a deleted endpoint).
pub(crate) fn resource(
    conn: &mut DbConn,
    subject_type: &str,
    id: &str,
    now: DateTime<Utc>,
) -> StoreResult<Value> {
    let value = match subject_type {
        "license" => match crate::licenses::load_one(conn, id) {
            Ok(loaded) => serde_json::to_value(loaded.view(now)?),
            Err(e) if e.code() == keyport_core::ErrorCode::NotFound => return Ok(Value::Null),
            Err(e) => return Err(e),
        },
        "customer" => {
            let Some(row) =
                customers::table.find(id).select(CustomerRow::as_select()).first(conn).optional()?
            else {
                return Ok(Value::Null);
            };
            serde_json::to_value(crate::customers::customer_view(row)?)
        }
        "order" => {
            let Some(row) = orders::table.find(id).select(OrderRow::as_select()).first(conn).optional()?
            else {
                return Ok(Value::Null);
            };
            serde_json::to_value(crate::orders::order_view(conn, row)?)
        }
        "ticket" => {
            let Some(row) = tickets::table.find(id).select(TicketRow::as_select()).first(conn).optional()?
            else {
                return Ok(Value::Null);
            };
            serde_json::to_value(crate::licenses::ticket_view(conn, row, now)?)
        }
        "product" => {
            let Some(row) =
                products::table.find(id).select(ProductRow::as_select()).first(conn).optional()?
            else {
                return Ok(Value::Null);
            };
            serde_json::to_value(crate::catalog::product_view(row)?)
        }
        "rule_set" => {
            let Some(row) =
                rule_sets::table.find(id).select(RuleSetRow::as_select()).first(conn).optional()?
            else {
                return Ok(Value::Null);
            };
            serde_json::to_value(crate::catalog::rule_set_view(row)?)
        }
        "item" => {
            let found: Option<(ItemRow, String, String)> = items::table
                .inner_join(products::table)
                .inner_join(rule_sets::table)
                .filter(items::id.eq(id))
                .select((ItemRow::as_select(), products::code, rule_sets::name))
                .first(conn)
                .optional()?;
            let Some((row, product, rules)) = found else { return Ok(Value::Null) };
            serde_json::to_value(crate::catalog::item_view(row, &product, &rules)?)
        }
        "api_key" => {
            let Some(row) = api_keys::table.find(id).select(ApiKeyRow::as_select()).first(conn).optional()?
            else {
                return Ok(Value::Null);
            };
            serde_json::to_value(crate::keys::key_view(row)?)
        }
        _ => return Ok(Value::Null),
    };
    Ok(value.unwrap_or(Value::Null))
}

/// The bodies of deliveries of `event_ids`, for the endpoints' selections: one rendering
/// per event, masked per endpoint. An event gone (pruned) renders as `None`.
pub(crate) fn render(
    conn: &mut DbConn,
    wanted: &[(&str, &Selection)],
    now: DateTime<Utc>,
) -> StoreResult<Vec<Option<String>>> {
    let ids: Vec<&str> = wanted.iter().map(|(id, _)| *id).collect();
    let events: std::collections::HashMap<String, EventRow> = crate::schema::events::table
        .filter(crate::schema::events::id.eq_any(&ids))
        .select(EventRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    let mut bodies: std::collections::HashMap<&str, Value> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (id, selection) in wanted {
        let Some(event) = events.get(*id) else {
            out.push(None);
            continue;
        };
        if !bodies.contains_key(id) {
            bodies.insert(id, payload(conn, event, now)?);
        }
        let mut body = bodies[id].clone();
        if !selection.shows_ticket_codes(&event.kind, &event.subject_type) {
            crate::resources::mask_ticket_codes(&mut body, false);
            if event.subject_type == "ticket" {
                crate::resources::mask_ticket_codes(&mut body["data"]["resource"], true);
            }
        }
        out.push(Some(body.to_string()));
    }
    Ok(out)
}

/// The body of a delivery: Standard Webhooks' `type`, `timestamp` and `data`, where `data`
/// holds the event as `/events` shows it and its subject as the REST API shows it when the
/// attempt is made.
fn payload(conn: &mut DbConn, event: &EventRow, now: DateTime<Utc>) -> StoreResult<Value> {
    // A resource that cannot be shown (stored data this release cannot read) is sent as
    // null rather than holding up every delivery behind it; a database error is retried.
    let resource = match crate::resources::resource(conn, &event.subject_type, &event.subject_id, now) {
        Ok(value) => value,
        Err(crate::StoreError::Corrupt(why)) => {
            tracing::warn!(event = %event.id, %why, "webhook payload without its resource");
            Value::Null
        }
        Err(other) => return Err(other),
    };
    let view = crate::events::event_view(event.clone())?;
    Ok(json!({
        "type": event.kind,
        "timestamp": utc(event.at),
        "data": {"event": view, "resource": resource},
    }))
}

/// Masks every ticket code in a payload but its last group (`*****-*****-*****-*****-7KQ2M`):
/// a ticket code is a key to licenses, and a receiver sees one only where it asked for it.
pub(crate) fn mask_ticket_codes(value: &mut Value, ticket_subject: bool) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                let is_code = key == "ticket_code" || (ticket_subject && key == "code");
                match inner {
                    Value::String(text) if is_code => *text = masked(text),
                    _ => mask_ticket_codes(inner, false),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask_ticket_codes(v, false)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

fn masked(code: &str) -> String {
    let tail: String = code.chars().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
    format!("*****-*****-*****-*****-{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ticket_codes_are_masked_wherever_they_are() {
        let mut v = json!({"ticket_code": "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE",
                           "licenses": [{"ticket_code": "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE", "code": "keep"}],
                           "code": "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"});
        mask_ticket_codes(&mut v, true);
        assert_eq!(v["ticket_code"], "*****-*****-*****-*****-EEEEE");
        assert_eq!(v["licenses"][0]["ticket_code"], "*****-*****-*****-*****-EEEEE");
        assert_eq!(v["licenses"][0]["code"], "keep");
        assert_eq!(v["code"], "*****-*****-*****-*****-EEEEE");
        let mut product = json!({"code": "CAD"});
        mask_ticket_codes(&mut product, false);
        assert_eq!(product["code"], "CAD");
    }
}
