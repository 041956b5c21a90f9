//! What the use cases return and the REST API answers: plain values, rendered as JSON by
//! REST (and as XML by SOAP's own types), read back by `keyport-client`.

use chrono::{DateTime, Utc};
use keyport_core::{ActivationState, LicenseState, Role};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductView {
    /// Its id.
    pub id: Uuid,
    /// Its unique code.
    pub code: String,
    /// Its display name.
    pub name: String,
    /// When it was defined.
    pub created_at: DateTime<Utc>,
}

/// A rule set with all its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleSetView {
    /// Its id.
    pub id: Uuid,
    /// Its unique name.
    pub name: String,
    /// Machines a license may be active on at once.
    pub seats: u32,
    /// Whether a machine may give its seat back.
    pub deactivation_allowed: bool,
    /// Whether offline activation is allowed.
    pub offline_allowed: bool,
    /// Re-activation credits a new license starts with.
    pub initial_credits: u32,
    /// Days after any activation during which no recovery is possible.
    pub blocking_days: u32,
    /// Credits added per replenishment period.
    pub replenish_credits: u32,
    /// The replenishment period in days.
    pub replenish_every_days: u32,
    /// The most credits replenishment gives.
    pub credit_cap: u32,
    /// Length of an emergency license, in days.
    pub emergency_days: u32,
    /// Emergency licenses allowed per year.
    pub emergency_per_year: u32,
    /// Days between check-ins, if required.
    pub checkin_interval_days: Option<u32>,
    /// Days of grace after a missed check-in.
    pub checkin_grace_days: u32,
    /// When it was defined.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// An item (orderable article).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemView {
    /// Its id.
    pub id: Uuid,
    /// Its article number.
    pub sku: String,
    /// The product's code.
    pub product_code: String,
    /// Its display name.
    pub name: String,
    /// `perpetual`, `subscription` or `demo`.
    pub license_model: String,
    /// The term in days for subscriptions and demos.
    pub duration_days: Option<u32>,
    /// The features it unlocks.
    pub features: Vec<String>,
    /// The lowest entitled major version.
    pub version_min: u32,
    /// The highest entitled major version, if bounded.
    pub version_max: Option<u32>,
    /// The rule set's name.
    pub rule_set: String,
    /// Whether customers and the software may request it themselves (demo items).
    pub self_service: bool,
    /// The items (SKUs) whose licenses an order line of this item upgrades.
    pub upgrade_from: Vec<String>,
    /// When it was defined.
    pub created_at: DateTime<Utc>,
}

/// A customer account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerView {
    /// Its id.
    pub id: Uuid,
    /// The e-mail address (lower case).
    pub email: String,
    /// The display name.
    pub name: String,
    /// The shop's customer number, if any.
    pub customer_number: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// An order with its lines and ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderView {
    /// Its id.
    pub id: Uuid,
    /// The shop.
    pub shop: String,
    /// The shop's order number.
    pub external_number: String,
    /// The ticket code, grouped.
    pub ticket_code: String,
    /// The customer, if known.
    pub customer_id: Option<Uuid>,
    /// The lines, by line number.
    pub lines: Vec<OrderLineView>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was cancelled, if it was; a cancelled order is final.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Why it was cancelled, if it was.
    pub cancel_reason: Option<String>,
}

/// One order line and the licenses it created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderLineView {
    /// The shop's line number.
    pub line_number: u32,
    /// The item's article number.
    pub sku: String,
    /// How many licenses.
    pub quantity: u32,
    /// The licenses of this line (on an upgrade line, the license it upgraded).
    pub license_ids: Vec<Uuid>,
    /// On an upgrade line: the license it upgraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_license_id: Option<Uuid>,
}

/// What creating or sending an order again did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderOutcome {
    /// The order as it is now.
    pub order: OrderView,
    /// Whether this call created the order.
    pub created: bool,
    /// Line numbers this call added (all of them for a new order, none for a retry).
    pub added_lines: Vec<u32>,
}

/// A ticket and its licenses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketView {
    /// The code, grouped.
    pub code: String,
    /// The customer it is registered to, if any.
    pub customer_id: Option<Uuid>,
    /// When it was registered.
    pub registered_at: Option<DateTime<Utc>>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// Its licenses.
    pub licenses: Vec<LicenseView>,
    /// What registering it earned the customer it is registered to (bonus program rewards);
    /// answered by registration, absent elsewhere and when it earned nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bonus: Vec<crate::BonusEntryView>,
}

/// A license with everything a customer needs to see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LicenseView {
    /// Its id.
    pub id: Uuid,
    /// The ticket code, grouped.
    pub ticket_code: String,
    /// The item's article number.
    pub sku: String,
    /// The item's name.
    pub item_name: String,
    /// The product's code.
    pub product_code: String,
    /// Its state, derived from activations and dates.
    pub state: LicenseState,
    /// Machines it may be active on at once.
    pub seats: u32,
    /// Seats in use now.
    pub seats_in_use: u32,
    /// Re-activation credits that can be spent now.
    pub reactivation_credits: u32,
    /// When the next credit comes, if one will.
    pub next_credit_at: Option<DateTime<Utc>>,
    /// The features it unlocks.
    pub features: Vec<String>,
    /// When it began.
    pub starts_at: DateTime<Utc>,
    /// When it expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked, if it was.
    pub revoke_reason: Option<String>,
    /// Every activation, oldest first.
    pub activations: Vec<ActivationView>,
}

/// An activation of a license on a machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivationView {
    /// Its id.
    pub id: Uuid,
    /// The license.
    pub license_id: Uuid,
    /// The machine.
    pub machine_id: Uuid,
    /// The machine's public key (unpadded base64url).
    pub machine_key: String,
    /// The machine's fingerprint.
    pub fingerprint: String,
    /// Its state now.
    pub state: ActivationState,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// When it ended, if it did.
    pub ended_at: Option<DateTime<Utc>>,
    /// Where this is an emergency license: when it ends by itself. It takes no seat.
    pub emergency_until: Option<DateTime<Utc>>,
}

/// What an activation attempt gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivationOutcome {
    /// The activation (new, or the machine's existing one).
    pub activation: ActivationView,
    /// Whether a seat was taken by this call.
    pub created: bool,
    /// The signed license certificate for the machine (an armored compact JWS).
    pub certificate: String,
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventView {
    /// Its number in the log. Numbers grow, but on PostgreSQL a number can commit after a
    /// larger one: follow the log with `cursor`, not with this.
    pub seq: i64,
    /// Its position in the feed: pass it as `after` to read on from this event. Opaque.
    pub cursor: String,
    /// Its id.
    pub id: Uuid,
    /// What happened.
    pub kind: String,
    /// The kind of thing it happened to.
    pub subject_type: String,
    /// The id of that thing.
    pub subject_id: String,
    /// The license concerned, if any.
    pub license_id: Option<Uuid>,
    /// The customer concerned, if any.
    pub customer_id: Option<Uuid>,
    /// Who did it.
    pub actor: String,
    /// Over which channel.
    pub channel: String,
    /// The facts of the change.
    pub data: serde_json::Value,
    /// When.
    pub at: DateTime<Utc>,
}

/// A page of events and the cursor for the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventPage {
    /// The events, oldest first.
    pub items: Vec<EventView>,
    /// Pass this as `after` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// An API key as stored (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyView {
    /// Its id (recorded as the actor of its changes).
    pub id: Uuid,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just created: the key itself is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    /// The key, to be stored by the caller now: only its hash is kept.
    pub key: String,
    /// What is stored.
    pub record: ApiKeyView,
}

/// An answer that says nothing about whether an account exists.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accepted {
    /// What happens next.
    pub status: String,
}

/// Tokens for a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Use once at `/auth/refresh` for the next tokens; a second use ends the session.
    pub refresh_token: String,
    /// When the refresh token expires.
    pub refresh_expires_at: DateTime<Utc>,
}

/// What a check-in learns about its license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckInOutcome {
    /// Where the license stands on this machine.
    pub validity: keyport_core::checkin::Validity,
    /// The license.
    pub license_id: Uuid,
    /// The machine's activation.
    pub activation_id: Uuid,
    /// When the license (or this emergency license) ends, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// A renewed certificate, when the license runs here and the check-in was live (not
    /// queued); where the rule set asks for check-ins, with a new `checkin_until`.
    pub certificate: Option<String>,
    /// The renewed certificate's check-in lease, if it has one.
    pub checkin_until: Option<DateTime<Utc>>,
}

/// What a usage report did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionOutcome {
    /// Where the license stands on this machine; a session starts only where it is active.
    pub validity: keyport_core::checkin::Validity,
    /// The session.
    pub session_id: Uuid,
    /// Whether the session is open after this report.
    pub open: bool,
}

/// An emergency license that was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmergencyOutcome {
    /// The emergency activation on the new machine.
    pub activation: ActivationView,
    /// Its certificate, which ends with it.
    pub certificate: String,
    /// When it ends.
    pub emergency_until: DateTime<Utc>,
    /// Emergency licenses left in the 365 days up to now.
    pub left_this_year: u32,
}

/// A demo that was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DemoOutcome {
    /// The demo license.
    pub license_id: Uuid,
    /// The product.
    pub product_code: String,
    /// The item.
    pub sku: String,
    /// When the demo ends.
    pub expires_at: Option<DateTime<Utc>>,
    /// The ticket holding it: shown to a logged-in customer or a shop; a demo asked for by
    /// the software has its ticket mailed to the address instead.
    pub ticket_code: Option<String>,
    /// The activation on the machine, with its certificate, when the request named one.
    pub activation: Option<ActivationOutcome>,
}
