//! Emergency licenses: when a machine is lost and a recovery is blocked (the blocking period
//! runs, or no re-activation credit is left), the customer may run the license on a new
//! machine for the rule set's `emergency_days`, at most `emergency_per_year` times in any
//! 365 days. It spends no credit and takes no seat; it ends by itself. A recovery to the
//! same machine, once possible, makes it a normal activation.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::error::{CoreError, ErrorCode};
use crate::license::{self, ActivationRecord, LicenseHistory, day};
use crate::rules::RuleSet;

/// The window the yearly allowance counts in.
pub const ALLOWANCE_WINDOW_DAYS: i64 = 365;

/// What an emergency license request comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmergencyDecision {
    /// When the emergency license ends (never after the license itself).
    pub until: DateTime<Utc>,
    /// Emergency licenses left in the 365 days up to now, after this one.
    pub left_this_year: u32,
}

/// Emergency licenses a license has left at `now`, and when the next one comes back when
/// none is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmergencyAllowance {
    /// How many may start now.
    pub left: u32,
    /// When the oldest counted one leaves the window, if any is counted.
    pub next_at: Option<DateTime<Utc>>,
}

/// Counts the emergency licenses started in the 365 days up to `now`.
pub fn allowance(rules: &RuleSet, history: &LicenseHistory, now: DateTime<Utc>) -> EmergencyAllowance {
    let window = Duration::days(ALLOWANCE_WINDOW_DAYS);
    let mut counted: Vec<DateTime<Utc>> = history
        .activations
        .iter()
        .filter(|a| a.began_as_emergency() && a.started_at > now - window && a.started_at <= now)
        .map(|a| a.started_at)
        .collect();
    counted.sort();
    let used = u32::try_from(counted.len()).unwrap_or(u32::MAX);
    EmergencyAllowance {
        left: rules.params().emergency_per_year.saturating_sub(used),
        next_at: counted.first().map(|oldest| *oldest + window),
    }
}

/// May the license of the lost machine's activation `lost_activation_id` run on
/// `new_machine_id` as an emergency license at `now`?
///
/// - the rule set must give emergency licenses (`emergency_not_offered`);
/// - the lost activation must be an active, normal one;
/// - a recovery must be blocked: where one is possible, that is the way
///   (`recovery_possible`);
/// - one emergency license runs at a time (`emergency_running`), within the allowance of
///   the last 365 days (`emergency_allowance_used`, with the date the next comes back);
/// - it ends after `emergency_days`, or with the license, whichever is first.
pub fn decide_emergency(
    rules: &RuleSet,
    history: &LicenseHistory,
    lost_activation_id: Uuid,
    new_machine_id: Uuid,
    now: DateTime<Utc>,
) -> Result<EmergencyDecision, CoreError> {
    let now = history.decision_time(now);
    history.usable(now)?;
    let p = rules.params();
    if p.emergency_days == 0 || p.emergency_per_year == 0 {
        return Err(CoreError::new(ErrorCode::EmergencyNotOffered));
    }
    license::lost_machine(history, lost_activation_id)?;
    if history.holder(new_machine_id, now).is_some() {
        return Err(CoreError::new(ErrorCode::MachineAlreadyActive));
    }
    if history.seats_in_use(now) < rules.seats() {
        return Err(CoreError::new(ErrorCode::ActivationPossible));
    }
    // Any reason a recovery cannot happen now is what an emergency license is for.
    if let Ok(credits) = license::recovery_allowed(rules, history, now) {
        return Err(CoreError::new(ErrorCode::RecoveryPossible).with("credits", credits));
    }
    if let Some(until) = history
        .activations
        .iter()
        .filter(|a| a.is_live(now))
        .filter_map(ActivationRecord::emergency_end)
        .max()
    {
        return Err(CoreError::new(ErrorCode::EmergencyRunning).with("date", day(until)));
    }
    let allowance = allowance(rules, history, now);
    if allowance.left == 0 {
        let next = allowance.next_at.unwrap_or(now);
        return Err(CoreError::new(ErrorCode::EmergencyAllowanceUsed)
            .with("allowed", p.emergency_per_year)
            .with("date", day(next))
            .with("at", next.to_rfc3339()));
    }
    let mut until = now + Duration::days(i64::from(p.emergency_days));
    if let Some(end) = history.expires_at {
        until = until.min(end);
    }
    Ok(EmergencyDecision { until, left_this_year: allowance.left - 1 })
}

/// What a request to end an emergency license early comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndDecision {
    /// It runs: end it now.
    End,
    /// It has ended (by itself, early, or it is normal now): nothing changes, nothing is
    /// recorded.
    Ended,
}

/// May support end the activation `activation_id` as an emergency license at `now`? One
/// that is not an emergency license is `not_found` as one.
pub fn decide_end(
    history: &LicenseHistory,
    activation_id: Uuid,
    now: DateTime<Utc>,
) -> Result<EndDecision, CoreError> {
    let record = history
        .activations
        .iter()
        .find(|a| a.id == activation_id && a.began_as_emergency())
        .ok_or_else(|| CoreError::not_found("emergency license"))?;
    Ok(if record.is_emergency() && record.is_live(now) { EndDecision::End } else { EndDecision::Ended })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::license::ActivationState;
    use crate::rules::tests::standard;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).single().unwrap_or_default()
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn record(activation: u128, machine: u128, at: DateTime<Utc>) -> ActivationRecord {
        ActivationRecord {
            id: id(activation),
            machine_id: id(machine),
            fingerprint: None,
            rebound_at: None,
            previous_machine_id: None,
            state: ActivationState::Active,
            started_at: at,
            ended_at: None,
            emergency_until: None,
            converted_at: None,
            stands_for: None,
        }
    }

    /// One seat, one credit, a 30-day blocking period, 7-day emergencies, 2 a year.
    fn rules(emergency_per_year: u32) -> RuleSet {
        rules_with(emergency_per_year, 1)
    }

    fn rules_with(emergency_per_year: u32, credits: u32) -> RuleSet {
        let params = crate::RuleSetParams {
            seats: 1,
            initial_credits: credits,
            credit_cap: credits,
            blocking_days: 30,
            replenish_credits: 0,
            replenish_every_days: 0,
            emergency_days: 7,
            emergency_per_year,
            ..standard()
        };
        RuleSet::new(params).unwrap_or_else(|e| panic!("{e}"))
    }

    fn history(activations: Vec<ActivationRecord>) -> LicenseHistory {
        LicenseHistory { starts_at: t0(), expires_at: None, revoked_at: None, activations, grants: vec![] }
    }

    fn code(result: Result<EmergencyDecision, CoreError>) -> Option<ErrorCode> {
        result.err().map(|e| e.code())
    }

    #[test]
    fn a_blocked_recovery_gives_an_emergency_license_for_its_days() {
        let h = history(vec![record(1, 1, t0())]);
        let now = t0() + Duration::days(2);
        let decision = decide_emergency(&rules(2), &h, id(1), id(2), now);
        assert_eq!(decision, Ok(EmergencyDecision { until: now + Duration::days(7), left_this_year: 1 }));
    }

    #[test]
    fn where_a_recovery_is_possible_it_is_the_way() {
        let h = history(vec![record(1, 1, t0())]);
        let now = t0() + Duration::days(31);
        let err = decide_emergency(&rules(2), &h, id(1), id(2), now).err();
        assert_eq!(err.as_ref().map(CoreError::code), Some(ErrorCode::RecoveryPossible));
        assert_eq!(
            err.map(|e| e.message(crate::Lang::De)),
            Some("Eine Wiederherstellung ist jetzt möglich (verbleibende Reaktivierungen: 1); übertragen Sie die Lizenz per Wiederherstellung statt mit einer Notfall-Lizenz.".to_owned())
        );
    }

    #[test]
    fn a_rule_set_without_emergencies_refuses() {
        let h = history(vec![record(1, 1, t0())]);
        assert_eq!(
            code(decide_emergency(&rules(0), &h, id(1), id(2), t0())),
            Some(ErrorCode::EmergencyNotOffered)
        );
    }

    #[test]
    fn one_runs_at_a_time_and_the_yearly_allowance_counts_in_a_rolling_window() {
        let mut h = history(vec![record(1, 1, t0())]);
        let first = t0() + Duration::days(1);
        h.activations.push(ActivationRecord {
            emergency_until: Some(first + Duration::days(7)),
            ..record(2, 2, first)
        });
        assert_eq!(
            code(decide_emergency(&rules(1), &h, id(1), id(3), first + Duration::days(3))),
            Some(ErrorCode::EmergencyRunning)
        );
        let after = first + Duration::days(8);
        let used = decide_emergency(&rules(1), &h, id(1), id(3), after).err();
        assert_eq!(used.as_ref().map(CoreError::code), Some(ErrorCode::EmergencyAllowanceUsed));
        assert_eq!(used.map(|e| e.message(crate::Lang::En)), Some("The emergency licenses of the last 365 days are used (allowed per year: 1); the next is possible on 2028-01-02.".to_owned()));
        // A credit spent meanwhile keeps a recovery out of reach: the window decides.
        h.activations[0].state = ActivationState::Recovered;
        h.activations[0].ended_at = Some(t0() + Duration::days(31));
        h.activations.push(record(3, 4, t0() + Duration::days(31)));
        let next_year = first + Duration::days(366);
        assert!(decide_emergency(&rules(1), &h, id(3), id(5), next_year).is_ok());
    }

    #[test]
    fn with_a_free_seat_the_machine_activates_instead() {
        let h = history(vec![record(1, 1, t0())]);
        let two_seats = RuleSet::new(crate::RuleSetParams { seats: 2, ..rules(2).params().clone() })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            code(decide_emergency(&two_seats, &h, id(1), id(2), t0())),
            Some(ErrorCode::ActivationPossible)
        );
    }

    #[test]
    fn a_converted_emergency_license_still_counts_and_no_longer_ends() {
        let mut h = history(vec![record(1, 1, t0())]);
        let start = t0() + Duration::days(25);
        h.activations.push(ActivationRecord {
            emergency_until: Some(start + Duration::days(7)),
            converted_at: Some(t0() + Duration::days(31)),
            ..record(2, 2, start)
        });
        h.activations[0].state = ActivationState::Recovered;
        h.activations[0].ended_at = Some(t0() + Duration::days(31));
        let later = t0() + Duration::days(40);
        assert!(h.activations[1].is_live(later), "a converted emergency license runs on");
        let a = allowance(&rules(1), &h, later);
        assert_eq!(a.left, 0, "the converted one still counts");
        // Its blocking period runs from the conversion, not from the emergency's start.
        assert_eq!(h.blocked_until_for_tests(Duration::days(30)), Some(t0() + Duration::days(61)));
    }

    #[test]
    fn support_ends_a_running_emergency_license_once() {
        let mut h = history(vec![record(1, 1, t0())]);
        h.activations
            .push(ActivationRecord { emergency_until: Some(t0() + Duration::days(7)), ..record(2, 2, t0()) });
        assert_eq!(decide_end(&h, id(2), t0() + Duration::days(1)), Ok(EndDecision::End));
        assert_eq!(decide_end(&h, id(2), t0() + Duration::days(8)), Ok(EndDecision::Ended));
        h.activations[1].state = ActivationState::Revoked;
        assert_eq!(decide_end(&h, id(2), t0() + Duration::days(1)), Ok(EndDecision::Ended));
        assert_eq!(decide_end(&h, id(1), t0()).err().map(|e| e.code()), Some(ErrorCode::NotFound));
    }

    #[test]
    fn an_emergency_license_ends_with_its_license() {
        let mut h = history(vec![record(1, 1, t0())]);
        h.expires_at = Some(t0() + Duration::days(3));
        let decision = decide_emergency(&rules(2), &h, id(1), id(2), t0() + Duration::days(1));
        assert_eq!(decision.map(|d| d.until), Ok(t0() + Duration::days(3)));
    }

    #[test]
    fn it_takes_no_seat_and_a_recovery_to_its_machine_converts_it() {
        let mut h = history(vec![record(1, 1, t0())]);
        let start = t0() + Duration::days(25);
        h.activations.push(ActivationRecord {
            emergency_until: Some(start + Duration::days(7)),
            ..record(2, 2, start)
        });
        assert_eq!(h.seats_in_use(start), 1);
        // The emergency started inside the blocking period does not push it out.
        let later = t0() + Duration::days(30);
        let recovery = license::decide_recovery(&rules(2), &h, id(1), id(2), later + Duration::hours(1));
        assert_eq!(recovery.map(|r| r.converts), Ok(Some(id(2))));
        // Once ended it holds nothing and shows expired.
        let ended = start + Duration::days(8);
        assert!(h.holder(id(2), ended).is_none());
        assert_eq!(h.effective_state(&h.activations[1], ended), ActivationState::Expired);
    }

    proptest! {
        /// Whatever the sequence of emergency requests and recoveries that convert them,
        /// never more than N emergency licenses start in any 365 days (converted ones
        /// count), never two run at once, and starting one never spends a credit.
        #[test]
        fn never_more_than_the_allowance_in_any_rolling_year_and_never_a_credit(
            per_year in 1u32..4,
            steps in proptest::collection::vec((1i64..200, proptest::bool::ANY), 1..40),
        ) {
            // A credit every 60 days, at most one: recoveries come and go.
            let r = RuleSet::new(crate::RuleSetParams {
                replenish_credits: 1,
                replenish_every_days: 60,
                ..rules_with(per_year, 1).params().clone()
            }).unwrap_or_else(|e| panic!("{e}"));
            let mut h = history(vec![record(1, 1, t0())]);
            let mut lost = id(1);
            let mut now = t0();
            let mut machine = 10u128;
            for (step, convert) in steps {
                now += Duration::days(step) / 10;
                machine += 1;
                let running = h.activations.iter().find(|a| a.is_emergency() && a.is_live(now)).map(|a| (a.id, a.machine_id));
                match (convert, running) {
                    (true, Some((emergency, on))) => {
                        if let Ok(d) = license::decide_recovery(&r, &h, lost, on, now) {
                            prop_assert_eq!(d.converts, Some(emergency));
                            if let Some(a) = h.activations.iter_mut().find(|a| a.id == lost) {
                                a.state = ActivationState::Recovered;
                                a.ended_at = Some(now);
                            }
                            if let Some(a) = h.activations.iter_mut().find(|a| a.id == emergency) {
                                a.converted_at = Some(now);
                            }
                            lost = emergency;
                        }
                    }
                    _ => {
                        let before = license::credits(&r, &h, now).available;
                        if let Ok(d) = decide_emergency(&r, &h, lost, id(machine), now) {
                            prop_assert!(d.until > now);
                            h.activations.push(ActivationRecord { emergency_until: Some(d.until), stands_for: Some(lost), ..record(machine, machine, now) });
                            prop_assert_eq!(license::credits(&r, &h, now).available, before, "an emergency license spent a credit");
                        }
                    }
                }
                let running = h.activations.iter().filter(|a| a.is_emergency() && a.is_live(now)).count();
                prop_assert!(running <= 1);
            }
            let starts: Vec<DateTime<Utc>> = h.activations.iter().filter(|a| a.began_as_emergency()).map(|a| a.started_at).collect();
            for s in &starts {
                let within = starts.iter().filter(|t| **t >= *s && **t < *s + Duration::days(ALLOWANCE_WINDOW_DAYS)).count();
                prop_assert!(within <= per_year as usize, "{} emergencies within a year of {}", within, s);
            }
        }
    }
}
