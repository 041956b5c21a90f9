//! Connections: one diesel `MultiConnection` over SQLite and PostgreSQL, the backend picked
//! from the URL scheme, a pool, migrations, and the two transaction helpers every use case
//! runs in.

use std::time::Duration;

use diesel::connection::AnsiTransactionManager;
use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::StoreError;

pub(crate) const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// How often a write that met a lock conflict, a busy database, a serialization failure or
/// a racing unique insert is tried before the error reaches the caller.
const WRITE_ATTEMPTS: u32 = 12;

/// A connection idle in the pool for longer than this is tested (`SELECT 1`) before it is
/// handed out; one used more recently is not (on PostgreSQL the test is a round trip, two or
/// three per request under load). A connection that broke anyway (the server restarted
/// within this time) fails at its first statement: it is dropped from the pool, and a
/// transaction whose `BEGIN` failed so, or a read, is tried again on another connection.
const IDLE_BEFORE_TEST: Duration = Duration::from_secs(1);

/// How long opening a SQLite connection waits for another process's lock.
const SQLITE_OPEN_WAIT: Duration = Duration::from_secs(10);

pub use multi::DbConn;

/// The diesel backend of [`DbConn`] (either database), for boxed queries.
pub(crate) type Db = <DbConn as diesel::Connection>::Backend;

mod multi {
    use diesel::pg::PgConnection;
    use diesel::sqlite::SqliteConnection;

    /// A connection to either backend.
    #[derive(diesel::MultiConnection)]
    pub enum DbConn {
        /// PostgreSQL.
        Pg(PgConnection),
        /// SQLite.
        Sqlite(SqliteConnection),
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A database URL with its backend, parsed from the scheme: `postgres://` or
/// `postgresql://` for PostgreSQL; `sqlite://PATH` or `sqlite:PATH` for SQLite.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: Backend,
    /// What the driver is given: the PostgreSQL URL, or the SQLite file path.
    target: String,
}

impl DatabaseUrl {
    /// Reads a URL; the scheme decides the backend.
    pub fn parse(url: &str) -> Result<DatabaseUrl, StoreError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl { backend: Backend::Postgres, target: url.to_owned() });
        }
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"));
        match path {
            Some(path) if !path.is_empty() => {
                Ok(DatabaseUrl { backend: Backend::Sqlite, target: path.to_owned() })
            }
            _ => Err(StoreError::Config(
                "the database URL must start with postgres://, postgresql:// or sqlite://".to_owned(),
            )),
        }
    }

    /// A SQLite URL for a file path.
    pub fn sqlite_file(path: &std::path::Path) -> DatabaseUrl {
        DatabaseUrl { backend: Backend::Sqlite, target: path.display().to_string() }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with a PostgreSQL `connect_timeout` (whole seconds, at least 1) and TCP
    /// keepalives, unless it names them: without them a connection to an unreachable server
    /// waits for the operating system's TCP timeouts.
    fn with_connect_timeout(&self, timeout: Duration) -> DatabaseUrl {
        match self.backend {
            Backend::Sqlite => self.clone(),
            Backend::Postgres => {
                // TCP keepalives notice a connection whose peer vanished (a network that
                // drops packets) within about a minute instead of the system's hours.
                let mut target = self.target.clone();
                let seconds = timeout.as_secs().max(1).to_string();
                for (name, value) in [
                    ("connect_timeout", seconds.as_str()),
                    ("keepalives", "1"),
                    ("keepalives_idle", "30"),
                    ("keepalives_interval", "10"),
                    ("keepalives_count", "3"),
                ] {
                    if !target.contains(&format!("{name}=")) {
                        let separator = if target.contains('?') { '&' } else { '?' };
                        target = format!("{target}{separator}{name}={value}");
                    }
                }
                DatabaseUrl { backend: Backend::Postgres, target }
            }
        }
    }

    /// The SQLite file's path, if this is one.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match self.backend {
            Backend::Sqlite => Some(std::path::Path::new(&self.target)),
            Backend::Postgres => None,
        }
    }

    /// The URL with any password hidden, for logs.
    pub fn redacted(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite://{}", self.target),
            Backend::Postgres => redact_password(&self.target),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn redact_password(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match base.split_once("://").and_then(|(scheme, rest)| {
        let (userinfo, host) = rest.split_once('@')?;
        let (user, _) = userinfo.split_once(':')?;
        Some(format!("{scheme}://{user}:***@{host}"))
    }) {
        Some(redacted) => redacted,
        None => base.to_owned(),
    };
    // libpq also takes a password as a parameter.
    let query = query.map(|q| {
        q.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _))
                    if name.eq_ignore_ascii_case("password") || name.eq_ignore_ascii_case("sslpassword") =>
                {
                    format!("{name}=***")
                }
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(query) => format!("{base}?{query}"),
        None => base,
    }
}

/// Opens connections of the backend the URL names (never guessing by trial).
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        match self.url.backend {
            Backend::Postgres => PgConnection::establish(&self.url.target)
                .map(DbConn::Pg)
                .map_err(diesel::r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url.target)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                // The busy timeout comes first: switching to WAL needs a lock that another
                // process may hold, and SQLite does not always wait for it by itself.
                conn.batch_execute("PRAGMA busy_timeout = 5000;").map_err(diesel::r2d2::Error::QueryError)?;
                let started = std::time::Instant::now();
                loop {
                    match conn.batch_execute(
                        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                    ) {
                        Ok(()) => return Ok(DbConn::Sqlite(conn)),
                        Err(e)
                            if e.to_string().contains("locked") && started.elapsed() < SQLITE_OPEN_WAIT =>
                        {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(e) => return Err(diesel::r2d2::Error::QueryError(e)),
                    }
                }
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1").map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        let broken =
            |status: &mut diesel::connection::TransactionManagerStatus| match status.transaction_depth() {
                Ok(depth) => depth.is_some(),
                Err(_) => true,
            };
        match conn {
            DbConn::Pg(c) => broken(AnsiTransactionManager::transaction_manager_status_mut(c)),
            DbConn::Sqlite(c) => broken(AnsiTransactionManager::transaction_manager_status_mut(c)),
        }
    }
}

/// Marks a connection whose link to the database is gone, so that the pool drops it when it
/// comes back ([`Manager::has_broken`]) instead of handing it out again.
fn forget(conn: &mut DbConn) {
    match conn {
        DbConn::Pg(c) => AnsiTransactionManager::transaction_manager_status_mut(c).set_in_error(),
        DbConn::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c).set_in_error(),
    }
}

/// Passes `result` on; a connection it says is gone is forgotten first.
fn settled<T>(conn: &mut DbConn, result: Result<T, StoreError>) -> Result<T, StoreError> {
    if let Err(e) = &result
        && e.is_lost_connection()
    {
        forget(conn);
    }
    result
}

/// When a pooled connection was last handed out (kept in the pool's per-connection
/// extensions).
struct HandedOut(std::time::Instant);

/// A pooled connection.
type Pooled = r2d2::PooledConnection<Manager>;

/// A connection from the pool, tested first when it sat idle for longer than
/// [`IDLE_BEFORE_TEST`]; a connection that fails the test is dropped and the next one taken.
fn checkout(pool: &Pool, wait: Duration) -> Result<Pooled, StoreError> {
    let started = std::time::Instant::now();
    loop {
        let left = wait.saturating_sub(started.elapsed()).max(Duration::from_millis(1));
        let mut conn = pool.get_timeout(left).map_err(pool_timeout)?;
        let now = std::time::Instant::now();
        let idle = r2d2::PooledConnection::extensions_mut(&mut conn)
            .insert(HandedOut(now))
            .is_none_or(|HandedOut(at)| now.duration_since(at) > IDLE_BEFORE_TEST);
        if !idle {
            return Ok(conn);
        }
        match conn.batch_execute("SELECT 1") {
            Ok(()) => return Ok(conn),
            Err(e) => {
                forget(&mut conn);
                if started.elapsed() >= wait {
                    return Err(e.into());
                }
            }
        }
    }
}

/// Runs `attempt` on a connection from the pool; when it fails because the connection had
/// broken before its first statement reached the server (`attempt` says so by returning
/// [`Attempt::Lost`]), the connection is dropped and `attempt` runs on another one, as often
/// as the pool has connections (after a restart of the server each may be broken).
fn on_a_live_connection<T>(
    pool: &Pool,
    attempt: impl FnMut(&mut DbConn) -> Attempt<T>,
) -> Result<T, StoreError> {
    on_a_live_connection_within(pool, pool.connection_timeout(), attempt)
}

/// [`on_a_live_connection`], waiting for connections `wait` in all (not per try).
fn on_a_live_connection_within<T>(
    pool: &Pool,
    wait: Duration,
    mut attempt: impl FnMut(&mut DbConn) -> Attempt<T>,
) -> Result<T, StoreError> {
    let started = std::time::Instant::now();
    let mut left = pool.max_size() + 1;
    loop {
        let mut conn = checkout(pool, wait.saturating_sub(started.elapsed()))?;
        match attempt(&mut conn) {
            Attempt::Done(result) => return settled(&mut conn, result),
            Attempt::Lost(e) => {
                forget(&mut conn);
                metrics::counter!("keyport_db_lost_connections_total").increment(1);
                left -= 1;
                if left == 0 {
                    return Err(e);
                }
                tracing::debug!(error = %e, "a pooled connection was broken; trying another");
            }
        }
    }
}

/// What one try on a pooled connection came to.
enum Attempt<T> {
    /// Finished (well or not); the answer is final.
    Done(Result<T, StoreError>),
    /// The connection was broken before anything was done: nothing happened, try another.
    Lost(StoreError),
}

impl<T> Attempt<T> {
    /// The outcome of work that changed nothing when it failed on a lost connection.
    fn safe_to_repeat(result: Result<T, StoreError>) -> Attempt<T> {
        match result {
            Err(e) if e.is_lost_connection() => Attempt::Lost(e),
            other => Attempt::Done(other),
        }
    }
}

/// A pool of connections.
pub type Pool = r2d2::Pool<Manager>;

/// How the pool behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// Connections at most.
    pub max_size: u32,
    /// Idle connections kept open in the background. A server keeps one; a command that
    /// exits after its work keeps none, so no pool thread is still connecting while the
    /// process exits (libpq's TLS clean-up racing such a thread crashed `keyport migrate`).
    pub min_idle: u32,
    /// How long a request waits for a connection before it is answered `unavailable`; it
    /// also bounds a new PostgreSQL connection's `connect_timeout`.
    pub acquire_timeout: Duration,
}

impl PoolOptions {
    /// A long-running server's pool of `max_size` connections.
    pub fn server(max_size: u32) -> PoolOptions {
        PoolOptions { max_size: max_size.max(1), min_idle: 1, acquire_timeout: Duration::from_secs(2) }
    }

    /// A short command's pool: one connection, none kept in the background.
    pub fn command() -> PoolOptions {
        PoolOptions { max_size: 2, min_idle: 0, acquire_timeout: Duration::from_secs(10) }
    }
}

/// Connects (once, to fail early with a clear message) and builds the pool.
pub fn connect(url: &DatabaseUrl, options: PoolOptions) -> Result<Pool, StoreError> {
    let url = url.with_connect_timeout(options.acquire_timeout);
    let manager = Manager { url: url.clone() };
    // A first connection outside the pool reports the real reason it failed.
    manager.connect().map_err(|e| StoreError::Connect(format!("{}: {}", url.redacted(), one_line(&e))))?;
    r2d2::Pool::builder()
        .max_size(options.max_size.max(1))
        .min_idle(Some(options.min_idle.min(options.max_size)))
        .connection_timeout(options.acquire_timeout)
        // Tested by `checkout` only after idle time (see `IDLE_BEFORE_TEST`).
        .test_on_check_out(false)
        .build(manager)
        .map_err(|e| StoreError::Connect(format!("{}: {e}", url.redacted())))
}

/// Driver messages can span lines; a start-up failure is reported as one.
fn one_line(error: &dyn std::fmt::Display) -> String {
    error.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Applies every pending migration of the connection's backend. On PostgreSQL an advisory
/// lock keeps several instances starting at once from migrating twice; on SQLite the caller
/// holds a [`StartLock`].
pub fn migrate(conn: &mut DbConn) -> Result<(), StoreError> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(drop).map_err(failed),
        DbConn::Pg(c) => {
            diesel::sql_query("SELECT pg_advisory_lock(4242001)").execute(c)?;
            let result = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop).map_err(failed);
            diesel::sql_query("SELECT pg_advisory_unlock(4242001)").execute(c)?;
            result
        }
    }
}

/// On SQLite, an exclusive lock on `<database file>.start-lock` while an instance opens and
/// migrates the file, so instances started at the same moment take turns; released when
/// dropped, and by the operating system when the process dies (a crash never leaves it
/// held). Nothing on PostgreSQL, whose advisory lock does the same.
pub struct StartLock(Option<std::fs::File>);

impl StartLock {
    /// Waits for the lock of the database `url` names.
    pub fn take(url: &DatabaseUrl) -> Result<StartLock, StoreError> {
        let Some(database) = url.sqlite_path() else { return Ok(StartLock(None)) };
        let mut name = database.as_os_str().to_owned();
        name.push(".start-lock");
        let path = std::path::PathBuf::from(name);
        let file = crate::files::owner_only_file(&path)
            .map_err(|e| StoreError::Connect(format!("cannot open the lock file {}: {e}", path.display())))?;
        file.lock().map_err(|e| StoreError::Connect(format!("cannot lock {}: {e}", path.display())))?;
        Ok(StartLock(Some(file)))
    }
}

impl Drop for StartLock {
    fn drop(&mut self) {
        if let Some(file) = &self.0 {
            let _ = file.unlock();
        }
    }
}

/// Runs `f` in one transaction that takes the write lock at once (`BEGIN IMMEDIATE` on
/// SQLite; on PostgreSQL use cases lock the rows they change), and tries again when the
/// database reports a conflict that a second attempt resolves.
pub fn write<T>(
    pool: &Pool,
    mut f: impl FnMut(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let once = on_a_live_connection(pool, |conn| match begin_write(conn) {
            Ok(()) => Attempt::Done(finish(conn, &mut f)),
            Err(e) => Attempt::safe_to_repeat(Err(e)),
        });
        match once {
            Err(e) if e.is_retryable() && attempt < WRITE_ATTEMPTS => {
                tracing::debug!(attempt, error = %e, "retrying a write after a conflict");
                metrics::counter!("keyport_db_write_retries_total").increment(1);
                std::thread::sleep(backoff(attempt));
            }
            other => return other,
        }
    }
}

/// No connection became free in time: counted, for the operator's dashboard.
fn pool_timeout(e: diesel::r2d2::PoolError) -> StoreError {
    metrics::counter!("keyport_db_pool_timeouts_total").increment(1);
    StoreError::Pool(e.to_string())
}

/// Checks that the database answers, waiting at most `wait` for a connection.
/// A connection that broke while idle (the server restarted) is dropped and the next one
/// asked, so a database that is back is reported back.
pub fn ping(pool: &Pool, wait: Duration) -> Result<(), StoreError> {
    on_a_live_connection_within(pool, wait, |conn| {
        Attempt::safe_to_repeat(conn.batch_execute("SELECT 1").map_err(StoreError::from))
    })
}

/// Runs `f` on a connection outside any transaction (for statements that refuse one, such
/// as `VACUUM INTO`).
pub fn untransacted<T>(
    pool: &Pool,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut conn = checkout(pool, pool.connection_timeout())?;
    let result = f(&mut conn);
    settled(&mut conn, result)
}

/// Runs `f` in one read transaction (a consistent view).
pub fn read<T>(pool: &Pool, f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>) -> Result<T, StoreError> {
    let mut f = Some(f);
    on_a_live_connection(pool, |conn| {
        match <DbConn as Connection>::TransactionManager::begin_transaction(conn) {
            Ok(()) => match f.take() {
                Some(f) => Attempt::Done(finish(conn, f)),
                None => Attempt::Done(Err(StoreError::Pool("no connection".into()))),
            },
            Err(e) => Attempt::safe_to_repeat(Err(e.into())),
        }
    })
}

/// Runs `f` on a pooled connection without a transaction. `f` only reads: when the
/// connection turns out broken it runs again on another.
pub fn read_each<T>(
    pool: &Pool,
    mut f: impl FnMut(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    on_a_live_connection(pool, |conn| Attempt::safe_to_repeat(f(conn)))
}

/// Opens the write transaction: `BEGIN IMMEDIATE` on SQLite (the write lock at once).
fn begin_write(conn: &mut DbConn) -> Result<(), StoreError> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    Ok(())
}

/// Runs `f` in the transaction the caller opened, and commits it, or rolls it back when
/// `f` fails.
fn finish<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match f(conn) {
        Ok(value) => match <DbConn as Connection>::TransactionManager::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = <DbConn as Connection>::TransactionManager::rollback_transaction(conn);
                Err(e.into())
            }
        },
        Err(e) => {
            // A failed rollback marks the connection broken (the pool drops it); the error
            // the caller needs is the one that made us roll back.
            let _ = <DbConn as Connection>::TransactionManager::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// Waits a little longer each attempt, with jitter so racing writers spread out.
fn backoff(attempt: u32) -> Duration {
    let mut jitter = [0u8; 1];
    let _ = getrandom::fill(&mut jitter);
    Duration::from_millis(u64::from(attempt.min(8)) * 5 + u64::from(jitter[0] % 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_hidden_wherever_the_url_carries_it() {
        assert_eq!(redact_password("postgres://k:hunter2@db/keyport"), "postgres://k:***@db/keyport");
        assert_eq!(
            redact_password("postgres:///keyport?host=/run/postgresql&password=hunter2"),
            "postgres:///keyport?host=/run/postgresql&password=***"
        );
        assert_eq!(
            redact_password("postgres://k@db/keyport?sslmode=require"),
            "postgres://k@db/keyport?sslmode=require"
        );
    }
}
