//! Moving a whole Keyport database from one backend to the other: an export to a portable
//! file (JSON lines: a header, then one line per row, tables in the order their references
//! need) and an import of that file into an empty database. An ISV that outgrows SQLite moves
//! to PostgreSQL without losing a license, an activation, an event or a signing key, so
//! certificates issued before the move keep verifying.

use std::io::{BufRead, Write};

use diesel::prelude::*;
use serde_json::{Map, Value};

use crate::db::DbConn;
use crate::{Backend, Store, StoreError, StoreResult};

/// Every table, parents before the tables that refer to them.
pub const TABLES: [&str; 39] = [
    "products",
    "rule_sets",
    "items",
    "customers",
    "tickets",
    "orders",
    "order_lines",
    "licenses",
    "machines",
    "activations",
    "credit_grants",
    "api_keys",
    "events",
    "sessions",
    "secrets",
    "idempotency_keys",
    "signing_keys",
    "used_files",
    "one_time_tokens",
    "outbox",
    "rate_counters",
    "demo_claims",
    "usage_sessions",
    "usage_days",
    "usage_session_lengths",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    "releases",
    "artifacts",
    "downloads",
    "offers",
    "offer_views",
    "coupon_pools",
    "rewards",
    "bonus_ledger",
    "coupons",
    "consent_history",
    "segments",
];

/// The format's version, in the header line.
const FORMAT: u64 = 1;

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
}

/// A column's kind, as far as moving values needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Boolean,
    Timestamp,
    Other,
}

fn columns(conn: &mut DbConn, backend: Backend, table: &str) -> StoreResult<Vec<(String, Kind)>> {
    let sql = match backend {
        Backend::Sqlite => {
            format!("SELECT name AS name, type AS kind FROM pragma_table_info('{table}') ORDER BY cid")
        }
        Backend::Postgres => format!(
            "SELECT column_name::text AS name, data_type::text AS kind FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
        ),
    };
    let found: Vec<Column> = diesel::sql_query(sql).load(conn)?;
    Ok(found
        .into_iter()
        .map(|c| {
            let kind = c.kind.to_ascii_lowercase();
            let kind = if kind.starts_with("bool") {
                Kind::Boolean
            } else if kind.starts_with("timestamp") {
                Kind::Timestamp
            } else {
                Kind::Other
            };
            (c.name, kind)
        })
        .collect())
}

/// A row's value as a SQL literal of the target backend.
fn literal(value: &Value, kind: Kind, backend: Backend) -> StoreResult<String> {
    Ok(match (value, kind) {
        (Value::Null, _) => "NULL".to_owned(),
        (Value::Bool(b), _) => bool_literal(*b, backend),
        (Value::Number(n), Kind::Boolean) => bool_literal(n.as_i64() != Some(0), backend),
        (Value::Number(n), Kind::Other | Kind::Timestamp) => n.to_string(),
        (Value::String(s), Kind::Timestamp) => format!("'{}'", s.replacen('T', " ", 1).replace('\'', "''")),
        (Value::String(s), Kind::Boolean | Kind::Other) => format!("'{}'", s.replace('\'', "''")),
        (Value::Array(_) | Value::Object(_), _) => {
            return Err(StoreError::Corrupt(
                "an export holds a nested value where a column value belongs".to_owned(),
            ));
        }
    })
}

fn bool_literal(b: bool, backend: Backend) -> String {
    match (backend, b) {
        (Backend::Sqlite, true) => "1".to_owned(),
        (Backend::Sqlite, false) => "0".to_owned(),
        (Backend::Postgres, true) => "TRUE".to_owned(),
        (Backend::Postgres, false) => "FALSE".to_owned(),
    }
}

impl Store {
    /// Writes every row of every table to `out`, in one consistent read.
    pub fn export(&self, out: &mut impl Write) -> StoreResult<u64> {
        let backend = self.backend;
        let io = |e: std::io::Error| StoreError::Config(format!("cannot write the export: {e}"));
        self.read(|conn| {
            writeln!(out, "{}", serde_json::json!({"keyport_export": FORMAT, "tables": &TABLES[..]}))
                .map_err(io)?;
            let mut rows = 0u64;
            for table in TABLES {
                let cols = columns(conn, backend, table)?;
                let sql = match backend {
                    Backend::Sqlite => {
                        let pairs: Vec<String> =
                            cols.iter().map(|(c, _)| format!("'{c}', \"{c}\"")).collect();
                        format!("SELECT json_object({}) AS value FROM {table}", pairs.join(", "))
                    }
                    Backend::Postgres => format!("SELECT row_to_json(t)::text AS value FROM {table} t"),
                };
                let found: Vec<Text> = diesel::sql_query(sql).load(conn)?;
                for row in found {
                    let row: Value = serde_json::from_str(&row.value)
                        .map_err(|e| StoreError::Corrupt(format!("a row of {table}: {e}")))?;
                    writeln!(out, "{}", serde_json::json!({"table": table, "row": row})).map_err(io)?;
                    rows += 1;
                }
            }
            Ok(rows)
        })
    }

    /// Reads an export into this database, which must be empty, in one transaction.
    pub fn import(&self, input: impl BufRead) -> StoreResult<u64> {
        let backend = self.backend;
        let mut lines = input.lines();
        let bad = |what: String| StoreError::Config(format!("not a Keyport export: {what}"));
        let header: Value = match lines.next() {
            Some(Ok(line)) => serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?,
            _ => return Err(bad("it is empty".to_owned())),
        };
        if header["keyport_export"] != FORMAT {
            return Err(bad(format!("its format is {}", header["keyport_export"])));
        }
        self.write(|conn| {
            for table in TABLES {
                let any: Vec<Text> =
                    diesel::sql_query(format!("SELECT 'x' AS value FROM {table} LIMIT 1")).load(conn)?;
                if !any.is_empty() {
                    return Err(StoreError::Config(format!(
                        "the database is not empty ({table} has rows); import into a new one"
                    )));
                }
            }
            Ok(())
        })?;
        // No fan-out while the rows go in (the endpoints come before the events).
        self.hold_webhooks()?;
        // The rows go in in batches of a transaction each; a failure names the line.
        let mut kinds: std::collections::HashMap<String, Vec<(String, Kind)>> = Default::default();
        let mut imported = 0u64;
        let mut batch: Vec<(String, Map<String, Value>)> = Vec::new();
        let mut number = 1;
        loop {
            let next = lines.next();
            let done = next.is_none();
            if let Some(line) = next {
                number += 1;
                let line = line.map_err(|e| bad(format!("line {number}: {e}")))?;
                let entry: Value =
                    serde_json::from_str(&line).map_err(|e| bad(format!("line {number}: {e}")))?;
                let table = entry["table"].as_str().filter(|t| TABLES.contains(t));
                let (Some(table), Some(row)) = (table, entry["row"].as_object()) else {
                    return Err(bad(format!("line {number} is no row of a known table")));
                };
                batch.push((table.to_owned(), row.clone()));
            }
            if batch.len() >= 500 || (done && !batch.is_empty()) {
                let rows = std::mem::take(&mut batch);
                imported += self.write(|conn| {
                    for (table, row) in &rows {
                        if !kinds.contains_key(table) {
                            kinds.insert(table.clone(), columns(conn, backend, table)?);
                        }
                        let known = &kinds[table];
                        let mut names = Vec::new();
                        let mut values = Vec::new();
                        for (name, value) in row {
                            if table == "events" && name == "feed_pos" {
                                // Feed positions are the importing database's own (its sequencer gives them).
                                continue;
                            }
                            let kind = known
                                .iter()
                                .find(|(c, _)| c == name)
                                .map(|(_, k)| *k)
                                .ok_or_else(|| bad(format!("{table} has no column {name}")))?;
                            names.push(format!("\"{name}\""));
                            values.push(literal(value, kind, backend)?);
                        }
                        diesel::sql_query(format!(
                            "INSERT INTO {table} ({}) VALUES ({})",
                            names.join(", "),
                            values.join(", ")
                        ))
                        .execute(conn)?;
                    }
                    Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
                })?;
            }
            if done {
                break;
            }
        }
        if backend == Backend::Postgres {
            // The event sequence continues after the imported events.
            self.write(|conn| {
                diesel::sql_query(
                    "SELECT setval(pg_get_serial_sequence('events', 'seq'), COALESCE((SELECT MAX(seq) FROM events), 0) + 1, false)",
                )
                .execute(conn)?;
                Ok(())
            })?;
        }
        // Webhooks go on from here: the imported history was delivered (or not) by the
        // database it came from, and is not sent again.
        self.webhooks_from_now()?;
        Ok(imported)
    }
}
