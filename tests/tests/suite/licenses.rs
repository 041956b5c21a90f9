use chrono::{Duration, Utc};
use keyport_core::{
    ActivationState, DisplayName, Email, ErrorCode, Lang, LicenseState, Reason, RuleSetParams, TicketCode,
};
use keyport_store::Scope;
use keyport_store::{NewCustomer, StoreError};
use keyport_tests::{Fixture, machine, parse, rules};

fn message(e: StoreError) -> String {
    e.as_domain().map(|d| d.message(Lang::En)).unwrap_or_else(|| format!("not a domain error: {e}"))
}

fn customer(f: &Fixture, email: &str) -> uuid::Uuid {
    let new = NewCustomer {
        email: parse(Email::parse(email)),
        name: parse(DisplayName::parse("Customer")),
        customer_number: None,
        password: None,
    };
    f.store.create_customer(&f.ctx(), &new).unwrap().id
}

#[test]
fn a_customer_is_found_by_e_mail_in_any_case_and_cannot_be_created_twice() {
    Fixture::each(|f| {
        let id = customer(f, "Anna@Example.com");
        let found = f.store.find_customer_by_email(&parse(Email::parse("ANNA@example.COM"))).unwrap();
        assert_eq!(found.id, id);
        assert_eq!(f.store.get_customer(id).unwrap().email, "anna@example.com");
        let again = NewCustomer {
            email: parse(Email::parse("anna@example.com")),
            name: parse(DisplayName::parse("Other")),
            customer_number: None,
            password: None,
        };
        let err = f.store.create_customer(&f.ctx(), &again).unwrap_err();
        assert_eq!(message(err), "A customer with this email exists already.");
    });
}

#[test]
fn a_ticket_typed_sloppily_is_found() {
    Fixture::each(|f| {
        let sku = f.item(keyport_core::LicenseModel::Perpetual, rules());
        let outcome = f.order(&sku, 1);
        let sloppy = outcome.order.ticket_code.replace('-', " ").to_lowercase().replace('0', "o");
        let ticket = f.store.lookup_ticket(&parse(TicketCode::parse(&sloppy)), Utc::now()).unwrap();
        assert_eq!(ticket.code, outcome.order.ticket_code);
    });
}

#[test]
fn a_registered_ticket_shows_in_the_customers_licenses_and_nobody_else_can_take_it() {
    Fixture::each(|f| {
        let sku = f.item(keyport_core::LicenseModel::Perpetual, rules());
        let code = parse(TicketCode::parse(&f.order(&sku, 2).order.ticket_code));
        let anna = customer(f, "anna@example.com");
        let bert = customer(f, "bert@example.com");
        assert!(f.store.list_customer_licenses(anna, Utc::now()).unwrap().is_empty());
        let ticket = f.store.register_ticket(&f.ctx(), anna, &code).unwrap();
        assert_eq!(ticket.customer_id, Some(anna));
        // Registering again to the same customer changes nothing.
        assert_eq!(f.store.register_ticket(&f.ctx(), anna, &code).unwrap().customer_id, Some(anna));
        let err = f.store.register_ticket(&f.ctx(), bert, &code).unwrap_err();
        assert_eq!(err.code(), ErrorCode::TicketAlreadyRegistered);
        let licenses = f.store.list_customer_licenses(anna, Utc::now()).unwrap();
        assert_eq!(licenses.len(), 2);
        assert!(f.store.list_customer_licenses(bert, Utc::now()).unwrap().is_empty());
        assert_eq!(licenses[0].reactivation_credits, 1);
        // One credit of a cap of two: the next comes after the first 30-day period.
        assert_eq!(licenses[0].next_credit_at, Some(licenses[0].starts_at + Duration::days(30)));
    });
}

#[test]
fn activating_on_the_same_machine_again_is_free() {
    Fixture::each(|f| {
        let license = f.license_at(Utc::now(), rules());
        let first = f.store.activate(&f.ctx(), Scope::Staff, license, &machine(1)).unwrap();
        let again = f.store.activate(&f.ctx(), Scope::Staff, license, &machine(1)).unwrap();
        assert!(first.created);
        assert!(!again.created);
        assert_eq!(again.activation.id, first.activation.id);
        let view = f.store.get_license(Scope::Staff, license, Utc::now()).unwrap();
        assert_eq!((view.state, view.seats_in_use), (LicenseState::Active, 1));
    });
}

#[test]
fn activation_is_refused_when_all_seats_are_taken() {
    Fixture::each(|f| {
        let license = f.license_at(Utc::now(), rules());
        for n in 1..=3 {
            f.store.activate(&f.ctx(), Scope::Staff, license, &machine(n)).unwrap();
        }
        let err = f.store.activate(&f.ctx(), Scope::Staff, license, &machine(4)).unwrap_err();
        assert_eq!(
            message(err),
            "All 3 seats of this license are in use; deactivate it on another machine first."
        );
    });
}

#[test]
fn deactivation_frees_the_seat_once() {
    Fixture::each(|f| {
        let license = f.license_at(Utc::now(), RuleSetParams { seats: 1, ..rules() });
        let a = f.store.activate(&f.ctx(), Scope::Staff, license, &machine(1)).unwrap().activation;
        let done = f.store.deactivate(&f.ctx(), Scope::Staff, a.id).unwrap();
        assert_eq!(done.state, ActivationState::Deactivated);
        let err = f.store.deactivate(&f.ctx(), Scope::Staff, a.id).unwrap_err();
        assert_eq!(message(err), "This activation is not active; its state is deactivated.");
        assert!(f.store.activate(&f.ctx(), Scope::Staff, license, &machine(2)).unwrap().created);
    });
}

#[test]
fn deactivation_is_refused_when_the_rules_forbid_it() {
    Fixture::each(|f| {
        let license = f.license_at(Utc::now(), RuleSetParams { deactivation_allowed: false, ..rules() });
        let a = f.store.activate(&f.ctx(), Scope::Staff, license, &machine(1)).unwrap().activation;
        assert_eq!(
            f.store.deactivate(&f.ctx(), Scope::Staff, a.id).unwrap_err().code(),
            ErrorCode::DeactivationNotAllowed
        );
        assert_eq!(f.store.get_license(Scope::Staff, license, Utc::now()).unwrap().seats_in_use, 1);
    });
}

#[test]
fn recovery_from_a_lost_machine_waits_out_the_blocking_period_and_spends_a_credit() {
    Fixture::each(|f| {
        let t0 = Utc::now() - Duration::days(20);
        let license = f.license_at(t0, rules());
        let lost = f.store.activate(&f.ctx_at(t0), Scope::Staff, license, &machine(1)).unwrap().activation;

        let blocked = f
            .store
            .recover(&f.ctx_at(t0 + Duration::days(2)), Scope::Staff, lost.id, &machine(2))
            .unwrap_err();
        assert_eq!(blocked.code(), ErrorCode::RecoveryBlocked);
        let free_on = (t0 + Duration::days(7)).format("%Y-%m-%d").to_string();
        assert_eq!(message(blocked), format!("The next re-activation is available on {free_on}."));

        let moved = f
            .store
            .recover(&f.ctx_at(t0 + Duration::days(8)), Scope::Staff, lost.id, &machine(2))
            .unwrap()
            .activation;
        assert_eq!(moved.state, ActivationState::Active);
        let view = f.store.get_license(Scope::Staff, license, t0 + Duration::days(16)).unwrap();
        assert_eq!(view.seats_in_use, 1);
        assert_eq!(view.reactivation_credits, 0);
        assert_eq!(view.next_credit_at, Some(view.starts_at + Duration::days(30)));
        let states: Vec<ActivationState> = view.activations.iter().map(|a| a.state).collect();
        assert_eq!(states, vec![ActivationState::Recovered, ActivationState::Active]);

        let broke = f
            .store
            .recover(&f.ctx_at(t0 + Duration::days(16)), Scope::Staff, moved.id, &machine(3))
            .unwrap_err();
        let next = (view.starts_at + Duration::days(30)).format("%Y-%m-%d").to_string();
        assert_eq!(message(broke), format!("No re-activation credit is left; the next one comes on {next}."));
    });
}

#[test]
fn a_support_grant_makes_a_recovery_possible() {
    Fixture::each(|f| {
        let t0 = Utc::now() - Duration::days(20);
        let no_credits =
            RuleSetParams { initial_credits: 0, replenish_credits: 0, replenish_every_days: 0, ..rules() };
        let license = f.license_at(t0, no_credits);
        let lost = f.store.activate(&f.ctx_at(t0), Scope::Staff, license, &machine(1)).unwrap().activation;
        let err = f.store.recover(&f.ctx(), Scope::Staff, lost.id, &machine(2)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::ReactivationCreditsExhausted);
        let reason = parse(Reason::parse("laptop stolen, police report 123"));
        let view = f.store.grant_credits(&f.ctx(), license, 1, &reason).unwrap();
        assert_eq!(view.reactivation_credits, 1);
        f.store.recover(&f.ctx(), Scope::Staff, lost.id, &machine(2)).unwrap();
        assert_eq!(f.store.get_license(Scope::Staff, license, Utc::now()).unwrap().reactivation_credits, 0);
        assert_eq!(
            f.store.grant_credits(&f.ctx(), license, 0, &reason).unwrap_err().code(),
            ErrorCode::InvalidInput
        );
    });
}

#[test]
fn a_revoked_license_frees_its_seats_and_cannot_be_activated() {
    Fixture::each(|f| {
        let license = f.license_at(Utc::now(), rules());
        f.store.activate(&f.ctx(), Scope::Staff, license, &machine(1)).unwrap();
        let view = f.store.revoke_license(&f.ctx(), license, &parse(Reason::parse("refund"))).unwrap();
        assert_eq!((view.state, view.seats_in_use), (LicenseState::Revoked, 0));
        assert_eq!(view.revoke_reason.as_deref(), Some("refund"));
        assert_eq!(view.activations[0].state, ActivationState::Revoked);
        let err = f.store.activate(&f.ctx(), Scope::Staff, license, &machine(2)).unwrap_err();
        assert_eq!(message(err), "This license was revoked.");
    });
}

#[test]
fn an_unknown_license_or_activation_is_not_found() {
    Fixture::each(|f| {
        let missing = uuid::Uuid::now_v7();
        assert_eq!(
            f.store.activate(&f.ctx(), Scope::Staff, missing, &machine(1)).unwrap_err().code(),
            ErrorCode::NotFound
        );
        assert_eq!(
            f.store.deactivate(&f.ctx(), Scope::Staff, missing).unwrap_err().code(),
            ErrorCode::NotFound
        );
        assert_eq!(
            f.store.recover(&f.ctx(), Scope::Staff, missing, &machine(1)).unwrap_err().code(),
            ErrorCode::NotFound
        );
        assert_eq!(
            f.store.get_license(Scope::Staff, missing, Utc::now()).unwrap_err().code(),
            ErrorCode::NotFound
        );
    });
}
