//! Webhooks: endpoints, their deliveries and attempts, as the REST API shows and takes them.

use chrono::{DateTime, Utc};
use keyport_core::CoreError;
use keyport_core::webhook::{EndpointChanges, EndpointSpec, EndpointUrl, Selection, description};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A webhook endpoint (never its secret; see the secret's own call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpointView {
    /// Its id.
    pub id: Uuid,
    /// Where deliveries are posted.
    pub url: String,
    /// What it is for, in the admins' words.
    pub description: String,
    /// The event kinds it receives; empty for every kind (also kinds added later).
    pub event_kinds: Vec<String>,
    /// Whether deliveries are sent. Keyport disables an endpoint that failed for a whole
    /// retry window (about a day).
    pub enabled: bool,
    /// Why Keyport disabled it, when it did.
    pub disabled_reason: Option<String>,
    /// Since when its deliveries fail, while they do.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the previous secret signs too, after a rotation.
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new endpoint and its signing secret: shown here and by the secret's own call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedWebhookEndpoint {
    /// The endpoint.
    pub endpoint: WebhookEndpointView,
    /// The signing secret (`whsec_...`), for the receiver's Standard Webhooks library.
    pub secret: String,
}

/// An endpoint's signing secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookSecretView {
    /// The current secret (`whsec_...`).
    pub secret: String,
    /// The previous secret, while it still signs (during a rotation's overlap).
    pub previous_secret: Option<String>,
    /// Until when the previous secret signs.
    pub previous_secret_until: Option<DateTime<Utc>>,
}

/// The endpoints, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpointPage {
    /// The endpoints.
    pub items: Vec<WebhookEndpointView>,
    /// Pass this as `after` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt of its window failed (it can be resent).
    Failed,
}

impl DeliveryState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// Reads a stored name.
    pub fn parse(value: &str) -> Option<DeliveryState> {
        [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Failed]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDeliveryView {
    /// Its id.
    pub id: Uuid,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// The event (also the `webhook-id` header: receivers drop a message they have seen).
    pub event_id: Uuid,
    /// The event's kind.
    pub event_kind: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last attempt, if the receiver answered.
    pub last_status: Option<i32>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was created (shortly after the event committed).
    pub created_at: DateTime<Utc>,
    /// When it was delivered or given up.
    pub done_at: Option<DateTime<Utc>>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookAttemptView {
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i32>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub latency_ms: i32,
}

/// A delivery with its attempts and the body it posts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDeliveryDetail {
    /// The delivery.
    pub delivery: WebhookDeliveryView,
    /// Its attempts, oldest first (the latest 100).
    pub attempts: Vec<WebhookAttemptView>,
    /// The body an attempt posts now: `type`, `timestamp`, and `data` with the event and
    /// the resource as it is now (each attempt renders it anew; the `webhook-id` stays).
    pub payload: serde_json::Value,
}

/// A page of deliveries, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDeliveryPage {
    /// The deliveries.
    pub items: Vec<WebhookDeliveryView>,
    /// Pass this as `after` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A new endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointRequest {
    /// Where deliveries are posted: `http` or `https`, no user name or password.
    #[cfg_attr(feature = "openapi", schema(format = "uri", max_length = 2000))]
    pub url: String,
    /// What it is for.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    #[serde(default)]
    pub description: Option<String>,
    /// The event kinds to receive; absent or empty for every kind.
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    #[serde(default)]
    pub event_kinds: Option<Vec<String>>,
}

/// Changes to an endpoint; absent fields stay.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointChanges {
    /// A new address.
    #[cfg_attr(feature = "openapi", schema(format = "uri", max_length = 2000))]
    pub url: Option<String>,
    /// A new description.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub description: Option<String>,
    /// New event kinds (empty for every kind).
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    pub event_kinds: Option<Vec<String>>,
    /// `true` enables a disabled endpoint (its failures are forgotten); `false` pauses it.
    pub enabled: Option<bool>,
}

/// A secret rotation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecretRotationRequest {
    /// How long the previous secret keeps signing beside the new one, in seconds (60 to
    /// 604800; default 86400): time to give receivers the new secret.
    #[cfg_attr(feature = "openapi", schema(minimum = 60, maximum = 604800))]
    pub overlap_seconds: Option<u32>,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// Only deliveries in this state.
    pub state: Option<DeliveryState>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
    /// At most this many (1 to 500, default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
}

/// A page of a list. (Unknown parameters are ignored, as the lists of 1.0 ignored them.)
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct PageQuery {
    /// The cursor of the previous page: its `next_cursor`, or for lists answered as an
    /// array its `X-Next-Cursor` header.
    pub after: Option<String>,
    /// At most this many (1 to 500; 100 for page objects, 500 for arrays).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
}

impl WebhookEndpointRequest {
    /// The endpoint, checked.
    pub fn parse(&self) -> Result<EndpointSpec, CoreError> {
        Ok(EndpointSpec {
            url: EndpointUrl::parse(&self.url)?,
            description: description(self.description.as_deref())?,
            selection: Selection::parse(self.event_kinds.as_deref().unwrap_or(&[]))?,
        })
    }
}

impl WebhookEndpointChanges {
    /// The changes, checked.
    pub fn parse(&self) -> Result<EndpointChanges, CoreError> {
        Ok(EndpointChanges {
            url: self.url.as_deref().map(EndpointUrl::parse).transpose()?,
            description: self.description.as_deref().map(|d| description(Some(d))).transpose()?,
            selection: self.event_kinds.as_deref().map(Selection::parse).transpose()?,
            enabled: self.enabled,
        })
    }
}

impl SecretRotationRequest {
    /// The overlap, checked: 60 s to 7 days, a day when absent.
    pub fn overlap(&self) -> Result<chrono::Duration, CoreError> {
        let seconds = self.overlap_seconds.unwrap_or(86_400);
        if !(60..=604_800).contains(&seconds) {
            return Err(CoreError::invalid(
                "overlap_seconds",
                "must be at least 60 and at most 604800 seconds",
            ));
        }
        Ok(chrono::Duration::seconds(i64::from(seconds)))
    }
}
