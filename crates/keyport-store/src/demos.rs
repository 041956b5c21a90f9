//! Demo licenses: a self-service demo item of a product becomes a ticket with one demo
//! license (an order of the shop [`DEMO_SHOP`]), activated on the machine when the request
//! comes from one. The claims (`customer:<id>`, `email:<address>`, `machine:<fingerprint>`)
//! are written in the same transaction under a unique key: a racing second request fails on
//! the key, is tried again, and then sees the first one's claim (`demo_already_used`). A
//! demo license activated later on another machine claims that machine as well. A later
//! purchase of the product by the same customer (or address) is recorded as a conversion.

use diesel::prelude::*;
use keyport_core::demo::{self, DemoDecision, DemoPolicy};
use keyport_core::{
    CoreError, DisplayName, Email, EventKind, ExternalOrderNumber, Lang, MachineIdentity, OrderCustomer,
    OrderLine, OrderRequest, ProductCode, ShopName, Sku,
};
use serde_json::json;
use uuid::Uuid;

use crate::db::DbConn;
use crate::demo_claims::{claims_on_record, insert_claim};
use crate::events::{Subject, append};
use crate::lookup::by_email;
use crate::mail::{Mail, MailLinks};
use crate::rows::{CustomerRow, ItemRow};
use crate::schema::{customers, items, licenses, products, tickets};
use crate::{Context, DemoOutcome, Scope, Store, StoreResult, new_id, stored_time, uuid_of};
use keyport_core::order::DEMO_SHOP;

/// A demo the ISV's software asks for on a machine, for an e-mail address.
#[derive(Debug, Clone, Copy)]
pub struct SoftwareDemo<'a> {
    /// The product.
    pub product: &'a ProductCode,
    /// The user's address: the ticket is mailed there.
    pub email: &'a Email,
    /// The mail's language.
    pub lang: Lang,
    /// The machine the demo is activated on.
    pub machine: &'a MachineIdentity,
}

/// Who a demo is for.
#[derive(Debug, Clone, Copy)]
pub enum DemoFor<'a> {
    /// A logged-in customer, whose address must be confirmed; sees the ticket code.
    Customer(Uuid),
    /// The ISV's software on a machine, for an address. Nobody has confirmed the address, so
    /// the demo joins no account: its ticket is mailed to the address (not shown), and the
    /// owner logs in with it or registers it.
    Email {
        /// The address.
        email: &'a Email,
        /// The mail's language.
        lang: Lang,
        /// Where the mail's links point.
        links: &'a MailLinks,
    },
    /// A shop, for a customer it knows (an account is made for a new address, confirmed:
    /// the shop vouches for it); sees the ticket code. Asking again answers the same demo.
    Shop(&'a Email),
}

impl Store {
    /// The products a customer may try on their own: those with a self-service demo item,
    /// as (code, name), by name.
    pub fn demo_products(&self) -> StoreResult<Vec<(String, String)>> {
        self.read_each(|conn| {
            Ok(items::table
                .inner_join(products::table)
                .filter(items::license_model.eq("demo"))
                .filter(items::self_service.eq(true))
                .select((products::code, products::name))
                .distinct()
                .order((products::name.asc(), products::code.asc()))
                .limit(100)
                .load(conn)?)
        })
    }

    /// Gives a demo of `product` to `who`, activated on `machine` when one is named, within
    /// the limits: one per customer, one per address and one per machine per product, none
    /// for a refused e-mail domain.
    pub fn request_demo(
        &self,
        ctx: &Context,
        product: &ProductCode,
        who: DemoFor<'_>,
        machine: Option<&MachineIdentity>,
        policy: &DemoPolicy,
    ) -> StoreResult<DemoOutcome> {
        self.write(|conn| {
            let (item, product_id) = demo_item(conn, product)?;
            let (customer, email) = demo_customer(conn, ctx, who)?;
            let customer_id = customer.as_ref().map(|c| uuid_of(&c.id)).transpose()?;
            let wanted =
                demo::claimants(customer_id.map(|id| (id, &email)), machine.map(|m| m.fingerprint.as_str()));
            let taken = claims_on_record(conn, &product_id, &wanted)?;
            let model = crate::catalog::model_of(&item)?;
            let repeatable = matches!(who, DemoFor::Shop(_));
            let decision = demo::decide_demo(
                product.as_str(),
                model,
                item.self_service,
                &email,
                policy,
                (&taken, repeatable),
            )?;
            let days = match decision {
                DemoDecision::Give(days) => days,
                DemoDecision::Again(license) => return demo_again(conn, product, &item, license),
            };
            let order = demo_order(conn, ctx, &item, customer.as_ref().map(|_| &email))?;
            let license_id = order
                .order
                .lines
                .first()
                .and_then(|l| l.license_ids.first().copied())
                .ok_or_else(|| crate::StoreError::Corrupt("a demo order holds no license".to_owned()))?;
            for claimant in &wanted {
                insert_claim(conn, ctx, &product_id, claimant, license_id, customer.as_ref())?;
            }
            let activation = match machine {
                Some(machine) => {
                    Some(crate::activations::activate_in(conn, ctx, Scope::Staff, license_id, machine)?)
                }
                None => None,
            };
            let license_text = license_id.to_string();
            let subject = Subject {
                license_id: Some(&license_text),
                customer_id: customer.as_ref().map(|c| c.id.as_str()),
                ..Subject::of("license", &license_text)
            };
            let data = json!({"product": product.as_str(), "sku": item.sku, "days": days,
                              "machine": activation.as_ref().map(|a| a.activation.machine_id)});
            append(conn, ctx, EventKind::DemoRequested, subject, data)?;
            let ticket_code = order.order.ticket_code.clone();
            let shown = match who {
                DemoFor::Customer(_) | DemoFor::Shop(_) => Some(ticket_code),
                DemoFor::Email { email, lang, links } => {
                    let mail =
                        Mail::DemoTicket { product: product.as_str(), ticket_code: &ticket_code, days };
                    crate::mail::enqueue(conn, ctx, email, &mail, links, lang)?;
                    None
                }
            };
            Ok(DemoOutcome {
                license_id,
                product_code: product.as_str().to_owned(),
                sku: item.sku.clone(),
                expires_at: model.expires_at(ctx.now),
                ticket_code: shown,
                activation,
            })
        })
    }
}

/// A shop's repeated request: the demo it was given, as it is now.
fn demo_again(
    conn: &mut DbConn,
    product: &ProductCode,
    item: &ItemRow,
    license: Uuid,
) -> StoreResult<DemoOutcome> {
    let (code, expires_at): (String, Option<chrono::NaiveDateTime>) = licenses::table
        .inner_join(tickets::table)
        .filter(licenses::id.eq(license.to_string()))
        .select((tickets::code, licenses::expires_at))
        .first(conn)?;
    Ok(DemoOutcome {
        license_id: license,
        product_code: product.as_str().to_owned(),
        sku: item.sku.clone(),
        expires_at: expires_at.map(crate::utc),
        ticket_code: Some(crate::rows::display_code(&code)?),
        activation: None,
    })
}

/// The product's demo item: the self-service one, else any (so the refusal can say the demo
/// is not offered).
fn demo_item(conn: &mut DbConn, product: &ProductCode) -> StoreResult<(ItemRow, String)> {
    let found: Option<(ItemRow, String)> = items::table
        .inner_join(products::table)
        .filter(products::code.eq(product.as_str()))
        .filter(items::license_model.eq("demo"))
        .order((items::self_service.desc(), items::created_at.asc(), items::id.asc()))
        .select((ItemRow::as_select(), products::id))
        .first(conn)
        .optional()?;
    found.ok_or_else(|| {
        CoreError::new(keyport_core::ErrorCode::DemoNotOffered).with("product", product.as_str()).into()
    })
}

/// The account a demo joins (none for the software's request) and the address it is for.
fn demo_customer(
    conn: &mut DbConn,
    ctx: &Context,
    who: DemoFor<'_>,
) -> StoreResult<(Option<CustomerRow>, Email)> {
    match who {
        DemoFor::Customer(id) => {
            let found: Option<(CustomerRow, Option<chrono::NaiveDateTime>)> = customers::table
                .find(id.to_string())
                .select((CustomerRow::as_select(), customers::email_verified_at))
                .first(conn)
                .optional()?;
            let (row, verified_at) = found.ok_or_else(|| CoreError::not_found("customer"))?;
            if verified_at.is_none() {
                return Err(CoreError::new(keyport_core::ErrorCode::EmailNotVerified).into());
            }
            let email = crate::error::stored("e-mail address", Email::parse(&row.email))?;
            Ok((Some(row), email))
        }
        DemoFor::Email { email, .. } => Ok((None, email.clone())),
        DemoFor::Shop(email) => match by_email(conn, email)? {
            Some(row) => Ok((Some(row), email.clone())),
            None => Ok((Some(new_customer(conn, ctx, email)?), email.clone())),
        },
    }
}

/// An account for a shop's customer, confirmed (the shop vouches for the address), named
/// after the address's local part.
fn new_customer(conn: &mut DbConn, ctx: &Context, email: &Email) -> StoreResult<CustomerRow> {
    let local: String = email.as_str().split('@').next().unwrap_or_default().chars().take(200).collect();
    let name = DisplayName::parse(&local).or_else(|_| DisplayName::parse("Customer"))?;
    let row = CustomerRow {
        id: new_id(),
        email: email.as_str().to_owned(),
        name: name.as_str().to_owned(),
        customer_number: None,
        created_at: stored_time(ctx.now),
        name_folded: Some(crate::lookup::fold(name.as_str())),
    };
    diesel::insert_into(customers::table).values(&row).execute(conn)?;
    diesel::update(customers::table.find(&row.id))
        .set(customers::email_verified_at.eq(stored_time(ctx.now)))
        .execute(conn)?;
    let subject = Subject { customer_id: Some(&row.id), ..Subject::of("customer", &row.id) };
    append(conn, ctx, EventKind::CustomerCreated, subject, json!({"email": row.email, "demo": true}))?;
    Ok(row)
}

fn demo_order(
    conn: &mut DbConn,
    ctx: &Context,
    item: &ItemRow,
    customer: Option<&Email>,
) -> StoreResult<crate::OrderOutcome> {
    let request = OrderRequest::new(
        ShopName::parse(DEMO_SHOP)?,
        ExternalOrderNumber::parse(&format!("DEMO-{}", new_id()))?,
        customer.map_or(OrderCustomer::None, |email| OrderCustomer::ByEmail(email.clone())),
        vec![OrderLine::new(1, Sku::parse(&item.sku)?, 1)?],
    )?;
    crate::orders::create_order_in(conn, ctx, &request)
}
