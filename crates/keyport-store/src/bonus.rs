//! The bonus program: coupon pools and their codes, rewards for registering tickets, each
//! customer's ledger (earned rewards, redemptions, exchanges), and the entitlements that
//! certificates carry. Which registration earns what and whether a balance covers a
//! redemption is decided in core (`bonus`).
//!
//! Concurrency: a registration earns a reward at most once per ticket (`UNIQUE(reward_id,
//! ticket_id)`; registrations of one ticket are serialized by its conditional update);
//! coupons of one pool are handed out one writer at a time (the pool's row is locked), and
//! a coupon names the one ledger entry it went to (`UNIQUE(ledger_id)`); spending a
//! customer's points locks the customer's row, so two redemptions cannot both see the
//! points only one of them may take.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};
use keyport_api::{
    BonusAccountView, BonusEntryKind, BonusEntryView, BonusLedgerPage, CouponPoolView, CouponUploadView,
    ExchangeablePool, HeldCoupon, RewardPage, RewardState, RewardView,
};
use keyport_core::bonus::{
    self, Grant, MAX_LIVE_REWARDS, MAX_POOL, MAX_POOLS, RegisteredTicket, RewardDraft, RewardTerms,
};
use keyport_core::order::DEMO_SHOP;
use keyport_core::{CoreError, EventKind, ShopName};
use serde_json::json;
use uuid::Uuid;

use crate::db::DbConn;
use crate::events::{Subject, append};
use crate::rows::display_code;
use crate::schema::{
    bonus_ledger, coupon_pools, coupons, customers, items, licenses, orders, products, rewards, tickets,
};
use crate::{Context, Page, Paging, Store, StoreResult, new_id, stored_time, utc, uuid_of};

/// A reward row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rewards)]
struct RewardRow {
    id: String,
    name: String,
    shop: Option<String>,
    product_id: Option<String>,
    grant_kind: String,
    points: Option<i32>,
    pool_id: Option<String>,
    entitlement: Option<String>,
    ends_at: Option<NaiveDateTime>,
    withdrawn_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
}

impl RewardRow {
    fn grant(&self) -> StoreResult<Grant> {
        let corrupt = || crate::StoreError::Corrupt(format!("reward {} has no {}", self.id, self.grant_kind));
        Ok(match self.grant_kind.as_str() {
            "points" => Grant::Points(self.points.and_then(|p| u32::try_from(p).ok()).ok_or_else(corrupt)?),
            "coupon" => Grant::Coupon(uuid_of(self.pool_id.as_deref().ok_or_else(corrupt)?)?),
            "entitlement" => Grant::Entitlement(self.entitlement.clone().ok_or_else(corrupt)?),
            other => return Err(crate::StoreError::Corrupt(format!("reward grant kind {other}"))),
        })
    }

    fn terms(&self, product: Option<String>) -> StoreResult<RewardTerms> {
        Ok(RewardTerms {
            id: uuid_of(&self.id)?,
            shop: self.shop.clone(),
            product,
            ends_at: self.ends_at.map(utc),
            withdrawn_at: self.withdrawn_at.map(utc),
        })
    }

    fn view(&self, product: Option<String>, earned: i64, now: DateTime<Utc>) -> StoreResult<RewardView> {
        let terms = self.terms(product.clone())?;
        let state = match (self.withdrawn_at, terms.live(now)) {
            (Some(_), _) => RewardState::Withdrawn,
            (None, true) => RewardState::Live,
            (None, false) => RewardState::Ended,
        };
        Ok(RewardView {
            id: terms.id,
            name: self.name.clone(),
            shop: self.shop.clone(),
            product,
            grant: self.grant()?.kind().to_owned(),
            points: self.points.map(i64::from),
            coupon_pool_id: self.pool_id.as_deref().map(uuid_of).transpose()?,
            entitlement: self.entitlement.clone(),
            ends_at: terms.ends_at,
            withdrawn_at: terms.withdrawn_at,
            state,
            earned,
            created_at: utc(self.created_at),
        })
    }
}

/// A ledger row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = bonus_ledger)]
struct EntryRow {
    id: String,
    customer_id: String,
    kind: String,
    reward_id: Option<String>,
    ticket_id: Option<String>,
    points: i32,
    pool_id: Option<String>,
    entitlement: Option<String>,
    shop: Option<String>,
    reference: Option<String>,
    reversed_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
}

impl EntryRow {
    fn new(customer: &str, kind: BonusEntryKind, now: DateTime<Utc>) -> EntryRow {
        EntryRow {
            id: new_id(),
            customer_id: customer.to_owned(),
            kind: kind_name(kind).to_owned(),
            reward_id: None,
            ticket_id: None,
            points: 0,
            pool_id: None,
            entitlement: None,
            shop: None,
            reference: None,
            reversed_at: None,
            created_at: stored_time(now),
        }
    }
}

fn kind_name(kind: BonusEntryKind) -> &'static str {
    match kind {
        BonusEntryKind::Reward => "reward",
        BonusEntryKind::Redemption => "redemption",
        BonusEntryKind::Exchange => "exchange",
        BonusEntryKind::Reversal => "reversal",
    }
}

fn kind_of(name: &str) -> StoreResult<BonusEntryKind> {
    match name {
        "reward" => Ok(BonusEntryKind::Reward),
        "redemption" => Ok(BonusEntryKind::Redemption),
        "exchange" => Ok(BonusEntryKind::Exchange),
        "reversal" => Ok(BonusEntryKind::Reversal),
        other => Err(crate::StoreError::Corrupt(format!("bonus ledger kind {other}"))),
    }
}

/// Points as stored (bounded by [`bonus::MAX_POINTS`]).
fn stored_points(points: u32) -> i32 {
    i32::try_from(points).unwrap_or(i32::MAX)
}

/// The rewards registrations may earn at `now` (at most [`MAX_LIVE_REWARDS`]).
fn live_rewards(conn: &mut DbConn, now: DateTime<Utc>) -> StoreResult<Vec<RewardRow>> {
    Ok(rewards::table
        .filter(rewards::withdrawn_at.is_null())
        .filter(rewards::ends_at.is_null().or(rewards::ends_at.gt(stored_time(now))))
        .order(rewards::id.asc())
        .limit(MAX_LIVE_REWARDS)
        .select(RewardRow::as_select())
        .load(conn)?)
}

/// The codes of the products the rewards name, by product id.
fn product_codes(conn: &mut DbConn, rows: &[RewardRow]) -> StoreResult<HashMap<String, String>> {
    let ids: Vec<&String> = rows.iter().filter_map(|r| r.product_id.as_ref()).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let pairs: Vec<(String, String)> =
        products::table.filter(products::id.eq_any(ids)).select((products::id, products::code)).load(conn)?;
    Ok(pairs.into_iter().collect())
}

/// What the registration decision needs to know about a ticket; `None` for a ticket
/// without an order.
fn ticket_facts(conn: &mut DbConn, ticket_id: &str) -> StoreResult<Option<RegisteredTicket>> {
    // The order's row lock first: a cancellation racing this registration either committed
    // before (and is seen) or waits and then takes back what this one grants.
    diesel::update(orders::table.filter(orders::ticket_id.eq(ticket_id)))
        .set(orders::shop.eq(orders::shop))
        .execute(conn)?;
    let order: Option<(String, Option<String>, Option<NaiveDateTime>)> = orders::table
        .filter(orders::ticket_id.eq(ticket_id))
        .select((orders::shop, orders::customer_id, orders::cancelled_at))
        .first(conn)
        .optional()?;
    let Some((shop, named, cancelled)) = order else { return Ok(None) };
    let products: Vec<String> = licenses::table
        .inner_join(items::table.inner_join(products::table))
        .filter(licenses::ticket_id.eq(ticket_id))
        .select(products::code)
        .distinct()
        .load(conn)?;
    Ok(Some(RegisteredTicket {
        demo: shop == DEMO_SHOP,
        shop,
        sold_to_named_customer: named.is_some(),
        cancelled: cancelled.is_some(),
        products,
    }))
}

/// Grants what registering `ticket_id` to `customer` earns, in the registration's
/// transaction: each live reward whose terms match, once per ticket however often it is
/// registered. A coupon reward takes a coupon from its pool, or owes one while the pool is
/// empty.
pub(crate) fn earn(conn: &mut DbConn, ctx: &Context, customer: &str, ticket_id: &str) -> StoreResult<()> {
    let live = live_rewards(conn, ctx.now)?;
    if live.is_empty() {
        return Ok(());
    }
    let Some(ticket) = ticket_facts(conn, ticket_id)? else { return Ok(()) };
    let codes = product_codes(conn, &live)?;
    let terms = live
        .iter()
        .map(|r| r.terms(r.product_id.as_ref().and_then(|p| codes.get(p).cloned())))
        .collect::<StoreResult<Vec<_>>>()?;
    let earned: Vec<Uuid> = bonus::earned(&ticket, &terms, ctx.now).iter().map(|t| t.id).collect();
    for reward in live.iter().filter(|r| uuid_of(&r.id).is_ok_and(|id| earned.contains(&id))) {
        let before: i64 = bonus_ledger::table
            .filter(bonus_ledger::reward_id.eq(&reward.id))
            .filter(bonus_ledger::ticket_id.eq(ticket_id))
            .count()
            .get_result(conn)?;
        if before > 0 {
            continue;
        }
        let mut entry = EntryRow {
            reward_id: Some(reward.id.clone()),
            ticket_id: Some(ticket_id.to_owned()),
            ..EntryRow::new(customer, BonusEntryKind::Reward, ctx.now)
        };
        match reward.grant()? {
            Grant::Points(points) => entry.points = stored_points(points),
            Grant::Coupon(pool) => entry.pool_id = Some(pool.to_string()),
            Grant::Entitlement(name) => entry.entitlement = Some(name),
        }
        diesel::insert_into(bonus_ledger::table).values(&entry).execute(conn)?;
        if let Some(pool) = &entry.pool_id {
            lock_pool(conn, pool)?;
            take_coupon(conn, pool, &entry.id, ctx.now)?;
        }
        let subject = Subject { customer_id: Some(customer), ..Subject::of("reward", &reward.id) };
        let data = json!({"entry_id": entry.id, "reward": reward.name, "grant": reward.grant_kind,
                          "points": entry.points, "ticket_code": ticket_code(conn, ticket_id)?});
        append(conn, ctx, EventKind::BonusEarned, subject, data)?;
    }
    Ok(())
}

/// Takes back what a ticket's registration earned, in the transaction that cancels its
/// order: entitlements and owed coupons go (a coupon handed out stays: its code was
/// shown), points by a `reversal` entry of what is left of them (points spent stay spent).
/// Cancelling again finds nothing left to take back.
pub(crate) fn reverse(conn: &mut DbConn, ctx: &Context, ticket_id: &str) -> StoreResult<()> {
    let earned: Vec<EntryRow> = bonus_ledger::table
        .filter(bonus_ledger::ticket_id.eq(ticket_id))
        .filter(bonus_ledger::kind.eq(kind_name(BonusEntryKind::Reward)))
        .filter(bonus_ledger::reversed_at.is_null())
        .order(bonus_ledger::id.asc())
        .select(EntryRow::as_select())
        .load(conn)?;
    for entry in earned {
        diesel::update(bonus_ledger::table.find(&entry.id))
            .set(bonus_ledger::reversed_at.eq(stored_time(ctx.now)))
            .execute(conn)?;
        let mut taken = 0;
        if let Ok(points @ 1..) = u32::try_from(entry.points) {
            crate::lookup::lock_customer(conn, &entry.customer_id)?;
            taken = bonus::taken_back(points, balance_of(conn, &entry.customer_id)?);
            if taken > 0 {
                let reversal = EntryRow {
                    ticket_id: Some(ticket_id.to_owned()),
                    points: -stored_points(taken),
                    ..EntryRow::new(&entry.customer_id, BonusEntryKind::Reversal, ctx.now)
                };
                diesel::insert_into(bonus_ledger::table).values(&reversal).execute(conn)?;
            }
        }
        let subject =
            Subject { customer_id: Some(&entry.customer_id), ..Subject::of("customer", &entry.customer_id) };
        let data = json!({"entry_id": entry.id, "reward_id": entry.reward_id, "points_taken_back": taken,
                          "entitlement": entry.entitlement});
        append(conn, ctx, EventKind::BonusReversed, subject, data)?;
    }
    Ok(())
}

/// What registering `ticket_id` earned `customer` (for the registration's answer, also
/// when it is asked again).
pub(crate) fn of_ticket(
    conn: &mut DbConn,
    customer: &str,
    ticket_id: &str,
) -> StoreResult<Vec<BonusEntryView>> {
    let rows: Vec<EntryRow> = bonus_ledger::table
        .filter(bonus_ledger::customer_id.eq(customer))
        .filter(bonus_ledger::ticket_id.eq(ticket_id))
        .order(bonus_ledger::id.asc())
        .select(EntryRow::as_select())
        .load(conn)?;
    entry_views(conn, rows)
}

fn ticket_code(conn: &mut DbConn, ticket_id: &str) -> StoreResult<String> {
    let code: String = tickets::table.find(ticket_id).select(tickets::code).first(conn)?;
    display_code(&code)
}

/// Serializes the writers that hand out a pool's coupons (a no-op update takes the row's lock).
fn lock_pool(conn: &mut DbConn, pool: &str) -> StoreResult<()> {
    let found = diesel::update(coupon_pools::table.find(pool))
        .set(coupon_pools::name.eq(coupon_pools::name))
        .execute(conn)?;
    if found == 0 {
        return Err(CoreError::not_found("coupon pool").into());
    }
    Ok(())
}

/// Refuses an id that names no customer (`not_found`).
fn known_customer(conn: &mut DbConn, customer: &str) -> StoreResult<()> {
    let known: i64 = customers::table.find(customer).count().get_result(conn)?;
    if known == 0 {
        return Err(CoreError::not_found("customer").into());
    }
    Ok(())
}

/// Hands the pool's oldest free coupon to a ledger entry (the caller holds the pool's
/// lock); `None` when the pool has none left.
fn take_coupon(
    conn: &mut DbConn,
    pool: &str,
    entry: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<String>> {
    let free: Option<(String, String)> = coupons::table
        .filter(coupons::pool_id.eq(pool))
        .filter(coupons::ledger_id.is_null())
        .order(coupons::id.asc())
        .select((coupons::id, coupons::code))
        .first(conn)
        .optional()?;
    let Some((id, code)) = free else { return Ok(None) };
    let given = diesel::update(coupons::table.find(&id).filter(coupons::ledger_id.is_null()))
        .set((coupons::ledger_id.eq(entry), coupons::handed_out_at.eq(stored_time(now))))
        .execute(conn)?;
    Ok((given == 1).then_some(code))
}

/// Inserts coupon codes, up to 200 rows per statement (one round trip each).
fn insert_coupons(conn: &mut DbConn, pool: &str, codes: &[&String], now: DateTime<Utc>) -> StoreResult<()> {
    let pg = matches!(conn, DbConn::Pg(_));
    for chunk in codes.chunks(200) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                if pg {
                    format!("(${}, ${}, ${}, ${})", 4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4)
                } else {
                    "(?, ?, ?, ?)".to_owned()
                }
            })
            .collect();
        let sql = format!("INSERT INTO coupons (id, pool_id, code, created_at) VALUES {}", rows.join(", "));
        let mut query = diesel::sql_query(sql).into_boxed::<crate::db::Db>();
        for code in chunk {
            query = query
                .bind::<Text, _>(new_id())
                .bind::<Text, _>(pool.to_owned())
                .bind::<Text, _>(code.to_string())
                .bind::<Timestamp, _>(stored_time(now));
        }
        query.execute(conn)?;
    }
    Ok(())
}

/// A customer's balance: earned minus spent.
fn balance_of(conn: &mut DbConn, customer: &str) -> StoreResult<i64> {
    let sum: Option<i64> = bonus_ledger::table
        .filter(bonus_ledger::customer_id.eq(customer))
        .select(diesel::dsl::sum(bonus_ledger::points))
        .first(conn)?;
    Ok(sum.unwrap_or(0))
}

/// The entitlements a customer earned, each once, sorted: carried by their certificates.
pub(crate) fn entitlements_of(conn: &mut DbConn, customer: Option<&str>) -> StoreResult<Vec<String>> {
    let Some(customer) = customer else { return Ok(Vec::new()) };
    let mut names: Vec<String> = bonus_ledger::table
        .filter(bonus_ledger::customer_id.eq(customer))
        .filter(bonus_ledger::entitlement.is_not_null())
        .filter(bonus_ledger::reversed_at.is_null())
        .select(bonus_ledger::entitlement.assume_not_null())
        .distinct()
        .load(conn)?;
    // Sorted here, by bytes: a database's collation would order them differently by backend.
    names.sort_unstable();
    Ok(names)
}

/// Ledger rows as customers and staff see them: with reward names, ticket codes, pool
/// names and coupon codes, in four grouped reads.
fn entry_views(conn: &mut DbConn, rows: Vec<EntryRow>) -> StoreResult<Vec<BonusEntryView>> {
    let reward_ids: Vec<&String> = rows.iter().filter_map(|r| r.reward_id.as_ref()).collect();
    let names: HashMap<String, String> = if reward_ids.is_empty() {
        HashMap::new()
    } else {
        rewards::table
            .filter(rewards::id.eq_any(reward_ids))
            .select((rewards::id, rewards::name))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect()
    };
    let ticket_ids: Vec<&String> = rows.iter().filter_map(|r| r.ticket_id.as_ref()).collect();
    let codes: HashMap<String, String> = if ticket_ids.is_empty() {
        HashMap::new()
    } else {
        tickets::table
            .filter(tickets::id.eq_any(ticket_ids))
            .select((tickets::id, tickets::code))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect()
    };
    let pool_ids: Vec<&String> = rows.iter().filter_map(|r| r.pool_id.as_ref()).collect();
    let (pools, coupons_of): (HashMap<String, String>, HashMap<String, String>) = if pool_ids.is_empty() {
        (HashMap::new(), HashMap::new())
    } else {
        let pools = coupon_pools::table
            .filter(coupon_pools::id.eq_any(pool_ids))
            .select((coupon_pools::id, coupon_pools::name))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect();
        let entry_ids: Vec<&String> = rows.iter().filter(|r| r.pool_id.is_some()).map(|r| &r.id).collect();
        let given = coupons::table
            .filter(coupons::ledger_id.eq_any(entry_ids))
            .select((coupons::ledger_id.assume_not_null(), coupons::code))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect();
        (pools, given)
    };
    rows.into_iter()
        .map(|r| {
            Ok(BonusEntryView {
                id: uuid_of(&r.id)?,
                kind: kind_of(&r.kind)?,
                points: i64::from(r.points),
                reward_id: r.reward_id.as_deref().map(uuid_of).transpose()?,
                reward_name: r.reward_id.as_ref().and_then(|id| names.get(id).cloned()),
                ticket_code: r
                    .ticket_id
                    .as_ref()
                    .and_then(|id| codes.get(id))
                    .map(|c| display_code(c))
                    .transpose()?,
                coupon_pool: r.pool_id.as_ref().and_then(|id| pools.get(id).cloned()),
                coupon_code: coupons_of.get(&r.id).cloned(),
                entitlement: r.entitlement,
                shop: r.shop,
                reference: r.reference,
                reversed_at: r.reversed_at.map(utc),
                created_at: utc(r.created_at),
            })
        })
        .collect()
}

/// A pool with its counts.
fn pool_view(conn: &mut DbConn, pool: &str) -> StoreResult<CouponPoolView> {
    pool_views(conn, Some(pool))?.pop().ok_or_else(|| CoreError::not_found("coupon pool").into())
}

/// One pool or all of them (at most [`MAX_POOLS`]), oldest first, with their counts: three
/// grouped reads whatever the number of pools.
fn pool_views(conn: &mut DbConn, one: Option<&str>) -> StoreResult<Vec<CouponPoolView>> {
    let mut query = coupon_pools::table.order(coupon_pools::id.asc()).into_boxed();
    if let Some(pool) = one {
        query = query.filter(coupon_pools::id.eq(pool.to_owned()));
    }
    let pools: Vec<(String, String, Option<i32>, NaiveDateTime)> = query
        .limit(MAX_POOLS)
        .select((coupon_pools::id, coupon_pools::name, coupon_pools::points_price, coupon_pools::created_at))
        .load(conn)?;
    let ids: Vec<&String> = pools.iter().map(|p| &p.0).collect();
    let codes: HashMap<String, (i64, i64)> = coupons::table
        .filter(coupons::pool_id.eq_any(&ids))
        .group_by(coupons::pool_id)
        .select((coupons::pool_id, diesel::dsl::count_star(), diesel::dsl::count(coupons::ledger_id)))
        .load::<(String, i64, i64)>(conn)?
        .into_iter()
        .map(|(pool, total, given)| (pool, (total, given)))
        .collect();
    let given = coupons::table.filter(coupons::ledger_id.eq(bonus_ledger::id.nullable())).select(coupons::id);
    let owed: HashMap<String, i64> = bonus_ledger::table
        .filter(bonus_ledger::pool_id.eq_any(&ids))
        .filter(bonus_ledger::reversed_at.is_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(given)))
        .group_by(bonus_ledger::pool_id)
        .select((bonus_ledger::pool_id.assume_not_null(), diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    pools
        .into_iter()
        .map(|(id, name, price, created)| {
            let (total, handed_out) = codes.get(&id).copied().unwrap_or((0, 0));
            Ok(CouponPoolView {
                id: uuid_of(&id)?,
                points_price: price.map(i64::from),
                available: total - handed_out,
                handed_out,
                owed: owed.get(&id).copied().unwrap_or(0),
                name,
                created_at: utc(created),
            })
        })
        .collect()
}

/// The ledger entries of a pool that wait for a coupon, oldest first, at most `limit`.
fn owed(conn: &mut DbConn, pool: &str, limit: i64) -> StoreResult<Vec<String>> {
    let given = coupons::table.filter(coupons::ledger_id.eq(bonus_ledger::id.nullable())).select(coupons::id);
    Ok(bonus_ledger::table
        .filter(bonus_ledger::pool_id.eq(pool))
        .filter(bonus_ledger::reversed_at.is_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(given)))
        .order(bonus_ledger::id.asc())
        .limit(limit)
        .select(bonus_ledger::id)
        .load(conn)?)
}

impl Store {
    /// Defines a coupon pool (at most [`MAX_POOLS`]; names are unique).
    pub fn create_coupon_pool(
        &self,
        ctx: &Context,
        name: &str,
        points_price: Option<u32>,
    ) -> StoreResult<CouponPoolView> {
        self.write(|conn| {
            if let DbConn::Pg(_) = conn {
                diesel::sql_query("LOCK TABLE coupon_pools IN SHARE ROW EXCLUSIVE MODE").execute(conn)?;
            }
            let pools: i64 = coupon_pools::table.count().get_result(conn)?;
            if pools >= MAX_POOLS {
                return Err(CoreError::invalid(
                    "name",
                    format!("there are {MAX_POOLS} coupon pools already"),
                )
                .into());
            }
            let taken: i64 =
                coupon_pools::table.filter(coupon_pools::name.eq(name)).count().get_result(conn)?;
            if taken > 0 {
                return Err(CoreError::invalid("name", "a coupon pool of this name exists").into());
            }
            let id = new_id();
            diesel::insert_into(coupon_pools::table)
                .values((
                    coupon_pools::id.eq(&id),
                    coupon_pools::name.eq(name),
                    coupon_pools::points_price.eq(points_price.map(stored_points)),
                    coupon_pools::created_at.eq(stored_time(ctx.now)),
                ))
                .execute(conn)?;
            append(
                conn,
                ctx,
                EventKind::CouponPoolDefined,
                Subject::of("coupon_pool", &id),
                json!({"name": name}),
            )?;
            pool_view(conn, &id)
        })
    }

    /// Every coupon pool (at most [`MAX_POOLS`]), oldest first, with its counts.
    pub fn list_coupon_pools(&self) -> StoreResult<Vec<CouponPoolView>> {
        self.read(|conn| pool_views(conn, None))
    }

    /// Adds coupon codes to a pool (codes it has are skipped), then hands the new ones to
    /// the customers whom a reward owes one, oldest first.
    pub fn add_coupons(&self, ctx: &Context, pool: Uuid, codes: &[String]) -> StoreResult<CouponUploadView> {
        let pool = pool.to_string();
        self.write(|conn| {
            lock_pool(conn, &pool)?;
            let present: Vec<String> = coupons::table
                .filter(coupons::pool_id.eq(&pool))
                .filter(coupons::code.eq_any(codes))
                .select(coupons::code)
                .load(conn)?;
            let fresh: Vec<&String> = codes.iter().filter(|c| !present.contains(c)).collect();
            let total: i64 = coupons::table.filter(coupons::pool_id.eq(&pool)).count().get_result(conn)?;
            if total + fresh.len() as i64 > MAX_POOL {
                return Err(
                    CoreError::invalid("codes", format!("a pool holds at most {MAX_POOL} codes")).into()
                );
            }
            insert_coupons(conn, &pool, &fresh, ctx.now)?;
            let mut handed = 0i64;
            for entry in owed(conn, &pool, fresh.len() as i64)? {
                if take_coupon(conn, &pool, &entry, ctx.now)?.is_some() {
                    handed += 1;
                }
            }
            let data = json!({"added": fresh.len(), "handed_to_owed": handed});
            append(conn, ctx, EventKind::CouponsAdded, Subject::of("coupon_pool", &pool), data)?;
            Ok(CouponUploadView {
                added: fresh.len() as i64,
                already_present: present.len() as i64,
                handed_to_owed: handed,
                pool: pool_view(conn, &pool)?,
            })
        })
    }

    /// Defines a reward (at most [`MAX_LIVE_REWARDS`] live at once): the product and the
    /// pool it names must exist.
    pub fn create_reward(&self, ctx: &Context, draft: &RewardDraft) -> StoreResult<RewardView> {
        let draft = draft.clone().check(ctx.now)?;
        self.write(|conn| {
            if let DbConn::Pg(_) = conn {
                diesel::sql_query("LOCK TABLE rewards IN SHARE ROW EXCLUSIVE MODE").execute(conn)?;
            }
            if live_rewards(conn, ctx.now)?.len() as i64 >= MAX_LIVE_REWARDS {
                return Err(bonus::too_many_rewards().into());
            }
            let product_id = match &draft.product {
                Some(code) => Some(
                    products::table
                        .filter(products::code.eq(code.as_str()))
                        .select(products::id)
                        .first::<String>(conn)
                        .optional()?
                        .ok_or_else(|| {
                            CoreError::invalid("product", format!("there is no product '{code}'"))
                        })?,
                ),
                None => None,
            };
            let mut row = RewardRow {
                id: new_id(),
                name: draft.name.clone(),
                shop: draft.shop.as_ref().map(ToString::to_string),
                product_id,
                grant_kind: draft.grant.kind().to_owned(),
                points: None,
                pool_id: None,
                entitlement: None,
                ends_at: draft.ends_at.map(stored_time),
                withdrawn_at: None,
                created_at: stored_time(ctx.now),
            };
            match &draft.grant {
                Grant::Points(points) => row.points = Some(stored_points(*points)),
                Grant::Coupon(pool) => {
                    let known: i64 = coupon_pools::table.find(pool.to_string()).count().get_result(conn)?;
                    if known == 0 {
                        return Err(
                            CoreError::invalid("coupon_pool_id", "there is no such coupon pool").into()
                        );
                    }
                    row.pool_id = Some(pool.to_string());
                }
                Grant::Entitlement(name) => row.entitlement = Some(name.clone()),
            }
            diesel::insert_into(rewards::table).values(&row).execute(conn)?;
            let data = json!({"name": row.name, "grant": row.grant_kind});
            append(conn, ctx, EventKind::RewardDefined, Subject::of("reward", &row.id), data)?;
            row.view(draft.product.as_ref().map(ToString::to_string), 0, ctx.now)
        })
    }

    /// The rewards, oldest first, with how often each was earned.
    pub fn list_rewards(
        &self,
        after: Option<&str>,
        limit: Option<u32>,
        now: DateTime<Utc>,
    ) -> StoreResult<RewardPage> {
        let paging = Paging::new(after, limit, 100)?;
        if paging.after.as_deref().is_some_and(|a| Uuid::parse_str(a).is_err()) {
            return Err(CoreError::invalid("after", "is not a cursor from this list").into());
        }
        self.read(|conn| {
            let mut query = rewards::table.order(rewards::id.asc()).into_boxed();
            if let Some(after) = &paging.after {
                query = query.filter(rewards::id.gt(after.clone()));
            }
            let rows: Vec<RewardRow> =
                query.limit(paging.fetch()).select(RewardRow::as_select()).load(conn)?;
            let page = Page::of(rows, &paging, |r| r.id.clone());
            let items = reward_views(conn, &page.items, now)?;
            Ok(RewardPage { items, next_cursor: page.next_cursor })
        })
    }

    /// Withdraws a reward: registrations no longer earn it (what was earned stays).
    /// Withdrawing it again answers the same.
    pub fn withdraw_reward(&self, ctx: &Context, id: Uuid) -> StoreResult<RewardView> {
        let id = id.to_string();
        self.write(|conn| {
            let changed = diesel::update(rewards::table.find(&id).filter(rewards::withdrawn_at.is_null()))
                .set(rewards::withdrawn_at.eq(stored_time(ctx.now)))
                .execute(conn)?;
            let row: RewardRow = rewards::table
                .find(&id)
                .select(RewardRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| CoreError::not_found("reward"))?;
            if changed == 1 {
                append(
                    conn,
                    ctx,
                    EventKind::RewardWithdrawn,
                    Subject::of("reward", &id),
                    json!({"name": row.name}),
                )?;
            }
            reward_views(conn, &[row], ctx.now)?.pop().ok_or_else(|| CoreError::not_found("reward").into())
        })
    }

    /// A customer's bonus account: balance, entitlements, coupons held and owed.
    pub fn bonus_account(&self, customer: Uuid) -> StoreResult<BonusAccountView> {
        let id = customer.to_string();
        self.read(|conn| {
            known_customer(conn, &id)?;
            let held: Vec<(String, String, Option<NaiveDateTime>)> = coupons::table
                .inner_join(coupon_pools::table)
                .inner_join(bonus_ledger::table.on(coupons::ledger_id.eq(bonus_ledger::id.nullable())))
                .filter(bonus_ledger::customer_id.eq(&id))
                .order(coupons::handed_out_at.desc())
                .limit(100)
                .select((coupons::code, coupon_pools::name, coupons::handed_out_at))
                .load(conn)?;
            let given =
                coupons::table.filter(coupons::ledger_id.eq(bonus_ledger::id.nullable())).select(coupons::id);
            let owed: Vec<String> = bonus_ledger::table
                .inner_join(coupon_pools::table.on(bonus_ledger::pool_id.eq(coupon_pools::id.nullable())))
                .filter(bonus_ledger::customer_id.eq(&id))
                .filter(bonus_ledger::reversed_at.is_null())
                .filter(diesel::dsl::not(diesel::dsl::exists(given)))
                .limit(100)
                .select(coupon_pools::name)
                .load(conn)?;
            let exchangeable = pool_views(conn, None)?
                .into_iter()
                .filter_map(|p| {
                    p.points_price.map(|price| ExchangeablePool {
                        id: p.id,
                        name: p.name,
                        points_price: price,
                        available: p.available > 0,
                    })
                })
                .collect();
            Ok(BonusAccountView {
                exchangeable,
                balance: balance_of(conn, &id)?,
                entitlements: entitlements_of(conn, Some(&id))?,
                coupons: held
                    .into_iter()
                    .map(|(code, pool, at)| {
                        let at = at.ok_or_else(|| {
                            crate::StoreError::Corrupt(format!("coupon {code} without a time"))
                        })?;
                        Ok(HeldCoupon { code, pool, handed_out_at: utc(at) })
                    })
                    .collect::<StoreResult<Vec<_>>>()?,
                owed_coupons: owed,
            })
        })
    }

    /// A customer's ledger, newest first, one page at a time.
    pub fn bonus_ledger(
        &self,
        customer: Uuid,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> StoreResult<BonusLedgerPage> {
        let paging = Paging::new(after, limit, 50)?;
        if paging.after.as_deref().is_some_and(|a| Uuid::parse_str(a).is_err()) {
            return Err(CoreError::invalid("after", "is not a cursor from this list").into());
        }
        let id = customer.to_string();
        self.read(|conn| {
            known_customer(conn, &id)?;
            let mut query = bonus_ledger::table
                .filter(bonus_ledger::customer_id.eq(&id))
                .order(bonus_ledger::id.desc())
                .into_boxed();
            if let Some(after) = &paging.after {
                query = query.filter(bonus_ledger::id.lt(after.clone()));
            }
            let rows: Vec<EntryRow> = query.limit(paging.fetch()).select(EntryRow::as_select()).load(conn)?;
            let page = Page::of(rows, &paging, |r| r.id.clone());
            Ok(BonusLedgerPage { items: entry_views(conn, page.items)?, next_cursor: page.next_cursor })
        })
    }

    /// Redeems a customer's points (e.g. as a discount at a shop's checkout), never below
    /// zero. The same shop's reference again answers the first redemption (`true` when this
    /// call wrote it); with other points it is refused.
    pub fn redeem_points(
        &self,
        ctx: &Context,
        customer: Uuid,
        shop: &ShopName,
        points: u32,
        reference: &str,
    ) -> StoreResult<(bool, BonusEntryView)> {
        let id = customer.to_string();
        self.write(|conn| {
            crate::lookup::lock_customer(conn, &id)?;
            let before: Option<EntryRow> = bonus_ledger::table
                .filter(bonus_ledger::customer_id.eq(&id))
                .filter(bonus_ledger::shop.eq(shop.as_str()))
                .filter(bonus_ledger::reference.eq(reference))
                .select(EntryRow::as_select())
                .first(conn)
                .optional()?;
            if let Some(before) = before {
                bonus::repeat_redemption(reference, before.points.unsigned_abs(), points)?;
                return Ok((false, one_view(conn, before)?));
            }
            bonus::redeem(balance_of(conn, &id)?, points)?;
            let entry = EntryRow {
                points: -stored_points(points),
                shop: Some(shop.to_string()),
                reference: Some(reference.to_owned()),
                ..EntryRow::new(&id, BonusEntryKind::Redemption, ctx.now)
            };
            diesel::insert_into(bonus_ledger::table).values(&entry).execute(conn)?;
            let subject = Subject { customer_id: Some(&id), ..Subject::of("customer", &id) };
            let data = json!({"entry_id": entry.id, "points": points, "shop": shop.as_str(),
                              "reference": reference});
            append(conn, ctx, EventKind::PointsRedeemed, subject, data)?;
            Ok((true, one_view(conn, entry)?))
        })
    }

    /// Exchanges a customer's points for a coupon from a pool that has a points price: one
    /// transaction that takes the points and the coupon, or neither.
    pub fn exchange_points(&self, ctx: &Context, customer: Uuid, pool: Uuid) -> StoreResult<BonusEntryView> {
        let (id, pool) = (customer.to_string(), pool.to_string());
        self.write(|conn| {
            let not_for_points =
                || CoreError::invalid("coupon_pool_id", "names no pool whose coupons are for points");
            let (name, price): (String, Option<i32>) = coupon_pools::table
                .find(&pool)
                .select((coupon_pools::name, coupon_pools::points_price))
                .first(conn)
                .optional()?
                .ok_or_else(not_for_points)?;
            let price = price.and_then(|p| u32::try_from(p).ok()).ok_or_else(not_for_points)?;
            crate::lookup::lock_customer(conn, &id)?;
            lock_pool(conn, &pool)?;
            bonus::redeem(balance_of(conn, &id)?, price)?;
            let entry = EntryRow {
                points: -stored_points(price),
                pool_id: Some(pool.clone()),
                ..EntryRow::new(&id, BonusEntryKind::Exchange, ctx.now)
            };
            diesel::insert_into(bonus_ledger::table).values(&entry).execute(conn)?;
            if take_coupon(conn, &pool, &entry.id, ctx.now)?.is_none() {
                return Err(bonus::pool_empty(&name).into());
            }
            let subject = Subject { customer_id: Some(&id), ..Subject::of("coupon_pool", &pool) };
            let data = json!({"entry_id": entry.id, "points": price, "pool": name});
            append(conn, ctx, EventKind::CouponExchanged, subject, data)?;
            one_view(conn, entry)
        })
    }
}

fn one_view(conn: &mut DbConn, row: EntryRow) -> StoreResult<BonusEntryView> {
    entry_views(conn, vec![row])?
        .pop()
        .ok_or_else(|| crate::StoreError::Corrupt("ledger entry vanished".into()))
}

/// Rewards as staff see them, with product codes and how often each was earned.
fn reward_views(conn: &mut DbConn, rows: &[RewardRow], now: DateTime<Utc>) -> StoreResult<Vec<RewardView>> {
    let codes = product_codes(conn, rows)?;
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let counts: HashMap<String, i64> = if ids.is_empty() {
        HashMap::new()
    } else {
        bonus_ledger::table
            .filter(bonus_ledger::reward_id.eq_any(ids))
            .group_by(bonus_ledger::reward_id)
            .select((bonus_ledger::reward_id.assume_not_null(), diesel::dsl::count_star()))
            .load::<(String, i64)>(conn)?
            .into_iter()
            .collect()
    };
    rows.iter()
        .map(|r| {
            let product = r.product_id.as_ref().and_then(|p| codes.get(p).cloned());
            r.view(product, counts.get(&r.id).copied().unwrap_or(0), now)
        })
        .collect()
}
