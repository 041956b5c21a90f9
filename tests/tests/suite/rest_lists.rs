//! Lists over real HTTP: pages that follow `Link` to the end, customer search for staff,
//! and the webhook admin API's answers to bad input and to roles that may not use it.

use keyport_core::Role;
use keyport_tests::Fixture;
use keyport_tests::http::{Api, World, api_key, block_on};
use serde_json::json;

/// Follows `Link: <...>; rel="next"` from `path` to the last page; answers every row.
async fn walk(api: &Api, path: &str, token: Option<&str>) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    let mut next = Some(path.to_owned());
    let mut pages = 0;
    while let Some(path) = next {
        let reply = api.get(&path, token).await;
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
        rows.extend(reply.body.as_array().unwrap().iter().cloned());
        next = reply.header("link").map(|link| {
            assert!(link.ends_with("; rel=\"next\""), "{link}");
            assert!(reply.header("x-next-cursor").is_some());
            link.trim_start_matches('<').split('>').next().unwrap().to_owned()
        });
        pages += 1;
        assert!(pages < 100, "the pages never end");
    }
    rows
}

#[test]
fn array_lists_page_through_link_headers_and_keep_their_order() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            let k = Some(admin.as_str());
            for n in 0..7 {
                let created =
                    api.post("/api/v1/products", k, json!({"code": format!("p{n}"), "name": "P"})).await;
                assert_eq!(created.status, 201);
            }
            let whole = api.get("/api/v1/products", k).await;
            assert_eq!(
                whole.body.as_array().map(Vec::len),
                Some(7),
                "without limit, the whole list as in 1.0"
            );
            assert!(whole.header("link").is_none());
            let paged = walk(&api, "/api/v1/products?limit=3", k).await;
            let codes: Vec<&str> = paged.iter().map(|p| p["code"].as_str().unwrap()).collect();
            assert_eq!(codes, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
            for _ in 0..4 {
                api.post("/api/v1/api-keys", k, json!({"name": "more", "role": "support"})).await;
            }
            let keys = walk(&api, "/api/v1/api-keys?limit=2", k).await;
            assert_eq!(keys.len(), 5, "the admin key and four more");
            let bad = api.get("/api/v1/products?after=%25%25&limit=2", k).await;
            assert_eq!((bad.status, bad.code()), (422, "invalid_input"));
            let too_many = api.get("/api/v1/products?limit=501", k).await;
            assert_eq!(too_many.status, 422);
        });
    });
}

#[test]
fn staff_search_customers_and_shops_look_up_one() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let admin = api_key(f, Role::Admin);
            let (k, shop) = (Some(admin.as_str()), Some(w.shop.as_str()));
            for (email, name, number) in [
                ("anna.berg@example.com", "Anna Berg", "C-1"),
                ("anna.kurz@example.org", "Anna Kurz", "C-2"),
                ("bert_100%@example.com", "Bert Hundert", "C-3"),
                ("oetzi@example.com", "Ötzi Äpfelbaum", "C-4"),
            ] {
                let body = json!({"email": email, "name": name, "customer_number": number});
                assert_eq!(api.post("/api/v1/customers", k, body).await.status, 201);
            }
            let names = |rows: Vec<serde_json::Value>| -> Vec<String> {
                rows.iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
            };
            let anna = walk(&api, "/api/v1/customers?email_prefix=ANNA.&limit=1", k).await;
            assert_eq!(names(anna), ["Anna Berg", "Anna Kurz"]);
            let kurz = walk(&api, "/api/v1/customers?name=kur", k).await;
            assert_eq!(names(kurz), ["Anna Kurz"]);
            for part in ["%C3%B6tzi", "%C3%84PFEL", "i%20%C3%A4p"] {
                let found = walk(&api, &format!("/api/v1/customers?name={part}"), k).await;
                assert_eq!(names(found), ["Ötzi Äpfelbaum"], "any case beyond ASCII too: {part}");
            }
            let literal = walk(&api, "/api/v1/customers?email_prefix=bert_100%25", k).await;
            assert_eq!(names(literal), ["Bert Hundert"], "% and _ match themselves");
            let none = walk(&api, "/api/v1/customers?email_prefix=bert%25", k).await;
            assert!(none.is_empty(), "a % in the prefix is no wildcard");
            let exact = walk(&api, "/api/v1/customers?customer_number=C-2", shop).await;
            assert_eq!(names(exact), ["Anna Kurz"], "a shop still looks one customer up");
            let search = api.get("/api/v1/customers?name=anna", shop).await;
            assert_eq!((search.status, search.code()), (403, "forbidden"), "a shop may not search");
            let everyone = api.get("/api/v1/customers", shop).await;
            assert_eq!(everyone.status, 403, "nor list every customer");
            assert_eq!(
                walk(&api, "/api/v1/customers?limit=2", k).await.len(),
                6,
                "the world\'s two and these four"
            );

            // Anna's ticket, typed carelessly, finds Anna (the world's customer A).
            let typed = w.a.ticket_code.to_lowercase().replace('-', "%20");
            let by_ticket = walk(&api, &format!("/api/v1/customers?ticket_code={typed}"), k).await;
            assert_eq!(by_ticket.len(), 1);
            assert_eq!(by_ticket[0]["id"], w.a.id.as_str());
            let bad = api.get("/api/v1/customers?ticket_code=nonsense", k).await;
            assert_eq!((bad.status, bad.code()), (422, "invalid_ticket_code"));
            let empty = api.get("/api/v1/customers?name=", k).await;
            assert_eq!((empty.status, empty.code()), (422, "invalid_input"));
        });
    });
}

#[test]
fn staff_see_every_license_of_one_customer_and_no_one_elses() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let (admin, support) = (Some(w.admin.as_str()), Some(w.support.as_str()));
            // Anna buys three more licenses on a second ticket, which she registers.
            let order = json!({"shop": "webshop", "external_order_number": "W-more",
                               "lines": [{"line_number": 1, "sku": w.sku, "quantity": 3}]});
            let order = api.post("/api/v1/orders", admin, order).await;
            assert_eq!(order.status, 201, "{}", order.body);
            let ticket = order.body["order"]["ticket_code"].as_str().unwrap();
            let registered =
                api.post("/api/v1/me/tickets", Some(&w.a.token), json!({"ticket_code": ticket})).await;
            assert!(registered.status < 300, "{}", registered.body);

            let path = format!("/api/v1/customers/{}/licenses", w.a.id);
            let licenses = walk(&api, &format!("{path}?limit=2"), support).await;
            assert_eq!(licenses.len(), 4, "the first ticket's license and the three registered later");
            let mine = api.get("/api/v1/me/licenses", Some(&w.a.token)).await;
            assert_eq!(mine.body.as_array().unwrap(), &licenses, "what Anna sees herself, row for row");
            let activated: Vec<&serde_json::Value> =
                licenses.iter().filter(|l| l["id"] == w.a.license.as_str()).collect();
            assert_eq!(activated.len(), 1);
            assert_eq!(activated[0]["seats_in_use"], 1, "{}", activated[0]);
            assert!(licenses.iter().all(|l| l["id"] != w.b.license.as_str()), "none of Bert's");

            // The portal that shows them, and the shop (as SOAP's ListCustomerLicenses).
            for key in [&w.portal, &w.shop, &w.admin] {
                let seen = api.get(&path, Some(key)).await;
                assert_eq!(seen.status, 200, "{}", seen.body);
                assert_eq!(seen.body.as_array().map(Vec::len), Some(4));
            }
            for token in [&w.b.token, &w.a.token, &w.a.ticket_token] {
                let customer = api.get(&path, Some(token)).await;
                assert_eq!(
                    (customer.status, customer.code()),
                    (403, "forbidden"),
                    "a customer uses /me/licenses, not the staff's list: {}",
                    customer.body
                );
            }
            let nobody = api.get(&path, None).await;
            assert_eq!(nobody.status, 401);
            let unknown =
                api.get(&format!("/api/v1/customers/{}/licenses", uuid::Uuid::nil()), support).await;
            assert_eq!((unknown.status, unknown.code()), (404, "not_found"), "{}", unknown.body);
            let bad = api.get("/api/v1/customers/not-a-uuid/licenses", support).await;
            assert_eq!((bad.status, bad.code()), (404, "not_found"));
            let bad_cursor = api.get(&format!("{path}?after=%25%25"), support).await;
            assert_eq!((bad_cursor.status, bad_cursor.code()), (422, "invalid_input"));
        });
    });
}

#[test]
fn the_webhook_api_is_for_admins_and_refuses_bad_input_clearly() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            let support = api_key(f, Role::Support);
            let k = Some(admin.as_str());
            let hook = json!({"url": "https://hooks.example.com/keyport", "event_kinds": ["order_created"]});
            let denied = api.post("/api/v1/webhook-endpoints", Some(support.as_str()), hook.clone()).await;
            assert_eq!((denied.status, denied.code()), (403, "forbidden"));
            for (body, field) in [
                (json!({"url": "ftp://x.example.com/"}), "url"),
                (json!({"url": "https://user:pw@x.example.com/"}), "url"),
                (json!({"url": "http://169.254.169.254/latest/meta-data"}), "url"),
                (json!({"url": "http://localhost:8080/"}), "url"),
                (json!({"url": "https://x.example.com/", "event_kinds": ["nonsense"]}), "kind"),
            ] {
                let refused = api.post("/api/v1/webhook-endpoints", k, body.clone()).await;
                assert_eq!((refused.status, refused.code()), (422, "invalid_input"), "{body}");
                assert_eq!(refused.body["facts"]["field"], field, "{body}");
            }
            let german = api
                .send(
                    "POST",
                    "/api/v1/webhook-endpoints",
                    k,
                    &[("Accept-Language", "de")],
                    Some(json!({"url": "http://10.0.0.1/"})),
                )
                .await;
            assert!(german.body["detail"].as_str().unwrap().contains("private"), "{}", german.body);
            assert!(german.body["detail"].as_str().unwrap().contains("nicht aufrufen"), "{}", german.body);

            let created = api.post("/api/v1/webhook-endpoints", k, hook).await;
            assert_eq!(created.status, 201);
            let id = created.body["endpoint"]["id"].as_str().unwrap().to_owned();
            assert!(created.body["secret"].as_str().unwrap().starts_with("whsec_"));
            let listed = api.get("/api/v1/webhook-endpoints", k).await;
            assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
            assert!(!listed.body.to_string().contains("whsec_"), "a list never shows a secret");
            let secret = api.get(&format!("/api/v1/webhook-endpoints/{id}/secret"), k).await;
            assert_eq!(secret.body["secret"], created.body["secret"]);
            assert_eq!(secret.header("cache-control"), Some("no-store"));
            let short = api
                .post(
                    &format!("/api/v1/webhook-endpoints/{id}/secret-rotation"),
                    k,
                    json!({"overlap_seconds": 5}),
                )
                .await;
            assert_eq!((short.status, short.code()), (422, "invalid_input"));
            let paused = api
                .send(
                    "PATCH",
                    &format!("/api/v1/webhook-endpoints/{id}"),
                    k,
                    &[],
                    Some(json!({"enabled": false})),
                )
                .await;
            assert_eq!(paused.body["enabled"], false);
            let gone = api.send("DELETE", &format!("/api/v1/webhook-endpoints/{id}"), k, &[], None).await;
            assert_eq!(gone.status, 204);
            let again = api.send("DELETE", &format!("/api/v1/webhook-endpoints/{id}"), k, &[], None).await;
            assert_eq!((again.status, again.code()), (404, "not_found"));
            let kinds: Vec<String> = api.get("/api/v1/events?limit=500", k).await.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["kind"].as_str().unwrap().to_owned())
                .collect();
            assert!(kinds.ends_with(&[
                "webhook_endpoint_created".to_owned(),
                "webhook_endpoint_updated".to_owned(),
                "webhook_endpoint_deleted".to_owned()
            ]));
            assert!(
                !api.get("/api/v1/events?limit=500", k).await.body.to_string().contains("whsec_"),
                "no secret in the event log"
            );
        });
    });
}
