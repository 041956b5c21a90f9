//! Orders from a shop: lines of item × quantity, each with the shop's line number; and the
//! rules of a cancelled order, which is final.

use chrono::{DateTime, Utc};

use crate::error::{CoreError, ErrorCode};
use crate::text::{CustomerNumber, ExternalOrderNumber, Reason, ShopName, Sku};

/// The most licenses one order line can create.
pub const MAX_QUANTITY: u32 = 1_000;
/// The highest line number (what both databases keep in an integer column).
pub const MAX_LINE_NUMBER: u32 = 2_147_483_647;
/// The most lines one order can have.
pub const MAX_LINES: usize = 500;
/// The shop name demo orders are recorded under; no shop may use it.
pub const DEMO_SHOP: &str = "keyport-demo";

/// Whether a shop name is the one demos are recorded under (in any case): a shop's order
/// under it is refused, and a shop looking one up finds nothing.
pub fn is_demo_shop(shop: &str) -> bool {
    shop.eq_ignore_ascii_case(DEMO_SHOP)
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// The shop's line number, unique within the order.
    pub line_number: u32,
    /// The item ordered.
    pub sku: Sku,
    /// How many licenses.
    pub quantity: u32,
    /// The license this line upgrades to its item (quantity 1), instead of new licenses.
    pub upgrade: Option<uuid::Uuid>,
}

impl OrderLine {
    /// Checks the line number (1 to 2147483647) and quantity (1 to 1000).
    pub fn new(line_number: u32, sku: Sku, quantity: u32) -> Result<OrderLine, CoreError> {
        if line_number == 0 {
            return Err(CoreError::invalid("line_number", "must be 1 or more"));
        }
        if line_number > MAX_LINE_NUMBER {
            return Err(CoreError::invalid("line_number", "is too large"));
        }
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(CoreError::invalid("quantity", "must be between 1 and 1000"));
        }
        Ok(OrderLine { line_number, sku, quantity, upgrade: None })
    }

    /// A line that upgrades `license` to the item `sku`: its quantity must be 1.
    pub fn upgrading(
        line_number: u32,
        sku: Sku,
        quantity: u32,
        license: uuid::Uuid,
    ) -> Result<OrderLine, CoreError> {
        let line = OrderLine::new(line_number, sku, quantity)?;
        if quantity != 1 {
            return Err(CoreError::invalid("quantity", "must be 1 on a line that upgrades a license"));
        }
        Ok(OrderLine { upgrade: Some(license), ..line })
    }
}

/// What an upgrade line needs to know of the license it names and of the item it orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeFacts<'a> {
    /// The license's id.
    pub license_id: uuid::Uuid,
    /// The SKU of the license's item now.
    pub license_sku: &'a str,
    /// Whether the license was revoked.
    pub revoked: bool,
    /// When the license ends, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// The machines holding a seat of the license now.
    pub seats_in_use: u32,
    /// The SKU the line orders.
    pub sku: &'a str,
    /// The SKUs whose licenses that item upgrades.
    pub upgrade_from: &'a [String],
    /// The seats the ordered item's rule set allows.
    pub seats: u32,
}

/// May the line upgrade the license at `now`? Not when it is revoked (`license_revoked`)
/// or has ended (`license_expired`: renew it first), nor when its item is not one the
/// ordered item upgrades (`upgrade_not_allowed`, naming both, and so also when it was
/// upgraded to it already), nor when more machines hold it than the new item allows
/// (`upgrade_seats`: the seat limit holds through an upgrade).
pub fn decide_upgrade(facts: &UpgradeFacts<'_>, now: DateTime<Utc>) -> Result<(), CoreError> {
    if facts.revoked {
        return Err(CoreError::new(ErrorCode::LicenseRevoked).with("license_id", facts.license_id));
    }
    if let Some(end) = facts.expires_at.filter(|end| *end <= now) {
        return Err(CoreError::new(ErrorCode::LicenseExpired).with("date", end.format("%Y-%m-%d")));
    }
    if !facts.upgrade_from.iter().any(|from| from == facts.license_sku) {
        let allowed =
            if facts.upgrade_from.is_empty() { "none".to_owned() } else { facts.upgrade_from.join(", ") };
        return Err(CoreError::new(ErrorCode::UpgradeNotAllowed)
            .with("license_id", facts.license_id)
            .with("license_sku", facts.license_sku)
            .with("sku", facts.sku)
            .with("allowed", allowed));
    }
    if facts.seats_in_use > facts.seats {
        return Err(CoreError::new(ErrorCode::UpgradeSeats)
            .with("license_id", facts.license_id)
            .with("in_use", facts.seats_in_use)
            .with("sku", facts.sku)
            .with("seats", facts.seats));
    }
    Ok(())
}

/// When an upgraded license ends: an item of the same license model keeps the license's
/// end; otherwise the license takes the new item's term from the upgrade (a perpetual one
/// no longer ends; a subscription of N days ends N days after the upgrade).
pub fn upgraded_end(
    from: crate::LicenseModel,
    to: crate::LicenseModel,
    ends_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if from.kind() == to.kind() { ends_at } else { to.expires_at(now) }
}

/// One upgrade line of a license, as stored, in the order they were made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeStep<'a> {
    /// The item the license had before the line.
    pub from_item: &'a str,
    /// The license's end before the line.
    pub from_end: Option<DateTime<Utc>>,
    /// The item the line moved it to.
    pub to_item: &'a str,
    /// Whether the line's order still stands (not cancelled).
    pub live: bool,
}

/// Where a license stands once some of its upgrade lines were cancelled: the item of its
/// last line still standing, or, when none stands, the item it had before the first (with
/// the end it had then). `None`: it stays where it is.
pub fn after_cancellations<'a>(
    steps: &[UpgradeStep<'a>],
    current_item: &str,
) -> Option<(&'a str, Option<Option<DateTime<Utc>>>)> {
    let target = match steps.iter().rev().find(|s| s.live) {
        Some(last) => (last.to_item, None),
        None => {
            let first = steps.first()?;
            (first.from_item, Some(first.from_end))
        }
    };
    (target.0 != current_item).then_some(target)
}

/// The end of a license moved back by a cancellation from a `from` item to a `to` item:
/// within one license model the end it has now (a renewal since stays paid for); back to
/// the item it had before its first upgrade, the end it had then; otherwise the `to`
/// item's term from now.
pub fn reverted_end(
    from: crate::LicenseModel,
    to: crate::LicenseModel,
    ends_at: Option<DateTime<Utc>>,
    original: Option<Option<DateTime<Utc>>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match original {
        _ if from.kind() == to.kind() => ends_at,
        Some(end) => end,
        None => to.expires_at(now),
    }
}

/// Who an order is for, if the shop says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCustomer {
    /// The shop did not name a customer; the buyer registers the ticket later.
    None,
    /// A known customer, by the shop's customer number.
    ByNumber(CustomerNumber),
    /// A known customer, by e-mail address.
    ByEmail(crate::Email),
}

impl OrderCustomer {
    /// Reads a customer named by at most one of an e-mail address and the shop's customer
    /// number (the rule both façades follow for orders and lookups).
    pub fn from_parts(email: Option<&str>, number: Option<&str>) -> Result<OrderCustomer, CoreError> {
        match (email, number) {
            (None, None) => Ok(OrderCustomer::None),
            (Some(email), None) => Ok(OrderCustomer::ByEmail(crate::Email::parse(email)?)),
            (None, Some(number)) => Ok(OrderCustomer::ByNumber(CustomerNumber::parse(number)?)),
            (Some(_), Some(_)) => Err(CoreError::invalid(
                "customer",
                "give either an e-mail address or a customer number, not both",
            )),
        }
    }
}

/// An order as a shop sends it (first time or again with more lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    /// The shop.
    pub shop: ShopName,
    /// The shop's order number; with the shop it identifies the order.
    pub external_number: ExternalOrderNumber,
    /// The customer, if known.
    pub customer: OrderCustomer,
    /// The lines, unique by line number.
    pub lines: Vec<OrderLine>,
}

impl OrderRequest {
    /// Checks that there is at least one line and no line number twice.
    pub fn new(
        shop: ShopName,
        external_number: ExternalOrderNumber,
        customer: OrderCustomer,
        mut lines: Vec<OrderLine>,
    ) -> Result<OrderRequest, CoreError> {
        if lines.is_empty() {
            return Err(CoreError::invalid("lines", "an order needs at least one line"));
        }
        if lines.len() > MAX_LINES {
            return Err(CoreError::invalid("lines", "an order can have at most 500 lines"));
        }
        lines.sort_by_key(|l| l.line_number);
        if let Some(w) = lines.windows(2).find(|w| w[0].line_number == w[1].line_number) {
            return Err(CoreError::invalid(
                "lines",
                format!("line number {} appears twice", w[0].line_number),
            ));
        }
        Ok(OrderRequest { shop, external_number, customer, lines })
    }
}

/// When and why an order was cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    /// When.
    pub at: DateTime<Utc>,
    /// Why, as the shop said.
    pub reason: Reason,
}

/// What a cancellation request comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelDecision {
    /// Cancel now: revoke the order's licenses and record it.
    Cancel,
    /// Cancelled before: the answer is the existing cancellation; nothing changes and
    /// nothing is recorded (the first reason stays).
    AlreadyCancelled,
}

/// A cancelled order is final: cancelling it again changes nothing.
pub fn decide_cancellation(existing: Option<&Cancellation>) -> CancelDecision {
    match existing {
        Some(_) => CancelDecision::AlreadyCancelled,
        None => CancelDecision::Cancel,
    }
}

/// A line an order holds already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLine {
    /// The shop's line number.
    pub line_number: u32,
    /// The item's article number.
    pub sku: String,
    /// How many licenses.
    pub quantity: u32,
    /// The license the line upgraded, if it is an upgrade line.
    pub upgrade: Option<uuid::Uuid>,
}

/// Which lines of `request` the order adds, given the lines it holds: a line number seen
/// with the same item and quantity is a retry (nothing to add), with other content a
/// conflict (`order_line_conflict`); a cancelled order adds none (`order_cancelled`).
pub fn decide_lines<'r>(
    held: &[HeldLine],
    cancellation: Option<&Cancellation>,
    request: &'r OrderRequest,
) -> Result<Vec<&'r OrderLine>, CoreError> {
    let mut new_lines = Vec::new();
    for line in &request.lines {
        match held.iter().find(|h| h.line_number == line.line_number) {
            Some(h)
                if h.sku == line.sku.as_str() && h.quantity == line.quantity && h.upgrade == line.upgrade => {
            }
            Some(_) => {
                return Err(
                    CoreError::new(ErrorCode::OrderLineConflict).with("line_number", line.line_number)
                );
            }
            None => new_lines.push(line),
        }
    }
    decide_extension(cancellation, new_lines.len())?;
    Ok(new_lines)
}

/// May an order take `new_lines` lines it has not seen before? A cancelled order takes
/// none (`order_cancelled`); a retry that adds nothing is still answered with the order.
pub fn decide_extension(cancellation: Option<&Cancellation>, new_lines: usize) -> Result<(), CoreError> {
    match cancellation {
        Some(c) if new_lines > 0 => {
            Err(CoreError::new(ErrorCode::OrderCancelled).with("date", c.at.format("%Y-%m-%d")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_upgrade_needs_a_license_of_an_item_it_upgrades_that_is_not_revoked() {
        use super::{UpgradeFacts, decide_upgrade};
        use chrono::{Duration, TimeZone, Utc};
        let now = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let from = ["CAD-5".to_owned(), "CAD-4".to_owned()];
        let facts = |sku, revoked| UpgradeFacts {
            license_id: uuid::Uuid::nil(),
            license_sku: sku,
            revoked,
            expires_at: None,
            seats_in_use: 2,
            sku: "CAD-PRO",
            upgrade_from: &from,
            seats: 2,
        };
        let decide = |f: &UpgradeFacts<'_>| decide_upgrade(f, now);
        assert!(decide(&facts("CAD-4", false)).is_ok());
        let wrong = decide(&facts("CAD-PRO", false)).unwrap_err();
        assert_eq!(wrong.code(), crate::ErrorCode::UpgradeNotAllowed);
        assert_eq!(wrong.facts().get("allowed").map(String::as_str), Some("CAD-5, CAD-4"));
        assert_eq!(decide(&facts("CAD-5", true)).unwrap_err().code(), crate::ErrorCode::LicenseRevoked);
        let none = UpgradeFacts { upgrade_from: &[], ..facts("CAD-5", false) };
        assert_eq!(decide(&none).unwrap_err().facts().get("allowed").map(String::as_str), Some("none"));
        let ended = UpgradeFacts { expires_at: Some(now), ..facts("CAD-5", false) };
        assert_eq!(decide(&ended).unwrap_err().code(), crate::ErrorCode::LicenseExpired);
        let running = UpgradeFacts { expires_at: Some(now + Duration::days(1)), ..facts("CAD-5", false) };
        assert!(decide(&running).is_ok());
        let crowded = UpgradeFacts { seats_in_use: 3, ..facts("CAD-5", false) };
        assert_eq!(decide(&crowded).unwrap_err().code(), crate::ErrorCode::UpgradeSeats);
        let one = crate::Sku::parse("CAD-PRO").unwrap();
        assert!(super::OrderLine::upgrading(1, one, 2, uuid::Uuid::nil()).is_err());
    }

    #[test]
    fn an_upgraded_license_keeps_its_end_within_a_model_and_takes_the_new_term_across() {
        use crate::LicenseModel::{Perpetual, Subscription};
        use chrono::{Duration, TimeZone, Utc};
        let now = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let end = Some(now + Duration::days(40));
        assert_eq!(super::upgraded_end(Subscription { days: 365 }, Subscription { days: 30 }, end, now), end);
        assert_eq!(super::upgraded_end(Perpetual, Perpetual, None, now), None);
        assert_eq!(super::upgraded_end(Subscription { days: 365 }, Perpetual, end, now), None);
        assert_eq!(
            super::upgraded_end(Perpetual, Subscription { days: 30 }, None, now),
            Some(now + Duration::days(30))
        );
    }

    #[test]
    fn a_cancelled_upgrade_returns_the_license_to_the_last_line_still_standing() {
        use super::{UpgradeStep, after_cancellations};
        let step = |from, to, live| UpgradeStep { from_item: from, from_end: None, to_item: to, live };
        // A -> B -> C: cancelling the first order first changes nothing, the second then
        // takes the license back to A (not to B, which the cancelled first order sold).
        let first_cancelled = [step("A", "B", false), step("B", "C", true)];
        assert_eq!(after_cancellations(&first_cancelled, "C"), None);
        let both = [step("A", "B", false), step("B", "C", false)];
        assert_eq!(after_cancellations(&both, "C"), Some(("A", Some(None))));
        let second = [step("A", "B", true), step("B", "C", false)];
        assert_eq!(after_cancellations(&second, "C"), Some(("B", None)));
        assert_eq!(after_cancellations(&[], "C"), None);
    }

    #[test]
    fn a_reverted_license_keeps_a_renewal_within_a_model() {
        use crate::LicenseModel::{Perpetual, Subscription};
        use chrono::{Duration, TimeZone, Utc};
        let now = Utc.with_ymd_and_hms(2027, 6, 1, 0, 0, 0).unwrap();
        let renewed = Some(now + Duration::days(400));
        let then = Some(now + Duration::days(30));
        let sub = Subscription { days: 365 };
        assert_eq!(super::reverted_end(sub, Subscription { days: 30 }, renewed, Some(then), now), renewed);
        assert_eq!(super::reverted_end(Perpetual, sub, None, Some(then), now), then);
        assert_eq!(super::reverted_end(Perpetual, sub, None, None, now), Some(now + Duration::days(365)));
    }

    #[test]
    fn the_demo_shop_is_known_in_any_case() {
        assert!(is_demo_shop("keyport-demo") && is_demo_shop("Keyport-Demo"));
        assert!(!is_demo_shop("webshop"));
    }

    use super::*;

    mod merge {
        use proptest::prelude::*;

        use super::super::*;

        fn line(n: u32, sku: &str, q: u32) -> OrderLine {
            OrderLine::new(n, Sku::parse(sku).unwrap_or_else(|e| panic!("{e}")), q)
                .unwrap_or_else(|e| panic!("{e}"))
        }

        fn order(lines: Vec<OrderLine>) -> OrderRequest {
            let shop = ShopName::parse("webshop").unwrap_or_else(|e| panic!("{e}"));
            let number = ExternalOrderNumber::parse("A-1").unwrap_or_else(|e| panic!("{e}"));
            OrderRequest::new(shop, number, OrderCustomer::None, lines).unwrap_or_else(|e| panic!("{e}"))
        }

        fn held(lines: &[&OrderLine]) -> Vec<HeldLine> {
            lines
                .iter()
                .map(|l| HeldLine {
                    line_number: l.line_number,
                    sku: l.sku.as_str().to_owned(),
                    quantity: l.quantity,
                    upgrade: l.upgrade,
                })
                .collect()
        }

        proptest! {
            #[test]
            fn sending_an_order_again_adds_nothing_and_new_numbers_only_what_is_new(
                first in proptest::collection::btree_map(1u32..50, (0usize..3, 1u32..5), 1..10),
                later in proptest::collection::btree_map(50u32..99, (0usize..3, 1u32..5), 0..5),
            ) {
                let skus = ["A-1", "B-2", "C-3"];
                let to_lines = |m: &std::collections::BTreeMap<u32, (usize, u32)>| -> Vec<OrderLine> {
                    m.iter().map(|(n, (s, q))| line(*n, skus[*s], *q)).collect()
                };
                let request = order(to_lines(&first));
                let added = decide_lines(&[], None, &request).unwrap_or_default();
                prop_assert_eq!(added.len(), first.len());
                let kept = held(&added);
                prop_assert!(decide_lines(&kept, None, &request).unwrap_or_default().is_empty());
                let mut both = to_lines(&first);
                both.extend(to_lines(&later));
                let extended = order(both);
                let new = decide_lines(&kept, None, &extended).unwrap_or_default();
                prop_assert_eq!(new.iter().map(|l| l.line_number).collect::<Vec<_>>(), later.keys().copied().collect::<Vec<_>>());
            }
        }

        #[test]
        fn a_line_number_sent_again_with_other_content_is_a_conflict() {
            let kept = held(&[&line(1, "A-1", 2)]);
            let request = order(vec![line(1, "A-1", 3)]);
            let conflict = decide_lines(&kept, None, &request).map(|l| l.len()).map_err(|e| e.code());
            assert_eq!(conflict, Err(ErrorCode::OrderLineConflict));
        }
    }

    fn sku() -> Sku {
        Sku::parse("CAD-PRO").unwrap_or_else(|e| panic!("{e}"))
    }

    fn request(lines: Vec<OrderLine>) -> Result<OrderRequest, CoreError> {
        let shop = ShopName::parse("webshop").unwrap_or_else(|e| panic!("{e}"));
        let number = ExternalOrderNumber::parse("A-1").unwrap_or_else(|e| panic!("{e}"));
        OrderRequest::new(shop, number, OrderCustomer::None, lines)
    }

    #[test]
    fn an_order_without_lines_is_refused() {
        assert!(request(vec![]).is_err());
    }

    #[test]
    fn a_line_number_twice_is_refused_by_number() {
        let line = OrderLine::new(1, sku(), 1).unwrap_or_else(|e| panic!("{e}"));
        let err = request(vec![line.clone(), line]).err().map(|e| e.message(crate::Lang::En));
        assert_eq!(err.as_deref(), Some("Invalid value for lines: line number 1 appears twice."));
    }

    #[test]
    fn a_customer_is_named_by_one_of_e_mail_and_number() {
        assert_eq!(OrderCustomer::from_parts(None, None), Ok(OrderCustomer::None));
        assert!(matches!(
            OrderCustomer::from_parts(Some("a@example.com"), None),
            Ok(OrderCustomer::ByEmail(_))
        ));
        assert!(matches!(OrderCustomer::from_parts(None, Some("K-1")), Ok(OrderCustomer::ByNumber(_))));
        assert!(OrderCustomer::from_parts(Some("a@example.com"), Some("K-1")).is_err());
    }

    #[test]
    fn a_cancelled_order_is_final() {
        let cancelled = Cancellation {
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
            reason: Reason::parse("refund").unwrap_or_else(|e| panic!("{e}")),
        };
        assert_eq!(decide_cancellation(None), CancelDecision::Cancel);
        assert_eq!(decide_cancellation(Some(&cancelled)), CancelDecision::AlreadyCancelled);
        let refused = decide_extension(Some(&cancelled), 1).err();
        assert_eq!(refused.as_ref().map(CoreError::code), Some(ErrorCode::OrderCancelled));
        assert_eq!(refused.map(|e| e.facts()["date"].clone()).as_deref(), Some("2027-01-15"));
        assert_eq!(decide_extension(Some(&cancelled), 0), Ok(()), "a retry adding nothing is answered");
        assert_eq!(decide_extension(None, 3), Ok(()));
    }

    #[test]
    fn quantity_zero_is_refused() {
        assert!(OrderLine::new(1, sku(), 0).is_err());
        assert!(OrderLine::new(0, sku(), 1).is_err());
    }
}
