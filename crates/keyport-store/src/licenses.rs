//! Reading licenses with everything their views and decisions need, in a few batched
//! queries; tickets (look up, register).

use std::collections::HashMap;

use diesel::prelude::*;
use keyport_core::{
    ActivationRecord, ActivationState, CoreError, CreditGrant, ErrorCode, EventKind, LicenseHistory, RuleSet,
    TicketCode, license,
};
use serde_json::json;
use uuid::Uuid;

use crate::Scope;
use crate::catalog::{features_of, rule_set_of};
use crate::db::DbConn;
use crate::error::stored;
use crate::events::{Subject, append};
use crate::rows::display_code;
use crate::rows::{ActivationRow, CreditGrantRow, ItemRow, LicenseRow, MachineRow, RuleSetRow, TicketRow};
use crate::schema::{activations, credit_grants, items, licenses, machines, products, rule_sets, tickets};
use crate::{
    ActivationView, Context, LicenseView, Page, Paging, Store, StoreResult, TicketView, stored_time, utc,
    uuid_of,
};

/// How many ids go into one `IN (...)` list (SQLite allows a few thousand variables).
const CHUNK: usize = 500;

/// One license with its item, rule set, ticket, activations and grants.
pub(crate) struct Loaded {
    pub license: LicenseRow,
    pub item: ItemRow,
    pub rules_row: RuleSetRow,
    pub product_code: String,
    pub ticket: TicketRow,
    pub activations: Vec<(ActivationRow, MachineRow)>,
    pub grants: Vec<CreditGrantRow>,
}

/// Which licenses to load.
pub(crate) enum Select<'a> {
    One(&'a str),
    Ticket(&'a str),
    Customer(&'a str),
}

pub(crate) fn load(conn: &mut DbConn, select: Select<'_>) -> StoreResult<Vec<Loaded>> {
    load_page(conn, select, None)
}

/// The most tickets of one customer named in a license query (beyond, the query joins).
const MAX_NAMED_TICKETS: i64 = 1_000;

/// A customer's tickets, to name in a query of their licenses on PostgreSQL (`None`: join
/// on the owner instead; on SQLite, and beyond [`MAX_NAMED_TICKETS`]). PostgreSQL plans a
/// join filtered on the ticket's owner as if the owner held a share of all licenses and
/// walks every license (by id when the first rows are asked for: 12 ms for 40,000
/// licenses; a hash join over all of them otherwise: 7 ms); by named tickets it reads
/// theirs (0.2 ms). SQLite starts from the owner's tickets by itself, and walks the
/// licenses by id when given a list (the benchmark's license list fell from 2,500 to 300
/// per second).
pub(crate) fn tickets_of(conn: &mut DbConn, customer: &str) -> StoreResult<Option<Vec<String>>> {
    if let DbConn::Sqlite(_) = conn {
        return Ok(None);
    }
    let held: Vec<String> = tickets::table
        .filter(tickets::customer_id.eq(customer))
        .select(tickets::id)
        .limit(MAX_NAMED_TICKETS + 1)
        .load(conn)?;
    Ok((i64::try_from(held.len()).unwrap_or(i64::MAX) <= MAX_NAMED_TICKETS).then_some(held))
}

/// Loads the selected licenses, by creation (their ids grow with it); with `paging`, the
/// page after its cursor (a license id) plus one more row.
pub(crate) fn load_page(
    conn: &mut DbConn,
    select: Select<'_>,
    paging: Option<&Paging>,
) -> StoreResult<Vec<Loaded>> {
    let mut query = licenses::table
        .inner_join(items::table.inner_join(products::table).inner_join(rule_sets::table))
        .inner_join(tickets::table)
        .into_boxed();
    query = match select {
        Select::One(id) => query.filter(licenses::id.eq(id.to_owned())),
        Select::Ticket(id) => query.filter(licenses::ticket_id.eq(id.to_owned())),
        // The owner stays in the filter beside the named tickets: under READ COMMITTED a
        // ticket moved to another customer between the two statements must not bring its
        // licenses along.
        Select::Customer(id) => match tickets_of(conn, id)? {
            Some(held) => {
                query.filter(licenses::ticket_id.eq_any(held)).filter(tickets::customer_id.eq(id.to_owned()))
            }
            None => query.filter(tickets::customer_id.eq(id.to_owned())),
        },
    };
    if let Some(paging) = paging {
        if let Some(after) = &paging.after {
            query = query.filter(licenses::id.gt(after.clone()));
        }
        query = query.limit(paging.fetch());
    }
    // SQLite, given planner statistics, walks every license by id for the first rows of
    // one owner's (5 ms at 40,000 licenses); ordering by an expression of the id (the same
    // order) keeps the id's index out of the plan, and it starts from the owner's tickets
    // (0.03 ms). An owner of very many licenses then pays a sort of the rest per page.
    let by_owner_on_sqlite = matches!(select, Select::Customer(_)) && matches!(conn, DbConn::Sqlite(_));
    query = if by_owner_on_sqlite {
        query.order(licenses::id.concat("").asc())
    } else {
        query.order(licenses::id.asc())
    };
    let rows: Vec<(LicenseRow, ItemRow, RuleSetRow, String, TicketRow)> = query
        .select((
            LicenseRow::as_select(),
            ItemRow::as_select(),
            RuleSetRow::as_select(),
            products::code,
            TicketRow::as_select(),
        ))
        .load(conn)?;
    let ids: Vec<String> = rows.iter().map(|r| r.0.id.clone()).collect();
    let mut acts: HashMap<String, Vec<(ActivationRow, MachineRow)>> = HashMap::new();
    let mut grants: HashMap<String, Vec<CreditGrantRow>> = HashMap::new();
    // One license (every use case that locks one) is asked for with `=`: PostgreSQL's
    // generic plan for `= ANY($1)` scans the whole table while it has no statistics yet (a
    // new database's first minute: 1 ms instead of 0.05 ms per activation at 3,000 rows).
    for chunk in ids.chunks(CHUNK) {
        let activations_of = activations::table
            .inner_join(machines::table)
            .order((activations::started_at.asc(), activations::id.asc()))
            .select((ActivationRow::as_select(), MachineRow::as_select()));
        let found: Vec<(ActivationRow, MachineRow)> = match chunk {
            [one] => activations_of.filter(activations::license_id.eq(one)).load(conn)?,
            _ => activations_of.filter(activations::license_id.eq_any(chunk)).load(conn)?,
        };
        for pair in found {
            acts.entry(pair.0.license_id.clone()).or_default().push(pair);
        }
        let grants_of = credit_grants::table.select(CreditGrantRow::as_select());
        let found: Vec<CreditGrantRow> = match chunk {
            [one] => grants_of.filter(credit_grants::license_id.eq(one)).load(conn)?,
            _ => grants_of.filter(credit_grants::license_id.eq_any(chunk)).load(conn)?,
        };
        for grant in found {
            grants.entry(grant.license_id.clone()).or_default().push(grant);
        }
    }
    Ok(rows
        .into_iter()
        .map(|(license, item, rules_row, product_code, ticket)| Loaded {
            activations: acts.remove(&license.id).unwrap_or_default(),
            grants: grants.remove(&license.id).unwrap_or_default(),
            license,
            item,
            rules_row,
            product_code,
            ticket,
        })
        .collect())
}

/// Loads one license, or answers `not_found`.
pub(crate) fn load_one(conn: &mut DbConn, id: &str) -> StoreResult<Loaded> {
    load(conn, Select::One(id))?.pop().ok_or_else(|| CoreError::not_found("license").into())
}

/// Loads one license the scope may see, or answers `not_found`.
pub(crate) fn load_in_scope(conn: &mut DbConn, scope: Scope, id: &str) -> StoreResult<Loaded> {
    let loaded = load_one(conn, id)?;
    if loaded.visible_to(scope) { Ok(loaded) } else { Err(CoreError::not_found("license").into()) }
}

impl Loaded {
    pub fn rules(&self) -> StoreResult<RuleSet> {
        rule_set_of(&self.rules_row)
    }

    pub fn history(&self) -> StoreResult<LicenseHistory> {
        let activations = self
            .activations
            .iter()
            .map(|(a, m)| {
                Ok(ActivationRecord {
                    id: uuid_of(&a.id)?,
                    machine_id: uuid_of(&a.machine_id)?,
                    fingerprint: Some(a.fingerprint.clone().unwrap_or_else(|| m.fingerprint.clone())),
                    rebound_at: a.rebound_at.map(utc),
                    previous_machine_id: a.previous_machine_id.as_deref().map(uuid_of).transpose()?,
                    state: stored("activation state", ActivationState::parse(&a.state))?,
                    started_at: utc(a.started_at),
                    ended_at: a.ended_at.map(utc),
                    emergency_until: a.emergency_until.map(utc),
                    converted_at: a.converted_at.map(utc),
                    stands_for: a.stands_for.as_deref().map(uuid_of).transpose()?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let grants = self
            .grants
            .iter()
            .map(|g| {
                Ok(CreditGrant {
                    at: utc(g.granted_at),
                    amount: crate::rows::unsigned("a credit grant", g.amount)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(LicenseHistory {
            starts_at: utc(self.license.starts_at),
            expires_at: self.license.expires_at.map(utc),
            revoked_at: self.license.revoked_at.map(utc),
            activations,
            grants,
        })
    }

    pub fn view(&self, now: chrono::DateTime<chrono::Utc>) -> StoreResult<LicenseView> {
        let rules = self.rules()?;
        let history = self.history()?;
        let credits = license::credits(&rules, &history, now);
        let activations = self
            .activations
            .iter()
            .zip(&history.activations)
            .map(|((row, machine), record)| {
                activation_view(row, machine, history.effective_state(record, now))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(LicenseView {
            id: uuid_of(&self.license.id)?,
            ticket_code: display_code(&self.ticket.code)?,
            sku: self.item.sku.clone(),
            item_name: self.item.name.clone(),
            product_code: self.product_code.clone(),
            state: history.state(now),
            seats: rules.seats(),
            seats_in_use: history.seats_in_use(now),
            reactivation_credits: credits.available,
            next_credit_at: credits.next_credit_at,
            features: features_of(&self.item)?,
            starts_at: history.starts_at,
            expires_at: history.expires_at,
            revoked_at: history.revoked_at,
            revoke_reason: self.license.revoke_reason.clone(),
            activations,
        })
    }

    /// One of this license's activations, with its machine; `not_found` otherwise.
    pub fn activation(&self, id: Uuid) -> StoreResult<(ActivationRow, MachineRow)> {
        let id = id.to_string();
        self.activations
            .iter()
            .find(|(a, _)| a.id == id)
            .cloned()
            .ok_or_else(|| CoreError::not_found("activation").into())
    }

    /// Whether the scope may see this license.
    pub fn visible_to(&self, scope: Scope) -> bool {
        scope_sees(scope, &self.ticket.id, self.ticket.customer_id.as_deref())
    }

    /// The customer whose ticket holds this license, if registered.
    pub fn customer_id(&self) -> Option<&str> {
        self.ticket.customer_id.as_deref()
    }
}

/// The one rule of what a scope sees: a license (and everything under it: activations,
/// transfers) on a ticket of this customer, or on this ticket; staff see all.
pub(crate) fn scope_sees(scope: Scope, ticket_id: &str, customer_id: Option<&str>) -> bool {
    match scope {
        Scope::Staff => true,
        Scope::Customer(id) => customer_id == Some(id.to_string().as_str()),
        Scope::Ticket(id) => ticket_id == id.to_string(),
    }
}

pub(crate) fn activation_view(
    row: &ActivationRow,
    machine: &MachineRow,
    state: ActivationState,
) -> StoreResult<ActivationView> {
    Ok(ActivationView {
        id: uuid_of(&row.id)?,
        license_id: uuid_of(&row.license_id)?,
        machine_id: uuid_of(&machine.id)?,
        machine_key: machine.public_key.clone(),
        fingerprint: row.fingerprint.clone().unwrap_or_else(|| machine.fingerprint.clone()),
        state,
        started_at: utc(row.started_at),
        // An emergency license that ran out ended at its time.
        ended_at: row.ended_at.map(utc).or(match state {
            ActivationState::Expired => emergency_end(row),
            ActivationState::Pending
            | ActivationState::Active
            | ActivationState::Deactivated
            | ActivationState::Recovered
            | ActivationState::Revoked => None,
        }),
        emergency_until: emergency_end(row),
    })
}

/// When an activation ends as the emergency license it is; `None` for a normal one (also
/// one a recovery converted).
pub(crate) fn emergency_end(row: &ActivationRow) -> Option<chrono::DateTime<chrono::Utc>> {
    license::emergency_end(row.emergency_until.map(utc), row.converted_at.map(utc))
}

fn views(loaded: &[Loaded], now: chrono::DateTime<chrono::Utc>) -> StoreResult<Vec<LicenseView>> {
    loaded.iter().map(|l| l.view(now)).collect()
}

fn ticket_by_code(conn: &mut DbConn, code: &TicketCode) -> StoreResult<TicketRow> {
    tickets::table
        .filter(tickets::code.eq(code.as_str()))
        .select(TicketRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| CoreError::not_found("ticket").into())
}

pub(crate) fn ticket_view(
    conn: &mut DbConn,
    ticket: TicketRow,
    now: chrono::DateTime<chrono::Utc>,
) -> StoreResult<TicketView> {
    let loaded = load(conn, Select::Ticket(&ticket.id))?;
    Ok(TicketView {
        code: display_code(&ticket.code)?,
        customer_id: ticket.customer_id.as_deref().map(uuid_of).transpose()?,
        registered_at: ticket.registered_at.map(utc),
        created_at: utc(ticket.created_at),
        licenses: views(&loaded, now)?,
        bonus: Vec::new(),
    })
}

impl Store {
    /// A ticket with its licenses, their states, seats and activations.
    pub fn lookup_ticket(
        &self,
        code: &TicketCode,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<TicketView> {
        self.read(|conn| {
            let ticket = ticket_by_code(conn, code)?;
            ticket_view(conn, ticket, now)
        })
    }

    /// Registers a ticket to a customer account. Registering it again to the same customer
    /// changes nothing; a ticket registered to someone else is refused.
    pub fn register_ticket(
        &self,
        ctx: &Context,
        customer_id: Uuid,
        code: &TicketCode,
    ) -> StoreResult<TicketView> {
        let customer = customer_id.to_string();
        self.write(|conn| {
            let known: i64 = crate::schema::customers::table.find(&customer).count().get_result(conn)?;
            if known == 0 {
                return Err(CoreError::not_found("customer").into());
            }
            let ticket = ticket_by_code(conn, code)?;
            match ticket.customer_id.as_deref() {
                Some(owner) if owner == customer => {
                    let bonus = crate::bonus::of_ticket(conn, &customer, &ticket.id)?;
                    return Ok(TicketView { bonus, ..ticket_view(conn, ticket, ctx.now)? });
                }
                Some(_) => return Err(CoreError::new(ErrorCode::TicketAlreadyRegistered).into()),
                None => {}
            }
            let changed =
                diesel::update(tickets::table.find(&ticket.id).filter(tickets::customer_id.is_null()))
                    .set((
                        tickets::customer_id.eq(&customer),
                        tickets::registered_at.eq(stored_time(ctx.now)),
                    ))
                    .execute(conn)?;
            if changed == 0 {
                return Err(CoreError::new(ErrorCode::TicketAlreadyRegistered).into());
            }
            let subject = Subject { customer_id: Some(&customer), ..Subject::of("ticket", &ticket.id) };
            append(
                conn,
                ctx,
                EventKind::TicketRegistered,
                subject,
                json!({"ticket_code": display_code(&ticket.code)?}),
            )?;
            crate::bonus::earn(conn, ctx, &customer, &ticket.id)?;
            let bonus = crate::bonus::of_ticket(conn, &customer, &ticket.id)?;
            let ticket = TicketRow {
                customer_id: Some(customer.clone()),
                registered_at: Some(stored_time(ctx.now)),
                ..ticket
            };
            Ok(TicketView { bonus, ..ticket_view(conn, ticket, ctx.now)? })
        })
    }

    /// Moves a ticket (with its licenses) to another customer account (support).
    pub fn move_ticket(
        &self,
        ctx: &Context,
        code: &TicketCode,
        to_customer: Uuid,
    ) -> StoreResult<TicketView> {
        let customer = to_customer.to_string();
        self.write(|conn| {
            let known: i64 = crate::schema::customers::table.find(&customer).count().get_result(conn)?;
            if known == 0 {
                return Err(CoreError::not_found("customer").into());
            }
            let ticket = ticket_by_code(conn, code)?;
            if ticket.customer_id.as_deref() == Some(customer.as_str()) {
                return ticket_view(conn, ticket, ctx.now);
            }
            let now = stored_time(ctx.now);
            diesel::update(tickets::table.find(&ticket.id))
                .set((tickets::customer_id.eq(&customer), tickets::registered_at.eq(now)))
                .execute(conn)?;
            if ticket.customer_id.is_none() {
                // Support registering an unowned ticket for a customer earns like the customer
                // registering it (once per ticket, as always).
                crate::bonus::earn(conn, ctx, &customer, &ticket.id)?;
            }
            let subject = Subject { customer_id: Some(&customer), ..Subject::of("ticket", &ticket.id) };
            let data =
                json!({"ticket_code": display_code(&ticket.code)?, "from_customer_id": ticket.customer_id});
            append(conn, ctx, EventKind::TicketRegistered, subject, data)?;
            let ticket =
                TicketRow { customer_id: Some(customer.clone()), registered_at: Some(now), ..ticket };
            ticket_view(conn, ticket, ctx.now)
        })
    }

    /// The tickets a scope sees, oldest first, one page at a time: a customer's registered
    /// tickets, or the ticket of a ticket login.
    pub fn list_tickets(
        &self,
        scope: Scope,
        paging: &Paging,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Page<TicketView>> {
        self.read(|conn| {
            let mut query = tickets::table.into_boxed();
            query = match scope {
                Scope::Customer(id) => query.filter(tickets::customer_id.eq(id.to_string())),
                Scope::Ticket(id) => query.filter(tickets::id.eq(id.to_string())),
                Scope::Staff => return Ok(Page { items: Vec::new(), next_cursor: None }),
            };
            if let Some(after) = &paging.after {
                query = query.filter(tickets::id.gt(after.clone()));
            }
            let rows: Vec<TicketRow> = query
                .order(tickets::id.asc())
                .limit(paging.fetch())
                .select(TicketRow::as_select())
                .load(conn)?;
            Page::of(rows, paging, |t| t.id.clone()).try_map(|t| ticket_view(conn, t, now))
        })
    }

    /// Every license of a customer's registered tickets, with state, seats in use, remaining
    /// re-activation credits and the date of the next one.
    pub fn list_customer_licenses(
        &self,
        customer_id: Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<LicenseView>> {
        self.read(|conn| views(&load(conn, Select::Customer(&customer_id.to_string()))?, now))
    }

    /// One license the scope may see.
    pub fn get_license(
        &self,
        scope: Scope,
        id: Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<LicenseView> {
        self.read(|conn| load_in_scope(conn, scope, &id.to_string())?.view(now))
    }

    /// The licenses a scope sees: a customer's, a ticket's, or (for staff) none: staff look
    /// licenses up by ticket or id.
    pub fn list_licenses(
        &self,
        scope: Scope,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<LicenseView>> {
        match scope {
            Scope::Customer(id) => self.list_customer_licenses(id, now),
            Scope::Ticket(id) => self.read(|conn| views(&load(conn, Select::Ticket(&id.to_string()))?, now)),
            Scope::Staff => Ok(Vec::new()),
        }
    }

    /// The licenses a scope sees, by creation, one page at a time (see [`Store::list_licenses`]).
    pub fn page_licenses(
        &self,
        scope: Scope,
        paging: &Paging,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Page<LicenseView>> {
        let (customer, ticket) = (scope_id(scope, true), scope_id(scope, false));
        let select = match (&customer, &ticket) {
            (Some(id), _) => Select::Customer(id),
            (None, Some(id)) => Select::Ticket(id),
            (None, None) => return Ok(Page { items: Vec::new(), next_cursor: None }),
        };
        self.read(|conn| {
            let loaded = load_page(conn, select, Some(paging))?;
            Page::of(loaded, paging, |l| l.license.id.clone()).try_map(|l| l.view(now))
        })
    }
}

/// The customer's (`customer`) or the ticket's id of a scope, as stored.
fn scope_id(scope: Scope, customer: bool) -> Option<String> {
    match (scope, customer) {
        (Scope::Customer(id), true) | (Scope::Ticket(id), false) => Some(id.to_string()),
        (Scope::Customer(_), false) | (Scope::Ticket(_), true) | (Scope::Staff, _) => None,
    }
}
