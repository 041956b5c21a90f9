//! Statistics on numbers alone: the Kaplan–Meier estimator of a survival curve, for the
//! lifetimes of PCs and of software versions (how long until a machine is replaced, how long
//! a version stays in use), with right-censoring: most machines are still in use when the
//! question is asked.
//!
//! The numbers follow the textbook definitions as `lifelines` (Python) computes them, and a
//! test checks them against it: the product-limit estimate, Greenwood's variance, confidence
//! bounds on the log(-log) scale ("exponential Greenwood"), the median as the first time the
//! curve reaches 0.5 or below, and the restricted mean as the area under the curve.

use crate::error::CoreError;

/// One subject: how long it was observed, and whether the event (the end of its lifetime)
/// was seen at that time (`false`: still alive then, right-censored).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The time observed (e.g. days), 0 or more.
    pub duration: f64,
    /// Whether the lifetime ended at `duration`.
    pub event: bool,
}

/// The curve at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurvivalPoint {
    /// The time.
    pub time: f64,
    /// Subjects observed at least this long (at risk just before it).
    pub at_risk: u64,
    /// Lifetimes ending at this time.
    pub events: u64,
    /// Subjects censored at this time.
    pub censored: u64,
    /// The estimated share still alive after this time.
    pub survival: f64,
    /// Greenwood's cumulative sum, Σ d / (n (n − d)), up to this time.
    pub greenwood: f64,
    /// The lower confidence bound.
    pub lower: f64,
    /// The upper confidence bound.
    pub upper: f64,
}

/// A Kaplan–Meier survival curve: a point at 0 and at every distinct observed time.
#[derive(Debug, Clone, PartialEq)]
pub struct SurvivalCurve {
    /// The points, by time.
    pub points: Vec<SurvivalPoint>,
    /// The confidence level of the bounds, e.g. 0.95.
    pub confidence: f64,
}

/// The most subjects one curve takes.
pub const MAX_OBSERVATIONS: usize = 10_000_000;

/// The standard normal quantile for a two-sided confidence level (0.8 to 0.999).
pub fn z_of(confidence: f64) -> Result<f64, CoreError> {
    if !(0.8..=0.999).contains(&confidence) {
        return Err(CoreError::invalid("confidence", "must be between 0.8 and 0.999"));
    }
    Ok(inverse_normal(1.0 - (1.0 - confidence) / 2.0))
}

/// The standard normal quantile function (Acklam's algorithm: relative error below 1.2e-9).
fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

/// The bounds of `survival` at a Greenwood sum on the log(-log) scale: S^exp(±z·se) with
/// se = √greenwood / |ln S|. 1 before any event; 0 once the curve is 0.
fn bounds(survival: f64, greenwood: f64, z: f64) -> (f64, f64) {
    if survival >= 1.0 {
        return (1.0, 1.0);
    }
    if survival <= 0.0 || !greenwood.is_finite() {
        return (0.0, 0.0);
    }
    let se = greenwood.sqrt() / survival.ln().abs();
    (survival.powf((z * se).exp()), survival.powf((-z * se).exp()))
}

/// Subjects observed for one length of time: how many lifetimes ended then and how many
/// were still alive then (censored). What a database answers when it counts lifetimes
/// grouped by their length, so a curve over a million machines is a few thousand rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeCount {
    /// The time observed (e.g. days), 0 or more.
    pub time: f64,
    /// Lifetimes that ended at `time`.
    pub events: u64,
    /// Subjects still alive at `time`.
    pub censored: u64,
}

/// The Kaplan–Meier estimate of `observations` with bounds at `confidence` (e.g. 0.95).
pub fn kaplan_meier(observations: &[Observation], confidence: f64) -> Result<SurvivalCurve, CoreError> {
    if observations.len() > MAX_OBSERVATIONS {
        return Err(CoreError::invalid("observations", "must be at most 10000000"));
    }
    let counts: Vec<TimeCount> = observations
        .iter()
        .map(|o| TimeCount { time: o.duration, events: u64::from(o.event), censored: u64::from(!o.event) })
        .collect();
    kaplan_meier_counts(&counts, confidence)
}

/// The Kaplan–Meier estimate of subjects given as counts per time (times may repeat and
/// come in any order), with bounds at `confidence`.
pub fn kaplan_meier_counts(counts: &[TimeCount], confidence: f64) -> Result<SurvivalCurve, CoreError> {
    let z = z_of(confidence)?;
    if counts.iter().any(|c| !c.time.is_finite() || c.time < 0.0) {
        return Err(CoreError::invalid("duration", "must be a finite number of 0 or more"));
    }
    let total = counts.iter().try_fold(0u64, |n, c| n.checked_add(c.events)?.checked_add(c.censored));
    let Some(total) = total.filter(|n| *n <= MAX_OBSERVATIONS as u64) else {
        return Err(CoreError::invalid("observations", "must be at most 10000000"));
    };
    let mut sorted: Vec<TimeCount> = counts.iter().copied().filter(|c| c.events + c.censored > 0).collect();
    sorted.sort_by(|a, b| a.time.total_cmp(&b.time));
    let mut points = Vec::new();
    let mut at_risk = total;
    let (mut survival, mut greenwood) = (1.0f64, 0.0f64);
    if sorted.first().is_none_or(|c| c.time > 0.0) {
        points.push(SurvivalPoint {
            time: 0.0,
            at_risk,
            events: 0,
            censored: 0,
            survival: 1.0,
            greenwood: 0.0,
            lower: 1.0,
            upper: 1.0,
        });
    }
    let mut i = 0;
    while i < sorted.len() {
        let time = sorted[i].time;
        let same = sorted[i..].iter().take_while(|c| c.time == time).count();
        let events: u64 = sorted[i..i + same].iter().map(|c| c.events).sum();
        let censored: u64 = sorted[i..i + same].iter().map(|c| c.censored).sum();
        if events > 0 {
            let (n, d) = (at_risk as f64, events as f64);
            survival *= 1.0 - d / n;
            greenwood += if at_risk > events { d / (n * (n - d)) } else { f64::INFINITY };
        }
        let (lower, upper) = bounds(survival, greenwood, z);
        points.push(SurvivalPoint { time, at_risk, events, censored, survival, greenwood, lower, upper });
        at_risk -= events + censored;
        i += same;
    }
    Ok(SurvivalCurve { points, confidence })
}

impl SurvivalCurve {
    /// The first time a curve (`pick`: the estimate or a bound) is 0.5 or below; `None`
    /// when it stays above.
    fn first_at_half(&self, pick: impl Fn(&SurvivalPoint) -> f64) -> Option<f64> {
        self.points.iter().find(|p| pick(p) <= 0.5).map(|p| p.time)
    }

    /// The median lifetime: the first time the estimate is 0.5 or below.
    pub fn median(&self) -> Option<f64> {
        self.first_at_half(|p| p.survival)
    }

    /// The median's confidence interval: where the lower and the upper bound reach 0.5
    /// (`None` for an end the data do not reach).
    pub fn median_interval(&self) -> (Option<f64>, Option<f64>) {
        (self.first_at_half(|p| p.lower), self.first_at_half(|p| p.upper))
    }

    /// The restricted mean lifetime up to `horizon`: the area under the curve from 0.
    pub fn restricted_mean(&self, horizon: f64) -> f64 {
        let mut area = 0.0;
        for (i, point) in self.points.iter().enumerate() {
            if point.time >= horizon {
                break;
            }
            let next = self.points.get(i + 1).map_or(horizon, |p| p.time.min(horizon));
            area += point.survival * (next - point.time);
        }
        area
    }

    /// The survival estimate at `time` (the step function: its value at the last point at or
    /// before it).
    pub fn at(&self, time: f64) -> f64 {
        self.points.iter().take_while(|p| p.time <= time).last().map_or(1.0, |p| p.survival)
    }
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
