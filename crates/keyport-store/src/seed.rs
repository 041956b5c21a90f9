//! Bulk seeding for benchmarks and load tests: many licenses in a few statements.

use diesel::sql_types::{BigInt, Text, Timestamp};

use crate::db::DbConn;
use crate::schema::licenses;
use crate::{Context, Store, StoreResult, stored_time};

/// Rows per statement.
const BATCH: u64 = 100_000;

/// The rows a seeded order made, which bulk rows refer to.
struct OrderRows {
    ticket: String,
    line: String,
    item: String,
}

impl Store {
    /// An order of one license of `sku` for nobody, numbered `<kind>-<id>`: the number
    /// and its ticket, order line and item.
    fn seed_order(&self, ctx: &Context, kind: &str, sku: &str) -> StoreResult<(String, OrderRows)> {
        use diesel::prelude::*;
        let number = format!("{kind}-{}", crate::new_id());
        let request = keyport_core::OrderRequest::new(
            keyport_core::ShopName::parse("bench")?,
            keyport_core::ExternalOrderNumber::parse(&number)?,
            keyport_core::OrderCustomer::None,
            vec![keyport_core::OrderLine::new(1, keyport_core::Sku::parse(sku)?, 1)?],
        )?;
        let order = self.create_order(ctx, &request)?;
        let license = order.order.lines[0].license_ids[0].to_string();
        let (ticket, line, item): (String, String, String) = self.read(|conn| {
            Ok(licenses::table
                .filter(licenses::id.eq(&license))
                .select((licenses::ticket_id, licenses::order_line_id, licenses::item_id))
                .first(conn)?)
        })?;
        Ok((number, OrderRows { ticket, line, item }))
    }

    /// Adds `count` licenses of the item `sku` on a ticket of their own (registered to
    /// nobody): data that is there but that no customer sees. Their ids are `filler-...`,
    /// not UUIDs, and they are never activated.
    pub fn seed_filler_licenses(&self, ctx: &Context, sku: &str, count: u64) -> StoreResult<()> {
        use diesel::RunQueryDsl;
        let (number, OrderRows { ticket, line, item }) = self.seed_order(ctx, "filler", sku)?;
        let now = stored_time(ctx.now);
        let mut done = 0;
        while done < count {
            let n = BATCH.min(count - done);
            let prefix = format!("{number}-{done}-");
            self.write(|conn| {
                let sql = match conn {
                    DbConn::Sqlite(_) => {
                        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?) \
                         INSERT INTO licenses (id, ticket_id, order_line_id, item_id, starts_at, created_at, lock_version) \
                         SELECT ? || n, ?, ?, ?, ?, ?, 0 FROM seq"
                    }
                    DbConn::Pg(_) => {
                        "INSERT INTO licenses (id, ticket_id, order_line_id, item_id, starts_at, created_at, lock_version) \
                         SELECT $2 || n, $3, $4, $5, $6, $7, 0 FROM generate_series(1, $1) AS n"
                    }
                };
                diesel::sql_query(sql)
                    .bind::<BigInt, _>(i64::try_from(n).unwrap_or(i64::MAX))
                    .bind::<Text, _>(&prefix)
                    .bind::<Text, _>(&ticket)
                    .bind::<Text, _>(&line)
                    .bind::<Text, _>(&item)
                    .bind::<Timestamp, _>(now)
                    .bind::<Timestamp, _>(now)
                    .execute(conn)?;
                Ok(())
            })?;
            done += n;
        }
        Ok(())
    }
}

impl Store {
    /// Refreshes the planner statistics of every table (`ANALYZE`), as autovacuum or an
    /// operator does after a bulk import.
    pub fn refresh_statistics(&self) -> StoreResult<()> {
        self.write(|conn| {
            diesel::RunQueryDsl::execute(diesel::sql_query("ANALYZE"), conn)?;
            Ok(())
        })
    }
}

/// The first days of the seeded histories lie this many days before now.
pub const HISTORY_DAYS: i64 = 1000;

impl Store {
    /// Adds a history of `count` activations (rounded up to an even number) of the item
    /// `sku` for the analytics benchmark, in pairs on a license each: the first machine
    /// was activated within the first 600 of the last 1000 days; on three licenses in four
    /// its seat moved after 20 to 400 days (by recovery or by a deactivation and an
    /// activation elsewhere) to the second machine, which is still active; on the fourth
    /// both machines stay active (censored). Each activation has usage days (the first
    /// machine two, with versions 1.x, the second one, with 2.0.0) and their session
    /// lengths. Ids are `history-...`; nobody owns these licenses.
    pub fn seed_history(&self, ctx: &Context, sku: &str, count: u64) -> StoreResult<()> {
        let (number, OrderRows { ticket, line, item }) = self.seed_order(ctx, "history", sku)?;
        let base = (ctx.now.date_naive() - chrono::Days::new(HISTORY_DAYS.unsigned_abs()))
            .format("%Y-%m-%d 00:00:00")
            .to_string();
        let pairs = count.div_ceil(2);
        let mut done = 0;
        while done < pairs {
            let n = (BATCH / 2).min(pairs - done).to_string();
            let prefix = format!("{number}-{done}-");
            self.write(|conn| {
                let pg = matches!(conn, DbConn::Pg(_));
                for (sql, extra) in history_statements(pg) {
                    let mut query = diesel::sql_query(sql).into_boxed::<crate::db::Db>();
                    for value in [&n, &base, &prefix].into_iter().chain(extra.iter().map(|e| match e {
                        Extra::Ticket => &ticket,
                        Extra::Line => &line,
                        Extra::Item => &item,
                    })) {
                        query = query.bind::<Text, _>(value.clone());
                    }
                    diesel::RunQueryDsl::execute(query, conn)?;
                }
                Ok(())
            })?;
            done += (BATCH / 2).min(pairs - done);
        }
        Ok(())
    }
}

/// Parameters after the first three (pairs, base day, id prefix).
enum Extra {
    Ticket,
    Line,
    Item,
}

/// The statements of one batch of [`Store::seed_history`], each starting with the same
/// pairs: licenses, machines, activations, usage days and session lengths.
fn history_statements(pg: bool) -> Vec<(String, Vec<Extra>)> {
    let p = |n: usize| if pg { format!("${n}") } else { format!("?{n}") };
    let at = |days: &str| {
        if pg {
            format!("(CAST($2 AS TIMESTAMP) + ({days}) * INTERVAL '1 day')")
        } else {
            format!("datetime(?2, '+' || ({days}) || ' days')")
        }
    };
    let seq = if pg {
        "SELECT generate_series(1, CAST($1 AS BIGINT))".to_owned()
    } else {
        "SELECT 1 UNION ALL SELECT p + 1 FROM seq WHERE p < CAST(?1 AS INTEGER)".to_owned()
    };
    let (prefix, os) = (p(3), "CASE p % 3 WHEN 0 THEN 'windows' WHEN 1 THEN 'macos' ELSE 'linux' END");
    // g: each pair's first day and the days until its seat moved; act: both activations.
    let with = format!(
        "WITH RECURSIVE seq(p) AS ({seq}), \
         g AS (SELECT p, (p * 7919) % 600 AS st, 20 + (p * 104729) % 380 AS life FROM seq), \
         act AS (\
           SELECT p, 'a' AS s, st AS d0, CASE WHEN p % 4 = 0 THEN NULL ELSE st + life END AS d1, \
             CASE WHEN p % 4 = 0 THEN 'active' WHEN p % 2 = 1 THEN 'recovered' ELSE 'deactivated' END AS state, \
             '1.' || (p % 3) || '.0' AS version, {os} AS os FROM g \
           UNION ALL \
           SELECT p, 'b', st + CASE WHEN p % 4 = 0 THEN life / 2 ELSE life END, NULL, 'active', '2.0.0', {os} FROM g), \
         used AS (\
           SELECT p, s, d0 AS d, version, os FROM act \
           UNION ALL SELECT p, s, d0 + 10, version, os FROM act WHERE s = 'a') "
    );
    vec![
        (
            format!(
                "{with}INSERT INTO licenses (id, ticket_id, order_line_id, item_id, starts_at, created_at, lock_version) \
                 SELECT {prefix} || 'l' || p, {}, {}, {}, {}, {}, 0 FROM g",
                p(4),
                p(5),
                p(6),
                at("0"),
                at("0")
            ),
            vec![Extra::Ticket, Extra::Line, Extra::Item],
        ),
        (
            format!(
                "{with}INSERT INTO machines (id, public_key, fingerprint, created_at) \
                 SELECT {prefix} || 'm' || p || s, 'key-' || {prefix} || p || s, 'fp-' || {prefix} || p || s, {} FROM act",
                at("d0")
            ),
            vec![],
        ),
        (
            format!(
                "{with}INSERT INTO activations (id, license_id, machine_id, state, started_at, ended_at, \
                   client_version, client_os) \
                 SELECT {prefix} || 'a' || p || s, {prefix} || 'l' || p, {prefix} || 'm' || p || s, state, {}, {}, \
                   version, os FROM act",
                at("d0"),
                at("d1")
            ),
            vec![],
        ),
        (
            format!(
                "{with}INSERT INTO usage_days (activation_id, day, version, os, checkins, sessions, seconds) \
                 SELECT {prefix} || 'a' || p || s, {}, version, os, 3, 2, 2 * (300 + (p % 40) * 60) FROM used",
                at("d")
            ),
            vec![],
        ),
        (
            format!(
                "{with}INSERT INTO usage_session_lengths (day, item_id, version, os, bucket, sessions) \
                 SELECT {}, {}, version, os, 300 + (p % 40) * 60, CAST(SUM(2) AS INTEGER) FROM used \
                 GROUP BY d, version, os, p % 40 \
                 ON CONFLICT (day, item_id, version, os, bucket) \
                 DO UPDATE SET sessions = usage_session_lengths.sessions + excluded.sessions",
                at("d"),
                p(4)
            ),
            vec![Extra::Item],
        ),
    ]
}

impl Store {
    /// Adds `count` customers (English, no licenses) who confirmed marketing consent, for
    /// the segment export benchmark: ids `0000000b-0000-7000-8000-<n>`, addresses
    /// `subscriber-<n>@bench.example`, numbered on from `first`; names folded as the server
    /// folds them (else its start would fold a million names first).
    pub fn seed_subscribers(&self, ctx: &Context, first: u64, count: u64) -> StoreResult<()> {
        let now = stored_time(ctx.now);
        let mut done = 0;
        while done < count {
            let n = BATCH.min(count - done);
            let (from, to) = (
                i64::try_from(first + done).unwrap_or(i64::MAX),
                i64::try_from(first + done + n).unwrap_or(i64::MAX),
            );
            self.write(|conn| {
                let sql = match conn {
                    DbConn::Sqlite(_) => {
                        "WITH RECURSIVE seq(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < ?) \
                         INSERT INTO customers (id, email, name, name_folded, created_at, language, marketing_consent, marketing_consent_at) \
                         SELECT '0000000b-0000-7000-8000-' || printf('%012d', n), 'subscriber-' || n || '@bench.example', \
                         'Subscriber ' || n, 'subscriber ' || n, ?, 'en', 'subscribed', ? FROM seq"
                    }
                    DbConn::Pg(_) => {
                        "INSERT INTO customers (id, email, name, name_folded, created_at, language, marketing_consent, marketing_consent_at) \
                         SELECT '0000000b-0000-7000-8000-' || lpad(n::text, 12, '0'), 'subscriber-' || n || '@bench.example', \
                         'Subscriber ' || n, 'subscriber ' || n, $3, 'en', 'subscribed', $4 FROM generate_series($1, $2 - 1) AS n"
                    }
                };
                diesel::RunQueryDsl::execute(
                    diesel::sql_query(sql)
                        .bind::<BigInt, _>(from)
                        .bind::<BigInt, _>(to)
                        .bind::<Timestamp, _>(now)
                        .bind::<Timestamp, _>(now),
                    conn,
                )?;
                Ok(())
            })?;
            done += n;
        }
        Ok(())
    }
}
