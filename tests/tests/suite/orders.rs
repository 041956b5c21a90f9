use chrono::{Duration, Utc};
use keyport_core::{
    CustomerNumber, DisplayName, Email, ErrorCode, Lang, LicenseModel, LicenseState, OrderCustomer,
    TicketCode,
};
use keyport_store::NewCustomer;
use keyport_store::Scope;
use keyport_tests::{Fixture, order_request, parse, rules};

#[test]
fn an_order_gives_one_ticket_with_a_license_per_unit() {
    Fixture::each(|f| {
        let sku = f.item(LicenseModel::Perpetual, rules());
        let request = order_request("A-1", OrderCustomer::None, &[(1, &sku, 2), (2, &sku, 1)]);
        let outcome = f.store.create_order(&f.ctx(), &request).unwrap();
        assert!(outcome.created);
        assert_eq!(outcome.added_lines, vec![1, 2]);
        let counts: Vec<usize> = outcome.order.lines.iter().map(|l| l.license_ids.len()).collect();
        assert_eq!(counts, vec![2, 1]);
        let code = parse(TicketCode::parse(&outcome.order.ticket_code));
        let ticket = f.store.lookup_ticket(&code, Utc::now()).unwrap();
        assert_eq!(ticket.licenses.len(), 3);
        assert!(ticket.licenses.iter().all(|l| l.state == LicenseState::Inactive && l.seats == 3));
    });
}

#[test]
fn sending_the_same_order_again_changes_nothing() {
    Fixture::each(|f| {
        let sku = f.item(LicenseModel::Perpetual, rules());
        let request = order_request("A-1", OrderCustomer::None, &[(1, &sku, 2)]);
        let first = f.store.create_order(&f.ctx(), &request).unwrap();
        let again = f.store.create_order(&f.ctx(), &request).unwrap();
        assert!(!again.created);
        assert!(again.added_lines.is_empty());
        assert_eq!(again.order, first.order);
    });
}

#[test]
fn a_later_line_extends_the_same_ticket() {
    Fixture::each(|f| {
        let sku = f.item(LicenseModel::Perpetual, rules());
        let first = f
            .store
            .create_order(&f.ctx(), &order_request("A-1", OrderCustomer::None, &[(1, &sku, 1)]))
            .unwrap();
        let request = order_request("A-1", OrderCustomer::None, &[(1, &sku, 1), (2, &sku, 3)]);
        let extended = f.store.create_order(&f.ctx(), &request).unwrap();
        assert_eq!(extended.added_lines, vec![2]);
        assert_eq!(extended.order.ticket_code, first.order.ticket_code);
        let code = parse(TicketCode::parse(&first.order.ticket_code));
        assert_eq!(f.store.lookup_ticket(&code, Utc::now()).unwrap().licenses.len(), 4);
    });
}

#[test]
fn a_line_number_sent_again_with_other_content_is_refused_and_nothing_is_written() {
    Fixture::each(|f| {
        let sku = f.item(LicenseModel::Perpetual, rules());
        f.store.create_order(&f.ctx(), &order_request("A-1", OrderCustomer::None, &[(1, &sku, 1)])).unwrap();
        let changed = order_request("A-1", OrderCustomer::None, &[(1, &sku, 5), (2, &sku, 1)]);
        let err = f.store.create_order(&f.ctx(), &changed).unwrap_err();
        assert_eq!(err.code(), ErrorCode::OrderLineConflict);
        let order = f.store.get_order("webshop", "A-1").unwrap();
        assert_eq!(order.lines.len(), 1, "line 2 must not be written when line 1 conflicts");
    });
}

#[test]
fn an_order_with_an_unknown_item_writes_no_ticket() {
    Fixture::each(|f| {
        let sku = f.item(LicenseModel::Perpetual, rules());
        let request = order_request("A-1", OrderCustomer::None, &[(1, &sku, 1), (2, "NOPE", 1)]);
        let err = f.store.create_order(&f.ctx(), &request).unwrap_err();
        assert_eq!(
            err.as_domain().map(|e| e.message(Lang::En)).as_deref(),
            Some("No item with SKU NOPE was found.")
        );
        assert_eq!(f.store.get_order("webshop", "A-1").unwrap_err().code(), ErrorCode::NotFound);
    });
}

#[test]
fn an_order_for_a_known_customer_registers_the_ticket_to_them() {
    Fixture::each(|f| {
        let sku = f.item(LicenseModel::Perpetual, rules());
        let customer = NewCustomer {
            email: parse(Email::parse("anna@example.com")),
            name: parse(DisplayName::parse("Anna")),
            customer_number: Some(parse(CustomerNumber::parse("K-100"))),
            password: None,
        };
        let anna = f.store.create_customer(&f.ctx(), &customer).unwrap();
        let by_number = OrderCustomer::ByNumber(parse(CustomerNumber::parse("K-100")));
        let outcome =
            f.store.create_order(&f.ctx(), &order_request("A-1", by_number, &[(1, &sku, 2)])).unwrap();
        assert_eq!(outcome.order.customer_id, Some(anna.id));
        assert_eq!(f.store.list_customer_licenses(anna.id, Utc::now()).unwrap().len(), 2);
    });
}

#[test]
fn an_order_for_an_unknown_customer_is_refused() {
    Fixture::each(|f| {
        let sku = f.item(LicenseModel::Perpetual, rules());
        let who = OrderCustomer::ByEmail(parse(Email::parse("nobody@example.com")));
        let err = f.store.create_order(&f.ctx(), &order_request("A-1", who, &[(1, &sku, 1)])).unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotFound);
    });
}

#[test]
fn a_subscription_license_expires_after_its_term() {
    Fixture::each(|f| {
        let start = Utc::now() - Duration::days(400);
        let sku = f.item_at(start, LicenseModel::Subscription { days: 365 }, rules());
        let outcome = f.order_at(start, &sku, 1);
        let license = outcome.order.lines[0].license_ids[0];
        let view = f.store.get_license(Scope::Staff, license, Utc::now()).unwrap();
        assert_eq!(view.state, LicenseState::Expired);
        assert_eq!(view.expires_at, Some(view.starts_at + Duration::days(365)));
        let err = f.store.activate(&f.ctx(), Scope::Staff, license, &keyport_tests::machine(1)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::LicenseExpired);
    });
}
