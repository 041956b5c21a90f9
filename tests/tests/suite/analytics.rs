//! Analytics on both backends, from seeded histories with known answers: machines replaced
//! after known days (recovered, or deactivated and activated elsewhere), machines still in
//! use (censored), versions upgraded, sessions of known length.

use chrono::{DateTime, Duration, Utc};
use keyport_core::analytics::{AnalyticsFilter, DayRange, LifetimeGroup, Period, UsageSplit};
use keyport_core::checkin::SessionEvent;
use keyport_core::stats::{Observation, kaplan_meier};
use keyport_core::{ErrorCode, LicenseModel, ProductCode, RuleSetParams, Sku};
use keyport_store::{LifetimeSubject, Scope};
use keyport_tests::{Fixture, check_in_version, machine, parse, rules, usage_report};
use uuid::Uuid;

/// The seeded history's product and start.
struct History {
    product: ProductCode,
    sku: String,
    t0: DateTime<Utc>,
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// Eight machines on five licenses of one item (one seat each), from `t0` = 500 days ago:
/// - machine 1 lost at day 100, its seat recovered to machine 2 (still in use);
/// - machine 3 deactivated at day 200, the license activated on machine 4 at day 250;
/// - machine 5 activated at day 10, still in use;
/// - machine 6 deactivated at day 300 and never replaced (censored there);
/// - machine 7 lost at day 400, recovered to machine 8.
///
/// Machine 2 reports 5.0.1 at day 110, 5.2.0 at day 150, 6.0.0 at day 170 and 6.1.0
/// yesterday; machine 4 reports 5.1.0 once, at day 260. Machine 5 runs a 10-minute session
/// at day 20.
fn seed(f: &Fixture) -> History {
    let t0 = Utc::now() - days(500);
    let at = |d: i64| t0 + days(d);
    let one_seat = RuleSetParams { seats: 1, blocking_days: 0, ..rules() };
    let sku = f.item_at(t0 - days(1), LicenseModel::Perpetual, one_seat);
    let product = parse(ProductCode::parse(&format!("cad-{}", &sku[4..])));
    let license = || f.order_at(t0, &sku, 1).order.lines[0].license_ids[0];
    let activate = |license: Uuid, n: u32, d: i64| {
        f.store.activate(&f.ctx_at(at(d)), Scope::Staff, license, &machine(n)).unwrap().activation.id
    };
    let recover = |activation: Uuid, n: u32, d: i64| {
        f.store.recover(&f.ctx_at(at(d)), Scope::Staff, activation, &machine(n)).unwrap().activation.id
    };
    let deactivate = |activation: Uuid, d: i64| {
        f.store.deactivate(&f.ctx_at(at(d)), Scope::Staff, activation).unwrap();
    };
    let check = |n: u32, ids: (Uuid, Uuid), when: DateTime<Utc>, version: &str| {
        f.store.check_in(when, &check_in_version(n, ids, when, false, version)).unwrap();
    };

    let l1 = license();
    let m1 = activate(l1, 1, 0);
    let m2 = recover(m1, 2, 100);
    check(2, (l1, m2), at(110), "5.0.1");
    check(2, (l1, m2), at(150), "5.2.0");
    check(2, (l1, m2), at(170), "6.0.0");
    check(2, (l1, m2), Utc::now() - days(1), "6.1.0");

    let l2 = license();
    let m3 = activate(l2, 3, 0);
    deactivate(m3, 200);
    let m4 = activate(l2, 4, 250);
    check(4, (l2, m4), at(260), "5.1.0");

    let l3 = license();
    let m5 = activate(l3, 5, 10);
    let session = Uuid::now_v7();
    for (event, minutes) in [(SessionEvent::Start, 0), (SessionEvent::End, 10)] {
        let when = at(20) + Duration::minutes(minutes);
        f.store.report_usage(when, &usage_report(5, (l3, m5), session, event, when)).unwrap();
    }

    let l4 = license();
    let m6 = activate(l4, 6, 0);
    deactivate(m6, 300);

    let l5 = license();
    let m7 = activate(l5, 7, 0);
    recover(m7, 8, 400);
    History { product, sku, t0 }
}

fn filter(h: &History) -> AnalyticsFilter {
    AnalyticsFilter { product: h.product.clone(), item: None, version: None, os: None }
}

#[test]
fn pc_lifetimes_end_where_seats_moved_and_are_censored_where_they_did_not() {
    Fixture::each(|f| {
        let h = seed(f);
        let report = f
            .store
            .lifetime_report(LifetimeSubject::Machines, &filter(&h), LifetimeGroup::All, None, 0.95)
            .unwrap();
        assert_eq!(report.curves.len(), 1);
        let curve = &report.curves[0];
        // Ended: 1 (100 days), 3 (200), 7 (400). Censored: 2 (400), 4 (250), 5 (490),
        // 6 (300), 8 (100).
        let seen = [
            (100, true),
            (200, true),
            (400, true),
            (400, false),
            (250, false),
            (490, false),
            (300, false),
            (100, false),
        ];
        let expected = kaplan_meier(
            &seen.iter().map(|&(d, event)| Observation { duration: f64::from(d), event }).collect::<Vec<_>>(),
            0.95,
        )
        .unwrap();
        assert_eq!((curve.subjects, curve.ended, curve.censored), (8, 3, 5));
        assert_eq!(curve.points.len(), expected.points.len());
        for (got, want) in curve.points.iter().zip(&expected.points) {
            assert_eq!(
                (got.days, got.at_risk, got.ended, got.censored),
                (want.time, want.at_risk, want.events, want.censored)
            );
            assert!((got.survival - want.survival).abs() < 1e-12 && (got.lower - want.lower).abs() < 1e-12);
        }
        // S(100) = 7/8, S(200) = 7/8 * 5/6, S(400) = that * 2/3 < 0.5: the median is 400 days.
        assert!((curve.points[1].survival - 7.0 / 8.0).abs() < 1e-12);
        assert_eq!(curve.median_days, Some(400.0));

        // Only machines first activated from day 5 on: machine 5 (10), 2 (100), 4 (250), 8 (400).
        let born = DayRange { from: (h.t0 + days(5)).date_naive(), to: (Utc::now() + days(1)).date_naive() };
        let later = f
            .store
            .lifetime_report(LifetimeSubject::Machines, &filter(&h), LifetimeGroup::Item, Some(born), 0.95)
            .unwrap();
        assert_eq!(later.curves[0].group, h.sku);
        assert_eq!((later.curves[0].subjects, later.curves[0].ended), (4, 0));
    });
}

#[test]
fn version_lifetimes_end_at_the_next_major_or_after_silence() {
    Fixture::each(|f| {
        let h = seed(f);
        let report = f
            .store
            .lifetime_report(LifetimeSubject::Versions, &filter(&h), LifetimeGroup::Major, None, 0.95)
            .unwrap();
        let groups: Vec<&str> = report.curves.iter().map(|c| c.group.as_str()).collect();
        assert_eq!(groups, ["5", "6"]);
        // Major 5: machine 2 from day 110 until 6.0.0 at day 170 (60 days, ended); machines 4
        // (a check-in) and 5 (a session) seen on one day long ago (1 day, ended by silence).
        let five: Vec<(f64, u64, u64)> =
            report.curves[0].points.iter().map(|p| (p.days, p.ended, p.censored)).collect();
        assert_eq!(five, [(0.0, 0, 0), (1.0, 2, 0), (60.0, 1, 0)]);
        assert_eq!(report.curves[0].median_days, Some(1.0));
        // Major 6: from day 170 to yesterday, still in use: censored after 330 days.
        let six = &report.curves[1];
        assert_eq!((six.subjects, six.ended, six.censored), (1, 0, 1));
        assert_eq!(six.points.last().map(|p| p.days), Some(330.0));
        assert_eq!(six.median_days, None);
    });
}

#[test]
fn usage_and_activity_are_counted_per_period() {
    Fixture::each(|f| {
        let h = seed(f);
        let today = Utc::now().date_naive();
        let range = DayRange::new(Some(h.t0.date_naive()), None, Period::Month, today).unwrap();
        let activity = f.store.activity_report(&filter(&h), Period::Month, range).unwrap();
        let rows = &activity.rows;
        assert_eq!(rows.iter().map(|r| r.activations).sum::<u64>(), 8);
        assert_eq!(rows.iter().map(|r| r.recoveries).sum::<u64>(), 2);
        assert_eq!(rows.iter().map(|r| r.deactivations).sum::<u64>(), 2);
        assert_eq!((rows.iter().map(|r| r.demos).sum::<u64>(), activity.demo_conversion_rate), (0, None));

        let day = |d: i64| (h.t0 + days(d)).date_naive();
        let range = DayRange { from: day(100), to: day(300) };
        let usage = f.store.usage_report(&filter(&h), Period::Day, range, UsageSplit::Version).unwrap();
        let row = |d: i64, key: &str| usage.rows.iter().find(|r| r.period == day(d) && r.key == key);
        assert_eq!(row(110, "5.0.1").map(|r| (r.active_machines, r.checkins)), Some((1, 1)));
        assert_eq!(row(170, "6.0.0").map(|r| r.active_machines), Some(1));
        // Machine 2's recovery (an activation at day 100) counts it active that day, under the
        // version it reported last.
        assert_eq!(row(100, "6.1.0").map(|r| r.active_machines), Some(1));
        // Machine 5's session: 10 minutes.
        let sessions = f
            .store
            .usage_report(&filter(&h), Period::Month, DayRange { from: day(0), to: day(60) }, UsageSplit::Os)
            .unwrap();
        let linux: Vec<_> = sessions.rows.iter().filter(|r| r.key == "linux").collect();
        assert_eq!(linux.len(), 1);
        assert_eq!(
            (linux[0].sessions, linux[0].session_seconds, linux[0].median_session_seconds),
            (1, 600, Some(600))
        );

        // A filter on the only version leaves the other versions out.
        let only = AnalyticsFilter { version: Some("5.0.1".into()), ..filter(&h) };
        let usage = f.store.usage_report(&only, Period::Day, range, UsageSplit::All).unwrap();
        assert!(usage.rows.iter().all(|r| r.period == day(110)), "{:?}", usage.rows);
    });
}

#[test]
fn unknown_products_and_items_are_not_found() {
    Fixture::each(|f| {
        let h = seed(f);
        let unknown = AnalyticsFilter { product: parse(ProductCode::parse("nope")), ..filter(&h) };
        let err =
            f.store.lifetime_report(LifetimeSubject::Machines, &unknown, LifetimeGroup::All, None, 0.95);
        assert_eq!(err.unwrap_err().code(), ErrorCode::NotFound);
        let other_item = AnalyticsFilter { item: Some(parse(Sku::parse("OTHER-1"))), ..filter(&h) };
        let err =
            f.store.lifetime_report(LifetimeSubject::Versions, &other_item, LifetimeGroup::All, None, 0.95);
        assert_eq!(err.unwrap_err().code(), ErrorCode::NotFound);
    });
}
