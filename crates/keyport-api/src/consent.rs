//! Marketing consent: a customer's state and its history, and the confirmation token.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a customer's marketing consent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConsentStateView {
    /// Never asked for.
    None,
    /// Asked for; the confirmation link was mailed and not used yet.
    Pending,
    /// Confirmed: the customer receives marketing mail and is in newsletter exports.
    Subscribed,
    /// Withdrawn.
    Unsubscribed,
}

impl From<keyport_core::consent::ConsentState> for ConsentStateView {
    fn from(state: keyport_core::consent::ConsentState) -> ConsentStateView {
        use keyport_core::consent::ConsentState as S;
        match state {
            S::None => ConsentStateView::None,
            S::Pending => ConsentStateView::Pending,
            S::Subscribed => ConsentStateView::Subscribed,
            S::Unsubscribed => ConsentStateView::Unsubscribed,
        }
    }
}

/// One change of a customer's marketing consent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentEntryView {
    /// The state it led to.
    pub state: ConsentStateView,
    /// How: `double_opt_in_requested`, `double_opt_in_confirmed`, `withdrawn_in_account`,
    /// `one_click_unsubscribe` or `staff`.
    pub method: String,
    /// The e-mail address the consent is for, as it was then.
    pub email: String,
    /// The network address the step came from, where known.
    pub source_address: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A customer's marketing consent with its history (newest first, at most 100).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarketingConsentView {
    /// Where it stands.
    pub state: ConsentStateView,
    /// When it last changed.
    pub changed_at: Option<DateTime<Utc>>,
    /// Every change, newest first (at most 100).
    pub history: Vec<ConsentEntryView>,
}

/// The token from a confirmation mail's link.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsentConfirmation {
    /// The `token` parameter of the link.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub token: String,
}

/// Where a customer's consent stands (the answer to a confirmation link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentStateAnswer {
    /// The state.
    pub state: ConsentStateView,
}

/// The query of an unsubscribe link. Parameters a mail system adds (tracking) are ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct UnsubscribeQuery {
    /// The customer's unsubscribe token.
    pub token: String,
}
