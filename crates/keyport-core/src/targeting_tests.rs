use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::targeting_strategy::{self as strategy, Vocabulary};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

fn license(product: &str, sku: &str, min: u32, max: Option<u32>) -> HeldLicense {
    HeldLicense {
        product: product.to_owned(),
        sku: sku.to_owned(),
        version_min: min,
        version_max: max,
        starts_at: now() - Duration::days(400),
        expires_at: None,
        revoked: false,
        demo: false,
    }
}

fn facts(licenses: Vec<HeldLicense>) -> CustomerFacts {
    CustomerFacts { language: Lang::De, licenses, registered_tickets: vec!["reseller-nord".to_owned()] }
}

fn rule(value: serde_json::Value) -> Rule {
    Rule::parse(&value).unwrap()
}

fn refusal(value: serde_json::Value) -> String {
    let e = Rule::parse(&value).unwrap_err();
    assert_eq!(e.code(), crate::ErrorCode::InvalidInput);
    e.facts()["reason"].clone()
}

#[test]
fn the_example_of_the_module_reads_and_decides() {
    let r = rule(json!({"all": [
        {"owns_product": {"product": "cad-pro", "versions": {"from": 4, "to": 5}}},
        {"not": {"owns_item": {"sku": "CAD-PRO-6"}}},
        {"any": [{"language": ["de"]}, {"registered_ticket": {"shop": "reseller-nord"}}]}
    ]}));
    let owner_of_5 = facts(vec![license("cad-pro", "CAD-PRO-5", 5, Some(5))]);
    assert!(r.matches(&owner_of_5, now()));
    let owner_of_6_too =
        facts(vec![license("cad-pro", "CAD-PRO-5", 5, Some(5)), license("cad-pro", "CAD-PRO-6", 6, None)]);
    assert!(!r.matches(&owner_of_6_too, now()), "already owns the upgrade");
    let owner_of_3 = facts(vec![license("cad-pro", "CAD-PRO-3", 3, Some(3))]);
    assert!(!r.matches(&owner_of_3, now()), "3 is outside 4 to 5");
}

#[test]
fn revoked_and_expired_licenses_are_not_owned() {
    let r = rule(json!({"owns_item": {"sku": "A"}}));
    let mut held = license("p", "A", 1, None);
    held.revoked = true;
    assert!(!r.matches(&facts(vec![held.clone()]), now()));
    held.revoked = false;
    held.expires_at = Some(now());
    assert!(!r.matches(&facts(vec![held.clone()]), now()), "expired at this very moment");
    held.expires_at = Some(now() + Duration::seconds(1));
    assert!(r.matches(&facts(vec![held]), now()));
}

#[test]
fn demos_are_not_owned_and_do_not_end_as_subscriptions() {
    let mut demo = license("p", "A", 1, None);
    demo.demo = true;
    demo.expires_at = Some(now() + Duration::days(10));
    let c = facts(vec![demo]);
    for r in [
        json!({"owns_item": {"sku": "A"}}),
        json!({"owns_product": {"product": "p"}}),
        json!({"license_older_than": {"days": 1}}),
        json!({"subscription_ends_within": {"days": 30}}),
    ] {
        assert!(!rule(r.clone()).matches(&c, now()), "{r}");
    }
}

#[test]
fn rules_built_in_code_are_checked_like_parsed_ones() {
    assert!(Rule::Language(vec![]).check().is_err());
    assert!(Rule::LicenseOlderThan { days: u32::MAX, product: None }.check().is_err());
    assert_eq!(span(u32::MAX), Duration::days(i64::from(MAX_DAYS)), "never an overflow");
    let huge = Rule::LicenseOlderThan { days: u32::MAX, product: None };
    assert!(!huge.matches(&facts(vec![license("p", "A", 1, None)]), now()));
    let mut deep = Rule::Language(vec![Lang::En]);
    for _ in 0..MAX_DEPTH {
        deep = Rule::Not(Box::new(deep));
    }
    assert!(deep.check().is_err());
    assert!(rule(json!({"owns_item": {"sku": "A"}})).check().is_ok());
    let long = "x".repeat(10_000);
    let reason = refusal(json!({ long.clone(): {} }));
    assert!(reason.len() < 400 && reason.contains('…'), "{reason}");
}

#[test]
fn subscription_and_age_bounds_are_inclusive_where_documented() {
    let ends = rule(json!({"subscription_ends_within": {"days": 30}}));
    let mut held = license("p", "A", 1, None);
    held.expires_at = Some(now() + Duration::days(30));
    assert!(ends.matches(&facts(vec![held.clone()]), now()), "exactly 30 days from now");
    held.expires_at = Some(now() + Duration::days(30) + Duration::seconds(1));
    assert!(!ends.matches(&facts(vec![held.clone()]), now()));
    held.expires_at = Some(now());
    assert!(!ends.matches(&facts(vec![held]), now()), "already ended");
    let old = rule(json!({"license_older_than": {"days": 400, "product": "p"}}));
    assert!(old.matches(&facts(vec![license("p", "A", 1, None)]), now()), "started exactly 400 days ago");
    assert!(!old.matches(&facts(vec![license("q", "A", 1, None)]), now()), "another product");
    let older = rule(json!({"license_older_than": {"days": 401}}));
    assert!(!older.matches(&facts(vec![license("p", "A", 1, None)]), now()));
}

#[test]
fn empty_lists_and_tickets_from_a_shop() {
    let nobody = facts(vec![]);
    assert!(rule(json!({"all": []})).matches(&nobody, now()));
    assert!(!rule(json!({"any": []})).matches(&nobody, now()));
    assert!(rule(json!({"registered_ticket": {}})).matches(&nobody, now()));
    assert!(!rule(json!({"registered_ticket": {"shop": "webshop"}})).matches(&nobody, now()));
    let unregistered = CustomerFacts { registered_tickets: vec![], ..nobody };
    assert!(!rule(json!({"registered_ticket": {"shop": null}})).matches(&unregistered, now()));
}

#[test]
fn bad_rules_are_refused_naming_the_part() {
    assert_eq!(
        refusal(json!({"all": [{"language": ["de"]}, {"owns_prodct": {"product": "p"}}]})),
        "rule.all[1]: unknown rule 'owns_prodct'; one of all, any, not, owns_product, owns_item, \
         subscription_ends_within, license_older_than, registered_ticket, language"
    );
    assert_eq!(
        refusal(json!({"owns_product": {"product": "bad code!"}})),
        "rule.owns_product.product: may contain only letters, digits, '-', '_' and '.'"
    );
    assert_eq!(
        refusal(json!({"owns_product": {"product": "p", "versions": {"from": 5, "to": 4}}})),
        "rule.owns_product.versions: 'from' (5) is after 'to' (4)"
    );
    assert_eq!(
        refusal(json!({"owns_product": {"produkt": "p"}})),
        "rule.owns_product: unknown field 'produkt'; known: product, versions"
    );
    assert_eq!(
        refusal(json!({"subscription_ends_within": {}})),
        "rule.subscription_ends_within.days: is required"
    );
    assert_eq!(
        refusal(json!({"license_older_than": {"days": -1}})),
        "rule.license_older_than.days: must be a whole number from 0 to 36500"
    );
    assert_eq!(refusal(json!({"language": ["fr"]})), "rule.language[0]: must be 'en' or 'de'");
    assert_eq!(
        refusal(json!({"language": []})),
        "rule.language: must be a non-empty list of language codes (en, de)"
    );
    assert_eq!(refusal(json!({"not": {}})), "rule.not: must be an object with one key, the rule's kind");
    assert_eq!(
        refusal(json!({"all": [], "any": []})),
        "rule: must be an object with one key, the rule's kind"
    );
    assert_eq!(refusal(json!("all")), "rule: must be an object with one key, the rule's kind");
    let mut deep = json!({"language": ["en"]});
    for _ in 0..MAX_DEPTH {
        deep = json!({"not": deep});
    }
    assert!(refusal(deep).contains("nest at most 8 deep"));
    let wide = json!({"any": vec![json!({"language": ["en"]}); MAX_RULES]});
    assert!(refusal(wide).contains("at most 64 rules"));
}

fn vocabulary() -> Vocabulary {
    Vocabulary {
        products: vec!["p", "q"],
        skus: vec!["A", "B", "C"],
        shops: vec!["webshop", "reseller"],
        ends_within_days: 100,
        older_than_days: 800,
    }
}

fn rules() -> impl Strategy<Value = Rule> {
    strategy::rules(&vocabulary())
}

fn leaf() -> impl Strategy<Value = Rule> {
    strategy::leaf(&vocabulary())
}

fn held() -> impl Strategy<Value = HeldLicense> {
    (
        prop::sample::select(vec![("p", "A"), ("p", "B"), ("q", "C")]),
        0u32..4,
        prop::option::of(0u32..3),
        0i64..900,
        prop::option::of(-60i64..120),
        any::<bool>(),
    )
        .prop_map(|((product, sku), min, extra, age, ends, revoked)| HeldLicense {
            product: product.to_owned(),
            sku: sku.to_owned(),
            version_min: min,
            version_max: extra.map(|e| min + e),
            starts_at: now() - Duration::days(age),
            expires_at: ends.map(|d| now() + Duration::days(d)),
            revoked,
            demo: false,
        })
}

fn customer() -> impl Strategy<Value = CustomerFacts> {
    (
        prop::sample::select(vec![Lang::En, Lang::De]),
        prop::collection::vec(held(), 0..4),
        prop::collection::vec(prop::sample::select(vec!["webshop", "reseller"]), 0..2),
    )
        .prop_map(|(language, licenses, shops)| CustomerFacts {
            language,
            licenses,
            registered_tickets: shops.into_iter().map(str::to_owned).collect(),
        })
}

fn size(r: &Rule) -> usize {
    match r {
        Rule::All(rules) | Rule::Any(rules) => 1 + rules.iter().map(size).sum::<usize>(),
        Rule::Not(rule) => 1 + size(rule),
        Rule::OwnsProduct { .. }
        | Rule::OwnsItem { .. }
        | Rule::SubscriptionEndsWithin { .. }
        | Rule::LicenseOlderThan { .. }
        | Rule::RegisteredTicket { .. }
        | Rule::Language(_) => 1,
    }
}

proptest! {
    #[test]
    fn the_json_form_reads_back_as_the_same_rule(r in rules()) {
        prop_assume!(size(&r) <= MAX_RULES);
        prop_assert_eq!(Rule::parse(&r.to_json()).unwrap(), r);
    }

    #[test]
    fn not_all_any_follow_logic(r in rules(), s in rules(), c in customer()) {
        let (a, b) = (r.matches(&c, now()), s.matches(&c, now()));
        prop_assert_eq!(Rule::Not(Box::new(r.clone())).matches(&c, now()), !a);
        prop_assert_eq!(Rule::All(vec![r.clone(), s.clone()]).matches(&c, now()), a && b);
        prop_assert_eq!(Rule::Any(vec![r, s]).matches(&c, now()), a || b);
    }

    #[test]
    fn revoked_licenses_never_make_a_positive_rule_hold(r in leaf(), mut c in customer()) {
        // Dropping revoked licenses changes nothing: a revoked license counts for no rule.
        let before = r.matches(&c, now());
        c.licenses.retain(|l| !l.revoked);
        prop_assert_eq!(r.matches(&c, now()), before);
    }
}
