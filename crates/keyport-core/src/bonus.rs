//! The bonus program: rewards staff define for registering tickets (points, a coupon from a
//! pool the ISV uploads, or an entitlement such as access to exclusive content), which
//! registration earns which reward, and what a redemption leaves of a balance. Pure: the
//! store loads the rewards and the ticket's facts, asks, and writes the ledger.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{CoreError, ErrorCode};
use crate::offer::MAX_YEARS_AHEAD;
use crate::text::{ProductCode, ShopName, check_text};

/// The most rewards that can be live (not withdrawn, not ended) at once: bounds what one
/// registration evaluates.
pub const MAX_LIVE_REWARDS: i64 = 100;
/// The most points one reward grants or one redemption takes.
pub const MAX_POINTS: u32 = 1_000_000;
/// The most characters of a reward's or a pool's name.
pub const MAX_NAME: usize = 120;
/// The most characters of an entitlement or a redemption reference.
pub const MAX_TOKEN: usize = 64;
/// The most coupon codes one upload adds.
pub const MAX_UPLOAD: usize = 2_000;
/// The most coupon codes one pool holds.
pub const MAX_POOL: i64 = 1_000_000;
/// The most coupon pools.
pub const MAX_POOLS: i64 = 100;

/// What a reward grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Points on the customer's bonus balance.
    Points(u32),
    /// One coupon code from a pool (owed until the pool has one).
    Coupon(Uuid),
    /// An entitlement, e.g. access to exclusive content: readable by the portal and carried
    /// in the claims of the customer's certificates.
    Entitlement(String),
}

impl Grant {
    /// The stable name of its kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Grant::Points(_) => "points",
            Grant::Coupon(_) => "coupon",
            Grant::Entitlement(_) => "entitlement",
        }
    }
}

/// A name staff give a reward or a coupon pool: trimmed, 1 to [`MAX_NAME`] characters, no
/// control characters.
pub fn parse_name(field: &'static str, text: &str) -> Result<String, CoreError> {
    check_text(field, text)?;
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_NAME {
        return Err(CoreError::invalid(field, format!("must be 1 to {MAX_NAME} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(CoreError::invalid(field, "must not contain control characters"));
    }
    Ok(text.to_owned())
}

/// A machine-readable token: an entitlement (`exclusive-content`) or a redemption reference
/// (a shop's order number): letters, digits, `.`, `-` and `_`, 1 to [`MAX_TOKEN`] characters.
pub fn parse_token(field: &'static str, text: &str) -> Result<String, CoreError> {
    check_text(field, text)?;
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_TOKEN {
        return Err(CoreError::invalid(field, format!("must be 1 to {MAX_TOKEN} characters")));
    }
    if !text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
        return Err(CoreError::invalid(field, "may hold only letters, digits, '.', '-' and '_'"));
    }
    Ok(text.to_owned())
}

/// A number of points: 1 to [`MAX_POINTS`].
pub fn parse_points(field: &'static str, points: i64) -> Result<u32, CoreError> {
    u32::try_from(points)
        .ok()
        .filter(|p| (1..=MAX_POINTS).contains(p))
        .ok_or_else(|| CoreError::invalid(field, format!("must be between 1 and {MAX_POINTS}")))
}

/// A reward as staff define it: what registering which tickets earns, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardDraft {
    /// What staff call it (customers see it in their ledger).
    pub name: String,
    /// Only tickets sold by this shop (e.g. a reseller's), if given.
    pub shop: Option<ShopName>,
    /// Only tickets holding a license of this product, if given.
    pub product: Option<ProductCode>,
    /// What it grants.
    pub grant: Grant,
    /// Until when registrations earn it, if it ends.
    pub ends_at: Option<DateTime<Utc>>,
}

impl RewardDraft {
    /// Checks the draft at `now`: an end lies ahead, at most [`MAX_YEARS_AHEAD`] years.
    pub fn check(self, now: DateTime<Utc>) -> Result<RewardDraft, CoreError> {
        if let Some(end) = self.ends_at {
            if end <= now {
                return Err(CoreError::invalid("ends_at", "must lie ahead: withdraw a reward to end it now"));
            }
            if end > now + chrono::Duration::days(366 * MAX_YEARS_AHEAD) {
                return Err(CoreError::invalid(
                    "ends_at",
                    format!("must lie within {MAX_YEARS_AHEAD} years from now"),
                ));
            }
        }
        Ok(self)
    }
}

/// What decides whether a registration earns a reward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardTerms {
    /// The reward.
    pub id: Uuid,
    /// Only tickets sold by this shop, if given.
    pub shop: Option<String>,
    /// Only tickets holding a license of this product (its code), if given.
    pub product: Option<String>,
    /// Until when registrations earn it, if it ends.
    pub ends_at: Option<DateTime<Utc>>,
    /// When staff withdrew it.
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl RewardTerms {
    /// Whether registrations earn it at `now`.
    pub fn live(&self, now: DateTime<Utc>) -> bool {
        self.withdrawn_at.is_none() && self.ends_at.is_none_or(|end| now < end)
    }
}

/// What a registration decision needs to know about the ticket a customer registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredTicket {
    /// The shop whose order made it.
    pub shop: String,
    /// Whether the order named a customer (such a ticket is registered at sale: nothing is
    /// earned by it).
    pub sold_to_named_customer: bool,
    /// Whether the order was cancelled.
    pub cancelled: bool,
    /// Whether it is a demo's ticket.
    pub demo: bool,
    /// The codes of the products its licenses are of.
    pub products: Vec<String>,
}

/// The rewards a customer earns at `now` by registering `ticket`: the live ones whose shop
/// and product match; none for a demo's ticket, a cancelled order's, or one sold to a named
/// customer. (That a ticket earns a reward once, whoever registers it how often, is the
/// ledger's unique key.)
pub fn earned<'a>(
    ticket: &RegisteredTicket,
    rewards: &'a [RewardTerms],
    now: DateTime<Utc>,
) -> Vec<&'a RewardTerms> {
    if ticket.demo || ticket.cancelled || ticket.sold_to_named_customer {
        return Vec::new();
    }
    rewards
        .iter()
        .filter(|r| r.live(now))
        .filter(|r| r.shop.as_ref().is_none_or(|s| *s == ticket.shop))
        .filter(|r| r.product.as_ref().is_none_or(|p| ticket.products.contains(p)))
        .collect()
}

/// The balance after redeeming `points` from `balance`: refused (`insufficient_points`,
/// with both numbers) where it would go below zero.
pub fn redeem(balance: i64, points: u32) -> Result<i64, CoreError> {
    let after = balance - i64::from(points);
    if after < 0 {
        return Err(CoreError::new(ErrorCode::InsufficientPoints)
            .with("points", points)
            .with("balance", balance.max(0)));
    }
    Ok(after)
}

/// The points a cancelled order takes back of a reward that granted `earned`: all of them,
/// but never more than the balance (points spent meanwhile stay spent).
pub fn taken_back(earned: u32, balance: i64) -> u32 {
    u32::try_from(balance.clamp(0, i64::from(earned))).unwrap_or(0)
}

/// A redemption asked for again with its reference: the same points answer the first
/// redemption again; other points are refused (`redemption_conflict`).
pub fn repeat_redemption(reference: &str, before: u32, now_asked: u32) -> Result<(), CoreError> {
    if before == now_asked {
        return Ok(());
    }
    Err(CoreError::new(ErrorCode::RedemptionConflict).with("reference", reference).with("points", before))
}

/// The refusal of a reward or an exchange from a pool without coupons.
pub fn pool_empty(pool: &str) -> CoreError {
    CoreError::new(ErrorCode::CouponPoolEmpty).with("pool", pool)
}

/// The refusal of a reward beyond [`MAX_LIVE_REWARDS`].
pub fn too_many_rewards() -> CoreError {
    CoreError::new(ErrorCode::TooManyRewards).with("limit", MAX_LIVE_REWARDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(day: u32) -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(2026, 1, day)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .map_or_else(|| DateTime::<Utc>::MIN_UTC, |t| t.and_utc())
    }

    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

    fn terms(shop: Option<&str>, product: Option<&str>) -> RewardTerms {
        RewardTerms {
            id: Uuid::from_u128(u128::from(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))),
            shop: shop.map(str::to_owned),
            product: product.map(str::to_owned),
            ends_at: Some(at(20)),
            withdrawn_at: None,
        }
    }

    fn ticket() -> RegisteredTicket {
        RegisteredTicket {
            shop: "reseller-nord".into(),
            sold_to_named_customer: false,
            cancelled: false,
            demo: false,
            products: vec!["cad-pro".into()],
        }
    }

    #[test]
    fn a_registration_earns_the_live_rewards_whose_shop_and_product_match() {
        let rewards = [
            terms(None, None),
            terms(Some("reseller-nord"), None),
            terms(Some("webshop"), None),
            terms(None, Some("cad-pro")),
            terms(None, Some("cam-lite")),
            RewardTerms { withdrawn_at: Some(at(2)), ..terms(None, None) },
        ];
        let got: Vec<Uuid> = earned(&ticket(), &rewards, at(10)).iter().map(|r| r.id).collect();
        assert_eq!(got, vec![rewards[0].id, rewards[1].id, rewards[3].id]);
        assert!(earned(&ticket(), &rewards, at(20)).is_empty(), "ended at its end");
    }

    #[test]
    fn demos_cancelled_orders_and_tickets_sold_to_a_named_customer_earn_nothing() {
        let rewards = [terms(None, None)];
        for t in [
            RegisteredTicket { demo: true, ..ticket() },
            RegisteredTicket { cancelled: true, ..ticket() },
            RegisteredTicket { sold_to_named_customer: true, ..ticket() },
        ] {
            assert!(earned(&t, &rewards, at(10)).is_empty(), "{t:?}");
        }
    }

    #[test]
    fn a_redemption_beyond_the_balance_is_refused_with_both_numbers() {
        assert_eq!(redeem(100, 40).ok(), Some(60));
        assert_eq!(redeem(40, 40).ok(), Some(0));
        let refused = redeem(30, 40).err().map(|e| (e.code(), e.facts().get("balance").cloned()));
        assert_eq!(refused, Some((ErrorCode::InsufficientPoints, Some("30".to_owned()))));
    }

    #[test]
    fn a_cancelled_order_takes_back_what_is_left_of_its_points() {
        assert_eq!(taken_back(150, 400), 150);
        assert_eq!(taken_back(150, 60), 60, "90 were spent: they stay spent");
        assert_eq!(taken_back(150, 0), 0);
        assert_eq!(taken_back(150, -5), 0);
    }

    #[test]
    fn a_reference_repeated_with_other_points_is_a_conflict() {
        assert!(repeat_redemption("A-1", 40, 40).is_ok());
        let code = repeat_redemption("A-1", 40, 50).err().map(|e| e.code());
        assert_eq!(code, Some(ErrorCode::RedemptionConflict));
    }

    #[test]
    fn tokens_names_and_points_are_bounded() {
        assert_eq!(
            parse_token("entitlement", " exclusive-content ").ok().as_deref(),
            Some("exclusive-content")
        );
        assert!(parse_token("entitlement", "a b").is_err());
        assert!(parse_token("entitlement", &"a".repeat(65)).is_err());
        assert!(parse_token("entitlement", "a\0").is_err());
        assert!(parse_name("name", "  ").is_err());
        assert!(parse_name("name", "Registrierungsbonus").is_ok());
        assert!(parse_points("points", 0).is_err());
        assert!(parse_points("points", i64::from(MAX_POINTS) + 1).is_err());
        assert_eq!(parse_points("points", 250).ok(), Some(250));
    }

    #[test]
    fn an_end_must_lie_ahead() {
        let draft = RewardDraft {
            name: "Bonus".into(),
            shop: None,
            product: None,
            grant: Grant::Points(10),
            ends_at: Some(at(5)),
        };
        assert!(draft.clone().check(at(6)).is_err());
        assert!(draft.check(at(4)).is_ok());
    }

    proptest! {
        /// Whatever the order of earnings and redemption attempts, the balance never goes
        /// below zero, and a refused redemption leaves it as it was.
        #[test]
        fn a_balance_never_goes_below_zero(steps in proptest::collection::vec((any::<bool>(), 1u32..500), 0..60)) {
            let mut balance = 0i64;
            for (earn, points) in steps {
                if earn {
                    balance += i64::from(points);
                } else {
                    match redeem(balance, points) {
                        Ok(after) => {
                            prop_assert_eq!(after, balance - i64::from(points));
                            balance = after;
                        }
                        Err(e) => prop_assert_eq!(e.code(), ErrorCode::InsufficientPoints),
                    }
                }
                prop_assert!(balance >= 0);
            }
        }

        /// Taking points back never takes more than granted and never leaves a negative balance.
        #[test]
        fn taking_back_keeps_the_balance_at_or_above_zero(earned in 1u32..=MAX_POINTS, balance in 0i64..3_000_000) {
            let taken = taken_back(earned, balance);
            prop_assert!(taken <= earned);
            prop_assert!(balance - i64::from(taken) >= 0);
            prop_assert!(taken == earned || balance - i64::from(taken) == 0);
        }

        /// Earning is monotone in the rewards: every earned reward is live and matches.
        #[test]
        fn earned_rewards_are_live_and_match(shops in proptest::collection::vec(proptest::option::of(0u8..3), 0..10), day in 1u32..28) {
            let rewards: Vec<RewardTerms> = shops.iter().map(|s| terms(s.map(|n| ["reseller-nord", "webshop", "other"][usize::from(n)]), None)).collect();
            for r in earned(&ticket(), &rewards, at(day)) {
                prop_assert!(r.live(at(day)));
                prop_assert!(r.shop.as_deref().is_none_or(|s| s == "reseller-nord"));
            }
            let expected = rewards.iter().filter(|r| r.live(at(day)) && r.shop.as_deref().is_none_or(|s| s == "reseller-nord")).count();
            prop_assert_eq!(earned(&ticket(), &rewards, at(day)).len(), expected);
        }
    }
}
