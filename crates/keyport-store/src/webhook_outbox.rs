//! The webhook outbox: deliveries made from the event feed, claimed by the instances that
//! send them, and their attempts recorded.
//!
//! Why the feed is the outbox. Every change appends its event in its own transaction, so
//! the event log already is an outbox written with the change: a rolled-back change has no
//! event, a committed one has. The fan-out follows the feed (which never skips, see
//! [`crate::events::feed`]) from a stored position and turns each event into one delivery
//! per endpoint that wants it, in one transaction with the new position: after a crash it
//! starts again where the last commit left it, so no step is made twice. A delivery row is
//! small (its body is rendered when it is sent). The write path of a license pays nothing
//! for webhooks.
//!
//! Instances fan out one at a time (the position row is locked) and claim deliveries with
//! a conditional update that repeats every condition of "due", like the mail outbox: a
//! delivery is sent by one instance at a time, and again only after its claim expired (a
//! crash between sending and recording), which receivers absorb with the `webhook-id`.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use keyport_core::webhook::{Health, RetryPolicy, Secret, Selection, decide_health};
use keyport_core::{Actor, Channel, EventKind};
use serde_json::json;

use crate::db::DbConn;
use crate::events::{Position, Subject, append, feed};
use crate::rows::{AttemptRow, DeliveryRow, EndpointRow, EventRow};
use crate::schema::{webhook_attempts, webhook_deliveries, webhook_endpoints, webhook_feed};
use crate::webhooks::selection_of;
use crate::{Context, DeliveryState, Store, StoreResult, stored_time, utc};

use crate::webhooks::{END, FEED, HOLD};
/// The largest response excerpt or error kept per attempt.
const MAX_ERROR: usize = 300;

/// What a sender claims: at most `max` deliveries, held for `hold` (well above the time an
/// attempt may take), at most `per_endpoint` in flight per endpoint counting `in_flight`
/// (this instance's attempts per endpoint id).
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    /// Deliveries at most.
    pub max: i64,
    /// How long the claim holds.
    pub hold: Duration,
    /// Attempts in flight per endpoint at most.
    pub per_endpoint: usize,
    /// This instance's attempts in flight, per endpoint id.
    pub in_flight: &'a std::collections::HashMap<String, usize>,
}

/// A delivery to send now.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// The delivery's id.
    pub id: String,
    /// The endpoint's id.
    pub endpoint_id: String,
    /// Where to post.
    pub url: String,
    /// The message id (`webhook-id`): the event's id, the same on every attempt.
    pub message_id: String,
    /// The body (rendered by [`Store::render_webhook_payloads`] after the claim).
    pub payload: String,
    /// What the endpoint receives (for the ticket-code rule).
    pub selection: Selection,
    /// The current secret.
    pub secret: Secret,
    /// The previous secret and until when it signs, during a rotation's overlap.
    pub previous: Option<(Secret, DateTime<Utc>)>,
    /// Attempts made before this one.
    pub attempts: i32,
    /// When the delivery was made (its retry window starts then).
    pub created_at: DateTime<Utc>,
    /// The claim this instance holds on it.
    pub claim: String,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// The delivery.
    pub delivery_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// What went wrong, if anything (also for a non-2xx answer).
    pub error: Option<String>,
    /// How long it took.
    pub latency_ms: i32,
    /// Uniform in `[0, 1)`: spreads the next retry.
    pub jitter: f64,
    /// Attempts made before this one (from [`DueDelivery::attempts`]).
    pub attempts_before: i32,
    /// When the delivery was made (from [`DueDelivery::created_at`]).
    pub created_at: DateTime<Utc>,
    /// The claim it was sent under (from [`DueDelivery::claim`]): an outcome recorded after
    /// the claim passed to another instance changes nothing but the attempt list.
    pub claim: String,
}

impl AttemptOutcome {
    fn delivered(&self) -> bool {
        self.status.is_some_and(keyport_core::webhook::is_delivered)
    }
}

impl Store {
    /// Turns the events committed since the last call into deliveries (at most `limit`
    /// events per call); answers how many events it read.
    ///
    /// A delivery is small (ids and state): its body is rendered when it is sent. The feed
    /// is read first; the write then takes the position's lock and goes ahead only if the
    /// position is still the one read (else another instance did this step: nothing is
    /// written, the next call reads on from the new position).
    pub fn fan_out_webhooks(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<usize> {
        let backend = self.backend;
        self.sequence_events()?;
        // Disabled and paused endpoints get their deliveries too: they wait (unclaimed) until
        // the endpoint is enabled again, or their retention ends.
        let (position, rows, mut deliveries) = self.read(|conn| {
            let text: String = webhook_feed::table.find(FEED).select(webhook_feed::position).first(conn)?;
            let endpoints: Vec<EndpointRow> =
                webhook_endpoints::table.select(EndpointRow::as_select()).load(conn)?;
            if endpoints.is_empty() {
                // Nobody listens: the position follows the end, so the first endpoint starts there.
                return Ok((text, Vec::new(), Vec::new()));
            }
            if text == HOLD {
                return Ok((text, Vec::new(), Vec::new()));
            }
            let from =
                if text == END { Position::START } else { Position::parse(conn, backend, Some(&text))? };
            let rows: Vec<EventRow> = feed(backend, from).limit(limit).load(conn)?;
            let deliveries = deliveries_for(&endpoints, &rows, now);
            Ok((text, rows, deliveries))
        })?;
        let Some(last) = rows.last() else {
            return self.follow_the_end(&position).map(|()| 0);
        };
        let behind = rows.first().is_some_and(|e| now - utc(e.at) > crate::BACKGROUND_BEHIND);
        self.write_in_background(behind, |conn| {
            // The lock: a second instance waits here and then sees the new position.
            diesel::update(webhook_feed::table.find(FEED))
                .set(webhook_feed::updated_at.eq(stored_time(now)))
                .execute(conn)?;
            let current: String =
                webhook_feed::table.find(FEED).select(webhook_feed::position).first(conn)?;
            if current != position {
                return Ok(0);
            }
            // Endpoints deleted meanwhile get nothing. (No step runs twice: the deliveries
            // and the new position commit together, and an import starts at the end.)
            let live: std::collections::HashSet<String> = webhook_endpoints::table
                .select(webhook_endpoints::id)
                .load::<String>(conn)?
                .into_iter()
                .collect();
            deliveries.retain(|d| live.contains(&d.endpoint_id));
            for chunk in deliveries.chunks(100) {
                match conn {
                    DbConn::Pg(c) => {
                        diesel::insert_into(webhook_deliveries::table).values(chunk).execute(c)?
                    }
                    DbConn::Sqlite(c) => {
                        diesel::insert_into(webhook_deliveries::table).values(chunk).execute(c)?
                    }
                };
            }
            diesel::update(webhook_feed::table.find(FEED))
                .set(webhook_feed::position.eq(Position::of(last).to_string()))
                .execute(conn)?;
            Ok(rows.len())
        })
    }

    /// Moves the position to the end of the feed while no endpoint exists (and it is still
    /// `seen`, the position read before).
    fn follow_the_end(&self, seen: &str) -> StoreResult<()> {
        let backend = self.backend;
        if seen == HOLD || self.read(|conn| Position::end(conn, backend))?.to_string() == seen {
            return Ok(()); // nothing new (no write while idle)
        }
        self.write_in_background(false, |conn| {
            // The position's lock first, then the count: an endpoint created meanwhile (which
            // takes the same lock) is seen, and the position is not moved past its events.
            diesel::update(webhook_feed::table.find(FEED).filter(webhook_feed::position.eq(seen)))
                .set(webhook_feed::updated_at.eq(webhook_feed::updated_at))
                .execute(conn)?;
            let endpoints: i64 = webhook_endpoints::table.count().get_result(conn)?;
            if endpoints > 0 {
                return Ok(());
            }
            let end = Position::end(conn, backend)?.to_string();
            diesel::update(webhook_feed::table.find(FEED).filter(webhook_feed::position.eq(seen)))
                .set(webhook_feed::position.eq(end))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Stops the fan-out while an import runs (its endpoints arrive before its events).
    pub(crate) fn hold_webhooks(&self) -> StoreResult<()> {
        self.write(|conn| {
            diesel::update(webhook_feed::table.find(FEED))
                .set(webhook_feed::position.eq(HOLD))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Sets the position to the end of the feed (after an import: the imported history was
    /// delivered, or not, by the database it came from).
    pub(crate) fn webhooks_from_now(&self) -> StoreResult<()> {
        self.sequence_all()?;
        let backend = self.backend;
        self.write(|conn| {
            let end = Position::end(conn, backend)?.to_string();
            diesel::update(webhook_feed::table.find(FEED))
                .set(webhook_feed::position.eq(end))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Renders the bodies of claimed deliveries (in a read, no lock held): each event once,
    /// its resource as the REST API shows it now, ticket codes masked per endpoint.
    pub fn render_webhook_payloads(&self, due: &mut [DueDelivery], now: DateTime<Utc>) -> StoreResult<()> {
        let wanted: Vec<(String, Selection)> =
            due.iter().map(|d| (d.message_id.clone(), d.selection.clone())).collect();
        let bodies = self.read(|conn| {
            let refs: Vec<(&str, &Selection)> = wanted.iter().map(|(id, s)| (id.as_str(), s)).collect();
            crate::resources::render(conn, &refs, now)
        })?;
        for (delivery, body) in due.iter_mut().zip(bodies) {
            delivery.payload = body.unwrap_or_else(|| {
                json!({"type": "event_gone", "data": {"event_id": delivery.message_id}}).to_string()
            });
        }
        Ok(())
    }

    /// Records `outcomes` and claims up to `max` more in one transaction: the sender's one
    /// write per round (on SQLite every write queues for the one writer).
    pub fn exchange_webhook_attempts(
        &self,
        outcomes: &[AttemptOutcome],
        policy: &RetryPolicy,
        now: DateTime<Utc>,
        claim: &ClaimRequest<'_>,
    ) -> StoreResult<Vec<DueDelivery>> {
        if outcomes.is_empty() {
            // Idle: a read finds that nothing is due, and no write is made.
            let at = stored_time(now);
            let due: bool = self.read_each(|conn| {
                Ok(diesel::select(diesel::dsl::exists(
                    webhook_deliveries::table
                        .inner_join(webhook_endpoints::table)
                        .filter(webhook_endpoints::enabled.eq(true))
                        .filter(webhook_deliveries::state.eq(DeliveryState::Pending.as_str()))
                        .filter(webhook_deliveries::next_attempt_at.le(at))
                        .filter(
                            webhook_deliveries::locked_until
                                .is_null()
                                .or(webhook_deliveries::locked_until.lt(at)),
                        ),
                ))
                .get_result(conn)?)
            })?;
            if !due {
                return Ok(Vec::new());
            }
        }
        let behind = outcomes.iter().any(|o| now - o.created_at > crate::BACKGROUND_BEHIND);
        self.write_in_background(behind, |conn| {
            record_in(conn, outcomes, policy)?;
            if claim.max > 0 { claim_in(conn, now, claim) } else { Ok(Vec::new()) }
        })
    }

    /// Claims up to `max` due deliveries of enabled endpoints for this instance, for `hold`
    /// (well above the time an attempt may take): an instance that dies holding a claim
    /// leaves it to the others when it expires. `in_flight` counts this instance's attempts
    /// per endpoint: no endpoint gets more than `per_endpoint` at once, so one that times out
    /// does not hold up the others.
    pub fn claim_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        claim: &ClaimRequest<'_>,
    ) -> StoreResult<Vec<DueDelivery>> {
        self.write_in_background(false, |conn| claim_in(conn, now, claim))
    }

    /// Records attempts: a 2xx delivers; anything else waits for the next retry or, when
    /// the delivery's window is spent, gives up. An endpoint that has failed for a whole
    /// window is disabled. One transaction for the batch; deliveries that went through (the
    /// usual case) take one statement per answer status, not one per delivery.
    pub fn record_webhook_attempts(
        &self,
        outcomes: &[AttemptOutcome],
        policy: &RetryPolicy,
    ) -> StoreResult<()> {
        self.write_in_background(false, |conn| record_in(conn, outcomes, policy))
    }

    /// Deliveries waiting to be sent (of enabled endpoints), and the age in seconds of the
    /// oldest: for `/metrics`.
    pub fn webhook_stats(&self, now: DateTime<Utc>) -> StoreResult<(i64, Option<i64>)> {
        self.read(|conn| {
            let waiting = webhook_deliveries::table
                .inner_join(webhook_endpoints::table)
                .filter(webhook_deliveries::state.eq(DeliveryState::Pending.as_str()))
                .filter(webhook_endpoints::enabled.eq(true));
            let depth: i64 = waiting.count().get_result(conn)?;
            let oldest: Option<chrono::NaiveDateTime> =
                waiting.select(diesel::dsl::min(webhook_deliveries::created_at)).first(conn)?;
            Ok((depth, oldest.map(|t| (now - utc(t)).num_seconds().max(0))))
        })
    }
}

/// One delivery per event and endpoint that wants it.
fn deliveries_for(endpoints: &[EndpointRow], rows: &[EventRow], now: DateTime<Utc>) -> Vec<DeliveryRow> {
    // An endpoint whose kinds this release cannot read (a newer one wrote them) is skipped
    // with a warning rather than stopping every delivery.
    let wanted: Vec<(&EndpointRow, Selection)> = endpoints
        .iter()
        .filter_map(|e| match selection_of(e) {
            Ok(selection) => Some((e, selection)),
            Err(error) => {
                tracing::warn!(endpoint = %e.id, %error, "webhook endpoint skipped: its event kinds are unknown here");
                None
            }
        })
        .collect();
    let mut deliveries = Vec::new();
    for event in rows {
        for (endpoint, _) in wanted.iter().filter(|(e, s)| s.matches(&event.kind) && event.at >= e.created_at)
        {
            deliveries.push(DeliveryRow {
                id: crate::fixed_seed::system_id(),
                endpoint_id: endpoint.id.clone(),
                event_id: event.id.clone(),
                event_kind: event.kind.clone(),
                state: DeliveryState::Pending.as_str().to_owned(),
                attempts: 0,
                next_attempt_at: stored_time(now),
                claim: None,
                locked_until: None,
                last_status: None,
                last_error: None,
                created_at: stored_time(now),
                done_at: None,
            });
        }
    }
    deliveries
}

fn due_delivery(d: DeliveryRow, e: EndpointRow, claim: &str) -> StoreResult<DueDelivery> {
    let selection = selection_of(&e)?;
    let secret = crate::error::stored("webhook secret", Secret::parse(&e.secret))?;
    let previous = match (&e.previous_secret, e.previous_secret_until) {
        (Some(old), Some(until)) => {
            Some((crate::error::stored("webhook secret", Secret::parse(old))?, utc(until)))
        }
        _ => None,
    };
    Ok(DueDelivery {
        id: d.id,
        endpoint_id: d.endpoint_id,
        url: e.url,
        message_id: d.event_id,
        payload: String::new(),
        selection,
        secret,
        previous,
        attempts: d.attempts,
        created_at: utc(d.created_at),
        claim: claim.to_owned(),
    })
}

/// [`Store::claim_webhook_deliveries`] in the caller's transaction.
fn claim_in(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    claim: &ClaimRequest<'_>,
) -> StoreResult<Vec<DueDelivery>> {
    let ClaimRequest { max, hold, per_endpoint, in_flight } = *claim;
    let at = stored_time(now);
    let token = crate::fixed_seed::system_id();
    let due = || {
        webhook_deliveries::state
            .eq(DeliveryState::Pending.as_str())
            .and(webhook_deliveries::next_attempt_at.le(at))
            .and(webhook_deliveries::locked_until.is_null().or(webhook_deliveries::locked_until.lt(at)))
    };

    // Endpoint by endpoint (at most 50), each up to its room: an endpoint with a long
    // backlog (one that times out) never crowds out the others' due deliveries.
    let enabled: Vec<String> = webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(true))
        .order(webhook_endpoints::id.asc())
        .select(webhook_endpoints::id)
        .load(conn)?;
    let mut candidates: Vec<String> = Vec::new();
    for endpoint in enabled {
        let room = per_endpoint.saturating_sub(in_flight.get(&endpoint).copied().unwrap_or(0));
        let left = usize::try_from(max).unwrap_or(0).saturating_sub(candidates.len());
        let take = i64::try_from(room.min(left)).unwrap_or(0);
        if take == 0 {
            continue;
        }
        let ids: Vec<String> = webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(&endpoint))
            .filter(due())
            .order(webhook_deliveries::next_attempt_at.asc())
            .limit(take)
            .select(webhook_deliveries::id)
            .load(conn)?;
        candidates.extend(ids);
    }
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(
        webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&candidates)).filter(due()),
    )
    .set((webhook_deliveries::claim.eq(&token), webhook_deliveries::locked_until.eq(stored_time(now + hold))))
    .execute(conn)?;
    let claimed: Vec<(DeliveryRow, EndpointRow)> = webhook_deliveries::table
        .inner_join(webhook_endpoints::table)
        .filter(webhook_deliveries::id.eq_any(&candidates))
        .filter(webhook_deliveries::claim.eq(&token))
        .select((DeliveryRow::as_select(), EndpointRow::as_select()))
        .load(conn)?;
    claimed.into_iter().map(|(d, e)| due_delivery(d, e, &token)).collect()
}

/// [`Store::record_webhook_attempts`] in the caller's transaction.
fn record_in(conn: &mut DbConn, outcomes: &[AttemptOutcome], policy: &RetryPolicy) -> StoreResult<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let attempts: Vec<AttemptRow> = outcomes
        .iter()
        .map(|o| AttemptRow {
            delivery_id: o.delivery_id.clone(),
            at: stored_time(o.at),
            status: o.status.map(i32::from),
            error: o.error.as_deref().map(clip),
            latency_ms: o.latency_ms,
        })
        .collect();

    // A delivery deleted with its endpoint meanwhile leaves its attempt out.
    let ids: Vec<&str> = outcomes.iter().map(|o| o.delivery_id.as_str()).collect();
    let present: std::collections::HashSet<String> = webhook_deliveries::table
        .filter(webhook_deliveries::id.eq_any(&ids))
        .select(webhook_deliveries::id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    // An outcome recorded already (a commit whose answer was lost, then the round again)
    // is not recorded twice.
    let known: std::collections::HashSet<(String, chrono::NaiveDateTime)> = webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(&ids))
        .select((webhook_attempts::delivery_id, webhook_attempts::at))
        .load::<(String, chrono::NaiveDateTime)>(conn)?
        .into_iter()
        .collect();
    let kept: Vec<&AttemptRow> = attempts
        .iter()
        .filter(|a| present.contains(&a.delivery_id) && !known.contains(&(a.delivery_id.clone(), a.at)))
        .collect();
    for chunk in kept.chunks(200) {
        match conn {
            DbConn::Pg(c) => {
                diesel::insert_into(webhook_attempts::table).values(chunk.to_vec()).execute(c)?
            }
            DbConn::Sqlite(c) => {
                diesel::insert_into(webhook_attempts::table).values(chunk.to_vec()).execute(c)?
            }
        };
    }
    let mut by_status: std::collections::BTreeMap<(u16, &str), Vec<&str>> = Default::default();
    for o in outcomes.iter().filter(|o| o.delivered() && present.contains(&o.delivery_id)) {
        by_status.entry((o.status.unwrap_or(200), o.claim.as_str())).or_default().push(&o.delivery_id);
    }
    let done_at = stored_time(outcomes.iter().map(|o| o.at).max().unwrap_or_else(Utc::now));
    for ((status, claim), ids) in &by_status {
        let held = webhook_deliveries::table
            .filter(webhook_deliveries::id.eq_any(ids))
            .filter(webhook_deliveries::claim.eq(*claim))
            .filter(webhook_deliveries::state.eq(DeliveryState::Pending.as_str()));
        diesel::update(held)
            .set((
                webhook_deliveries::state.eq(DeliveryState::Delivered.as_str()),
                webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
                webhook_deliveries::claim.eq(None::<String>),
                webhook_deliveries::locked_until.eq(None::<chrono::NaiveDateTime>),
                webhook_deliveries::last_status.eq(i32::from(*status)),
                webhook_deliveries::last_error.eq(None::<String>),
                webhook_deliveries::done_at.eq(done_at),
            ))
            .execute(conn)?;
    }
    for o in outcomes.iter().filter(|o| !o.delivered() && present.contains(&o.delivery_id)) {
        record_failure(conn, o, policy)?;
    }
    // Endpoints: a success heals one (one statement for all); failures may disable.
    let healed: std::collections::BTreeSet<&str> =
        outcomes.iter().filter(|o| o.delivered()).map(|o| o.endpoint_id.as_str()).collect();
    diesel::update(
        webhook_endpoints::table
            .filter(webhook_endpoints::id.eq_any(&healed))
            .filter(webhook_endpoints::failing_since.is_not_null()),
    )
    .set(webhook_endpoints::failing_since.eq(None::<chrono::NaiveDateTime>))
    .execute(conn)?;
    let failing: std::collections::BTreeMap<&str, &AttemptOutcome> = outcomes
        .iter()
        .filter(|o| !o.delivered() && !healed.contains(o.endpoint_id.as_str()))
        .map(|o| (o.endpoint_id.as_str(), o))
        .collect();
    for outcome in failing.values() {
        judge_endpoint(conn, outcome, policy)?;
    }
    Ok(())
}

fn record_failure(conn: &mut DbConn, outcome: &AttemptOutcome, policy: &RetryPolicy) -> StoreResult<()> {
    let at = stored_time(outcome.at);
    let failed = u32::try_from(outcome.attempts_before + 1).unwrap_or(u32::MAX);
    let next = policy.next_attempt(failed, outcome.created_at, outcome.at, outcome.jitter);
    let state = if next.is_some() { DeliveryState::Pending } else { DeliveryState::Failed };
    let held = webhook_deliveries::table
        .find(&outcome.delivery_id)
        .filter(webhook_deliveries::claim.eq(&outcome.claim))
        .filter(webhook_deliveries::state.eq(DeliveryState::Pending.as_str()));
    diesel::update(held)
        .set((
            webhook_deliveries::state.eq(state.as_str()),
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::next_attempt_at.eq(next.map_or(at, stored_time)),
            webhook_deliveries::claim.eq(None::<String>),
            webhook_deliveries::locked_until.eq(None::<chrono::NaiveDateTime>),
            webhook_deliveries::last_status.eq(outcome.status.map(i32::from)),
            webhook_deliveries::last_error.eq(outcome.error.as_deref().map(clip)),
            webhook_deliveries::done_at.eq((state == DeliveryState::Failed).then_some(at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// After a failed attempt: marks the endpoint failing, or disables it when it failed for a
/// whole window.
fn judge_endpoint(conn: &mut DbConn, outcome: &AttemptOutcome, policy: &RetryPolicy) -> StoreResult<()> {
    let Some(endpoint) = webhook_endpoints::table
        .find(&outcome.endpoint_id)
        .select(EndpointRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(());
    };
    let at = stored_time(outcome.at);
    let error = outcome.error.as_deref().unwrap_or("");
    match decide_health(false, endpoint.failing_since.map(utc), outcome.at, policy, error) {
        Health::Healthy => {}
        Health::Failing(since) if endpoint.failing_since.is_none() => {
            diesel::update(webhook_endpoints::table.find(&endpoint.id))
                .set(webhook_endpoints::failing_since.eq(stored_time(since)))
                .execute(conn)?;
        }
        Health::Failing(_) => {}
        Health::Disable(reason) if endpoint.enabled => {
            diesel::update(webhook_endpoints::table.find(&endpoint.id))
                .set((
                    webhook_endpoints::enabled.eq(false),
                    webhook_endpoints::disabled_reason.eq(clip(&reason)),
                    webhook_endpoints::updated_at.eq(at),
                ))
                .execute(conn)?;
            let ctx = Context::new(Actor::System, Channel::System, outcome.at);
            let data = json!({"origin": crate::webhooks::origin(&endpoint.url), "reason": clip(&reason)});
            let subject = Subject::of("webhook_endpoint", &endpoint.id);
            append(conn, &ctx, EventKind::WebhookEndpointDisabled, subject, data)?;
            tracing::warn!(endpoint = %endpoint.id, %reason, "webhook endpoint disabled");
        }
        Health::Disable(_) => {}
    }
    Ok(())
}

/// At most [`MAX_ERROR`] characters of a message.
fn clip(text: &str) -> String {
    text.chars().take(MAX_ERROR).collect()
}
