//! Upgrades of an owned license over real HTTP (and SOAP) on both backends: an order line
//! of an upgrade item names the license it upgrades; the license keeps its id, activations
//! and history, and takes the new item's features, seats and versions; refusals name the
//! reason; a retry changes nothing; cancelling the order takes the upgrade back.

use base64::Engine;
use keyport_tests::Fixture;
use keyport_tests::http::{Api, Reply, World, block_on, machine_body};
use serde_json::{Value, json};

/// Defines an item of the World's product that upgrades `from`, under `rule_set` (over
/// REST, as staff do).
async fn upgrade_item(api: &Api, admin: &str, base_sku: &str, sku: &str, from: &[&str], rule_set: &str) {
    let product = base_sku.to_lowercase();
    let body = json!({"sku": sku, "product_code": product, "name": format!("{sku} edition"),
        "license_model": "perpetual", "features": ["export", "render", "cloud"], "version_min": 5,
        "version_max": 6, "rule_set": rule_set, "upgrade_from": from});
    let created = api.post("/api/v1/items", Some(admin), body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["upgrade_from"], json!(from), "{}", created.body);
}

/// A rule set of five seats.
async fn five_seats(api: &Api, admin: &str) -> String {
    let body = json!({"name": "five-seats", "seats": 5, "deactivation_allowed": true, "offline_allowed": true,
        "initial_credits": 1, "blocking_days": 0, "replenish_credits": 1, "replenish_every_days": 30,
        "credit_cap": 2, "emergency_days": 14, "emergency_per_year": 1, "checkin_interval_days": null,
        "checkin_grace_days": 0});
    let created = api.post("/api/v1/rule-sets", Some(admin), body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    "five-seats".to_owned()
}

async fn order(api: &Api, key: &str, number: &str, lines: Value) -> Reply {
    let body = json!({"shop": "webshop", "external_order_number": number, "lines": lines});
    api.post("/api/v1/orders", Some(key), body).await
}

async fn license(api: &Api, token: &str, id: &str) -> Value {
    let got = api.get(&format!("/api/v1/me/licenses/{id}"), Some(token)).await;
    assert_eq!(got.status, 200, "{}", got.body);
    got.body
}

/// The claims of the compact JWS in a certificate file.
fn claims(file: &str) -> Value {
    let jws = keyport_core::files::unarmor(keyport_core::files::FileKind::Certificate, file).unwrap();
    let payload = jws.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
        .unwrap()
}

#[test]
fn an_upgrade_line_turns_an_owned_license_into_the_new_item_and_a_cancellation_takes_it_back() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let (admin, shop) = (w.admin.as_str(), w.shop.as_str());
            let rules = five_seats(&api, admin).await;
            let (pro, ultra) = (format!("{}-PRO", w.sku), format!("{}-ULTRA", w.sku));
            upgrade_item(&api, admin, &w.sku, &pro, &[&w.sku], &rules).await;
            upgrade_item(&api, admin, &w.sku, &ultra, &[&pro], &rules).await;
            let before = license(&api, &w.a.token, &w.a.license).await;
            assert_eq!(before["seats"], 3);

            let line =
                json!([{"line_number": 1, "sku": pro, "quantity": 1, "upgrade_license_id": w.a.license}]);
            let up = order(&api, shop, "UP-1", line.clone()).await;
            assert_eq!(up.status, 201, "{}", up.body);
            assert_eq!(up.body["order"]["lines"][0]["license_ids"], json!([w.a.license]), "{}", up.body);
            assert_eq!(up.body["order"]["lines"][0]["upgrade_license_id"], w.a.license.as_str());
            let after = license(&api, &w.a.token, &w.a.license).await;
            assert_eq!((after["sku"].as_str(), after["seats"].as_u64()), (Some(pro.as_str()), Some(5)));
            assert_eq!(after["features"], json!(["cloud", "export", "render"]), "{after}");
            assert_eq!(
                (&after["starts_at"], &after["ticket_code"]),
                (&before["starts_at"], &before["ticket_code"])
            );
            assert_eq!(after["activations"], before["activations"], "the machine keeps its seat");
            // The machine's next certificate carries the new features.
            let again = api
                .post(
                    &format!("/api/v1/me/licenses/{}/activations", w.a.license),
                    Some(&w.a.token),
                    machine_body(1),
                )
                .await;
            assert_eq!(again.status, 200, "the same machine: {}", again.body);
            let certificate = claims(again.body["certificate"].as_str().unwrap());
            assert!(certificate.to_string().contains("cloud"), "{certificate}");
            let events = api
                .get(&format!("/api/v1/events?license_id={}&kind=license_upgraded", w.a.license), Some(admin))
                .await;
            let upgraded = events.body["items"].as_array().unwrap();
            assert_eq!(upgraded.len(), 1, "{}", events.body);
            let data = &upgraded[0]["data"];
            assert_eq!(
                (data["from_sku"].as_str(), data["to_sku"].as_str()),
                (Some(w.sku.as_str()), Some(pro.as_str()))
            );

            // The same order again changes nothing; another upgrade of it to the same item is refused.
            let retry = order(&api, shop, "UP-1", line).await;
            assert_eq!((retry.status, &retry.body["added_lines"]), (200, &json!([])), "{}", retry.body);
            let upgrade_of = |sku: &str, license: &str| json!([{"line_number": 1, "sku": sku, "quantity": 1, "upgrade_license_id": license}]);
            let twice = order(&api, shop, "UP-2", upgrade_of(&pro, &w.a.license)).await;
            assert_eq!((twice.status, twice.code()), (409, "upgrade_not_allowed"), "{}", twice.body);
            assert_eq!(twice.body["facts"]["license_sku"], pro.as_str());
            let changed = order(&api, shop, "UP-1", upgrade_of(&pro, &w.b.license)).await;
            assert_eq!((changed.status, changed.code()), (409, "order_line_conflict"), "{}", changed.body);

            // Refusals, each leaving no order behind: an item that does not upgrade this one,
            // a quantity, a license that does not exist, another customer's license, a
            // revoked one beside a good line.
            let other = format!("{}-OTHER", w.sku);
            upgrade_item(&api, admin, &w.sku, &other, &[], &rules).await;
            let wrong = order(&api, shop, "UP-3", upgrade_of(&other, &w.b.license)).await;
            assert_eq!((wrong.status, wrong.code()), (409, "upgrade_not_allowed"), "{}", wrong.body);
            let mut many = upgrade_of(&pro, &w.b.license);
            many[0]["quantity"] = json!(2);
            let many = order(&api, shop, "UP-4", many).await;
            assert_eq!(
                (many.status, many.body["facts"]["field"].as_str()),
                (422, Some("quantity")),
                "{}",
                many.body
            );
            let nobody = order(&api, shop, "UP-5", upgrade_of(&pro, &uuid::Uuid::nil().to_string())).await;
            assert_eq!((nobody.status, nobody.code()), (404, "not_found"), "{}", nobody.body);
            let body = json!({"shop": "webshop", "external_order_number": "UP-8", "customer": {"email": w.a.email},
                              "lines": upgrade_of(&pro, &w.b.license)});
            let foreign = api.post("/api/v1/orders", Some(shop), body).await;
            assert_eq!(
                (foreign.status, foreign.code()),
                (404, "not_found"),
                "Anna's order, Bert's license: {}",
                foreign.body
            );
            let revoked = api
                .post(
                    &format!("/api/v1/licenses/{}/revocation", w.b.license),
                    Some(&w.support),
                    json!({"reason": "chargeback"}),
                )
                .await;
            assert!(revoked.status < 300, "{}", revoked.body);
            let mixed = json!([{"line_number": 1, "sku": w.sku, "quantity": 1},
                               {"line_number": 2, "sku": pro, "quantity": 1, "upgrade_license_id": w.b.license}]);
            let late = order(&api, shop, "UP-6", mixed).await;
            assert_eq!((late.status, late.code()), (409, "license_revoked"), "{}", late.body);
            for number in ["UP-2", "UP-3", "UP-4", "UP-5", "UP-6", "UP-8"] {
                let none = api.get(&format!("/api/v1/orders/webshop/{number}"), Some(admin)).await;
                assert_eq!(none.status, 404, "{number}: no order was left behind: {}", none.body);
            }
            assert_eq!(license(&api, &w.b.token, &w.b.license).await["sku"], w.sku.as_str());

            // Four more machines on the five seats, then a second upgrade on top.
            for n in 11..15 {
                let path = format!("/api/v1/me/licenses/{}/activations", w.a.license);
                let taken = api.post(&path, Some(&w.a.token), machine_body(n)).await;
                assert_eq!(taken.status, 201, "{}", taken.body);
            }
            let on_top = order(&api, shop, "UP-11", upgrade_of(&ultra, &w.a.license)).await;
            assert_eq!(on_top.status, 201, "{}", on_top.body);

            // Cancelling the first upgrade leaves the license on the second (still paid
            // for); cancelling that one too takes it back to where it began, and the two
            // machines beyond its three seats lose theirs.
            let cancel = |number: &str| {
                format!(
                    "<k:CancelOrder><k:shop>webshop</k:shop><k:externalOrderNumber>{number}</k:externalOrderNumber>\
                         <k:reason>refund</k:reason></k:CancelOrder>"
                )
            };
            let (status, xml) = super::soap::call(&api, shop, &cancel("UP-1")).await;
            assert_eq!(status, 200, "{xml}");
            let still = license(&api, &w.a.token, &w.a.license).await;
            assert_eq!(
                (still["sku"].as_str(), still["seats_in_use"].as_u64()),
                (Some(ultra.as_str()), Some(5))
            );
            let (status, xml) = super::soap::call(&api, shop, &cancel("UP-11")).await;
            assert_eq!(status, 200, "{xml}");
            let back = license(&api, &w.a.token, &w.a.license).await;
            assert_eq!(
                (back["sku"].as_str(), back["state"].as_str()),
                (Some(w.sku.as_str()), Some("active")),
                "{back}"
            );
            assert_eq!((back["seats"].as_u64(), back["seats_in_use"].as_u64()), (Some(3), Some(3)), "{back}");
            assert_eq!(back["features"], before["features"]);
            let reverted = api
                .get(&format!("/api/v1/events?license_id={}&kind=upgrade_reverted", w.a.license), Some(admin))
                .await;
            let reverted = reverted.body["items"].as_array().unwrap();
            assert_eq!(reverted.len(), 1, "one move back, by the second cancellation: {reverted:?}");
            assert_eq!(reverted[0]["data"]["ended_activations"].as_array().map(Vec::len), Some(2));

            // A shop over SOAP: the same upgrade as a CreateOrder line.
            let soap_upgrade = |number: &str| {
                format!(
                    "<k:CreateOrder><k:shop>webshop</k:shop><k:externalOrderNumber>{number}</k:externalOrderNumber>\
                         <k:line><k:lineNumber>1</k:lineNumber><k:sku>{pro}</k:sku><k:quantity>1</k:quantity>\
                         <k:upgradeLicenseId>{}</k:upgradeLicenseId></k:line></k:CreateOrder>",
                    w.a.license
                )
            };
            let (status, xml) = super::soap::call(&api, shop, &soap_upgrade("UP-9")).await;
            assert_eq!(status, 200, "{xml}");
            assert_eq!(super::soap::field(&xml, "upgradeLicenseId"), w.a.license);
            assert_eq!(license(&api, &w.a.token, &w.a.license).await["sku"], pro.as_str());
            let (status, xml) = super::soap::call(&api, shop, &soap_upgrade("UP-10")).await;
            assert_eq!(
                (status, super::soap::field(&xml, "code")),
                (500, "upgrade_not_allowed".to_owned()),
                "{xml}"
            );
        });
    });
}

#[test]
fn an_item_upgrades_only_items_of_its_product_and_no_demos() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let rules = keyport_core::RuleSetParams { name: "upgrades".to_owned(), ..keyport_tests::rules() };
            let elsewhere = f.item(keyport_core::LicenseModel::Perpetual, rules);
            let body = |from: &str| {
                json!({"sku": "X-1", "product_code": w.sku.to_lowercase(), "name": "X",
                "license_model": "perpetual", "version_min": 5, "rule_set": format!("rules-{}", w.sku.trim_start_matches("CAD-")),
                "upgrade_from": [from]})
            };
            for (from, reason) in
                [(elsewhere.as_str(), "another product"), ("NO-SUCH", "does not exist"), ("X-1", "itself")]
            {
                let refused = api.post("/api/v1/items", Some(&w.admin), body(from)).await;
                assert_eq!(
                    (refused.status, refused.body["facts"]["field"].as_str()),
                    (422, Some("upgrade_from")),
                    "{}",
                    refused.body
                );
                assert!(refused.body["detail"].as_str().unwrap().contains(reason), "{}", refused.body);
            }
        });
    });
}
