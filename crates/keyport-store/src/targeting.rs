//! Targeting rules on the database: the customers a [`Rule`] holds for, in one SQL query
//! (for segments and exports), and one customer's [`CustomerFacts`] (for asking the rule in
//! core, e.g. which offers a customer sees). Both follow the definitions on `Rule`'s
//! variants; a property test on both backends checks that they agree.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use keyport_core::order::DEMO_SHOP;
use keyport_core::targeting::{CustomerFacts, HeldLicense, Rule, span};
use keyport_core::{Lang, LicenseModel};
use uuid::Uuid;

use crate::db::{Db, DbConn};
use crate::schema::{customers, items, licenses, orders, products, tickets};
use crate::{Store, StoreResult, stored_time, utc};

/// A bound value of a compiled rule.
enum Param {
    Text(String),
    Time(NaiveDateTime),
    Int(i64),
}

/// A rule compiled to SQL: a condition on `c` (customers) and its parameters.
struct Compiled {
    pg: bool,
    params: Vec<Param>,
}

impl Compiled {
    /// Adds a parameter and answers its placeholder.
    fn add(&mut self, param: Param) -> String {
        self.params.push(param);
        let n = self.params.len();
        if self.pg { format!("${n}") } else { format!("?{n}") }
    }

    /// `EXISTS` over the customer's licenses that count (not revoked, no demo; with their
    /// item `i` and product `p`) and meet `condition`. From the customer's tickets out, in
    /// this order (`CROSS JOIN` keeps it on SQLite, which without statistics began at the
    /// product and read all its licenses for every customer).
    fn licenses(&self, condition: &str) -> String {
        format!(
            "EXISTS (SELECT 1 FROM tickets t CROSS JOIN licenses l CROSS JOIN items i CROSS JOIN products p \
             WHERE t.customer_id = c.id AND l.ticket_id = t.id AND i.id = l.item_id AND p.id = i.product_id \
             AND l.revoked_at IS NULL AND i.license_model <> 'demo' AND {condition})"
        )
    }

    /// The licenses' condition for "owned at `now`" (not expired).
    fn owned(&mut self, now: NaiveDateTime) -> String {
        format!("(l.expires_at IS NULL OR l.expires_at > {})", self.add(Param::Time(now)))
    }

    fn product(&mut self, product: Option<&keyport_core::ProductCode>) -> String {
        product.map_or(String::new(), |p| {
            format!(" AND p.code = {}", self.add(Param::Text(p.as_str().to_owned())))
        })
    }

    /// The SQL condition of `rule` at `now`.
    fn condition(&mut self, rule: &Rule, now: DateTime<Utc>) -> String {
        match rule {
            Rule::All(rules) if rules.is_empty() => "1 = 1".to_owned(),
            Rule::Any(rules) if rules.is_empty() => "1 = 0".to_owned(),
            Rule::All(rules) => self.joined(rules, " AND ", now),
            Rule::Any(rules) => self.any(rules, now),
            Rule::Not(rule) => format!("NOT ({})", self.condition(rule, now)),
            Rule::OwnsProduct { .. }
            | Rule::OwnsItem { .. }
            | Rule::SubscriptionEndsWithin { .. }
            | Rule::LicenseOlderThan { .. } => {
                let inner = self.license_condition(rule, now).unwrap_or_else(|| "1 = 0".to_owned());
                self.licenses(&inner)
            }
            Rule::RegisteredTicket { shop } => {
                let demo = self.add(Param::Text(DEMO_SHOP.to_owned()));
                let shop = shop.as_ref().map_or(String::new(), |s| {
                    format!(" AND o.shop = {}", self.add(Param::Text(s.to_string())))
                });
                format!(
                    "EXISTS (SELECT 1 FROM tickets t JOIN orders o ON o.ticket_id = t.id \
                     WHERE t.customer_id = c.id AND o.customer_id IS NULL AND o.cancelled_at IS NULL \
                     AND o.shop <> {demo}{shop})"
                )
            }
            Rule::Language(languages) if languages.is_empty() => "1 = 0".to_owned(),
            Rule::Language(languages) => {
                // As `Lang::from_code` reads a stored code: `de` is German, anything else English.
                let de = self.add(Param::Text(Lang::De.code().to_owned()));
                let each: Vec<String> = languages
                    .iter()
                    .map(|l| match l {
                        Lang::De => format!("c.language = {de}"),
                        Lang::En => format!("c.language <> {de}"),
                    })
                    .collect();
                format!("({})", each.join(" OR "))
            }
        }
    }

    /// `any` of rules: the ones over the customer's licenses in one `EXISTS` whose condition
    /// is the `OR` of theirs (the same as an `OR` of one `EXISTS` each, since they range over
    /// the same licenses, but one correlated subquery per customer instead of one per
    /// rule), `OR` the others.
    fn any(&mut self, rules: &[Rule], now: DateTime<Utc>) -> String {
        let mut over_licenses = Vec::new();
        let mut others = Vec::new();
        for rule in rules {
            match self.license_condition(rule, now) {
                Some(inner) => over_licenses.push(format!("({inner})")),
                None => others.push(format!("({})", self.condition(rule, now))),
            }
        }
        if !over_licenses.is_empty() {
            let either = format!("({})", over_licenses.join(" OR "));
            others.push(format!("({})", self.licenses(&either)));
        }
        format!("({})", others.join(" OR "))
    }

    /// The condition on one license `l` (item `i`, product `p`) of a rule over the
    /// customer's licenses; `None` for every other rule.
    fn license_condition(&mut self, rule: &Rule, now: DateTime<Utc>) -> Option<String> {
        let at = stored_time(now);
        Some(match rule {
            Rule::OwnsProduct { product, versions } => {
                let mut sql =
                    format!("{} AND p.code = {}", self.owned(at), self.add(Param::Text(product.to_string())));
                if let Some(v) = versions {
                    if let Some(to) = v.to {
                        sql += &format!(" AND i.version_min <= {}", self.add(Param::Int(i64::from(to))));
                    }
                    if let Some(from) = v.from {
                        sql += &format!(
                            " AND (i.version_max IS NULL OR i.version_max >= {})",
                            self.add(Param::Int(i64::from(from)))
                        );
                    }
                }
                sql
            }
            Rule::OwnsItem { sku } => {
                format!("{} AND i.sku = {}", self.owned(at), self.add(Param::Text(sku.to_string())))
            }
            Rule::SubscriptionEndsWithin { days, product } => {
                let until = stored_time(now + span(*days));
                format!(
                    "l.expires_at > {} AND l.expires_at <= {}{}",
                    self.add(Param::Time(at)),
                    self.add(Param::Time(until)),
                    self.product(product.as_ref())
                )
            }
            Rule::LicenseOlderThan { days, product } => {
                let since = stored_time(now - span(*days));
                format!(
                    "{} AND l.starts_at <= {}{}",
                    self.owned(at),
                    self.add(Param::Time(since)),
                    self.product(product.as_ref())
                )
            }
            Rule::All(_)
            | Rule::Any(_)
            | Rule::Not(_)
            | Rule::RegisteredTicket { .. }
            | Rule::Language(_) => {
                return None;
            }
        })
    }

    fn joined(&mut self, rules: &[Rule], with: &str, now: DateTime<Utc>) -> String {
        let parts: Vec<String> = rules.iter().map(|r| format!("({})", self.condition(r, now))).collect();
        format!("({})", parts.join(with))
    }
}

/// The ids of the customers `rule` holds for at `now`, after `after`, at most `limit` (and
/// one more than [`MAX_MATCHES`]), in id order; only those subscribed to marketing mail when `subscribed`.
pub(crate) fn matching(
    conn: &mut DbConn,
    rule: &Rule,
    now: DateTime<Utc>,
    after: Option<&str>,
    limit: u32,
    subscribed: bool,
) -> StoreResult<Vec<Uuid>> {
    let mut compiled = Compiled { pg: matches!(conn, DbConn::Pg(_)), params: Vec::new() };
    let condition = compiled.condition(rule, now);
    let after =
        after.map_or(String::new(), |a| format!(" AND c.id > {}", compiled.add(Param::Text(a.to_owned()))));
    let consent = if subscribed {
        let state = keyport_core::consent::ConsentState::Subscribed.as_str().to_owned();
        format!(" AND c.marketing_consent = {}", compiled.add(Param::Text(state)))
    } else {
        String::new()
    };
    // One more than a page, so a pager can tell whether another page follows.
    let limit = compiled.add(Param::Int(i64::from(limit.min(MAX_MATCHES + 1))));
    let sql = format!(
        "SELECT c.id AS id FROM customers c WHERE ({condition}){consent}{after} ORDER BY c.id LIMIT {limit}"
    );
    let mut query = diesel::sql_query(sql).into_boxed::<Db>();
    for p in compiled.params {
        query = match p {
            Param::Text(t) => query.bind::<Text, _>(t),
            Param::Time(t) => query.bind::<Timestamp, _>(t),
            Param::Int(n) => query.bind::<BigInt, _>(n),
        };
    }
    let rows: Vec<IdRow> = query.load(conn)?;
    rows.into_iter().map(|r| crate::uuid_of(&r.id)).collect()
}

/// Refuses a rule that names a product or item the catalog does not have: a misspelt
/// product in a `not` would target everyone.
pub(crate) fn check_names(conn: &mut DbConn, rule: &Rule) -> StoreResult<()> {
    let (wanted_products, wanted_items) = rule.names();
    let codes: Vec<&str> = wanted_products.iter().map(|p| p.as_str()).collect();
    let known: Vec<String> =
        products::table.filter(products::code.eq_any(&codes)).select(products::code).load(conn)?;
    if let Some(missing) = codes.iter().find(|c| !known.iter().any(|k| k == *c)) {
        return Err(keyport_core::CoreError::invalid(
            "rule",
            format!("names the product '{missing}', which does not exist"),
        )
        .into());
    }
    let skus: Vec<&str> = wanted_items.iter().map(|s| s.as_str()).collect();
    let known: Vec<String> = items::table.filter(items::sku.eq_any(&skus)).select(items::sku).load(conn)?;
    if let Some(missing) = skus.iter().find(|c| !known.iter().any(|k| k == *c)) {
        return Err(keyport_core::CoreError::invalid(
            "rule",
            format!("names the item '{missing}', which does not exist"),
        )
        .into());
    }
    Ok(())
}

/// The most customers one call of [`Store::customers_matching`] answers.
pub const MAX_MATCHES: u32 = 1000;

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

impl Store {
    /// The customers `rule` holds for at `now`, by id, after `after` (ids in order), at most
    /// `limit` (at most [`MAX_MATCHES`] per call): one query on the database, never customer
    /// by customer, in a report's transaction (one snapshot; on PostgreSQL at most 60 s per
    /// statement). A rule built in code is checked as a parsed one is.
    pub fn customers_matching(
        &self,
        rule: &Rule,
        now: DateTime<Utc>,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<Uuid>> {
        rule.check()?;
        let (after, limit) = (after.map(|a| a.to_string()), limit.min(MAX_MATCHES));
        self.analytics_read(|conn| matching(conn, rule, now, after.as_deref(), limit, false))
    }

    /// What a targeting rule may ask about one customer (in one snapshot): language, every
    /// license on the customer's tickets (revoked, expired and demo ones too) and the shops
    /// of the orders that named no customer, are not cancelled and are no demos, and whose
    /// tickets the customer registered.
    pub fn customer_facts(&self, customer: Uuid) -> StoreResult<CustomerFacts> {
        let id = customer.to_string();
        self.analytics_read(|conn| facts_of(conn, &id))
    }
}

/// [`Store::customer_facts`] in the caller's transaction.
pub(crate) fn facts_of(conn: &mut DbConn, id: &str) -> StoreResult<CustomerFacts> {
    let language: String = customers::table
        .find(id)
        .select(customers::language)
        .first(conn)
        .optional()?
        .ok_or_else(|| keyport_core::CoreError::not_found("customer"))?;
    type Held = (
        String,
        String,
        String,
        i32,
        Option<i32>,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let mut query = licenses::table
        .inner_join(tickets::table)
        .inner_join(items::table.inner_join(products::table))
        .into_boxed();
    // The owner stays in the filter beside the named tickets (a ticket moved meanwhile).
    query = match crate::licenses::tickets_of(conn, id)? {
        Some(held) => {
            query.filter(licenses::ticket_id.eq_any(held)).filter(tickets::customer_id.eq(id.to_owned()))
        }
        None => query.filter(tickets::customer_id.eq(id.to_owned())),
    };
    let held: Vec<Held> = query
        .select((
            products::code,
            items::sku,
            items::license_model,
            items::version_min,
            items::version_max,
            licenses::starts_at,
            licenses::expires_at,
            licenses::revoked_at,
        ))
        .load(conn)?;
    let shops: Vec<String> = orders::table
        .inner_join(tickets::table)
        .filter(tickets::customer_id.eq(id))
        .filter(orders::customer_id.is_null())
        .filter(orders::cancelled_at.is_null())
        .filter(orders::shop.ne(DEMO_SHOP))
        .select(orders::shop)
        .load(conn)?;
    let licenses = held
        .into_iter()
        .map(|(product, sku, model, min, max, starts, expires, revoked)| {
            Ok(HeldLicense {
                product,
                sku,
                version_min: crate::rows::unsigned("item version_min", min)?,
                version_max: max.map(|m| crate::rows::unsigned("item version_max", m)).transpose()?,
                starts_at: utc(starts),
                expires_at: expires.map(utc),
                revoked: revoked.is_some(),
                demo: model == LicenseModel::Demo { days: 0 }.kind(),
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(CustomerFacts { language: Lang::from_code(&language), licenses, registered_tickets: shops })
}
