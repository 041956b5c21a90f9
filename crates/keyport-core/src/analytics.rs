//! The rules of the usage reports: periods and ranges, how a session's length is counted in
//! the daily histogram, shares of active machines per version, the time from a release to
//! half of the machines, demo conversion, and the numbers read off a lifetime curve. The
//! database counts; these functions turn its counts into answers.

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::stats::SurvivalCurve;
use crate::{ProductCode, Sku};

/// The most periods one report covers (three years of days).
pub const MAX_PERIODS: i64 = 1100;

/// A machine whose version was last seen this many days ago, with no later major version
/// seen since, has stopped using it (an end of that version's lifetime); one seen more
/// recently may still use it (censored).
pub const VERSION_SILENCE_DAYS: i64 = 60;

/// What a report looks at: one product, optionally one item, version and OS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsFilter {
    /// The product's code.
    pub product: ProductCode,
    /// An item's SKU: only its licenses.
    pub item: Option<Sku>,
    /// A version as the software reports it: only usage of it.
    pub version: Option<String>,
    /// An operating system as the software reports it (`windows`, `macos`, `linux`).
    pub os: Option<String>,
}

/// How a lifetime estimate is split into curves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeGroup {
    /// One curve.
    All,
    /// A curve per item (SKU).
    Item,
    /// A curve per customer language (the only customer attribute a segment can use today;
    /// licenses on no account are `""`).
    Language,
    /// A curve per major version (version lifetimes only).
    Major,
}

/// How a usage report splits its machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageSplit {
    /// One row per period.
    All,
    /// A row per period and version.
    Version,
    /// A row per period and operating system.
    Os,
}

impl LifetimeGroup {
    /// Reads `all`, `item`, `language` or `major`.
    pub fn parse(text: &str) -> Result<LifetimeGroup, CoreError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "all" => Ok(LifetimeGroup::All),
            "item" => Ok(LifetimeGroup::Item),
            "language" => Ok(LifetimeGroup::Language),
            "major" => Ok(LifetimeGroup::Major),
            _ => Err(CoreError::invalid("group", "must be all, item, language or major")),
        }
    }
}

impl UsageSplit {
    /// Reads `all`, `version` or `os`.
    pub fn parse(text: &str) -> Result<UsageSplit, CoreError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "all" => Ok(UsageSplit::All),
            "version" => Ok(UsageSplit::Version),
            "os" => Ok(UsageSplit::Os),
            _ => Err(CoreError::invalid("by", "must be all, version or os")),
        }
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageSplit::All => "all",
            UsageSplit::Version => "version",
            UsageSplit::Os => "os",
        }
    }
}

/// How a report groups time.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Calendar days (UTC).
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    /// Calendar months.
    Month,
}

impl Period {
    /// Reads `day`, `week` or `month`.
    pub fn parse(text: &str) -> Result<Period, CoreError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "day" => Ok(Period::Day),
            "week" => Ok(Period::Week),
            "month" => Ok(Period::Month),
            _ => Err(CoreError::invalid("period", "must be day, week or month")),
        }
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The first day of the period that holds `day`.
    pub fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => day,
            Period::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Period::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The first day of the period after the one starting at `start`.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => start + Duration::days(1),
            Period::Week => start + Duration::days(7),
            Period::Month => start.checked_add_months(chrono::Months::new(1)).unwrap_or(start),
        }
    }

    /// The starts of every period that overlaps `range`, in order.
    pub fn starts(self, range: DayRange) -> Vec<NaiveDate> {
        let mut starts = Vec::new();
        let mut at = self.start(range.from);
        while at < range.to {
            starts.push(at);
            at = self.next(at);
        }
        starts
    }
}

/// Days from `from` up to, not including, `to` (UTC calendar days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    /// The first day.
    pub from: NaiveDate,
    /// The day after the last.
    pub to: NaiveDate,
}

impl DayRange {
    /// A range of `period`s: `from` before `to`, at most [`MAX_PERIODS`] periods. Without
    /// bounds it is the 90 days up to `today` (inclusive), or from `from` to today.
    pub fn new(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        period: Period,
        today: NaiveDate,
    ) -> Result<DayRange, CoreError> {
        let to = to.unwrap_or(today + Duration::days(1));
        let from = from.unwrap_or(to - Duration::days(90));
        if from >= to {
            return Err(CoreError::invalid("from", "must be before to"));
        }
        let range = DayRange { from, to };
        let periods = period.starts(range).len() as i64;
        if periods > MAX_PERIODS {
            return Err(CoreError::invalid(
                "to",
                format!(
                    "the range covers {periods} {}s; at most {MAX_PERIODS} are answered",
                    period.as_str()
                ),
            ));
        }
        Ok(range)
    }

    /// How many days it spans.
    pub fn days(self) -> i64 {
        (self.to - self.from).num_days()
    }
}

/// The lower bound, in seconds, of the histogram bucket a session of `seconds` is counted
/// in: whole minutes below an hour, 5 minutes below 4 hours, 30 minutes below a day, and
/// one bucket for a day or more. About 130 buckets, so the daily histogram stays small
/// however many sessions there are.
pub fn session_bucket(seconds: i64) -> i64 {
    let s = seconds.max(0);
    let width = match s {
        0..3_600 => 60,
        3_600..14_400 => 300,
        14_400..86_400 => 1_800,
        _ => return 86_400,
    };
    s - s % width
}

/// The median session length from a histogram of (bucket, sessions): the lower bound of the
/// bucket the middle session falls in (for an even count, the lower middle one). `None`
/// without sessions.
pub fn median_bucket(histogram: &[(i64, u64)]) -> Option<i64> {
    let mut sorted: Vec<(i64, u64)> = histogram.iter().copied().filter(|(_, n)| *n > 0).collect();
    sorted.sort_unstable();
    let total: u64 = sorted.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let middle = total.div_ceil(2);
    let mut seen = 0;
    sorted.into_iter().find_map(|(bucket, n)| {
        seen += n;
        (seen >= middle).then_some(bucket)
    })
}

/// `part` of `whole` as a share from 0 to 1 (0 of nothing is 0).
pub fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part.min(whole) as f64 / whole as f64 }
}

/// Days from a release's publication to the first period at or after it in which the
/// version ran on half or more of the active machines (`shares` by period start, in any
/// order); `None` when it has not yet. Measured at the report's period: with days it is
/// exact to the day.
pub fn days_to_half(published: NaiveDate, shares: &[(NaiveDate, f64)]) -> Option<i64> {
    let mut sorted: Vec<(NaiveDate, f64)> = shares.to_vec();
    sorted.sort_by_key(|(day, _)| *day);
    sorted
        .into_iter()
        .find(|(start, share)| *share >= 0.5 && *start >= published - Duration::days(31))
        .map(|(start, _)| (start - published).num_days().max(0))
}

/// The share of demo licenses that turned into a purchase; `None` without demos.
pub fn conversion_rate(demos: u64, converted: u64) -> Option<f64> {
    (demos > 0).then(|| share(converted, demos))
}

/// What a lifetime curve says in a few numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LifetimeSummary {
    /// Subjects (machines, or machines × versions).
    pub subjects: u64,
    /// Lifetimes seen to end.
    pub ended: u64,
    /// Subjects still alive when last seen (censored).
    pub censored: u64,
    /// The median lifetime; `None` while more than half are alive.
    pub median: Option<f64>,
    /// The median's confidence interval (an open end is `None`).
    pub median_interval: (Option<f64>, Option<f64>),
    /// The restricted mean lifetime up to `horizon`.
    pub restricted_mean: f64,
    /// The horizon of the restricted mean: the longest time observed.
    pub horizon: f64,
}

/// The summary of a curve, its restricted mean taken up to the longest time observed.
pub fn summarize(curve: &SurvivalCurve) -> LifetimeSummary {
    let horizon = curve.points.last().map_or(0.0, |p| p.time);
    LifetimeSummary {
        subjects: curve.points.first().map_or(0, |p| p.at_risk),
        ended: curve.points.iter().map(|p| p.events).sum(),
        censored: curve.points.iter().map(|p| p.censored).sum(),
        median: curve.median(),
        median_interval: curve.median_interval(),
        restricted_mean: curve.restricted_mean(horizon),
        horizon,
    }
}

#[cfg(test)]
#[path = "analytics_tests.rs"]
mod tests;
