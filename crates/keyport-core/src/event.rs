//! Events: the append-only record of every state change: what, when, who, which channel.

use std::fmt;

use crate::error::CoreError;

/// Which way a change came in.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The REST API.
    Rest,
    /// The SOAP API.
    Soap,
    /// The `keyport` command line.
    Cli,
    /// Keyport itself (background jobs).
    System,
    /// The web depot's pages.
    Depot,
}

impl Channel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Rest => "rest",
            Channel::Soap => "soap",
            Channel::Cli => "cli",
            Channel::System => "system",
            Channel::Depot => "depot",
        }
    }

    /// Reads a stored name.
    pub fn parse(value: &str) -> Result<Channel, CoreError> {
        [Channel::Rest, Channel::Soap, Channel::Cli, Channel::System, Channel::Depot]
            .into_iter()
            .find(|c| c.as_str() == value)
            .ok_or_else(|| CoreError::invalid("channel", "must be rest, soap, cli, system or depot"))
    }
}

/// Who made a change, as recorded in the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Keyport itself, or an operator at the command line.
    System,
    /// An API key, by its id.
    ApiKey(uuid::Uuid),
    /// A customer, by id.
    Customer(uuid::Uuid),
    /// A ticket login, by ticket id.
    Ticket(uuid::Uuid),
    /// A portal's API key acting for one of its customers: both identities.
    PortalForCustomer {
        /// The portal's API key.
        api_key: uuid::Uuid,
        /// The customer it acts for.
        customer: uuid::Uuid,
    },
}

impl fmt::Display for Actor {
    /// The stored form: `system`, `api_key:<id>`, `customer:<id>`, `ticket:<id>`,
    /// `api_key:<id>/customer:<id>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::System => f.write_str("system"),
            Actor::ApiKey(id) => write!(f, "api_key:{id}"),
            Actor::Customer(id) => write!(f, "customer:{id}"),
            Actor::Ticket(id) => write!(f, "ticket:{id}"),
            Actor::PortalForCustomer { api_key, customer } => {
                write!(f, "api_key:{api_key}/customer:{customer}")
            }
        }
    }
}

/// What happened.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A product was defined.
    ProductDefined,
    /// A product was renamed.
    ProductUpdated,
    /// A rule set was defined.
    RuleSetDefined,
    /// A rule set's numbers were changed.
    RuleSetUpdated,
    /// An item was defined.
    ItemDefined,
    /// An item's name, features or rule set changed.
    ItemUpdated,
    /// An order was created, with its ticket.
    OrderCreated,
    /// New lines were added to an order.
    OrderExtended,
    /// An order was cancelled (refunded): its licenses were revoked.
    OrderCancelled,
    /// A subscription license was renewed.
    SubscriptionRenewed,
    /// A customer was created.
    CustomerCreated,
    /// A customer's e-mail address, name or number changed.
    CustomerUpdated,
    /// A customer confirmed their e-mail address.
    EmailVerified,
    /// A customer's password was set or changed.
    PasswordChanged,
    /// A ticket was registered to a customer.
    TicketRegistered,
    /// A license was activated on a machine.
    LicenseActivated,
    /// A pending offline activation was confirmed by its receipt.
    ActivationCompleted,
    /// A machine gave its seat back.
    LicenseDeactivated,
    /// A seat moved from a lost machine to a new one.
    LicenseRecovered,
    /// An activation moved to a new machine key on the same hardware (a reinstalled client).
    MachineRebound,
    /// A license was revoked.
    LicenseRevoked,
    /// Support granted re-activation credits.
    CreditsGranted,
    /// An API key was created.
    ApiKeyCreated,
    /// A new certificate signing key became current.
    SigningKeyRotated,
    /// An API key was revoked.
    ApiKeyRevoked,
    /// An emergency license started on a new machine.
    EmergencyStarted,
    /// Support ended an emergency license early.
    EmergencyEnded,
    /// A demo license was given.
    DemoRequested,
    /// A customer who had a demo bought the product.
    DemoConverted,
    /// An admin registered a webhook endpoint.
    WebhookEndpointCreated,
    /// An admin changed a webhook endpoint (address, kinds, description, enabled).
    WebhookEndpointUpdated,
    /// An admin deleted a webhook endpoint.
    WebhookEndpointDeleted,
    /// An admin rotated a webhook endpoint's signing secret.
    WebhookSecretRotated,
    /// Keyport disabled a webhook endpoint that failed for a whole retry window.
    WebhookEndpointDisabled,
    /// A release was created as a draft.
    ReleaseCreated,
    /// A release was published.
    ReleasePublished,
    /// A release was yanked (withdrawn).
    ReleaseYanked,
    /// A draft release was deleted.
    ReleaseDeleted,
    /// A release's staged rollout percentage changed.
    ReleaseRolloutChanged,
    /// An artifact was uploaded to a draft release.
    ArtifactAdded,
    /// An artifact was deleted from a draft release.
    ArtifactDeleted,
    /// An order line upgraded a license to another item.
    LicenseUpgraded,
    /// A cancelled order took its upgrade of a license back.
    UpgradeReverted,
    /// Staff defined an offer.
    OfferDefined,
    /// Staff changed an offer.
    OfferUpdated,
    /// Staff withdrew an offer.
    OfferWithdrawn,
    /// Staff defined a reward for registering tickets.
    RewardDefined,
    /// Staff withdrew a reward.
    RewardWithdrawn,
    /// Staff defined a coupon pool.
    CouponPoolDefined,
    /// Staff uploaded coupon codes to a pool.
    CouponsAdded,
    /// A customer earned a reward by registering a ticket.
    BonusEarned,
    /// A customer's bonus points were redeemed.
    PointsRedeemed,
    /// A customer exchanged bonus points for a coupon.
    CouponExchanged,
    /// A cancelled order took back the rewards its ticket earned.
    BonusReversed,
    /// A customer's marketing consent changed (requested, confirmed, withdrawn).
    MarketingConsentChanged,
    /// Staff defined a newsletter segment.
    SegmentDefined,
    /// Staff changed a segment.
    SegmentUpdated,
    /// Staff deleted a segment.
    SegmentDeleted,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 58] = [
        EventKind::SegmentDefined,
        EventKind::SegmentUpdated,
        EventKind::SegmentDeleted,
        EventKind::MarketingConsentChanged,
        EventKind::BonusReversed,
        EventKind::RewardDefined,
        EventKind::RewardWithdrawn,
        EventKind::CouponPoolDefined,
        EventKind::CouponsAdded,
        EventKind::BonusEarned,
        EventKind::PointsRedeemed,
        EventKind::CouponExchanged,
        EventKind::LicenseUpgraded,
        EventKind::UpgradeReverted,
        EventKind::OfferDefined,
        EventKind::OfferUpdated,
        EventKind::OfferWithdrawn,
        EventKind::ReleaseCreated,
        EventKind::ReleasePublished,
        EventKind::ReleaseYanked,
        EventKind::ReleaseDeleted,
        EventKind::ReleaseRolloutChanged,
        EventKind::ArtifactAdded,
        EventKind::ArtifactDeleted,
        EventKind::WebhookEndpointCreated,
        EventKind::WebhookEndpointUpdated,
        EventKind::WebhookEndpointDeleted,
        EventKind::WebhookSecretRotated,
        EventKind::WebhookEndpointDisabled,
        EventKind::EmergencyStarted,
        EventKind::EmergencyEnded,
        EventKind::DemoRequested,
        EventKind::DemoConverted,
        EventKind::MachineRebound,
        EventKind::ApiKeyRevoked,
        EventKind::EmailVerified,
        EventKind::PasswordChanged,
        EventKind::OrderCancelled,
        EventKind::SubscriptionRenewed,
        EventKind::ActivationCompleted,
        EventKind::SigningKeyRotated,
        EventKind::ProductDefined,
        EventKind::ProductUpdated,
        EventKind::ItemUpdated,
        EventKind::CustomerUpdated,
        EventKind::RuleSetDefined,
        EventKind::RuleSetUpdated,
        EventKind::ItemDefined,
        EventKind::OrderCreated,
        EventKind::OrderExtended,
        EventKind::CustomerCreated,
        EventKind::TicketRegistered,
        EventKind::LicenseActivated,
        EventKind::LicenseDeactivated,
        EventKind::LicenseRecovered,
        EventKind::LicenseRevoked,
        EventKind::CreditsGranted,
        EventKind::ApiKeyCreated,
    ];

    /// The stored snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ProductDefined => "product_defined",
            EventKind::ProductUpdated => "product_updated",
            EventKind::ItemUpdated => "item_updated",
            EventKind::CustomerUpdated => "customer_updated",
            EventKind::EmailVerified => "email_verified",
            EventKind::PasswordChanged => "password_changed",
            EventKind::RuleSetDefined => "rule_set_defined",
            EventKind::RuleSetUpdated => "rule_set_updated",
            EventKind::ItemDefined => "item_defined",
            EventKind::OrderCreated => "order_created",
            EventKind::OrderExtended => "order_extended",
            EventKind::OrderCancelled => "order_cancelled",
            EventKind::SubscriptionRenewed => "subscription_renewed",
            EventKind::CustomerCreated => "customer_created",
            EventKind::TicketRegistered => "ticket_registered",
            EventKind::LicenseActivated => "license_activated",
            EventKind::LicenseDeactivated => "license_deactivated",
            EventKind::LicenseRecovered => "license_recovered",
            EventKind::LicenseRevoked => "license_revoked",
            EventKind::CreditsGranted => "credits_granted",
            EventKind::ApiKeyCreated => "api_key_created",
            EventKind::ActivationCompleted => "activation_completed",
            EventKind::SigningKeyRotated => "signing_key_rotated",
            EventKind::MachineRebound => "machine_rebound",
            EventKind::ApiKeyRevoked => "api_key_revoked",
            EventKind::EmergencyStarted => "emergency_started",
            EventKind::EmergencyEnded => "emergency_ended",
            EventKind::DemoRequested => "demo_requested",
            EventKind::DemoConverted => "demo_converted",
            EventKind::WebhookEndpointCreated => "webhook_endpoint_created",
            EventKind::WebhookEndpointUpdated => "webhook_endpoint_updated",
            EventKind::WebhookEndpointDeleted => "webhook_endpoint_deleted",
            EventKind::WebhookSecretRotated => "webhook_secret_rotated",
            EventKind::WebhookEndpointDisabled => "webhook_endpoint_disabled",
            EventKind::LicenseUpgraded => "license_upgraded",
            EventKind::UpgradeReverted => "upgrade_reverted",
            EventKind::OfferDefined => "offer_defined",
            EventKind::OfferUpdated => "offer_updated",
            EventKind::OfferWithdrawn => "offer_withdrawn",
            EventKind::RewardDefined => "reward_defined",
            EventKind::RewardWithdrawn => "reward_withdrawn",
            EventKind::CouponPoolDefined => "coupon_pool_defined",
            EventKind::CouponsAdded => "coupons_added",
            EventKind::BonusEarned => "bonus_earned",
            EventKind::PointsRedeemed => "points_redeemed",
            EventKind::CouponExchanged => "coupon_exchanged",
            EventKind::BonusReversed => "bonus_reversed",
            EventKind::MarketingConsentChanged => "marketing_consent_changed",
            EventKind::SegmentDefined => "segment_defined",
            EventKind::SegmentUpdated => "segment_updated",
            EventKind::SegmentDeleted => "segment_deleted",
            EventKind::ReleaseCreated => "release_created",
            EventKind::ReleasePublished => "release_published",
            EventKind::ReleaseYanked => "release_yanked",
            EventKind::ReleaseDeleted => "release_deleted",
            EventKind::ReleaseRolloutChanged => "release_rollout_changed",
            EventKind::ArtifactAdded => "artifact_added",
            EventKind::ArtifactDeleted => "artifact_deleted",
        }
    }

    /// Reads a stored name.
    pub fn parse(value: &str) -> Result<EventKind, CoreError> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == value)
            .ok_or_else(|| CoreError::invalid("kind", format!("'{value}' is not an event kind")))
    }
}

/// A role an API key has.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Support actions and reading.
    Support,
    /// A web shop or ERP: orders and customers.
    Shop,
    /// An existing customer portal, acting for its customers.
    Portal,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Support => "support",
            Role::Shop => "shop",
            Role::Portal => "portal",
        }
    }

    /// Reads a role name.
    pub fn parse(value: &str) -> Result<Role, CoreError> {
        [Role::Admin, Role::Support, Role::Shop, Role::Portal]
            .into_iter()
            .find(|r| r.as_str() == value)
            .ok_or_else(|| CoreError::invalid("role", "must be admin, support, shop or portal"))
    }
}

/// Whether an API key works at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyState {
    /// It works.
    Active,
    /// Its expiry has passed.
    Expired,
    /// It was revoked.
    Revoked,
}

impl ApiKeyState {
    /// The state at `now` of a key revoked at `revoked_at` (if) that expires at `expires_at`
    /// (if): a revocation wins over an expiry, and a key expires at its expiry exactly.
    pub fn at(
        revoked_at: Option<chrono::DateTime<chrono::Utc>>,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ApiKeyState {
        match (revoked_at, expires_at) {
            (Some(_), _) => ApiKeyState::Revoked,
            (None, Some(end)) if end <= now => ApiKeyState::Expired,
            (None, Some(_) | None) => ApiKeyState::Active,
        }
    }
}

/// May the API key `target` (of `role`) be revoked by `actor`, when `other_admins` other
/// admin keys work? Never the key the request itself came with, and never the last working
/// admin key: REST would have no admin left (the command line can still revoke both).
pub fn decide_key_revocation(
    target: uuid::Uuid,
    role: Role,
    actor: &Actor,
    other_admins: u64,
) -> Result<(), crate::CoreError> {
    let refused = |reason: &str| {
        Err(crate::CoreError::new(crate::ErrorCode::KeyRevocationRefused).with("reason", reason))
    };
    let own = match actor {
        Actor::ApiKey(id) | Actor::PortalForCustomer { api_key: id, .. } => *id == target,
        Actor::System | Actor::Customer(_) | Actor::Ticket(_) => false,
    };
    if own {
        return refused("it is the key of this request");
    }
    if role == Role::Admin && other_admins == 0 && *actor != Actor::System {
        return refused("it is the last working admin key");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_the_own_key_nor_the_last_admin_key_is_revoked_over_the_api() {
        let (me, other) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        let code = |r: Result<(), crate::CoreError>| r.map_err(|e| e.code());
        let refused = Err(crate::ErrorCode::KeyRevocationRefused);
        assert_eq!(code(decide_key_revocation(me, Role::Shop, &Actor::ApiKey(me), 3)), refused);
        assert_eq!(code(decide_key_revocation(other, Role::Admin, &Actor::ApiKey(me), 0)), refused);
        assert_eq!(decide_key_revocation(other, Role::Admin, &Actor::ApiKey(me), 1), Ok(()));
        assert_eq!(decide_key_revocation(other, Role::Admin, &Actor::System, 0), Ok(()), "the CLI may");
    }

    #[test]
    fn a_key_works_until_its_expiry_and_never_after_a_revocation() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let hour = chrono::Duration::hours(1);
        assert_eq!(ApiKeyState::at(None, None, now), ApiKeyState::Active);
        assert_eq!(ApiKeyState::at(None, Some(now + hour), now), ApiKeyState::Active);
        assert_eq!(ApiKeyState::at(None, Some(now), now), ApiKeyState::Expired);
        assert_eq!(ApiKeyState::at(Some(now - hour), Some(now + hour), now), ApiKeyState::Revoked);
    }

    #[test]
    fn every_event_kind_reads_back_from_its_name() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Ok(kind));
        }
    }

    #[test]
    fn a_portal_acting_for_a_customer_records_both() {
        let actor = Actor::PortalForCustomer { api_key: uuid::Uuid::nil(), customer: uuid::Uuid::max() };
        assert_eq!(
            actor.to_string(),
            "api_key:00000000-0000-0000-0000-000000000000/customer:ffffffff-ffff-ffff-ffff-ffffffffffff"
        );
    }
}
