//! The resource an event is about, as the REST API shows it to staff: what a webhook
//! delivery carries beside the event.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

use crate::StoreResult;
use crate::db::DbConn;
use crate::rows::{ApiKeyRow, CustomerRow, ItemRow, OrderRow, ProductRow, RuleSetRow, TicketRow};
use crate::schema::{api_keys, customers, items, orders, products, rule_sets, tickets};

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
