//! Upgrades of an owned license over real HTTP (and SOAP) on both backends: an order line
//! of an upgrade item names the license it upgrades; the license keeps its id, activations
//! and history, and takes the new item's features, seats and versions; refusals name the
//! reason; a retry changes nothing; cancelling the order takes the upgrade back.

use base64::Engine;
use keyport_tests::Fixture;
use keyport_tests::http::{Api, Reply, World, block_on, machine_body};
use serde_json::{Value, json};

/// Defines an item of the World's product that upgrades `from` (over REST, as staff do).
async fn upgrade_item(api: &Api, admin: &str, base_sku: &str, sku: &str, from: &[&str]) {
    let product = base_sku.to_lowercase();
    let rule_set = format!("rules-{}", base_sku.trim_start_matches("CAD-"));
    let body = json!({"sku": sku, "product_code": product, "name": format!("{sku} edition"),
        "license_model": "perpetual", "features": ["export", "render", "cloud"], "version_min": 5,
        "version_max": 6, "rule_set": rule_set, "upgrade_from": from});
    let created = api.post("/api/v1/items", Some(admin), body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["upgrade_from"], json!(from), "{}", created.body);
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
            let pro = format!("{}-PRO", w.sku);
            upgrade_item(&api, admin, &w.sku, &pro, &[&w.sku]).await;
            let before = license(&api, &w.a.token, &w.a.license).await;

            let line =
                json!([{"line_number": 1, "sku": pro, "quantity": 1, "upgrade_license_id": w.a.license}]);
            let up = order(&api, shop, "UP-1", line.clone()).await;
            assert_eq!(up.status, 201, "{}", up.body);
            assert_eq!(up.body["order"]["lines"][0]["license_ids"], json!([w.a.license]), "{}", up.body);
            assert_eq!(up.body["order"]["lines"][0]["upgrade_license_id"], w.a.license.as_str());
            let after = license(&api, &w.a.token, &w.a.license).await;
            assert_eq!(after["sku"], pro.as_str());
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
            assert_eq!(
                (upgraded[0]["data"]["from_sku"].as_str(), upgraded[0]["data"]["to_sku"].as_str()),
                (Some(w.sku.as_str()), Some(pro.as_str()))
            );

            // The same order again changes nothing; another upgrade of it to the same item is refused.
            let retry = order(&api, shop, "UP-1", line).await;
            assert_eq!((retry.status, &retry.body["added_lines"]), (200, &json!([])), "{}", retry.body);
            let twice = order(
                &api,
                shop,
                "UP-2",
                json!([{"line_number": 1, "sku": pro, "quantity": 1, "upgrade_license_id": w.a.license}]),
            )
            .await;
            assert_eq!((twice.status, twice.code()), (409, "upgrade_not_allowed"), "{}", twice.body);
            assert_eq!(twice.body["facts"]["license_sku"], pro.as_str());
            let changed = order(
                &api,
                shop,
                "UP-1",
                json!([{"line_number": 1, "sku": pro, "quantity": 1, "upgrade_license_id": w.b.license}]),
            )
            .await;
            assert_eq!((changed.status, changed.code()), (409, "order_line_conflict"), "{}", changed.body);

            // Refusals: an item that does not upgrade this one, a quantity, a license that
            // does not exist, a revoked one. Nothing is half-written.
            let other = format!("{}-OTHER", w.sku);
            upgrade_item(&api, admin, &w.sku, &other, &[]).await;
            let wrong = order(
                &api,
                shop,
                "UP-3",
                json!([{"line_number": 1, "sku": other, "quantity": 1, "upgrade_license_id": w.b.license}]),
            )
            .await;
            assert_eq!((wrong.status, wrong.code()), (409, "upgrade_not_allowed"), "{}", wrong.body);
            let many = order(
                &api,
                shop,
                "UP-4",
                json!([{"line_number": 1, "sku": pro, "quantity": 2, "upgrade_license_id": w.b.license}]),
            )
            .await;
            assert_eq!(
                (many.status, many.body["facts"]["field"].as_str()),
                (422, Some("quantity")),
                "{}",
                many.body
            );
            let nobody = order(&api, shop, "UP-5",
                json!([{"line_number": 1, "sku": pro, "quantity": 1, "upgrade_license_id": uuid::Uuid::nil()}])).await;
            assert_eq!((nobody.status, nobody.code()), (404, "not_found"), "{}", nobody.body);
            let revoked = api
                .post(
                    &format!("/api/v1/licenses/{}/revocation", w.b.license),
                    Some(&w.support),
                    json!({"reason": "chargeback"}),
                )
                .await;
            assert!(revoked.status < 300, "{}", revoked.body);
            let late = order(
                &api,
                shop,
                "UP-6",
                json!([{"line_number": 1, "sku": "NEW", "quantity": 1},
                       {"line_number": 2, "sku": pro, "quantity": 1, "upgrade_license_id": w.b.license}]),
            )
            .await;
            assert_eq!(late.status / 100, 4, "{}", late.body);
            let revoked_too = order(
                &api,
                shop,
                "UP-7",
                json!([{"line_number": 1, "sku": pro, "quantity": 1, "upgrade_license_id": w.b.license}]),
            )
            .await;
            assert_eq!(
                (revoked_too.status, revoked_too.code()),
                (409, "license_revoked"),
                "{}",
                revoked_too.body
            );
            for number in ["UP-3", "UP-4", "UP-5", "UP-6", "UP-7"] {
                let none = api.get(&format!("/api/v1/orders/webshop/{number}"), Some(admin)).await;
                assert_eq!(none.status, 404, "{number}: no order was left behind: {}", none.body);
            }

            // Cancelling the upgrade order takes the upgrade back; the license stays Anna's.
            let (status, xml) = super::soap::call(&api, shop,
                "<k:CancelOrder><k:shop>webshop</k:shop><k:externalOrderNumber>UP-1</k:externalOrderNumber><k:reason>refund</k:reason></k:CancelOrder>").await;
            assert_eq!(status, 200, "{xml}");
            let back = license(&api, &w.a.token, &w.a.license).await;
            assert_eq!(
                (back["sku"].as_str(), back["state"].as_str()),
                (Some(w.sku.as_str()), Some("active")),
                "{back}"
            );
            assert_eq!(back["features"], before["features"]);

            // A shop over SOAP: the same upgrade as a CreateOrder line.
            let (status, xml) = super::soap::call(&api, shop, &format!(
                "<k:CreateOrder><k:shop>webshop</k:shop><k:externalOrderNumber>UP-9</k:externalOrderNumber>\
                 <k:line><k:lineNumber>1</k:lineNumber><k:sku>{pro}</k:sku><k:quantity>1</k:quantity>\
                 <k:upgradeLicenseId>{}</k:upgradeLicenseId></k:line></k:CreateOrder>", w.a.license)).await;
            assert_eq!(status, 200, "{xml}");
            assert_eq!(super::soap::field(&xml, "upgradeLicenseId"), w.a.license);
            assert_eq!(license(&api, &w.a.token, &w.a.license).await["sku"], pro.as_str());
            let (status, xml) = super::soap::call(&api, shop, &format!(
                "<k:CreateOrder><k:shop>webshop</k:shop><k:externalOrderNumber>UP-10</k:externalOrderNumber>\
                 <k:line><k:lineNumber>1</k:lineNumber><k:sku>{pro}</k:sku><k:quantity>1</k:quantity>\
                 <k:upgradeLicenseId>{}</k:upgradeLicenseId></k:line></k:CreateOrder>", w.a.license)).await;
            assert_eq!(
                (status, super::soap::field(&xml, "code")),
                (500, "upgrade_not_allowed".to_owned()),
                "{xml}"
            );
        });
    });
}
