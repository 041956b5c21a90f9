//! Offers: what staff define and read back, and what a customer sees.

use chrono::{DateTime, Utc};
use keyport_core::offer::{
    Localized, MAX_BODY, MAX_DAYS_SHOWN, MAX_PRIORITY, MAX_TITLE, OfferDraft, OfferKind, Phase, parse_coupon,
    parse_link,
};
use keyport_core::targeting::Rule;
use keyport_core::{CoreError, check_text};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// An offer to define (or, on `PUT`, what an offer becomes).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OfferRequest {
    /// `update`, `upgrade`, `cross_sell` or `renewal`.
    #[cfg_attr(feature = "openapi", schema(example = "upgrade"))]
    pub kind: String,
    /// Who sees it: a targeting rule, e.g. `{"owns_product": {"product": "cad-pro", "versions": {"to": 4}}}`,
    /// combined with `all`, `any` and `not`; `{"all": []}` targets every customer. The
    /// products and items it names must exist.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rule: Value,
    /// The headline in English.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub title_en: String,
    /// The headline in German.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub title_de: String,
    /// The text below it in English.
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub text_en: Option<String>,
    /// The text below it in German.
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub text_de: Option<String>,
    /// Where it leads: an absolute `https://` (or `http://`) URL.
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub link: Option<String>,
    /// A coupon code for the shop's checkout: letters, digits, `-` and `_`.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]+$"))]
    pub coupon_code: Option<String>,
    /// From when it is shown (default: now for a new offer, as it was for a changed one;
    /// from 2000 to 10 years ahead).
    pub starts_at: Option<DateTime<Utc>>,
    /// Until when it is shown: after now and the start, at most 10 years ahead (default:
    /// until withdrawn).
    pub ends_at: Option<DateTime<Utc>>,
    /// Higher is shown first, 0 to 1000 (default 0).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1000))]
    pub priority: Option<i64>,
    /// On how many days (UTC) at most one customer is shown it (default: no cap).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub max_days_shown: Option<i64>,
}

impl OfferRequest {
    /// Checks every field on its own (the use case checks the window against the clock).
    pub fn parse(&self) -> Result<OfferDraft, CoreError> {
        check_text("kind", &self.kind)?;
        let number =
            |field: &'static str, n: Option<i64>, low: u32, max: u32| -> Result<Option<u32>, CoreError> {
                n.map(|n| {
                    u32::try_from(n)
                        .ok()
                        .filter(|n| (low..=max).contains(n))
                        .ok_or_else(|| CoreError::invalid(field, format!("must be between {low} and {max}")))
                })
                .transpose()
            };
        Ok(OfferDraft {
            rule: Rule::parse(&self.rule)?,
            kind: OfferKind::parse(&self.kind)?,
            title: Localized::parse(
                ("title_en", "title_de"),
                &self.title_en,
                &self.title_de,
                MAX_TITLE,
                true,
            )?,
            text: Localized::parse(
                ("text_en", "text_de"),
                self.text_en.as_deref().unwrap_or_default(),
                self.text_de.as_deref().unwrap_or_default(),
                MAX_BODY,
                false,
            )?,
            link: self.link.as_deref().map(parse_link).transpose()?,
            coupon_code: self.coupon_code.as_deref().map(parse_coupon).transpose()?,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            priority: number("priority", self.priority, 0, MAX_PRIORITY)?.unwrap_or(0),
            max_days_shown: number("max_days_shown", self.max_days_shown, 1, MAX_DAYS_SHOWN)?,
        })
    }
}

/// Where an offer is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OfferState {
    /// Its start lies ahead.
    Scheduled,
    /// Shown to the customers it targets.
    Running,
    /// Its end has passed.
    Ended,
    /// Staff withdrew it.
    Withdrawn,
}

impl From<Phase> for OfferState {
    fn from(phase: Phase) -> OfferState {
        match phase {
            Phase::Scheduled => OfferState::Scheduled,
            Phase::Running => OfferState::Running,
            Phase::Ended => OfferState::Ended,
            Phase::Withdrawn => OfferState::Withdrawn,
        }
    }
}

/// What customers did with an offer (all zero for a new one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfferStats {
    /// Customers it was shown to.
    pub customers_shown: i64,
    /// Impressions: the days it was shown, summed over customers (once per customer a day).
    pub impressions: i64,
    /// Customers who clicked it.
    pub clicks: i64,
    /// Customers who dismissed it.
    pub dismissals: i64,
}

/// An offer, as staff see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfferView {
    /// Its id.
    pub id: Uuid,
    /// `update`, `upgrade`, `cross_sell` or `renewal`.
    pub kind: String,
    /// Its targeting rule.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rule: Value,
    /// The headline in English.
    pub title_en: String,
    /// The headline in German.
    pub title_de: String,
    /// The text in English.
    pub text_en: String,
    /// The text in German.
    pub text_de: String,
    /// Where it leads.
    pub link: Option<String>,
    /// Its coupon code.
    pub coupon_code: Option<String>,
    /// Higher is shown first.
    pub priority: i64,
    /// On how many days at most one customer is shown it.
    pub max_days_shown: Option<i64>,
    /// From when it is shown.
    pub starts_at: DateTime<Utc>,
    /// Until when.
    pub ends_at: Option<DateTime<Utc>>,
    /// When staff withdrew it.
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Where it is in its life now.
    pub state: OfferState,
    /// What customers did with it.
    pub stats: OfferStats,
    /// When it was defined.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A page of offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfferPage {
    /// The offers, oldest first.
    pub items: Vec<OfferView>,
    /// The cursor of the next page, for `after`, when one follows.
    pub next_cursor: Option<String>,
}

/// An offer as a customer sees it: in the account's language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerOfferView {
    /// Its id (for reporting impressions, clicks and dismissals).
    pub id: Uuid,
    /// `update`, `upgrade`, `cross_sell` or `renewal`.
    pub kind: String,
    /// The language of `title` and `text`: the account's, `en` or `de`.
    pub language: String,
    /// The headline.
    pub title: String,
    /// The text below it (may be empty).
    pub text: String,
    /// Where it leads.
    pub link: Option<String>,
    /// A coupon code for the checkout.
    pub coupon_code: Option<String>,
    /// Until when it runs.
    pub ends_at: Option<DateTime<Utc>>,
    /// Whether the customer clicked it before.
    pub clicked: bool,
}

/// How many offers to list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct OfferListQuery {
    /// At most this many, best first (1 to 100, default 10).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<u32>,
}

impl OfferListQuery {
    /// The number to list.
    pub fn limit(&self) -> Result<usize, CoreError> {
        keyport_core::offer::list_limit(self.limit.map(i64::from))
    }
}
