//! Rule sets: how a license may move between machines.

use crate::error::CoreError;
use crate::text::RuleSetName;

/// The most seats a license can have.
pub const MAX_SEATS: u32 = 10_000;
/// The most re-activation credits a rule set can give or hold.
pub const MAX_CREDITS: u32 = 1_000;
/// The longest period a rule set can name, in days.
pub const MAX_PERIOD_DAYS: u32 = 3650;

/// The raw numbers of a rule set, as a façade receives them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleSetParams {
    /// The rule set's unique name.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub name: String,
    /// Machines a license may be active on at once.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10000))]
    pub seats: u32,
    /// Whether a machine may give its seat back.
    pub deactivation_allowed: bool,
    /// Whether offline activation is allowed.
    pub offline_allowed: bool,
    /// Re-activation credits a new license starts with.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1000))]
    pub initial_credits: u32,
    /// Days after any activation during which no recovery is possible.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 3650))]
    pub blocking_days: u32,
    /// Credits added every `replenish_every_days` (K).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1000))]
    pub replenish_credits: u32,
    /// The replenishment period in days (P); 0 means no replenishment.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 3650))]
    pub replenish_every_days: u32,
    /// Replenishment never lifts the balance above this.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1000))]
    pub credit_cap: u32,
    /// Length of an emergency license, in days.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 365))]
    pub emergency_days: u32,
    /// Emergency licenses allowed per year.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 365))]
    pub emergency_per_year: u32,
    /// Days between check-ins the software must make, if any.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub checkin_interval_days: Option<u32>,
    /// Days of grace after a missed check-in.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 3650))]
    pub checkin_grace_days: u32,
}

/// A valid rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    name: RuleSetName,
    params: RuleSetParams,
}

impl RuleSet {
    /// Checks every number and keeps them.
    pub fn new(params: RuleSetParams) -> Result<RuleSet, CoreError> {
        let name = RuleSetName::parse(&params.name)?;
        let within = |field: &'static str, value: u32, min: u32, max: u32| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(CoreError::invalid(field, format!("must be between {min} and {max}")))
            }
        };
        within("seats", params.seats, 1, MAX_SEATS)?;
        within("initial_credits", params.initial_credits, 0, MAX_CREDITS)?;
        within("credit_cap", params.credit_cap, 0, MAX_CREDITS)?;
        within("replenish_credits", params.replenish_credits, 0, MAX_CREDITS)?;
        within("blocking_days", params.blocking_days, 0, MAX_PERIOD_DAYS)?;
        within("replenish_every_days", params.replenish_every_days, 0, MAX_PERIOD_DAYS)?;
        within("emergency_days", params.emergency_days, 0, 365)?;
        within("emergency_per_year", params.emergency_per_year, 0, 365)?;
        within("checkin_grace_days", params.checkin_grace_days, 0, MAX_PERIOD_DAYS)?;
        if let Some(days) = params.checkin_interval_days {
            within("checkin_interval_days", days, 1, MAX_PERIOD_DAYS)?;
        }
        if params.credit_cap < params.initial_credits {
            return Err(CoreError::invalid("credit_cap", "must not be below initial_credits"));
        }
        if (params.replenish_credits == 0) != (params.replenish_every_days == 0) {
            return Err(CoreError::invalid(
                "replenish_every_days",
                "replenish_credits and replenish_every_days must both be 0 or both be set",
            ));
        }
        let params = RuleSetParams { name: name.as_str().to_owned(), ..params };
        Ok(RuleSet { name, params })
    }

    /// The name.
    pub fn name(&self) -> &RuleSetName {
        &self.name
    }

    /// The numbers.
    pub fn params(&self) -> &RuleSetParams {
        &self.params
    }

    /// Machines a license may be active on at once.
    pub fn seats(&self) -> u32 {
        self.params.seats
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A rule set a test can change field by field.
    pub(crate) fn standard() -> RuleSetParams {
        RuleSetParams {
            name: "standard".to_owned(),
            seats: 2,
            deactivation_allowed: true,
            offline_allowed: true,
            initial_credits: 1,
            blocking_days: 7,
            replenish_credits: 1,
            replenish_every_days: 90,
            credit_cap: 3,
            emergency_days: 14,
            emergency_per_year: 1,
            checkin_interval_days: Some(30),
            checkin_grace_days: 7,
        }
    }

    #[test]
    fn a_rule_set_without_seats_is_refused() {
        let err = RuleSet::new(RuleSetParams { seats: 0, ..standard() }).err();
        assert_eq!(err.map(|e| e.facts().get("field").cloned()), Some(Some("seats".to_owned())));
    }

    #[test]
    fn a_cap_below_the_start_balance_is_refused() {
        assert!(RuleSet::new(RuleSetParams { initial_credits: 4, credit_cap: 3, ..standard() }).is_err());
    }

    #[test]
    fn replenishment_needs_both_amount_and_period() {
        assert!(RuleSet::new(RuleSetParams { replenish_every_days: 0, ..standard() }).is_err());
        assert!(
            RuleSet::new(RuleSetParams { replenish_every_days: 0, replenish_credits: 0, ..standard() })
                .is_ok()
        );
    }
}
