use chrono::Utc;
use keyport_core::{Actor, Channel, EventKind, LicenseModel};
use keyport_store::Scope;
use keyport_store::{Context, EventFilter};
use keyport_tests::{Fixture, machine, rules};

#[test]
fn every_change_is_recorded_with_actor_channel_and_time() {
    Fixture::each(|f| {
        let license = f.license_at(Utc::now(), rules());
        let key = uuid::Uuid::now_v7();
        let soap = Context::new(Actor::ApiKey(key), Channel::Soap, Utc::now());
        f.store.activate(&soap, Scope::Staff, license, &machine(1)).unwrap();
        let page = f
            .store
            .query_events(&EventFilter { license_id: Some(license), ..EventFilter::default() })
            .unwrap();
        assert_eq!(page.items.len(), 1);
        let event = &page.items[0];
        assert_eq!(event.kind, "license_activated");
        assert_eq!(event.actor, format!("api_key:{key}"));
        assert_eq!(event.channel, "soap");
        assert_eq!(event.at, soap.now);
        assert!(event.data["activation_id"].is_string());
    });
}

#[test]
fn the_event_log_pages_with_a_cursor_and_filters_by_kind() {
    Fixture::each(|f| {
        let sku = f.item(LicenseModel::Perpetual, rules());
        for _ in 0..5 {
            f.order(&sku, 1);
        }
        let mut seen = Vec::new();
        let mut filter =
            EventFilter { kind: Some(EventKind::OrderCreated), limit: Some(2), ..EventFilter::default() };
        loop {
            let page = f.store.query_events(&filter).unwrap();
            assert!(page.items.len() <= 2);
            seen.extend(page.items.iter().map(|e| e.seq));
            match page.next_cursor {
                Some(cursor) => filter.after = Some(cursor),
                None => break,
            }
        }
        assert_eq!(seen.len(), 5);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "oldest first, no repeats: {seen:?}");
        let all = f.store.query_events(&EventFilter::default()).unwrap();
        // product, rule set, item, five orders.
        assert_eq!(all.items.len(), 8);
    });
}

#[test]
fn a_bad_cursor_or_limit_is_refused() {
    Fixture::each(|f| {
        let bad_cursor = EventFilter { after: Some("yesterday".to_owned()), ..EventFilter::default() };
        assert_eq!(
            f.store.query_events(&bad_cursor).unwrap_err().code(),
            keyport_core::ErrorCode::InvalidInput
        );
        let bad_limit = EventFilter { limit: Some(0), ..EventFilter::default() };
        assert_eq!(
            f.store.query_events(&bad_limit).unwrap_err().code(),
            keyport_core::ErrorCode::InvalidInput
        );
    });
}
