//! Use cases of the catalog: products, rule sets and items.

use diesel::prelude::*;
use keyport_core::{
    CoreError, DisplayName, ErrorCode, EventKind, Features, ItemChanges, ItemSpec, LicenseModel, ProductSpec,
    RuleSet, RuleSetParams, VersionRange,
};
use serde_json::json;

use crate::db::DbConn;
use crate::error::stored;
use crate::events::{Subject, append};
use crate::rows::{ItemRow, ProductRow, RuleSetRow, unsigned};
use crate::schema::{items, products, rule_sets};
use crate::{
    Context, ItemView, Page, Paging, ProductView, RuleSetView, Store, StoreResult, new_id, stored_time, utc,
    uuid_of,
};

fn exists(resource: &'static str, field: &'static str) -> CoreError {
    CoreError::new(ErrorCode::AlreadyExists).with("resource", resource).with("field", field)
}

fn signed(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl Store {
    /// Defines a product; its code must be new.
    pub fn define_product(&self, ctx: &Context, spec: &ProductSpec) -> StoreResult<ProductView> {
        self.write(|conn| {
            let taken: i64 =
                products::table.filter(products::code.eq(spec.code.as_str())).count().get_result(conn)?;
            if taken > 0 {
                return Err(exists("product", "code").into());
            }
            let row = ProductRow {
                id: new_id(),
                code: spec.code.as_str().to_owned(),
                name: spec.name.as_str().to_owned(),
                created_at: stored_time(ctx.now),
            };
            diesel::insert_into(products::table).values(&row).execute(conn)?;
            append(
                conn,
                ctx,
                EventKind::ProductDefined,
                Subject::of("product", &row.id),
                json!({"code": row.code}),
            )?;
            product_view(row)
        })
    }

    /// Renames a product.
    pub fn update_product(&self, ctx: &Context, code: &str, name: &DisplayName) -> StoreResult<ProductView> {
        self.write(|conn| {
            let row = find_product(conn, code)?;
            diesel::update(products::table.find(&row.id))
                .set(products::name.eq(name.as_str()))
                .execute(conn)?;
            let data = json!({"code": row.code, "name": name.as_str(), "before": {"name": row.name}});
            append(conn, ctx, EventKind::ProductUpdated, Subject::of("product", &row.id), data)?;
            product_view(ProductRow { name: name.as_str().to_owned(), ..row })
        })
    }

    /// A product by code.
    pub fn get_product(&self, code: &str) -> StoreResult<ProductView> {
        self.read(|conn| {
            let row: Option<ProductRow> = products::table
                .filter(products::code.eq(code))
                .select(ProductRow::as_select())
                .first(conn)
                .optional()?;
            product_view(row.ok_or_else(|| CoreError::not_found("product"))?)
        })
    }

    /// Changes an item's name, features or rule set; licenses follow from now on. Its license
    /// model and versions are fixed once sold.
    pub fn update_item(&self, ctx: &Context, sku: &str, changes: &ItemChanges) -> StoreResult<ItemView> {
        self.write(|conn| {
            let row: ItemRow = items::table
                .filter(items::sku.eq(sku))
                .select(ItemRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| CoreError::not_found("item"))?;
            let mut updated = row.clone();
            if let Some(name) = &changes.name {
                updated.name = name.as_str().to_owned();
            }
            if let Some(features) = &changes.features {
                updated.features = serde_json::to_string(features.names())
                    .map_err(|e| crate::StoreError::Corrupt(format!("features: {e}")))?;
            }
            if let Some(rule_set) = &changes.rule_set {
                let rules = find_rule_set(conn, rule_set.as_str())?
                    .ok_or_else(|| CoreError::not_found("rule set"))?;
                updated.rule_set_id = rules.id;
            }
            if let Some(offered) = changes.self_service {
                updated.self_service = keyport_core::catalog::check_self_service(model_of(&row)?, offered)?;
            }
            diesel::update(items::table.find(&row.id))
                .set((
                    items::name.eq(&updated.name),
                    items::features.eq(&updated.features),
                    items::rule_set_id.eq(&updated.rule_set_id),
                    items::self_service.eq(updated.self_service),
                ))
                .execute(conn)?;
            let data = json!({"sku": row.sku, "before": {"name": row.name, "features": row.features,
                                                        "self_service": row.self_service}});
            append(conn, ctx, EventKind::ItemUpdated, Subject::of("item", &row.id), data)?;
            let product: String =
                products::table.find(&updated.product_id).select(products::code).first(conn)?;
            let rules: String =
                rule_sets::table.find(&updated.rule_set_id).select(rule_sets::name).first(conn)?;
            item_view(updated, &product, &rules)
        })
    }

    /// The products, by code, one page at a time.
    pub fn list_products(&self, paging: &Paging) -> StoreResult<Page<ProductView>> {
        self.read(|conn| {
            let mut query = products::table.order(products::code.asc()).into_boxed();
            if let Some(after) = &paging.after {
                query = query.filter(products::code.gt(after.clone()));
            }
            let rows: Vec<ProductRow> =
                query.limit(paging.fetch()).select(ProductRow::as_select()).load(conn)?;
            Page::of(rows, paging, |r| r.code.clone()).try_map(product_view)
        })
    }

    /// Defines a rule set; its name must be new.
    pub fn define_rule_set(&self, ctx: &Context, rules: &RuleSet) -> StoreResult<RuleSetView> {
        self.write(|conn| {
            if find_rule_set(conn, rules.name().as_str())?.is_some() {
                return Err(exists("rule set", "name").into());
            }
            let row = rule_set_row(new_id(), rules.params(), stored_time(ctx.now), stored_time(ctx.now));
            diesel::insert_into(rule_sets::table).values(&row).execute(conn)?;
            append(
                conn,
                ctx,
                EventKind::RuleSetDefined,
                Subject::of("rule_set", &row.id),
                json!({"name": row.name}),
            )?;
            rule_set_view(row)
        })
    }

    /// Changes the numbers of an existing rule set (found by name); licenses follow the new
    /// numbers from now on.
    pub fn update_rule_set(&self, ctx: &Context, rules: &RuleSet) -> StoreResult<RuleSetView> {
        self.write(|conn| {
            let old = find_rule_set(conn, rules.name().as_str())?
                .ok_or_else(|| CoreError::not_found("rule set"))?;
            let row = rule_set_row(old.id.clone(), rules.params(), old.created_at, stored_time(ctx.now));
            diesel::update(rule_sets::table.find(&old.id)).set(&row).execute(conn)?;
            let before = rule_set_view(old)?;
            append(
                conn,
                ctx,
                EventKind::RuleSetUpdated,
                Subject::of("rule_set", &row.id),
                json!({"name": row.name, "before": before}),
            )?;
            rule_set_view(row)
        })
    }

    /// A rule set by name.
    pub fn get_rule_set(&self, name: &str) -> StoreResult<RuleSetView> {
        self.read(|conn| {
            let row = find_rule_set(conn, name)?.ok_or_else(|| CoreError::not_found("rule set"))?;
            rule_set_view(row)
        })
    }

    /// The rule sets, by name, one page at a time.
    pub fn list_rule_sets(&self, paging: &Paging) -> StoreResult<Page<RuleSetView>> {
        self.read(|conn| {
            let mut query = rule_sets::table.order(rule_sets::name.asc()).into_boxed();
            if let Some(after) = &paging.after {
                query = query.filter(rule_sets::name.gt(after.clone()));
            }
            let rows: Vec<RuleSetRow> =
                query.limit(paging.fetch()).select(RuleSetRow::as_select()).load(conn)?;
            Page::of(rows, paging, |r| r.name.clone()).try_map(rule_set_view)
        })
    }

    /// Defines an item of an existing product under an existing rule set; its SKU must be
    /// new.
    pub fn define_item(&self, ctx: &Context, spec: &ItemSpec) -> StoreResult<ItemView> {
        self.write(|conn| {
            let taken: i64 =
                items::table.filter(items::sku.eq(spec.sku.as_str())).count().get_result(conn)?;
            if taken > 0 {
                return Err(exists("item", "sku").into());
            }
            let product = find_product(conn, spec.product.as_str())?;
            let rules = find_rule_set(conn, spec.rule_set.as_str())?
                .ok_or_else(|| CoreError::not_found("rule set"))?;
            let from: Vec<&str> = spec.upgrade_from.iter().map(|s| s.as_str()).collect();
            let known: Vec<(ItemRow, String)> = items::table
                .inner_join(products::table)
                .filter(items::sku.eq_any(&from))
                .select((ItemRow::as_select(), products::code))
                .load(conn)?;
            if let Some(missing) = from.iter().find(|s| !known.iter().any(|(k, _)| k.sku == **s)) {
                return Err(CoreError::invalid(
                    "upgrade_from",
                    format!("names the item '{missing}', which does not exist"),
                )
                .into());
            }
            let path = known
                .iter()
                .map(|(row, product)| Ok((row.sku.clone(), product.clone(), model_of(row)?)))
                .collect::<StoreResult<Vec<_>>>()?;
            keyport_core::catalog::check_upgrade_path(&spec.product, spec.model, &path)?;
            let row = ItemRow {
                id: new_id(),
                sku: spec.sku.as_str().to_owned(),
                product_id: product.id.clone(),
                rule_set_id: rules.id.clone(),
                name: spec.name.as_str().to_owned(),
                license_model: spec.model.kind().to_owned(),
                duration_days: spec.model.days().map(signed),
                features: serde_json::to_string(spec.features.names())
                    .map_err(|e| crate::StoreError::Corrupt(format!("features: {e}")))?,
                version_min: signed(spec.versions.min_major()),
                version_max: spec.versions.max_major().map(signed),
                created_at: stored_time(ctx.now),
                self_service: spec.self_service,
                upgrade_from: serde_json::Value::from(from).to_string(),
            };
            diesel::insert_into(items::table).values(&row).execute(conn)?;
            append(conn, ctx, EventKind::ItemDefined, Subject::of("item", &row.id), json!({"sku": row.sku}))?;
            item_view(row, &product.code, &rules.name)
        })
    }

    /// An item by SKU.
    pub fn get_item(&self, sku: &str) -> StoreResult<ItemView> {
        self.read(|conn| {
            let found: Option<(ItemRow, String, String)> = items::table
                .inner_join(products::table)
                .inner_join(rule_sets::table)
                .filter(items::sku.eq(sku))
                .select((ItemRow::as_select(), products::code, rule_sets::name))
                .first(conn)
                .optional()?;
            let (row, product, rules) = found.ok_or_else(|| CoreError::not_found("item"))?;
            item_view(row, &product, &rules)
        })
    }

    /// The items, by SKU, one page at a time.
    pub fn list_items(&self, paging: &Paging) -> StoreResult<Page<ItemView>> {
        self.read(|conn| {
            let mut query = items::table
                .inner_join(products::table)
                .inner_join(rule_sets::table)
                .order(items::sku.asc())
                .into_boxed();
            if let Some(after) = &paging.after {
                query = query.filter(items::sku.gt(after.clone()));
            }
            let rows: Vec<(ItemRow, String, String)> = query
                .limit(paging.fetch())
                .select((ItemRow::as_select(), products::code, rule_sets::name))
                .load(conn)?;
            Page::of(rows, paging, |r| r.0.sku.clone())
                .try_map(|(row, product, rules)| item_view(row, &product, &rules))
        })
    }
}

pub(crate) fn find_rule_set(conn: &mut DbConn, name: &str) -> StoreResult<Option<RuleSetRow>> {
    Ok(rule_sets::table
        .filter(rule_sets::name.eq(name))
        .select(RuleSetRow::as_select())
        .first(conn)
        .optional()?)
}

fn rule_set_row(
    id: String,
    p: &RuleSetParams,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
) -> RuleSetRow {
    RuleSetRow {
        id,
        name: p.name.clone(),
        seats: signed(p.seats),
        deactivation_allowed: p.deactivation_allowed,
        offline_allowed: p.offline_allowed,
        initial_credits: signed(p.initial_credits),
        blocking_days: signed(p.blocking_days),
        replenish_credits: signed(p.replenish_credits),
        replenish_every_days: signed(p.replenish_every_days),
        credit_cap: signed(p.credit_cap),
        emergency_days: signed(p.emergency_days),
        emergency_per_year: signed(p.emergency_per_year),
        checkin_interval_days: p.checkin_interval_days.map(signed),
        checkin_grace_days: signed(p.checkin_grace_days),
        created_at,
        updated_at,
    }
}

/// The core rule set a stored row describes.
pub(crate) fn rule_set_of(row: &RuleSetRow) -> StoreResult<RuleSet> {
    let params = RuleSetParams {
        name: row.name.clone(),
        seats: unsigned("seats", row.seats)?,
        deactivation_allowed: row.deactivation_allowed,
        offline_allowed: row.offline_allowed,
        initial_credits: unsigned("initial_credits", row.initial_credits)?,
        blocking_days: unsigned("blocking_days", row.blocking_days)?,
        replenish_credits: unsigned("replenish_credits", row.replenish_credits)?,
        replenish_every_days: unsigned("replenish_every_days", row.replenish_every_days)?,
        credit_cap: unsigned("credit_cap", row.credit_cap)?,
        emergency_days: unsigned("emergency_days", row.emergency_days)?,
        emergency_per_year: unsigned("emergency_per_year", row.emergency_per_year)?,
        checkin_interval_days: row
            .checkin_interval_days
            .map(|d| unsigned("checkin_interval_days", d))
            .transpose()?,
        checkin_grace_days: unsigned("checkin_grace_days", row.checkin_grace_days)?,
    };
    stored("rule set", RuleSet::new(params))
}

/// The license model a stored item row names.
pub(crate) fn model_of(row: &ItemRow) -> StoreResult<LicenseModel> {
    let days = row.duration_days.map(|d| unsigned("duration_days", d)).transpose()?;
    stored("license model", LicenseModel::parse(&row.license_model, days))
}

/// The feature names a stored item row lists.
/// A product by code; `not_found` when there is none.
pub(crate) fn find_product(conn: &mut DbConn, code: &str) -> StoreResult<ProductRow> {
    products::table
        .filter(products::code.eq(code))
        .select(ProductRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| CoreError::not_found("product").into())
}

pub(crate) fn features_of(row: &ItemRow) -> StoreResult<Vec<String>> {
    let names: Vec<String> = serde_json::from_str(&row.features)
        .map_err(|e| crate::StoreError::Corrupt(format!("features of item {}: {e}", row.sku)))?;
    Ok(stored("features", Features::new(names))?.names().to_vec())
}

pub(crate) fn product_view(row: ProductRow) -> StoreResult<ProductView> {
    Ok(ProductView { id: uuid_of(&row.id)?, code: row.code, name: row.name, created_at: utc(row.created_at) })
}

pub(crate) fn rule_set_view(row: RuleSetRow) -> StoreResult<RuleSetView> {
    let rules = rule_set_of(&row)?;
    let p = rules.params();
    Ok(RuleSetView {
        id: uuid_of(&row.id)?,
        name: p.name.clone(),
        seats: p.seats,
        deactivation_allowed: p.deactivation_allowed,
        offline_allowed: p.offline_allowed,
        initial_credits: p.initial_credits,
        blocking_days: p.blocking_days,
        replenish_credits: p.replenish_credits,
        replenish_every_days: p.replenish_every_days,
        credit_cap: p.credit_cap,
        emergency_days: p.emergency_days,
        emergency_per_year: p.emergency_per_year,
        checkin_interval_days: p.checkin_interval_days,
        checkin_grace_days: p.checkin_grace_days,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    })
}

/// The major versions an item entitles, as stored.
pub(crate) fn versions_of(row: &ItemRow) -> StoreResult<VersionRange> {
    stored(
        "versions",
        VersionRange::new(
            unsigned("version_min", row.version_min)?,
            row.version_max.map(|v| unsigned("version_max", v)).transpose()?,
        ),
    )
}

pub(crate) fn item_view(row: ItemRow, product_code: &str, rule_set: &str) -> StoreResult<ItemView> {
    let model = model_of(&row)?;
    let versions = versions_of(&row)?;
    let upgrade_from = upgrade_from_of(&row)?;
    Ok(ItemView {
        id: uuid_of(&row.id)?,
        features: features_of(&row)?,
        sku: row.sku,
        product_code: product_code.to_owned(),
        name: row.name,
        license_model: model.kind().to_owned(),
        duration_days: model.days(),
        version_min: versions.min_major(),
        version_max: versions.max_major(),
        rule_set: rule_set.to_owned(),
        self_service: row.self_service,
        upgrade_from,
        created_at: utc(row.created_at),
    })
}

/// The SKUs an item upgrades, as stored.
pub(crate) fn upgrade_from_of(row: &ItemRow) -> StoreResult<Vec<String>> {
    serde_json::from_str(&row.upgrade_from)
        .map_err(|e| crate::StoreError::Corrupt(format!("upgrade_from: {e}")))
}
