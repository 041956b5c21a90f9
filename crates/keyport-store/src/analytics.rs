//! Analytics: who uses the software, how much, and for how long, counted by the database in
//! one pass per question (aggregations over indexes, never every row loaded into memory).
//! The store answers counts; core turns them into shares, medians and survival curves.
//!
//! The two backends differ only in date arithmetic, which [`Dialect`] writes: the same
//! question gives the same counts on SQLite and PostgreSQL.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::RunQueryDsl;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use keyport_api::{
    ActivityReport, ActivityRowView, AdoptionPeriodView, AdoptionReport, LifetimeCurveView, LifetimeReport,
    ReleaseAdoptionView, SurvivalPointView, UsageReportView, UsageRowView, VersionShareView,
};
use keyport_core::CoreError;
use keyport_core::analytics::{self, AnalyticsFilter, DayRange, LifetimeGroup, Period, UsageSplit};
use keyport_core::release::ReleaseVersion;
use keyport_core::stats;
use keyport_core::stats::TimeCount;

use crate::db::{Db, DbConn};
use crate::schema::{items, releases};
use crate::{Store, StoreResult, catalog};

/// The lifetimes of one group: how many ended and how many were censored at each length
/// (whole days).
#[derive(Debug, Clone, PartialEq)]
pub struct LifetimeCounts {
    /// The group (`""` for all).
    pub group: String,
    /// Counts per length in days.
    pub counts: Vec<TimeCount>,
}

/// Usage in one period (and version or OS, by the split).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCounts {
    /// The first day of the period.
    pub period: NaiveDate,
    /// The version or OS (`""` without a split; `unknown` for a machine that never said).
    pub key: String,
    /// Machines that checked in, reported a session or were activated in the period.
    pub machines: u64,
    /// Check-ins.
    pub checkins: u64,
    /// Sessions (counted on the day they started, once closed).
    pub sessions: u64,
    /// Seconds of use in those sessions.
    pub seconds: u64,
    /// Session lengths: (bucket's lower bound in seconds, sessions).
    pub lengths: Vec<(i64, u64)>,
}

/// What happened to licenses in one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActivityCounts {
    /// Activations started (emergency licenses not counted).
    pub activations: u64,
    /// Machines that gave their seat back.
    pub deactivations: u64,
    /// Seats moved from a lost machine.
    pub recoveries: u64,
    /// Emergency licenses started.
    pub emergency: u64,
    /// Demo licenses given.
    pub demos: u64,
    /// Of those demos, how many were followed by a purchase.
    pub converted: u64,
}

/// A published release of the product: its version and when it was published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedRelease {
    /// The version.
    pub version: String,
    /// When it was published.
    pub published_at: DateTime<Utc>,
}

/// The SQL that differs between the backends.
struct Dialect {
    pg: bool,
}

impl Dialect {
    fn of(conn: &DbConn) -> Dialect {
        Dialect { pg: matches!(conn, DbConn::Pg(_)) }
    }

    /// The n-th (1-based) bound parameter.
    fn param(&self, n: usize) -> String {
        if self.pg { format!("${n}") } else { format!("?{n}") }
    }

    /// The n-th parameter, a time `YYYY-MM-DD HH:MM:SS` compared with a stored time.
    fn time(&self, n: usize) -> String {
        if self.pg { format!("CAST(${n} AS TIMESTAMP)") } else { format!("?{n}") }
    }

    /// Whole days from `a` to `b` (rounded down; a negative span, which only a clock set
    /// back can make, rounds toward zero on SQLite, and the callers count it as 0).
    fn days(&self, a: &str, b: &str) -> String {
        if self.pg {
            // Each time to whole seconds first, as SQLite's unixepoch() does; in whole days
            // and times of day (integers), not EXTRACT(EPOCH) (numeric, slow on a million
            // rows): floor((b - a) / day) is the days between the dates, one less when b's
            // time of day is earlier than a's.
            format!(
                "(CAST(CAST({b} AS DATE) - CAST({a} AS DATE) AS BIGINT) - CASE WHEN \
                 CAST(date_trunc('second', {b}) AS TIME) < CAST(date_trunc('second', {a}) AS TIME) THEN 1 ELSE 0 END)"
            )
        } else {
            format!("((unixepoch({b}) - unixepoch({a})) / 86400)")
        }
    }

    /// The first day of the period holding `t`, as text `YYYY-MM-DD`.
    fn period(&self, t: &str, period: Period) -> String {
        match (self.pg, period) {
            (true, Period::Day) => format!("to_char(date_trunc('day', {t}), 'YYYY-MM-DD')"),
            (true, Period::Week) => format!("to_char(date_trunc('week', {t}), 'YYYY-MM-DD')"),
            (true, Period::Month) => format!("to_char(date_trunc('month', {t}), 'YYYY-MM-DD')"),
            (false, Period::Day) => format!("date({t})"),
            (false, Period::Week) => format!("date({t}, 'weekday 0', '-6 days')"),
            (false, Period::Month) => format!("date({t}, 'start of month')"),
        }
    }

    /// The major version of a version text: its leading digits (at most 9), as a number;
    /// NULL when it does not start with a digit.
    fn major(&self, v: &str) -> String {
        if self.pg {
            format!("CAST(substring({v} from '^[0-9]{{1,9}}') AS BIGINT)")
        } else {
            format!(
                "(CASE WHEN substr({v}, 1, 1) BETWEEN '0' AND '9' THEN CAST(substr({v}, 1, 9) AS INTEGER) END)"
            )
        }
    }

    /// Text of a number (for a group key).
    fn text(&self, e: &str) -> String {
        format!("CAST({e} AS TEXT)")
    }
}

/// A query with its text parameters, numbered as they are added.
struct Query {
    params: Vec<String>,
}

impl Query {
    fn new() -> Query {
        Query { params: Vec::new() }
    }

    /// Adds a parameter and answers its number.
    fn add(&mut self, value: impl Into<String>) -> usize {
        self.params.push(value.into());
        self.params.len()
    }

    fn run<T: QueryableByName<Db> + 'static>(&self, conn: &mut DbConn, sql: &str) -> StoreResult<Vec<T>> {
        let mut query = diesel::sql_query(sql).into_boxed::<Db>();
        for p in &self.params {
            query = query.bind::<Text, _>(p.clone());
        }
        Ok(query.load(conn)?)
    }
}

/// The joins from `a` (activations) to `l` (licenses) and `i` (items).
const ITEM_JOINS: &str = "JOIN licenses l ON l.id = a.license_id JOIN items i ON i.id = l.item_id";

/// The product (and item) conditions on `i` (items), with their parameters.
struct Scope {
    product_id: String,
    item_id: Option<String>,
}

impl Scope {
    fn load(conn: &mut DbConn, filter: &AnalyticsFilter) -> StoreResult<Scope> {
        let product = catalog::find_product(conn, filter.product.as_str())?;
        let item_id = match &filter.item {
            None => None,
            Some(sku) => Some(
                items::table
                    .filter(items::sku.eq(sku.as_str()))
                    .filter(items::product_id.eq(&product.id))
                    .select(items::id)
                    .first::<String>(conn)
                    .optional()?
                    .ok_or_else(|| CoreError::not_found("item"))?,
            ),
        };
        Ok(Scope { product_id: product.id, item_id })
    }

    /// A new query with the product condition and the range's bounds as parameters:
    /// (query, condition, from, to).
    fn start(&self, d: &Dialect, range: DayRange) -> (Query, String, String, String) {
        let mut q = Query::new();
        let product = self.condition(d, &mut q);
        let (from, to) = (d.time(q.add(day_text(range.from))), d.time(q.add(day_text(range.to))));
        (q, product, from, to)
    }

    /// `i.product_id = $n [AND i.id = $m]`.
    fn condition(&self, d: &Dialect, q: &mut Query) -> String {
        let mut sql = format!("i.product_id = {}", d.param(q.add(&self.product_id)));
        if let Some(item) = &self.item_id {
            sql += &format!(" AND i.id = {}", d.param(q.add(item)));
        }
        sql
    }
}

fn day_text(day: NaiveDate) -> String {
    format!("{} 00:00:00", day.format("%Y-%m-%d"))
}

fn time_text(t: DateTime<Utc>) -> String {
    t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

fn date_of(text: &str) -> StoreResult<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| crate::StoreError::Corrupt(format!("period '{text}': {e}")))
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[derive(QueryableByName)]
struct LifetimeRow {
    #[diesel(sql_type = Text)]
    grp: String,
    #[diesel(sql_type = BigInt)]
    days: i64,
    #[diesel(sql_type = BigInt)]
    ended: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct MachinesRow {
    #[diesel(sql_type = Text)]
    p: String,
    #[diesel(sql_type = Text)]
    k: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct SumsRow {
    #[diesel(sql_type = Text)]
    p: String,
    #[diesel(sql_type = Text)]
    k: String,
    #[diesel(sql_type = BigInt)]
    checkins: i64,
    #[diesel(sql_type = BigInt)]
    sessions: i64,
    #[diesel(sql_type = BigInt)]
    seconds: i64,
}

#[derive(QueryableByName)]
struct LengthRow {
    #[diesel(sql_type = Text)]
    p: String,
    #[diesel(sql_type = Text)]
    k: String,
    #[diesel(sql_type = BigInt)]
    bucket: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct KindRow {
    #[diesel(sql_type = Text)]
    p: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Folds lifetime rows into counts per group.
fn lifetime_counts(rows: Vec<LifetimeRow>) -> Vec<LifetimeCounts> {
    let mut groups: BTreeMap<String, Vec<TimeCount>> = BTreeMap::new();
    for row in rows {
        let n = count(row.n);
        let (events, censored) = if row.ended != 0 { (n, 0) } else { (0, n) };
        groups.entry(row.grp).or_default().push(TimeCount { time: row.days.max(0) as f64, events, censored });
    }
    groups.into_iter().map(|(group, counts)| LifetimeCounts { group, counts }).collect()
}

/// The group key of a lifetime query, over `i` (items) and `c` (customers).
fn group_key(group: LifetimeGroup) -> &'static str {
    match group {
        // Machines have no major version: one curve.
        LifetimeGroup::All | LifetimeGroup::Major => "''",
        LifetimeGroup::Item => "i.sku",
        LifetimeGroup::Language => "COALESCE(c.language, '')",
    }
}

/// The joins from `a` (activations) to items and customers.
const LICENSE_JOINS: &str = "JOIN licenses l ON l.id = a.license_id JOIN items i ON i.id = l.item_id \
    LEFT JOIN tickets t ON t.id = l.ticket_id LEFT JOIN customers c ON c.id = t.customer_id";

/// The lifetime of a machine: from its first activation to the end of the first activation
/// that moved its seat away (a recovery, or a deactivation followed by an activation of the
/// same license on another machine); a machine that still runs is censored at `now`, one
/// whose licenses all ended otherwise (expired, revoked, deactivated for good) at the last
/// end. Emergency licenses that were not converted and pending activations are not
/// machines in use. `born` restricts to machines first activated in a range.
fn machine_lifetime_sql(
    d: &Dialect,
    q: &mut Query,
    scope: &Scope,
    group: LifetimeGroup,
    now: DateTime<Utc>,
    born: Option<DayRange>,
) -> String {
    let now = d.time(q.add(time_text(now)));
    let product = scope.condition(d, q);
    let key = group_key(group);
    let born = born.map_or(String::new(), |r| {
        format!(
            " HAVING MIN(started_at) >= {} AND MIN(started_at) < {}",
            d.time(q.add(day_text(r.from))),
            d.time(q.add(day_text(r.to)))
        )
    });
    let days = d.days("born", "COALESCE(died, last_seen)");
    format!(
        "WITH a AS (\
            SELECT a.machine_id, {key} AS grp, a.started_at, a.ended_at, \
              CASE WHEN a.state = 'recovered' THEN 1 \
                   WHEN a.state = 'deactivated' AND EXISTS (SELECT 1 FROM activations b \
                     WHERE b.license_id = a.license_id AND b.machine_id <> a.machine_id \
                     AND b.started_at >= a.ended_at) THEN 1 ELSE 0 END AS moved \
            FROM activations a {LICENSE_JOINS} \
            WHERE {product} AND a.state <> 'pending' AND a.started_at <= {now} \
              AND (a.emergency_until IS NULL OR a.converted_at IS NOT NULL)), \
         m AS (\
            SELECT grp, MIN(started_at) AS born, \
              MIN(CASE WHEN moved = 1 THEN ended_at END) AS died, \
              MAX(COALESCE(ended_at, {now})) AS last_seen \
            FROM a GROUP BY machine_id, grp{born}) \
         SELECT grp, {days} AS days, CAST(CASE WHEN died IS NULL THEN 0 ELSE 1 END AS BIGINT) AS ended, \
           CAST(COUNT(*) AS BIGINT) AS n \
         FROM m GROUP BY 1, 2, 3"
    )
}

/// The lifetime of a major version on a machine (an activation), from the usage the
/// software reported: from the first day it was seen to the first day a later major version
/// was seen; without a later one, it ended on its last day seen when that is more than
/// [`keyport_core::analytics::VERSION_SILENCE_DAYS`] ago, and is censored there otherwise.
fn version_lifetime_sql(
    d: &Dialect,
    q: &mut Query,
    scope: &Scope,
    group: LifetimeGroup,
    now: DateTime<Utc>,
    born: Option<DayRange>,
) -> String {
    let silent_since = now - chrono::Duration::days(keyport_core::analytics::VERSION_SILENCE_DAYS);
    let silent = d.time(q.add(time_text(silent_since)));
    let product = scope.condition(d, q);
    let major = d.major("u.version");
    let key = match group {
        LifetimeGroup::All => "''".to_owned(),
        LifetimeGroup::Item => "sku".to_owned(),
        LifetimeGroup::Language => "language".to_owned(),
        LifetimeGroup::Major => d.text("major"),
    };
    let born = born.map_or(String::new(), |r| {
        format!(
            " AND first_day >= {} AND first_day < {}",
            d.time(q.add(day_text(r.from))),
            d.time(q.add(day_text(r.to)))
        )
    });
    let ended = format!("CASE WHEN next_day IS NOT NULL OR last_day < {silent} THEN 1 ELSE 0 END");
    // Seen on its last day: that day counts; moved on: the later version's first day ends it.
    let days = d.days("first_day", "COALESCE(next_day, last_day)");
    let days = format!("({days} + CASE WHEN next_day IS NULL THEN 1 ELSE 0 END)");
    format!(
        "WITH u AS (\
            SELECT u.activation_id, {major} AS major, MIN(u.day) AS first_day, MAX(u.day) AS last_day, \
              MIN(i.sku) AS sku, MIN(COALESCE(c.language, '')) AS language \
            FROM usage_days u JOIN activations a ON a.id = u.activation_id {LICENSE_JOINS} \
            WHERE {product} AND {major} IS NOT NULL \
            GROUP BY u.activation_id, {major}), \
         v AS (\
            SELECT major, sku, language, first_day, last_day, \
              MIN(first_day) OVER (PARTITION BY activation_id ORDER BY major \
                ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_day \
            FROM u) \
         SELECT {key} AS grp, {days} AS days, CAST({ended} AS BIGINT) AS ended, CAST(COUNT(*) AS BIGINT) AS n \
         FROM v WHERE 1 = 1{born} GROUP BY 1, 2, 3"
    )
}

/// The period and key expressions of a usage query over `d` (usage_days) or `a`.
fn split_key(split: UsageSplit, version: &str, os: &str) -> String {
    match split {
        UsageSplit::All => "''".to_owned(),
        UsageSplit::Version => format!("COALESCE({version}, 'unknown')"),
        UsageSplit::Os => format!("COALESCE({os}, 'unknown')"),
    }
}

/// The usage filters (version, OS) on columns.
fn usage_filter(d: &Dialect, q: &mut Query, filter: &AnalyticsFilter, version: &str, os: &str) -> String {
    let mut sql = String::new();
    if let Some(v) = &filter.version {
        sql += &format!(" AND {version} = {}", d.param(q.add(v)));
    }
    if let Some(o) = &filter.os {
        sql += &format!(" AND {os} = {}", d.param(q.add(o.to_ascii_lowercase())));
    }
    sql
}

impl Store {
    /// The lifetimes of the product's machines (PCs, see [`machine_lifetime_sql`]) or of
    /// its major versions on machines (see [`version_lifetime_sql`]), counted per group and
    /// length in days, for those first seen in `born` (all when `None`).
    pub fn lifetimes(
        &self,
        subject: LifetimeSubject,
        filter: &AnalyticsFilter,
        group: LifetimeGroup,
        born: Option<DayRange>,
    ) -> StoreResult<Vec<LifetimeCounts>> {
        let now = self.now();
        self.analytics_read(|conn| {
            let d = Dialect::of(conn);
            let scope = Scope::load(conn, filter)?;
            let mut q = Query::new();
            let sql = match subject {
                LifetimeSubject::Machines => machine_lifetime_sql(&d, &mut q, &scope, group, now, born),
                LifetimeSubject::Versions => version_lifetime_sql(&d, &mut q, &scope, group, now, born),
            };
            Ok(lifetime_counts(q.run(conn, &sql)?))
        })
    }

    /// Usage of the product per period in `range` (and version or OS by `split`): active
    /// machines (a check-in, a session or an activation in the period), check-ins,
    /// sessions, seconds of use and the session-length histogram. Periods without any use
    /// are left out.
    pub fn usage_counts(
        &self,
        filter: &AnalyticsFilter,
        period: Period,
        range: DayRange,
        split: UsageSplit,
    ) -> StoreResult<Vec<UsageCounts>> {
        self.analytics_read(|conn| {
            let d = Dialect::of(conn);
            let scope = Scope::load(conn, filter)?;
            let question = UsageQuestion { d: &d, scope: &scope, filter, period, range, split };
            let mut rows: BTreeMap<(String, String), UsageCounts> = BTreeMap::new();
            for row in active_machines(conn, &question)? {
                usage_entry(&mut rows, row.p, row.k)?.machines = count(row.n);
            }
            for row in usage_sums(conn, &question)? {
                let e = usage_entry(&mut rows, row.p, row.k)?;
                (e.checkins, e.sessions, e.seconds) =
                    (count(row.checkins), count(row.sessions), count(row.seconds));
            }
            for row in session_lengths(conn, &question)? {
                usage_entry(&mut rows, row.p, row.k)?.lengths.push((row.bucket, count(row.n)));
            }
            Ok(rows.into_values().collect())
        })
    }

    /// What happened to the product's licenses per period in `range`: activations,
    /// deactivations, recoveries, emergency licenses, demos and demos later bought.
    pub fn activity_counts(
        &self,
        filter: &AnalyticsFilter,
        period: Period,
        range: DayRange,
    ) -> StoreResult<Vec<(NaiveDate, ActivityCounts)>> {
        self.analytics_read(|conn| {
            let d = Dialect::of(conn);
            let scope = Scope::load(conn, filter)?;
            let (q, product, from, to) = scope.start(&d, range);
            let within = |col: &str| format!("{col} >= {from} AND {col} < {to}");
            let (started, ended, created) =
                (d.period("a.started_at", period), d.period("a.ended_at", period), d.period("l.created_at", period));
            let sql = format!(
                "SELECT p, kind, CAST(COUNT(*) AS BIGINT) AS n FROM (\
                   SELECT {started} AS p, CASE WHEN a.emergency_until IS NULL THEN 'activation' ELSE 'emergency' END AS kind \
                   FROM activations a {ITEM_JOINS} \
                   WHERE {product} AND {} \
                   UNION ALL \
                   SELECT {ended} AS p, a.state AS kind \
                   FROM activations a {ITEM_JOINS} \
                   WHERE {product} AND a.state IN ('deactivated', 'recovered') AND {} \
                   UNION ALL \
                   SELECT {created} AS p, CASE WHEN EXISTS (SELECT 1 FROM demo_claims dc WHERE dc.license_id = l.id \
                     AND dc.converted_order_id IS NOT NULL) THEN 'converted' ELSE 'demo' END AS kind \
                   FROM licenses l JOIN items i ON i.id = l.item_id \
                   WHERE {product} AND i.license_model = 'demo' AND {}) x GROUP BY p, kind",
                within("a.started_at"),
                within("a.ended_at"),
                within("l.created_at"),
            );
            let mut periods: BTreeMap<NaiveDate, ActivityCounts> = BTreeMap::new();
            for row in q.run::<KindRow>(conn, &sql)? {
                let counts = periods.entry(date_of(&row.p)?).or_default();
                let n = count(row.n);
                match row.kind.as_str() {
                    "activation" => counts.activations += n,
                    "emergency" => counts.emergency += n,
                    "deactivated" => counts.deactivations += n,
                    "recovered" => counts.recoveries += n,
                    "converted" => {
                        counts.demos += n;
                        counts.converted += n;
                    }
                    "demo" => counts.demos += n,
                    other => return Err(crate::StoreError::Corrupt(format!("activity kind '{other}'"))),
                }
            }
            Ok(periods.into_iter().collect())
        })
    }

    /// The product's published releases (yanked ones too: they were used), oldest first.
    pub fn published_releases(&self, product: &str) -> StoreResult<Vec<PublishedRelease>> {
        self.read_each(|conn| {
            let product = catalog::find_product(conn, product)?;
            let rows: Vec<(String, Option<chrono::NaiveDateTime>)> = releases::table
                .filter(releases::product_id.eq(&product.id))
                .filter(releases::published_at.is_not_null())
                .order(releases::published_at.asc())
                .select((releases::version, releases::published_at))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .filter_map(|(version, at)| Some(PublishedRelease { version, published_at: crate::utc(at?) }))
                .collect())
        })
    }

    /// Runs a report's reads in one transaction that sees one snapshot (SQLite's read
    /// transaction; on PostgreSQL `REPEATABLE READ, READ ONLY`, so that the several
    /// statements of a usage report count the same check-ins). On PostgreSQL, for this
    /// transaction only: a statement may run at most [`ANALYTICS_STATEMENT_TIMEOUT`]; each
    /// sort may hold [`ANALYTICS_WORK_MEM`] (a hash twice that, PostgreSQL's default
    /// `hash_mem_multiplier`) before it spills to disk (the default 4 MB made a report over a
    /// million machines sort on disk); and no JIT compilation (it cost up to 1.5 s per
    /// report, more than it saved).
    pub(crate) fn analytics_read<T>(&self, f: impl FnOnce(&mut DbConn) -> StoreResult<T>) -> StoreResult<T> {
        self.read(|conn| {
            if let DbConn::Pg(_) = conn {
                for setting in [
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY".to_owned(),
                    format!("SET LOCAL statement_timeout = '{ANALYTICS_STATEMENT_TIMEOUT}'"),
                    format!("SET LOCAL work_mem = '{ANALYTICS_WORK_MEM}'"),
                    "SET LOCAL jit = off".to_owned(),
                ] {
                    diesel::sql_query(setting).execute(conn)?;
                }
            }
            f(conn)
        })
    }
}

/// The longest one report statement may run on PostgreSQL.
pub const ANALYTICS_STATEMENT_TIMEOUT: &str = "60s";

/// The memory one sort or hash of a report may use on PostgreSQL before spilling to disk.
pub const ANALYTICS_WORK_MEM: &str = "64MB";

/// The row of a period and key, made empty when new.
fn usage_entry(
    rows: &mut BTreeMap<(String, String), UsageCounts>,
    p: String,
    k: String,
) -> StoreResult<&mut UsageCounts> {
    let period = date_of(&p)?;
    Ok(rows.entry((p, k.clone())).or_insert_with(|| UsageCounts {
        period,
        key: k,
        machines: 0,
        checkins: 0,
        sessions: 0,
        seconds: 0,
        lengths: Vec::new(),
    }))
}

/// One usage question: its dialect, product scope, filter, period, range and split.
#[derive(Clone, Copy)]
struct UsageQuestion<'a> {
    d: &'a Dialect,
    scope: &'a Scope,
    filter: &'a AnalyticsFilter,
    period: Period,
    range: DayRange,
    split: UsageSplit,
}

fn active_machines(conn: &mut DbConn, u: &UsageQuestion<'_>) -> StoreResult<Vec<MachinesRow>> {
    let UsageQuestion { d, scope, filter, period, range, split } = *u;
    let (mut q, product, from, to) = scope.start(d, range);
    let used = usage_filter(d, &mut q, filter, "u.version", "u.os");
    let activated = usage_filter(d, &mut q, filter, "a.client_version", "a.client_os");
    let sql = format!(
        "SELECT p, k, CAST(COUNT(DISTINCT m) AS BIGINT) AS n FROM (\
           SELECT {} AS p, {} AS k, a.machine_id AS m \
           FROM usage_days u JOIN activations a ON a.id = u.activation_id {ITEM_JOINS} \
           WHERE {product} AND u.day >= {from} AND u.day < {to}{used} \
           UNION ALL \
           SELECT {} AS p, {} AS k, a.machine_id AS m \
           FROM activations a {ITEM_JOINS} \
           WHERE {product} AND a.state <> 'pending' AND a.started_at >= {from} AND a.started_at < {to}{activated}\
         ) x GROUP BY p, k",
        d.period("u.day", period),
        split_key(split, "u.version", "u.os"),
        d.period("a.started_at", period),
        split_key(split, "a.client_version", "a.client_os"),
    );
    q.run(conn, &sql)
}

fn usage_sums(conn: &mut DbConn, u: &UsageQuestion<'_>) -> StoreResult<Vec<SumsRow>> {
    let UsageQuestion { d, scope, filter, period, range, split } = *u;
    let (mut q, product, from, to) = scope.start(d, range);
    let used = usage_filter(d, &mut q, filter, "u.version", "u.os");
    let (p, k) = (d.period("u.day", period), split_key(split, "u.version", "u.os"));
    let sql = format!(
        "SELECT {p} AS p, {k} AS k, CAST(SUM(u.checkins) AS BIGINT) AS checkins, \
           CAST(SUM(u.sessions) AS BIGINT) AS sessions, CAST(SUM(u.seconds) AS BIGINT) AS seconds \
         FROM usage_days u JOIN activations a ON a.id = u.activation_id {ITEM_JOINS} \
         WHERE {product} AND u.day >= {from} AND u.day < {to}{used} GROUP BY 1, 2"
    );
    q.run(conn, &sql)
}

fn session_lengths(conn: &mut DbConn, u: &UsageQuestion<'_>) -> StoreResult<Vec<LengthRow>> {
    let UsageQuestion { d, scope, filter, period, range, split } = *u;
    let (mut q, product, from, to) = scope.start(d, range);
    let used = usage_filter(d, &mut q, filter, "s.version", "s.os");
    let (p, k) = (d.period("s.day", period), split_key(split, "s.version", "s.os"));
    let sql = format!(
        "SELECT {p} AS p, {k} AS k, s.bucket AS bucket, CAST(SUM(s.sessions) AS BIGINT) AS n \
         FROM usage_session_lengths s JOIN items i ON i.id = s.item_id \
         WHERE {product} AND s.day >= {from} AND s.day < {to}{used} GROUP BY 1, 2, 3"
    );
    q.run(conn, &sql)
}

/// Whose lifetimes a report estimates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeSubject {
    /// PCs: from a machine's first activation until its seat moved away.
    Machines,
    /// Major versions on a machine: from first seen until a later one was.
    Versions,
}

fn curve_view(counts: &LifetimeCounts, confidence: f64) -> StoreResult<LifetimeCurveView> {
    let curve = stats::kaplan_meier_counts(&counts.counts, confidence)?;
    let summary = analytics::summarize(&curve);
    Ok(LifetimeCurveView {
        group: counts.group.clone(),
        subjects: summary.subjects,
        ended: summary.ended,
        censored: summary.censored,
        median_days: summary.median,
        median_lower_days: summary.median_interval.0,
        median_upper_days: summary.median_interval.1,
        restricted_mean_days: summary.restricted_mean,
        horizon_days: summary.horizon,
        points: curve
            .points
            .iter()
            .map(|p| SurvivalPointView {
                days: p.time,
                at_risk: p.at_risk,
                ended: p.events,
                censored: p.censored,
                survival: p.survival,
                lower: p.lower,
                upper: p.upper,
            })
            .collect(),
    })
}

/// Whether a reported version is a release's version (by precedence where both read as
/// semantic versions, else as text).
fn is_release(reported: &str, release: &str) -> bool {
    match (ReleaseVersion::parse(reported), ReleaseVersion::parse(release)) {
        (Ok(a), Ok(b)) => a.same_as(&b),
        _ => reported == release,
    }
}

impl Store {
    /// A lifetime estimate: a Kaplan–Meier curve per group with its median, its confidence
    /// interval and the restricted mean.
    pub fn lifetime_report(
        &self,
        subject: LifetimeSubject,
        filter: &AnalyticsFilter,
        group: LifetimeGroup,
        born: Option<DayRange>,
        confidence: f64,
    ) -> StoreResult<LifetimeReport> {
        let counts = self.lifetimes(subject, filter, group, born)?;
        Ok(LifetimeReport {
            subject: match subject {
                LifetimeSubject::Machines => "machines",
                LifetimeSubject::Versions => "versions",
            }
            .to_owned(),
            product: filter.product.as_str().to_owned(),
            confidence,
            computed_at: self.now(),
            from: born.map(|r| r.from),
            to: born.map(|r| r.to),
            curves: counts.iter().map(|c| curve_view(c, confidence)).collect::<StoreResult<_>>()?,
        })
    }

    /// Usage per period: active machines, check-ins, sessions and their median length.
    pub fn usage_report(
        &self,
        filter: &AnalyticsFilter,
        period: Period,
        range: DayRange,
        split: UsageSplit,
    ) -> StoreResult<UsageReportView> {
        let rows = self.usage_counts(filter, period, range, split)?;
        Ok(UsageReportView {
            product: filter.product.as_str().to_owned(),
            period: period.as_str().to_owned(),
            from: range.from,
            to: range.to,
            by: split.as_str().to_owned(),
            rows: rows
                .into_iter()
                .map(|r| UsageRowView {
                    period: r.period,
                    median_session_seconds: analytics::median_bucket(&r.lengths),
                    key: r.key,
                    active_machines: r.machines,
                    checkins: r.checkins,
                    sessions: r.sessions,
                    session_seconds: r.seconds,
                })
                .collect(),
        })
    }

    /// Version adoption: each version's share of the active machines per period, and per
    /// published release the days until it ran on half of them.
    pub fn adoption_report(
        &self,
        filter: &AnalyticsFilter,
        period: Period,
        range: DayRange,
    ) -> StoreResult<AdoptionReport> {
        let totals = self.usage_counts(filter, period, range, UsageSplit::All)?;
        let versions = self.usage_counts(filter, period, range, UsageSplit::Version)?;
        let mut periods: Vec<AdoptionPeriodView> = totals
            .iter()
            .map(|t| AdoptionPeriodView {
                period: t.period,
                active_machines: t.machines,
                versions: Vec::new(),
            })
            .collect();
        for v in versions.into_iter().filter(|v| v.machines > 0) {
            if let Some(p) = periods.iter_mut().find(|p| p.period == v.period) {
                let share = analytics::share(v.machines, p.active_machines);
                p.versions.push(VersionShareView { version: v.key, machines: v.machines, share });
            }
        }
        for p in &mut periods {
            p.versions.sort_by(|a, b| b.machines.cmp(&a.machines).then_with(|| a.version.cmp(&b.version)));
        }
        let releases = self
            .published_releases(filter.product.as_str())?
            .into_iter()
            .map(|r| {
                let shares: Vec<(NaiveDate, f64)> = periods
                    .iter()
                    .map(|p| {
                        let share =
                            p.versions.iter().filter(|v| is_release(&v.version, &r.version)).map(|v| v.share);
                        (p.period, share.fold(0.0, f64::max))
                    })
                    .collect();
                ReleaseAdoptionView {
                    days_to_half: analytics::days_to_half(r.published_at.date_naive(), &shares),
                    version: r.version,
                    published_at: r.published_at,
                }
            })
            .collect();
        Ok(AdoptionReport {
            product: filter.product.as_str().to_owned(),
            period: period.as_str().to_owned(),
            from: range.from,
            to: range.to,
            periods,
            releases,
        })
    }

    /// License activity per period, with the demo conversion rate over the range.
    pub fn activity_report(
        &self,
        filter: &AnalyticsFilter,
        period: Period,
        range: DayRange,
    ) -> StoreResult<ActivityReport> {
        let rows = self.activity_counts(filter, period, range)?;
        let (demos, converted) = rows.iter().fold((0, 0), |(d, c), (_, r)| (d + r.demos, c + r.converted));
        Ok(ActivityReport {
            product: filter.product.as_str().to_owned(),
            period: period.as_str().to_owned(),
            from: range.from,
            to: range.to,
            rows: rows
                .into_iter()
                .map(|(period, r)| ActivityRowView {
                    period,
                    activations: r.activations,
                    deactivations: r.deactivations,
                    recoveries: r.recoveries,
                    emergency_licenses: r.emergency,
                    demos: r.demos,
                    converted_demos: r.converted,
                })
                .collect(),
            demo_conversion_rate: analytics::conversion_rate(demos, converted),
        })
    }
}
