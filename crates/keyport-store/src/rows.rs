//! Diesel row types: `<Entity>Row` for reading, `New<Entity>` for inserting. They stay in the
//! store; views and core types are built from them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::*;

/// A product row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = products)]
pub(crate) struct ProductRow {
    pub id: String,
    pub code: String,
    pub name: String,
    pub created_at: NaiveDateTime,
}

/// A rule set row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = rule_sets)]
pub(crate) struct RuleSetRow {
    pub id: String,
    pub name: String,
    pub seats: i32,
    pub deactivation_allowed: bool,
    pub offline_allowed: bool,
    pub initial_credits: i32,
    pub blocking_days: i32,
    pub replenish_credits: i32,
    pub replenish_every_days: i32,
    pub credit_cap: i32,
    pub emergency_days: i32,
    pub emergency_per_year: i32,
    #[diesel(treat_none_as_null = true)]
    pub checkin_interval_days: Option<i32>,
    pub checkin_grace_days: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// An item row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = items)]
pub(crate) struct ItemRow {
    pub id: String,
    pub sku: String,
    pub product_id: String,
    pub rule_set_id: String,
    pub name: String,
    pub license_model: String,
    pub duration_days: Option<i32>,
    pub features: String,
    pub version_min: i32,
    pub version_max: Option<i32>,
    pub created_at: NaiveDateTime,
    pub self_service: bool,
    pub upgrade_from: String,
}

/// A customer row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = customers)]
pub(crate) struct CustomerRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub customer_number: Option<String>,
    pub created_at: NaiveDateTime,
    /// The name in lower case as Rust folds it (Unicode), for search on both backends.
    pub name_folded: Option<String>,
}

/// A ticket row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tickets)]
pub(crate) struct TicketRow {
    pub id: String,
    pub code: String,
    pub customer_id: Option<String>,
    pub registered_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// An order row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = orders)]
pub(crate) struct OrderRow {
    pub id: String,
    pub shop: String,
    pub external_number: String,
    pub ticket_id: String,
    pub customer_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub cancelled_at: Option<NaiveDateTime>,
    pub cancel_reason: Option<String>,
}

/// An order line row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_lines)]
pub(crate) struct OrderLineRow {
    pub id: String,
    pub order_id: String,
    pub line_number: i32,
    pub item_id: String,
    pub quantity: i32,
    pub created_at: NaiveDateTime,
    pub upgraded_license_id: Option<String>,
    pub upgraded_from_item_id: Option<String>,
    pub upgraded_from_expires_at: Option<NaiveDateTime>,
}

/// A license row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = licenses)]
pub(crate) struct LicenseRow {
    pub id: String,
    pub starts_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoke_reason: Option<String>,
}

/// A new license.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = licenses)]
pub(crate) struct NewLicense<'a> {
    pub id: String,
    pub ticket_id: &'a str,
    pub order_line_id: &'a str,
    pub item_id: &'a str,
    pub starts_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// A machine row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = machines)]
pub(crate) struct MachineRow {
    pub id: String,
    pub public_key: String,
    pub fingerprint: String,
    pub created_at: NaiveDateTime,
}

/// An activation row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = activations)]
pub(crate) struct ActivationRow {
    pub id: String,
    pub license_id: String,
    pub machine_id: String,
    pub state: String,
    pub started_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    pub fingerprint: Option<String>,
    pub rebound_at: Option<NaiveDateTime>,
    pub previous_machine_id: Option<String>,
    pub emergency_until: Option<NaiveDateTime>,
    pub converted_at: Option<NaiveDateTime>,
    pub stands_for: Option<String>,
    /// The signing time of the newest check-in taken (milliseconds since 1970).
    pub last_proof_ms: Option<i64>,
}

/// A credit grant row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = credit_grants)]
pub(crate) struct CreditGrantRow {
    pub id: String,
    pub license_id: String,
    pub amount: i32,
    pub reason: String,
    pub granted_at: NaiveDateTime,
}

/// An API key row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub(crate) struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub key_hash: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub expires_at: Option<NaiveDateTime>,
}

/// An event row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub(crate) struct EventRow {
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub subject_type: String,
    pub subject_id: String,
    pub license_id: Option<String>,
    pub customer_id: Option<String>,
    pub actor: String,
    pub channel: String,
    pub data: String,
    pub at: NaiveDateTime,
    pub feed_pos: Option<i64>,
}

/// A new event.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events)]
pub(crate) struct NewEvent {
    pub id: String,
    pub kind: String,
    pub subject_type: String,
    pub subject_id: String,
    pub license_id: Option<String>,
    pub customer_id: Option<String>,
    pub actor: String,
    pub channel: String,
    pub data: String,
    pub at: NaiveDateTime,
}

/// A stored ticket code in its grouped form.
pub(crate) fn display_code(stored: &str) -> crate::StoreResult<String> {
    Ok(crate::error::stored("ticket code", keyport_core::TicketCode::parse(stored))?.to_string())
}

/// A stored count or number that must not be negative; a negative one is corrupt data,
/// never a plausible 0.
pub(crate) fn unsigned(what: &str, stored: i32) -> crate::StoreResult<u32> {
    u32::try_from(stored).map_err(|_| crate::StoreError::Corrupt(format!("{what} is {stored}")))
}

/// A webhook endpoint row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::webhook_endpoints)]
pub(crate) struct EndpointRow {
    pub id: String,
    pub url: String,
    pub description: String,
    pub event_kinds: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<NaiveDateTime>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A webhook delivery row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::webhook_deliveries)]
pub(crate) struct DeliveryRow {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_kind: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub claim: Option<String>,
    pub locked_until: Option<NaiveDateTime>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub done_at: Option<NaiveDateTime>,
}

/// A webhook attempt row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::webhook_attempts)]
pub(crate) struct AttemptRow {
    /// With `at`, the key: one delivery's attempts are made one after another.
    pub delivery_id: String,
    pub at: NaiveDateTime,
    pub status: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i32,
}
