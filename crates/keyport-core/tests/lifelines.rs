//! keyport-core's Kaplan–Meier estimator against `lifelines` (Python's widely used survival
//! library) on the same data sets, with ties and heavy censoring: survival within 1e-9,
//! confidence bounds, median and its interval, and restricted mean within 1e-6.
//! `tests/contract/lifelines_km.py` computes the reference in the test venv
//! (`bash tests/prerequisites.sh` installs it).

use keyport_core::stats::{Observation, kaplan_meier};
use serde_json::Value;

fn reference() -> Vec<Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run `bash tests/prerequisites.sh`", python.display());
    let out = std::process::Command::new(python)
        .arg(root.join("tests/contract/lifelines_km.py"))
        .output()
        .unwrap_or_else(|e| panic!("running lifelines: {e}"));
    assert!(out.status.success(), "lifelines: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap_or_else(|e| panic!("lifelines' answer: {e}"))
}

fn numbers(value: &Value) -> Vec<f64> {
    value.as_array().into_iter().flatten().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect()
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

#[test]
fn the_estimator_agrees_with_lifelines() {
    let sets = reference();
    assert!(sets.len() >= 10, "lifelines gave {} data sets", sets.len());
    for (n, set) in sets.iter().enumerate() {
        let durations = numbers(&set["durations"]);
        let events: Vec<bool> =
            set["events"].as_array().into_iter().flatten().map(|v| v.as_bool() == Some(true)).collect();
        let sample: Vec<Observation> = durations
            .iter()
            .zip(&events)
            .map(|(&duration, &event)| Observation { duration, event })
            .collect();
        let curve = kaplan_meier(&sample, 0.95).unwrap_or_else(|e| panic!("set {n}: {e}"));
        let timeline = numbers(&set["timeline"]);
        let times: Vec<f64> = curve.points.iter().map(|p| p.time).collect();
        assert_eq!(times, timeline, "set {n}: the timeline");
        let (survival, lower, upper) =
            (numbers(&set["survival"]), numbers(&set["lower"]), numbers(&set["upper"]));
        for (i, point) in curve.points.iter().enumerate() {
            assert!(
                close(point.survival, survival[i], 1e-9),
                "set {n} t={}: S {} vs {}",
                point.time,
                point.survival,
                survival[i]
            );
            // Where the curve is 0, lifelines' bounds are undefined (it fills them with 1).
            if point.survival > 0.0 {
                assert!(
                    close(point.lower, lower[i], 1e-6),
                    "set {n} t={}: lower {} vs {}",
                    point.time,
                    point.lower,
                    lower[i]
                );
                assert!(
                    close(point.upper, upper[i], 1e-6),
                    "set {n} t={}: upper {} vs {}",
                    point.time,
                    point.upper,
                    upper[i]
                );
            }
        }
        let same = |ours: Option<f64>, theirs: &Value| match (ours, theirs.as_f64()) {
            (Some(a), Some(b)) => close(a, b, 1e-6),
            (None, None) => true,
            _ => false,
        };
        assert!(
            same(curve.median(), &set["median"]),
            "set {n}: median {:?} vs {}",
            curve.median(),
            set["median"]
        );
        let (low, high) = curve.median_interval();
        assert!(
            same(low, &set["median_interval"][0]),
            "set {n}: median lower {low:?} vs {}",
            set["median_interval"][0]
        );
        assert!(
            same(high, &set["median_interval"][1]),
            "set {n}: median upper {high:?} vs {}",
            set["median_interval"][1]
        );
        let tau = set["tau"].as_f64().unwrap_or_default();
        let mean = curve.restricted_mean(tau);
        let theirs = set["restricted_mean"].as_f64().unwrap_or_default();
        assert!(close(mean, theirs, 1e-6), "set {n}: restricted mean to {tau}: {mean} vs {theirs}");
    }
}
