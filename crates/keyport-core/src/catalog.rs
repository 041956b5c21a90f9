//! The catalog: products, items (what a shop sells) and their license models.

use chrono::{DateTime, Duration, Utc};

use crate::error::CoreError;
use crate::text::{DisplayName, ProductCode, RuleSetName, Sku};

/// The longest subscription or demo term, in days (ten years).
pub const MAX_TERM_DAYS: u32 = 3650;

/// How long a license of an item lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseModel {
    /// Never expires.
    Perpetual,
    /// Expires after this many days; renewals extend it.
    Subscription {
        /// Term in days.
        days: u32,
    },
    /// A short trial that expires after this many days.
    Demo {
        /// Term in days.
        days: u32,
    },
}

impl LicenseModel {
    /// Builds a model from its stored name and term, e.g. (`subscription`, Some(365)).
    pub fn parse(kind: &str, days: Option<u32>) -> Result<LicenseModel, CoreError> {
        let term = |days: Option<u32>| match days {
            Some(d) if (1..=MAX_TERM_DAYS).contains(&d) => Ok(d),
            Some(_) => Err(CoreError::invalid("duration_days", "must be between 1 and 3650")),
            None => Err(CoreError::invalid("duration_days", "is required for this license model")),
        };
        match kind {
            "perpetual" if days.is_none() => Ok(LicenseModel::Perpetual),
            "perpetual" => Err(CoreError::invalid("duration_days", "must be empty for a perpetual license")),
            "subscription" => Ok(LicenseModel::Subscription { days: term(days)? }),
            "demo" => Ok(LicenseModel::Demo { days: term(days)? }),
            _ => Err(CoreError::invalid("license_model", "must be perpetual, subscription or demo")),
        }
    }

    /// The stored name: `perpetual`, `subscription` or `demo`.
    pub fn kind(self) -> &'static str {
        match self {
            LicenseModel::Perpetual => "perpetual",
            LicenseModel::Subscription { .. } => "subscription",
            LicenseModel::Demo { .. } => "demo",
        }
    }

    /// The term in days, if the model has one.
    pub fn days(self) -> Option<u32> {
        match self {
            LicenseModel::Perpetual => None,
            LicenseModel::Subscription { days } | LicenseModel::Demo { days } => Some(days),
        }
    }

    /// When a license that starts at `starts_at` expires, if it does.
    pub fn expires_at(self, starts_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.days().map(|d| starts_at + Duration::days(i64::from(d)))
    }
}

/// The major versions an item entitles, e.g. 5 up to 5, or 5 and later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    min_major: u32,
    max_major: Option<u32>,
}

impl VersionRange {
    /// A range from `min_major` to `max_major` (inclusive; open when `None`).
    pub fn new(min_major: u32, max_major: Option<u32>) -> Result<VersionRange, CoreError> {
        match max_major {
            Some(max) if max < min_major => {
                Err(CoreError::invalid("version_max", "must not be below version_min"))
            }
            _ => Ok(VersionRange { min_major, max_major }),
        }
    }

    /// The lowest entitled major version.
    pub fn min_major(self) -> u32 {
        self.min_major
    }

    /// The highest entitled major version, if bounded.
    pub fn max_major(self) -> Option<u32> {
        self.max_major
    }

    /// Whether a major version is entitled.
    pub fn contains(self, major: u32) -> bool {
        major >= self.min_major && self.max_major.is_none_or(|max| major <= max)
    }
}

/// The features an item unlocks: unique names of lower-case letters, digits, '-' and '_'.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Features(Vec<String>);

impl Features {
    /// Checks every name; sorts them and refuses duplicates.
    pub fn new<I, S>(names: I) -> Result<Features, CoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out: Vec<String> = Vec::new();
        for name in names {
            let name = name.as_ref().trim();
            let ok = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !ok {
                return Err(CoreError::invalid(
                    "features",
                    format!("'{name}' must be 1 to 64 lower-case letters, digits, '-' or '_'"),
                ));
            }
            out.push(name.to_owned());
        }
        out.sort();
        if out.windows(2).any(|w| w[0] == w[1]) {
            return Err(CoreError::invalid("features", "names must be unique"));
        }
        if out.len() > 100 {
            return Err(CoreError::invalid("features", "at most 100 features"));
        }
        Ok(Features(out))
    }

    /// The names, sorted.
    pub fn names(&self) -> &[String] {
        &self.0
    }
}

/// A product to define.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSpec {
    /// Its unique code.
    pub code: ProductCode,
    /// Its display name.
    pub name: DisplayName,
}

/// An item (orderable article) to define.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemSpec {
    /// Its unique article number.
    pub sku: Sku,
    /// The product it licenses.
    pub product: ProductCode,
    /// Its display name.
    pub name: DisplayName,
    /// How long its licenses last.
    pub model: LicenseModel,
    /// What it unlocks.
    pub features: Features,
    /// Which major versions it entitles.
    pub versions: VersionRange,
    /// The rule set its licenses follow.
    pub rule_set: RuleSetName,
    /// Whether customers and the ISV's software may request it themselves: demo items only.
    pub self_service: bool,
    /// The items (by SKU) whose licenses an order line of this item upgrades to it.
    pub upgrade_from: Vec<Sku>,
}

/// The most items one item upgrades.
pub const MAX_UPGRADE_FROM: usize = 32;

/// The items an item upgrades, by SKU: each once, not the item itself, at most
/// [`MAX_UPGRADE_FROM`].
pub fn upgrade_from(item: &Sku, from: &[String]) -> Result<Vec<Sku>, CoreError> {
    if from.len() > MAX_UPGRADE_FROM {
        return Err(CoreError::invalid("upgrade_from", format!("may name at most {MAX_UPGRADE_FROM} items")));
    }
    let mut out: Vec<Sku> = Vec::new();
    for text in from {
        let sku = Sku::parse(text)?;
        if &sku == item {
            return Err(CoreError::invalid("upgrade_from", "must not name the item itself"));
        }
        if !out.contains(&sku) {
            out.push(sku);
        }
    }
    Ok(out)
}

/// Checks an upgrade path: an item upgrades only items of its own product (a license that
/// changed products would carry its usage and downloads with it), and neither it nor they
/// are demos (a demo ends by itself; buying the full item is a new license). `from` holds
/// each upgraded item's SKU, product code and license model.
pub fn check_upgrade_path(
    product: &ProductCode,
    model: LicenseModel,
    from: &[(String, String, LicenseModel)],
) -> Result<(), CoreError> {
    if from.is_empty() {
        return Ok(());
    }
    if let LicenseModel::Demo { .. } = model {
        return Err(CoreError::invalid("upgrade_from", "a demo item upgrades nothing"));
    }
    for (sku, of, their) in from {
        if of != product.as_str() {
            return Err(CoreError::invalid(
                "upgrade_from",
                format!("'{sku}' is an item of another product ({of})"),
            ));
        }
        if let LicenseModel::Demo { .. } = their {
            return Err(CoreError::invalid("upgrade_from", format!("'{sku}' is a demo item")));
        }
    }
    Ok(())
}

/// Only a demo item is offered for self-service.
pub fn check_self_service(model: LicenseModel, self_service: bool) -> Result<bool, CoreError> {
    match model {
        LicenseModel::Demo { .. } => Ok(self_service),
        LicenseModel::Perpetual | LicenseModel::Subscription { .. } if self_service => {
            Err(CoreError::invalid("self_service", "only a demo item can be offered for self-service"))
        }
        LicenseModel::Perpetual | LicenseModel::Subscription { .. } => Ok(false),
    }
}

/// What an item update changes; `None` keeps the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemChanges {
    /// A new display name.
    pub name: Option<crate::DisplayName>,
    /// New features.
    pub features: Option<Features>,
    /// Another rule set, by name.
    pub rule_set: Option<crate::RuleSetName>,
    /// Whether customers and the software may request it themselves (demo items only).
    pub self_service: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upgrade_path_stays_in_its_product_and_away_from_demos() {
        let cad = ProductCode::parse("cad").unwrap();
        let of = |sku: &str, product: &str, model| (sku.to_owned(), product.to_owned(), model);
        let demo = LicenseModel::Demo { days: 30 };
        assert!(
            check_upgrade_path(&cad, LicenseModel::Perpetual, &[of("A", "cad", LicenseModel::Perpetual)])
                .is_ok()
        );
        assert!(check_upgrade_path(&cad, demo, &[]).is_ok(), "a demo upgrading nothing is fine");
        assert!(check_upgrade_path(&cad, demo, &[of("A", "cad", LicenseModel::Perpetual)]).is_err());
        assert!(check_upgrade_path(&cad, LicenseModel::Perpetual, &[of("D", "cad", demo)]).is_err());
        assert!(
            check_upgrade_path(&cad, LicenseModel::Perpetual, &[of("B", "cam", LicenseModel::Perpetual)])
                .is_err()
        );
        let sku = Sku::parse("A").unwrap();
        assert!(upgrade_from(&sku, &["A".to_owned()]).is_err());
        assert_eq!(upgrade_from(&sku, &["B".to_owned(), "B".to_owned()]).unwrap().len(), 1);
    }

    #[test]
    fn a_subscription_needs_a_term() {
        assert!(LicenseModel::parse("subscription", None).is_err());
        assert_eq!(
            LicenseModel::parse("subscription", Some(365)),
            Ok(LicenseModel::Subscription { days: 365 })
        );
    }

    #[test]
    fn a_perpetual_license_never_expires() {
        let start = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(LicenseModel::Perpetual.expires_at(start), None);
        assert_eq!(LicenseModel::Demo { days: 30 }.expires_at(start), Some(start + Duration::days(30)));
    }

    #[test]
    fn an_unknown_model_is_refused() {
        assert!(LicenseModel::parse("forever", None).is_err());
    }

    #[test]
    fn a_version_range_cannot_be_upside_down() {
        assert!(VersionRange::new(5, Some(4)).is_err());
        let range = VersionRange::new(5, Some(5)).ok();
        assert_eq!(range.map(|r| (r.contains(5), r.contains(6), r.contains(4))), Some((true, false, false)));
    }

    #[test]
    fn features_are_sorted_and_unique() {
        assert_eq!(
            Features::new(["export", "3d"]).map(|f| f.0),
            Ok(vec!["3d".to_owned(), "export".to_owned()])
        );
        assert!(Features::new(["export", "export"]).is_err());
        assert!(Features::new(["Export"]).is_err());
    }
}
