//! What `keyport sandbox` needs from the store: a snapshot of the seeded database, a reset
//! that restores it, and the mails the outbox captured (the sandbox sends none).

use std::path::Path;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::schema::outbox;
use crate::{Store, StoreError, StoreResult, utc};
use diesel::connection::SimpleConnection;

/// The most mails one answer lists.
pub const MAX_CAPTURED: i64 = 200;

/// A mail the outbox holds, as the sandbox shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedMail {
    /// Its id.
    pub id: String,
    /// The recipient.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Its `List-Unsubscribe` URL, for a marketing mail.
    pub list_unsubscribe: Option<String>,
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The tables a reset restores: every table of the database but the migrations' own
/// bookkeeping (`sqlite_sequence` too, so that restored counters go on as they did).
const TABLES: &str = "SELECT name FROM main.sqlite_master WHERE type = 'table' \
     AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name != '__diesel_schema_migrations' \
     UNION ALL SELECT name FROM main.sqlite_master WHERE name = 'sqlite_sequence' ORDER BY name";

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Store {
    /// Puts every row back as it was in the snapshot `file` (a [`Store::backup_to`] of this
    /// database) in one transaction, the clock back to the
    /// system's, and a fixed seed's requests' stream back to its beginning. Writers wait
    /// meanwhile; readers see the old rows or the restored ones. SQLite only.
    ///
    /// The copy runs on a connection of its own, closed afterwards: the pool's connections
    /// never see the attached snapshot or foreign keys switched off.
    pub fn restore_snapshot(&self, file: &Path) -> StoreResult<()> {
        let Some(database) = self.url.sqlite_path() else {
            return Err(StoreError::Config("a snapshot is restored on SQLite only".to_owned()));
        };
        let text = |p: &Path| {
            p.to_str()
                .map(|t| t.replace('\'', "''"))
                .ok_or_else(|| StoreError::Config(format!("{} is not a UTF-8 path", p.display())))
        };
        let snapshot = text(file)?;
        let target = database
            .to_str()
            .ok_or_else(|| StoreError::Config(format!("{} is not a UTF-8 path", database.display())))?;
        let _turn = self.write_gate.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut conn = diesel::sqlite::SqliteConnection::establish(target)
            .map_err(|e| StoreError::Connect(format!("{target}: {e}")))?;
        // ATTACH and the foreign-key switch refuse to run inside a transaction; the copy runs
        // in one. The keys are off meanwhile (tables are emptied and filled in name order, and
        // RESTRICT and CASCADE must not act on rows that come back as they were) and checked
        // before the commit.
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = OFF; ATTACH DATABASE '{snapshot}' AS seeded;"
        ))?;
        conn.immediate_transaction(|conn| {
            let names: Vec<TableName> = diesel::sql_query(TABLES).load(conn)?;
            for table in names {
                let name = quoted(&table.name);
                diesel::sql_query(format!("DELETE FROM main.{name}")).execute(conn)?;
                diesel::sql_query(format!("INSERT INTO main.{name} SELECT * FROM seeded.{name}"))
                    .execute(conn)?;
            }
            let broken: Vec<TableName> =
                diesel::sql_query("SELECT \"table\" AS name FROM pragma_foreign_key_check").load(conn)?;
            match broken.first() {
                Some(t) => {
                    Err(StoreError::Corrupt(format!("the snapshot breaks a foreign key of {}", t.name)))
                }
                None => Ok(()),
            }
        })?;
        crate::fixed_seed::restart_requests();
        self.reset_clock();
        self.signing_key.lock().unwrap_or_else(std::sync::PoisonError::into_inner).forget();
        Ok(())
    }

    /// The newest mails in the outbox, newest first, at most [`MAX_CAPTURED`]; only those to
    /// `to` (compared without regard to case) when given.
    pub fn captured_mails(&self, to: Option<&str>) -> StoreResult<Vec<CapturedMail>> {
        self.read(|conn| {
            let mut query = outbox::table
                .select((
                    outbox::id,
                    outbox::recipient,
                    outbox::subject,
                    outbox::body,
                    outbox::created_at,
                    outbox::list_unsubscribe,
                ))
                .order((outbox::created_at.desc(), outbox::id.desc()))
                .limit(MAX_CAPTURED)
                .into_boxed();
            if let Some(to) = to {
                let to = to.trim().to_lowercase();
                query = query.filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("lower(recipient) = ").bind::<Text, _>(to),
                );
            }
            type Row = (String, String, String, String, chrono::NaiveDateTime, Option<String>);
            let rows: Vec<Row> = query.load(conn)?;
            Ok(rows
                .into_iter()
                .map(|(id, to, subject, body, at, list_unsubscribe)| CapturedMail {
                    id,
                    to,
                    subject,
                    body,
                    created_at: utc(at),
                    list_unsubscribe,
                })
                .collect())
        })
    }
}
