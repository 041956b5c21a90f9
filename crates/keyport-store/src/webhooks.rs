//! Webhook endpoints and their deliveries, for admins: register, change, rotate the secret,
//! delete; list deliveries with their attempts; resend one. Sending is in `webhook_outbox`.

use chrono::Duration;
use diesel::prelude::*;
use keyport_core::webhook::{EndpointChanges, EndpointSpec, MAX_ENDPOINTS, SECRET_BYTES, Secret, Selection};
use keyport_core::{CoreError, ErrorCode, EventKind};
use serde_json::json;
use uuid::Uuid;

use crate::db::DbConn;
use crate::events::{Subject, append};
use crate::rows::{AttemptRow, DeliveryRow, EndpointRow};
use crate::schema::{webhook_attempts, webhook_deliveries, webhook_endpoints, webhook_feed};
use crate::{
    Context, CreatedWebhookEndpoint, DeliveryState, Page, Paging, Store, StoreError, StoreResult,
    WebhookAttemptView, WebhookDeliveryDetail, WebhookDeliveryPage, WebhookDeliveryView, WebhookEndpointPage,
    WebhookEndpointView, WebhookSecretView, new_id, stored_time, utc, uuid_of,
};

/// The fan-out's row in `webhook_feed`.
pub(crate) const FEED: &str = "deliveries";
/// The position before any fan-out: where the migration left it (no endpoint existed).
pub(crate) const END: &str = "end";
/// The position while an import runs: no fan-out.
pub(crate) const HOLD: &str = "hold";

/// Resolves the position the migration left (`end`) to the real end of the feed, in the
/// caller's transaction, under the position's lock: called when an endpoint is created, so
/// that it starts with the events after it (and the fan-out never walks the history).
fn resolve_feed_end(conn: &mut DbConn, backend: crate::Backend) -> StoreResult<()> {
    diesel::update(webhook_feed::table.find(FEED))
        .set(webhook_feed::updated_at.eq(webhook_feed::updated_at))
        .execute(conn)?;
    let text: String = webhook_feed::table.find(FEED).select(webhook_feed::position).first(conn)?;
    if text == END {
        let end = crate::events::Position::end(conn, backend)?.to_string();
        diesel::update(webhook_feed::table.find(FEED)).set(webhook_feed::position.eq(end)).execute(conn)?;
    }
    Ok(())
}

/// A fresh signing secret.
pub(crate) fn new_secret() -> StoreResult<Secret> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    Ok(Secret::from_bytes(bytes))
}

/// The page of an id-ordered list: [`Paging`], whose cursor must be an id.
fn id_paging(after: Option<&str>, limit: Option<u32>) -> StoreResult<Paging> {
    let paging = Paging::new(after, limit, 100)?;
    if paging.after.as_deref().is_some_and(|a| Uuid::parse_str(a).is_err()) {
        return Err(CoreError::invalid("after", "is not a cursor from this list").into());
    }
    Ok(paging)
}

pub(crate) fn selection_of(row: &EndpointRow) -> StoreResult<Selection> {
    let names: Vec<String> = serde_json::from_str(&row.event_kinds)
        .map_err(|e| StoreError::Corrupt(format!("endpoint kinds: {e}")))?;
    crate::error::stored("endpoint kinds", Selection::parse(&names))
}

pub(crate) fn endpoint_view(row: &EndpointRow) -> StoreResult<WebhookEndpointView> {
    Ok(WebhookEndpointView {
        id: uuid_of(&row.id)?,
        url: row.url.clone(),
        description: row.description.clone(),
        event_kinds: selection_of(row)?.names(),
        enabled: row.enabled,
        disabled_reason: row.disabled_reason.clone(),
        failing_since: row.failing_since.map(utc),
        previous_secret_until: row.previous_secret_until.map(utc),
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    })
}

fn delivery_view(row: &DeliveryRow) -> StoreResult<WebhookDeliveryView> {
    let state = DeliveryState::parse(&row.state)
        .ok_or_else(|| StoreError::Corrupt(format!("delivery state {}", row.state)))?;
    Ok(WebhookDeliveryView {
        id: uuid_of(&row.id)?,
        endpoint_id: uuid_of(&row.endpoint_id)?,
        event_id: uuid_of(&row.event_id)?,
        event_kind: row.event_kind.clone(),
        state,
        attempts: row.attempts,
        next_attempt_at: (state == DeliveryState::Pending).then(|| utc(row.next_attempt_at)),
        last_status: row.last_status,
        last_error: row.last_error.clone(),
        created_at: utc(row.created_at),
        done_at: row.done_at.map(utc),
    })
}

fn load_endpoint(conn: &mut DbConn, id: Uuid) -> StoreResult<EndpointRow> {
    webhook_endpoints::table
        .find(id.to_string())
        .select(EndpointRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| CoreError::not_found("webhook endpoint").into())
}

/// An endpoint's scheme, host and port: what events and logs show of its URL (a path can
/// hold a secret, as chat services' hook URLs do).
pub(crate) fn origin(url: &str) -> String {
    keyport_core::webhook::EndpointUrl::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

fn kinds_text(selection: &Selection) -> String {
    serde_json::Value::from(selection.names()).to_string()
}

impl Store {
    /// Registers an endpoint; the answer carries its signing secret.
    pub fn create_webhook_endpoint(
        &self,
        ctx: &Context,
        spec: &EndpointSpec,
    ) -> StoreResult<CreatedWebhookEndpoint> {
        let secret = new_secret()?;
        let row = EndpointRow {
            id: new_id(),
            url: spec.url.as_str().to_owned(),
            description: spec.description.clone(),
            event_kinds: kinds_text(&spec.selection),
            secret: secret.to_string(),
            previous_secret: None,
            previous_secret_until: None,
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            created_at: stored_time(ctx.now),
            updated_at: stored_time(ctx.now),
        };
        self.write(|conn| {
            let count: i64 = webhook_endpoints::table.count().get_result(conn)?;
            if count >= MAX_ENDPOINTS {
                return Err(CoreError::new(ErrorCode::TooManyEndpoints).with("limit", MAX_ENDPOINTS).into());
            }
            resolve_feed_end(conn, self.backend)?;
            diesel::insert_into(webhook_endpoints::table).values(&row).execute(conn)?;
            let data = json!({"origin": origin(&row.url), "event_kinds": spec.selection.names()});
            append(
                conn,
                ctx,
                EventKind::WebhookEndpointCreated,
                Subject::of("webhook_endpoint", &row.id),
                data,
            )?;
            Ok(())
        })?;
        Ok(CreatedWebhookEndpoint { endpoint: endpoint_view(&row)?, secret: secret.to_string() })
    }

    /// The endpoints, oldest first.
    pub fn list_webhook_endpoints(
        &self,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> StoreResult<WebhookEndpointPage> {
        let paging = id_paging(after, limit)?;
        self.read(|conn| {
            let mut query = webhook_endpoints::table.order(webhook_endpoints::id.asc()).into_boxed();
            if let Some(after) = &paging.after {
                query = query.filter(webhook_endpoints::id.gt(after.clone()));
            }
            let rows: Vec<EndpointRow> =
                query.limit(paging.fetch()).select(EndpointRow::as_select()).load(conn)?;
            let page = Page::of(rows, &paging, |r| r.id.clone()).try_map(|r| endpoint_view(&r))?;
            Ok(WebhookEndpointPage { items: page.items, next_cursor: page.next_cursor })
        })
    }

    /// One endpoint.
    pub fn get_webhook_endpoint(&self, id: Uuid) -> StoreResult<WebhookEndpointView> {
        self.read(|conn| endpoint_view(&load_endpoint(conn, id)?))
    }

    /// An endpoint's signing secrets (the previous one only while it still signs).
    pub fn webhook_secret(
        &self,
        id: Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<WebhookSecretView> {
        self.read(|conn| {
            let row = load_endpoint(conn, id)?;
            let until = row.previous_secret_until.map(utc).filter(|u| *u > now);
            Ok(WebhookSecretView {
                secret: row.secret,
                previous_secret: until.and(row.previous_secret),
                previous_secret_until: until,
            })
        })
    }

    /// Changes an endpoint. Enabling a disabled one forgets its failures; its deliveries
    /// that are still pending are tried again.
    pub fn update_webhook_endpoint(
        &self,
        ctx: &Context,
        id: Uuid,
        changes: &EndpointChanges,
    ) -> StoreResult<WebhookEndpointView> {
        self.write(|conn| {
            let before = load_endpoint(conn, id)?;
            let mut row = before.clone();
            if let Some(url) = &changes.url {
                row.url = url.as_str().to_owned();
            }
            if let Some(description) = &changes.description {
                row.description.clone_from(description);
            }
            if let Some(selection) = &changes.selection {
                row.event_kinds = kinds_text(selection);
            }
            if let Some(enabled) = changes.enabled {
                row.enabled = enabled;
                if enabled {
                    row.disabled_reason = None;
                    row.failing_since = None;
                }
            }
            let unchanged = (&row.url, &row.description, &row.event_kinds, row.enabled, &row.disabled_reason)
                == (
                    &before.url,
                    &before.description,
                    &before.event_kinds,
                    before.enabled,
                    &before.disabled_reason,
                );
            if unchanged {
                return endpoint_view(&row);
            }
            row.updated_at = stored_time(ctx.now);
            diesel::update(webhook_endpoints::table.find(&row.id))
                .set((
                    webhook_endpoints::url.eq(&row.url),
                    webhook_endpoints::description.eq(&row.description),
                    webhook_endpoints::event_kinds.eq(&row.event_kinds),
                    webhook_endpoints::enabled.eq(row.enabled),
                    webhook_endpoints::disabled_reason.eq(&row.disabled_reason),
                    webhook_endpoints::failing_since.eq(row.failing_since),
                    webhook_endpoints::updated_at.eq(row.updated_at),
                ))
                .execute(conn)?;
            let data = json!({"origin": origin(&row.url), "event_kinds": selection_of(&row)?.names(),
                              "enabled": row.enabled, "url_changed": row.url != before.url,
                              "before": {"origin": origin(&before.url), "enabled": before.enabled}});
            append(
                conn,
                ctx,
                EventKind::WebhookEndpointUpdated,
                Subject::of("webhook_endpoint", &row.id),
                data,
            )?;
            endpoint_view(&row)
        })
    }

    /// Deletes an endpoint with its deliveries. Deleting it again answers `not_found`.
    pub fn delete_webhook_endpoint(&self, ctx: &Context, id: Uuid) -> StoreResult<()> {
        self.write(|conn| {
            let row = load_endpoint(conn, id)?;
            let deliveries = webhook_deliveries::table
                .filter(webhook_deliveries::endpoint_id.eq(&row.id))
                .select(webhook_deliveries::id);
            diesel::delete(webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(deliveries)))
                .execute(conn)?;
            diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(&row.id)))
                .execute(conn)?;
            diesel::delete(webhook_endpoints::table.find(&row.id)).execute(conn)?;
            let data = json!({"origin": origin(&row.url)});
            append(
                conn,
                ctx,
                EventKind::WebhookEndpointDeleted,
                Subject::of("webhook_endpoint", &row.id),
                data,
            )?;
            Ok(())
        })
    }

    /// Gives an endpoint a new secret; the previous one keeps signing beside it for
    /// `overlap`, so receivers can switch without losing a delivery.
    pub fn rotate_webhook_secret(
        &self,
        ctx: &Context,
        id: Uuid,
        overlap: Duration,
    ) -> StoreResult<WebhookSecretView> {
        let secret = new_secret()?.to_string();
        let until = ctx.now + overlap;
        self.write(|conn| {
            let row = load_endpoint(conn, id)?;
            // During an overlap the previous secret stays the one receivers may still hold:
            // a rotation repeated (its answer lost) must not drop it at once.
            let (previous, until) = match (&row.previous_secret, row.previous_secret_until.map(utc)) {
                (Some(old), Some(old_until)) if old_until > ctx.now => (old.clone(), old_until.max(until)),
                _ => (row.secret.clone(), until),
            };
            diesel::update(webhook_endpoints::table.find(&row.id))
                .set((
                    webhook_endpoints::secret.eq(&secret),
                    webhook_endpoints::previous_secret.eq(&previous),
                    webhook_endpoints::previous_secret_until.eq(stored_time(until)),
                    webhook_endpoints::updated_at.eq(stored_time(ctx.now)),
                ))
                .execute(conn)?;
            let data = json!({"previous_secret_until": until});
            append(
                conn,
                ctx,
                EventKind::WebhookSecretRotated,
                Subject::of("webhook_endpoint", &row.id),
                data,
            )?;
            Ok(WebhookSecretView {
                secret: secret.clone(),
                previous_secret: Some(previous),
                previous_secret_until: Some(until),
            })
        })
    }

    /// An endpoint's deliveries, newest first.
    pub fn list_webhook_deliveries(
        &self,
        endpoint: Uuid,
        state: Option<DeliveryState>,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> StoreResult<WebhookDeliveryPage> {
        let paging = id_paging(after, limit)?;
        self.read(|conn| {
            load_endpoint(conn, endpoint)?;
            let mut query = webhook_deliveries::table
                .filter(webhook_deliveries::endpoint_id.eq(endpoint.to_string()))
                .order(webhook_deliveries::id.desc())
                .into_boxed();
            if let Some(state) = state {
                query = query.filter(webhook_deliveries::state.eq(state.as_str()));
            }
            if let Some(after) = &paging.after {
                query = query.filter(webhook_deliveries::id.lt(after.clone()));
            }
            let rows: Vec<DeliveryRow> =
                query.limit(paging.fetch()).select(DeliveryRow::as_select()).load(conn)?;
            let page = Page::of(rows, &paging, |r| r.id.clone()).try_map(|r| delivery_view(&r))?;
            Ok(WebhookDeliveryPage { items: page.items, next_cursor: page.next_cursor })
        })
    }

    /// One delivery with its attempts, and the body its next attempt posts.
    pub fn get_webhook_delivery(
        &self,
        id: Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<WebhookDeliveryDetail> {
        self.read(|conn| {
            let row = load_delivery(conn, id)?;
            let endpoint = load_endpoint(conn, uuid_of(&row.endpoint_id)?)?;
            let selection = selection_of(&endpoint)?;
            let body = crate::resources::render(conn, &[(row.event_id.as_str(), &selection)], now)?;
            let payload = body
                .into_iter()
                .flatten()
                .next()
                .and_then(|b| serde_json::from_str(&b).ok())
                .unwrap_or(serde_json::Value::Null);
            let mut attempts: Vec<AttemptRow> = webhook_attempts::table
                .filter(webhook_attempts::delivery_id.eq(&row.id))
                .order(webhook_attempts::at.desc())
                .limit(100)
                .select(AttemptRow::as_select())
                .load(conn)?;
            attempts.reverse();
            Ok(WebhookDeliveryDetail {
                delivery: delivery_view(&row)?,
                attempts: attempts
                    .into_iter()
                    .map(|a| WebhookAttemptView {
                        at: utc(a.at),
                        status: a.status,
                        error: a.error,
                        latency_ms: a.latency_ms,
                    })
                    .collect(),
                payload,
            })
        })
    }

    /// Sends a delivery again now, delivered or failed alike (a receiver that lost it asks).
    /// Its window and attempt count start anew (the attempts made stay listed); a delivery
    /// already waiting for an attempt stays as it is.
    pub fn resend_webhook_delivery(&self, ctx: &Context, id: Uuid) -> StoreResult<WebhookDeliveryView> {
        self.write(|conn| {
            let row = load_delivery(conn, id)?;
            let endpoint = load_endpoint(conn, uuid_of(&row.endpoint_id)?)?;
            if !endpoint.enabled {
                return Err(CoreError::new(ErrorCode::EndpointDisabled).into());
            }
            if row.state == DeliveryState::Pending.as_str() {
                return delivery_view(&row);
            }
            let now = stored_time(ctx.now);
            diesel::update(webhook_deliveries::table.find(&row.id))
                .set((
                    webhook_deliveries::state.eq(DeliveryState::Pending.as_str()),
                    webhook_deliveries::attempts.eq(0),
                    webhook_deliveries::next_attempt_at.eq(now),
                    webhook_deliveries::created_at.eq(now),
                    webhook_deliveries::done_at.eq(None::<chrono::NaiveDateTime>),
                    webhook_deliveries::claim.eq(None::<String>),
                    webhook_deliveries::locked_until.eq(None::<chrono::NaiveDateTime>),
                ))
                .execute(conn)?;
            delivery_view(&load_delivery(conn, id)?)
        })
    }
}

fn load_delivery(conn: &mut DbConn, id: Uuid) -> StoreResult<DeliveryRow> {
    webhook_deliveries::table
        .find(id.to_string())
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| CoreError::not_found("webhook delivery").into())
}
