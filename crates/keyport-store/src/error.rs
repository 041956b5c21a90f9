//! The store's error.
//!
//! Policy: a rule's "no" or an invalid value travels as [`StoreError::Domain`] with its
//! stable code and facts. Database and pool failures keep their cause for the log; a façade
//! shows them only as `unavailable` or `internal_error` ([`StoreError::code`]). Unique
//! violations and lock conflicts are retried inside the store (see `db::write`); one that
//! still escapes is a conflict the use case did not foresee and is reported as internal.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use keyport_core::{CoreError, ErrorCode};

/// Everything a use case can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A rule said no, or a value was invalid: shown to the caller as it is.
    #[error(transparent)]
    Domain(#[from] CoreError),
    /// The database failed a query.
    #[error("database error: {0}")]
    Database(#[from] DieselError),
    /// No connection could be opened at start.
    #[error("cannot connect to the database {0}")]
    Connect(String),
    /// No pooled connection became free in time.
    #[error("no database connection available: {0}")]
    Pool(String),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The configuration names no usable database.
    #[error("{0}")]
    Config(String),
    /// Stored data could not be read back into domain types.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The stable code a façade answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Domain(e) => e.code(),
            StoreError::Connect(_) | StoreError::Pool(_) => ErrorCode::Unavailable,
            StoreError::Database(e) if is_busy(e) || is_outage(e) => ErrorCode::Unavailable,
            StoreError::Database(_)
            | StoreError::Migration(_)
            | StoreError::Config(_)
            | StoreError::Corrupt(_) => ErrorCode::InternalError,
        }
    }

    /// The domain error, if this is one.
    pub fn as_domain(&self) -> Option<&CoreError> {
        match self {
            StoreError::Domain(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the connection the error came from is gone (the pool must not hand it out
    /// again).
    pub(crate) fn is_lost_connection(&self) -> bool {
        match self {
            StoreError::Database(e) => lost_connection(e),
            _ => false,
        }
    }

    /// Whether a second attempt of the same transaction can succeed.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            StoreError::Database(e) => {
                is_busy(e)
                    || matches!(
                        e,
                        DieselError::DatabaseError(
                            DatabaseErrorKind::SerializationFailure | DatabaseErrorKind::UniqueViolation,
                            _
                        )
                    )
            }
            _ => false,
        }
    }
}

/// SQLite's "database is locked" and PostgreSQL's deadlock or lock timeout.
fn is_busy(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(_, info) => {
            let m = info.message();
            m.contains("database is locked")
                || m.contains("database table is locked")
                || m.contains("deadlock detected")
        }
        _ => false,
    }
}

/// The database cannot take the request now, through no fault of the request: the
/// connection to PostgreSQL broke, or SQLite's file is full, read-only or failing.
fn is_outage(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(_, info) => {
            let m = info.message();
            lost_connection(e)
                || [
                    "database or disk is full",
                    "attempt to write a readonly database",
                    "disk I/O error",
                    "unable to open database file",
                    "could not connect to server",
                ]
                .iter()
                .any(|needle| m.contains(needle))
        }
        _ => false,
    }
}

/// The connection to PostgreSQL is gone (the server restarted, or the link broke).
fn lost_connection(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        DieselError::DatabaseError(_, info) => {
            let m = info.message();
            [
                "server closed the connection",
                "terminating connection",
                "connection to server",
                "no connection to the server",
            ]
            .iter()
            .any(|needle| m.contains(needle))
        }
        _ => false,
    }
}

/// Reads a stored value back through a core constructor; a failure means the database holds
/// something core would never have let in.
pub(crate) fn stored<T>(what: &str, result: Result<T, CoreError>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}
