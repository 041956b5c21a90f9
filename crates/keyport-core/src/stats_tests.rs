use proptest::prelude::*;

use super::*;

fn obs(pairs: &[(f64, bool)]) -> Vec<Observation> {
    pairs.iter().map(|&(duration, event)| Observation { duration, event }).collect()
}

#[test]
fn the_textbook_example_gives_the_textbook_curve() {
    // 6 subjects: events at 1, 3 (two), 6; censored at 2 and 7.
    let curve = kaplan_meier(
        &obs(&[(1.0, true), (2.0, false), (3.0, true), (3.0, true), (6.0, true), (7.0, false)]),
        0.95,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let survival: Vec<(f64, f64)> = curve.points.iter().map(|p| (p.time, p.survival)).collect();
    let expected = [
        (0.0, 1.0),
        (1.0, 5.0 / 6.0),
        (2.0, 5.0 / 6.0),
        (3.0, 5.0 / 6.0 * 2.0 / 4.0),
        (6.0, 5.0 / 12.0 * 0.5),
        (7.0, 5.0 / 24.0),
    ];
    for ((t, s), (te, se)) in survival.iter().zip(expected) {
        assert_eq!(*t, te);
        assert!((s - se).abs() < 1e-12, "S({t}) = {s}, expected {se}");
    }
    assert_eq!(curve.points[3].at_risk, 4);
    assert_eq!(curve.median(), Some(3.0));
    // Greenwood at 1: 1/(6*5).
    assert!((curve.points[1].greenwood - 1.0 / 30.0).abs() < 1e-15);
    assert!(curve.points.iter().all(|p| p.lower <= p.survival && p.survival <= p.upper));
    // Area: 1*1 + 5/6*2 + 5/12*3 + 5/24*1 up to 7.
    let area = 1.0 + 5.0 / 6.0 * 2.0 + 5.0 / 12.0 * 3.0 + 5.0 / 24.0;
    assert!((curve.restricted_mean(7.0) - area).abs() < 1e-12);
    assert_eq!(curve.at(2.5), 5.0 / 6.0);
}

#[test]
fn the_normal_quantile_is_right_to_nine_places() {
    let z = z_of(0.95).unwrap_or_default();
    assert!((z - 1.959_963_984_540_054).abs() < 1e-8, "{z}");
    assert!((z_of(0.99).unwrap_or_default() - 2.575_829_303_548_901).abs() < 1e-8);
    assert!(z_of(0.5).is_err() && z_of(1.0).is_err());
}

#[test]
fn bad_durations_are_refused() {
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(kaplan_meier(&obs(&[(bad, true)]), 0.95).is_err());
    }
    let empty = kaplan_meier(&[], 0.95).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(empty.points.len(), 1);
    assert_eq!(empty.median(), None);
}

fn observations() -> impl Strategy<Value = Vec<Observation>> {
    prop::collection::vec(
        (0u32..60, prop::bool::weighted(0.6))
            .prop_map(|(d, event)| Observation { duration: f64::from(d), event }),
        0..80,
    )
}

proptest! {
    #[test]
    fn a_curve_starts_at_one_and_never_rises(sample in observations()) {
        let curve = kaplan_meier(&sample, 0.95).unwrap_or_else(|e| panic!("{e}"));
        let first = curve.points[0];
        prop_assert_eq!(first.time, 0.0);
        if first.events == 0 {
            prop_assert_eq!(first.survival, 1.0);
        }
        for pair in curve.points.windows(2) {
            prop_assert!(pair[1].survival <= pair[0].survival);
            prop_assert!(pair[1].time > pair[0].time);
        }
        for p in &curve.points {
            prop_assert!((0.0..=1.0).contains(&p.survival));
            prop_assert!(p.lower <= p.survival + 1e-15 && p.survival <= p.upper + 1e-15);
        }
    }

    #[test]
    fn without_censoring_it_is_the_empirical_survival_function(durations in prop::collection::vec(0u32..50, 1..60)) {
        let sample: Vec<Observation> = durations.iter().map(|&d| Observation { duration: f64::from(d), event: true }).collect();
        let curve = kaplan_meier(&sample, 0.95).unwrap_or_else(|e| panic!("{e}"));
        let n = sample.len() as f64;
        for p in &curve.points {
            let alive = durations.iter().filter(|&&d| f64::from(d) > p.time).count() as f64;
            prop_assert!((p.survival - alive / n).abs() < 1e-12, "S({}) = {} vs {}", p.time, p.survival, alive / n);
        }
    }
}

proptest! {
    /// Counts per time give the curve that one observation per subject gives.
    #[test]
    fn counts_and_single_observations_give_one_curve(
        pairs in proptest::collection::vec((0u8..20, any::<bool>(), 1u64..4), 1..40)
    ) {
        let counts: Vec<TimeCount> = pairs
            .iter()
            .map(|&(t, event, n)| TimeCount {
                time: f64::from(t),
                events: if event { n } else { 0 },
                censored: if event { 0 } else { n },
            })
            .collect();
        let singles: Vec<Observation> = pairs
            .iter()
            .flat_map(|&(t, event, n)| (0..n).map(move |_| Observation { duration: f64::from(t), event }))
            .collect();
        let a = kaplan_meier_counts(&counts, 0.95).unwrap_or_else(|e| panic!("{e}"));
        let b = kaplan_meier(&singles, 0.95).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(a, b);
    }
}
