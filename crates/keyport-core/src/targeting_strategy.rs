//! Generated targeting rules for property tests (feature `proptest`): over the product
//! codes, SKUs and shop names given, with day counts below the bounds given.

use proptest::prelude::*;

use crate::error::Lang;
use crate::targeting::{Majors, Rule};
use crate::text::{ProductCode, ShopName, Sku};

/// What the generated rules name.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// Product codes (valid ones).
    pub products: Vec<&'static str>,
    /// SKUs (valid ones).
    pub skus: Vec<&'static str>,
    /// Shop names (valid ones).
    pub shops: Vec<&'static str>,
    /// Days of `subscription_ends_within` are below this.
    pub ends_within_days: u32,
    /// Days of `license_older_than` are below this.
    pub older_than_days: u32,
}

fn named<T: std::fmt::Debug>(
    values: Vec<&'static str>,
    parse: fn(&str) -> Result<T, crate::CoreError>,
) -> impl Strategy<Value = T> + Clone {
    prop::sample::select(values).prop_map(move |v| match parse(v) {
        Ok(value) => value,
        Err(e) => panic!("the vocabulary holds an invalid name '{v}': {e}"),
    })
}

/// One rule that is not `all`, `any` or `not`.
pub fn leaf(v: &Vocabulary) -> impl Strategy<Value = Rule> + use<> {
    let product = named(v.products.clone(), ProductCode::parse);
    prop_oneof![
        (product.clone(), prop::option::of((prop::option::of(0u32..5), prop::option::of(0u32..5)))).prop_map(
            |(product, v)| Rule::OwnsProduct {
                product,
                versions: v.and_then(|(from, to)| match (from, to) {
                    (None, None) => None,
                    (Some(a), Some(b)) => Some(Majors { from: Some(a.min(b)), to: Some(a.max(b)) }),
                    (from, to) => Some(Majors { from, to }),
                }),
            }
        ),
        named(v.skus.clone(), Sku::parse).prop_map(|sku| Rule::OwnsItem { sku }),
        (0..v.ends_within_days, prop::option::of(product.clone()))
            .prop_map(|(days, product)| Rule::SubscriptionEndsWithin { days, product }),
        (0..v.older_than_days, prop::option::of(product))
            .prop_map(|(days, product)| Rule::LicenseOlderThan { days, product }),
        prop::option::of(named(v.shops.clone(), ShopName::parse))
            .prop_map(|shop| Rule::RegisteredTicket { shop }),
        prop::sample::subsequence(vec![Lang::En, Lang::De], 1..=2).prop_map(Rule::Language),
    ]
}

/// Rules nested up to three deep, with up to three rules per `all` and `any`.
pub fn rules(v: &Vocabulary) -> impl Strategy<Value = Rule> + use<> {
    leaf(v).prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Rule::All),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Rule::Any),
            inner.prop_map(|r| Rule::Not(Box::new(r))),
        ]
    })
}
