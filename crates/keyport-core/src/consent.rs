//! Marketing consent, separate from the account: asked for by double opt-in (a request,
//! then the link in a confirmation mail), withdrawn in the account or with the one-click
//! unsubscribe link of any marketing mail (RFC 8058). What each step changes is decided
//! here; the store keeps the state on the customer and every change in a history.

use crate::error::{CoreError, ErrorCode};

/// Where a customer's marketing consent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsentState {
    /// Never asked for.
    None,
    /// Asked for; the confirmation link was mailed and not used yet.
    Pending,
    /// Confirmed by the link: the customer receives marketing mail.
    Subscribed,
    /// Withdrawn: never in a newsletter export again until asked for and confirmed anew.
    Unsubscribed,
}

impl ConsentState {
    /// Every state.
    pub const ALL: [ConsentState; 4] =
        [ConsentState::None, ConsentState::Pending, ConsentState::Subscribed, ConsentState::Unsubscribed];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentState::None => "none",
            ConsentState::Pending => "pending",
            ConsentState::Subscribed => "subscribed",
            ConsentState::Unsubscribed => "unsubscribed",
        }
    }

    /// The state of a stored name.
    pub fn parse(name: &str) -> Result<ConsentState, CoreError> {
        ConsentState::ALL.into_iter().find(|s| s.as_str() == name).ok_or_else(|| {
            CoreError::invalid("marketing_consent", format!("'{name}' is not a consent state"))
        })
    }
}

/// A step a customer (or support) takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsentStep {
    /// Ask for marketing mail (a confirmation mail follows).
    Request,
    /// Use the confirmation link.
    Confirm,
    /// Withdraw (in the account, by support, or with the one-click link).
    Unsubscribe,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentChange {
    /// The state becomes this; a history entry records it.
    To(ConsentState),
    /// Mail the confirmation link again (still pending: no history entry).
    Resend,
    /// Nothing changes (the step was taken before).
    Unchanged,
}

impl ConsentChange {
    /// Whether a confirmation mail goes out.
    pub fn mails_confirmation(self) -> bool {
        matches!(self, ConsentChange::To(ConsentState::Pending) | ConsentChange::Resend)
    }
}

/// What `step` does from `state`. A confirmation link works only while the request is
/// pending: after an unsubscription an old link never subscribes again (`invalid_token`).
pub fn decide(state: ConsentState, step: ConsentStep) -> Result<ConsentChange, CoreError> {
    use ConsentState as S;
    use ConsentStep as Step;
    Ok(match (state, step) {
        (S::None | S::Unsubscribed, Step::Request) => ConsentChange::To(S::Pending),
        (S::Pending, Step::Request) => ConsentChange::Resend,
        (S::Subscribed, Step::Request) => ConsentChange::Unchanged,
        (S::Pending, Step::Confirm) => ConsentChange::To(S::Subscribed),
        (S::Subscribed, Step::Confirm) => ConsentChange::Unchanged,
        (S::None | S::Unsubscribed, Step::Confirm) => return Err(CoreError::new(ErrorCode::InvalidToken)),
        (S::Pending | S::Subscribed, Step::Unsubscribe) => ConsentChange::To(S::Unsubscribed),
        (S::None | S::Unsubscribed, Step::Unsubscribe) => ConsentChange::Unchanged,
    })
}

/// The state after the account's e-mail address changed: a consent (given or asked for)
/// was for the old address, so it ends (`None`: the new address was never asked); `None`
/// when nothing changes.
pub fn after_address_change(state: ConsentState) -> Option<ConsentState> {
    match state {
        ConsentState::Pending | ConsentState::Subscribed => Some(ConsentState::None),
        ConsentState::None | ConsentState::Unsubscribed => None,
    }
}

/// How a change came about, as the history records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsentMethod {
    /// The customer asked in the portal (or a portal for them).
    Requested,
    /// The customer used the confirmation link.
    Confirmed,
    /// The customer withdrew in the portal.
    Withdrawn,
    /// The one-click unsubscribe link of a marketing mail.
    OneClick,
    /// Staff recorded it (e.g. a written withdrawal).
    Staff,
    /// The account's e-mail address changed: the new one never consented.
    AddressChanged,
}

impl ConsentMethod {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentMethod::Requested => "double_opt_in_requested",
            ConsentMethod::Confirmed => "double_opt_in_confirmed",
            ConsentMethod::Withdrawn => "withdrawn_in_account",
            ConsentMethod::OneClick => "one_click_unsubscribe",
            ConsentMethod::Staff => "staff",
            ConsentMethod::AddressChanged => "email_changed",
        }
    }
}

/// The token of a customer's one-click unsubscribe link: the customer's id and an
/// HMAC-SHA256 over it with the server's secret, so the link works without a login and
/// without a stored token, for as long as the secret stands, and names no one else.
pub fn unsubscribe_token(secret: &[u8], customer: uuid::Uuid) -> String {
    use base64::Engine;
    let tag = unsubscribe_tag(secret, customer);
    format!("{}.{}", customer.simple(), base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag))
}

/// The customer an unsubscribe token names, if its tag is the server's (`invalid_token`
/// otherwise, in constant time).
pub fn unsubscribe_customer(secret: &[u8], token: &str) -> Result<uuid::Uuid, CoreError> {
    use base64::Engine;
    let invalid = || CoreError::new(ErrorCode::InvalidToken);
    let (id, tag) = token.trim().split_once('.').ok_or_else(invalid)?;
    if id.len() != 32 || tag.len() > 64 {
        return Err(invalid());
    }
    let customer = uuid::Uuid::try_parse(id).map_err(|_| invalid())?;
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).map_err(|_| invalid())?;
    mac.update(b"keyport-unsubscribe:");
    mac.update(customer.as_bytes());
    mac.verify_slice(&tag).map_err(|_| invalid())?;
    Ok(customer)
}

fn unsubscribe_tag(secret: &[u8], customer: uuid::Uuid) -> Vec<u8> {
    use hmac::Mac;
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else { return Vec::new() };
    mac.update(b"keyport-unsubscribe:");
    mac.update(customer.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn double_opt_in_subscribes_only_by_the_link() {
        let mut state = ConsentState::None;
        for (step, expected) in [
            (ConsentStep::Request, ConsentState::Pending),
            (ConsentStep::Confirm, ConsentState::Subscribed),
            (ConsentStep::Unsubscribe, ConsentState::Unsubscribed),
        ] {
            match decide(state, step) {
                Ok(ConsentChange::To(to)) => state = to,
                other => panic!("{step:?} from {state:?}: {other:?}"),
            }
            assert_eq!(state, expected);
        }
    }

    #[test]
    fn an_old_confirmation_link_never_subscribes_after_a_withdrawal() {
        let refused = decide(ConsentState::Unsubscribed, ConsentStep::Confirm).err().map(|e| e.code());
        assert_eq!(refused, Some(ErrorCode::InvalidToken));
    }

    #[test]
    fn steps_taken_again_change_nothing() {
        assert_eq!(
            decide(ConsentState::Subscribed, ConsentStep::Confirm).ok(),
            Some(ConsentChange::Unchanged)
        );
        assert_eq!(
            decide(ConsentState::Subscribed, ConsentStep::Request).ok(),
            Some(ConsentChange::Unchanged)
        );
        assert_eq!(
            decide(ConsentState::Unsubscribed, ConsentStep::Unsubscribe).ok(),
            Some(ConsentChange::Unchanged)
        );
        assert_eq!(decide(ConsentState::Pending, ConsentStep::Request).ok(), Some(ConsentChange::Resend));
    }

    #[test]
    fn an_unsubscribe_token_names_its_customer_and_nothing_forged_passes() {
        let (secret, customer) = (b"0123456789abcdef0123456789abcdef", uuid::Uuid::from_u128(7));
        let token = unsubscribe_token(secret, customer);
        assert_eq!(unsubscribe_customer(secret, &token).ok(), Some(customer));
        assert!(unsubscribe_customer(b"another secret of the same size!", &token).is_err());
        let other = uuid::Uuid::from_u128(8).simple().to_string();
        let forged = format!("{other}{}", &token[32..]);
        assert!(unsubscribe_customer(secret, &forged).is_err(), "a tag is for one customer");
        for bad in ["", ".", "x.y", "\0", &"a".repeat(500)] {
            assert!(unsubscribe_customer(secret, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_new_address_was_never_asked() {
        assert_eq!(after_address_change(ConsentState::Subscribed), Some(ConsentState::None));
        assert_eq!(after_address_change(ConsentState::Pending), Some(ConsentState::None));
        assert_eq!(after_address_change(ConsentState::Unsubscribed), None);
        assert_eq!(after_address_change(ConsentState::None), None);
    }

    #[test]
    fn states_round_trip_their_names() {
        for s in ConsentState::ALL {
            assert_eq!(ConsentState::parse(s.as_str()).ok(), Some(s));
        }
        assert!(ConsentState::parse("yes").is_err());
    }

    fn step() -> impl Strategy<Value = ConsentStep> {
        prop_oneof![Just(ConsentStep::Request), Just(ConsentStep::Confirm), Just(ConsentStep::Unsubscribe)]
    }

    proptest! {
        /// Whatever happened before, only a confirmation subscribes, only from pending; an
        /// unsubscription always ends in unsubscribed (or leaves a never-asked state alone).
        #[test]
        fn only_a_pending_confirmation_subscribes(steps in proptest::collection::vec(step(), 0..40)) {
            let mut state = ConsentState::None;
            for s in steps {
                let before = state;
                if let Ok(ConsentChange::To(to)) = decide(state, s) {
                    state = to;
                }
                if state == ConsentState::Subscribed && before != ConsentState::Subscribed {
                    prop_assert_eq!((before, s), (ConsentState::Pending, ConsentStep::Confirm));
                }
                if s == ConsentStep::Unsubscribe {
                    prop_assert!(matches!(state, ConsentState::Unsubscribed | ConsentState::None));
                }
            }
        }
    }
}
