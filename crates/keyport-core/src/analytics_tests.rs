use chrono::NaiveDate;
use proptest::prelude::*;

use super::*;
use crate::stats::{Observation, kaplan_meier};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

#[test]
fn periods_start_on_their_first_day() {
    // 2026-11-29 is a Sunday: its ISO week began on Monday the 23rd.
    assert_eq!(Period::Week.start(day(2026, 11, 29)), day(2026, 11, 23));
    assert_eq!(Period::Week.start(day(2026, 11, 23)), day(2026, 11, 23));
    assert_eq!(Period::Month.start(day(2026, 11, 29)), day(2026, 11, 1));
    assert_eq!(Period::Month.next(day(2026, 12, 1)), day(2027, 1, 1));
    let range = DayRange { from: day(2026, 1, 15), to: day(2026, 3, 2) };
    assert_eq!(Period::Month.starts(range), vec![day(2026, 1, 1), day(2026, 2, 1), day(2026, 3, 1)]);
    assert_eq!(Period::parse(" Week ").ok(), Some(Period::Week));
    assert!(Period::parse("year").is_err());
}

#[test]
fn a_range_is_ordered_and_bounded() {
    let today = day(2026, 11, 30);
    let default = DayRange::new(None, None, Period::Day, today).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((default.days(), default.to), (90, day(2026, 12, 1)));
    assert!(DayRange::new(Some(today), Some(today), Period::Day, today).is_err());
    let long = DayRange::new(Some(day(2020, 1, 1)), Some(day(2026, 1, 1)), Period::Day, today);
    assert!(long.unwrap_err().to_string().contains("2192 days"));
    assert!(DayRange::new(Some(day(2020, 1, 1)), Some(day(2026, 1, 1)), Period::Week, today).is_ok());
}

#[test]
fn sessions_are_counted_in_coarser_buckets_as_they_grow() {
    assert_eq!(session_bucket(-5), 0);
    assert_eq!(session_bucket(59), 0);
    assert_eq!(session_bucket(600), 600);
    assert_eq!(session_bucket(3_599), 3_540);
    assert_eq!(session_bucket(3_600 + 299), 3_600);
    assert_eq!(session_bucket(5 * 3_600 + 1_799), 5 * 3_600);
    assert_eq!(session_bucket(10 * 86_400), 86_400);
    assert_eq!(median_bucket(&[]), None);
    assert_eq!(median_bucket(&[(600, 2), (60, 1)]), Some(600));
    assert_eq!(median_bucket(&[(600, 2), (60, 2)]), Some(60));
}

#[test]
fn half_adoption_is_counted_from_the_publication() {
    let published = day(2026, 3, 10);
    let shares = [(day(2026, 3, 12), 0.6), (day(2026, 3, 11), 0.4), (day(2026, 3, 13), 0.9)];
    assert_eq!(days_to_half(published, &shares), Some(2));
    assert_eq!(days_to_half(published, &[(day(2026, 3, 12), 0.49)]), None);
    assert_eq!(conversion_rate(0, 0), None);
    assert_eq!(conversion_rate(4, 1), Some(0.25));
}

#[test]
fn a_summary_reads_the_curve() {
    let obs: Vec<Observation> = [(2.0, true), (4.0, true), (6.0, false), (8.0, true)]
        .iter()
        .map(|&(duration, event)| Observation { duration, event })
        .collect();
    let curve = kaplan_meier(&obs, 0.95).unwrap_or_else(|e| panic!("{e}"));
    let summary = summarize(&curve);
    assert_eq!((summary.subjects, summary.ended, summary.censored), (4, 3, 1));
    assert_eq!(summary.median, Some(4.0));
    assert_eq!(summary.horizon, 8.0);
    // 1*2 + 0.75*2 + 0.5*4 = 5.5
    assert!((summary.restricted_mean - 5.5).abs() < 1e-12);
}

proptest! {
    /// The median bucket holds the middle session of the sessions listed one by one.
    #[test]
    fn the_median_bucket_holds_the_middle_session(lengths in proptest::collection::vec(0i64..200_000, 1..60)) {
        let mut histogram = std::collections::BTreeMap::new();
        for s in &lengths {
            *histogram.entry(session_bucket(*s)).or_insert(0u64) += 1;
        }
        let histogram: Vec<(i64, u64)> = histogram.into_iter().collect();
        let mut sorted = lengths.clone();
        sorted.sort_unstable();
        let middle = sorted[(sorted.len() - 1) / 2];
        prop_assert_eq!(median_bucket(&histogram), Some(session_bucket(middle)));
    }

    /// Every day of a range lies in exactly one of its periods.
    #[test]
    fn periods_cover_a_range_once(offset in 0i64..2000, len in 1i64..200, p in 0usize..3) {
        let period = [Period::Day, Period::Week, Period::Month][p];
        let from = day(2024, 1, 1) + Duration::days(offset);
        let range = DayRange { from, to: from + Duration::days(len) };
        let starts = period.starts(range);
        for d in 0..len {
            let today = from + Duration::days(d);
            let holding = starts.iter().filter(|s| **s <= today && today < period.next(**s)).count();
            prop_assert_eq!(holding, 1);
            prop_assert_eq!(period.start(today), *starts.iter().rfind(|s| **s <= today).unwrap_or(&from));
        }
    }
}
