//! Targeting rules: which customers an offer or a newsletter segment is for, by what they
//! own and who they are. A rule is stored as JSON, checked when it is saved (the error names
//! the bad part), evaluated here for one customer ([`Rule::matches`] on [`CustomerFacts`])
//! and by the store in SQL for many; both follow the definitions on [`Rule`]'s variants.
//!
//! The JSON form is one key per rule:
//!
//! ```json
//! {"all": [
//!   {"owns_product": {"product": "cad-pro", "versions": {"from": 4, "to": 5}}},
//!   {"not": {"owns_item": {"sku": "CAD-PRO-6"}}},
//!   {"any": [{"language": ["de"]}, {"registered_ticket": {"shop": "reseller-nord"}}]}
//! ]}
//! ```

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use crate::error::{CoreError, Lang};
use crate::text::{ProductCode, ShopName, Sku};

/// The most levels of a rule, the innermost rule included (so at most 7 levels of `all`,
/// `any` and `not` around it).
pub const MAX_DEPTH: usize = 8;
/// The most rules (nodes) in one targeting rule.
pub const MAX_RULES: usize = 64;
/// The largest number of days a rule may name (100 years).
pub const MAX_DAYS: u32 = 36_500;

/// Major versions from `from` to `to` (both included; an open end is unbounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Majors {
    /// The lowest major version, if bounded.
    pub from: Option<u32>,
    /// The highest major version, if bounded.
    pub to: Option<u32>,
}

impl Majors {
    /// Whether an item for major versions `min..=max` (`max` open when `None`) shares a
    /// version with this range.
    pub fn overlaps(&self, min: u32, max: Option<u32>) -> bool {
        self.to.is_none_or(|to| min <= to) && self.from.is_none_or(|from| max.is_none_or(|max| max >= from))
    }
}

/// A targeting rule. "Owned" licenses are those on the customer's tickets that are neither
/// revoked nor expired (`expires_at` later than now, or none) nor demos. Build one with
/// [`Rule::parse`], or check one built in code with [`Rule::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Every rule holds (an empty list holds for everyone).
    All(Vec<Rule>),
    /// At least one rule holds (an empty list holds for no one).
    Any(Vec<Rule>),
    /// The rule does not hold.
    Not(Box<Rule>),
    /// Owns a license of an item of the product (whose major versions overlap `versions`,
    /// when given).
    OwnsProduct {
        /// The product.
        product: ProductCode,
        /// Only items for these major versions.
        versions: Option<Majors>,
    },
    /// Owns a license of the item.
    OwnsItem {
        /// The item.
        sku: Sku,
    },
    /// Has a license (not revoked, not a demo) that expires after now and at most `days`
    /// days from now (of the product, when given).
    SubscriptionEndsWithin {
        /// Days from now.
        days: u32,
        /// Only licenses of this product.
        product: Option<ProductCode>,
    },
    /// Owns a license that started at least `days` days ago (of the product, when given).
    LicenseOlderThan {
        /// Days before now.
        days: u32,
        /// Only licenses of this product.
        product: Option<ProductCode>,
    },
    /// Holds a ticket that was sold to no one named (its order named no customer, as a
    /// reseller's does) and was registered to the account later; sold by `shop` when given
    /// (e.g. a reseller's shop name). Demo tickets and cancelled orders do not count.
    RegisteredTicket {
        /// The shop that sold the ticket.
        shop: Option<ShopName>,
    },
    /// The account's language is one of these.
    Language(Vec<Lang>),
}

/// A license of a customer, as a rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLicense {
    /// The product's code.
    pub product: String,
    /// The item's SKU.
    pub sku: String,
    /// The item's lowest major version.
    pub version_min: u32,
    /// The item's highest major version, if bounded.
    pub version_max: Option<u32>,
    /// When it started.
    pub starts_at: DateTime<Utc>,
    /// When it expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether it was revoked.
    pub revoked: bool,
    /// Whether it is a demo (its item's license model is `demo`).
    pub demo: bool,
}

impl HeldLicense {
    fn counts(&self) -> bool {
        !self.revoked && !self.demo
    }

    fn owned(&self, now: DateTime<Utc>) -> bool {
        self.counts() && self.expires_at.is_none_or(|end| end > now)
    }

    fn of(&self, product: Option<&ProductCode>) -> bool {
        product.is_none_or(|p| p.as_str() == self.product)
    }
}

/// What a rule may ask about one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerFacts {
    /// The account's language.
    pub language: Lang,
    /// The licenses on the customer's tickets, revoked and expired ones too.
    pub licenses: Vec<HeldLicense>,
    /// The shop of each order that named no customer, is not cancelled and is no demo, and
    /// whose ticket is now the customer's (registered later).
    pub registered_tickets: Vec<String>,
}

impl Rule {
    /// The products and items the rule names (each once), for a check against the catalog
    /// when it is saved: a misspelt product in a `not` would otherwise target everyone.
    pub fn names(&self) -> (Vec<ProductCode>, Vec<Sku>) {
        fn walk(rule: &Rule, products: &mut Vec<ProductCode>, items: &mut Vec<Sku>) {
            let mut product = |p: &ProductCode| {
                if !products.contains(p) {
                    products.push(p.clone());
                }
            };
            match rule {
                Rule::All(rules) | Rule::Any(rules) => rules.iter().for_each(|r| walk(r, products, items)),
                Rule::Not(rule) => walk(rule, products, items),
                Rule::OwnsProduct { product: p, .. } => product(p),
                Rule::SubscriptionEndsWithin { product: p, .. }
                | Rule::LicenseOlderThan { product: p, .. } => {
                    if let Some(p) = p {
                        product(p);
                    }
                }
                Rule::OwnsItem { sku } => {
                    if !items.contains(sku) {
                        items.push(sku.clone());
                    }
                }
                Rule::RegisteredTicket { .. } | Rule::Language(_) => {}
            }
        }
        let (mut products, mut items) = (Vec::new(), Vec::new());
        walk(self, &mut products, &mut items);
        (products, items)
    }

    /// Whether the rule holds for the customer at `now`.
    pub fn matches(&self, facts: &CustomerFacts, now: DateTime<Utc>) -> bool {
        let owned = || facts.licenses.iter().filter(move |l| l.owned(now));
        match self {
            Rule::All(rules) => rules.iter().all(|r| r.matches(facts, now)),
            Rule::Any(rules) => rules.iter().any(|r| r.matches(facts, now)),
            Rule::Not(rule) => !rule.matches(facts, now),
            Rule::OwnsProduct { product, versions } => owned().any(|l| {
                l.product == product.as_str()
                    && versions.is_none_or(|v| v.overlaps(l.version_min, l.version_max))
            }),
            Rule::OwnsItem { sku } => owned().any(|l| l.sku == sku.as_str()),
            Rule::SubscriptionEndsWithin { days, product } => {
                let until = now + span(*days);
                facts.licenses.iter().any(|l| {
                    l.counts()
                        && l.of(product.as_ref())
                        && l.expires_at.is_some_and(|end| end > now && end <= until)
                })
            }
            Rule::LicenseOlderThan { days, product } => {
                let since = now - span(*days);
                owned().any(|l| l.of(product.as_ref()) && l.starts_at <= since)
            }
            Rule::RegisteredTicket { shop } => facts
                .registered_tickets
                .iter()
                .any(|sold_by| shop.as_ref().is_none_or(|s| sold_by == s.as_str())),
            Rule::Language(languages) => languages.contains(&facts.language),
        }
    }

    /// Reads a rule from its JSON form, checking every part; the error names the part
    /// (e.g. `rule.all[1].owns_product.product`) and what is wrong with it.
    pub fn parse(value: &Value) -> Result<Rule, CoreError> {
        let mut count = 0;
        parse_at(value, "rule", 1, &mut count)
    }

    /// Checks a rule built in code against what [`Rule::parse`] accepts (limits, days,
    /// version ranges, languages): the same answer as parsing its JSON form.
    pub fn check(&self) -> Result<(), CoreError> {
        Rule::parse(&self.to_json()).map(|_| ())
    }

    /// The JSON form (what [`Rule::parse`] reads).
    pub fn to_json(&self) -> Value {
        match self {
            Rule::All(rules) => json!({"all": rules.iter().map(Rule::to_json).collect::<Vec<_>>()}),
            Rule::Any(rules) => json!({"any": rules.iter().map(Rule::to_json).collect::<Vec<_>>()}),
            Rule::Not(rule) => json!({"not": rule.to_json()}),
            Rule::OwnsProduct { product, versions } => {
                let mut body = json!({"product": product.as_str()});
                if let Some(v) = versions {
                    body["versions"] = json!({"from": v.from, "to": v.to});
                }
                json!({"owns_product": body})
            }
            Rule::OwnsItem { sku } => json!({"owns_item": {"sku": sku.as_str()}}),
            Rule::SubscriptionEndsWithin { days, product } => {
                json!({"subscription_ends_within": {"days": days, "product": product.as_ref().map(ProductCode::as_str)}})
            }
            Rule::LicenseOlderThan { days, product } => {
                json!({"license_older_than": {"days": days, "product": product.as_ref().map(ProductCode::as_str)}})
            }
            Rule::RegisteredTicket { shop } => {
                json!({"registered_ticket": {"shop": shop.as_ref().map(ShopName::as_str)}})
            }
            Rule::Language(languages) => {
                json!({"language": languages.iter().map(|l| l.code()).collect::<Vec<_>>()})
            }
        }
    }
}

/// `days` as a duration, at most [`MAX_DAYS`] (a rule built in code may name more; SQL and
/// core read it the same way).
pub fn span(days: u32) -> Duration {
    Duration::days(i64::from(days.min(MAX_DAYS)))
}

/// A name from the input, shortened for an error message.
fn shown(name: &str) -> String {
    let mut short: String = name.chars().take(64).collect();
    if short.len() < name.len() {
        short.push('…');
    }
    short
}

fn bad(path: &str, reason: impl std::fmt::Display) -> CoreError {
    CoreError::invalid("rule", format!("{path}: {reason}"))
}

/// The one key of a rule object and its value.
fn single<'a>(value: &'a Value, path: &str) -> Result<(&'a str, &'a Value), CoreError> {
    let object =
        value.as_object().ok_or_else(|| bad(path, "must be an object with one key, the rule's kind"))?;
    let mut entries = object.iter();
    match (entries.next(), entries.next()) {
        (Some((key, inner)), None) => Ok((key.as_str(), inner)),
        _ => Err(bad(path, "must be an object with one key, the rule's kind")),
    }
}

/// The fields of a rule's body, refusing unknown ones.
fn fields<'a>(value: &'a Value, path: &str, known: &[&str]) -> Result<&'a Map<String, Value>, CoreError> {
    let object = value.as_object().ok_or_else(|| bad(path, "must be an object"))?;
    if let Some(unknown) = object.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(bad(path, format!("unknown field '{}'; known: {}", shown(unknown), known.join(", "))));
    }
    Ok(object)
}

fn text<'a>(object: &'a Map<String, Value>, path: &str, name: &str) -> Result<Option<&'a str>, CoreError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(&format!("{path}.{name}"), "must be a string")),
    }
}

fn typed<T>(
    object: &Map<String, Value>,
    path: &str,
    name: &str,
    parse: fn(&str) -> Result<T, CoreError>,
) -> Result<Option<T>, CoreError> {
    let at = format!("{path}.{name}");
    text(object, path, name)?
        .map(|s| parse(s).map_err(|e| bad(&at, e.facts().get("reason").cloned().unwrap_or_default())))
        .transpose()
}

fn number(object: &Map<String, Value>, path: &str, name: &str, max: u32) -> Result<Option<u32>, CoreError> {
    let at = format!("{path}.{name}");
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|n| *n <= max) {
            Some(n) => Ok(Some(n)),
            None => Err(bad(&at, format!("must be a whole number from 0 to {max}"))),
        },
    }
}

fn days(object: &Map<String, Value>, path: &str) -> Result<u32, CoreError> {
    number(object, path, "days", MAX_DAYS)?.ok_or_else(|| bad(&format!("{path}.days"), "is required"))
}

fn parse_at(value: &Value, path: &str, depth: usize, count: &mut usize) -> Result<Rule, CoreError> {
    *count += 1;
    if *count > MAX_RULES {
        return Err(bad(path, format!("a rule may hold at most {MAX_RULES} rules")));
    }
    if depth > MAX_DEPTH {
        return Err(bad(path, format!("rules may nest at most {MAX_DEPTH} deep")));
    }
    let (kind, body) = single(value, path)?;
    let at = format!("{path}.{}", shown(kind));
    let list = |body: &Value, count: &mut usize| -> Result<Vec<Rule>, CoreError> {
        let items = body.as_array().ok_or_else(|| bad(&at, "must be a list of rules"))?;
        items.iter().enumerate().map(|(i, r)| parse_at(r, &format!("{at}[{i}]"), depth + 1, count)).collect()
    };
    Ok(match kind {
        "all" => Rule::All(list(body, count)?),
        "any" => Rule::Any(list(body, count)?),
        "not" => Rule::Not(Box::new(parse_at(body, &at, depth + 1, count)?)),
        "owns_product" => {
            let o = fields(body, &at, &["product", "versions"])?;
            let product = typed(o, &at, "product", ProductCode::parse)?
                .ok_or_else(|| bad(&format!("{at}.product"), "is required"))?;
            let versions = match o.get("versions") {
                None | Some(Value::Null) => None,
                Some(v) => {
                    let vat = format!("{at}.versions");
                    let r = fields(v, &vat, &["from", "to"])?;
                    let majors = Majors {
                        from: number(r, &vat, "from", u32::MAX)?,
                        to: number(r, &vat, "to", u32::MAX)?,
                    };
                    match (majors.from, majors.to) {
                        (None, None) => return Err(bad(&vat, "needs 'from', 'to' or both")),
                        (Some(from), Some(to)) if from > to => {
                            return Err(bad(&vat, format!("'from' ({from}) is after 'to' ({to})")));
                        }
                        _ => Some(majors),
                    }
                }
            };
            Rule::OwnsProduct { product, versions }
        }
        "owns_item" => {
            let o = fields(body, &at, &["sku"])?;
            let sku =
                typed(o, &at, "sku", Sku::parse)?.ok_or_else(|| bad(&format!("{at}.sku"), "is required"))?;
            Rule::OwnsItem { sku }
        }
        "subscription_ends_within" => {
            let o = fields(body, &at, &["days", "product"])?;
            Rule::SubscriptionEndsWithin {
                days: days(o, &at)?,
                product: typed(o, &at, "product", ProductCode::parse)?,
            }
        }
        "license_older_than" => {
            let o = fields(body, &at, &["days", "product"])?;
            Rule::LicenseOlderThan {
                days: days(o, &at)?,
                product: typed(o, &at, "product", ProductCode::parse)?,
            }
        }
        "registered_ticket" => {
            let o = fields(body, &at, &["shop"])?;
            Rule::RegisteredTicket { shop: typed(o, &at, "shop", ShopName::parse)? }
        }
        "language" => {
            let items = body
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| bad(&at, "must be a non-empty list of language codes (en, de)"))?;
            let mut languages = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let lang = match item.as_str() {
                    Some("en") => Lang::En,
                    Some("de") => Lang::De,
                    _ => return Err(bad(&format!("{at}[{i}]"), "must be 'en' or 'de'")),
                };
                if !languages.contains(&lang) {
                    languages.push(lang);
                }
            }
            Rule::Language(languages)
        }
        other => {
            return Err(bad(
                path,
                format!(
                    "unknown rule '{}'; one of all, any, not, owns_product, owns_item, \
                     subscription_ends_within, license_older_than, registered_ticket, language",
                    shown(other)
                ),
            ));
        }
    })
}

#[cfg(test)]
#[path = "targeting_tests.rs"]
mod tests;
