//! Every REST endpoint over real HTTP, and how it answers bad input.

use keyport_tests::Fixture;
use keyport_tests::http::{Api, World, api_key, block_on, machine_body};
use serde_json::json;

fn rule_set(name: &str, seats: u32) -> serde_json::Value {
    json!({
        "name": name, "seats": seats, "deactivation_allowed": true, "offline_allowed": true,
        "initial_credits": 1, "blocking_days": 0, "replenish_credits": 1, "replenish_every_days": 30,
        "credit_cap": 2, "emergency_days": 14, "emergency_per_year": 1,
        "checkin_interval_days": null, "checkin_grace_days": 0,
    })
}

#[test]
fn the_catalog_is_created_read_listed_and_updated() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, keyport_core::Role::Admin);
            let k = Some(admin.as_str());
            assert_eq!(
                api.post("/api/v1/products", k, json!({"code": "cad", "name": "CAD"})).await.status,
                201
            );
            let renamed =
                api.send("PATCH", "/api/v1/products/cad", k, &[], Some(json!({"name": "CAD Pro"}))).await;
            assert_eq!(renamed.body["name"], "CAD Pro");
            assert_eq!(api.get("/api/v1/products/cad", k).await.body["name"], "CAD Pro");
            assert_eq!(api.get("/api/v1/products", k).await.body.as_array().map(Vec::len), Some(1));

            assert_eq!(api.post("/api/v1/rule-sets", k, rule_set("std", 2)).await.status, 201);
            let put = api.send("PUT", "/api/v1/rule-sets/std", k, &[], Some(rule_set("std", 4))).await;
            assert_eq!(put.body["seats"], 4);
            let mismatch = api.send("PUT", "/api/v1/rule-sets/std", k, &[], Some(rule_set("other", 4))).await;
            assert_eq!((mismatch.status, mismatch.code()), (422, "invalid_input"));
            assert_eq!(api.get("/api/v1/rule-sets/std", k).await.body["seats"], 4);
            assert_eq!(api.get("/api/v1/rule-sets", k).await.body.as_array().map(Vec::len), Some(1));

            let item = json!({
                "sku": "CAD-5", "product_code": "cad", "name": "CAD 5", "license_model": "subscription",
                "duration_days": 365, "features": ["export"], "version_min": 5, "version_max": 5, "rule_set": "std",
            });
            let created = api.post("/api/v1/items", k, item.clone()).await;
            assert_eq!((created.status, created.body["duration_days"].clone()), (201, json!(365)));
            let again = api.post("/api/v1/items", k, item).await;
            assert_eq!((again.status, again.code()), (409, "already_exists"));
            let changed = api
                .send("PATCH", "/api/v1/items/CAD-5", k, &[], Some(json!({"features": ["export", "render"]})))
                .await;
            assert_eq!(changed.body["features"], json!(["export", "render"]));
            assert_eq!(api.get("/api/v1/items/CAD-5", k).await.body["features"], json!(["export", "render"]));
            assert_eq!(api.get("/api/v1/items", k).await.body.as_array().map(Vec::len), Some(1));
            assert_eq!(api.get("/api/v1/items/NOPE", k).await.status, 404);
        });
    });
}

#[test]
fn a_shop_orders_extends_and_reads_while_the_customer_activates_and_moves_the_license() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let shop = Some(w.shop.as_str());
            let order = json!({
                "shop": "webshop", "external_order_number": "S-1",
                "lines": [{"line_number": 1, "sku": w.sku, "quantity": 1}],
            });
            let created = api.post("/api/v1/orders", shop, order.clone()).await;
            assert_eq!(created.status, 201);
            assert_eq!(api.post("/api/v1/orders", shop, order).await.status, 200, "a retry changes nothing");
            let extended = json!({
                "shop": "webshop", "external_order_number": "S-1",
                "lines": [{"line_number": 1, "sku": w.sku, "quantity": 1}, {"line_number": 2, "sku": w.sku, "quantity": 1}],
            });
            let reply = api.post("/api/v1/orders", shop, extended).await;
            assert_eq!((reply.status, reply.body["added_lines"].clone()), (200, json!([2])));
            let read = api.get("/api/v1/orders/webshop/S-1", shop).await;
            assert_eq!(read.body["lines"].as_array().map(Vec::len), Some(2));
            let code = read.body["ticket_code"].as_str().unwrap().to_owned();
            let ticket =
                api.get(&format!("/api/v1/tickets/{}", code.to_lowercase().replace('-', "")), shop).await;
            assert_eq!(ticket.body["licenses"].as_array().map(Vec::len), Some(2));

            // Customer A registers the new ticket, then works with its first license.
            let a = Some(w.a.token.as_str());
            let registered = api.post("/api/v1/me/tickets", a, json!({"ticket_code": code})).await;
            assert_eq!(registered.body["customer_id"], w.a.id.as_str());
            assert_eq!(api.get("/api/v1/me/tickets", a).await.body.as_array().map(Vec::len), Some(2));
            let license = ticket.body["licenses"][0]["id"].as_str().unwrap().to_owned();
            let path = format!("/api/v1/me/licenses/{license}/activations");
            let first = api.post(&path, a, machine_body(11)).await;
            assert_eq!(first.status, 201);
            assert_eq!(
                api.post(&path, a, machine_body(11)).await.status,
                200,
                "the same machine again is free"
            );
            let activation = first.body["activation"]["id"].as_str().unwrap().to_owned();
            let moved =
                api.post(&format!("/api/v1/me/activations/{activation}/recovery"), a, machine_body(12)).await;
            assert_eq!(moved.status, 201, "{}", moved.body);
            let new_activation = moved.body["activation"]["id"].as_str().unwrap().to_owned();
            assert!(
                moved.body["certificate"]
                    .as_str()
                    .unwrap()
                    .starts_with("-----BEGIN KEYPORT LICENSE CERTIFICATE-----")
            );
            let view = api.get(&format!("/api/v1/me/licenses/{license}"), a).await;
            assert_eq!(
                (view.body["seats_in_use"].clone(), view.body["reactivation_credits"].clone()),
                (json!(1), json!(0))
            );
            // Only machine 12, which holds the activation now, can give the seat back.
            let foreign = keyport_tests::deactivation_proof(11, &license, &new_activation);
            let refused = api.post("/api/v1/me/deactivations", a, json!({"file": foreign})).await;
            assert_eq!((refused.status, refused.code()), (409, "wrong_machine"));
            let proof = keyport_tests::deactivation_proof(12, &license, &new_activation);
            let gone = api.post("/api/v1/me/deactivations", a, json!({"file": proof})).await;
            assert_eq!(gone.body["state"], "deactivated", "{}", gone.body);
            let replayed = api.post("/api/v1/me/deactivations", a, json!({"file": proof})).await;
            assert_eq!((replayed.status, replayed.code()), (409, "replayed"));
            let profile = api.get("/api/v1/me", a).await;
            assert_eq!(profile.body["email"], "anna@example.com");
            let history = api.get("/api/v1/me/events?limit=100", a).await;
            let kinds: Vec<&str> = history.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["kind"].as_str().unwrap())
                .collect();
            for kind in ["ticket_registered", "license_activated", "license_recovered", "license_deactivated"]
            {
                assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
            }
        });
    });
}

#[test]
fn support_reads_grants_revokes_moves_and_sees_the_log() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let s = Some(w.support.as_str());
            let license = format!("/api/v1/licenses/{}", w.a.license);
            assert_eq!(api.get(&license, s).await.body["seats_in_use"], 1);
            let granted = api
                .post(&format!("{license}/credit-grants"), s, json!({"amount": 2, "reason": "goodwill"}))
                .await;
            assert_eq!(granted.body["reactivation_credits"], 3);
            let moved = api
                .post(
                    &format!("/api/v1/tickets/{}/transfer", w.a.ticket_code),
                    s,
                    json!({"customer_id": w.b.id}),
                )
                .await;
            assert_eq!(moved.body["customer_id"], w.b.id.as_str());
            assert_eq!(api.get("/api/v1/me/licenses", Some(&w.a.token)).await.body, json!([]));
            let revoked = api.post(&format!("{license}/revocation"), s, json!({"reason": "refund"})).await;
            assert_eq!(
                (revoked.body["state"].clone(), revoked.body["revoke_reason"].clone()),
                (json!("revoked"), json!("refund"))
            );
            let log =
                api.get(&format!("/api/v1/events?license_id={}&kind=license_revoked", w.a.license), s).await;
            let items = log.body["items"].as_array().unwrap();
            assert_eq!(items.len(), 1);
            assert!(items[0]["actor"].as_str().unwrap().starts_with("api_key:"));
            assert_eq!(items[0]["channel"], "rest");
            let customers = api.get("/api/v1/customers?email=ANNA@example.com", s).await;
            assert_eq!(customers.body[0]["id"], w.a.id.as_str());
            assert_eq!(api.get("/api/v1/customers?email=nobody@example.com", s).await.body, json!([]));
            let renamed = api
                .send(
                    "PATCH",
                    &format!("/api/v1/customers/{}", w.a.id),
                    s,
                    &[],
                    Some(json!({"name": "Anna A."})),
                )
                .await;
            assert_eq!(renamed.body["name"], "Anna A.");
            assert_eq!(api.get(&format!("/api/v1/customers/{}", w.a.id), s).await.body["name"], "Anna A.");
        });
    });
}

#[test]
fn a_portal_acting_for_a_customer_is_recorded_with_both_identities() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let headers = [("Keyport-Customer", w.a.id.as_str())];
            let path = format!("/api/v1/me/licenses/{}/activations", w.a.license);
            let reply = api.send("POST", &path, Some(&w.portal), &headers, Some(machine_body(21))).await;
            assert_eq!(reply.status, 201, "{}", reply.body);
            let log = api
                .get(
                    &format!("/api/v1/events?license_id={}&kind=license_activated", w.a.license),
                    Some(&w.admin),
                )
                .await;
            let last = log.body["items"].as_array().unwrap().last().unwrap().clone();
            let actor = last["actor"].as_str().unwrap();
            assert!(
                actor.starts_with("api_key:") && actor.ends_with(&format!("/customer:{}", w.a.id)),
                "{actor}"
            );
            let unknown = [("Keyport-Customer", "00000000-0000-0000-0000-000000000000")];
            assert_eq!(api.send("GET", "/api/v1/me", Some(&w.portal), &unknown, None).await.status, 404);
            let not_portal = api.send("GET", "/api/v1/me", Some(&w.shop), &headers, None).await;
            assert_eq!(not_portal.status, 403, "only portal keys may act for a customer");
        });
    });
}

#[test]
fn bad_input_gets_a_problem_with_a_code_and_nothing_is_written() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let k = Some(w.admin.as_str());
            let malformed = reqwest::Client::new()
                .post(format!("{}/api/v1/products", api.base))
                .bearer_auth(&w.admin)
                .header("content-type", "application/json")
                .body("{\"code\": ")
                .send()
                .await
                .unwrap();
            assert_eq!(malformed.status(), 400);
            let problem: serde_json::Value = malformed.json().await.unwrap();
            assert_eq!(problem["code"], "malformed_request");

            let wrong_type = api.post("/api/v1/products", k, json!({"code": 5, "name": "x"})).await;
            assert_eq!((wrong_type.status, wrong_type.code()), (422, "invalid_input"));
            let unknown_field =
                api.post("/api/v1/products", k, json!({"code": "x", "name": "x", "color": "red"})).await;
            assert_eq!((unknown_field.status, unknown_field.code()), (422, "invalid_input"));
            let bad_value = api.post("/api/v1/products", k, json!({"code": "no spaces", "name": "x"})).await;
            assert_eq!(bad_value.body["facts"]["field"], "product_code");
            let huge =
                api.post("/api/v1/products", k, json!({"code": "x", "name": "y".repeat(300_000)})).await;
            assert_eq!((huge.status, huge.code()), (413, "payload_too_large"));
            let products = api.get("/api/v1/products", k).await.body;
            let codes: Vec<&str> =
                products.as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap()).collect();
            assert!(!codes.contains(&"x"), "nothing was written: {codes:?}");

            let bad_id = api.get("/api/v1/licenses/not-a-uuid", k).await;
            assert_eq!((bad_id.status, bad_id.code()), (404, "not_found"));
            let no_route = api.get("/api/v1/nowhere", k).await;
            assert_eq!((no_route.status, no_route.content_type.as_str()), (404, "application/problem+json"));
            let bad_ticket =
                api.post("/api/v1/auth/ticket-login", None, json!({"ticket_code": "ABCDE"})).await;
            assert_eq!((bad_ticket.status, bad_ticket.code()), (422, "invalid_ticket_code"));
            let bad_limit = api.get("/api/v1/events?limit=0", k).await;
            assert_eq!((bad_limit.status, bad_limit.code()), (422, "invalid_input"));
            let bad_query = api.get("/api/v1/events?limit=many", k).await;
            assert_eq!((bad_query.status, bad_query.code()), (422, "invalid_input"));
        });
    });
}

#[test]
fn a_refusal_speaks_german_when_asked() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let path = format!("/api/v1/me/licenses/{}/activations", w.a.license);
            for n in 30..32 {
                api.post(&path, Some(&w.a.token), machine_body(n)).await;
            }
            let headers = [("Accept-Language", "de-DE,de;q=0.9")];
            let full = api.send("POST", &path, Some(&w.a.token), &headers, Some(machine_body(40))).await;
            assert_eq!((full.status, full.code()), (409, "seats_exhausted"));
            assert_eq!(
                full.body["detail"],
                "Alle 3 Plätze dieser Lizenz sind belegt; deaktivieren Sie sie zuerst auf einem anderen Rechner."
            );
            let english = api.post(&path, Some(&w.a.token), machine_body(40)).await;
            assert_eq!(
                english.body["detail"],
                "All 3 seats of this license are in use; deactivate it on another machine first."
            );
            let unauthorized = api.send("GET", "/api/v1/me", None, &headers, None).await;
            assert!(unauthorized.body["detail"].as_str().unwrap().starts_with("Anmeldung erforderlich"));
        });
    });
}

#[test]
fn an_idempotency_key_replays_the_first_answer_and_refuses_another_request() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let key = [("Idempotency-Key", "order-77")];
            let order = |n: u32| {
                json!({"shop": "webshop", "external_order_number": "I-1",
                       "lines": [{"line_number": 1, "sku": w.sku, "quantity": n}]})
            };
            let first = api.send("POST", "/api/v1/orders", Some(&w.shop), &key, Some(order(1))).await;
            let again = api.send("POST", "/api/v1/orders", Some(&w.shop), &key, Some(order(1))).await;
            assert_eq!((first.status, again.status), (201, 201));
            assert_eq!(first.body, again.body);
            assert_eq!(again.header("idempotent-replayed"), Some("true"));
            let other = api.send("POST", "/api/v1/orders", Some(&w.shop), &key, Some(order(2))).await;
            assert_eq!((other.status, other.code()), (422, "invalid_input"));
            let customer = [("Idempotency-Key", "cust-1")];
            let body = json!({"email": "carl@example.com", "name": "Carl"});
            let c1 =
                api.send("POST", "/api/v1/customers", Some(&w.shop), &customer, Some(body.clone())).await;
            let c2 = api.send("POST", "/api/v1/customers", Some(&w.shop), &customer, Some(body)).await;
            assert_eq!((c1.status, c2.status, c1.body["id"].clone()), (201, 201, c2.body["id"].clone()));
        });
    });
}

#[test]
fn the_served_openapi_document_is_the_committed_one_and_the_docs_page_is_served() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let served = api.get("/api/v1/openapi.json", None).await;
            let committed: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json"))
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(served.body, committed);
            let page = reqwest::get(format!("{}/docs/", api.base)).await.unwrap();
            assert_eq!(page.status(), 200);
            let html = page.text().await.unwrap();
            assert!(html.contains("swagger-ui"), "the docs page is Swagger UI");
            assert!(!html.contains("https://"), "the docs page loads nothing from the internet");
        });
    });
}
