//! The bonus program: coupon pools and rewards staff define, a customer's bonus account and
//! ledger, redemptions and coupon exchanges.

use chrono::{DateTime, Utc};
use keyport_core::bonus::{Grant, RewardDraft, parse_name, parse_points, parse_token};
use keyport_core::offer::parse_coupon;
use keyport_core::{CoreError, ProductCode, ShopName};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A coupon pool to define: codes for a discounted add-on, uploaded by the ISV.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CouponPoolRequest {
    /// What staff and customers call it, e.g. "20 % off CAM Lite" (unique).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub name: String,
    /// The points a customer exchanges for one of its coupons (default: no exchange; only
    /// rewards hand them out).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000))]
    pub points_price: Option<i64>,
}

impl CouponPoolRequest {
    /// The checked name and price.
    pub fn parse(&self) -> Result<(String, Option<u32>), CoreError> {
        Ok((
            parse_name("name", &self.name)?,
            self.points_price.map(|p| parse_points("points_price", p)).transpose()?,
        ))
    }
}

/// A coupon pool with its counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CouponPoolView {
    /// The pool's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The points one coupon costs in an exchange, if customers may exchange.
    pub points_price: Option<i64>,
    /// Codes not handed out yet.
    pub available: i64,
    /// Codes handed out.
    pub handed_out: i64,
    /// Coupons rewards owe customers because the pool was empty: the next uploaded codes go
    /// to them first, oldest first.
    pub owed: i64,
    /// When it was defined.
    pub created_at: DateTime<Utc>,
}

/// Coupon codes to add to a pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CouponUpload {
    /// The codes: letters, digits, `-` and `_`, 1 to 64 characters each, at most 2,000 per
    /// upload; codes the pool has already are skipped.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 2000))]
    pub codes: Vec<String>,
}

impl CouponUpload {
    /// The checked codes, each once (the first bad one is named by its position).
    pub fn parse(&self) -> Result<Vec<String>, CoreError> {
        if self.codes.is_empty() || self.codes.len() > keyport_core::bonus::MAX_UPLOAD {
            return Err(CoreError::invalid(
                "codes",
                format!("must hold 1 to {} codes", keyport_core::bonus::MAX_UPLOAD),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        let mut codes = Vec::with_capacity(self.codes.len());
        for (i, code) in self.codes.iter().enumerate() {
            let code = parse_coupon(code).map_err(|_| {
                CoreError::invalid(
                    "codes",
                    format!("code number {} must be 1 to 64 letters, digits, '-' and '_'", i + 1),
                )
            })?;
            if seen.insert(code.clone()) {
                codes.push(code);
            }
        }
        Ok(codes)
    }
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CouponUploadView {
    /// Codes added.
    pub added: i64,
    /// Codes the pool had already (skipped).
    pub already_present: i64,
    /// Added codes handed out at once to customers whom a reward owed one.
    pub handed_to_owed: i64,
    /// The pool after the upload.
    pub pool: CouponPoolView,
}

/// A reward to define: what registering a ticket earns. Exactly one of `points`,
/// `coupon_pool_id` and `entitlement`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RewardRequest {
    /// What staff call it; customers see it in their ledger.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub name: String,
    /// Only tickets sold by this shop (e.g. a reseller's shop name).
    pub shop: Option<String>,
    /// Only tickets holding a license of this product (its code).
    pub product: Option<String>,
    /// Points on the customer's bonus balance.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000))]
    pub points: Option<i64>,
    /// One coupon from this pool (owed until the pool has one).
    pub coupon_pool_id: Option<Uuid>,
    /// An entitlement, e.g. `exclusive-content`: letters, digits, `.`, `-`, `_`. The portal
    /// reads it from the bonus account; certificates carry it in their `entitlements` claim.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$"))]
    pub entitlement: Option<String>,
    /// Until when registrations earn it (default: until withdrawn; at most 10 years ahead).
    pub ends_at: Option<DateTime<Utc>>,
}

impl RewardRequest {
    /// Checks every field on its own (the use case checks the end against the clock and
    /// that the product and pool exist).
    pub fn parse(&self) -> Result<RewardDraft, CoreError> {
        let grant = match (self.points, self.coupon_pool_id, self.entitlement.as_deref()) {
            (Some(points), None, None) => Grant::Points(parse_points("points", points)?),
            (None, Some(pool), None) => Grant::Coupon(pool),
            (None, None, Some(name)) => Grant::Entitlement(parse_token("entitlement", name)?),
            _ => {
                return Err(CoreError::invalid(
                    "points",
                    "give exactly one of points, coupon_pool_id and entitlement",
                ));
            }
        };
        Ok(RewardDraft {
            name: parse_name("name", &self.name)?,
            shop: self.shop.as_deref().map(ShopName::parse).transpose()?,
            product: self.product.as_deref().map(ProductCode::parse).transpose()?,
            grant,
            ends_at: self.ends_at,
        })
    }
}

/// Where a reward is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RewardState {
    /// Registrations earn it.
    Live,
    /// Its end has passed.
    Ended,
    /// Staff withdrew it.
    Withdrawn,
}

/// A reward with how often it was earned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RewardView {
    /// The reward's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Only tickets sold by this shop, if given.
    pub shop: Option<String>,
    /// Only tickets holding a license of this product, if given.
    pub product: Option<String>,
    /// `points`, `coupon` or `entitlement`.
    pub grant: String,
    /// The points it grants.
    pub points: Option<i64>,
    /// The pool whose coupon it grants.
    pub coupon_pool_id: Option<Uuid>,
    /// The entitlement it grants.
    pub entitlement: Option<String>,
    /// Until when registrations earn it.
    pub ends_at: Option<DateTime<Utc>>,
    /// When staff withdrew it.
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Live, ended or withdrawn.
    pub state: RewardState,
    /// How many registered tickets earned it.
    pub earned: i64,
    /// When it was defined.
    pub created_at: DateTime<Utc>,
}

/// A page of rewards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RewardPage {
    /// The rewards, oldest first.
    pub items: Vec<RewardView>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// What a ledger entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BonusEntryKind {
    /// A reward earned by registering a ticket.
    Reward,
    /// Points redeemed (e.g. as a discount at a shop's checkout).
    Redemption,
    /// Points exchanged for a coupon.
    Exchange,
    /// Points of a reward taken back because the order of its ticket was cancelled (never
    /// more than the balance).
    Reversal,
}

/// One entry of a customer's bonus ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BonusEntryView {
    /// The entry's id.
    pub id: Uuid,
    /// Reward, redemption or exchange.
    pub kind: BonusEntryKind,
    /// Points earned (positive) or spent (negative); 0 for a coupon or entitlement reward.
    pub points: i64,
    /// The reward earned, with its name.
    pub reward_id: Option<Uuid>,
    /// The reward's name.
    pub reward_name: Option<String>,
    /// The ticket whose registration earned it.
    pub ticket_code: Option<String>,
    /// The coupon pool of a coupon reward or exchange.
    pub coupon_pool: Option<String>,
    /// The coupon code handed out; absent while a reward's coupon is owed (the pool was
    /// empty: it is handed out when the ISV uploads more codes).
    pub coupon_code: Option<String>,
    /// The entitlement granted.
    pub entitlement: Option<String>,
    /// The shop that redeemed.
    pub shop: Option<String>,
    /// The redemption's reference (e.g. the shop's order number).
    pub reference: Option<String>,
    /// When a cancelled order took this reward back (its entitlement and any owed coupon
    /// are gone; its points by a `reversal` entry).
    pub reversed_at: Option<DateTime<Utc>>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// A page of a customer's ledger, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BonusLedgerPage {
    /// The entries, newest first.
    pub items: Vec<BonusEntryView>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// A coupon a customer holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldCoupon {
    /// The code to type at the shop's checkout.
    pub code: String,
    /// The pool it came from.
    pub pool: String,
    /// When it was handed out.
    pub handed_out_at: DateTime<Utc>,
}

/// A customer's bonus account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BonusAccountView {
    /// Points earned minus points spent; never below zero.
    pub balance: i64,
    /// The entitlements earned, each once, sorted.
    pub entitlements: Vec<String>,
    /// The coupons handed out, newest first (at most 100).
    pub coupons: Vec<HeldCoupon>,
    /// Coupons rewards owe (the pool was empty), by pool name.
    pub owed_coupons: Vec<String>,
    /// The pools whose coupons can be had for points (`POST /me/bonus/exchanges`).
    pub exchangeable: Vec<ExchangeablePool>,
}

/// A pool whose coupons customers exchange for points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExchangeablePool {
    /// The pool's id, for the exchange.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The points one coupon costs.
    pub points_price: i64,
    /// Whether it has a coupon left now.
    pub available: bool,
}

/// Points to redeem, e.g. as a discount at a shop's checkout.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RedemptionRequest {
    /// The shop that redeems (as on its orders, e.g. `webshop`).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub shop: String,
    /// The points to take, 1 to 1,000,000; never more than the balance.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000))]
    pub points: i64,
    /// The shop's reference, e.g. its order number: letters, digits, `.`, `-`, `_`. The same
    /// shop sending the same reference again gets the first redemption and nothing more is
    /// taken.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$"))]
    pub reference: String,
}

impl RedemptionRequest {
    /// The checked shop, points and reference.
    pub fn parse(&self) -> Result<(ShopName, u32, String), CoreError> {
        Ok((
            ShopName::parse(&self.shop)?,
            parse_points("points", self.points)?,
            parse_token("reference", &self.reference)?,
        ))
    }
}

/// A coupon to take from a pool, paid with points.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CouponExchangeRequest {
    /// The pool (one with a points price).
    pub coupon_pool_id: Uuid,
}
