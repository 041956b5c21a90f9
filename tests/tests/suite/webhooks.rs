//! The event feed in commit order, and the webhook outbox made from it (store level; the
//! sending is tested for real in `tests/webhooks.py`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{Duration, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use keyport_core::webhook::{EndpointUrl, RetryPolicy, Secret, Selection};
use keyport_core::{ErrorCode, ProductCode, ProductSpec};
use keyport_store::{AttemptOutcome, Backend, ClaimRequest, DeliveryState, EventFilter, Store};
use keyport_tests::{Fixture, rules};

/// What one instance claims at `at`: up to 10 deliveries, held 30 s, 8 per endpoint.
fn claim(store: &Store, at: chrono::DateTime<Utc>) -> Vec<keyport_store::DueDelivery> {
    let request =
        ClaimRequest { max: 10, hold: Duration::seconds(30), per_endpoint: 8, in_flight: &HashMap::new() };
    store.claim_webhook_deliveries(at, &request).unwrap()
}

fn spec(url: &str, kinds: &[&str]) -> keyport_core::webhook::EndpointSpec {
    keyport_core::webhook::EndpointSpec {
        url: EndpointUrl::parse(url).unwrap(),
        description: "test".to_owned(),
        selection: Selection::parse(&kinds.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>()).unwrap(),
    }
}

fn product(store: &Store, ctx: &keyport_store::Context, code: &str) {
    let spec = ProductSpec {
        code: ProductCode::parse(code).unwrap(),
        name: keyport_core::DisplayName::parse(code).unwrap(),
    };
    store.define_product(ctx, &spec).unwrap();
}

/// Reads the whole feed from `after`, page by page; answers the ids and the last cursor.
fn drain(store: &Store, after: &mut Option<String>, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let page = store
            .query_events(&EventFilter { after: after.clone(), limit: Some(limit), ..EventFilter::default() })
            .unwrap();
        if let Some(last) = page.items.last() {
            *after = Some(last.cursor.clone());
        }
        ids.extend(page.items.iter().map(|e| e.id.to_string()));
        if page.next_cursor.is_none() {
            return ids;
        }
    }
}

/// A reader that tails the feed while many writers commit after random delays (and some
/// roll back) sees every committed event exactly once and nothing rolled back. On
/// PostgreSQL the writers are two store instances running use cases plus raw transactions
/// that sleep between writing their events and committing, so numbers commit out of order.
#[test]
fn a_reader_tailing_the_feed_sees_every_committed_event_once() {
    Fixture::each(|f| {
        let second = Store::open(f.url(), keyport_store::PoolOptions::server(8)).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (store, done) = (f.store.clone(), done.clone());
            std::thread::spawn(move || {
                let mut after = None;
                let mut seen = Vec::new();
                while !done.load(Ordering::SeqCst) {
                    seen.extend(drain(&store, &mut after, 7));
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                seen.extend(drain(&store, &mut after, 7));
                seen
            })
        };
        let mut writers = Vec::new();
        for (n, store) in [f.store.clone(), second.clone()].into_iter().enumerate() {
            writers.push(std::thread::spawn(move || {
                let ctx = keyport_store::Context::new(
                    keyport_core::Actor::System,
                    keyport_core::Channel::Rest,
                    Utc::now(),
                );
                for i in 0..40 {
                    product(&store, &ctx, &format!("feed{n}x{i}"));
                }
            }));
        }
        let rolled_back = Arc::new(std::sync::Mutex::new(Vec::new()));
        if f.backend() == Backend::Postgres {
            let url = f.url_text();
            for w in 0..6 {
                let (url, rolled_back) = (url.clone(), rolled_back.clone());
                writers.push(std::thread::spawn(move || {
                    let mut conn = diesel::PgConnection::establish(&url).unwrap();
                    for i in 0..30 {
                        let ids = [uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string()];
                        let commit = (w + i) % 5 != 0;
                        let sleep = ((w * 7 + i * 13) % 20) as f64 / 1000.0;
                        let mut sql = String::from("BEGIN;");
                        for id in &ids {
                            sql.push_str(&format!(
                                "INSERT INTO events (id, kind, subject_type, subject_id, actor, channel, data, at) \
                                 VALUES ('{id}', 'product_defined', 'product', 'raw', 'system', 'rest', '{{}}', now());"
                            ));
                            sql.push_str(&format!("SELECT pg_sleep({sleep});"));
                        }
                        sql.push_str(if commit { "COMMIT;" } else { "ROLLBACK;" });
                        conn.batch_execute(&sql).unwrap();
                        if !commit {
                            rolled_back.lock().unwrap().extend(ids);
                        }
                    }
                }));
            }
        }
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        let seen = reader.join().unwrap();
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "an event was read twice");
        let mut after = None;
        let all: HashSet<String> = drain(&f.store, &mut after, 500).into_iter().collect();
        let seen: HashSet<String> = seen.into_iter().collect();
        let missed: Vec<&String> = all.difference(&seen).collect();
        assert!(missed.is_empty(), "the reader skipped {} committed events: {missed:?}", missed.len());
        let expected = if f.backend() == Backend::Postgres {
            80 + 6 * 30 * 2 - rolled_back.lock().unwrap().len()
        } else {
            80
        };
        assert_eq!(all.len(), expected);
        assert!(
            rolled_back.lock().unwrap().iter().all(|id| !seen.contains(id)),
            "a rolled-back event was read"
        );
        if f.backend() == Backend::Postgres {
            // The test means something only if numbers did commit out of order.
            #[derive(QueryableByName)]
            struct Count {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let mut conn = diesel::PgConnection::establish(&f.url_text()).unwrap();
            let crossed: Count = diesel::sql_query(
                "SELECT COUNT(*) AS n FROM events a JOIN events b ON a.seq < b.seq AND a.feed_pos > b.feed_pos",
            )
            .get_result(&mut conn)
            .unwrap();
            assert!(crossed.n > 0, "no event committed after a larger number; the test proved nothing");
        }
    });
}

#[test]
fn a_cursor_of_the_first_release_still_reads_on() {
    Fixture::each(|f| {
        f.item(keyport_core::LicenseModel::Perpetual, rules());
        let all = f.store.query_events(&EventFilter::default()).unwrap().items;
        assert_eq!(all.len(), 3);
        let old_style = EventFilter { after: Some(all[0].seq.to_string()), ..EventFilter::default() };
        let rest: Vec<_> =
            f.store.query_events(&old_style).unwrap().items.into_iter().map(|e| e.id).collect();
        assert_eq!(rest, vec![all[1].id, all[2].id]);
        let bad = EventFilter { after: Some("-1".to_owned()), ..EventFilter::default() };
        assert_eq!(f.store.query_events(&bad).unwrap_err().code(), ErrorCode::InvalidInput);
    });
}

#[test]
fn events_become_deliveries_for_the_endpoints_that_want_them() {
    Fixture::each(|f| {
        let ctx = f.ctx();
        let all = f.store.create_webhook_endpoint(&ctx, &spec("http://127.0.0.1:9/all", &[])).unwrap();
        let orders =
            f.store.create_webhook_endpoint(&ctx, &spec("http://127.0.0.1:9/o", &["order_created"])).unwrap();
        assert!(Secret::parse(&all.secret).is_ok());
        let sku = f.item(keyport_core::LicenseModel::Perpetual, rules());
        let order = f.order(&sku, 1);
        let code = order.order.ticket_code.clone();
        while f.store.fan_out_webhooks(Utc::now(), 2).unwrap() > 0 {}
        let list = |id: uuid::Uuid| f.store.list_webhook_deliveries(id, None, None, Some(500)).unwrap().items;
        let to_all = list(all.endpoint.id);
        // The endpoints' own creation events, product, rule set, item, order.
        let kinds: Vec<&str> = to_all.iter().rev().map(|d| d.event_kind.as_str()).collect();
        assert!(
            kinds.ends_with(&["product_defined", "rule_set_defined", "item_defined", "order_created"]),
            "{kinds:?}"
        );
        let to_orders = list(orders.endpoint.id);
        assert_eq!(to_orders.len(), 1);
        assert_eq!(to_orders[0].state, DeliveryState::Pending);
        let named = f.store.get_webhook_delivery(to_orders[0].id, Utc::now()).unwrap().payload;
        assert_eq!(named["type"], "order_created");
        assert_eq!(named["data"]["resource"]["ticket_code"], code.as_str());
        let masked_id = to_all.iter().find(|d| d.event_kind == "order_created").unwrap().id;
        let masked = f.store.get_webhook_delivery(masked_id, Utc::now()).unwrap().payload;
        assert!(!masked.to_string().contains(&code), "an every-kind endpoint saw a ticket code");
        // Fanning out again changes nothing.
        assert_eq!(f.store.fan_out_webhooks(Utc::now(), 100).unwrap(), 0);
        assert_eq!(list(orders.endpoint.id).len(), 1);
    });
}

#[test]
fn a_claimed_delivery_is_not_claimed_twice_and_retries_back_off_then_give_up() {
    Fixture::each(|f| {
        let ctx = f.ctx();
        let endpoint = f
            .store
            .create_webhook_endpoint(&ctx, &spec("http://127.0.0.1:9/", &["product_defined"]))
            .unwrap();
        product(&f.store, &ctx, "claim");
        let now = Utc::now();
        f.store.fan_out_webhooks(now, 100).unwrap();
        let second = Store::open(f.url(), keyport_store::PoolOptions::server(4)).unwrap();
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| claim(&f.store, now));
            let b = s.spawn(|| claim(&second, now));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!(a.len() + b.len(), 1, "one instance claims the delivery");
        let due = a.into_iter().chain(b).next().unwrap();
        assert!(claim(&f.store, now + Duration::seconds(5)).is_empty());
        let policy = RetryPolicy {
            first: Duration::seconds(10),
            factor: 4,
            cap: Duration::hours(1),
            window: Duration::minutes(5),
        };
        let fail = |due: &keyport_store::DueDelivery, at| AttemptOutcome {
            delivery_id: due.id.clone(),
            endpoint_id: due.endpoint_id.clone(),
            at,
            status: Some(500),
            error: Some("HTTP 500".to_owned()),
            latency_ms: 3,
            jitter: 0.5,
            attempts_before: due.attempts,
            created_at: due.created_at,
            claim: due.claim.clone(),
        };
        assert_eq!(due.attempts, 0);
        f.store.record_webhook_attempts(&[fail(&due, now)], &policy).unwrap();
        let pending = f.store.list_webhook_deliveries(endpoint.endpoint.id, None, None, None).unwrap().items;
        assert_eq!(pending[0].state, DeliveryState::Pending);
        let next = pending[0].next_attempt_at.unwrap();
        assert!(next >= now + Duration::seconds(8) && next <= now + Duration::seconds(12), "{next}");
        assert!(claim(&f.store, now + Duration::seconds(5)).is_empty());
        let again = claim(&f.store, next);
        assert_eq!((again.len(), again[0].attempts), (1, 1));
        // An outcome under the first, expired claim changes nothing but the attempt list.
        f.store.record_webhook_attempts(&[fail(&due, next)], &policy).unwrap();
        let still = f.store.get_webhook_delivery(pending[0].id, Utc::now()).unwrap();
        assert_eq!((still.delivery.state, still.delivery.attempts), (DeliveryState::Pending, 1));
        // The window is spent: given up, and the endpoint that failed for a window disabled.
        f.store.record_webhook_attempts(&[fail(&again[0], now + Duration::minutes(6))], &policy).unwrap();
        let detail = f.store.get_webhook_delivery(pending[0].id, Utc::now()).unwrap();
        assert_eq!(detail.delivery.state, DeliveryState::Failed);
        assert_eq!(detail.attempts.len(), 3, "three attempts were made, one under a stale claim");
        let view = f.store.get_webhook_endpoint(endpoint.endpoint.id).unwrap();
        assert!(!view.enabled);
        assert!(view.disabled_reason.unwrap().contains("HTTP 500"));
        let disabled = f.store.query_events(&EventFilter {
            kind: Some(keyport_core::EventKind::WebhookEndpointDisabled),
            ..EventFilter::default()
        });
        assert_eq!(disabled.unwrap().items.len(), 1);
        // A disabled endpoint's delivery cannot be resent until it is enabled again.
        let err = f.store.resend_webhook_delivery(&ctx, pending[0].id).unwrap_err();
        assert_eq!(err.code(), ErrorCode::EndpointDisabled);
        let enable = keyport_core::webhook::EndpointChanges { enabled: Some(true), ..Default::default() };
        let view = f.store.update_webhook_endpoint(&ctx, endpoint.endpoint.id, &enable).unwrap();
        assert!(view.enabled && view.disabled_reason.is_none() && view.failing_since.is_none());
        let resent = f.store.resend_webhook_delivery(&ctx, pending[0].id).unwrap();
        assert_eq!(resent.state, DeliveryState::Pending);
    });
}

#[test]
fn endpoints_are_bounded_and_deleting_one_takes_its_deliveries() {
    Fixture::each(|f| {
        let ctx = f.ctx();
        let mut ids = Vec::new();
        for n in 0..keyport_core::webhook::MAX_ENDPOINTS {
            ids.push(
                f.store
                    .create_webhook_endpoint(&ctx, &spec(&format!("http://127.0.0.1:9/{n}"), &[]))
                    .unwrap()
                    .endpoint
                    .id,
            );
        }
        let err = f.store.create_webhook_endpoint(&ctx, &spec("http://127.0.0.1:9/x", &[])).unwrap_err();
        assert_eq!(err.code(), ErrorCode::TooManyEndpoints);
        let mut pages = HashMap::new();
        let mut after: Option<String> = None;
        loop {
            let page = f.store.list_webhook_endpoints(after.as_deref(), Some(7)).unwrap();
            for e in &page.items {
                pages.insert(e.id, ());
            }
            match page.next_cursor {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        assert_eq!(pages.len(), ids.len(), "paging lists every endpoint once");
        product(&f.store, &ctx, "gone");
        while f.store.fan_out_webhooks(Utc::now(), 500).unwrap() > 0 {}
        f.store.delete_webhook_endpoint(&ctx, ids[0]).unwrap();
        assert_eq!(f.store.delete_webhook_endpoint(&ctx, ids[0]).unwrap_err().code(), ErrorCode::NotFound);
        let sizes: HashMap<&str, i64> = f.store.table_sizes().unwrap().into_iter().collect();
        // Every endpoint got the "gone" product and the endpoints created after it ... minus the deleted one's.
        assert!(sizes["webhook_deliveries"] > 0);
        let secret = f.store.webhook_secret(ids[1], Utc::now()).unwrap();
        let rotated = f.store.rotate_webhook_secret(&ctx, ids[1], Duration::hours(1)).unwrap();
        assert_eq!(rotated.previous_secret.as_deref(), Some(secret.secret.as_str()));
        assert_ne!(rotated.secret, secret.secret);
        let later = f.store.webhook_secret(ids[1], Utc::now() + Duration::hours(2)).unwrap();
        assert!(later.previous_secret.is_none(), "the previous secret stops after the overlap");
    });
}

#[test]
fn delivered_deliveries_are_pruned_after_their_retention() {
    Fixture::each(|f| {
        let ctx = f.ctx();
        f.store.create_webhook_endpoint(&ctx, &spec("http://127.0.0.1:9/", &["product_defined"])).unwrap();
        product(&f.store, &ctx, "prune");
        let now = Utc::now();
        f.store.fan_out_webhooks(now, 100).unwrap();
        let due = f
            .store
            .claim_webhook_deliveries(
                now,
                &ClaimRequest {
                    max: 10,
                    hold: Duration::seconds(30),
                    per_endpoint: 8,
                    in_flight: &HashMap::new(),
                },
            )
            .unwrap();
        let ok = AttemptOutcome {
            delivery_id: due[0].id.clone(),
            endpoint_id: due[0].endpoint_id.clone(),
            at: now,
            status: Some(200),
            error: None,
            latency_ms: 1,
            jitter: 0.0,
            attempts_before: 0,
            created_at: due[0].created_at,
            claim: due[0].claim.clone(),
        };
        f.store.record_webhook_attempts(&[ok], &RetryPolicy::default()).unwrap();
        let retention = keyport_store::Retention::default();
        assert_eq!(f.store.prune(&retention, now, 100).unwrap().webhook_deliveries, 0);
        let pruned =
            f.store.prune(&retention, now + retention.webhook_deliveries + Duration::hours(1), 100).unwrap();
        assert_eq!(pruned.webhook_deliveries, 1);
        let sizes: HashMap<&str, i64> = f.store.table_sizes().unwrap().into_iter().collect();
        assert_eq!((sizes["webhook_deliveries"], sizes["webhook_attempts"]), (0, 0));
    });
}

#[test]
fn a_moved_database_does_not_send_its_history_again() {
    let mut pairs = vec![(keyport_tests::TestDb::sqlite(), keyport_tests::TestDb::sqlite())];
    if let Ok(admin) = std::env::var("KEYPORT_TEST_POSTGRES_URL")
        && !admin.trim().is_empty()
    {
        pairs.push((keyport_tests::TestDb::sqlite(), keyport_tests::TestDb::postgres(admin.trim())));
        pairs.push((keyport_tests::TestDb::postgres(admin.trim()), keyport_tests::TestDb::sqlite()));
    }
    for (from, to) in pairs {
        eprintln!("--- from {:?} to {:?}", from.backend(), to.backend());
        let source = Fixture::new(from);
        let ctx = source.ctx();
        let endpoint = source
            .store
            .create_webhook_endpoint(&ctx, &spec("http://127.0.0.1:9/", &["product_defined"]))
            .unwrap();
        product(&source.store, &ctx, "moved");
        while source.store.fan_out_webhooks(Utc::now(), 500).unwrap() > 0 {}
        let mut file = Vec::new();
        source.store.export(&mut file).unwrap();
        let target = Fixture::new(to);
        target.store.import(file.as_slice()).unwrap();
        let listed = |f: &Fixture| {
            f.store.list_webhook_deliveries(endpoint.endpoint.id, None, None, Some(500)).unwrap().items
        };
        assert_eq!(listed(&target).len(), 1, "the delivery moved with the database");
        while target.store.fan_out_webhooks(Utc::now(), 500).unwrap() > 0 {}
        assert_eq!(listed(&target).len(), 1, "nothing of the history is made again");
        product(&target.store, &target.ctx(), "after");
        while target.store.fan_out_webhooks(Utc::now(), 500).unwrap() > 0 {}
        assert_eq!(listed(&target).len(), 2, "what happens after the move is delivered");
        let feed =
            target.store.query_events(&EventFilter { limit: Some(500), ..EventFilter::default() }).unwrap();
        let kinds: Vec<&str> = feed.items.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds.last(), Some(&"product_defined"));
        assert_eq!(feed.items.len(), 3, "the endpoint's creation, both products: each once, in order");
    }
}

#[test]
fn a_paused_endpoint_keeps_its_deliveries_for_when_it_is_back() {
    Fixture::each(|f| {
        let ctx = f.ctx();
        let endpoint = f
            .store
            .create_webhook_endpoint(&ctx, &spec("http://127.0.0.1:9/", &["product_defined"]))
            .unwrap();
        let id = endpoint.endpoint.id;
        let pause = keyport_core::webhook::EndpointChanges { enabled: Some(false), ..Default::default() };
        f.store.update_webhook_endpoint(&ctx, id, &pause).unwrap();
        for n in 0..3 {
            product(&f.store, &ctx, &format!("paused{n}"));
        }
        while f.store.fan_out_webhooks(Utc::now(), 500).unwrap() > 0 {}
        let hold = Duration::seconds(30);
        assert!(claim(&f.store, Utc::now()).is_empty());
        let resume = keyport_core::webhook::EndpointChanges { enabled: Some(true), ..Default::default() };
        f.store.update_webhook_endpoint(&ctx, id, &resume).unwrap();
        // At most one in flight per endpoint when the cap says so.
        let one = f
            .store
            .claim_webhook_deliveries(
                Utc::now(),
                &ClaimRequest { max: 10, hold, per_endpoint: 1, in_flight: &HashMap::new() },
            )
            .unwrap();
        assert_eq!(one.len(), 1);
        let busy: HashMap<String, usize> = [(one[0].endpoint_id.clone(), 1)].into_iter().collect();
        assert!(
            f.store
                .claim_webhook_deliveries(
                    Utc::now(),
                    &ClaimRequest { max: 10, hold, per_endpoint: 1, in_flight: &busy }
                )
                .unwrap()
                .is_empty()
        );
        assert_eq!(claim(&f.store, Utc::now()).len(), 2);
    });
}

#[test]
fn a_repeated_rotation_keeps_the_secret_receivers_still_hold() {
    Fixture::each(|f| {
        let ctx = f.ctx();
        let created = f.store.create_webhook_endpoint(&ctx, &spec("http://127.0.0.1:9/", &[])).unwrap();
        let id = created.endpoint.id;
        let first = f.store.rotate_webhook_secret(&ctx, id, Duration::hours(1)).unwrap();
        let second = f.store.rotate_webhook_secret(&ctx, id, Duration::hours(1)).unwrap();
        assert_eq!(first.previous_secret.as_deref(), Some(created.secret.as_str()));
        assert_eq!(
            second.previous_secret.as_deref(),
            Some(created.secret.as_str()),
            "the original keeps signing"
        );
        assert_ne!(second.secret, first.secret);
        let events =
            f.store.query_events(&EventFilter { limit: Some(500), ..EventFilter::default() }).unwrap();
        let text = serde_json::to_string(&events.items).unwrap();
        assert!(!text.contains("whsec_") && !text.contains("127.0.0.1:9/\""), "no secret, no path in events");
    });
}

#[test]
fn an_endpoint_with_a_backlog_never_crowds_out_the_others() {
    Fixture::each(|f| {
        let ctx = f.ctx();
        let slow = f
            .store
            .create_webhook_endpoint(&ctx, &spec("http://127.0.0.1:9/slow", &["product_defined"]))
            .unwrap();
        for n in 0..20 {
            product(&f.store, &ctx, &format!("backlog{n}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        let fast = f
            .store
            .create_webhook_endpoint(&f.ctx(), &spec("http://127.0.0.1:9/fast", &["product_defined"]))
            .unwrap();
        product(&f.store, &f.ctx(), "late");
        while f.store.fan_out_webhooks(Utc::now(), 500).unwrap() > 0 {}
        // The slow endpoint has its 2 attempts in flight: the round claims the fast one's.
        let busy: HashMap<String, usize> = [(slow.endpoint.id.to_string(), 2)].into_iter().collect();
        let due = f
            .store
            .claim_webhook_deliveries(
                Utc::now(),
                &ClaimRequest { max: 4, hold: Duration::seconds(30), per_endpoint: 2, in_flight: &busy },
            )
            .unwrap();
        let to: Vec<String> = due.iter().map(|d| d.endpoint_id.clone()).collect();
        assert_eq!(
            to,
            vec![fast.endpoint.id.to_string()],
            "21 older deliveries of the slow one do not hide it"
        );
        // What an enabled endpoint still waits for is never pruned.
        let retention = keyport_store::Retention::default();
        let later = Utc::now() + retention.webhook_deliveries + Duration::days(1);
        assert_eq!(f.store.prune(&retention, later, 100).unwrap().webhook_deliveries, 0);
        let pause = keyport_core::webhook::EndpointChanges { enabled: Some(false), ..Default::default() };
        f.store.update_webhook_endpoint(&ctx, slow.endpoint.id, &pause).unwrap();
        assert_eq!(
            f.store.prune(&retention, later, 100).unwrap().webhook_deliveries,
            21,
            "a disabled one's are"
        );
    });
}
