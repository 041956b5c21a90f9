use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::rules::tests::standard;
use crate::rules::{RuleSet, RuleSetParams};
use crate::{ErrorCode, Lang};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default()
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

fn rules(params: RuleSetParams) -> RuleSet {
    RuleSet::new(params).unwrap_or_else(|e| panic!("test rule set is invalid: {e}"))
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn fresh() -> LicenseHistory {
    LicenseHistory {
        starts_at: t0(),
        expires_at: None,
        revoked_at: None,
        activations: vec![],
        grants: vec![],
    }
}

/// The hardware fingerprint of a test machine.
fn fp(machine: Uuid) -> String {
    format!("sha256:hardware-{}", machine.as_u128())
}

fn active(activation: u128, machine: u128, at: DateTime<Utc>) -> ActivationRecord {
    ActivationRecord {
        id: id(activation),
        machine_id: id(machine),
        fingerprint: Some(fp(id(machine))),
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

#[test]
fn a_free_seat_gives_a_new_activation() {
    let decision = decide_activation(&rules(standard()), &fresh(), id(1), &fp(id(1)), t0());
    assert_eq!(decision, Ok(ActivationDecision::New));
}

#[test]
fn the_same_machine_again_gets_its_existing_activation_for_free() {
    let mut history = fresh();
    history.activations.push(active(10, 1, t0()));
    history.activations.push(active(11, 2, t0()));
    let decision = decide_activation(&rules(standard()), &history, id(1), &fp(id(1)), t0() + days(1));
    assert_eq!(decision, Ok(ActivationDecision::Existing(id(10))));
}

#[test]
fn activation_is_refused_when_all_seats_are_taken() {
    let mut history = fresh();
    history.activations.push(active(10, 1, t0()));
    history.activations.push(active(11, 2, t0()));
    let err = decide_activation(&rules(standard()), &history, id(3), &fp(id(3)), t0()).err();
    assert_eq!(err.as_ref().map(CoreError::code), Some(ErrorCode::SeatsExhausted));
    assert_eq!(
        err.map(|e| e.message(Lang::En)).as_deref(),
        Some("All 2 seats of this license are in use; deactivate it on another machine first.")
    );
}

#[test]
fn a_reinstalled_client_on_the_same_hardware_gets_its_activation_back_even_with_every_seat_taken() {
    let r = rules(RuleSetParams { seats: 1, ..standard() });
    let mut history = fresh();
    history.activations.push(active(10, 1, t0()));
    let decision = decide_activation(&r, &history, id(99), &fp(id(1)), t0() + days(3));
    assert_eq!(decision, Ok(ActivationDecision::Rebind(id(10))));
}

#[test]
fn a_copied_fingerprint_cannot_pass_a_seat_back_and_forth() {
    let r = rules(RuleSetParams { seats: 1, blocking_days: 0, ..standard() });
    let mut history = fresh();
    // Machine 1's activation moved to machine 9 (same fingerprint) an hour ago.
    history.activations.push(ActivationRecord {
        machine_id: id(9),
        rebound_at: Some(t0()),
        previous_machine_id: Some(id(1)),
        ..active(10, 1, t0())
    });
    let back = decide_activation(&r, &history, id(1), &fp(id(1)), t0() + Duration::hours(1));
    assert_eq!(back.map_err(|e| e.code()), Err(ErrorCode::SeatsExhausted), "never straight back");
    let third = decide_activation(&r, &history, id(7), &fp(id(1)), t0() + Duration::hours(1));
    assert_eq!(third.map_err(|e| e.code()), Err(ErrorCode::RecoveryBlocked), "at most once a day");
    let later = decide_activation(&r, &history, id(7), &fp(id(1)), t0() + days(1));
    assert_eq!(later, Ok(ActivationDecision::Rebind(id(10))));
}

#[test]
fn hardware_whose_activation_has_ended_takes_a_seat_like_any_machine() {
    let r = rules(RuleSetParams { seats: 1, ..standard() });
    let mut history = fresh();
    history.activations.push(ActivationRecord {
        state: ActivationState::Deactivated,
        ended_at: Some(t0()),
        ..active(10, 1, t0())
    });
    assert_eq!(decide_activation(&r, &history, id(99), &fp(id(1)), t0()), Ok(ActivationDecision::New));
}

#[test]
fn a_deactivated_seat_is_free_again() {
    let mut history = fresh();
    history.activations.push(active(10, 1, t0()));
    history.activations.push(ActivationRecord {
        state: ActivationState::Deactivated,
        ended_at: Some(t0()),
        ..active(11, 2, t0())
    });
    assert_eq!(
        decide_activation(&rules(standard()), &history, id(3), &fp(id(3)), t0()),
        Ok(ActivationDecision::New)
    );
}

#[test]
fn an_expired_subscription_refuses_activation_with_its_end_date() {
    let history = LicenseHistory { expires_at: Some(t0() + days(365)), ..fresh() };
    let err = decide_activation(&rules(standard()), &history, id(1), &fp(id(1)), t0() + days(400)).err();
    assert_eq!(err.map(|e| e.message(Lang::En)).as_deref(), Some("This license expired on 2027-01-01."));
    assert_eq!(history.state(t0() + days(400)), LicenseState::Expired);
    assert_eq!(history.state(t0() + days(10)), LicenseState::Inactive);
}

#[test]
fn a_revoked_license_refuses_everything() {
    let mut history = LicenseHistory { revoked_at: Some(t0()), ..fresh() };
    history.activations.push(active(10, 1, t0()));
    let r = rules(standard());
    assert_eq!(
        decide_activation(&r, &history, id(2), &fp(id(2)), t0()).err().map(|e| e.code()),
        Some(ErrorCode::LicenseRevoked)
    );
    assert_eq!(
        decide_recovery(&r, &history, id(10), id(2), t0() + days(30)).err().map(|e| e.code()),
        Some(ErrorCode::LicenseRevoked)
    );
    assert_eq!(history.seats_in_use(t0()), 0);
}

#[test]
fn deactivation_is_refused_when_the_rules_forbid_it() {
    let mut history = fresh();
    history.activations.push(active(10, 1, t0()));
    let strict = rules(RuleSetParams { deactivation_allowed: false, ..standard() });
    assert_eq!(
        decide_deactivation(&strict, &history, id(10)).err().map(|e| e.code()),
        Some(ErrorCode::DeactivationNotAllowed)
    );
    assert_eq!(decide_deactivation(&rules(standard()), &history, id(10)), Ok(()));
}

#[test]
fn a_deactivated_activation_cannot_be_deactivated_again() {
    let mut history = fresh();
    history.activations.push(ActivationRecord { state: ActivationState::Deactivated, ..active(10, 1, t0()) });
    let err = decide_deactivation(&rules(standard()), &history, id(10)).err();
    assert_eq!(
        err.map(|e| e.message(Lang::En)).as_deref(),
        Some("This activation is not active; its state is deactivated.")
    );
}

#[test]
fn recovery_is_blocked_for_the_blocking_period_after_an_activation() {
    let mut history = fresh();
    history.activations.push(active(10, 1, t0()));
    let err = decide_recovery(&rules(standard()), &history, id(10), id(2), t0() + days(3)).err();
    assert_eq!(err.as_ref().map(CoreError::code), Some(ErrorCode::RecoveryBlocked));
    assert_eq!(
        err.map(|e| e.message(Lang::En)).as_deref(),
        Some("The next re-activation is available on 2026-01-08.")
    );
}

#[test]
fn the_preview_of_a_recovery_decides_as_the_recovery() {
    let mut history = fresh();
    history.activations.push(active(10, 1, t0()));
    for day in [3, 8, 400] {
        let at = t0() + days(day);
        let preview = preview_recovery(&rules(standard()), &history, id(10), at);
        let done = decide_recovery(&rules(standard()), &history, id(10), id(2), at).map(|d| d.credits_after);
        assert_eq!(preview, done, "day {day}");
    }
    assert_eq!(
        preview_recovery(&rules(standard()), &history, id(10), t0() + days(3)).map_err(|e| e.code()),
        Err(ErrorCode::RecoveryBlocked)
    );
    assert_eq!(preview_recovery(&rules(standard()), &history, id(10), t0() + days(8)), Ok(0));
}

#[test]
fn recovery_spends_one_credit() {
    let mut history = fresh();
    history.activations.push(active(10, 1, t0()));
    let decision = decide_recovery(&rules(standard()), &history, id(10), id(2), t0() + days(8));
    assert_eq!(decision, Ok(RecoveryDecision { credits_after: 0, converts: None, ends_emergencies: vec![] }));
}

#[test]
fn without_credits_recovery_names_the_date_of_the_next_credit() {
    let mut history = fresh();
    history.activations.push(ActivationRecord {
        state: ActivationState::Recovered,
        ended_at: Some(t0() + days(10)),
        ..active(10, 1, t0())
    });
    history.activations.push(active(11, 2, t0() + days(10)));
    let err = decide_recovery(&rules(standard()), &history, id(11), id(3), t0() + days(20)).err();
    assert_eq!(err.as_ref().map(CoreError::code), Some(ErrorCode::NoReactivationCredits));
    // The first replenishment period of 90 days ends on 2026-04-01.
    assert_eq!(
        err.map(|e| e.message(Lang::En)).as_deref(),
        Some("No re-activation credit is left; the next one comes on 2026-04-01.")
    );
    let later = decide_recovery(&rules(standard()), &history, id(11), id(3), t0() + days(91));
    assert_eq!(later, Ok(RecoveryDecision { credits_after: 0, converts: None, ends_emergencies: vec![] }));
}

#[test]
fn without_replenishment_an_empty_balance_says_support_can_help() {
    let no_refill = rules(RuleSetParams {
        replenish_credits: 0,
        replenish_every_days: 0,
        initial_credits: 0,
        ..standard()
    });
    let mut history = fresh();
    history.activations.push(active(10, 1, t0()));
    let err = decide_recovery(&no_refill, &history, id(10), id(2), t0() + days(30)).err();
    assert_eq!(err.map(|e| e.code()), Some(ErrorCode::ReactivationCreditsExhausted));
    history.grants.push(CreditGrant { at: t0() + days(29), amount: 1 });
    assert!(decide_recovery(&no_refill, &history, id(10), id(2), t0() + days(30)).is_ok());
}

#[test]
fn replenishment_stops_at_the_cap_but_grants_go_above_it() {
    let r = rules(standard());
    let history = fresh();
    assert_eq!(credits(&r, &history, t0()).available, 1);
    assert_eq!(credits(&r, &history, t0() + days(90)).available, 2);
    assert_eq!(credits(&r, &history, t0() + days(3650)).available, 3);
    assert_eq!(credits(&r, &history, t0() + days(3650)).next_credit_at, None);
    let granted = LicenseHistory { grants: vec![CreditGrant { at: t0(), amount: 5 }], ..fresh() };
    assert_eq!(credits(&r, &granted, t0() + days(3650)).available, 6);
}

#[test]
fn recovery_to_a_machine_that_already_holds_the_license_is_refused() {
    let mut history = fresh();
    history.activations.push(active(10, 1, t0()));
    history.activations.push(active(11, 2, t0()));
    let err = decide_recovery(&rules(standard()), &history, id(10), id(2), t0() + days(30)).err();
    assert_eq!(err.map(|e| e.code()), Some(ErrorCode::MachineAlreadyActive));
}

/// One step a user or support can take on a license.
#[derive(Debug, Clone)]
enum Step {
    Activate { machine: u8, after_hours: u16 },
    Deactivate { pick: u8, after_hours: u16 },
    Recover { pick: u8, machine: u8, after_hours: u16 },
    Grant { amount: u8, after_hours: u16 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..12, 0u16..2000).prop_map(|(machine, after_hours)| Step::Activate { machine, after_hours }),
        (any::<u8>(), 0u16..2000).prop_map(|(pick, after_hours)| Step::Deactivate { pick, after_hours }),
        (any::<u8>(), 0u8..12, 0u16..4000).prop_map(|(pick, machine, after_hours)| Step::Recover {
            pick,
            machine,
            after_hours
        }),
        (0u8..3, 0u16..4000).prop_map(|(amount, after_hours)| Step::Grant { amount, after_hours }),
    ]
}

fn rule_params() -> impl Strategy<Value = RuleSetParams> {
    (1u32..5, 0u32..3, 0u32..30, 0u32..3, 1u32..60, 0u32..4).prop_map(
        |(seats, initial, blocking, k, p, extra_cap)| RuleSetParams {
            seats,
            initial_credits: initial,
            blocking_days: blocking,
            replenish_credits: k,
            replenish_every_days: if k == 0 { 0 } else { p },
            credit_cap: initial + extra_cap,
            ..standard()
        },
    )
}

/// Applies steps through the decisions, the way the store does, and returns the history
/// and the time of the last step.
fn play(r: &RuleSet, steps: &[Step]) -> (LicenseHistory, DateTime<Utc>) {
    let mut history = fresh();
    let mut now = t0();
    let mut next_id = 1000u128;
    for step in steps {
        match *step {
            Step::Activate { machine, after_hours } => {
                now += Duration::hours(i64::from(after_hours));
                if let Ok(ActivationDecision::New) =
                    decide_activation(r, &history, id(machine.into()), &fp(id(machine.into())), now)
                {
                    next_id += 1;
                    history.activations.push(active(next_id, machine.into(), now));
                }
            }
            Step::Deactivate { pick, after_hours } => {
                now += Duration::hours(i64::from(after_hours));
                if history.activations.is_empty() {
                    continue;
                }
                let i = usize::from(pick) % history.activations.len();
                if decide_deactivation(r, &history, history.activations[i].id).is_ok() {
                    history.activations[i].state = ActivationState::Deactivated;
                    history.activations[i].ended_at = Some(now);
                }
            }
            Step::Recover { pick, machine, after_hours } => {
                now += Duration::hours(i64::from(after_hours));
                if history.activations.is_empty() {
                    continue;
                }
                let i = usize::from(pick) % history.activations.len();
                let lost = history.activations[i].id;
                if decide_recovery(r, &history, lost, id(machine.into()), now).is_ok() {
                    history.activations[i].state = ActivationState::Recovered;
                    history.activations[i].ended_at = Some(now);
                    next_id += 1;
                    history.activations.push(active(next_id, machine.into(), now));
                }
            }
            Step::Grant { amount, after_hours } => {
                now += Duration::hours(i64::from(after_hours));
                history.grants.push(CreditGrant { at: now, amount: amount.into() });
            }
        }
        assert!(history.seats_in_use(now) <= r.seats(), "more seats in use than the rule set has");
        assert!(balance(r, &history, now) >= 0, "credit balance went negative");
    }
    (history, now)
}

#[test]
fn a_credit_spent_by_a_racing_recovery_stamped_a_moment_later_is_spent() {
    let r = rules(RuleSetParams {
        initial_credits: 1,
        blocking_days: 0,
        replenish_credits: 0,
        replenish_every_days: 0,
        credit_cap: 1,
        ..standard()
    });
    let later = t0() + Duration::milliseconds(3);
    let mut history = fresh();
    history.activations.push(ActivationRecord {
        state: ActivationState::Recovered,
        ended_at: Some(later),
        ..active(10, 1, t0())
    });
    history.activations.push(active(11, 2, later));
    history.activations.push(active(12, 3, t0()));
    let decision = decide_recovery(&r, &history, id(12), id(4), t0());
    assert_eq!(decision.map_err(|e| e.code()), Err(ErrorCode::ReactivationCreditsExhausted));
}

proptest! {
    #[test]
    fn active_activations_never_exceed_seats_and_credits_never_go_negative(
        params in rule_params(),
        steps in proptest::collection::vec(step(), 0..40),
    ) {
        let r = rules(params);
        let (history, now) = play(&r, &steps);
        prop_assert!(history.seats_in_use(now) <= r.seats());
        prop_assert!(balance(&r, &history, now) >= 0);
    }

    #[test]
    fn credits_never_fall_as_time_passes(
        params in rule_params(),
        steps in proptest::collection::vec(step(), 0..30),
        gap_a in 0i64..5000,
        gap_b in 0i64..5000,
    ) {
        let r = rules(params);
        let (history, now) = play(&r, &steps);
        let earlier = now + Duration::hours(gap_a.min(gap_b));
        let later = now + Duration::hours(gap_a.max(gap_b));
        prop_assert!(credits(&r, &history, earlier).available <= credits(&r, &history, later).available);
    }

    #[test]
    fn the_same_history_and_time_give_the_same_answer_in_any_order(
        params in rule_params(),
        steps in proptest::collection::vec(step(), 0..30),
        machine in 0u8..12,
        pick in any::<u8>(),
    ) {
        let r = rules(params);
        let (history, now) = play(&r, &steps);
        let mut shuffled = history.clone();
        shuffled.activations.reverse();
        shuffled.grants.reverse();
        prop_assert_eq!(credits(&r, &history, now), credits(&r, &shuffled, now));
        prop_assert_eq!(
            decide_activation(&r, &history, id(machine.into()), &fp(id(machine.into())), now),
            decide_activation(&r, &shuffled, id(machine.into()), &fp(id(machine.into())), now)
        );
        if !history.activations.is_empty() {
            let lost = history.activations[usize::from(pick) % history.activations.len()].id;
            prop_assert_eq!(
                decide_recovery(&r, &history, lost, id(machine.into()), now),
                decide_recovery(&r, &shuffled, lost, id(machine.into()), now)
            );
        }
    }

    #[test]
    fn a_zero_blocking_period_never_blocks_a_recovery(
        params in rule_params(),
        steps in proptest::collection::vec(step(), 0..30),
        machine in 0u8..12,
        pick in any::<u8>(),
        skew_seconds in 0i64..120,
    ) {
        let r = rules(RuleSetParams { blocking_days: 0, ..params });
        let (history, now) = play(&r, &steps);
        if !history.activations.is_empty() {
            let lost = history.activations[usize::from(pick) % history.activations.len()].id;
            // A racing recovery may have started an activation just "after" this clock reading.
            let asked_at = now - Duration::seconds(skew_seconds);
            let decision = decide_recovery(&r, &history, lost, id(machine.into()), asked_at);
            prop_assert!(
                !matches!(&decision, Err(e) if e.code() == ErrorCode::RecoveryBlocked),
                "{:?}", decision
            );
        }
    }
}

#[test]
fn a_revoked_license_is_final() {
    let mut history = fresh();
    assert_eq!(decide_revocation(&history), RevocationDecision::Revoke);
    assert_eq!(decide_credit_grant(&history, 1), Ok(()));
    assert_eq!(
        decide_renewal(crate::LicenseModel::Subscription { days: 30 }, &history, t0()).map(|r| r.expires_at),
        Ok(t0() + days(30))
    );
    history.revoked_at = Some(t0());
    assert_eq!(decide_revocation(&history), RevocationDecision::AlreadyRevoked);
    assert_eq!(decide_credit_grant(&history, 1).map_err(|e| e.code()), Err(ErrorCode::LicenseRevoked));
    assert_eq!(
        decide_renewal(crate::LicenseModel::Subscription { days: 30 }, &history, t0())
            .map(|r| r.days)
            .map_err(|e| e.code()),
        Err(ErrorCode::LicenseRevoked)
    );
}

#[test]
fn a_grant_is_one_to_a_hundred_credits_and_an_expired_license_may_take_it() {
    let mut history = fresh();
    history.expires_at = Some(t0());
    assert!(decide_credit_grant(&history, 0).is_err());
    assert!(decide_credit_grant(&history, MAX_GRANT + 1).is_err());
    assert_eq!(decide_credit_grant(&history, MAX_GRANT), Ok(()));
    assert_eq!(
        decide_renewal(crate::LicenseModel::Subscription { days: 10 }, &history, t0() + days(5))
            .map(|r| r.expires_at),
        Ok(t0() + days(15)),
        "from now once ended"
    );
}

#[test]
fn only_a_subscription_is_renewed() {
    for model in [crate::LicenseModel::Perpetual, crate::LicenseModel::Demo { days: 30 }] {
        let refused = decide_renewal(model, &fresh(), t0()).map(|r| r.days).map_err(|e| e.code());
        assert_eq!(refused, Err(ErrorCode::NotASubscription));
    }
}
