//! Offers: up-sells and cross-sells that staff target by what a customer owns. What an
//! offer is (checked on save), whether one customer sees it now, how offers are ranked, and
//! what a customer's impression, click or dismissal changes. Pure: the store loads the
//! offers and the customer's views, asks, and writes.

use chrono::{DateTime, NaiveDate, Utc};

use crate::error::{CoreError, ErrorCode};
use crate::targeting::Rule;
use crate::text::check_text;

/// The most offers that can be live (not withdrawn, not ended) at once: bounds what one
/// customer's `GET /me/offers` evaluates.
pub const MAX_LIVE_OFFERS: i64 = 500;
/// The highest priority.
pub const MAX_PRIORITY: u32 = 1000;
/// The most days one customer can be shown an offer, when staff cap it.
pub const MAX_DAYS_SHOWN: u32 = 1000;
/// The most characters of a title.
pub const MAX_TITLE: usize = 120;
/// The most characters of an offer's text.
pub const MAX_BODY: usize = 2000;
/// The most characters of a link.
pub const MAX_LINK: usize = 2000;
/// The most characters of a coupon code.
pub const MAX_COUPON: usize = 64;

/// What an offer sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfferKind {
    /// A newer version of what the customer owns.
    Update,
    /// A larger edition or more seats of what the customer owns.
    Upgrade,
    /// A product that complements what the customer owns.
    CrossSell,
    /// Extending a subscription.
    Renewal,
}

impl OfferKind {
    /// Every kind.
    pub const ALL: [OfferKind; 4] =
        [OfferKind::Update, OfferKind::Upgrade, OfferKind::CrossSell, OfferKind::Renewal];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            OfferKind::Update => "update",
            OfferKind::Upgrade => "upgrade",
            OfferKind::CrossSell => "cross_sell",
            OfferKind::Renewal => "renewal",
        }
    }

    /// The kind of a stable name.
    pub fn parse(name: &str) -> Result<OfferKind, CoreError> {
        OfferKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name.trim())
            .ok_or_else(|| CoreError::invalid("kind", "must be update, upgrade, cross_sell or renewal"))
    }
}

/// A text in English and German.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Localized {
    /// The English text.
    pub en: String,
    /// The German text.
    pub de: String,
}

impl Localized {
    /// Checks both texts: trimmed, at most `max` characters, `required` ones not empty.
    pub fn parse(
        fields: (&'static str, &'static str),
        en: &str,
        de: &str,
        max: usize,
        required: bool,
    ) -> Result<Localized, CoreError> {
        let one = |field: &'static str, text: &str| -> Result<String, CoreError> {
            check_text(field, text)?;
            let text = text.trim();
            if required && text.is_empty() {
                return Err(CoreError::invalid(field, "must not be empty"));
            }
            if text.chars().count() > max {
                return Err(CoreError::invalid(field, format!("must be at most {max} characters")));
            }
            if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err(CoreError::invalid(field, "must not contain control characters"));
            }
            Ok(text.to_owned())
        };
        Ok(Localized { en: one(fields.0, en)?, de: one(fields.1, de)? })
    }
}

/// Where an offer leads: an absolute `https://` or `http://` URL.
pub fn parse_link(text: &str) -> Result<String, CoreError> {
    check_text("link", text)?;
    let text = text.trim();
    if text.chars().count() > MAX_LINK {
        return Err(CoreError::invalid("link", format!("must be at most {MAX_LINK} characters")));
    }
    let url = url::Url::parse(text).map_err(|_| CoreError::invalid("link", "is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(CoreError::invalid("link", "must start with https:// or http:// and name a host"));
    }
    Ok(url.to_string())
}

/// A coupon code the customer types at checkout: letters, digits, `-` and `_`.
pub fn parse_coupon(text: &str) -> Result<String, CoreError> {
    check_text("coupon_code", text)?;
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_COUPON {
        return Err(CoreError::invalid("coupon_code", format!("must be 1 to {MAX_COUPON} characters")));
    }
    if !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(CoreError::invalid("coupon_code", "may hold only letters, digits, - and _"));
    }
    Ok(text.to_owned())
}

/// An offer as staff send it: every field checked on its own; the window is checked
/// against the clock by [`OfferDraft::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferDraft {
    /// Who sees it.
    pub rule: Rule,
    /// What it sells.
    pub kind: OfferKind,
    /// The headline.
    pub title: Localized,
    /// The text below it (may be empty).
    pub text: Localized,
    /// Where it leads, if anywhere.
    pub link: Option<String>,
    /// A code for the shop's checkout, if any.
    pub coupon_code: Option<String>,
    /// From when it is shown: `None` for now (a new offer) or as it was (a changed one).
    pub starts_at: Option<DateTime<Utc>>,
    /// Until when it is shown, if it ends.
    pub ends_at: Option<DateTime<Utc>>,
    /// Higher first, 0 to [`MAX_PRIORITY`].
    pub priority: u32,
    /// On how many days (UTC) at most one customer is shown it, if capped.
    pub max_days_shown: Option<u32>,
}

/// The most years an offer's start or end may lie ahead.
pub const MAX_YEARS_AHEAD: i64 = 10;

/// An offer as it is stored: a draft whose window was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferSpec {
    /// Who sees it.
    pub rule: Rule,
    /// What it sells.
    pub kind: OfferKind,
    /// The headline.
    pub title: Localized,
    /// The text below it (may be empty).
    pub text: Localized,
    /// Where it leads, if anywhere.
    pub link: Option<String>,
    /// A code for the shop's checkout, if any.
    pub coupon_code: Option<String>,
    /// From when it is shown.
    pub starts_at: DateTime<Utc>,
    /// Until when it is shown, if it ends.
    pub ends_at: Option<DateTime<Utc>>,
    /// Higher first, 0 to [`MAX_PRIORITY`].
    pub priority: u32,
    /// On how many days (UTC) at most one customer is shown it, if capped.
    pub max_days_shown: Option<u32>,
}

impl OfferDraft {
    /// Checks the draft at `now`, starting at `start` unless it names a start: the start
    /// lies at most [`MAX_YEARS_AHEAD`] years ahead and after 2000 (a start in the past is
    /// kept: the offer runs from now), the end after the start, after now (an offer saved as
    /// ended would never be shown, and pruning would take it with its counts) and at most
    /// [`MAX_YEARS_AHEAD`] years ahead; the numbers within their bounds; the rule within its.
    pub fn check(self, now: DateTime<Utc>, start: DateTime<Utc>) -> Result<OfferSpec, CoreError> {
        let latest = now + chrono::Duration::days(366 * MAX_YEARS_AHEAD);
        let earliest = DateTime::<Utc>::from_timestamp(946_684_800, 0).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let starts_at = self.starts_at.unwrap_or(start);
        if starts_at < earliest || starts_at > latest {
            return Err(CoreError::invalid(
                "starts_at",
                format!("must lie between 2000 and {MAX_YEARS_AHEAD} years from now"),
            ));
        }
        if let Some(end) = self.ends_at {
            if end <= starts_at {
                return Err(CoreError::invalid("ends_at", "must lie after starts_at"));
            }
            if end <= now {
                return Err(CoreError::invalid("ends_at", "must lie ahead: withdraw an offer to end it now"));
            }
            if end > latest {
                return Err(CoreError::invalid(
                    "ends_at",
                    format!("must lie within {MAX_YEARS_AHEAD} years from now"),
                ));
            }
        }
        if self.priority > MAX_PRIORITY {
            return Err(CoreError::invalid("priority", format!("must be between 0 and {MAX_PRIORITY}")));
        }
        if self.max_days_shown.is_some_and(|n| n == 0 || n > MAX_DAYS_SHOWN) {
            return Err(CoreError::invalid(
                "max_days_shown",
                format!("must be between 1 and {MAX_DAYS_SHOWN}"),
            ));
        }
        self.rule.check()?;
        Ok(OfferSpec {
            rule: self.rule,
            kind: self.kind,
            title: self.title,
            text: self.text,
            link: self.link,
            coupon_code: self.coupon_code,
            starts_at,
            ends_at: self.ends_at,
            priority: self.priority,
            max_days_shown: self.max_days_shown,
        })
    }
}

/// When an offer runs and whether staff withdrew it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferWindow {
    /// From when it is shown.
    pub starts_at: DateTime<Utc>,
    /// Until when, if it ends.
    pub ends_at: Option<DateTime<Utc>>,
    /// When staff withdrew it.
    pub withdrawn_at: Option<DateTime<Utc>>,
}

/// Where an offer is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Its start lies ahead.
    Scheduled,
    /// Shown to the customers it targets.
    Running,
    /// Its end has passed.
    Ended,
    /// Staff withdrew it.
    Withdrawn,
}

impl OfferWindow {
    /// Whether it runs at `now`.
    pub fn runs(&self, now: DateTime<Utc>) -> bool {
        self.phase(now) == Phase::Running
    }

    /// Where it is at `now`.
    pub fn phase(&self, now: DateTime<Utc>) -> Phase {
        if self.withdrawn_at.is_some() {
            Phase::Withdrawn
        } else if now < self.starts_at {
            Phase::Scheduled
        } else if self.ends_at.is_some_and(|end| end <= now) {
            Phase::Ended
        } else {
            Phase::Running
        }
    }
}

/// What one customer did with one offer so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Seen {
    /// On how many days it was shown to them.
    pub days_shown: u32,
    /// The last day (UTC) it was shown.
    pub last_shown_on: Option<NaiveDate>,
    /// When they first clicked it.
    pub clicked_at: Option<DateTime<Utc>>,
    /// When they dismissed it.
    pub dismissed_at: Option<DateTime<Utc>>,
}

/// Whether a customer whom an offer's rule matches sees it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Listed.
    Shown,
    /// Not running: not started, ended or withdrawn.
    NotRunning,
    /// The customer dismissed it.
    Dismissed,
    /// Shown on as many days as the cap allows (and not today).
    CapReached,
}

/// Whether an offer whose rule matches the customer is listed for them at `now`: it runs,
/// they did not dismiss it, and its cap on days shown is not reached (an offer shown today
/// stays listed all day, so a page shown again lists the same offers).
pub fn visibility(window: &OfferWindow, cap: Option<u32>, seen: &Seen, now: DateTime<Utc>) -> Visibility {
    if !window.runs(now) {
        return Visibility::NotRunning;
    }
    if seen.dismissed_at.is_some() {
        return Visibility::Dismissed;
    }
    let today = now.date_naive();
    match cap {
        Some(cap) if seen.days_shown >= cap && seen.last_shown_on != Some(today) => Visibility::CapReached,
        Some(_) | None => Visibility::Shown,
    }
}

/// What a customer reports about an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Response {
    /// It was shown to them.
    Impression,
    /// They followed its link or used its code.
    Click,
    /// They do not want to see it again.
    Dismissal,
}

impl Response {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Response::Impression => "impression",
            Response::Click => "click",
            Response::Dismissal => "dismissal",
        }
    }
}

/// What a response changes: `None` when it changes nothing (reported again: a second click,
/// a second dismissal, an impression on a day already counted or of an offer not listed).
/// Impressions count days, so retries and reloads count once a day; clicks and dismissals
/// keep their first time.
pub fn respond(
    response: Response,
    visibility: Visibility,
    seen: &Seen,
    now: DateTime<Utc>,
) -> Result<Option<Seen>, CoreError> {
    let today = now.date_naive();
    let next = match (response, visibility) {
        (_, Visibility::NotRunning) => return Err(CoreError::not_found("offer")),
        (Response::Impression, Visibility::Shown) if seen.last_shown_on != Some(today) => {
            Seen { days_shown: seen.days_shown.saturating_add(1), last_shown_on: Some(today), ..*seen }
        }
        (Response::Impression, Visibility::Shown | Visibility::Dismissed | Visibility::CapReached) => {
            return Ok(None);
        }
        (Response::Click, Visibility::Shown | Visibility::Dismissed | Visibility::CapReached) => {
            if seen.clicked_at.is_some() {
                return Ok(None);
            }
            Seen { clicked_at: Some(now), ..*seen }
        }
        (Response::Dismissal, Visibility::Shown | Visibility::Dismissed | Visibility::CapReached) => {
            if seen.dismissed_at.is_some() {
                return Ok(None);
            }
            Seen { dismissed_at: Some(now), ..*seen }
        }
    };
    Ok(Some(next))
}

/// What ranks a listed offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankKey {
    /// Its priority.
    pub priority: u32,
    /// When it ends, if it does.
    pub ends_at: Option<DateTime<Utc>>,
    /// When it started.
    pub starts_at: DateTime<Utc>,
    /// Its id (a tie-breaker that keeps the order stable).
    pub id: String,
}

/// Orders offers best first: higher priority, then the one ending sooner (an offer that
/// ends is shown before one that runs on), then the newer, then by id.
pub fn best_first(a: &RankKey, b: &RankKey) -> std::cmp::Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| match (a.ends_at, b.ends_at) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        })
        .then_with(|| b.starts_at.cmp(&a.starts_at))
        .then_with(|| a.id.cmp(&b.id))
}

/// How many offers a customer's list holds: 1 to 100, 10 unless asked.
pub fn list_limit(asked: Option<i64>) -> Result<usize, CoreError> {
    match asked {
        None => Ok(10),
        Some(n @ 1..=100) => Ok(n as usize),
        Some(_) => Err(CoreError::invalid("limit", "must be between 1 and 100")),
    }
}

/// The error when no more offers may be live.
pub fn too_many_offers() -> CoreError {
    CoreError::new(ErrorCode::TooManyOffers).with("limit", MAX_LIVE_OFFERS)
}

#[cfg(test)]
#[path = "offer_tests.rs"]
mod tests;
