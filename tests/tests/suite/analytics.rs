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

/// A rendered SVG and the plot area it declares (`data-plot`: left, top, width, height,
/// x at the right edge, y at the top).
fn render(svg: &str, name: &str) -> (resvg::tiny_skia::Pixmap, [f64; 6]) {
    use resvg::{tiny_skia, usvg};
    let mut options = usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    let tree = usvg::Tree::from_str(svg, &options).unwrap();
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/analytics-charts");
    std::fs::create_dir_all(&dir).unwrap();
    pixmap.save_png(dir.join(format!("{name}.png"))).unwrap();
    std::fs::write(dir.join(format!("{name}.svg")), svg).unwrap();
    let plot = svg.split("data-plot=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap();
    let numbers: Vec<f64> = plot.split(' ').map(|n| n.parse().unwrap()).collect();
    (pixmap, [numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5]])
}

/// Whether the first palette colour is within 2 pixels of (x, y).
fn curve_at(pixmap: &resvg::tiny_skia::Pixmap, x: f64, y: f64) -> bool {
    let near = |a: u8, b: u8| (i16::from(a) - i16::from(b)).abs() <= 40;
    (-2i64..=2).any(|dx| {
        (-2i64..=2).any(|dy| {
            pixmap.pixel((x.round() as i64 + dx) as u32, (y.round() as i64 + dy) as u32).is_some_and(|p| {
                let c = p.demultiply();
                near(c.red(), 0x00) && near(c.green(), 0x72) && near(c.blue(), 0xB2)
            })
        })
    })
}

#[test]
fn staff_get_lifetimes_as_json_csv_and_a_chart_whose_curve_is_the_data() {
    use keyport_core::Role;
    use keyport_tests::http::{Api, api_key, block_on};
    Fixture::each(|f| {
        let h = seed(f);
        block_on(async {
            let api = Api::spawn(f);
            let support = api_key(f, Role::Support);
            let path = format!("/api/v1/analytics/machine-lifetimes?product={}", h.product.as_str());
            let json = api.get(&path, Some(&support)).await;
            assert_eq!(json.status, 200, "{}", json.body);
            let curve = &json.body["curves"][0];
            assert_eq!((curve["subjects"].as_u64(), curve["median_days"].as_f64()), (Some(8), Some(400.0)));
            let points = curve["points"].as_array().unwrap().clone();

            // Staff only; a shop key and no key are refused.
            let shop = api_key(f, Role::Shop);
            assert_eq!(api.get(&path, Some(&shop)).await.status, 403);
            assert_eq!(api.get(&path, None).await.status, 401);

            let client = reqwest::Client::new();
            let text = |format: &'static str, lang: &'static str| {
                let (client, url, key) =
                    (client.clone(), format!("{}{path}&format={format}", api.base), support.clone());
                async move {
                    let res = client
                        .get(url)
                        .bearer_auth(key)
                        .header("Accept-Language", lang)
                        .send()
                        .await
                        .unwrap();
                    let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
                    (kind, res.text().await.unwrap())
                }
            };
            let (kind, csv) = text("csv", "en").await;
            assert!(kind.starts_with("text/csv"), "{kind}");
            let lines: Vec<&str> = csv.lines().collect();
            assert_eq!(lines[0], "group,days,at_risk,ended,censored,survival,lower,upper");
            assert_eq!(lines.len(), points.len() + 1);
            assert!(lines[2].starts_with(",100,8,1,1,0.875,"), "{}", lines[2]);

            let (kind, svg) = text("svg", "de-DE,de;q=0.9").await;
            assert!(kind.starts_with("image/svg+xml"), "{kind}");
            assert!(
                svg.contains("Lebensdauer der PCs") && svg.contains("8 Fälle"),
                "German labels and sample size"
            );
            let (pixmap, [left, top, width, height, x_max, _]) =
                render(&svg, &format!("machine-lifetimes-{:?}", f.backend()));
            let inked =
                pixmap.pixels().iter().filter(|p| p.red() < 200 || p.green() < 200 || p.blue() < 200).count();
            assert!(inked > 5_000, "the chart has ink: {inked}");
            // The middle of each flat step of the curve is drawn at the JSON's survival.
            for pair in points.windows(2) {
                let (t0, t1) = (pair[0]["days"].as_f64().unwrap(), pair[1]["days"].as_f64().unwrap());
                let s = pair[0]["survival"].as_f64().unwrap();
                let (x, y) = (left + (t0 + t1) / 2.0 / x_max * width, top + (1.0 - s) * height);
                assert!(curve_at(&pixmap, x, y), "curve at days {t0}..{t1}, survival {s}");
            }

            // Clear refusals, in German too.
            let bad = api
                .send(
                    "GET",
                    &format!("{path}&group=colour"),
                    Some(&support),
                    &[("Accept-Language", "de")],
                    None,
                )
                .await;
            assert_eq!((bad.status, bad.code()), (422, "invalid_input"));
            assert!(bad.body["detail"].as_str().unwrap_or_default().contains("group"), "{}", bad.body);
            let usage = format!(
                "/api/v1/analytics/usage?product={}&from=2026-02-01&to=2026-01-01",
                h.product.as_str()
            );
            assert_eq!(api.get(&usage, Some(&support)).await.status, 422);
            let long = format!(
                "/api/v1/analytics/usage?product={}&from=2020-01-01&to=2026-01-01",
                h.product.as_str()
            );
            assert_eq!(api.get(&long, Some(&support)).await.code(), "invalid_input");
            let unknown = api.get("/api/v1/analytics/activity?product=nope", Some(&support)).await;
            assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
            for report in ["usage?by=os&period=week", "adoption?period=month", "activity?period=month"] {
                let (sep, _) = (if report.contains('?') { '&' } else { '?' }, ());
                let url = format!("/api/v1/analytics/{report}{sep}product={}&format=svg", h.product.as_str());
                let res =
                    client.get(format!("{}{url}", api.base)).bearer_auth(&support).send().await.unwrap();
                assert_eq!(res.status(), 200, "{report}");
                let svg = res.text().await.unwrap();
                let (pixmap, _) = render(
                    &svg,
                    &format!("{}-{:?}", report.split('?').next().unwrap_or(report), f.backend()),
                );
                assert!(pixmap.pixels().iter().any(|p| p.red() < 128), "{report} has ink");
            }
        });
    });
}
