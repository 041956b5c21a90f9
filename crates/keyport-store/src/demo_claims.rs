//! The claims of demos: who had a demo of which product (a customer, an address, a
//! machine), recorded under a unique key; a demo license taking a seat claims its machine;
//! a purchase converts the buyer's claims once. Used by the demo, activation and order use
//! cases, so it depends on none of them.

use diesel::prelude::*;
use keyport_core::demo::{self, Claimant};
use keyport_core::{Email, EventKind};
use serde_json::json;
use uuid::Uuid;

use crate::db::DbConn;
use crate::events::{Subject, append};
use crate::licenses::Loaded;
use crate::rows::{CustomerRow, OrderRow};
use crate::schema::{customers, demo_claims, items, licenses, order_lines, tickets};
use crate::{Context, StoreResult, stored_time, uuid_of};

/// The claims of this request already on record, with their demo licenses.
pub(crate) fn claims_on_record(
    conn: &mut DbConn,
    product_id: &str,
    wanted: &[Claimant],
) -> StoreResult<Vec<(Claimant, Uuid)>> {
    let keys: Vec<String> = wanted.iter().map(Claimant::key).collect();
    let found: Vec<(String, String)> = demo_claims::table
        .filter(demo_claims::product_id.eq(product_id))
        .filter(demo_claims::claimant.eq_any(&keys))
        .select((demo_claims::claimant, demo_claims::license_id))
        .load(conn)?;
    wanted
        .iter()
        .filter_map(|c| found.iter().find(|(key, _)| *key == c.key()).map(|(_, l)| (c.clone(), l)))
        .map(|(c, l)| Ok((c, uuid_of(l)?)))
        .collect()
}

pub(crate) fn insert_claim(
    conn: &mut DbConn,
    ctx: &Context,
    product_id: &str,
    claimant: &Claimant,
    license_id: Uuid,
    customer: Option<&CustomerRow>,
) -> StoreResult<()> {
    diesel::insert_into(demo_claims::table)
        .values((
            demo_claims::product_id.eq(product_id),
            demo_claims::claimant.eq(claimant.key()),
            demo_claims::license_id.eq(license_id.to_string()),
            demo_claims::customer_id.eq(customer.map(|c| c.id.clone())),
            demo_claims::claimed_at.eq(stored_time(ctx.now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// A license given as a demo (it holds claims) taking a seat on a machine claims the machine
/// for its product: a machine that had another demo of it is `demo_already_used`. Other
/// licenses pass untouched, a demo item a shop sold in an order too.
pub(crate) fn claim_machine(
    conn: &mut DbConn,
    ctx: &Context,
    loaded: &Loaded,
    fingerprint: &str,
) -> StoreResult<()> {
    match crate::catalog::model_of(&loaded.item)? {
        keyport_core::LicenseModel::Demo { .. } => {}
        keyport_core::LicenseModel::Perpetual | keyport_core::LicenseModel::Subscription { .. } => {
            return Ok(());
        }
    }
    let given: i64 =
        demo_claims::table.filter(demo_claims::license_id.eq(&loaded.license.id)).count().get_result(conn)?;
    if given == 0 {
        return Ok(());
    }
    let claimant = Claimant::Machine(fingerprint.to_owned());
    let claimed_for: Option<String> = demo_claims::table
        .filter(demo_claims::product_id.eq(&loaded.item.product_id))
        .filter(demo_claims::claimant.eq(claimant.key()))
        .select(demo_claims::license_id)
        .first(conn)
        .optional()?;
    let license = uuid_of(&loaded.license.id)?;
    let claimed_for = claimed_for.as_deref().map(uuid_of).transpose()?;
    if demo::decide_machine_claim(&loaded.product_code, claimed_for, license)? {
        insert_claim(conn, ctx, &loaded.item.product_id, &claimant, license, None)?;
    }
    Ok(())
}

/// Records a conversion for each product of the added lines that the order's customer (or
/// their address) had a demo of, once per demo: an event linking the demo license to the
/// order.
pub(crate) fn record_conversions(
    conn: &mut DbConn,
    ctx: &Context,
    order: &OrderRow,
    added: &[u32],
) -> StoreResult<()> {
    let Some(customer_id) = order.customer_id.as_deref() else { return Ok(()) };
    if keyport_core::order::is_demo_shop(&order.shop) || added.is_empty() {
        return Ok(());
    }
    let numbers: Vec<i32> = added.iter().filter_map(|n| i32::try_from(*n).ok()).collect();
    let bought: Vec<(String, String)> = order_lines::table
        .inner_join(items::table)
        .filter(order_lines::order_id.eq(&order.id))
        .filter(order_lines::line_number.eq_any(&numbers))
        // An upgrade of a license owned already is no purchase after a demo.
        .filter(order_lines::upgraded_license_id.is_null())
        .filter(items::license_model.ne("demo"))
        .select((items::product_id, items::sku))
        .load(conn)?;
    if bought.is_empty() {
        return Ok(());
    }
    let address: String = customers::table.find(customer_id).select(customers::email).first(conn)?;
    let email = crate::error::stored("e-mail address", Email::parse(&address))?;
    let keys: Vec<String> =
        demo::conversion_claimants(uuid_of(customer_id)?, &email).iter().map(Claimant::key).collect();
    for (product_id, sku) in bought {
        // The buyer's demo: claimed by their account or address, or on a ticket they
        // registered (a demo the software asked for, whose ticket was mailed to them).
        let claimed: Option<String> = demo_claims::table
            .filter(demo_claims::product_id.eq(&product_id))
            .filter(demo_claims::claimant.eq_any(&keys))
            .filter(demo_claims::converted_order_id.is_null())
            .select(demo_claims::license_id)
            .first(conn)
            .optional()?;
        let demo_license = match claimed {
            Some(license) => Some(license),
            None => demo_claims::table
                .inner_join(licenses::table.on(licenses::id.eq(demo_claims::license_id)))
                .inner_join(tickets::table.on(tickets::id.eq(licenses::ticket_id)))
                .filter(demo_claims::product_id.eq(&product_id))
                .filter(tickets::customer_id.eq(customer_id))
                .filter(demo_claims::converted_order_id.is_null())
                .select(demo_claims::license_id)
                .first(conn)
                .optional()?,
        };
        let Some(demo_license) = demo_license else { continue };
        // Only the order that marks the demo's claims records the conversion (a racing
        // order that finds them marked records nothing).
        let marked = diesel::update(
            demo_claims::table
                .filter(demo_claims::license_id.eq(&demo_license))
                .filter(demo_claims::converted_order_id.is_null()),
        )
        .set(demo_claims::converted_order_id.eq(&order.id))
        .execute(conn)?;
        if marked == 0 {
            continue;
        }
        let subject = Subject {
            license_id: Some(&demo_license),
            customer_id: Some(customer_id),
            ..Subject::of("license", &demo_license)
        };
        let data = json!({"demo_license_id": demo_license, "order_id": order.id, "shop": order.shop,
                          "external_number": order.external_number, "sku": sku});
        append(conn, ctx, EventKind::DemoConverted, subject, data)?;
    }
    Ok(())
}
