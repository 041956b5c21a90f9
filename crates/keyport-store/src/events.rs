//! The event log: appended inside every write use case, queried with filters and a cursor.

use diesel::prelude::*;
use keyport_core::{CoreError, EventKind};
use uuid::Uuid;

use crate::db::DbConn;
use crate::rows::{EventRow, NewEvent};
use crate::schema::events;
use crate::{Context, EventPage, EventView, Store, StoreResult, new_id, stored_time, utc, uuid_of};

/// The most events one page returns.
pub const MAX_PAGE: u32 = 500;

/// What an event is about.
pub(crate) struct Subject<'a> {
    pub kind: &'static str,
    pub id: &'a str,
    pub license_id: Option<&'a str>,
    pub customer_id: Option<&'a str>,
}

impl<'a> Subject<'a> {
    /// An event about a thing that is neither a license nor a customer.
    pub fn of(kind: &'static str, id: &'a str) -> Self {
        Subject { kind, id, license_id: None, customer_id: None }
    }
}

/// Appends one event in the caller's transaction.
pub(crate) fn append(
    conn: &mut DbConn,
    ctx: &Context,
    kind: EventKind,
    subject: Subject<'_>,
    data: serde_json::Value,
) -> StoreResult<()> {
    diesel::insert_into(events::table)
        .values(NewEvent {
            id: new_id(),
            kind: kind.as_str().to_owned(),
            subject_type: subject.kind.to_owned(),
            subject_id: subject.id.to_owned(),
            license_id: subject.license_id.map(str::to_owned),
            customer_id: subject.customer_id.map(str::to_owned),
            actor: ctx.actor.to_string(),
            channel: ctx.channel.as_str().to_owned(),
            data: data.to_string(),
            at: stored_time(ctx.now),
        })
        .execute(conn)?;
    Ok(())
}

/// Which events to return.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only events about this license.
    pub license_id: Option<Uuid>,
    /// Only events about this customer (their tickets and licenses).
    pub customer_id: Option<Uuid>,
    /// Only events about the licenses of this ticket.
    pub ticket_id: Option<Uuid>,
    /// Only events of this kind.
    pub kind: Option<EventKind>,
    /// Only events about this subject (type and id).
    pub subject: Option<(String, String)>,
    /// Only events after this cursor (from a previous page).
    pub after: Option<String>,
    /// At most this many (1 to 500; 100 when absent).
    pub limit: Option<u32>,
}

impl Store {
    /// Queries the event log, oldest first, one page at a time.
    pub fn query_events(&self, filter: &EventFilter) -> StoreResult<EventPage> {
        let limit = filter.limit.unwrap_or(100);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(CoreError::invalid("limit", "must be between 1 and 500").into());
        }
        let after = match &filter.after {
            None => 0,
            Some(cursor) => cursor
                .parse::<i64>()
                .map_err(|_| CoreError::invalid("after", "is not a cursor from this log"))?,
        };
        self.read(|conn| {
            let mut query = events::table.filter(events::seq.gt(after)).into_boxed();
            if let Some(id) = filter.license_id {
                query = query.filter(events::license_id.eq(id.to_string()));
            }
            if let Some(id) = filter.customer_id {
                query = query.filter(events::customer_id.eq(id.to_string()));
            }
            if let Some(id) = filter.ticket_id {
                let of_ticket = crate::schema::licenses::table
                    .filter(crate::schema::licenses::ticket_id.eq(id.to_string()))
                    .select(crate::schema::licenses::id.nullable());
                query = query.filter(events::license_id.eq_any(of_ticket));
            }
            if let Some(kind) = filter.kind {
                query = query.filter(events::kind.eq(kind.as_str()));
            }
            if let Some((kind, id)) = &filter.subject {
                query = query
                    .filter(events::subject_type.eq(kind.clone()))
                    .filter(events::subject_id.eq(id.clone()));
            }
            let rows: Vec<EventRow> = query
                .order(events::seq.asc())
                .limit(i64::from(limit) + 1)
                .select(EventRow::as_select())
                .load(conn)?;
            let more = rows.len() > limit as usize;
            let items =
                rows.into_iter().take(limit as usize).map(event_view).collect::<StoreResult<Vec<_>>>()?;
            let next_cursor = if more { items.last().map(|e| e.seq.to_string()) } else { None };
            Ok(EventPage { items, next_cursor })
        })
    }
}

fn event_view(row: EventRow) -> StoreResult<EventView> {
    Ok(EventView {
        seq: row.seq,
        id: uuid_of(&row.id)?,
        kind: row.kind,
        subject_type: row.subject_type,
        subject_id: row.subject_id,
        license_id: row.license_id.as_deref().map(uuid_of).transpose()?,
        customer_id: row.customer_id.as_deref().map(uuid_of).transpose()?,
        actor: row.actor,
        channel: row.channel,
        data: serde_json::from_str(&row.data).unwrap_or(serde_json::Value::Null),
        at: utc(row.at),
    })
}
