//! Licenses in the field, on both backends: check-ins, usage sessions, emergency licenses
//! and demos, with the clock moved where time matters.

use chrono::{DateTime, Duration, Utc};
use keyport_core::checkin::{SessionEvent, Validity};
use keyport_core::demo::DemoPolicy;
use keyport_core::{
    ActivationState, Email, ErrorCode, EventKind, LicenseModel, ProductCode, Reason, RuleSetParams,
    certificate,
};
use keyport_store::{DemoFor, EventFilter, NewCustomer, Scope};
use keyport_tests::{Fixture, check_in, machine, name, parse, rules, usage_report};
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    Utc::now() - Duration::days(400)
}

fn table(f: &Fixture, name: &str) -> i64 {
    f.store.table_sizes().unwrap().into_iter().find(|(t, _)| *t == name).map(|(_, n)| n).unwrap()
}

fn events(f: &Fixture, kind: EventKind) -> Vec<keyport_store::EventView> {
    f.store.query_events(&EventFilter { kind: Some(kind), ..EventFilter::default() }).unwrap().items
}

/// A license activated on machine 1 at `at`, under rules asking for a check-in every 30
/// days with 7 days of grace.
fn checked(f: &Fixture, at: DateTime<Utc>) -> (Uuid, Uuid) {
    let rules = RuleSetParams { checkin_interval_days: Some(30), checkin_grace_days: 7, ..rules() };
    let license = f.license_at(at, rules);
    let outcome = f.store.activate(&f.ctx_at(at), Scope::Staff, license, &machine(1)).unwrap();
    (license, outcome.activation.id)
}

fn claims(certificate: &str, f: &Fixture, now: DateTime<Utc>) -> certificate::CertificateClaims {
    let jws = keyport_core::files::unarmor(keyport_core::files::FileKind::Certificate, certificate).unwrap();
    certificate::verify(&jws, &f.store.jwks().unwrap(), now).unwrap()
}

#[test]
fn a_check_in_renews_the_lease_is_taken_once_and_learns_a_revocation() {
    Fixture::each(|f| {
        let now = Utc::now();
        let (license, activation) = checked(f, now - Duration::days(20));
        let proof = check_in(1, license, activation, now, false);
        let outcome = f.store.check_in(now, &proof).unwrap();
        assert_eq!(outcome.validity, Validity::Active);
        let lease = outcome.checkin_until.unwrap();
        assert!((lease - now - Duration::days(37)).num_seconds().abs() <= 1, "{lease} {now}");
        let renewed = claims(outcome.certificate.as_deref().unwrap(), f, now);
        assert_eq!(renewed.checkin_until, Some(lease.timestamp()));
        assert_eq!(renewed.jti, activation);

        // The same statement again, or an older one, is a replay; a stale one names both times.
        assert_eq!(f.store.check_in(now, &proof).unwrap_err().code(), ErrorCode::Replayed);
        let stale = check_in(1, license, activation, now - Duration::minutes(10), false);
        let err = f.store.check_in(now, &stale).unwrap_err();
        assert_eq!(err.code(), ErrorCode::StaleProof);
        // Another machine's key naming this activation learns nothing about it.
        let forged = check_in(2, license, activation, now + Duration::seconds(1), false);
        assert_eq!(f.store.check_in(now, &forged).unwrap_err().code(), ErrorCode::NotFound);

        f.store.revoke_license(&f.ctx(), license, &parse(Reason::parse("refund"))).unwrap();
        let later = now + Duration::seconds(2);
        let revoked = f.store.check_in(later, &check_in(1, license, activation, later, false)).unwrap();
        assert_eq!(revoked.validity, Validity::Revoked);
        assert_eq!(revoked.certificate, None);
        // Two check-ins (one per accepted statement) on one day of one version: one row.
        assert_eq!(table(f, "usage_days"), 1);
    });
}

#[test]
fn queued_check_ins_are_counted_oldest_first_and_renew_nothing() {
    Fixture::each(|f| {
        let now = Utc::now();
        let (license, activation) = checked(f, now - Duration::days(20));
        let older = check_in(1, license, activation, now - Duration::days(3), true);
        let newer = check_in(1, license, activation, now - Duration::days(2), true);
        let queued = f.store.check_in(now, &older).unwrap();
        assert_eq!((queued.validity, queued.certificate), (Validity::Active, None));
        f.store.check_in(now, &newer).unwrap();
        // Sent out of order, the older one is a replay.
        assert_eq!(f.store.check_in(now, &older).unwrap_err().code(), ErrorCode::Replayed);
        let live = f.store.check_in(now, &check_in(1, license, activation, now, false)).unwrap();
        assert!(live.certificate.is_some());
        assert_eq!(table(f, "usage_days"), 3, "one row per day");
    });
}

#[test]
fn a_check_in_after_the_seat_moved_learns_the_seat_is_lost() {
    Fixture::each(|f| {
        let start = Utc::now() - Duration::days(60);
        let (license, activation) = checked(f, start);
        f.store
            .recover(&f.ctx_at(start + Duration::days(30)), Scope::Staff, activation, &machine(2))
            .unwrap();
        let now = Utc::now();
        let outcome = f.store.check_in(now, &check_in(1, license, activation, now, false)).unwrap();
        assert_eq!((outcome.validity, outcome.certificate), (Validity::SeatLost, None));
    });
}

#[test]
fn sessions_are_idempotent_and_fold_into_their_day() {
    Fixture::each(|f| {
        let now = Utc::now();
        let (license, activation) = checked(f, now - Duration::days(1));
        let ids = (license, activation);
        let session = Uuid::now_v7();
        let start =
            f.store.report_usage(now, &usage_report(1, ids, session, SessionEvent::Start, now)).unwrap();
        assert!(start.open);
        // A start seen again changes nothing.
        assert!(
            f.store.report_usage(now, &usage_report(1, ids, session, SessionEvent::Start, now)).unwrap().open
        );
        let beat = now + Duration::minutes(3);
        assert!(
            f.store
                .report_usage(beat, &usage_report(1, ids, session, SessionEvent::Heartbeat, beat))
                .unwrap()
                .open
        );
        assert_eq!(table(f, "usage_sessions"), 1);
        let end = now + Duration::minutes(4);
        let ended =
            f.store.report_usage(end, &usage_report(1, ids, session, SessionEvent::End, end)).unwrap();
        assert!(!ended.open);
        assert!(
            !f.store.report_usage(end, &usage_report(1, ids, session, SessionEvent::End, end)).unwrap().open
        );
        // A replayed start of the closed session does not open it again.
        let replayed = usage_report(1, ids, session, SessionEvent::Start, now);
        assert!(!f.store.report_usage(end, &replayed).unwrap().open);
        assert_eq!(table(f, "usage_days"), 1);
        assert_eq!(table(f, "usage_sessions"), 1, "the closed session is kept a few minutes");

        // A session without heartbeats is closed at its last one by the pruning job, and
        // closed sessions are forgotten after a few minutes.
        let idle = Uuid::now_v7();
        f.store.report_usage(now, &usage_report(1, ids, idle, SessionEvent::Start, now)).unwrap();
        assert_eq!(f.store.close_idle_sessions(now + Duration::minutes(10), 100).unwrap(), 0);
        assert!(f.store.close_idle_sessions(now + Duration::minutes(50), 100).unwrap() >= 2);
        assert_eq!(table(f, "usage_sessions"), 0);
        assert_eq!(table(f, "usage_days"), 1, "both sessions on one day's row");
        // A stale report is refused.
        let old = now - Duration::hours(1);
        let err = f.store.report_usage(now, &usage_report(1, ids, Uuid::now_v7(), SessionEvent::Start, old));
        assert_eq!(err.unwrap_err().code(), ErrorCode::StaleProof);
    });
}

#[test]
fn open_sessions_per_machine_are_bounded() {
    Fixture::each(|f| {
        let now = Utc::now();
        let (license, activation) = checked(f, now - Duration::days(1));
        for _ in 0..keyport_core::checkin::MAX_OPEN_SESSIONS {
            let report = usage_report(1, (license, activation), Uuid::now_v7(), SessionEvent::Start, now);
            f.store.report_usage(now, &report).unwrap();
        }
        let report = usage_report(1, (license, activation), Uuid::now_v7(), SessionEvent::Start, now);
        assert_eq!(f.store.report_usage(now, &report).unwrap_err().code(), ErrorCode::TooManySessions);
    });
}

/// One seat, `credits` re-activation credits, a 30-day blocking period, 7-day emergency
/// licenses, one a year.
fn emergency_rules(credits: u32) -> RuleSetParams {
    RuleSetParams {
        seats: 1,
        initial_credits: credits,
        credit_cap: credits,
        replenish_credits: 0,
        replenish_every_days: 0,
        blocking_days: 30,
        emergency_days: 7,
        emergency_per_year: 1,
        ..rules()
    }
}

#[test]
fn an_emergency_license_runs_its_days_beside_the_seat_and_spends_nothing() {
    Fixture::each(|f| {
        let start = t0();
        let license = f.license_at(start, emergency_rules(0));
        let lost =
            f.store.activate(&f.ctx_at(start), Scope::Staff, license, &machine(1)).unwrap().activation.id;
        let at = start + Duration::days(1);
        let emergency = f.store.start_emergency(&f.ctx_at(at), Scope::Staff, lost, &machine(2)).unwrap();
        assert_eq!(emergency.emergency_until, f.ctx_at(at).now + Duration::days(7));
        assert_eq!(emergency.left_this_year, 0);
        let cert = claims(&emergency.certificate, f, at);
        assert_eq!(cert.exp, Some(emergency.emergency_until.timestamp()));
        let view = f.store.get_license(Scope::Staff, license, at).unwrap();
        assert_eq!((view.seats_in_use, view.reactivation_credits), (1, 0));
        assert_eq!(view.activations[1].emergency_until, Some(emergency.emergency_until));

        let again = f.store.start_emergency(&f.ctx_at(at), Scope::Staff, lost, &machine(3)).unwrap_err();
        assert_eq!(again.code(), ErrorCode::EmergencyRunning);
        let ended = at + Duration::days(8);
        let view = f.store.get_license(Scope::Staff, license, ended).unwrap();
        assert_eq!(view.activations[1].state, ActivationState::Expired);
        assert_eq!(view.activations[1].ended_at, Some(emergency.emergency_until));
        let used = f.store.start_emergency(&f.ctx_at(ended), Scope::Staff, lost, &machine(3)).unwrap_err();
        assert_eq!(used.code(), ErrorCode::EmergencyAllowanceUsed);
        // The machine of the ended emergency license gets no seat by activating again.
        let again = f.store.activate(&f.ctx_at(ended), Scope::Staff, license, &machine(2)).unwrap_err();
        assert_eq!(again.code(), ErrorCode::SeatsExhausted);
        let a_year_later = at + Duration::days(366);
        assert!(f.store.start_emergency(&f.ctx_at(a_year_later), Scope::Staff, lost, &machine(3)).is_ok());
        assert_eq!(events(f, EventKind::EmergencyStarted).len(), 2);
    });
}

#[test]
fn a_recovery_once_possible_makes_the_emergency_machine_a_normal_activation() {
    Fixture::each(|f| {
        let start = t0();
        let license = f.license_at(start, emergency_rules(1));
        let lost =
            f.store.activate(&f.ctx_at(start), Scope::Staff, license, &machine(1)).unwrap().activation.id;
        // Inside the blocking period a recovery is refused; an emergency license is the way.
        let at = start + Duration::days(25);
        let blocked = f.store.recover(&f.ctx_at(at), Scope::Staff, lost, &machine(2)).unwrap_err();
        assert_eq!(blocked.code(), ErrorCode::RecoveryBlocked);
        let emergency = f.store.start_emergency(&f.ctx_at(at), Scope::Staff, lost, &machine(2)).unwrap();
        let later = start + Duration::days(31);
        let recovered = f.store.recover(&f.ctx_at(later), Scope::Staff, lost, &machine(2)).unwrap();
        assert_eq!(recovered.activation.id, emergency.activation.id);
        assert_eq!(recovered.activation.emergency_until, None);
        assert_eq!(claims(&recovered.certificate, f, later).exp, None);
        let view = f.store.get_license(Scope::Staff, license, later + Duration::days(30)).unwrap();
        assert_eq!((view.seats_in_use, view.reactivation_credits), (1, 0));
        // The converted one still counts against the year's allowance.
        let lost_again = recovered.activation.id;
        let next = f.store.start_emergency(
            &f.ctx_at(later + Duration::days(1)),
            Scope::Staff,
            lost_again,
            &machine(3),
        );
        assert_eq!(next.unwrap_err().code(), ErrorCode::EmergencyAllowanceUsed);
        // Where a recovery is possible, no emergency license is given.
        let fresh = f.license_at(start, emergency_rules(1));
        let lost =
            f.store.activate(&f.ctx_at(start), Scope::Staff, fresh, &machine(5)).unwrap().activation.id;
        let err = f.store.start_emergency(&f.ctx_at(later), Scope::Staff, lost, &machine(6)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::RecoveryPossible);
    });
}

#[test]
fn support_ends_an_emergency_license_once() {
    Fixture::each(|f| {
        let now = Utc::now();
        let start = now - Duration::days(2);
        let license = f.license_at(start, emergency_rules(0));
        let lost =
            f.store.activate(&f.ctx_at(start), Scope::Staff, license, &machine(1)).unwrap().activation.id;
        let emergency = f.store.start_emergency(&f.ctx(), Scope::Staff, lost, &machine(2)).unwrap();
        let reason = parse(Reason::parse("abuse reported"));
        let ended = f.store.end_emergency(&f.ctx(), emergency.activation.id, &reason).unwrap();
        assert_eq!(ended.state, ActivationState::Revoked);
        let again = f.store.end_emergency(&f.ctx(), emergency.activation.id, &reason).unwrap();
        assert_eq!(again.state, ActivationState::Revoked);
        assert_eq!(events(f, EventKind::EmergencyEnded).len(), 1);
        // The software on that machine learns it at its next check-in.
        let at = Utc::now();
        let outcome =
            f.store.check_in(at, &check_in(2, license, emergency.activation.id, at, false)).unwrap();
        assert_eq!(outcome.validity, Validity::SeatLost);
        // A normal activation is no emergency license.
        let err = f.store.end_emergency(&f.ctx(), lost, &reason).unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotFound);
    });
}

fn customer(f: &Fixture, email: &str) -> Uuid {
    let new = NewCustomer {
        email: parse(Email::parse(email)),
        name: name("Customer"),
        customer_number: None,
        password: None,
    };
    f.store.create_customer(&f.ctx(), &new).unwrap().id
}

/// A product with a self-service demo of 30 days; its code.
fn demo_product(f: &Fixture) -> ProductCode {
    let sku = f.item(LicenseModel::Demo { days: 30 }, rules());
    parse(ProductCode::parse(&sku.to_lowercase()))
}

#[test]
fn a_customer_gets_one_demo_and_a_machine_gets_one_demo() {
    Fixture::each(|f| {
        let product = demo_product(f);
        let anna = customer(f, "anna@example.com");
        let policy = DemoPolicy::default();
        let demo = f
            .store
            .request_demo(&f.ctx(), &product, DemoFor::Customer(anna), Some(&machine(1)), &policy)
            .unwrap();
        assert!(demo.ticket_code.is_some());
        let activated = demo.activation.as_ref().unwrap();
        assert_eq!(claims(&activated.certificate, f, Utc::now()).exp, demo.expires_at.map(|t| t.timestamp()));
        assert_eq!(f.store.list_customer_licenses(anna, Utc::now()).unwrap().len(), 1);

        let twice =
            f.store.request_demo(&f.ctx(), &product, DemoFor::Customer(anna), None, &policy).unwrap_err();
        assert_eq!(twice.code(), ErrorCode::DemoAlreadyUsed);
        // Another address on the same PC is the same machine.
        let bert = customer(f, "bert@example.com");
        let same_pc =
            f.store.request_demo(&f.ctx(), &product, DemoFor::Customer(bert), Some(&machine(1)), &policy);
        assert_eq!(same_pc.unwrap_err().code(), ErrorCode::DemoAlreadyUsed);
        assert!(f.store.list_customer_licenses(bert, Utc::now()).unwrap().is_empty(), "nothing half-written");
        // A product without a demo says so.
        let other = f.item(LicenseModel::Perpetual, rules());
        let none = parse(ProductCode::parse(&other.to_lowercase()));
        let err = f.store.request_demo(&f.ctx(), &none, DemoFor::Customer(bert), None, &policy).unwrap_err();
        assert_eq!(err.code(), ErrorCode::DemoNotOffered);
        // A refused domain gets none.
        let policy = DemoPolicy { refused_domains: vec!["example.com".to_owned()] };
        let err =
            f.store.request_demo(&f.ctx(), &product, DemoFor::Customer(bert), None, &policy).unwrap_err();
        assert_eq!(err.code(), ErrorCode::DemoDomainRefused);
    });
}

#[test]
fn racing_demo_requests_from_one_machine_give_exactly_one_demo() {
    Fixture::each(|f| {
        let product = demo_product(f);
        let customers: Vec<Uuid> = (0..6).map(|n| customer(f, &format!("racer{n}@example.com"))).collect();
        let given = std::thread::scope(|s| {
            let handles: Vec<_> = customers
                .iter()
                .map(|id| {
                    let product = product.clone();
                    s.spawn(move || {
                        f.store.request_demo(
                            &f.ctx(),
                            &product,
                            DemoFor::Customer(*id),
                            Some(&machine(7)),
                            &DemoPolicy::default(),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
        });
        let ok = given.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "{given:?}");
        assert!(
            given.iter().filter_map(|r| r.as_ref().err()).all(|e| e.code() == ErrorCode::DemoAlreadyUsed)
        );
        assert_eq!(events(f, EventKind::DemoRequested).len(), 1);
    });
}

#[test]
fn a_demo_for_the_software_mails_its_ticket_and_a_purchase_is_a_conversion() {
    Fixture::each(|f| {
        let product = demo_product(f);
        let links = keyport_store::mail::MailLinks {
            verify_email: "https://l.example/verify".to_owned(),
            set_password: "https://l.example/reset".to_owned(),
            portal: "https://l.example/depot".to_owned(),
            confirm_marketing: "https://l.example/newsletter/confirm".to_owned(),
            unsubscribe: "https://l.example/api/v1/unsubscribe".to_owned(),
        };
        let email = parse(Email::parse("new.user@example.org"));
        let who = DemoFor::Email { email: &email, lang: keyport_core::Lang::De, links: &links };
        let demo =
            f.store.request_demo(&f.ctx(), &product, who, Some(&machine(3)), &DemoPolicy::default()).unwrap();
        assert_eq!(demo.ticket_code, None, "the ticket goes to the address, not to the caller");
        let mail = f.store.claim_mail(Utc::now()).unwrap().unwrap();
        assert_eq!(mail.to, "new.user@example.org");
        assert!(mail.subject.starts_with("Ihre Demo von"), "{}", mail.subject);
        assert!(
            f.store.find_customer_by_email(&email).is_err(),
            "no account is made for an address nobody confirmed"
        );
        // Another address on the same PC: the machine had its demo.
        let other = parse(Email::parse("other.user@example.org"));
        let who = DemoFor::Email { email: &other, lang: keyport_core::Lang::En, links: &links };
        let again = f.store.request_demo(&f.ctx(), &product, who, Some(&machine(3)), &DemoPolicy::default());
        assert_eq!(again.unwrap_err().code(), ErrorCode::DemoAlreadyUsed);

        // The owner of the address opens an account, registers the mailed ticket and buys the
        // product: the demo converted.
        let owner = f
            .store
            .create_customer(
                &f.ctx(),
                &NewCustomer {
                    email: email.clone(),
                    name: name("New User"),
                    customer_number: None,
                    password: None,
                },
            )
            .unwrap();
        let code =
            mail.body.split_whitespace().map(|w| w.trim_end_matches('.')).find(|w| w.len() == 29).unwrap();
        let code = parse(keyport_core::TicketCode::parse(code));
        f.store.register_ticket(&f.ctx(), owner.id, &code).unwrap();
        let sku = keyport_core::Sku::parse(&format!("{}-FULL", product.as_str().to_uppercase())).unwrap();
        let spec = keyport_core::ItemSpec {
            sku: sku.clone(),
            product: product.clone(),
            name: name("Full"),
            model: LicenseModel::Perpetual,
            features: keyport_core::Features::default(),
            versions: keyport_core::VersionRange::new(5, None).unwrap(),
            rule_set: keyport_core::RuleSetName::parse(
                &f.store.get_item(&product.as_str().to_uppercase()).unwrap().rule_set,
            )
            .unwrap(),
            self_service: false,
            upgrade_from: Vec::new(),
        };
        f.store.define_item(&f.ctx(), &spec).unwrap();
        let request = keyport_tests::order_request(
            "A-1",
            keyport_core::OrderCustomer::ByEmail(email.clone()),
            &[(1, sku.as_str(), 1)],
        );
        f.store.create_order(&f.ctx(), &request).unwrap();
        let converted = events(f, EventKind::DemoConverted);
        assert_eq!(converted.len(), 1);
        assert_eq!(converted[0].data["demo_license_id"], demo.license_id.to_string());
        // Sent again, the order records no second conversion.
        f.store.create_order(&f.ctx(), &request).unwrap();
        assert_eq!(events(f, EventKind::DemoConverted).len(), 1);
    });
}

#[test]
fn a_machine_reporting_a_new_version_with_every_check_in_cannot_grow_the_usage_table() {
    Fixture::each(|f| {
        let now = Utc::now();
        let (license, activation) = checked(f, now - Duration::days(1));
        for n in 0..20i64 {
            let statement = keyport_core::checkin::CheckIn {
                activation_id: activation,
                license_id: license,
                machine_key: machine(1).key.to_string(),
                at_ms: now.timestamp_millis() + n,
                queued: false,
                report: keyport_core::checkin::ClientReport {
                    version: format!("5.{n}.0"),
                    os: "linux".to_owned(),
                    os_version: String::new(),
                    arch: String::new(),
                    locale: String::new(),
                },
            };
            let proof = parse(keyport_core::files::write(&statement, &keyport_tests::machine_seed(1)));
            f.store.check_in(now, &proof).unwrap();
        }
        let cap = keyport_core::checkin::MAX_VERSIONS_PER_DAY + 1;
        // One day may straddle midnight UTC during the loop: at most two days' rows.
        assert!(table(f, "usage_days") <= 2 * cap, "{}", table(f, "usage_days"));
        assert!(table(f, "usage_days") >= cap);
    });
}

#[test]
fn a_recovery_to_another_machine_ends_the_emergency_license_that_stood_in() {
    Fixture::each(|f| {
        let start = Utc::now() - Duration::days(40);
        let license = f.license_at(start, emergency_rules(1));
        let lost =
            f.store.activate(&f.ctx_at(start), Scope::Staff, license, &machine(1)).unwrap().activation.id;
        let emergency = f
            .store
            .start_emergency(&f.ctx_at(start + Duration::days(28)), Scope::Staff, lost, &machine(2))
            .unwrap();
        let at = start + Duration::days(31);
        f.store.recover(&f.ctx_at(at), Scope::Staff, lost, &machine(3)).unwrap();
        let view = f.store.get_license(Scope::Staff, license, at).unwrap();
        let stood_in = view.activations.iter().find(|a| a.id == emergency.activation.id).unwrap();
        assert_eq!(stood_in.state, ActivationState::Expired);
        assert_eq!(view.activations.iter().filter(|a| a.state == ActivationState::Active).count(), 1);
    });
}

#[test]
fn a_demo_license_activated_later_claims_its_machine() {
    Fixture::each(|f| {
        let product = demo_product(f);
        let anna = customer(f, "anna@example.com");
        let policy = DemoPolicy::default();
        let demo = f.store.request_demo(&f.ctx(), &product, DemoFor::Customer(anna), None, &policy).unwrap();
        f.store.activate(&f.ctx(), Scope::Customer(anna), demo.license_id, &machine(4)).unwrap();
        let bert = customer(f, "bert@example.com");
        let err =
            f.store.request_demo(&f.ctx(), &product, DemoFor::Customer(bert), Some(&machine(4)), &policy);
        assert_eq!(err.unwrap_err().code(), ErrorCode::DemoAlreadyUsed);
        // A shop asking again for the same customer gets the same demo.
        let carl = parse(Email::parse("carl@example.com"));
        let first = f.store.request_demo(&f.ctx(), &product, DemoFor::Shop(&carl), None, &policy).unwrap();
        let retry = f.store.request_demo(&f.ctx(), &product, DemoFor::Shop(&carl), None, &policy).unwrap();
        assert_eq!(
            (retry.license_id, retry.ticket_code.clone()),
            (first.license_id, first.ticket_code.clone())
        );
        // A very long address names its new account without failing.
        let long = parse(Email::parse(&format!("{}@example.com", "x".repeat(230))));
        assert!(f.store.request_demo(&f.ctx(), &product, DemoFor::Shop(&long), None, &policy).is_ok());
    });
}
