//! The field endpoints over real HTTP: the software's check-in, usage reports and demo
//! requests (no login), a customer's demo and emergency license, support ending one.

use chrono::{Duration, Utc};
use keyport_core::{LicenseModel, RuleSetParams};
use keyport_tests::http::{Api, World, api_key, block_on, machine_body};
use keyport_tests::{Fixture, check_in, rules};
use serde_json::json;
use uuid::Uuid;

fn uuid(value: &serde_json::Value) -> Uuid {
    Uuid::parse_str(value.as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("{value}: {e}"))
}

#[test]
fn a_demo_item_is_offered_for_self_service_and_only_a_demo_item() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, keyport_core::Role::Admin);
            let k = Some(admin.as_str());
            api.post("/api/v1/products", k, json!({"code": "cad", "name": "CAD"})).await;
            let rule_set = json!({
                "name": "std", "seats": 1, "deactivation_allowed": true, "offline_allowed": true,
                "initial_credits": 1, "blocking_days": 0, "replenish_credits": 0, "replenish_every_days": 0,
                "credit_cap": 1, "emergency_days": 7, "emergency_per_year": 1,
                "checkin_interval_days": 30, "checkin_grace_days": 7,
            });
            assert_eq!(api.post("/api/v1/rule-sets", k, rule_set).await.status, 201);
            let item = |sku: &str, model: &str, days: Option<u32>| {
                json!({"sku": sku, "product_code": "cad", "name": sku, "license_model": model,
                       "duration_days": days, "version_min": 1, "rule_set": "std", "self_service": true})
            };
            let perpetual = api.post("/api/v1/items", k, item("CAD-FULL", "perpetual", None)).await;
            assert_eq!(
                (perpetual.status, perpetual.body["detail"].as_str()),
                (
                    422,
                    Some("Invalid value for self_service: only a demo item can be offered for self-service.")
                )
            );
            let demo = api.post("/api/v1/items", k, item("CAD-DEMO", "demo", Some(14))).await;
            assert_eq!((demo.status, demo.body["self_service"].clone()), (201, json!(true)));

            // The software asks for a demo for an address: activated at once, ticket mailed.
            let request = json!({"product_code": "cad", "email": "eva@example.com", "language": "de", "machine": machine_body(1)});
            let given = api.post("/api/v1/demos", None, request).await;
            assert_eq!(given.status, 201, "{}", given.body);
            assert_eq!(given.body["ticket_code"], json!(null));
            assert!(
                given.body["activation"]["certificate"]
                    .as_str()
                    .unwrap()
                    .contains("KEYPORT LICENSE CERTIFICATE")
            );
            let other =
                json!({"product_code": "cad", "email": "eva2@example.com", "machine": machine_body(1)});
            let headers = [("Accept-Language", "de")];
            let again = api.send("POST", "/api/v1/demos", None, &headers, Some(other)).await;
            assert_eq!((again.status, again.code()), (409, "demo_already_used"));
            assert_eq!(
                again.body["detail"],
                "Eine Demo von 'cad' wurde bereits von diesem Kundenkonto, für diese E-Mail-Adresse oder auf diesem Rechner genutzt; es gibt eine Demo pro Kunde, Adresse und Rechner."
            );
            let unknown =
                json!({"product_code": "nope", "email": "x@example.com", "machine": machine_body(2)});
            let unknown = api.post("/api/v1/demos", None, unknown).await;
            assert_eq!((unknown.status, unknown.code()), (404, "demo_not_offered"));
            let bad = json!({"product_code": "cad", "email": "x@example.com", "language": "fr", "machine": machine_body(2)});
            assert_eq!(api.post("/api/v1/demos", None, bad).await.code(), "invalid_input");
        });
    });
}

#[test]
fn the_software_checks_in_without_a_login_and_bad_proofs_get_clear_refusals() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let (license, activation) = (uuid(&json!(w.a.license)), uuid(&json!(w.a.activation)));
            let proof = check_in(1, license, activation, Utc::now(), false);
            let first = api.post("/api/v1/checkins", None, json!({"proof": proof})).await;
            assert_eq!(
                (first.status, first.body["validity"].clone()),
                (200, json!("active")),
                "{}",
                first.body
            );
            assert!(first.body["certificate"].is_string(), "{}", first.body);
            let replay = api.post("/api/v1/checkins", None, json!({"proof": proof})).await;
            assert_eq!((replay.status, replay.code()), (409, "replayed"));
            let stale = check_in(1, license, activation, Utc::now() - Duration::hours(2), false);
            let stale = api.post("/api/v1/checkins", None, json!({"proof": stale})).await;
            assert_eq!((stale.status, stale.code()), (422, "stale_proof"));
            assert!(
                stale.body["detail"].as_str().unwrap().contains("a report is taken within 5 minutes of it")
            );
            for garbage in ["", "not a proof", "a.b.c", "\u{0}"] {
                let reply = api.post("/api/v1/checkins", None, json!({"proof": garbage})).await;
                assert!(
                    reply.status == 422 || reply.status == 400,
                    "{garbage:?}: {} {}",
                    reply.status,
                    reply.body
                );
            }
            let huge = "x".repeat(200_000);
            let reply = api.post("/api/v1/checkins", None, json!({"proof": huge})).await;
            assert!((400..500).contains(&reply.status), "{}", reply.status);
        });
    });
}

#[test]
fn a_customer_runs_an_emergency_license_and_support_ends_it() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let blocked = RuleSetParams {
                seats: 1,
                initial_credits: 0,
                credit_cap: 0,
                replenish_credits: 0,
                replenish_every_days: 0,
                blocking_days: 30,
                ..rules()
            };
            let sku = f.item(LicenseModel::Perpetual, blocked);
            let ticket = f.order(&sku, 1).order.ticket_code;
            let login = api.post("/api/v1/auth/ticket-login", None, json!({"ticket_code": ticket})).await;
            let token = login.body["access_token"].as_str().unwrap().to_owned();
            let licenses = api.get("/api/v1/me/licenses", Some(&token)).await;
            let license = licenses.body[0]["id"].as_str().unwrap().to_owned();
            let activated = api
                .post(&format!("/api/v1/me/licenses/{license}/activations"), Some(&token), machine_body(1))
                .await;
            let lost = activated.body["activation"]["id"].as_str().unwrap().to_owned();

            let path = format!("/api/v1/me/activations/{lost}/emergency");
            let emergency = api.post(&path, Some(&token), json!({"machine": machine_body(2)})).await;
            assert_eq!(emergency.status, 201, "{}", emergency.body);
            assert_eq!(emergency.body["left_this_year"], 0);
            let id = emergency.body["activation"]["id"].as_str().unwrap().to_owned();
            let second = api.post(&path, Some(&token), json!({"machine": machine_body(3)})).await;
            assert_eq!((second.status, second.code()), (409, "emergency_running"));

            let end = format!("/api/v1/activations/{id}/emergency-end");
            let by_customer = api.post(&end, Some(&token), json!({"reason": "mine"})).await;
            assert_eq!(by_customer.status, 403);
            let support = api_key(f, keyport_core::Role::Support);
            let ended = api.post(&end, Some(&support), json!({"reason": "customer found the laptop"})).await;
            assert_eq!((ended.status, ended.body["state"].clone()), (200, json!("revoked")));
            let events = api.get("/api/v1/me/events", Some(&token)).await;
            let kinds: Vec<&str> =
                events.body["items"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
            assert!(kinds.contains(&"emergency_started") && kinds.contains(&"emergency_ended"), "{kinds:?}");
        });
    });
}

#[test]
fn a_logged_in_customer_asks_for_a_demo_and_sees_its_ticket() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let sku = f.item(LicenseModel::Demo { days: 30 }, rules());
            let product = sku.to_lowercase();
            let body = json!({"product_code": product, "machine": machine_body(9)});
            let demo = api.post("/api/v1/me/demos", Some(&w.a.token), body.clone()).await;
            assert_eq!(demo.status, 201, "{}", demo.body);
            assert!(demo.body["ticket_code"].is_string());
            assert_eq!(demo.body["sku"], sku);
            let twice = api.post("/api/v1/me/demos", Some(&w.a.token), body).await;
            assert_eq!((twice.status, twice.code()), (409, "demo_already_used"));
            let licenses = api.get("/api/v1/me/licenses", Some(&w.a.token)).await;
            assert_eq!(licenses.body.as_array().map(Vec::len), Some(2));
        });
    });
}
