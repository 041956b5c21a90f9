//! Rate limits and lockout, shared through the database so they hold across instances: a
//! counter per key (an account, a source address) in a fixed window.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use keyport_core::{CoreError, ErrorCode};

use crate::db::DbConn;
use crate::schema::rate_counters;
use crate::{Store, StoreResult, stored_time, utc};

/// A limit: at most `max` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Events allowed in a window.
    pub max: u32,
    /// The window's length.
    pub window: Duration,
}

impl Store {
    /// Counts an attempt for `key` and refuses it with `rate_limited` when it is over the
    /// limit. Counting and checking happen in one transaction, on the row this attempt just
    /// changed, so parallel attempts cannot slip past the check before they are counted.
    pub fn take_attempt(&self, key: &str, limit: Limit, now: DateTime<Utc>) -> StoreResult<()> {
        let (count, start) = self.write(|conn| bump(conn, key, limit, now))?;
        if count > i32::try_from(limit.max).unwrap_or(i32::MAX) {
            let seconds = (utc(start) + limit.window - now).num_seconds().max(1);
            return Err(CoreError::new(ErrorCode::RateLimited).with("seconds", seconds).into());
        }
        Ok(())
    }

    /// Gives back one counted attempt (a login that succeeded was no failure).
    pub fn refund_attempt(&self, key: &str) -> StoreResult<()> {
        self.write(|conn| {
            diesel::update(rate_counters::table.find(key).filter(rate_counters::count.gt(0)))
                .set(rate_counters::count.eq(rate_counters::count - 1))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Forgets `key`'s counter (a successful login resets its account's failures).
    pub fn reset_limit(&self, key: &str) -> StoreResult<()> {
        self.write(|conn| {
            diesel::delete(rate_counters::table.find(key)).execute(conn)?;
            Ok(())
        })
    }
}

/// Adds one to `key`'s counter in the current window (starting a new window when the last
/// one is over) and answers the count and the window's start, as this transaction sees them.
fn bump(
    conn: &mut DbConn,
    key: &str,
    limit: Limit,
    now: DateTime<Utc>,
) -> StoreResult<(i32, chrono::NaiveDateTime)> {
    let window_open = stored_time(now - limit.window);
    let bumped =
        diesel::update(rate_counters::table.find(key).filter(rate_counters::window_start.gt(window_open)))
            .set(rate_counters::count.eq(rate_counters::count + 1))
            .execute(conn)?;
    if bumped == 0 {
        // Only a window that is over starts again; a row another transaction has just made
        // (or bumped) in this window must not be reset.
        let restarted = diesel::update(
            rate_counters::table.find(key).filter(rate_counters::window_start.le(window_open)),
        )
        .set((rate_counters::count.eq(1), rate_counters::window_start.eq(stored_time(now))))
        .execute(conn)?;
        if restarted == 0 {
            diesel::insert_into(rate_counters::table)
                .values((
                    rate_counters::key.eq(key),
                    rate_counters::count.eq(1),
                    rate_counters::window_start.eq(stored_time(now)),
                ))
                .execute(conn)?;
        }
    }
    Ok(rate_counters::table
        .find(key)
        .select((rate_counters::count, rate_counters::window_start))
        .first(conn)?)
}
