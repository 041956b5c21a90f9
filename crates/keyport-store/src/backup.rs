//! Backup, verification and restore of the embedded SQLite database. The database holds
//! everything: licenses, activations, events and the certificate signing keys, so a backup
//! is all an operator keeps. (PostgreSQL is backed up with its own `pg_dump`.)
//!
//! - A backup is a consistent copy taken while `keyport serve` runs (`VACUUM INTO`: one read
//!   transaction, so a write commits wholly before or after it), readable by its owner only.
//! - A verification opens a copy without changing it: SQLite's integrity check, the
//!   migrations it has against the ones this version knows, and its rows per table.
//! - A restore replaces the database of a data folder that no server uses (every running
//!   `keyport serve` holds a shared lock on `<database>.serve-lock`).

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use crate::db::SQLITE_MIGRATIONS;
use crate::retention::COUNTED_TABLES;
use crate::{DatabaseUrl, Store, StoreError, StoreResult};

/// What a verified backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// Migrations this version knows that the copy lacks (applied when it is opened).
    pub pending_migrations: usize,
    /// Rows per table.
    pub rows: Vec<(&'static str, i64)>,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn sqlite_only(url: &DatabaseUrl) -> StoreResult<&Path> {
    match url.sqlite_path() {
        Some(path) => Ok(path),
        None => Err(StoreError::Config(
            "backups here are of the embedded SQLite database; back PostgreSQL up with pg_dump".to_owned(),
        )),
    }
}

impl Store {
    /// Writes a consistent copy of the SQLite database to `out` (which must not exist),
    /// while the database is in use.
    pub fn backup_to(&self, out: &Path) -> StoreResult<()> {
        sqlite_only(&self.url)?;
        if out.exists() {
            return Err(StoreError::Config(format!("{} exists already; name a new file", out.display())));
        }
        // VACUUM INTO fills an empty file: made first, readable by its owner only.
        crate::files::owner_only_file(out)
            .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", out.display())))?;
        let target = usable_path(out)?.replace('\'', "''");
        // VACUUM INTO reads in one transaction of its own: a consistent copy.
        let copied = crate::db::untransacted(&self.pool, |conn| {
            Ok(conn.batch_execute(&format!("VACUUM INTO '{target}'"))?)
        });
        if copied.is_err() {
            let _ = std::fs::remove_file(out);
        }
        copied
    }
}

/// Opens the SQLite file `path` without changing it and reports what it holds; an error
/// when it is no Keyport database or is damaged.
pub fn verify_backup(path: &Path) -> StoreResult<BackupReport> {
    if !path.is_file() {
        return Err(StoreError::Config(format!("{} is not a file", path.display())));
    }
    let text = usable_path(path)?;
    // Read-only: a verification changes nothing, and works on read-only media.
    let uri = format!("file:{}?mode=ro", text.replace('%', "%25").replace('?', "%3f").replace('#', "%23"));
    let mut conn = SqliteConnection::establish(&uri)
        .map_err(|e| StoreError::Connect(format!("{}: {e}", path.display())))?;
    conn.batch_execute("PRAGMA trusted_schema = OFF;")?;
    let checks: Vec<Line> = diesel::sql_query("PRAGMA integrity_check").load(&mut conn)?;
    if checks.iter().any(|line| line.integrity_check != "ok") {
        let problems: Vec<String> = checks.into_iter().map(|l| l.integrity_check).collect();
        return Err(StoreError::Corrupt(format!("{} is damaged: {}", path.display(), problems.join("; "))));
    }
    let not_keyport =
        |what: &str| StoreError::Corrupt(format!("{} is no Keyport database: {what}", path.display()));
    let applied: Count = diesel::sql_query("SELECT COUNT(*) AS n FROM __diesel_schema_migrations")
        .get_result(&mut conn)
        .map_err(|_| not_keyport("it has no migration table"))?;
    let known = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
        .map_err(|e| StoreError::Corrupt(format!("the embedded migrations: {e}")))?
        .len();
    let pending = known.saturating_sub(usize::try_from(applied.n).unwrap_or(0));
    let rows = COUNTED_TABLES
        .iter()
        .map(|table| {
            // Only real tables count: a view or anything else of the same name is refused.
            let real: Count = diesel::sql_query(format!(
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
            ))
            .get_result(&mut conn)?;
            if real.n != 1 {
                return Err(not_keyport(&format!("{table} is not a table")));
            }
            let count: Count =
                diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}")).get_result(&mut conn)?;
            Ok((*table, count.n))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(BackupReport { pending_migrations: pending, rows })
}

/// A path SQLite gets as text exactly as the file system knows it.
fn usable_path(path: &Path) -> StoreResult<String> {
    let text =
        path.to_str().ok_or_else(|| StoreError::Config(format!("{} is not a UTF-8 path", path.display())))?;
    if text.starts_with("file:") {
        return Err(StoreError::Config(format!("{text}: name the file without a file: prefix")));
    }
    Ok(text.to_owned())
}

/// The lock every `keyport serve` holds (shared) on its SQLite database while it runs.
fn serve_lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".serve-lock");
    PathBuf::from(name)
}

/// Held by a running server: a restore cannot replace its database underneath it. The lock
/// is the open file; it is given back when this is dropped or the process ends.
#[derive(Debug)]
pub struct ServeLock {
    _file: std::fs::File,
}

impl ServeLock {
    /// Takes the shared lock of the database `url` names; `None` on PostgreSQL.
    pub fn take(url: &DatabaseUrl) -> StoreResult<Option<ServeLock>> {
        let Some(database) = url.sqlite_path() else { return Ok(None) };
        let path = serve_lock_path(database);
        let file = crate::files::owner_only_file(&path)
            .map_err(|e| StoreError::Connect(format!("cannot open {}: {e}", path.display())))?;
        file.lock_shared()
            .map_err(|e| StoreError::Connect(format!("cannot lock {}: {e}", path.display())))?;
        Ok(Some(ServeLock { _file: file }))
    }
}

/// Replaces the SQLite database `url` names with the verified backup `from`, when no
/// server uses it. The old database's write-ahead log goes with it.
pub fn restore(url: &DatabaseUrl, from: &Path) -> StoreResult<BackupReport> {
    let database = sqlite_only(url)?;
    let lock_path = serve_lock_path(database);
    let lock = crate::files::owner_only_file(&lock_path)
        .map_err(|e| StoreError::Config(format!("cannot open {}: {e}", lock_path.display())))?;
    if lock.try_lock().is_err() {
        return Err(StoreError::Config(format!(
            "a running keyport serve uses {}; stop it before restoring",
            database.display()
        )));
    }
    let sibling = |suffix: &str| {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let io = |what: &str, e: std::io::Error| StoreError::Config(format!("cannot {what}: {e}"));
    // The copy is made first and verified itself: what is put in place is what was checked.
    let staging = sibling(".restoring");
    let _ = std::fs::remove_file(&staging);
    {
        let mut target =
            crate::files::owner_only_file(&staging).map_err(|e| io("create the staging copy", e))?;
        let mut source = std::fs::File::open(from).map_err(|e| io("open the backup", e))?;
        std::io::copy(&mut source, &mut target).map_err(|e| io("copy the backup", e))?;
        target.sync_all().map_err(|e| io("write the staging copy", e))?;
    }
    let report = match verify_backup(&staging) {
        Ok(report) => report,
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            return Err(e);
        }
    };
    // The database it replaces is kept beside it, with its log, as <file>.before-restore.
    if database.exists() {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let side = sibling(suffix);
            if side.exists() {
                let kept = sibling(&format!("{suffix}.before-restore"));
                std::fs::rename(&side, &kept).map_err(|e| io("keep the database it replaces", e))?;
            }
        }
    }
    std::fs::rename(&staging, database).map_err(|e| io("put the backup in place", e))?;
    if let Some(folder) = database.parent().and_then(|p| std::fs::File::open(p).ok()) {
        let _ = folder.sync_all();
    }
    drop(lock);
    Ok(report)
}
