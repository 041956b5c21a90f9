//! Newsletter segments: staff name a targeting rule; its export lists, page by page, the
//! customers the rule holds for who confirmed marketing consent (never an unsubscribed
//! one), with their language, the owned products the rule names and their one-click
//! unsubscribe URL. Who matches is one SQL query per page (`targeting`).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use keyport_api::{SegmentMember, SegmentMemberPage, SegmentView};
use keyport_core::mail::MailLinks;
use keyport_core::targeting::Rule;
use keyport_core::{CoreError, DisplayName, EventKind, LicenseModel};
use serde_json::json;
use uuid::Uuid;

use crate::db::DbConn;
use crate::events::{Subject, append};
use crate::schema::{customers, items, licenses, products, segments, tickets};
use crate::targeting::{MAX_MATCHES, check_names, matching};
use crate::{Context, Store, StoreError, StoreResult, new_id, stored_time, utc, uuid_of};

/// The most segments.
pub const MAX_SEGMENTS: i64 = 200;

type SegmentRow = (String, String, String, NaiveDateTime, NaiveDateTime);

fn view((id, name, rule, created, updated): SegmentRow) -> StoreResult<SegmentView> {
    Ok(SegmentView {
        id: uuid_of(&id)?,
        name,
        rule: serde_json::from_str(&rule)
            .map_err(|e| StoreError::Corrupt(format!("segment {id} rule: {e}")))?,
        created_at: utc(created),
        updated_at: utc(updated),
    })
}

fn load(conn: &mut DbConn, id: &str) -> StoreResult<SegmentRow> {
    Ok(segments::table
        .find(id)
        .select((segments::id, segments::name, segments::rule, segments::created_at, segments::updated_at))
        .first(conn)
        .optional()?
        .ok_or_else(|| CoreError::not_found("segment"))?)
}

/// Refuses a name another segment has.
fn name_free(conn: &mut DbConn, name: &DisplayName, except: Option<&str>) -> StoreResult<()> {
    let mut query = segments::table.filter(segments::name.eq(name.as_str())).into_boxed();
    if let Some(id) = except {
        query = query.filter(segments::id.ne(id.to_owned()));
    }
    let taken: i64 = query.count().get_result(conn)?;
    if taken > 0 {
        return Err(CoreError::invalid("name", "another segment has this name").into());
    }
    Ok(())
}

/// The products the rule names (directly or by item) that each customer owns now.
fn products_of(
    conn: &mut DbConn,
    rule: &Rule,
    ids: &[String],
    now: DateTime<Utc>,
) -> StoreResult<HashMap<String, BTreeSet<String>>> {
    let (named, skus) = rule.names();
    if ids.is_empty() || (named.is_empty() && skus.is_empty()) {
        return Ok(HashMap::new());
    }
    let named: Vec<&str> = named.iter().map(|p| p.as_str()).collect();
    let skus: Vec<&str> = skus.iter().map(|s| s.as_str()).collect();
    let at = stored_time(now);
    let pairs: Vec<(Option<String>, String)> = licenses::table
        .inner_join(tickets::table)
        .inner_join(items::table.inner_join(products::table))
        .filter(tickets::customer_id.eq_any(ids))
        .filter(licenses::revoked_at.is_null())
        .filter(licenses::expires_at.is_null().or(licenses::expires_at.gt(at)))
        .filter(items::license_model.ne(LicenseModel::Demo { days: 0 }.kind()))
        .filter(products::code.eq_any(&named).or(items::sku.eq_any(&skus)))
        .select((tickets::customer_id, products::code))
        .distinct()
        .load(conn)?;
    let mut out: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (customer, product) in pairs {
        if let Some(customer) = customer {
            out.entry(customer).or_default().insert(product);
        }
    }
    Ok(out)
}

impl Store {
    /// Defines a segment (at most [`MAX_SEGMENTS`]; names unique; the products and items
    /// its rule names must exist).
    pub fn create_segment(&self, ctx: &Context, name: &DisplayName, rule: &Rule) -> StoreResult<SegmentView> {
        rule.check()?;
        self.write(|conn| {
            if let DbConn::Pg(_) = conn {
                diesel::sql_query("LOCK TABLE segments IN SHARE ROW EXCLUSIVE MODE").execute(conn)?;
            }
            let count: i64 = segments::table.count().get_result(conn)?;
            if count >= MAX_SEGMENTS {
                return Err(
                    CoreError::invalid("name", format!("there are {MAX_SEGMENTS} segments already")).into()
                );
            }
            name_free(conn, name, None)?;
            check_names(conn, rule)?;
            let id = new_id();
            diesel::insert_into(segments::table)
                .values((
                    segments::id.eq(&id),
                    segments::name.eq(name.as_str()),
                    segments::rule.eq(rule.to_json().to_string()),
                    segments::created_at.eq(stored_time(ctx.now)),
                    segments::updated_at.eq(stored_time(ctx.now)),
                ))
                .execute(conn)?;
            append(
                conn,
                ctx,
                EventKind::SegmentDefined,
                Subject::of("segment", &id),
                json!({"name": name.as_str()}),
            )?;
            view(load(conn, &id)?)
        })
    }

    /// Changes a segment's name and rule.
    pub fn replace_segment(
        &self,
        ctx: &Context,
        id: Uuid,
        name: &DisplayName,
        rule: &Rule,
    ) -> StoreResult<SegmentView> {
        rule.check()?;
        let id = id.to_string();
        self.write(|conn| {
            load(conn, &id)?;
            name_free(conn, name, Some(&id))?;
            check_names(conn, rule)?;
            diesel::update(segments::table.find(&id))
                .set((
                    segments::name.eq(name.as_str()),
                    segments::rule.eq(rule.to_json().to_string()),
                    segments::updated_at.eq(stored_time(ctx.now)),
                ))
                .execute(conn)?;
            append(
                conn,
                ctx,
                EventKind::SegmentUpdated,
                Subject::of("segment", &id),
                json!({"name": name.as_str()}),
            )?;
            view(load(conn, &id)?)
        })
    }

    /// Deletes a segment (`not_found` when it does not exist, also the second time).
    pub fn delete_segment(&self, ctx: &Context, id: Uuid) -> StoreResult<()> {
        let id = id.to_string();
        self.write(|conn| {
            let (_, name, ..) = load(conn, &id)?;
            diesel::delete(segments::table.find(&id)).execute(conn)?;
            append(conn, ctx, EventKind::SegmentDeleted, Subject::of("segment", &id), json!({"name": name}))
        })
    }

    /// One segment.
    pub fn get_segment(&self, id: Uuid) -> StoreResult<SegmentView> {
        let id = id.to_string();
        self.read(|conn| view(load(conn, &id)?))
    }

    /// Every segment (at most [`MAX_SEGMENTS`]), by name.
    pub fn list_segments(&self) -> StoreResult<Vec<SegmentView>> {
        self.read(|conn| {
            let rows: Vec<SegmentRow> = segments::table
                .order(segments::name.asc())
                .limit(MAX_SEGMENTS)
                .select((
                    segments::id,
                    segments::name,
                    segments::rule,
                    segments::created_at,
                    segments::updated_at,
                ))
                .load(conn)?;
            rows.into_iter().map(view).collect()
        })
    }

    /// A segment's rule, as its export reads it (once, for a whole streamed export).
    pub fn segment_rule(&self, id: Uuid) -> StoreResult<Rule> {
        let id = id.to_string();
        self.read(|conn| {
            let (.., rule, _, _) = load(conn, &id)?;
            let value = serde_json::from_str(&rule)
                .map_err(|e| StoreError::Corrupt(format!("segment {id} rule: {e}")))?;
            Ok(Rule::parse(&value)?)
        })
    }

    /// A page of a segment's export at `now`: the customers its rule holds for who
    /// confirmed marketing consent, by id after `after`, at most `limit` (1 to
    /// [`MAX_MATCHES`]), in one snapshot.
    pub fn segment_members(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        after: Option<&str>,
        limit: Option<u32>,
        links: &MailLinks,
    ) -> StoreResult<SegmentMemberPage> {
        let rule = self.segment_rule(id)?;
        self.members_of(&rule, now, after, limit, links)
    }

    /// A page of the subscribed customers `rule` holds for at `now` (see
    /// [`Store::segment_members`]).
    pub fn members_of(
        &self,
        rule: &Rule,
        now: DateTime<Utc>,
        after: Option<&str>,
        limit: Option<u32>,
        links: &MailLinks,
    ) -> StoreResult<SegmentMemberPage> {
        let limit = limit.unwrap_or(MAX_MATCHES);
        if !(1..=MAX_MATCHES).contains(&limit) {
            return Err(CoreError::invalid("limit", format!("must be between 1 and {MAX_MATCHES}")).into());
        }
        // A cursor is a customer id in its stored form, however it was written.
        let after = after
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                Uuid::parse_str(a)
                    .map(|u| u.to_string())
                    .map_err(|_| CoreError::invalid("after", "is not a cursor from this list"))
            })
            .transpose()?;
        let secret = self.unsubscribe_secret()?;
        self.analytics_read(|conn| {
            let mut ids = matching(conn, rule, now, after.as_deref(), limit + 1, true)?;
            let more = ids.len() > limit as usize;
            ids.truncate(limit as usize);
            let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
            type Person = (String, String, String, String, Option<String>);
            let people: HashMap<String, Person> = customers::table
                .filter(customers::id.eq_any(&keys))
                .select((
                    customers::id,
                    customers::email,
                    customers::name,
                    customers::language,
                    customers::customer_number,
                ))
                .load::<Person>(conn)?
                .into_iter()
                .map(|p| (p.0.clone(), p))
                .collect();
            let mut owned = products_of(conn, rule, &keys, now)?;
            let items = ids
                .iter()
                .zip(&keys)
                .filter_map(|(uuid, key)| {
                    let (_, email, name, language, number) = people.get(key)?.clone();
                    Some(SegmentMember {
                        customer_id: *uuid,
                        email,
                        name,
                        language: keyport_core::Lang::from_code(&language).code().to_owned(),
                        customer_number: number,
                        products: owned.remove(key).map(|p| p.into_iter().collect()).unwrap_or_default(),
                        unsubscribe_url: format!(
                            "{}?token={}",
                            links.unsubscribe,
                            keyport_core::consent::unsubscribe_token(&secret, *uuid)
                        ),
                    })
                })
                .collect();
            let next_cursor = if more { keys.last().cloned() } else { None };
            Ok(SegmentMemberPage { items, next_cursor })
        })
    }
}
