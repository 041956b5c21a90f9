//! Offers: staff define, change and withdraw them; a customer lists the ones that apply to
//! them now, best first, and reports impressions, clicks and dismissals (one row per offer
//! and customer). Who sees what is decided in core (`offer`, `targeting`).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use keyport_api::{CustomerOfferView, OfferPage, OfferState, OfferStats, OfferView};
use keyport_core::offer::{
    self, MAX_LIVE_OFFERS, OfferSpec, OfferWindow, RankKey, Response, Seen, Visibility,
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
        let value: serde_json::Value =
            serde_json::from_str(&self.rule).map_err(|e| StoreError::Corrupt(format!("offer rule: {e}")))?;
        crate::error::stored("offer rule", Rule::parse(&value))
    }

    fn state(&self, now: DateTime<Utc>) -> OfferState {
        let window = self.window();
        if window.withdrawn_at.is_some() {
            OfferState::Withdrawn
        } else if window.runs(now) {
            OfferState::Running
        } else if window.starts_at > now {
            OfferState::Scheduled
        } else {
            OfferState::Ended
        }
    }

    fn rank_key(&self) -> RankKey {
        RankKey {
            priority: u32::try_from(self.priority).unwrap_or(0),
            ends_at: self.ends_at.map(utc),
            starts_at: utc(self.starts_at),
            id: self.id.clone(),
        }
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
            state: self.state(now),
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

fn stats_of(conn: &mut DbConn, id: &str) -> StoreResult<OfferStats> {
    use diesel::dsl::{count, sum};
    let (shown, impressions): (i64, Option<i64>) = offer_views::table
        .filter(offer_views::offer_id.eq(id))
        .filter(offer_views::days_shown.gt(0))
        .select((count(offer_views::customer_id), sum(offer_views::days_shown)))
        .first(conn)?;
    let clicks: i64 = offer_views::table
        .filter(offer_views::offer_id.eq(id))
        .filter(offer_views::clicked_at.is_not_null())
        .count()
        .get_result(conn)?;
    let dismissals: i64 = offer_views::table
        .filter(offer_views::offer_id.eq(id))
        .filter(offer_views::dismissed_at.is_not_null())
        .count()
        .get_result(conn)?;
    Ok(OfferStats { customers_shown: shown, impressions: impressions.unwrap_or(0), clicks, dismissals })
}

/// The offers not withdrawn whose end has not passed at `now`.
fn live_offers(conn: &mut DbConn, now: DateTime<Utc>) -> StoreResult<Vec<OfferRow>> {
    Ok(offers::table
        .filter(offers::withdrawn_at.is_null())
        .filter(offers::ends_at.is_null().or(offers::ends_at.gt(stored_time(now))))
        .select(OfferRow::as_select())
        .limit(MAX_LIVE_OFFERS + 1)
        .load(conn)?)
}

fn event_data(row: &OfferRow) -> serde_json::Value {
    json!({"kind": row.kind, "title_en": row.title_en, "priority": row.priority,
        "starts_at": utc(row.starts_at), "ends_at": row.ends_at.map(utc)})
}

impl Store {
    /// Defines an offer.
    pub fn create_offer(&self, ctx: &Context, spec: &OfferSpec) -> StoreResult<OfferView> {
        let row = OfferRow::of(new_id(), spec, ctx.now);
        self.write(|conn| {
            if live_offers(conn, ctx.now)?.len() >= MAX_LIVE_OFFERS as usize {
                return Err(offer::too_many_offers().into());
            }
            diesel::insert_into(offers::table).values(&row).execute(conn)?;
            append(conn, ctx, EventKind::OfferDefined, Subject::of("offer", &row.id), event_data(&row))?;
            Ok(())
        })?;
        row.view(OfferStats { customers_shown: 0, impressions: 0, clicks: 0, dismissals: 0 }, ctx.now)
    }

    /// Replaces what an offer is (what customers did with it stays); a withdrawn one cannot
    /// change.
    pub fn replace_offer(&self, ctx: &Context, id: Uuid, spec: &OfferSpec) -> StoreResult<OfferView> {
        self.write(|conn| {
            let old = lock_offer(conn, id)?;
            if let Some(at) = old.withdrawn_at {
                return Err(CoreError::new(ErrorCode::OfferWithdrawn)
                    .with("date", utc(at).date_naive())
                    .into());
            }
            let row = OfferRow { created_at: old.created_at, ..OfferRow::of(old.id.clone(), spec, ctx.now) };
            diesel::update(offers::table.find(&row.id)).set(&row).execute(conn)?;
            append(conn, ctx, EventKind::OfferUpdated, Subject::of("offer", &row.id), event_data(&row))?;
            row.view(stats_of(conn, &row.id)?, ctx.now)
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
            row.view(stats_of(conn, &row.id)?, ctx.now)
        })
    }

    /// One offer with what customers did with it.
    pub fn get_offer(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<OfferView> {
        self.read(|conn| {
            let row = load_offer(conn, id)?;
            row.view(stats_of(conn, &row.id)?, now)
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
            let items = page
                .items
                .iter()
                .map(|row| row.view(stats_of(conn, &row.id)?, now))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(OfferPage { items, next_cursor: page.next_cursor })
        })
    }

    /// The offers that apply to a customer at `now`, best first, at most `limit`: running,
    /// their rule matches what the customer owns, not dismissed, under their cap.
    pub fn customer_offers(
        &self,
        customer: Uuid,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<CustomerOfferView>> {
        let id = customer.to_string();
        self.read(|conn| {
            let facts = crate::targeting::facts_of(conn, &id)?;
            let views: Vec<ViewRow> = offer_views::table
                .filter(offer_views::customer_id.eq(&id))
                .select(ViewRow::as_select())
                .load(conn)?;
            let mut shown = Vec::new();
            for row in live_offers(conn, now)? {
                let seen = views.iter().find(|v| v.offer_id == row.id).map(ViewRow::seen).unwrap_or_default();
                if offer::visibility(&row.window(), row.cap(), &seen, now) == Visibility::Shown
                    && row.rule()?.matches(&facts, now)
                {
                    shown.push((row, seen));
                }
            }
            shown.sort_by(|(a, _), (b, _)| offer::best_first(&a.rank_key(), &b.rank_key()));
            shown.truncate(limit);
            shown.iter().map(|(row, seen)| row.customer_view(facts.language, seen)).collect()
        })
    }

    /// Records a customer's impression, click or dismissal of an offer that applies to them
    /// (an offer that does not, or does not exist, is `not_found`). Reporting the same again
    /// changes nothing: impressions count once a day, clicks and dismissals once.
    pub fn respond_to_offer(
        &self,
        customer: Uuid,
        offer_id: Uuid,
        response: Response,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let customer_id = customer.to_string();
        self.write(|conn| {
            let row = load_offer(conn, offer_id)?;
            let facts = crate::targeting::facts_of(conn, &customer_id)?;
            if !row.rule()?.matches(&facts, now) {
                return Err(CoreError::not_found("offer").into());
            }
            let stored: Option<ViewRow> = offer_views::table
                .find((&row.id, &customer_id))
                .select(ViewRow::as_select())
                .first(conn)
                .optional()?;
            let seen = stored.as_ref().map(ViewRow::seen).unwrap_or_default();
            let visibility = offer::visibility(&row.window(), row.cap(), &seen, now);
            let Some(next) = offer::respond(response, visibility, &seen, now)? else { return Ok(()) };
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
