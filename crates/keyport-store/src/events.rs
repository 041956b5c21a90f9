//! The event log: appended inside every write use case, read as a feed in commit order with
//! filters and a cursor.

use diesel::prelude::*;
use keyport_core::{CoreError, EventKind};
use uuid::Uuid;

use crate::db::{Db, DbConn};
use crate::rows::{EventRow, NewEvent};
use crate::schema::events;
use crate::{Backend, Context, EventPage, EventView, Store, StoreResult, new_id, stored_time, utc, uuid_of};

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
    /// Queries the event log in feed order, one page at a time (see [`feed`]).
    pub fn query_events(&self, filter: &EventFilter) -> StoreResult<EventPage> {
        let limit = filter.limit.unwrap_or(100);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(CoreError::invalid("limit", "must be between 1 and 500").into());
        }
        let backend = self.backend;
        self.read(|conn| {
            let after = match &filter.after {
                None => Position::START,
                Some(cursor) => Position::parse(conn, cursor)?,
            };
            let mut query = feed(backend, after);
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
            let rows: Vec<EventRow> = query.limit(i64::from(limit) + 1).load(conn)?;
            let more = rows.len() > limit as usize;
            let items =
                rows.into_iter().take(limit as usize).map(event_view).collect::<StoreResult<Vec<_>>>()?;
            let next_cursor = if more { items.last().map(|e| e.cursor.clone()) } else { None };
            Ok(EventPage { items, next_cursor })
        })
    }
}

/// A position in the event feed: the writing transaction's id, then the event's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    txid: i64,
    seq: i64,
}

impl Position {
    /// Before the first event.
    pub const START: Position = Position { txid: -1, seq: 0 };

    /// The position of an event row.
    pub fn of(row: &EventRow) -> Position {
        Position { txid: row.txid, seq: row.seq }
    }

    /// Reads a cursor: `txid.seq` as this release writes it, or a bare number as the first
    /// release wrote it (then the event with that number gives the transaction id).
    pub fn parse(conn: &mut DbConn, cursor: &str) -> StoreResult<Position> {
        let bad = || CoreError::invalid("after", "is not a cursor from this log");
        if cursor.is_empty() {
            return Ok(Position::START);
        }
        if let Some((txid, seq)) = cursor.split_once('.') {
            let txid = txid.parse().map_err(|_| bad())?;
            let seq = seq.parse().map_err(|_| bad())?;
            return Ok(Position { txid, seq });
        }
        let seq: i64 = cursor.parse().map_err(|_| bad())?;
        let txid = events::table
            .filter(events::seq.eq(seq))
            .select(events::txid)
            .first::<i64>(conn)
            .optional()?
            .unwrap_or(0);
        Ok(Position { txid, seq })
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.txid, self.seq)
    }
}

/// The events after `after`, in feed order: a reader that follows the cursor from the start
/// sees every committed event once, and no event ever commits behind its cursor.
///
/// Why this holds. On PostgreSQL, numbers (`seq`) are handed out when an event is written
/// and transactions commit in any order, so a number can become visible after a larger one
/// was read. Each event therefore carries the id of the transaction that wrote it (`txid`),
/// the feed is ordered by (txid, seq), and it shows only events of transactions older than
/// the oldest one still running (`pg_snapshot_xmin`): those have all ended, so no event can
/// appear among them later, and every transaction that has not ended, or starts later, has
/// an id at or above that bound, after everything the reader has seen. The price: the feed
/// waits for the oldest running writer, and Keyport's writes are short. On SQLite one
/// writer runs at a time (`BEGIN IMMEDIATE`), so numbers commit in order and txid is 0.
pub(crate) fn feed<'a>(
    backend: Backend,
    after: Position,
) -> events::BoxedQuery<'a, Db, diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<EventRow, Db>>> {
    let mut query = events::table
        .filter(
            events::txid
                .gt(after.txid)
                .or(events::txid.eq(after.txid).and(events::seq.gt(after.seq))),
        )
        .order((events::txid.asc(), events::seq.asc()))
        .select(EventRow::as_select())
        .into_boxed();
    if backend == Backend::Postgres {
        query = query.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
        ));
    }
    query
}

pub(crate) fn event_view(row: EventRow) -> StoreResult<EventView> {
    Ok(EventView {
        seq: row.seq,
        cursor: Position::of(&row).to_string(),
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
