//! The store's clock: the system's, moved forward by an offset that only the sandbox
//! changes (`keyport sandbox`, to let integrators test subscription ends and replenished
//! credits). Every decision of a request and of the background work reads this clock, so a
//! moved clock moves them all alike; outside the sandbox the offset stays zero.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};
use keyport_core::CoreError;

use crate::{Store, StoreResult};

/// The furthest the clock may be moved forward in all, in days (ten years).
pub const MAX_OFFSET_DAYS: i64 = 3650;

/// The offset in milliseconds, shared by every clone of a store.
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock(Arc<AtomicI64>);

impl Store {
    /// The current time as this store sees it: the system's plus the sandbox's offset.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset()
    }

    /// How far the clock has been moved forward.
    pub fn clock_offset(&self) -> Duration {
        Duration::milliseconds(self.clock.0.load(Ordering::Relaxed))
    }

    /// Moves the clock forward by `by` (at least a second; in all at most
    /// [`MAX_OFFSET_DAYS`]) and answers the new time. The clock never goes back: what was
    /// decided stays decided.
    pub fn advance_clock(&self, by: Duration) -> StoreResult<DateTime<Utc>> {
        if by < Duration::seconds(1) {
            return Err(CoreError::invalid("days", "must move the clock forward").into());
        }
        let step = by.num_milliseconds();
        let limit = MAX_OFFSET_DAYS * 86_400_000;
        self.clock
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |offset| {
                offset.checked_add(step).filter(|total| *total <= limit)
            })
            .map_err(|_| CoreError::invalid("days", "the clock may move at most 3650 days forward in all"))?;
        Ok(self.now())
    }

    /// Puts the clock back to the system's time (the sandbox's reset).
    pub(crate) fn reset_clock(&self) {
        self.clock.0.store(0, Ordering::SeqCst);
    }
}
