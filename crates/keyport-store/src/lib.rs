#![doc = include_str!("../README.md")]

mod activations;
mod analytics;
mod backup;
mod bonus;
mod catalog;
mod certificates;
mod checkins;
mod clock;
mod consent;
mod customers;
mod db;
mod demo_claims;
mod demos;
mod emergency;
mod error;
mod events;
pub mod files;
pub mod fixed_seed;
mod idempotency;
mod identity;
mod keys;
mod licenses;
mod limits;
mod lookup;
pub mod mail;
mod offers;
mod offline;
mod orders;
mod pages;
mod passwords;
pub mod releases;
mod resources;
mod retention;
mod rows;
pub mod sandbox;
mod schema;
#[cfg(feature = "bench-seed")]
mod seed;
mod segments;
#[cfg(feature = "bench-seed")]
pub use seed::HISTORY_DAYS;
mod sessions;
mod targeting;
mod transfer;
mod webhook_outbox;
mod webhooks;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use keyport_core::{Actor, Channel};

pub use analytics::{
    ANALYTICS_STATEMENT_TIMEOUT, ActivityCounts, LifetimeCounts, LifetimeSubject, PublishedRelease,
    UsageCounts,
};
pub use backup::{BackupReport, ServeLock, restore, verify_backup};
pub use customers::{CustomerChanges, NewCustomer};
pub use db::{Backend, DatabaseUrl, PoolOptions};
pub use demos::{DemoFor, SoftwareDemo};
pub use error::StoreError;
pub use events::EventFilter;
pub use idempotency::{Claim, KeptAnswer};
pub use identity::{Purpose, Registration};
pub use keyport_api::CustomerSearch;
pub use keyport_api::views::*;
pub use keyport_api::webhooks::*;
pub use keyport_core::ItemChanges;
pub use keyport_core::order::DEMO_SHOP;
pub use keys::{ApiKeyView, KEY_PREFIX, NewApiKey};
pub use limits::{Limit, Limits};
pub use pages::{Page, Paging};
pub use releases::{DownloadGrant, DownloadLinks};
pub use retention::{COUNTED_TABLES, Pruned, Retention};
pub use sessions::{REFRESH_TOKEN_DAYS, Session, SessionSubject, family_of};
pub use transfer::TABLES;
pub use webhook_outbox::{AttemptOutcome, ClaimRequest, DueDelivery};

/// The result of a use case.
pub type StoreResult<T> = Result<T, StoreError>;

/// Who asks, over which channel, and when: every write use case records it in its events.
#[derive(Debug, Clone)]
pub struct Context {
    /// Who.
    pub actor: Actor,
    /// Over which channel.
    pub channel: Channel,
    /// The time of the change (microsecond precision).
    pub now: DateTime<Utc>,
}

impl Context {
    /// A context at `now`, truncated to microseconds as both backends keep it.
    pub fn new(actor: Actor, channel: Channel, now: DateTime<Utc>) -> Context {
        Context { actor, channel, now: now.trunc_subsecs(6) }
    }
}

/// Whose view a use case runs in. Staff see everything; a customer sees the licenses of
/// the tickets registered to them; a ticket login sees that ticket's licenses. Anything
/// outside the scope is answered as `not_found`, never as forbidden, so ids cannot be probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// ISV staff and integrations acting on their own behalf.
    Staff,
    /// A customer account (or a portal acting for it).
    Customer(uuid::Uuid),
    /// A ticket login: one ticket's licenses only.
    Ticket(uuid::Uuid),
}

/// Keyport's database and the use cases on it. Cheap to clone: it shares one pool.
#[derive(Clone)]
pub struct Store {
    pool: db::Pool,
    backend: Backend,
    url: DatabaseUrl,
    /// On SQLite, held while the store is open: no restore replaces the file underneath.
    _in_use: Option<std::sync::Arc<backup::ServeLock>>,
    /// On SQLite, writers of this process queue here instead of in SQLite's busy handler,
    /// which sleeps in steps of milliseconds and lets a queue of writers collapse.
    write_gate: std::sync::Arc<std::sync::Mutex<()>>,
    /// On SQLite, the writers of requests waiting for the gate or holding it: background
    /// writes (webhook bookkeeping) let them go first (see [`Store::write_in_background`]).
    foreground: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The current signing key as last read, for the check-in path (see
    /// [`certificates::SIGNING_KEY_CACHE`]).
    signing_key: std::sync::Arc<std::sync::Mutex<certificates::KeyCache>>,
    /// The secret that signs unsubscribe links, once read (it never changes).
    unsubscribe_secret: std::sync::Arc<std::sync::OnceLock<Vec<u8>>>,
    /// The clock (see [`Store::now`]).
    clock: clock::Clock,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// Connects, applies pending migrations, and returns the store. Fails with a clear
    /// message when the database cannot be reached.
    /// A new SQLite file is made readable by its owner only.
    pub fn open(url: &DatabaseUrl, options: PoolOptions) -> StoreResult<Store> {
        if let Some(path) = url.sqlite_path() {
            let cannot = |e: std::io::Error| StoreError::Connect(format!("{}: {e}", url.redacted()));
            if path.exists() {
                // A database (and its journal) made by an earlier version may be readable by all.
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.as_os_str().to_owned();
                    file.push(suffix);
                    let file = std::path::PathBuf::from(file);
                    if files::restrict_to_owner(&file).map_err(cannot)? {
                        tracing::warn!(file = %file.display(), "made readable by its owner only");
                    }
                }
            } else {
                files::owner_only_file(path).map_err(cannot)?;
            }
        }
        // Instances starting at the same moment on one SQLite file take turns.
        let _turn = db::StartLock::take(url)?;
        let in_use = backup::ServeLock::take(url)?.map(std::sync::Arc::new);
        let pool = db::connect(url, options)?;
        let store = Store {
            pool,
            backend: url.backend(),
            url: url.clone(),
            _in_use: in_use,
            write_gate: Default::default(),
            foreground: Default::default(),
            signing_key: Default::default(),
            unsubscribe_secret: Default::default(),
            clock: Default::default(),
        };
        let mut conn = store.pool.get().map_err(|e| StoreError::Pool(e.to_string()))?;
        db::migrate(&mut conn)?;
        drop(conn);
        // Once after the upgrade that added folded names and feed positions: the accounts and
        // events written before it (on PostgreSQL the old events get their positions now, so
        // that new ones do not wait behind them).
        while store.fold_names()? > 0 {}
        store.sequence_all()?;
        Ok(store)
    }

    /// Applies pending migrations (also done by [`Store::open`]).
    pub fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.pool.get().map_err(|e| StoreError::Pool(e.to_string()))?;
        let _turn = db::StartLock::take(&self.url)?;
        db::migrate(&mut conn)
    }

    /// Which backend this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers, waiting at most `wait` for a connection.
    pub fn ping(&self, wait: std::time::Duration) -> StoreResult<()> {
        db::ping(&self.pool, wait)
    }

    /// Connections of the pool: (open, idle).
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    pub(crate) fn write<T>(&self, f: impl FnMut(&mut db::DbConn) -> StoreResult<T>) -> StoreResult<T> {
        match self.backend {
            Backend::Sqlite => {
                let _queued = Queued::join(&self.foreground);
                let _turn = self.write_gate.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                db::write(&self.pool, f)
            }
            Backend::Postgres => db::write(&self.pool, f),
        }
    }

    /// A write of background work. On SQLite, where one writer runs at a time, it waits
    /// while requests' writes are queued, up to [`BACKGROUND_YIELD`], so that a peak of
    /// requests is not slowed by bookkeeping that can wait (it catches up after the peak);
    /// on PostgreSQL writers run side by side and it is a plain write. Work that is
    /// `behind` (by [`BACKGROUND_BEHIND`]) does not wait: a load that never ends cannot hold
    /// it back without bound.
    pub(crate) fn write_in_background<T>(
        &self,
        behind: bool,
        f: impl FnMut(&mut db::DbConn) -> StoreResult<T>,
    ) -> StoreResult<T> {
        match self.backend {
            Backend::Sqlite if !behind => {
                let started = std::time::Instant::now();
                while self.foreground.load(std::sync::atomic::Ordering::Relaxed) > 0
                    && started.elapsed() < BACKGROUND_YIELD
                {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                let _turn = self.write_gate.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                db::write(&self.pool, f)
            }
            Backend::Sqlite | Backend::Postgres => self.write(f),
        }
    }

    pub(crate) fn read<T>(&self, f: impl FnOnce(&mut db::DbConn) -> StoreResult<T>) -> StoreResult<T> {
        db::read(&self.pool, f)
    }

    /// Runs reads that need no common snapshot on one connection, each statement on its
    /// own (no transaction: two round trips fewer on PostgreSQL).
    /// `f` only reads: it runs again on another connection when the first turns out broken.
    pub(crate) fn read_each<T>(&self, f: impl FnMut(&mut db::DbConn) -> StoreResult<T>) -> StoreResult<T> {
        db::read_each(&self.pool, f)
    }
}

/// The longest a background write on SQLite waits for requests' writes to pass.
pub const BACKGROUND_YIELD: std::time::Duration = std::time::Duration::from_millis(250);

/// Background work this far behind stops yielding (see [`Store::write_in_background`]), so
/// a load that never ends cannot hold deliveries back without bound.
pub const BACKGROUND_BEHIND: chrono::Duration = chrono::Duration::seconds(60);

/// Counts a foreground writer from its arrival at the gate to the end of its write.
struct Queued<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Queued<'a> {
    fn join(count: &'a std::sync::atomic::AtomicUsize) -> Queued<'a> {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Queued(count)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

pub(crate) use fixed_seed::new_id;

/// The smallest id [`new_id`] gives at `at`: ids below it were made before.
pub(crate) fn id_at(at: DateTime<Utc>) -> String {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    uuid::Uuid::from_bytes(bytes).to_string()
}

/// A time as stored: UTC without offset, microseconds.
pub(crate) fn stored_time(t: DateTime<Utc>) -> NaiveDateTime {
    t.trunc_subsecs(6).naive_utc()
}

/// A stored time back as UTC.
pub(crate) fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// A stored UUID back as a value.
pub(crate) fn uuid_of(text: &str) -> StoreResult<uuid::Uuid> {
    uuid::Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("id '{text}': {e}")))
}
