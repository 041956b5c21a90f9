use chrono::Utc;
use keyport_core::{
    ErrorCode, Features, ItemSpec, LicenseModel, ProductCode, ProductSpec, RuleSet, RuleSetName,
    RuleSetParams, Sku, VersionRange,
};
use keyport_store::Scope;
use keyport_store::StoreError;
use keyport_tests::{Fixture, name, parse, rules};

fn code(e: StoreError) -> ErrorCode {
    e.code()
}

#[test]
fn defining_a_product_twice_is_refused_with_already_exists() {
    Fixture::each(|f| {
        let spec = ProductSpec { code: parse(ProductCode::parse("cad-pro")), name: name("CAD Pro") };
        f.store.define_product(&f.ctx(), &spec).unwrap();
        let err = f.store.define_product(&f.ctx(), &spec).unwrap_err();
        assert_eq!(code(err), ErrorCode::AlreadyExists);
        assert_eq!(f.store.list_products(&keyport_store::Paging::first(500)).unwrap().items.len(), 1);
    });
}

#[test]
fn an_item_of_an_unknown_product_is_refused_and_nothing_is_written() {
    Fixture::each(|f| {
        let rule_set = RuleSet::new(rules()).unwrap();
        f.store.define_rule_set(&f.ctx(), &rule_set).unwrap();
        let spec = ItemSpec {
            sku: parse(Sku::parse("X-1")),
            product: parse(ProductCode::parse("missing")),
            name: name("X"),
            model: LicenseModel::Perpetual,
            features: Features::default(),
            versions: parse(VersionRange::new(1, None)),
            rule_set: parse(RuleSetName::parse("standard")),
            self_service: false,
            upgrade_from: Vec::new(),
        };
        let err = f.store.define_item(&f.ctx(), &spec).unwrap_err();
        assert_eq!(
            err.as_domain().map(|e| e.message(keyport_core::Lang::En)).as_deref(),
            Some("No product was found.")
        );
        assert!(f.store.list_items(&keyport_store::Paging::first(500)).unwrap().items.is_empty());
    });
}

#[test]
fn an_item_reads_back_with_its_product_rule_set_model_and_features() {
    Fixture::each(|f| {
        let sku = f.item(LicenseModel::Subscription { days: 365 }, rules());
        let item = f.store.get_item(&sku).unwrap();
        assert_eq!(item.license_model, "subscription");
        assert_eq!(item.duration_days, Some(365));
        assert_eq!(item.features, vec!["export".to_owned(), "render".to_owned()]);
        assert_eq!((item.version_min, item.version_max), (5, Some(5)));
        assert!(item.rule_set.starts_with("rules-"));
        assert!(item.product_code.starts_with("cad-"));
    });
}

#[test]
fn updating_a_rule_set_gives_existing_licenses_the_new_seats() {
    Fixture::each(|f| {
        let license = f.license_at(Utc::now(), rules());
        let view = f.store.get_license(Scope::Staff, license, Utc::now()).unwrap();
        assert_eq!(view.seats, 3);
        let item = f.store.get_item(&view.sku).unwrap();
        let more = RuleSet::new(RuleSetParams { name: item.rule_set.clone(), seats: 5, ..rules() }).unwrap();
        let updated = f.store.update_rule_set(&f.ctx(), &more).unwrap();
        assert_eq!(updated.seats, 5);
        assert_eq!(f.store.get_rule_set(&item.rule_set).unwrap().seats, 5);
        assert_eq!(f.store.get_license(Scope::Staff, license, Utc::now()).unwrap().seats, 5);
    });
}

#[test]
fn updating_an_unknown_rule_set_is_not_found() {
    Fixture::each(|f| {
        let err = f.store.update_rule_set(&f.ctx(), &RuleSet::new(rules()).unwrap()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotFound);
    });
}
