//! Use cases of orders: create or extend (idempotent per shop and order number), cancel
//! (final), and read.

use diesel::prelude::*;
use keyport_core::order::{
    CancelDecision, Cancellation, HeldLine, UpgradeFacts, UpgradeStep, after_cancellations,
    decide_cancellation, decide_lines, decide_upgrade, reverted_end, upgraded_end,
};
use keyport_core::ticket::TICKET_RANDOM_BYTES;
use keyport_core::{CoreError, ErrorCode, EventKind, OrderCustomer, OrderRequest, Reason, TicketCode};
use serde_json::json;

use crate::catalog::model_of;
use crate::db::DbConn;
use crate::events::{Subject, append};
use crate::lookup::{by_email, by_number};
use crate::rows::{ItemRow, NewLicense, OrderLineRow, OrderRow, TicketRow, unsigned};
use crate::schema::{items, licenses, order_lines, orders, tickets};
use crate::{
    Context, OrderLineView, OrderOutcome, OrderView, Store, StoreResult, new_id, stored_time, utc, uuid_of,
};

/// Creates or extends an order inside the caller's transaction (see
/// [`Store::create_order`]).
pub(crate) fn create_order_in(
    conn: &mut DbConn,
    ctx: &Context,
    request: &OrderRequest,
) -> StoreResult<OrderOutcome> {
    let existing: Option<OrderRow> = orders::table
        .filter(orders::shop.eq(request.shop.as_str()))
        .filter(orders::external_number.eq(request.external_number.as_str()))
        .select(OrderRow::as_select())
        .first(conn)
        .optional()?;
    let (order, created) = match existing {
        // Locked, so a cancellation committing meanwhile is seen below.
        Some(order) => (lock_order(conn, &order.id)?, false),
        None => (insert_order(conn, ctx, request)?, true),
    };
    // The lines held, by SKU (unique, never changed), for core to merge with.
    let held: Vec<(i32, String, i32, Option<String>)> = order_lines::table
        .inner_join(items::table)
        .filter(order_lines::order_id.eq(&order.id))
        .select((
            order_lines::line_number,
            items::sku,
            order_lines::quantity,
            order_lines::upgraded_license_id,
        ))
        .load(conn)?;
    let held = held
        .into_iter()
        .map(|(number, sku, quantity, upgrade)| {
            Ok(HeldLine {
                line_number: unsigned("line number", number)?,
                sku,
                quantity: unsigned("quantity", quantity)?,
                upgrade: upgrade.as_deref().map(uuid_of).transpose()?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let new_lines = decide_lines(&held, cancellation_of(&order)?.as_ref(), request)?;
    let mut added = Vec::new();
    for line in new_lines {
        let item = item_by_sku(conn, line.sku.as_str())?;
        let number =
            i32::try_from(line.line_number).map_err(|_| CoreError::invalid("line_number", "is too large"))?;
        let quantity = i32::try_from(line.quantity)
            .map_err(|_| CoreError::invalid("quantity", "must be between 1 and 1000"))?;
        match line.upgrade {
            None => insert_line(conn, ctx, &order, &item, number, quantity)?,
            Some(license) => upgrade_line(conn, ctx, &order, &item, number, license)?,
        }
        added.push(line.line_number);
    }
    let subject = Subject { customer_id: order.customer_id.as_deref(), ..Subject::of("order", &order.id) };
    let data = json!({"shop": order.shop, "external_number": order.external_number, "added_lines": added});
    if created {
        append(conn, ctx, EventKind::OrderCreated, subject, data)?;
    } else if !added.is_empty() {
        append(conn, ctx, EventKind::OrderExtended, subject, data)?;
    }
    crate::demo_claims::record_conversions(conn, ctx, &order, &added)?;
    Ok(OrderOutcome { order: order_view(conn, order)?, created, added_lines: added })
}

impl Store {
    /// Creates the order with one ticket holding a license per unit ordered, or, when the
    /// shop sent this order number before, adds only the lines not seen before: a retry
    /// changes nothing and a later line extends the same ticket. A line number sent again
    /// with other content is refused, and so is a new line for a cancelled order.
    pub fn create_order(&self, ctx: &Context, request: &OrderRequest) -> StoreResult<OrderOutcome> {
        if keyport_core::order::is_demo_shop(request.shop.as_str()) {
            return Err(
                CoreError::invalid("shop", format!("'{}' is reserved for demos", crate::DEMO_SHOP)).into()
            );
        }
        self.write(|conn| create_order_in(conn, ctx, request))
    }

    /// Cancels (refunds) an order: every license of its ticket is revoked with the reason,
    /// its seats are freed, and the cancellation (when, why) is kept on the order and
    /// recorded. A cancelled order is final: cancelling again answers the existing
    /// cancellation, changes nothing and records nothing.
    pub fn cancel_order(
        &self,
        ctx: &Context,
        shop: &str,
        external_number: &str,
        reason: &keyport_core::Reason,
    ) -> StoreResult<crate::TicketView> {
        // Demo orders are no shop's: they answer like orders that do not exist.
        if keyport_core::order::is_demo_shop(shop) {
            return Err(CoreError::not_found("order").into());
        }
        let code = self.write(|conn| {
            let found: Option<(String, String)> = orders::table
                .inner_join(tickets::table)
                .filter(orders::shop.eq(shop))
                .filter(orders::external_number.eq(external_number))
                .select((orders::id, tickets::code))
                .first(conn)
                .optional()?;
            let (order_id, code) = found.ok_or_else(|| CoreError::not_found("order"))?;
            let order = lock_order(conn, &order_id)?;
            match decide_cancellation(cancellation_of(&order)?.as_ref()) {
                CancelDecision::AlreadyCancelled => return Ok(code),
                CancelDecision::Cancel => {}
            }
            diesel::update(orders::table.find(&order_id))
                .set((
                    orders::cancelled_at.eq(stored_time(ctx.now)),
                    orders::cancel_reason.eq(reason.as_str()),
                ))
                .execute(conn)?;
            let license_ids: Vec<String> = licenses::table
                .filter(licenses::ticket_id.eq(&order.ticket_id))
                .select(licenses::id)
                .load(conn)?;
            for id in &license_ids {
                crate::activations::revoke_in(conn, ctx, uuid_of(id)?, reason)?;
            }
            revert_upgrades(conn, ctx, &order)?;
            crate::bonus::reverse(conn, ctx, &order.ticket_id)?;
            let data = json!({"shop": shop, "external_number": external_number, "reason": reason.as_str(),
                              "licenses": license_ids.len()});
            append(conn, ctx, EventKind::OrderCancelled, Subject::of("order", &order_id), data)?;
            Ok(code)
        })?;
        let code = crate::error::stored("ticket code", TicketCode::parse(&code))?;
        self.lookup_ticket(&code, ctx.now)
    }

    /// An order by shop and the shop's order number.
    pub fn get_order(&self, shop: &str, external_number: &str) -> StoreResult<OrderView> {
        if keyport_core::order::is_demo_shop(shop) {
            return Err(CoreError::not_found("order").into());
        }
        self.read(|conn| {
            let order: OrderRow = orders::table
                .filter(orders::shop.eq(shop))
                .filter(orders::external_number.eq(external_number))
                .select(OrderRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| CoreError::not_found("order"))?;
            order_view(conn, order)
        })
    }
}

/// Takes the order's row lock (a no-op update) and reads it again: writers of one order
/// (an extension, a cancellation) queue up on PostgreSQL and see each other's commits.
fn lock_order(conn: &mut DbConn, id: &str) -> StoreResult<OrderRow> {
    diesel::update(orders::table.find(id)).set(orders::shop.eq(orders::shop)).execute(conn)?;
    Ok(orders::table.find(id).select(OrderRow::as_select()).first(conn)?)
}

/// The order's cancellation, if it was cancelled.
fn cancellation_of(order: &OrderRow) -> StoreResult<Option<Cancellation>> {
    let Some(at) = order.cancelled_at else { return Ok(None) };
    let reason =
        crate::error::stored("cancel reason", Reason::parse(order.cancel_reason.as_deref().unwrap_or("")))?;
    Ok(Some(Cancellation { at: utc(at), reason }))
}

fn item_by_sku(conn: &mut DbConn, sku: &str) -> StoreResult<ItemRow> {
    items::table.filter(items::sku.eq(sku)).select(ItemRow::as_select()).first(conn).optional()?.ok_or_else(
        || CoreError::new(ErrorCode::NotFound).with("resource", format!("item with SKU {sku}")).into(),
    )
}

fn insert_order(conn: &mut DbConn, ctx: &Context, request: &OrderRequest) -> StoreResult<OrderRow> {
    let customer = match &request.customer {
        OrderCustomer::None => None,
        OrderCustomer::ByEmail(email) => {
            Some(by_email(conn, email)?.ok_or_else(|| CoreError::not_found("customer"))?)
        }
        OrderCustomer::ByNumber(number) => {
            Some(by_number(conn, number)?.ok_or_else(|| CoreError::not_found("customer"))?)
        }
    };
    let customer_id = customer.map(|c| c.id);
    let ticket = TicketRow {
        id: new_id(),
        code: new_ticket_code()?.as_str().to_owned(),
        customer_id: customer_id.clone(),
        registered_at: customer_id.as_ref().map(|_| stored_time(ctx.now)),
        created_at: stored_time(ctx.now),
    };
    diesel::insert_into(tickets::table).values(&ticket).execute(conn)?;
    let order = OrderRow {
        id: new_id(),
        shop: request.shop.as_str().to_owned(),
        external_number: request.external_number.as_str().to_owned(),
        ticket_id: ticket.id,
        customer_id,
        created_at: stored_time(ctx.now),
        cancelled_at: None,
        cancel_reason: None,
    };
    diesel::insert_into(orders::table).values(&order).execute(conn)?;
    Ok(order)
}

fn insert_line(
    conn: &mut DbConn,
    ctx: &Context,
    order: &OrderRow,
    item: &ItemRow,
    line_number: i32,
    quantity: i32,
) -> StoreResult<()> {
    let line = OrderLineRow {
        id: new_id(),
        order_id: order.id.clone(),
        line_number,
        item_id: item.id.clone(),
        quantity,
        created_at: stored_time(ctx.now),
        upgraded_license_id: None,
        upgraded_from_item_id: None,
        upgraded_from_expires_at: None,
    };
    diesel::insert_into(order_lines::table).values(&line).execute(conn)?;
    let expires_at = model_of(item)?.expires_at(ctx.now).map(stored_time);
    for _ in 0..quantity {
        let license = NewLicense {
            id: new_id(),
            ticket_id: &order.ticket_id,
            order_line_id: &line.id,
            item_id: &item.id,
            starts_at: stored_time(ctx.now),
            expires_at,
            created_at: stored_time(ctx.now),
        };
        diesel::insert_into(licenses::table).values(&license).execute(conn)?;
    }
    Ok(())
}

/// An upgrade line: the license (locked) becomes a license of `item` when core allows it,
/// keeping its id, ticket, machines and history; the line keeps what the license was, for
/// a cancellation to take the upgrade back. An order for a named customer upgrades only
/// that customer's licenses (or ones on tickets no one registered); another's answer as
/// ones that do not exist.
fn upgrade_line(
    conn: &mut DbConn,
    ctx: &Context,
    order: &OrderRow,
    item: &ItemRow,
    line_number: i32,
    license: uuid::Uuid,
) -> StoreResult<()> {
    let loaded = crate::activations::lock_and_load(conn, crate::Scope::Staff, license)?;
    if let (Some(buyer), Some(owner)) = (order.customer_id.as_deref(), loaded.customer_id())
        && buyer != owner
    {
        return Err(CoreError::not_found("license").into());
    }
    let upgrade_from = crate::catalog::upgrade_from_of(item)?;
    let seats = seats_of(conn, item)?;
    decide_upgrade(
        &UpgradeFacts {
            license_id: license,
            license_sku: &loaded.item.sku,
            revoked: loaded.license.revoked_at.is_some(),
            expires_at: loaded.license.expires_at.map(utc),
            seats_in_use: loaded.history()?.seats_in_use(ctx.now),
            sku: &item.sku,
            upgrade_from: &upgrade_from,
            seats,
        },
        ctx.now,
    )?;
    let ends =
        upgraded_end(model_of(&loaded.item)?, model_of(item)?, loaded.license.expires_at.map(utc), ctx.now);
    let line = OrderLineRow {
        id: new_id(),
        order_id: order.id.clone(),
        line_number,
        item_id: item.id.clone(),
        quantity: 1,
        created_at: stored_time(ctx.now),
        upgraded_license_id: Some(loaded.license.id.clone()),
        upgraded_from_item_id: Some(loaded.item.id.clone()),
        upgraded_from_expires_at: loaded.license.expires_at,
    };
    diesel::insert_into(order_lines::table).values(&line).execute(conn)?;
    diesel::update(licenses::table.find(&loaded.license.id))
        .set((licenses::item_id.eq(&item.id), licenses::expires_at.eq(ends.map(stored_time))))
        .execute(conn)?;
    let data = json!({"from_sku": loaded.item.sku, "to_sku": item.sku, "shop": order.shop,
                      "external_number": order.external_number, "line_number": line_number,
                      "expires_at": ends});
    append(conn, ctx, EventKind::LicenseUpgraded, crate::activations::license_subject(&loaded), data)
}

/// The seats an item's rule set allows.
fn seats_of(conn: &mut DbConn, item: &ItemRow) -> StoreResult<u32> {
    let row: crate::rows::RuleSetRow = crate::schema::rule_sets::table
        .find(&item.rule_set_id)
        .select(crate::rows::RuleSetRow::as_select())
        .first(conn)?;
    Ok(crate::catalog::rule_set_of(&row)?.seats())
}

/// Takes back the upgrades of a cancelled order (whose cancellation is written already):
/// each license one of its lines upgraded goes where core says once the cancelled lines
/// are left out: the item of its last upgrade still standing, or the item and end it had
/// before its first. Machines beyond the seats it then allows lose theirs, newest first.
fn revert_upgrades(conn: &mut DbConn, ctx: &Context, order: &OrderRow) -> StoreResult<()> {
    let mut upgraded: Vec<String> = order_lines::table
        .filter(order_lines::order_id.eq(&order.id))
        .filter(order_lines::upgraded_license_id.is_not_null())
        .select(order_lines::upgraded_license_id.assume_not_null())
        .load(conn)?;
    upgraded.sort();
    upgraded.dedup();
    for license in upgraded {
        let loaded = crate::activations::lock_and_load(conn, crate::Scope::Staff, uuid_of(&license)?)?;
        let lines: Vec<(OrderLineRow, Option<chrono::NaiveDateTime>)> = order_lines::table
            .inner_join(orders::table)
            .filter(order_lines::upgraded_license_id.eq(&license))
            .order((order_lines::created_at.asc(), order_lines::id.asc()))
            .select((OrderLineRow::as_select(), orders::cancelled_at))
            .load(conn)?;
        let steps: Vec<UpgradeStep<'_>> = lines
            .iter()
            .map(|(line, cancelled)| UpgradeStep {
                from_item: line.upgraded_from_item_id.as_deref().unwrap_or_default(),
                from_end: line.upgraded_from_expires_at.map(utc),
                to_item: &line.item_id,
                live: cancelled.is_none(),
            })
            .collect();
        let Some((target_id, original)) = after_cancellations(&steps, &loaded.item.id) else { continue };
        let target: ItemRow = items::table.find(target_id).select(ItemRow::as_select()).first(conn)?;
        let now_ends = loaded.license.expires_at.map(utc);
        let ends = reverted_end(model_of(&loaded.item)?, model_of(&target)?, now_ends, original, ctx.now);
        diesel::update(licenses::table.find(&license))
            .set((licenses::item_id.eq(&target.id), licenses::expires_at.eq(ends.map(stored_time))))
            .execute(conn)?;
        let seats = seats_of(conn, &target)?;
        let ended = end_surplus(conn, ctx, &loaded, seats)?;
        let data = json!({"from_sku": loaded.item.sku, "to_sku": target.sku, "expires_at": ends,
                          "ended_activations": ended, "shop": order.shop,
                          "external_number": order.external_number});
        append(conn, ctx, EventKind::UpgradeReverted, crate::activations::license_subject(&loaded), data)?;
    }
    Ok(())
}

/// Ends the activations beyond `seats`, newest first (revoked: the seats were not paid
/// for); answers their ids.
fn end_surplus(
    conn: &mut DbConn,
    ctx: &Context,
    loaded: &crate::licenses::Loaded,
    seats: u32,
) -> StoreResult<Vec<String>> {
    use crate::schema::activations;
    let mut holding: Vec<&crate::rows::ActivationRow> = loaded
        .activations
        .iter()
        .map(|(a, _)| a)
        // Emergency licenses hold no seat of their own.
        .filter(|a| a.emergency_until.is_none())
        .filter(|a| keyport_core::ActivationState::parse(&a.state).is_ok_and(|s| s.holds_seat()))
        .collect();
    holding.sort_by(|a, b| b.started_at.cmp(&a.started_at).then_with(|| b.id.cmp(&a.id)));
    let surplus = holding.len().saturating_sub(usize::try_from(seats).unwrap_or(usize::MAX));
    let ended: Vec<String> = holding.iter().take(surplus).map(|a| a.id.clone()).collect();
    diesel::update(activations::table.filter(activations::id.eq_any(&ended)))
        .set((
            activations::state.eq(keyport_core::ActivationState::Revoked.as_str()),
            activations::ended_at.eq(stored_time(ctx.now)),
        ))
        .execute(conn)?;
    Ok(ended)
}

/// A new random ticket code. A collision with an existing code fails the insert on its
/// unique index, and the write is tried again with a new code.
fn new_ticket_code() -> StoreResult<TicketCode> {
    let mut bytes = [0u8; TICKET_RANDOM_BYTES];
    crate::fixed_seed::fill_ticket_bytes(&mut bytes)?;
    Ok(TicketCode::from_random(bytes))
}

pub(crate) fn order_view(conn: &mut DbConn, order: OrderRow) -> StoreResult<OrderView> {
    let ticket_code: String = tickets::table.find(&order.ticket_id).select(tickets::code).first(conn)?;
    let lines: Vec<(OrderLineRow, String)> = order_lines::table
        .inner_join(items::table)
        .filter(order_lines::order_id.eq(&order.id))
        .order(order_lines::line_number.asc())
        .select((OrderLineRow::as_select(), items::sku))
        .load(conn)?;
    let license_rows: Vec<(String, String)> = licenses::table
        .filter(licenses::ticket_id.eq(&order.ticket_id))
        .order(licenses::id.asc())
        .select((licenses::id, licenses::order_line_id))
        .load(conn)?;
    let mut line_views = Vec::with_capacity(lines.len());
    for (line, sku) in lines {
        let upgraded = line.upgraded_license_id.as_deref().map(uuid_of).transpose()?;
        let license_ids = match upgraded {
            Some(id) => vec![id],
            None => license_rows
                .iter()
                .filter(|(_, line_id)| *line_id == line.id)
                .map(|(id, _)| uuid_of(id))
                .collect::<StoreResult<Vec<_>>>()?,
        };
        line_views.push(OrderLineView {
            line_number: unsigned("line number", line.line_number)?,
            sku,
            quantity: unsigned("quantity", line.quantity)?,
            license_ids,
            upgrade_license_id: upgraded,
        });
    }
    Ok(OrderView {
        id: uuid_of(&order.id)?,
        shop: order.shop,
        external_number: order.external_number,
        ticket_code: crate::rows::display_code(&ticket_code)?,
        customer_id: order.customer_id.as_deref().map(uuid_of).transpose()?,
        lines: line_views,
        created_at: utc(order.created_at),
        cancelled_at: order.cancelled_at.map(utc),
        cancel_reason: order.cancel_reason,
    })
}
