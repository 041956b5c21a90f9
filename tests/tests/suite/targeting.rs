//! Targeting rules: the store's SQL evaluation (for segments) and core's evaluation of one
//! customer's facts (for offers) agree, on generated rules over a population made through
//! the use cases (orders of three items over 900 days, subscriptions that ended or are about
//! to, revoked licenses, tickets sold by a reseller and registered later, two languages).

use chrono::{DateTime, Duration, DurationRound, Utc};
use keyport_core::targeting::Rule;
use keyport_core::targeting_strategy::Vocabulary;
use keyport_core::{
    Email, ExternalOrderNumber, Features, ItemSpec, Lang, LicenseModel, OrderCustomer, OrderLine,
    OrderRequest, Password, ProductCode, ProductSpec, Reason, RuleSet, RuleSetName, RuleSetParams, ShopName,
    Sku, VersionRange,
};
use keyport_store::{CustomerSearch, NewCustomer, Paging, Registration};
use keyport_tests::{Fixture, name, parse, rules};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use uuid::Uuid;

/// Products p and q; items A (p, perpetual, versions 1 to 2), B (p, a yearly subscription,
/// 3 and later), C (q, a 30-day subscription, version 1), D (p, a 14-day demo).
fn catalog(f: &Fixture, at: DateTime<Utc>) {
    let ctx = f.ctx_at(at);
    for code in ["p", "q"] {
        let spec = ProductSpec { code: parse(ProductCode::parse(code)), name: name(code) };
        f.store.define_product(&ctx, &spec).unwrap();
    }
    let set = parse(RuleSet::new(RuleSetParams { name: "targeting".to_owned(), ..rules() }));
    f.store.define_rule_set(&ctx, &set).unwrap();
    for (sku, product, model, min, max) in [
        ("A", "p", LicenseModel::Perpetual, 1, Some(2)),
        ("B", "p", LicenseModel::Subscription { days: 365 }, 3, None),
        ("C", "q", LicenseModel::Subscription { days: 30 }, 1, Some(1)),
        ("D", "p", LicenseModel::Demo { days: 14 }, 1, None),
    ] {
        let spec = ItemSpec {
            sku: parse(Sku::parse(sku)),
            product: parse(ProductCode::parse(product)),
            name: name(sku),
            model,
            features: parse(Features::new(["export"])),
            versions: parse(VersionRange::new(min, max)),
            rule_set: parse(RuleSetName::parse("targeting")),
            self_service: false,
            upgrade_from: Vec::new(),
        };
        f.store.define_item(&ctx, &spec).unwrap();
    }
}

/// What [`population`] made.
#[derive(Default)]
struct Made {
    customers: Vec<Uuid>,
    /// Licenses on the customers' tickets.
    licenses: usize,
    /// Resold tickets registered later, of orders not cancelled.
    resold_registered: usize,
}

/// `count` customers (every third one German), each with up to three orders.
fn population(f: &Fixture, now: DateTime<Utc>, count: u32) -> Made {
    let start = now - Duration::days(1000);
    catalog(f, start);
    let links = keyport_rest::mail_links("https://licenses.example.com");
    let (mut ids, mut made) = (Vec::new(), Made::default());
    for i in 0..count {
        let email = parse(Email::parse(&format!("c{i}@example.com")));
        let ctx = f.ctx_at(start);
        if i % 3 == 0 {
            let registration = Registration {
                email: email.clone(),
                name: name("Kundin"),
                password: parse(Password::parse("a long secret phrase")),
                lang: Lang::De,
                ticket: None,
            };
            f.store.register(&ctx, &links, &registration).unwrap();
        } else {
            let new = NewCustomer {
                email: email.clone(),
                name: name("Customer"),
                customer_number: None,
                password: None,
            };
            f.store.create_customer(&ctx, &new).unwrap();
        }
        let search = CustomerSearch { email: Some(email.clone()), ..CustomerSearch::default() };
        let found = f.store.search_customers(&search, &Paging { after: None, limit: 1 }).unwrap();
        let id = found.items[0].id;
        ids.push(id);
        for j in 0..(i % 4) {
            let sku = ["A", "B", "C", "D"][((i * 5 + j * 3) % 4) as usize];
            // Demos are recent (a 14-day term), so that some still run.
            let age = i64::from(if sku == "D" { i % 10 } else { (i * 37 + j * 101) % 900 });
            let at = now - Duration::days(age);
            // Every third order is a reseller's, for no one named; the customer registers
            // its ticket a day later (except every fifth customer, who never does); a third
            // resold order is cancelled after that.
            let resold = (i + j) % 3 == 0;
            let (shop, customer) = if resold {
                ("reseller", OrderCustomer::None)
            } else {
                ("webshop", OrderCustomer::ByEmail(email.clone()))
            };
            let number = format!("T-{i}-{j}");
            let request = parse(OrderRequest::new(
                parse(ShopName::parse(shop)),
                parse(ExternalOrderNumber::parse(&number)),
                customer,
                vec![parse(OrderLine::new(1, parse(Sku::parse(sku)), 1))],
            ));
            let order = f.store.create_order(&f.ctx_at(at), &request).unwrap();
            let registered = !resold || i % 5 != 4;
            if resold && registered {
                let code = parse(keyport_core::TicketCode::parse(&order.order.ticket_code));
                f.store.register_ticket(&f.ctx_at(at + Duration::days(1)), id, &code).unwrap();
            }
            let cancelled = resold && j == 2;
            if cancelled {
                let reason = parse(Reason::parse("returned"));
                f.store.cancel_order(&f.ctx_at(at + Duration::days(2)), shop, &number, &reason).unwrap();
            } else if (i * (j + 1)) % 5 == 1 {
                let license = order.order.lines[0].license_ids[0];
                f.store.revoke_license(&f.ctx_at(at), license, &parse(Reason::parse("refund"))).unwrap();
            }
            if registered {
                made.licenses += 1;
                made.resold_registered += usize::from(resold && !cancelled);
            }
        }
    }
    Made { customers: ids, ..made }
}

fn rules_strategy() -> impl Strategy<Value = Rule> {
    // An unknown product (x) too; days across the population's 900 days of orders.
    keyport_core::targeting_strategy::rules(&Vocabulary {
        products: vec!["p", "q", "x"],
        skus: vec!["A", "B", "C"],
        shops: vec!["webshop", "reseller"],
        ends_within_days: 400,
        older_than_days: 950,
    })
}

#[test]
fn segments_in_sql_and_one_customer_in_core_agree_on_generated_rules() {
    Fixture::each(|f| {
        let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
        let made = population(f, now, 24);
        let customers = made.customers.clone();
        let facts: Vec<_> = customers.iter().map(|id| (*id, f.store.customer_facts(*id).unwrap())).collect();
        // The facts are what was made.
        assert_eq!(facts.iter().map(|(_, c)| c.licenses.len()).sum::<usize>(), made.licenses);
        assert_eq!(
            facts.iter().map(|(_, c)| c.registered_tickets.len()).sum::<usize>(),
            made.resold_registered
        );
        assert!(made.resold_registered >= 5, "{}", made.resold_registered);
        assert!(facts.iter().any(|(_, c)| c.licenses.iter().any(|l| l.demo)), "a demo among them");
        assert_eq!(facts.iter().filter(|(_, c)| c.language == Lang::De).count(), 8);
        let mut runner = TestRunner::new(Config { cases: 200, ..Config::default() });
        let counts = std::cell::Cell::new((0, 0, 0));
        runner
            .run(&rules_strategy(), |rule| {
                let mut in_sql = f.store.customers_matching(&rule, now, None, 1000).unwrap();
                in_sql.sort();
                let mut in_core: Vec<Uuid> =
                    facts.iter().filter(|(_, c)| rule.matches(c, now)).map(|(id, _)| *id).collect();
                in_core.sort();
                prop_assert_eq!(&in_sql, &in_core, "rule {}", rule.to_json());
                let (some, none, all) = counts.get();
                counts.set(match in_sql.len() {
                    0 => (some, none + 1, all),
                    n if n == customers.len() => (some, none, all + 1),
                    _ => (some + 1, none, all),
                });
                Ok(())
            })
            .unwrap();
        // The bounds, exactly: a subscription that ends in just `days` days, a license that
        // started just `days` days ago (the generated days seldom hit them).
        let mut bounds = Vec::new();
        for (_, c) in &facts {
            for l in &c.licenses {
                if let Some(end) = l.expires_at.filter(|end| *end > now) {
                    let days = u32::try_from((end - now).num_days()).unwrap();
                    bounds.push(Rule::SubscriptionEndsWithin { days, product: None });
                }
                let days = u32::try_from((now - l.starts_at).num_days()).unwrap();
                bounds.push(Rule::LicenseOlderThan { days, product: None });
            }
        }
        assert!(bounds.len() > 30, "{}", bounds.len());
        for rule in bounds {
            let mut in_sql = f.store.customers_matching(&rule, now, None, 1000).unwrap();
            in_sql.sort();
            let mut in_core: Vec<Uuid> =
                facts.iter().filter(|(_, c)| rule.matches(c, now)).map(|(id, _)| *id).collect();
            in_core.sort();
            assert_eq!(in_sql, in_core, "rule {}", rule.to_json());
        }
        // The generated rules are worth checking: a good share of them split the population.
        // The cases are random; one CI run saw 46 of 200, under the earlier bound of 50.
        let (some, none, all) = counts.get();
        assert!(
            some > 30,
            "too few rules split the population ({some} did, {none} matched no one, {all} everyone)"
        );
    });
}

#[test]
fn a_segment_pages_by_customer_id() {
    Fixture::each(|f| {
        let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
        let customers = population(f, now, 12).customers;
        let rule = parse(Rule::parse(
            &serde_json::json!({"any": [{"language": ["en"]}, {"owns_item": {"sku": "A"}}]}),
        ));
        let whole = f.store.customers_matching(&rule, now, None, 1000).unwrap();
        assert!(whole.len() > 3 && whole.len() < customers.len(), "{}", whole.len());
        let mut paged: Vec<Uuid> = Vec::new();
        let mut after = None;
        loop {
            let page = f.store.customers_matching(&rule, now, after, 3).unwrap();
            paged.extend(page.iter().copied());
            if page.len() < 3 {
                break;
            }
            after = page.last().copied();
        }
        assert_eq!(paged, whole, "pages in id order, nothing twice, nothing left out");
        let unknown = f.store.customer_facts(Uuid::nil()).unwrap_err();
        assert_eq!(unknown.to_string(), keyport_core::CoreError::not_found("customer").to_string());
    });
}
