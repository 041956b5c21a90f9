use keyport_store::Scope;
use std::sync::Arc;

use chrono::Utc;
use keyport_core::{ErrorCode, LicenseModel, OrderCustomer};
use keyport_tests::{Fixture, machine, order_request, rules};

#[test]
fn sixty_four_machines_racing_for_three_seats_give_exactly_three_activations() {
    Fixture::each(|f| {
        let license = f.license_at(Utc::now(), rules());
        let store = Arc::new(f.store.clone());
        let barrier = Arc::new(std::sync::Barrier::new(64));
        let handles: Vec<_> = (0..64)
            .map(|n| {
                let (store, barrier, ctx) = (store.clone(), barrier.clone(), f.ctx());
                std::thread::spawn(move || {
                    barrier.wait();
                    store
                        .activate(&ctx, Scope::Staff, license, &machine(n))
                        .map(|o| o.created)
                        .map_err(|e| (e.code(), e.to_string()))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let won = results.iter().filter(|r| matches!(r, Ok(true))).count();
        let refused = results.iter().filter(|r| matches!(r, Err((ErrorCode::SeatsExhausted, _)))).count();
        let other: Vec<_> =
            results.iter().filter(|r| !matches!(r, Ok(true) | Err((ErrorCode::SeatsExhausted, _)))).collect();
        assert!(other.is_empty(), "unexpected outcomes: {other:?}");
        assert_eq!((won, refused), (3, 61));
        assert_eq!(f.store.get_license(Scope::Staff, license, Utc::now()).unwrap().seats_in_use, 3);
    });
}

#[test]
fn thirty_two_racing_submissions_of_one_order_give_one_ticket() {
    Fixture::each(|f| {
        let sku = f.item(LicenseModel::Perpetual, rules());
        let store = Arc::new(f.store.clone());
        let barrier = Arc::new(std::sync::Barrier::new(32));
        let handles: Vec<_> = (0..32)
            .map(|_| {
                let (store, barrier, ctx, sku) = (store.clone(), barrier.clone(), f.ctx(), sku.clone());
                std::thread::spawn(move || {
                    let request = order_request("RACE-1", OrderCustomer::None, &[(1, &sku, 2)]);
                    barrier.wait();
                    store.create_order(&ctx, &request).map_err(|e| e.to_string())
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let outcomes: Vec<_> = results.into_iter().collect::<Result<_, _>>().unwrap();
        let created = outcomes.iter().filter(|o| o.created).count();
        assert_eq!(created, 1);
        let tickets: std::collections::HashSet<_> =
            outcomes.iter().map(|o| o.order.ticket_code.clone()).collect();
        assert_eq!(tickets.len(), 1, "every caller must get the same ticket");
        let order = f.store.get_order("webshop", "RACE-1").unwrap();
        assert_eq!(order.lines.len(), 1);
        assert_eq!(order.lines[0].license_ids.len(), 2);
    });
}
