//! Newsletter segments over real HTTP on both backends: staff define a segment by a
//! targeting rule; its export (pages in JSON or CSV, or one streamed answer) lists only
//! customers who confirmed marketing consent, with language, the owned products the rule
//! names and a working one-click unsubscribe URL; an unsubscribed customer never appears
//! again.

use keyport_core::{Email, Lang, Password};
use keyport_store::{CustomerSearch, Paging, Registration};
use keyport_tests::http::{Api, World, block_on};
use keyport_tests::{Fixture, name, parse};
use serde_json::{Value, json};

/// A German account that owns nothing (self-registered): its id.
fn german(f: &Fixture, email: &str) -> String {
    let links = keyport_rest::mail_links("https://licenses.example.com");
    let email = parse(Email::parse(email));
    let registration = Registration {
        email: email.clone(),
        name: name("Clara"),
        password: parse(Password::parse("a long secret phrase")),
        lang: Lang::De,
        ticket: None,
    };
    f.store.register(&f.ctx(), &links, &registration).unwrap();
    let search = CustomerSearch { email: Some(email), ..CustomerSearch::default() };
    f.store.search_customers(&search, &Paging { after: None, limit: 1 }).unwrap().items[0].id.to_string()
}

/// Asks for consent for a customer through the portal and, when `confirm`, uses the link.
async fn consent(f: &Fixture, api: &Api, portal: &str, customer: &str, confirm: bool) {
    let asked = api
        .send("POST", "/api/v1/me/marketing-consent", Some(portal), &[("Keyport-Customer", customer)], None)
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let mut token = None;
    while let Some(mail) = f.store.claim_mail(f.store.now()).unwrap() {
        if let Some(at) = mail.body.find("newsletter/confirm?token=") {
            let rest = &mail.body[at + "newsletter/confirm?token=".len()..];
            token = Some(rest.chars().take_while(char::is_ascii_hexdigit).collect::<String>());
        }
        f.store.mail_sent(&mail.id, f.store.now()).unwrap();
    }
    if confirm {
        let token = token.unwrap_or_else(|| panic!("no confirmation mail"));
        let done = api.post("/api/v1/marketing-consent/confirmations", None, json!({"token": token})).await;
        assert_eq!(done.body["state"], "subscribed", "{}", done.body);
    }
}

fn emails(members: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        members.as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap().to_owned()).collect();
    out.sort();
    out
}

#[test]
fn an_export_lists_consenting_customers_only_and_never_one_who_unsubscribed() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let (admin, portal) = (w.admin.as_str(), w.portal.as_str());
            let product = w.sku.to_lowercase();
            // Anna (owner) subscribes; Bert (owner) only asks; Clara (owns nothing) subscribes.
            consent(f, &api, portal, &w.a.id, true).await;
            consent(f, &api, portal, &w.b.id, false).await;
            let clara = german(f, "clara@example.com");
            consent(f, &api, portal, &clara, true).await;

            let owners = json!({"name": "Owners", "rule": {"owns_product": {"product": product}}});
            let created = api.post("/api/v1/segments", Some(admin), owners.clone()).await;
            assert_eq!(created.status, 201, "{}", created.body);
            let id = created.body["id"].as_str().unwrap().to_owned();
            let everyone = api
                .post("/api/v1/segments", Some(admin), json!({"name": "Everyone", "rule": {"all": []}}))
                .await;
            let all = everyone.body["id"].as_str().unwrap().to_owned();

            let page = api.get(&format!("/api/v1/segments/{id}/members"), Some(admin)).await;
            assert_eq!(page.status, 200, "{}", page.body);
            assert_eq!(emails(&page.body["items"]), ["anna@example.com"], "Bert has not confirmed");
            let anna = &page.body["items"][0];
            assert_eq!((&anna["products"], &anna["language"]), (&json!([product]), &json!("en")), "{anna}");
            let everyone = api.get(&format!("/api/v1/segments/{all}/members"), Some(admin)).await;
            assert_eq!(emails(&everyone.body["items"]), ["anna@example.com", "clara@example.com"]);
            let clara_row = everyone.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["email"] == "clara@example.com")
                .unwrap();
            assert_eq!((&clara_row["language"], &clara_row["products"]), (&json!("de"), &json!([])));

            // Pages of one, JSON and CSV; the streamed export holds the same.
            let first = api.get(&format!("/api/v1/segments/{all}/members?limit=1"), Some(admin)).await;
            let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
            let second =
                api.get(&format!("/api/v1/segments/{all}/members?limit=1&after={cursor}"), Some(admin)).await;
            assert_eq!(second.body["next_cursor"], Value::Null);
            assert_ne!(first.body["items"][0]["email"], second.body["items"][0]["email"]);
            let csv = api
                .send(
                    "GET",
                    &format!("/api/v1/segments/{all}/members?format=csv&limit=1"),
                    Some(admin),
                    &[],
                    None,
                )
                .await;
            assert!(csv.content_type.starts_with("text/csv"), "{}", csv.content_type);
            assert_eq!(csv.header("x-next-cursor"), Some(cursor.as_str()));
            let raw = &csv.text;
            let lines: Vec<&str> = raw.lines().collect();
            assert_eq!(lines[0], "customer_id,email,name,language,customer_number,products,unsubscribe_url");
            assert_eq!(lines.len(), 2, "{raw}");
            assert!(
                lines[1].contains("@example.com") && lines[1].contains("/api/v1/unsubscribe?token="),
                "{raw}"
            );
            let streamed = api.get(&format!("/api/v1/segments/{all}/export"), Some(admin)).await;
            assert_eq!(streamed.status, 200, "{}", streamed.body);
            assert_eq!(emails(&streamed.body), ["anna@example.com", "clara@example.com"]);

            // Anna unsubscribes with the URL of her export row: gone from every export.
            let url = anna["unsubscribe_url"].as_str().unwrap();
            let path = &url[url.find("/api/v1/unsubscribe").unwrap()..];
            let done = api.send("POST", path, None, &[], None).await;
            assert_eq!(done.status, 200, "{}", done.body);
            for segment in [&id, &all] {
                let after = api.get(&format!("/api/v1/segments/{segment}/export"), Some(admin)).await;
                assert!(!emails(&after.body).contains(&"anna@example.com".to_owned()), "{}", after.body);
            }
            let empty = api.get(&format!("/api/v1/segments/{id}/export?format=json"), Some(admin)).await;
            assert_eq!(empty.body, json!([]), "an empty export is an empty array");
            // Asking for consent again is not enough: only a confirmed one counts.
            consent(f, &api, portal, &w.a.id, false).await;
            let still = api.get(&format!("/api/v1/segments/{all}/export"), Some(admin)).await;
            assert_eq!(emails(&still.body), ["clara@example.com"]);
        })
    });
}

#[test]
fn segments_are_checked_on_save_and_exports_are_the_admins() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let admin = w.admin.as_str();
            let ghost = json!({"name": "Ghost", "rule": {"owns_product": {"product": "no-such-product"}}});
            let refused = api.post("/api/v1/segments", Some(admin), ghost).await;
            assert_eq!((refused.status, refused.code()), (422, "invalid_input"), "{}", refused.body);
            assert!(refused.body["detail"].as_str().unwrap_or_default().contains("no-such-product"));
            let bad =
                api.post("/api/v1/segments", Some(admin), json!({"name": "Bad", "rule": {"owns": 1}})).await;
            assert_eq!(bad.status, 422, "{}", bad.body);
            let ok = api
                .post(
                    "/api/v1/segments",
                    Some(admin),
                    json!({"name": "German", "rule": {"language": ["de"]}}),
                )
                .await;
            let id = ok.body["id"].as_str().unwrap().to_owned();
            let twice = api
                .post("/api/v1/segments", Some(admin), json!({"name": "German", "rule": {"all": []}}))
                .await;
            assert_eq!(twice.status, 422, "names are unique: {}", twice.body);
            let changed = api
                .send(
                    "PUT",
                    &format!("/api/v1/segments/{id}"),
                    Some(admin),
                    &[],
                    Some(json!({"name": "German speakers", "rule": {"language": ["de"]}})),
                )
                .await;
            assert_eq!(changed.body["name"], "German speakers", "{}", changed.body);
            for query in ["limit=0", "limit=1001", "format=xml", "after=not-a-cursor"] {
                let refused = api.get(&format!("/api/v1/segments/{id}/members?{query}"), Some(admin)).await;
                assert_eq!(refused.status, 422, "{query}: {}", refused.body);
            }
            let support = api.get(&format!("/api/v1/segments/{id}/members"), Some(&w.support)).await;
            assert_eq!(support.status, 403, "support reads definitions, not addresses");
            assert_eq!(api.get("/api/v1/segments", Some(&w.support)).await.status, 200);
            assert_eq!(api.get(&format!("/api/v1/segments/{id}/export"), Some(&w.shop)).await.status, 403);
            let unknown =
                api.get(&format!("/api/v1/segments/{}/export", uuid::Uuid::nil()), Some(admin)).await;
            assert_eq!(unknown.status, 404);
            let deleted = api.send("DELETE", &format!("/api/v1/segments/{id}"), Some(admin), &[], None).await;
            assert_eq!(deleted.status, 204);
            let again = api.send("DELETE", &format!("/api/v1/segments/{id}"), Some(admin), &[], None).await;
            assert_eq!(again.status, 404);
        })
    });
}
