use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;

use super::*;

fn at(day: i64, hour: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 3, 1, 0, 0, 0).single().unwrap_or_default()
        + Duration::days(day)
        + Duration::hours(hour)
}

fn window(start: i64, end: Option<i64>) -> OfferWindow {
    OfferWindow { starts_at: at(start, 0), ends_at: end.map(|e| at(e, 0)), withdrawn_at: None }
}

#[test]
fn an_offer_runs_from_its_start_until_before_its_end() {
    let w = window(1, Some(3));
    assert!(!w.runs(at(0, 23)));
    assert!(w.runs(at(1, 0)));
    assert!(w.runs(at(2, 23)));
    assert!(!w.runs(at(3, 0)));
    assert_eq!(w.phase(at(0, 0)), Phase::Scheduled);
    assert_eq!(w.phase(at(2, 0)), Phase::Running);
    assert_eq!(w.phase(at(5, 0)), Phase::Ended);
    let withdrawn = OfferWindow { withdrawn_at: Some(at(2, 0)), ..w };
    assert!(!withdrawn.runs(at(2, 1)));
    assert_eq!(withdrawn.phase(at(0, 0)), Phase::Withdrawn);
}

#[test]
fn the_cap_counts_days_and_keeps_todays_offer_listed() {
    let w = window(0, None);
    let seen = Seen { days_shown: 2, last_shown_on: Some(at(4, 0).date_naive()), ..Seen::default() };
    assert_eq!(visibility(&w, Some(2), &seen, at(4, 20)), Visibility::Shown);
    assert_eq!(visibility(&w, Some(2), &seen, at(5, 1)), Visibility::CapReached);
    assert_eq!(visibility(&w, Some(3), &seen, at(5, 1)), Visibility::Shown);
    assert_eq!(visibility(&w, None, &seen, at(500, 1)), Visibility::Shown);
    let dismissed = Seen { dismissed_at: Some(at(4, 1)), ..seen };
    assert_eq!(visibility(&w, None, &dismissed, at(4, 2)), Visibility::Dismissed);
    assert_eq!(visibility(&window(6, None), None, &Seen::default(), at(5, 0)), Visibility::NotRunning);
}

#[test]
fn responses_are_idempotent() {
    let now = at(1, 10);
    let first = respond(Response::Impression, Visibility::Shown, &Seen::default(), now).unwrap().unwrap();
    assert_eq!(first.days_shown, 1);
    assert_eq!(respond(Response::Impression, Visibility::Shown, &first, at(1, 22)).unwrap(), None);
    let next_day = respond(Response::Impression, Visibility::Shown, &first, at(2, 0)).unwrap().unwrap();
    assert_eq!(next_day.days_shown, 2);
    let clicked = respond(Response::Click, Visibility::Shown, &first, now).unwrap().unwrap();
    assert_eq!(clicked.clicked_at, Some(now));
    assert_eq!(respond(Response::Click, Visibility::Shown, &clicked, at(3, 0)).unwrap(), None);
    let dismissed = respond(Response::Dismissal, Visibility::Shown, &clicked, now).unwrap().unwrap();
    assert_eq!(respond(Response::Dismissal, Visibility::Dismissed, &dismissed, at(4, 0)).unwrap(), None);
    // Shown no more once dismissed: an impression counts nothing.
    assert_eq!(respond(Response::Impression, Visibility::Dismissed, &dismissed, at(9, 0)).unwrap(), None);
    let gone = respond(Response::Click, Visibility::NotRunning, &Seen::default(), now).unwrap_err();
    assert_eq!(gone.code(), ErrorCode::NotFound);
}

#[test]
fn texts_links_and_coupons_are_checked() {
    assert!(Localized::parse(("title_en", "title_de"), " Pro ", "Pro", 10, true).is_ok());
    let empty = Localized::parse(("title_en", "title_de"), "Pro", "  ", 10, true).unwrap_err();
    assert_eq!(empty.facts().get("field").map(String::as_str), Some("title_de"));
    assert!(Localized::parse(("text_en", "text_de"), "", "", 10, false).is_ok());
    assert!(Localized::parse(("title_en", "title_de"), "a\u{7}b", "x", 10, true).is_err());
    assert!(Localized::parse(("title_en", "title_de"), &"x".repeat(11), "x", 10, true).is_err());
    assert_eq!(parse_link("https://shop.example/up?x=1").unwrap(), "https://shop.example/up?x=1");
    assert!(parse_link("javascript:alert(1)").is_err());
    assert!(parse_link("/relative").is_err());
    assert_eq!(parse_coupon(" PRO-2027 ").unwrap(), "PRO-2027");
    assert!(parse_coupon("a b").is_err());
    assert!(parse_coupon("").is_err());
    assert!(OfferKind::parse("cross_sell").is_ok());
    assert!(OfferKind::parse("sale").is_err());
}

fn draft() -> OfferDraft {
    OfferDraft {
        rule: Rule::All(vec![]),
        kind: OfferKind::Upgrade,
        title: Localized { en: "Pro".into(), de: "Pro".into() },
        text: Localized { en: String::new(), de: String::new() },
        link: None,
        coupon_code: None,
        starts_at: None,
        ends_at: None,
        priority: 10,
        max_days_shown: None,
    }
}

#[test]
fn a_draft_needs_a_window_ahead_within_bounds_and_bounded_numbers() {
    let now = at(10, 0);
    let field =
        |d: OfferDraft| d.check(now, now).unwrap_err().facts().get("field").cloned().unwrap_or_default();
    let checked = draft().check(now, at(3, 0)).unwrap();
    assert_eq!(checked.starts_at, at(3, 0), "no start named: the given one (now, or as it was)");
    let named = OfferDraft { starts_at: Some(at(12, 0)), ..draft() }.check(now, now).unwrap();
    assert_eq!(named.starts_at, at(12, 0));
    assert_eq!(field(OfferDraft { ends_at: Some(at(10, 0)), ..draft() }), "ends_at", "ending now");
    assert_eq!(
        field(OfferDraft { starts_at: Some(at(1, 0)), ends_at: Some(at(5, 0)), ..draft() }),
        "ends_at"
    );
    assert_eq!(
        field(OfferDraft { starts_at: Some(at(20, 0)), ends_at: Some(at(20, 0)), ..draft() }),
        "ends_at"
    );
    assert_eq!(field(OfferDraft { ends_at: Some(now + Duration::days(366 * 11)), ..draft() }), "ends_at");
    assert_eq!(field(OfferDraft { starts_at: Some(now + Duration::days(366 * 11)), ..draft() }), "starts_at");
    let ancient = DateTime::parse_from_rfc3339("1999-12-31T23:59:59Z").unwrap().with_timezone(&Utc);
    assert_eq!(field(OfferDraft { starts_at: Some(ancient), ..draft() }), "starts_at");
    assert_eq!(field(OfferDraft { priority: MAX_PRIORITY + 1, ..draft() }), "priority");
    assert_eq!(field(OfferDraft { max_days_shown: Some(0), ..draft() }), "max_days_shown");
    assert!(OfferDraft { max_days_shown: Some(MAX_DAYS_SHOWN), ..draft() }.check(now, now).is_ok());
}

#[test]
fn a_rule_names_its_products_and_items_once() {
    let rule = Rule::parse(&serde_json::json!({"all": [
        {"owns_product": {"product": "p"}}, {"not": {"owns_item": {"sku": "A"}}},
        {"any": [{"license_older_than": {"days": 3, "product": "p"}}, {"subscription_ends_within": {"days": 3, "product": "q"}},
                 {"owns_item": {"sku": "A"}}, {"language": ["de"]}]}]}))
    .unwrap();
    let (products, items) = rule.names();
    assert_eq!(products.iter().map(|p| p.as_str()).collect::<Vec<_>>(), ["p", "q"]);
    assert_eq!(items.iter().map(|s| s.as_str()).collect::<Vec<_>>(), ["A"]);
}

fn key() -> impl Strategy<Value = RankKey> {
    (0u32..4, proptest::option::of(0i64..4), 0i64..4, 0u8..8).prop_map(|(priority, end, start, id)| RankKey {
        priority,
        ends_at: end.map(|e| at(e, 0)),
        starts_at: at(start, 0),
        id: format!("{id:02}"),
    })
}

proptest! {
    #[test]
    fn best_first_is_a_total_order_led_by_priority(mut keys in proptest::collection::vec(key(), 0..30)) {
        keys.sort_by(best_first);
        for pair in keys.windows(2) {
            prop_assert!(pair[0].priority >= pair[1].priority);
            if pair[0].priority == pair[1].priority && pair[1].ends_at.is_some() {
                prop_assert!(pair[0].ends_at.is_some_and(|a| Some(a) <= pair[1].ends_at));
            }
            prop_assert!(best_first(&pair[0], &pair[1]) != std::cmp::Ordering::Greater);
        }
        let mut again = keys.clone();
        again.reverse();
        again.sort_by(best_first);
        prop_assert_eq!(again, keys);
    }

    #[test]
    fn a_response_never_lowers_a_count_or_forgets_a_time(
        days in 0u32..5, last in proptest::option::of(0i64..6), clicked in any::<bool>(),
        dismissed in any::<bool>(), day in 0i64..6, cap in proptest::option::of(1u32..4),
        which in 0usize..3,
    ) {
        let seen = Seen {
            days_shown: days,
            last_shown_on: last.map(|d| at(d, 0).date_naive()),
            clicked_at: clicked.then(|| at(0, 1)),
            dismissed_at: dismissed.then(|| at(0, 2)),
        };
        let now = at(day, 12);
        let response = [Response::Impression, Response::Click, Response::Dismissal][which];
        let seen_now = visibility(&window(0, None), cap, &seen, now);
        if let Some(next) = respond(response, seen_now, &seen, now).unwrap() {
            prop_assert!(next.days_shown >= seen.days_shown && next.days_shown <= seen.days_shown + 1);
            prop_assert!(seen.clicked_at.is_none() || next.clicked_at == seen.clicked_at);
            prop_assert!(seen.dismissed_at.is_none() || next.dismissed_at == seen.dismissed_at);
            // Applying it again changes nothing.
            let again = visibility(&window(0, None), cap, &next, now);
            prop_assert_eq!(respond(response, again, &next, now).unwrap(), None);
        }
        if seen_now == Visibility::CapReached {
            prop_assert_eq!(respond(Response::Impression, seen_now, &seen, now).unwrap(), None);
        }
    }
}
