//! Offers: staff define, change and withdraw them; a customer lists the ones that apply to
//! them now, best first, and reports impressions, clicks and dismissals (one row per offer
//! and customer). Who sees what is decided in core (`offer`, `targeting`).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use keyport_api::{CustomerOfferView, OfferPage, OfferState, OfferStats, OfferView};
use keyport_core::offer::{
    self, MAX_LIVE_OFFERS, OfferDraft, OfferSpec, OfferWindow, RankKey, Response, Seen, Visibility,
};
use keyport_core::targeting::Rule;
use keyport_core::{CoreError, ErrorCode, EventKind, Lang};
use serde_json::json;
use uuid::Uuid;

use crate::db::DbConn;
use crate::events::{Subject, append};
use crate::schema::{offer_views, offers};
use crate::{Context, Page, Paging, Store, StoreError, StoreResult, new_id, stored_time, utc, uuid_of};

/// An offer row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = offers, treat_none_as_null = true)]
pub(crate) struct OfferRow {
    pub id: String,
    pub kind: String,
    pub rule: String,
    pub title_en: String,
    pub title_de: String,
    pub text_en: String,
    pub text_de: String,
    pub link: Option<String>,
    pub coupon_code: Option<String>,
    pub priority: i32,
    pub max_days_shown: Option<i32>,
    pub starts_at: NaiveDateTime,
    pub ends_at: Option<NaiveDateTime>,
    pub withdrawn_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What one customer did with one offer.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = offer_views, treat_none_as_null = true)]
pub(crate) struct ViewRow {
    pub offer_id: String,
    pub customer_id: String,
    pub days_shown: i32,
    pub last_shown_on: Option<NaiveDateTime>,
    pub first_shown_at: Option<NaiveDateTime>,
    pub clicked_at: Option<NaiveDateTime>,
    pub dismissed_at: Option<NaiveDateTime>,
}

impl ViewRow {
    fn seen(&self) -> Seen {
        Seen {
            days_shown: u32::try_from(self.days_shown).unwrap_or(0),
            last_shown_on: self.last_shown_on.map(|d| d.date()),
            clicked_at: self.clicked_at.map(utc),
            dismissed_at: self.dismissed_at.map(utc),
        }
    }

    fn with(&self, seen: &Seen, now: DateTime<Utc>) -> ViewRow {
        ViewRow {
            offer_id: self.offer_id.clone(),
            customer_id: self.customer_id.clone(),
            days_shown: i32::try_from(seen.days_shown).unwrap_or(i32::MAX),
            last_shown_on: seen.last_shown_on.map(|d| d.and_time(chrono::NaiveTime::MIN)),
            first_shown_at: self.first_shown_at.or_else(|| (seen.days_shown > 0).then(|| stored_time(now))),
            clicked_at: seen.clicked_at.map(stored_time),
            dismissed_at: seen.dismissed_at.map(stored_time),
        }
    }
}

impl OfferRow {
    fn of(id: String, spec: &OfferSpec, now: DateTime<Utc>) -> OfferRow {
        let small = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        OfferRow {
            id,
            kind: spec.kind.as_str().to_owned(),
            rule: spec.rule.to_json().to_string(),
            title_en: spec.title.en.clone(),
            title_de: spec.title.de.clone(),
            text_en: spec.text.en.clone(),
            text_de: spec.text.de.clone(),
            link: spec.link.clone(),
            coupon_code: spec.coupon_code.clone(),
            priority: small(spec.priority),
            max_days_shown: spec.max_days_shown.map(small),
            starts_at: stored_time(spec.starts_at),
            ends_at: spec.ends_at.map(stored_time),
            withdrawn_at: None,
            created_at: stored_time(now),
            updated_at: stored_time(now),
        }
    }

    fn window(&self) -> OfferWindow {
        OfferWindow {
            starts_at: utc(self.starts_at),
            ends_at: self.ends_at.map(utc),
            withdrawn_at: self.withdrawn_at.map(utc),
        }
    }

    fn cap(&self) -> Option<u32> {
        self.max_days_shown.and_then(|n| u32::try_from(n).ok())
    }

    fn rule(&self) -> StoreResult<Rule> {
        parse_rule(&self.rule)
    }

    fn view(&self, stats: OfferStats, now: DateTime<Utc>) -> StoreResult<OfferView> {
        let rule: serde_json::Value =
            serde_json::from_str(&self.rule).map_err(|e| StoreError::Corrupt(format!("offer rule: {e}")))?;
        Ok(OfferView {
            id: uuid_of(&self.id)?,
            kind: self.kind.clone(),
            rule,
            title_en: self.title_en.clone(),
            title_de: self.title_de.clone(),
            text_en: self.text_en.clone(),
            text_de: self.text_de.clone(),
            link: self.link.clone(),
            coupon_code: self.coupon_code.clone(),
            priority: i64::from(self.priority),
            max_days_shown: self.max_days_shown.map(i64::from),
            starts_at: utc(self.starts_at),
            ends_at: self.ends_at.map(utc),
            withdrawn_at: self.withdrawn_at.map(utc),
            state: OfferState::from(self.window().phase(now)),
            stats,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }

    fn customer_view(&self, lang: Lang, seen: &Seen) -> StoreResult<CustomerOfferView> {
        let pick = |en: &str, de: &str| match lang {
            Lang::En => en.to_owned(),
            Lang::De => de.to_owned(),
        };
        Ok(CustomerOfferView {
            id: uuid_of(&self.id)?,
            kind: self.kind.clone(),
            language: lang.code().to_owned(),
            title: pick(&self.title_en, &self.title_de),
            text: pick(&self.text_en, &self.text_de),
            link: self.link.clone(),
            coupon_code: self.coupon_code.clone(),
            ends_at: self.ends_at.map(utc),
            clicked: seen.clicked_at.is_some(),
        })
    }
}

fn load_offer(conn: &mut DbConn, id: Uuid) -> StoreResult<OfferRow> {
    offers::table
        .find(id.to_string())
        .select(OfferRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| CoreError::not_found("offer").into())
}

/// Locks an offer's row (a no-op update: PostgreSQL's row lock, SQLite's write lock is held
/// already) and loads it.
fn lock_offer(conn: &mut DbConn, id: Uuid) -> StoreResult<OfferRow> {
    diesel::update(offers::table.find(id.to_string()))
        .set(offers::updated_at.eq(offers::updated_at))
        .execute(conn)?;
    load_offer(conn, id)
}

/// Serializes the writers that may add a live offer, so that two cannot both see room for
/// one more (PostgreSQL; SQLite's writers run one at a time).
fn lock_offers(conn: &mut DbConn) -> StoreResult<()> {
    if let DbConn::Pg(_) = conn {
        diesel::sql_query("LOCK TABLE offers IN SHARE ROW EXCLUSIVE MODE").execute(conn)?;
    }
    Ok(())
}

/// The offers not withdrawn whose end has not passed at `now` (running or scheduled).
fn live_count(conn: &mut DbConn, now: DateTime<Utc>) -> StoreResult<i64> {
    Ok(offers::table
        .filter(offers::withdrawn_at.is_null())
        .filter(offers::ends_at.is_null().or(offers::ends_at.gt(stored_time(now))))
        .count()
        .get_result(conn)?)
}

/// What customers did with each of the offers, in four aggregating queries.
fn stats_of(conn: &mut DbConn, ids: &[String]) -> StoreResult<HashMap<String, OfferStats>> {
    use diesel::dsl::{count_star, sum};
    let mut out: HashMap<String, OfferStats> =
        ids.iter().map(|id| (id.clone(), OfferStats::default())).collect();
    let base =
        || offer_views::table.filter(offer_views::offer_id.eq_any(ids)).group_by(offer_views::offer_id);
    let shown: Vec<(String, i64, Option<i64>)> = base()
        .filter(offer_views::days_shown.gt(0))
        .select((offer_views::offer_id, count_star(), sum(offer_views::days_shown)))
        .load(conn)?;
    for (id, customers, days) in shown {
        if let Some(s) = out.get_mut(&id) {
            (s.customers_shown, s.impressions) = (customers, days.unwrap_or(0));
        }
    }
    let clicks: Vec<(String, i64)> = base()
        .filter(offer_views::clicked_at.is_not_null())
        .select((offer_views::offer_id, count_star()))
        .load(conn)?;
    for (id, n) in clicks {
        if let Some(s) = out.get_mut(&id) {
            s.clicks = n;
        }
    }
    let dismissals: Vec<(String, i64)> = base()
        .filter(offer_views::dismissed_at.is_not_null())
        .select((offer_views::offer_id, count_star()))
        .load(conn)?;
    for (id, n) in dismissals {
        if let Some(s) = out.get_mut(&id) {
            s.dismissals = n;
        }
    }
    Ok(out)
}

fn view_of(conn: &mut DbConn, row: &OfferRow, now: DateTime<Utc>) -> StoreResult<OfferView> {
    let stats = stats_of(conn, std::slice::from_ref(&row.id))?.remove(&row.id);
    row.view(stats.unwrap_or_default(), now)
}

/// What a customer's list is decided from: an offer without its texts.
#[derive(Debug, Clone, Queryable)]
struct Candidate {
    id: String,
    rule: String,
    priority: i32,
    max_days_shown: Option<i32>,
    starts_at: NaiveDateTime,
    ends_at: Option<NaiveDateTime>,
}

impl Candidate {
    fn window(&self) -> OfferWindow {
        OfferWindow { starts_at: utc(self.starts_at), ends_at: self.ends_at.map(utc), withdrawn_at: None }
    }

    fn rank_key(&self) -> RankKey {
        RankKey {
            priority: u32::try_from(self.priority).unwrap_or(0),
            ends_at: self.ends_at.map(utc),
            starts_at: utc(self.starts_at),
            id: self.id.clone(),
        }
    }
}

fn parse_rule(text: &str) -> StoreResult<Rule> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("offer rule: {e}")))?;
    crate::error::stored("offer rule", Rule::parse(&value))
}

/// The offers running at `now` (at most [`MAX_LIVE_OFFERS`], the highest priorities first),
/// without their texts.
fn running(conn: &mut DbConn, now: DateTime<Utc>) -> StoreResult<Vec<Candidate>> {
    let at = stored_time(now);
    Ok(offers::table
        .filter(offers::withdrawn_at.is_null())
        .filter(offers::starts_at.le(at))
        .filter(offers::ends_at.is_null().or(offers::ends_at.gt(at)))
        .order((offers::priority.desc(), offers::id.asc()))
        .select((
            offers::id,
            offers::rule,
            offers::priority,
            offers::max_days_shown,
            offers::starts_at,
            offers::ends_at,
        ))
        .limit(MAX_LIVE_OFFERS)
        .load(conn)?)
}

fn load_view(conn: &mut DbConn, offer: &str, customer: &str) -> StoreResult<Option<ViewRow>> {
    Ok(offer_views::table.find((offer, customer)).select(ViewRow::as_select()).first(conn).optional()?)
}

/// What a response would change: the offer must target the customer (else `not_found`).
fn decide_response(
    conn: &mut DbConn,
    row: &OfferRow,
    customer: &str,
    response: Response,
    now: DateTime<Utc>,
) -> StoreResult<(Option<ViewRow>, Option<Seen>)> {
    let facts = crate::targeting::facts_of(conn, customer)?;
    if !row.rule()?.matches(&facts, now) {
        return Err(CoreError::not_found("offer").into());
    }
    let stored = load_view(conn, &row.id, customer)?;
    let seen = stored.as_ref().map(ViewRow::seen).unwrap_or_default();
    let visibility = offer::visibility(&row.window(), row.cap(), &seen, now);
    let next = offer::respond(response, visibility, &seen, now)?;
    Ok((stored, next))
}

fn event_data(row: &OfferRow) -> serde_json::Value {
    json!({"kind": row.kind, "title_en": row.title_en, "priority": row.priority,
        "starts_at": utc(row.starts_at), "ends_at": row.ends_at.map(utc)})
}

impl Store {
    /// Defines an offer. At most [`MAX_LIVE_OFFERS`] may be live (running or scheduled).
    pub fn create_offer(&self, ctx: &Context, draft: &OfferDraft) -> StoreResult<OfferView> {
        let spec = draft.clone().check(ctx.now, ctx.now)?;
        let row = OfferRow::of(new_id(), &spec, ctx.now);
        self.write(|conn| {
            lock_offers(conn)?;
            crate::targeting::check_names(conn, &spec.rule)?;
            if live_count(conn, ctx.now)? >= MAX_LIVE_OFFERS {
                return Err(offer::too_many_offers().into());
            }
            diesel::insert_into(offers::table).values(&row).execute(conn)?;
            append(conn, ctx, EventKind::OfferDefined, Subject::of("offer", &row.id), event_data(&row))?;
            Ok(())
        })?;
        row.view(OfferStats::default(), ctx.now)
    }

    /// Replaces what an offer is (what customers did with it stays; without a start it
    /// keeps its own); a withdrawn one cannot change, and one that ended counts against
    /// the live offers again when it is made to run on.
    pub fn replace_offer(&self, ctx: &Context, id: Uuid, draft: &OfferDraft) -> StoreResult<OfferView> {
        self.write(|conn| {
            lock_offers(conn)?;
            let old = lock_offer(conn, id)?;
            if let Some(at) = old.withdrawn_at {
                return Err(CoreError::new(ErrorCode::OfferWithdrawn)
                    .with("date", utc(at).date_naive())
                    .into());
            }
            let spec = draft.clone().check(ctx.now, utc(old.starts_at))?;
            crate::targeting::check_names(conn, &spec.rule)?;
            let was_over = old.ends_at.is_some_and(|end| utc(end) <= ctx.now);
            if was_over && live_count(conn, ctx.now)? >= MAX_LIVE_OFFERS {
                return Err(offer::too_many_offers().into());
            }
            let row = OfferRow { created_at: old.created_at, ..OfferRow::of(old.id.clone(), &spec, ctx.now) };
            diesel::update(offers::table.find(&row.id)).set(&row).execute(conn)?;
            append(conn, ctx, EventKind::OfferUpdated, Subject::of("offer", &row.id), event_data(&row))?;
            view_of(conn, &row, ctx.now)
        })
    }

    /// Withdraws an offer: no customer sees it again. Withdrawing it again changes nothing.
    pub fn withdraw_offer(&self, ctx: &Context, id: Uuid) -> StoreResult<OfferView> {
        self.write(|conn| {
            let mut row = lock_offer(conn, id)?;
            if row.withdrawn_at.is_none() {
                row.withdrawn_at = Some(stored_time(ctx.now));
                row.updated_at = stored_time(ctx.now);
                diesel::update(offers::table.find(&row.id)).set(&row).execute(conn)?;
                append(
                    conn,
                    ctx,
                    EventKind::OfferWithdrawn,
                    Subject::of("offer", &row.id),
                    event_data(&row),
                )?;
            }
            view_of(conn, &row, ctx.now)
        })
    }

    /// One offer with what customers did with it.
    pub fn get_offer(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<OfferView> {
        self.read(|conn| {
            let row = load_offer(conn, id)?;
            view_of(conn, &row, now)
        })
    }

    /// The offers, oldest first.
    pub fn list_offers(
        &self,
        after: Option<&str>,
        limit: Option<u32>,
        now: DateTime<Utc>,
    ) -> StoreResult<OfferPage> {
        let paging = Paging::new(after, limit, 100)?;
        if paging.after.as_deref().is_some_and(|a| Uuid::parse_str(a).is_err()) {
            return Err(CoreError::invalid("after", "is not a cursor from this list").into());
        }
        self.read(|conn| {
            let mut query = offers::table.order(offers::id.asc()).into_boxed();
            if let Some(after) = &paging.after {
                query = query.filter(offers::id.gt(after.clone()));
            }
            let rows: Vec<OfferRow> = query.limit(paging.fetch()).select(OfferRow::as_select()).load(conn)?;
            let page = Page::of(rows, &paging, |r| r.id.clone());
            let ids: Vec<String> = page.items.iter().map(|r| r.id.clone()).collect();
            let mut stats = stats_of(conn, &ids)?;
            let items = page
                .items
                .iter()
                .map(|row| {
                    let s = stats.remove(&row.id);
                    row.view(s.unwrap_or_default(), now)
                })
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(OfferPage { items, next_cursor: page.next_cursor })
        })
    }

    /// The offers that apply to a customer at `now`, best first, at most `limit`: running,
    /// their rule holds for what the customer owns, not dismissed, under their cap. Decided
    /// on the offers without their texts; the texts are read for the ones listed.
    pub fn customer_offers(
        &self,
        customer: Uuid,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<CustomerOfferView>> {
        Ok(self.offers_for(customer, now, limit, true)?.into_iter().map(|(view, _)| view).collect())
    }

    /// The offers a page shows now (as [`Store::customer_offers`]), their impressions
    /// recorded: only those not counted today are written, so a reload reads and writes
    /// nothing more. An impression that cannot be recorded (the offer ended a moment ago)
    /// costs the page nothing.
    pub fn show_offers(
        &self,
        customer: Uuid,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<CustomerOfferView>> {
        // The caller is the customer's own session: the customer exists.
        let offers = self.offers_for(customer, now, limit, false)?;
        for (view, uncounted) in &offers {
            if *uncounted && let Err(e) = self.respond_to_offer(customer, view.id, Response::Impression, now)
            {
                tracing::warn!(error = %e, offer = %view.id, "an offer's impression was not recorded");
            }
        }
        Ok(offers.into_iter().map(|(view, _)| view).collect())
    }

    /// The offers for a customer, each with whether today's impression is still to count.
    /// When no offer runs the customer's facts are not read; `check_known` then still
    /// answers `not_found` for a customer who does not exist (as the facts would).
    fn offers_for(
        &self,
        customer: Uuid,
        now: DateTime<Utc>,
        limit: usize,
        check_known: bool,
    ) -> StoreResult<Vec<(CustomerOfferView, bool)>> {
        let id = customer.to_string();
        self.read(|conn| {
            let candidates = running(conn, now)?;
            if candidates.is_empty() {
                let known = !check_known
                    || crate::schema::customers::table.find(&id).count().get_result::<i64>(conn)? > 0;
                return if known { Ok(Vec::new()) } else { Err(CoreError::not_found("customer").into()) };
            }
            let facts = crate::targeting::facts_of(conn, &id)?;
            let views: HashMap<String, Seen> = offer_views::table
                .filter(offer_views::customer_id.eq(&id))
                .select(ViewRow::as_select())
                .load(conn)?
                .into_iter()
                .map(|v| (v.offer_id.clone(), v.seen()))
                .collect();
            let mut shown = Vec::new();
            for candidate in candidates {
                let seen = views.get(&candidate.id).copied().unwrap_or_default();
                let cap = candidate.max_days_shown.and_then(|n| u32::try_from(n).ok());
                if offer::visibility(&candidate.window(), cap, &seen, now) == Visibility::Shown
                    && parse_rule(&candidate.rule)?.matches(&facts, now)
                {
                    shown.push((candidate, seen));
                }
            }
            shown.sort_by(|(a, _), (b, _)| offer::best_first(&a.rank_key(), &b.rank_key()));
            shown.truncate(limit);
            let ids: Vec<&str> = shown.iter().map(|(c, _)| c.id.as_str()).collect();
            let rows: HashMap<String, OfferRow> = offers::table
                .filter(offers::id.eq_any(&ids))
                .select(OfferRow::as_select())
                .load(conn)?
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();
            shown
                .iter()
                .filter_map(|(c, seen)| {
                    let uncounted = matches!(
                        offer::respond(Response::Impression, Visibility::Shown, seen, now),
                        Ok(Some(_))
                    );
                    rows.get(&c.id).map(|row| Ok((row.customer_view(facts.language, seen)?, uncounted)))
                })
                .collect()
        })
    }

    /// Records a customer's impression, click or dismissal of an offer that applies to them
    /// (an offer that does not, or does not exist, is `not_found`). Reporting the same again
    /// changes nothing: impressions count once a UTC day, clicks and dismissals once. Decided
    /// in a read first: a report that changes nothing (a reload) takes no write lock.
    pub fn respond_to_offer(
        &self,
        customer: Uuid,
        offer_id: Uuid,
        response: Response,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let customer_id = customer.to_string();
        let (_, change) = self.read(|conn| {
            let row = load_offer(conn, offer_id)?;
            decide_response(conn, &row, &customer_id, response, now)
        })?;
        if change.is_none() {
            return Ok(());
        }
        self.write(|conn| {
            let row = load_offer(conn, offer_id)?;
            // The customer's row locked before it is read (a no-op update; none yet: a
            // racing first insert fails on the key and the write runs again).
            let lock = |conn: &mut DbConn| {
                diesel::update(offer_views::table.find((&row.id, &customer_id)))
                    .set(offer_views::days_shown.eq(offer_views::days_shown))
                    .execute(conn)
            };
            let locked = lock(conn)?;
            let (mut stored, mut next) = decide_response(conn, &row, &customer_id, response, now)?;
            if locked == 0 && stored.is_some() {
                // A racing first insert committed between the lock and the read: the row was
                // read unlocked, and an update from it could undo a racing change. Lock it now
                // and read it again.
                lock(conn)?;
                (stored, next) = decide_response(conn, &row, &customer_id, response, now)?;
            }
            let Some(next) = next else { return Ok(()) };
            match stored {
                Some(old) => {
                    diesel::update(offer_views::table.find((&row.id, &customer_id)))
                        .set(&old.with(&next, now))
                        .execute(conn)?;
                }
                None => {
                    let blank = ViewRow {
                        offer_id: row.id.clone(),
                        customer_id: customer_id.clone(),
                        days_shown: 0,
                        last_shown_on: None,
                        first_shown_at: None,
                        clicked_at: None,
                        dismissed_at: None,
                    };
                    diesel::insert_into(offer_views::table).values(&blank.with(&next, now)).execute(conn)?;
                }
            }
            Ok(())
        })
    }
}
