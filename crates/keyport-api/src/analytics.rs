//! Analytics for staff: lifetimes of PCs and versions (Kaplan–Meier curves), usage, version
//! adoption and license activity. The questions and the answers, as JSON; the same answers
//! are also given as CSV and SVG by the REST façade.

use chrono::{DateTime, NaiveDate, Utc};
use keyport_core::analytics::{AnalyticsFilter, DayRange, LifetimeGroup, Period, UsageSplit};

use keyport_core::{CoreError, ProductCode, Sku, check_text};
use serde::{Deserialize, Serialize};

/// Which lifetimes to estimate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct LifetimeQuery {
    /// The product's code.
    pub product: String,
    /// Only licenses of this item (SKU).
    pub item: Option<String>,
    /// One curve (`all`, the default) or one per `item`, customer `language` or `major`
    /// version (version lifetimes only).
    pub group: Option<String>,
    /// Only machines (versions) first seen on or after this day.
    pub from: Option<NaiveDate>,
    /// Only machines (versions) first seen before this day.
    pub to: Option<NaiveDate>,
    /// The confidence level of the bands, 0.8 to 0.999 (default 0.95).
    pub confidence: Option<f64>,
    /// `json`, `csv` or `svg` (otherwise the `Accept` header decides; JSON by default).
    pub format: Option<String>,
}

/// A usage, adoption or activity question.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// The product's code.
    pub product: String,
    /// Only licenses of this item (SKU).
    pub item: Option<String>,
    /// Only usage of this version (as the software reports it).
    pub version: Option<String>,
    /// Only usage on this operating system (as the software reports it, e.g. `windows`).
    pub os: Option<String>,
    /// `day` (the default), `week` or `month`.
    pub period: Option<String>,
    /// The first day (default: 90 days before `to`).
    pub from: Option<NaiveDate>,
    /// The day after the last (default: tomorrow, so today is included).
    pub to: Option<NaiveDate>,
    /// Usage only: one row per period (`all`, the default) or per period and `version` or `os`.
    pub by: Option<String>,
    /// `json`, `csv` or `svg` (otherwise the `Accept` header decides; JSON by default).
    pub format: Option<String>,
}

fn filter(
    product: &str,
    item: Option<&str>,
    version: Option<&str>,
    os: Option<&str>,
) -> Result<AnalyticsFilter, CoreError> {
    let text = |field: &'static str, value: Option<&str>| -> Result<Option<String>, CoreError> {
        value
            .map(|v| {
                check_text(field, v)?;
                if v.is_empty() || v.len() > 64 {
                    return Err(CoreError::invalid(field, "must be 1 to 64 characters"));
                }
                Ok(v.to_owned())
            })
            .transpose()
    };
    Ok(AnalyticsFilter {
        product: ProductCode::parse(product)?,
        item: item.map(Sku::parse).transpose()?,
        version: text("version", version)?,
        os: text("os", os)?.map(|o| o.to_ascii_lowercase()),
    })
}

impl LifetimeQuery {
    /// The filter, the grouping, the range of first sightings and the confidence level.
    pub fn parse(
        &self,
        today: NaiveDate,
    ) -> Result<(AnalyticsFilter, LifetimeGroup, Option<DayRange>, f64), CoreError> {
        let filter = filter(&self.product, self.item.as_deref(), None, None)?;
        let group = self.group.as_deref().map_or(Ok(LifetimeGroup::All), LifetimeGroup::parse)?;
        let range = match (self.from, self.to) {
            (None, None) => None,
            (from, to) => {
                let from = from.unwrap_or(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default());
                let to = to.unwrap_or(today + chrono::Duration::days(1));
                if from >= to {
                    return Err(CoreError::invalid("from", "must be before to"));
                }
                Some(DayRange { from, to })
            }
        };
        let confidence = self.confidence.unwrap_or(0.95);
        keyport_core::stats::z_of(confidence)?;
        Ok((filter, group, range, confidence))
    }
}

impl UsageQuery {
    /// The filter, the period, the range and the split.
    pub fn parse(
        &self,
        today: NaiveDate,
    ) -> Result<(AnalyticsFilter, Period, DayRange, UsageSplit), CoreError> {
        let filter =
            filter(&self.product, self.item.as_deref(), self.version.as_deref(), self.os.as_deref())?;
        let period = self.period.as_deref().map_or(Ok(Period::Day), Period::parse)?;
        let range = DayRange::new(self.from, self.to, period, today)?;
        let split = self.by.as_deref().map_or(Ok(UsageSplit::All), UsageSplit::parse)?;
        Ok((filter, period, range, split))
    }
}

/// A point of a survival curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SurvivalPointView {
    /// Days since the start of the lifetime.
    pub days: f64,
    /// Subjects still observed just before this day.
    pub at_risk: u64,
    /// Lifetimes that ended on this day.
    pub ended: u64,
    /// Subjects last seen alive on this day (censored).
    pub censored: u64,
    /// The estimated share still alive after this day (0 to 1).
    pub survival: f64,
    /// The lower bound of the confidence band.
    pub lower: f64,
    /// The upper bound of the confidence band.
    pub upper: f64,
}

/// One lifetime curve with what it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LifetimeCurveView {
    /// The group (`""` for all; a SKU, a language or a major version).
    pub group: String,
    /// Subjects (machines, or machines × major versions).
    pub subjects: u64,
    /// Lifetimes seen to end.
    pub ended: u64,
    /// Subjects still alive when last seen.
    pub censored: u64,
    /// The median lifetime in days; absent while more than half are alive.
    pub median_days: Option<f64>,
    /// The lower end of the median's confidence interval.
    pub median_lower_days: Option<f64>,
    /// The upper end of the median's confidence interval (absent: not reached yet).
    pub median_upper_days: Option<f64>,
    /// The mean lifetime restricted to `horizon_days` (the area under the curve).
    pub restricted_mean_days: f64,
    /// The longest time observed.
    pub horizon_days: f64,
    /// The curve: a point at day 0 and at every day a lifetime ended or was censored.
    pub points: Vec<SurvivalPointView>,
}

/// A lifetime estimate (Kaplan–Meier, Greenwood variance, log(-log) bands).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LifetimeReport {
    /// `machines` (PC lifetime) or `versions` (major version lifetime on a machine).
    pub subject: String,
    /// The product's code.
    pub product: String,
    /// The confidence level of the bands.
    pub confidence: f64,
    /// When it was computed.
    pub computed_at: DateTime<Utc>,
    /// Only subjects first seen on or after this day.
    pub from: Option<NaiveDate>,
    /// Only subjects first seen before this day.
    pub to: Option<NaiveDate>,
    /// One curve per group.
    pub curves: Vec<LifetimeCurveView>,
}

/// Usage in one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageRowView {
    /// The first day of the period.
    pub period: NaiveDate,
    /// The version or OS (`""` without a split; `unknown` where the software never said).
    pub key: String,
    /// Machines that checked in, reported a session or were activated.
    pub active_machines: u64,
    /// Check-ins.
    pub checkins: u64,
    /// Sessions that started in the period (once closed).
    pub sessions: u64,
    /// Their seconds of use.
    pub session_seconds: u64,
    /// The median session length in seconds, at its histogram's resolution (a minute below
    /// an hour, 5 minutes below 4 hours, 30 minutes below a day).
    pub median_session_seconds: Option<i64>,
}

/// Usage per period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageReportView {
    /// The product's code.
    pub product: String,
    /// `day`, `week` or `month`.
    pub period: String,
    /// The first day.
    pub from: NaiveDate,
    /// The day after the last.
    pub to: NaiveDate,
    /// `all`, `version` or `os`.
    pub by: String,
    /// Periods with any use, oldest first.
    pub rows: Vec<UsageRowView>,
}

/// A version's share of a period's active machines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionShareView {
    /// The version as reported.
    pub version: String,
    /// Machines that used it in the period.
    pub machines: u64,
    /// Its share of the period's active machines (0 to 1; a machine using two versions
    /// counts for both).
    pub share: f64,
}

/// Versions in one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdoptionPeriodView {
    /// The first day of the period.
    pub period: NaiveDate,
    /// Active machines.
    pub active_machines: u64,
    /// The versions, most used first.
    pub versions: Vec<VersionShareView>,
}

/// How fast a release was taken up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseAdoptionView {
    /// The release's version.
    pub version: String,
    /// When it was published.
    pub published_at: DateTime<Utc>,
    /// Days from publication to the first period in which it ran on half of the active
    /// machines or more (absent: not yet, in the range asked).
    pub days_to_half: Option<i64>,
}

/// Version adoption over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdoptionReport {
    /// The product's code.
    pub product: String,
    /// `day`, `week` or `month`.
    pub period: String,
    /// The first day.
    pub from: NaiveDate,
    /// The day after the last.
    pub to: NaiveDate,
    /// Periods with any use, oldest first.
    pub periods: Vec<AdoptionPeriodView>,
    /// The product's published releases and their time to half of the machines.
    pub releases: Vec<ReleaseAdoptionView>,
}

/// What happened to licenses in one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityRowView {
    /// The first day of the period.
    pub period: NaiveDate,
    /// Activations (emergency licenses not counted).
    pub activations: u64,
    /// Seats given back.
    pub deactivations: u64,
    /// Seats moved from a lost machine.
    pub recoveries: u64,
    /// Emergency licenses started.
    pub emergency_licenses: u64,
    /// Demo licenses given.
    pub demos: u64,
    /// Of those, demos followed by a purchase.
    pub converted_demos: u64,
}

/// License activity per period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityReport {
    /// The product's code.
    pub product: String,
    /// `day`, `week` or `month`.
    pub period: String,
    /// The first day.
    pub from: NaiveDate,
    /// The day after the last.
    pub to: NaiveDate,
    /// Periods with any activity, oldest first.
    pub rows: Vec<ActivityRowView>,
    /// Demos in the range followed by a purchase, as a share (absent without demos).
    pub demo_conversion_rate: Option<f64>,
}
