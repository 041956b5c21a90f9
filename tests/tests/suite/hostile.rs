//! Hostile input over real HTTP, on each backend: text the database would refuse, methods a
//! path does not have, racing idempotent requests, end states reached twice, and tables a
//! caller could grow without bound. Each answer must be a clear 4xx, the same on both
//! backends, and nothing may be half-written.

use std::sync::Arc;

use chrono::Utc;
use keyport_core::{ErrorCode, LicenseModel, OrderCustomer, Reason, Role};
use keyport_store::Scope;
use keyport_tests::http::{Api, Reply, World, api_key, block_on, machine_body};
use keyport_tests::{Fixture, order_request, parse, rules};
use serde_json::json;

/// (what, method, path, body) of requests carrying text no database should see.
fn hostile_requests(w: &World) -> Vec<(&'static str, &'static str, String, Option<serde_json::Value>)> {
    let long = "a".repeat(20_000);
    vec![
        (
            "a NUL in the login e-mail",
            "POST",
            "/api/v1/auth/login".into(),
            Some(json!({"email": "a\u{0}@example.com", "password": "x"})),
        ),
        (
            "a huge login e-mail",
            "POST",
            "/api/v1/auth/login".into(),
            Some(json!({"email": format!("{long}@example.com"), "password": "x"})),
        ),
        (
            "a NUL in a product name",
            "POST",
            "/api/v1/products".into(),
            Some(json!({"code": "nul", "name": "CAD\u{0}Pro"})),
        ),
        (
            "a NUL in an order number",
            "POST",
            "/api/v1/orders".into(),
            Some(
                json!({"shop": "webshop", "external_order_number": "A\u{0}1", "lines": [{"line_number": 1, "sku": w.sku, "quantity": 1}]}),
            ),
        ),
        (
            "a NUL in a JSON key",
            "POST",
            "/api/v1/products".into(),
            Some(json!({"code": "k", "name": "K", "x\u{0}": 1})),
        ),
        ("a NUL in a path segment", "GET", "/api/v1/products/cad%00pro".into(), None),
        ("a NUL in a ticket code", "GET", "/api/v1/tickets/AAAAA%00BBBBB".into(), None),
        ("a huge path segment", "GET", format!("/api/v1/items/{}", "x".repeat(5_000)), None),
        ("a NUL in a query value", "GET", "/api/v1/events?kind=license%00activated".into(), None),
        (
            "a NUL in a customer e-mail",
            "POST",
            "/api/v1/customers".into(),
            Some(json!({"email": "b\u{0}@example.com", "name": "B"})),
        ),
        (
            "a huge reason",
            "POST",
            format!("/api/v1/licenses/{}/revocation", w.a.license),
            Some(json!({"reason": long})),
        ),
        (
            "a NUL in a fingerprint",
            "POST",
            format!("/api/v1/me/licenses/{}/activations", w.a.license),
            Some(
                json!({"fingerprint": "sha256:\u{0}0123456789abcdef", "machine_key": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"}),
            ),
        ),
    ]
}

#[test]
fn text_a_database_would_refuse_gets_the_same_4xx_on_every_backend_and_changes_nothing() {
    let answers: std::cell::RefCell<Vec<Vec<(u16, String)>>> = Default::default();
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let events = |api: &Api| {
                let (api, admin) = (Api::at(&api.base), w.admin.clone());
                async move {
                    api.get("/api/v1/events?limit=500", Some(&admin)).await.body["items"]
                        .as_array()
                        .map(Vec::len)
                }
            };
            let before = events(&api).await;
            let mut seen = Vec::new();
            for (what, method, path, body) in hostile_requests(&w) {
                let token = if path.starts_with("/api/v1/me/") { &w.a.token } else { &w.admin };
                let reply = api.send(method, &path, Some(token), &[], body).await;
                assert!((400..500).contains(&reply.status), "{what}: {} {}", reply.status, reply.body);
                assert!(!reply.code().is_empty(), "{what}: a problem document with a code: {}", reply.body);
                seen.push((reply.status, reply.code().to_owned()));
            }
            assert_eq!(before, events(&api).await, "no hostile request wrote anything");
            answers.borrow_mut().push(seen);
        });
    });
    if let [sqlite, postgres] = answers.borrow().as_slice() {
        assert_eq!(sqlite, postgres, "both backends answer the same");
    }
}

#[test]
fn head_works_wherever_get_does_and_a_wrong_method_gets_405_with_allow() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            for path in ["/healthz", "/readyz", "/api/v1/products", "/api/v1/openapi.json", "/soap?wsdl"] {
                let get = api.send("GET", path, Some(&admin), &[], None).await;
                let head = api.send("HEAD", path, Some(&admin), &[], None).await;
                assert_eq!(head.status, get.status, "HEAD {path}");
                assert_eq!(head.body, serde_json::Value::Null, "HEAD {path} has no body");
            }
            for (method, path, allow) in [
                ("DELETE", "/api/v1/products", "GET, POST, HEAD"),
                ("POST", "/api/v1/products/cad-pro", "GET, PATCH, HEAD"),
                ("POST", "/healthz", "GET, HEAD"),
            ] {
                let reply = api.send(method, path, Some(&admin), &[], None).await;
                assert_eq!((reply.status, reply.code()), (405, "method_not_allowed"), "{method} {path}");
                assert_eq!(reply.header("allow"), Some(allow), "{method} {path}");
            }
            let soap = api.send("PUT", "/soap", None, &[], None).await;
            assert_eq!((soap.status, soap.header("allow")), (405, Some("GET, POST, HEAD")));
            let missing = api.send("GET", "/api/v1/no-such-thing", Some(&admin), &[], None).await;
            assert_eq!((missing.status, missing.code()), (404, "not_found"));
        });
    });
}

#[test]
fn racing_first_requests_with_one_idempotency_key_run_the_order_once() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            let sku = f.item(LicenseModel::Perpetual, rules());
            let body = json!({"shop": "webshop", "external_order_number": "RACE-KEY",
                              "lines": [{"line_number": 1, "sku": sku, "quantity": 1}]});
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..16 {
                let (base, admin, body) = (api.base.clone(), admin.clone(), body.clone());
                tasks.spawn(async move {
                    Api::at(&base)
                        .send(
                            "POST",
                            "/api/v1/orders",
                            Some(&admin),
                            &[("Idempotency-Key", "k-1")],
                            Some(body),
                        )
                        .await
                });
            }
            let mut replies: Vec<Reply> = Vec::new();
            while let Some(reply) = tasks.join_next().await {
                replies.push(reply.unwrap());
            }
            let ran: Vec<_> = replies
                .iter()
                .filter(|r| r.status == 201 && r.header("idempotent-replayed").is_none())
                .collect();
            assert_eq!(ran.len(), 1, "exactly one request ran the use case");
            for r in &replies {
                let replayed = r.status == 201 && r.header("idempotent-replayed") == Some("true");
                let waiting = r.status == 409
                    && r.code() == "idempotency_key_in_use"
                    && r.header("retry-after").is_some();
                assert!(
                    replayed || waiting || ran.iter().any(|x| std::ptr::eq(*x, r)),
                    "{} {}",
                    r.status,
                    r.body
                );
            }
            let events = api.get("/api/v1/events?kind=order_created&limit=500", Some(&admin)).await;
            assert_eq!(events.body["items"].as_array().unwrap().len(), 1);
        });
    });
}

#[test]
fn failed_logins_with_ever_new_addresses_add_no_rows_once_the_source_is_limited() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            for n in 0..120 {
                let body = json!({"email": format!("nobody{n}-{}@example.com", "x".repeat(200)), "password": "wrong"});
                let reply = api.post("/api/v1/auth/login", None, body).await;
                assert!(matches!(reply.status, 401 | 422 | 429), "{}", reply.body);
            }
            let rows =
                f.store.table_sizes().unwrap().into_iter().find(|(t, _)| *t == "rate_counters").unwrap().1;
            // One row for the address and one per account until the address was limited (20).
            assert!(rows <= 22, "{rows} counter rows for 120 guesses");
        });
    });
}

#[test]
fn a_cancelled_order_is_final_and_cancelling_it_again_changes_nothing() {
    Fixture::each(|f| {
        let sku = f.item(LicenseModel::Perpetual, rules());
        let first = order_request("END-1", OrderCustomer::None, &[(1, &sku, 1)]);
        f.store.create_order(&f.ctx(), &first).unwrap();
        let reason = parse(Reason::parse("refunded"));
        f.store.cancel_order(&f.ctx(), "webshop", "END-1", &reason).unwrap();
        let cancelled = f.store.get_order("webshop", "END-1").unwrap();
        f.store.cancel_order(&f.ctx(), "webshop", "END-1", &parse(Reason::parse("twice"))).unwrap();
        let again = f.store.get_order("webshop", "END-1").unwrap();
        assert!(cancelled.cancelled_at.is_some(), "the order shows its cancellation");
        assert_eq!(again.cancelled_at, cancelled.cancelled_at, "the first cancellation stands");
        assert_eq!(again.cancel_reason.as_deref(), Some("refunded"));

        let extended = order_request("END-1", OrderCustomer::None, &[(1, &sku, 1), (2, &sku, 1)]);
        let refused = f.store.create_order(&f.ctx(), &extended).map_err(|e| e.code());
        assert_eq!(refused.err(), Some(ErrorCode::OrderCancelled));
        let order = f.store.get_order("webshop", "END-1").unwrap();
        assert_eq!(order.lines.len(), 1, "no line was added to the cancelled order");
        let license = order.lines[0].license_ids[0];
        let activation = f.store.activate(&f.ctx(), Scope::Staff, license, &keyport_tests::machine(1));
        assert_eq!(activation.map(drop).map_err(|e| e.code()), Err(ErrorCode::LicenseRevoked));

        let filter = keyport_store::EventFilter {
            kind: Some(keyport_core::EventKind::OrderCancelled),
            ..Default::default()
        };
        assert_eq!(f.store.query_events(&filter).unwrap().items.len(), 1, "one cancellation event");
    });
}

#[test]
fn a_revoked_license_takes_no_credits_no_renewal_and_no_second_revocation() {
    Fixture::each(|f| {
        let license = f.license_at(Utc::now(), rules());
        let reason = parse(Reason::parse("fraud"));
        f.store.revoke_license(&f.ctx(), license, &reason).unwrap();
        f.store.revoke_license(&f.ctx(), license, &reason).unwrap();
        let filter = keyport_store::EventFilter {
            license_id: Some(license),
            kind: Some(keyport_core::EventKind::LicenseRevoked),
            ..Default::default()
        };
        assert_eq!(f.store.query_events(&filter).unwrap().items.len(), 1, "revoking twice is one revocation");
        let grant = f.store.grant_credits(&f.ctx(), license, 1, &reason).map(drop).map_err(|e| e.code());
        assert_eq!(grant, Err(ErrorCode::LicenseRevoked));
    });
}

#[test]
fn the_same_pc_reinstalled_gets_its_seat_back_for_free() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            // Machine 1 holds A's seat; its client folder is lost: a new key, the same hardware.
            let mut again = machine_body(1);
            again["machine_key"] = machine_body(99)["machine_key"].clone();
            let path = format!("/api/v1/me/licenses/{}/activations", w.a.license);
            for _ in 0..2 {
                let reply = api.post(&path, Some(&w.a.token), again.clone()).await;
                assert!(matches!(reply.status, 200 | 201), "{}", reply.body);
                assert_eq!(reply.body["activation"]["machine_key"], again["machine_key"]);
            }
            let license = api.get(&format!("/api/v1/me/licenses/{}", w.a.license), Some(&w.a.token)).await;
            assert_eq!(license.body["seats_in_use"], 1, "still one seat");
            assert_eq!(
                license.body["reactivation_credits"],
                json!(1),
                "no credit was spent: {}",
                license.body
            );
            let events = api.get("/api/v1/me/events", Some(&w.a.token)).await;
            assert!(events.body.to_string().contains("machine_rebound"), "the rebinding is an event");
            // A third key on the same hardware the same day: no second free move, and no
            // second seat that would strand the first.
            let mut third = machine_body(1);
            third["machine_key"] = machine_body(98)["machine_key"].clone();
            let refused = api.post(&path, Some(&w.a.token), third).await;
            assert_eq!((refused.status, refused.code()), (409, "recovery_blocked"), "{}", refused.body);
            let license = api.get(&format!("/api/v1/me/licenses/{}", w.a.license), Some(&w.a.token)).await;
            assert_eq!(license.body["seats_in_use"], 1);
        });
    });
}

#[test]
fn concurrent_hostile_logins_are_bounded_not_fatal() {
    Fixture::each(|f| {
        block_on(async {
            let api = Arc::new(Api::spawn(f));
            let mut tasks = tokio::task::JoinSet::new();
            for n in 0..24 {
                let api = api.clone();
                tasks.spawn(async move {
                    let body =
                        json!({"email": format!("storm{n}@example.com"), "password": "wrong-password"});
                    api.post("/api/v1/auth/login", None, body).await.status
                });
            }
            while let Some(status) = tasks.join_next().await {
                let status = status.unwrap();
                assert!(
                    matches!(status, 401 | 429 | 503),
                    "a login storm answers 401, 429 or 503, got {status}"
                );
            }
        });
    });
}

#[test]
fn german_messages_carry_their_facts_in_german() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            let de = [("Accept-Language", "de")];
            let missing = api.send("GET", "/api/v1/rule-sets/nope", Some(&admin), &de, None).await;
            assert_eq!(missing.body["detail"], "Es wurde kein(e) Regelwerk gefunden.");
            let order = json!({"shop": "webshop", "external_order_number": "DE-1",
                               "lines": [{"line_number": 1, "sku": "NOPE-1", "quantity": 1}]});
            let unknown = api.send("POST", "/api/v1/orders", Some(&admin), &de, Some(order)).await;
            assert_eq!(unknown.body["detail"], "Es wurde kein(e) Artikel mit der SKU NOPE-1 gefunden.");
            let empty = api
                .send("POST", "/api/v1/products", Some(&admin), &de, Some(json!({"code": "x", "name": " "})))
                .await;
            assert_eq!(empty.body["detail"], "Ungültiger Wert für name: darf nicht leer sein.");
        });
    });
}

#[test]
fn a_whole_number_written_with_a_fraction_is_an_integer_as_json_schema_says() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            let rules = json!({"name": "floaty", "seats": 2.0, "deactivation_allowed": true, "offline_allowed": true,
                "initial_credits": 1.0, "blocking_days": 0, "replenish_credits": 0, "replenish_every_days": 0,
                "credit_cap": 1, "emergency_days": 14, "emergency_per_year": 1, "checkin_grace_days": 0});
            let created = api.post("/api/v1/rule-sets", Some(&admin), rules.clone()).await;
            assert_eq!(created.status, 201, "{}", created.body);
            assert_eq!(created.body["seats"], 2);
            let mut half = rules;
            half["name"] = json!("half");
            half["seats"] = json!(2.5);
            let refused = api.post("/api/v1/rule-sets", Some(&admin), half).await;
            assert_eq!((refused.status, refused.code()), (422, "invalid_input"), "{}", refused.body);
        });
    });
}

#[test]
fn registrations_cannot_bury_an_inbox_or_flood_the_password_hashing() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let body =
                |email: &str| json!({"email": email, "name": "Eve", "password": "a long enough phrase"});
            let statuses: Vec<u16> = {
                let mut out = Vec::new();
                for _ in 0..4 {
                    out.push(
                        api.post("/api/v1/auth/register", None, body("victim@example.com")).await.status,
                    );
                }
                out
            };
            assert_eq!(statuses, vec![202, 202, 202, 429], "three mails to one address, then 429");
            let mut last = 0;
            for n in 0..10 {
                last = api
                    .post("/api/v1/auth/register", None, body(&format!("new{n}@example.com")))
                    .await
                    .status;
            }
            assert_eq!(last, 429, "ten registrations from one address, then 429");
        });
    });
}
