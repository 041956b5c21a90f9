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
    // Keyport's own background work (Channel::System) happens when its timing says, so its
    // events never draw from a sandbox's fixed seed.
    let id = match ctx.channel {
        keyport_core::Channel::System => crate::fixed_seed::system_id(),
        keyport_core::Channel::Rest
        | keyport_core::Channel::Soap
        | keyport_core::Channel::Cli
        | keyport_core::Channel::Depot => new_id(),
    };
    diesel::insert_into(events::table)
        .values(NewEvent {
            id,
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
        self.sequence_events()?;
        self.read(|conn| {
            let after = Position::parse(conn, backend, filter.after.as_deref())?;
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

    /// Gives every committed event its feed position (at start, after the upgrade that
    /// introduced them: the events written before it). Waits for another sequencer.
    pub(crate) fn sequence_all(&self) -> StoreResult<()> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        loop {
            if !self.sequence_events()? {
                let left: bool = self.read_each(|conn| {
                    Ok(diesel::select(diesel::dsl::exists(events::table.filter(events::feed_pos.is_null())))
                        .get_result(conn)?)
                })?;
                if !left {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }

    /// Gives feed positions to the events committed since the last call, up to 5,000
    /// (PostgreSQL; on SQLite the feed follows the event numbers). See [`feed`]. Answers
    /// whether it gave any.
    pub(crate) fn sequence_events(&self) -> StoreResult<bool> {
        if self.backend != Backend::Postgres {
            return Ok(false);
        }
        // Most calls find nothing to do: a read, no lock.
        let waiting: bool = self.read_each(|conn| {
            Ok(diesel::select(diesel::dsl::exists(events::table.filter(events::feed_pos.is_null())))
                .get_result(conn)?)
        })?;
        if !waiting {
            return Ok(false);
        }
        self.write(|conn| {
            // One sequencer at a time; one that finds another at work leaves it to it (a
            // reader never waits here). The next statement sees what committed meanwhile.
            let mine: Vec<Last> =
                diesel::sql_query("SELECT last FROM event_feed WHERE id = 1 FOR UPDATE SKIP LOCKED")
                    .load(conn)?;
            if mine.first().map(|l| l.last).is_none() {
                return Ok(false);
            }
            let given = diesel::sql_query(
                "WITH next AS (SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM events \
                 WHERE feed_pos IS NULL ORDER BY seq LIMIT 5000), \
                 given AS (UPDATE events SET feed_pos = (SELECT last FROM event_feed WHERE id = 1) + next.n \
                 FROM next WHERE events.seq = next.seq RETURNING 1) \
                 UPDATE event_feed SET last = last + (SELECT COUNT(*) FROM given) WHERE id = 1",
            )
            .execute(conn)?;
            Ok(given > 0)
        })
    }
}

#[derive(diesel::QueryableByName)]
struct Last {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last: i64,
}

/// A position in the event feed, after which a reader reads on: the feed position
/// (PostgreSQL) or event number (SQLite) of the last event seen. Written `f<number>`; a bare
/// number is a cursor of the first release (an event number) and reads on after that event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position(i64);

impl Position {
    /// Before the first event.
    pub const START: Position = Position(0);

    /// The position of an event row.
    pub fn of(row: &EventRow) -> Position {
        Position(row.feed_pos.unwrap_or(row.seq))
    }

    /// Reads a cursor (empty for the start).
    pub fn parse(conn: &mut DbConn, backend: Backend, cursor: Option<&str>) -> StoreResult<Position> {
        let bad = || CoreError::invalid("after", "is not a cursor from this log");
        let text = match cursor.map(str::trim) {
            None | Some("") => return Ok(Position::START),
            Some(text) => text,
        };
        let number = |t: &str| t.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(bad);
        if let Some(position) = text.strip_prefix('f') {
            return Ok(Position(number(position)?));
        }
        let seq = number(text)?;
        match backend {
            Backend::Sqlite => Ok(Position(seq)),
            // Just before the first event numbered after it: a reader of 1.0 has seen the
            // events up to that number and none after it (it may see one again; it never
            // misses one).
            Backend::Postgres => {
                let next: Option<i64> = events::table
                    .filter(events::seq.gt(seq))
                    .select(diesel::dsl::min(events::feed_pos))
                    .first(conn)?;
                let position = match next {
                    Some(p) => p - 1,
                    None => events::table
                        .select(diesel::dsl::max(events::feed_pos))
                        .first::<Option<i64>>(conn)?
                        .unwrap_or(0),
                };
                Ok(Position(position.max(0)))
            }
        }
    }

    /// The last position in the feed now (the start when it is empty).
    pub fn end(conn: &mut DbConn, backend: Backend) -> StoreResult<Position> {
        let last: Option<i64> = match backend {
            Backend::Postgres => events::table.select(diesel::dsl::max(events::feed_pos)).first(conn)?,
            Backend::Sqlite => events::table.select(diesel::dsl::max(events::seq)).first(conn)?,
        };
        Ok(Position(last.unwrap_or(0)))
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "f{}", self.0)
    }
}

/// The events after `after`, in feed order: a reader that follows the cursor from the start
/// sees every committed event once, and no event ever appears behind its cursor.
///
/// Why this holds. On PostgreSQL, event numbers (`seq`) are handed out when an event is
/// written, and transactions commit in any order: a reader following `seq` could pass a
/// number whose transaction commits later, and never see that event. So the feed does not
/// follow `seq`. It follows a feed position that an event gets only after it committed:
/// [`Store::sequence_events`] numbers the committed events without one, in `seq` order,
/// after the last position given, one sequencer at a time (under the lock on the
/// `event_feed` row), and the feed shows only events that have a position. Positions are
/// given in increasing order by transactions that run one after another, so once a reader
/// has seen position P, every event still without a position will get one above P.
/// (Unlike filtering by the oldest running transaction, this does not wait for long
/// transactions of other databases on the same server.) Readers and the webhook sender run
/// the sequencer before they read; an event reaches the feed at their next call.
///
/// On SQLite one writer runs at a time (`BEGIN IMMEDIATE`), so numbers commit in order and
/// the feed follows `seq` directly.
pub(crate) fn feed<'a>(
    backend: Backend,
    after: Position,
) -> events::BoxedQuery<'a, Db, diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<EventRow, Db>>> {
    let query = events::table.select(EventRow::as_select()).into_boxed();
    match backend {
        Backend::Postgres => query.filter(events::feed_pos.gt(after.0)).order(events::feed_pos.asc()),
        Backend::Sqlite => query.filter(events::seq.gt(after.0)).order(events::seq.asc()),
    }
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
