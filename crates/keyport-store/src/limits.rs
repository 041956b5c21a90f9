//! Rate limits and lockout, shared through the database so they hold across instances: a
//! counter per key (an account, a source address) in a fixed window.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use keyport_core::{CoreError, ErrorCode};

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
    /// Refuses with `rate_limited` (and the seconds to wait) when `key` reached its limit in
    /// the current window.
    pub fn check_limit(&self, key: &str, limit: Limit, now: DateTime<Utc>) -> StoreResult<()> {
        let row: Option<(i32, chrono::NaiveDateTime)> = self.read(|conn| {
            Ok(rate_counters::table
                .find(key)
                .select((rate_counters::count, rate_counters::window_start))
                .first(conn)
                .optional()?)
        })?;
        match row {
            Some((count, start))
                if utc(start) + limit.window > now
                    && count >= i32::try_from(limit.max).unwrap_or(i32::MAX) =>
            {
                let seconds = (utc(start) + limit.window - now).num_seconds().max(1);
                Err(CoreError::new(ErrorCode::RateLimited).with("seconds", seconds).into())
            }
            _ => Ok(()),
        }
    }

    /// Counts one event for `key` (a failed login, a reset request, ...).
    pub fn count_event(&self, key: &str, limit: Limit, now: DateTime<Utc>) -> StoreResult<()> {
        let window_open = stored_time(now - limit.window);
        self.write(|conn| {
            let bumped = diesel::update(
                rate_counters::table.find(key).filter(rate_counters::window_start.gt(window_open)),
            )
            .set(rate_counters::count.eq(rate_counters::count + 1))
            .execute(conn)?;
            if bumped == 1 {
                return Ok(());
            }
            let restarted = diesel::update(rate_counters::table.find(key))
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
