//! Offers over real HTTP (and SOAP) on both backends: staff define offers targeted by what
//! customers own; each customer sees the ones that apply, best first, in the account's
//! language; impressions, clicks and dismissals count once (impressions once a day, up to
//! the offer's cap on days); withdrawn and dismissed offers are gone; bad definitions are
//! refused naming the bad part.

use chrono::{Duration, Utc};
use keyport_core::offer::{Localized, MAX_LIVE_OFFERS, OfferDraft, OfferKind, Response};
use keyport_core::targeting::Rule;
use keyport_core::{Email, Lang, Password};
use keyport_store::{CustomerSearch, Paging, Registration, Retention};
use keyport_tests::http::{Api, Reply, World, block_on};
use keyport_tests::{Fixture, name, parse};
use serde_json::{Value, json};

/// Clara: a German account that owns nothing; answers her id.
fn clara(f: &Fixture) -> String {
    let links = keyport_rest::mail_links("https://licenses.example.com");
    let email = parse(Email::parse("clara@example.com"));
    let registration = Registration {
        email: email.clone(),
        name: name("Clara"),
        password: parse(Password::parse("a long secret phrase")),
        lang: Lang::De,
        ticket: None,
    };
    f.store.register(&f.ctx(), &links, &registration).unwrap();
    let search = CustomerSearch { email: Some(email), ..CustomerSearch::default() };
    let found = f.store.search_customers(&search, &Paging { after: None, limit: 1 }).unwrap();
    found.items[0].id.to_string()
}

/// A portal acting for a customer.
async fn as_customer(api: &Api, portal: &str, customer: &str, method: &str, path: &str) -> Reply {
    api.send(method, path, Some(portal), &[("Keyport-Customer", customer)], None).await
}

/// The titles of a customer's offers, in order.
async fn titles(api: &Api, portal: &str, customer: &str) -> Vec<String> {
    let listed = as_customer(api, portal, customer, "GET", "/api/v1/me/offers").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    listed.body.as_array().unwrap().iter().map(|o| o["title"].as_str().unwrap().to_owned()).collect()
}

fn offer(kind: &str, rule: Value, title: &str, priority: i64) -> Value {
    json!({"kind": kind, "rule": rule, "title_en": title, "title_de": format!("{title} (de)"),
           "text_en": format!("About {title}."), "priority": priority})
}

async fn define(api: &Api, admin: &str, body: Value) -> String {
    let created = api.post("/api/v1/offers", Some(admin), body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["state"], "running", "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

async fn stats(api: &Api, admin: &str, id: &str) -> Value {
    let got = api.get(&format!("/api/v1/offers/{id}"), Some(admin)).await;
    assert_eq!(got.status, 200, "{}", got.body);
    got.body["stats"].clone()
}

#[test]
fn customers_see_the_offers_that_target_them_best_first_and_what_they_did_counts_once() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let clara = clara(f);
            let (admin, portal) = (w.admin.as_str(), w.portal.as_str());
            let product = w.sku.to_lowercase();
            let owns = json!({"owns_product": {"product": product, "versions": {"from": 5}}});

            let upgrade = define(
                &api,
                admin,
                json!({
                "kind": "upgrade", "rule": owns, "title_en": "Go Pro", "title_de": "Auf Pro wechseln",
                "text_en": "More features.", "text_de": "Mehr Funktionen.",
                "link": "https://shop.example.com/pro", "coupon_code": "PRO-2027",
                "priority": 10, "max_days_shown": 2}),
            )
            .await;
            let cross = define(&api, admin, offer("cross_sell", json!({"not": owns}), "Try CAD", 5)).await;
            let ends = (Utc::now() + Duration::days(30)).to_rfc3339();
            let everyone = define(
                &api,
                admin,
                json!({"kind": "renewal", "rule": {"all": []},
                "title_en": "Spring sale", "title_de": "Frühjahrsaktion", "priority": 50, "ends_at": ends}),
            )
            .await;
            let later = (Utc::now() + Duration::days(5)).to_rfc3339();
            let scheduled = api.post("/api/v1/offers", Some(admin),
                json!({"kind": "update", "rule": {"all": []}, "title_en": "Soon", "title_de": "Bald", "starts_at": later})).await;
            assert_eq!((scheduled.status, scheduled.body["state"].as_str()), (201, Some("scheduled")));

            // Anna owns the product: the sale first (priority 50), then the upgrade, in English.
            let mine = api.get("/api/v1/me/offers", Some(&w.a.token)).await;
            assert_eq!(mine.status, 200, "{}", mine.body);
            let list = mine.body.as_array().unwrap();
            assert_eq!(list.len(), 2, "{}", mine.body);
            assert_eq!(list[0]["title"], "Spring sale");
            assert_eq!(list[1]["id"], upgrade.as_str());
            assert_eq!(list[1]["title"], "Go Pro");
            assert_eq!(list[1]["text"], "More features.");
            assert_eq!(list[1]["coupon_code"], "PRO-2027");
            assert_eq!(list[1]["link"], "https://shop.example.com/pro");
            assert_eq!(
                (list[1]["language"].as_str(), list[1]["clicked"].as_bool()),
                (Some("en"), Some(false))
            );
            // Clara owns nothing: the sale and the cross-sell, in German.
            assert_eq!(titles(&api, portal, &clara).await, ["Frühjahrsaktion", "Try CAD (de)"]);
            let limited = as_customer(&api, portal, &clara, "GET", "/api/v1/me/offers?limit=1").await;
            assert_eq!(limited.body.as_array().map(Vec::len), Some(1));
            let bad_limit = as_customer(&api, portal, &clara, "GET", "/api/v1/me/offers?limit=0").await;
            assert_eq!((bad_limit.status, bad_limit.code()), (422, "invalid_input"));
            // Staff see what a customer is offered; a customer does not see another's.
            let preview = api.get(&format!("/api/v1/customers/{clara}/offers"), Some(&w.support)).await;
            assert_eq!(preview.status, 200, "{}", preview.body);
            let seen = as_customer(&api, portal, &clara, "GET", "/api/v1/me/offers").await;
            assert_eq!(preview.body, seen.body);
            let other = api.get(&format!("/api/v1/customers/{clara}/offers"), Some(&w.a.token)).await;
            assert_eq!((other.status, other.code()), (403, "forbidden"));
            let ticket = api.get("/api/v1/me/offers", Some(&w.a.ticket_token)).await;
            assert_eq!((ticket.status, ticket.code()), (403, "forbidden"), "offers are for accounts");

            // The shop at checkout, over SOAP: the same list.
            let (status, xml) = super::soap::call(
                &api,
                &w.shop,
                &format!("<k:ListCustomerOffers><k:customerId>{clara}</k:customerId></k:ListCustomerOffers>"),
            )
            .await;
            assert_eq!(status, 200, "{xml}");
            assert_eq!(super::soap::field(&xml, "title"), "Frühjahrsaktion");
            assert_eq!(xml.matches("<tns:offer>").count(), 2, "{xml}");
            let (status, xml) = super::soap::call(
                &api,
                &w.shop,
                &format!(
                    "<k:ListCustomerOffers><k:customerId>{}</k:customerId></k:ListCustomerOffers>",
                    uuid::Uuid::nil()
                ),
            )
            .await;
            assert_eq!((status, super::soap::field(&xml, "code")), (500, "not_found".to_owned()), "{xml}");

            // Impressions count once a day, up to the cap of two days.
            let a = w.a.id.as_str();
            let shown = format!("/api/v1/me/offers/{upgrade}/impressions");
            for _ in 0..3 {
                assert_eq!(as_customer(&api, portal, a, "POST", &shown).await.status, 204);
            }
            assert_eq!(
                stats(&api, admin, &upgrade).await,
                json!({"customers_shown": 1, "impressions": 1, "clicks": 0, "dismissals": 0})
            );
            f.store.advance_clock(Duration::days(1)).unwrap();
            assert_eq!(as_customer(&api, portal, a, "POST", &shown).await.status, 204);
            assert_eq!(stats(&api, admin, &upgrade).await["impressions"], 2);
            assert!(
                titles(&api, portal, a).await.contains(&"Go Pro".to_owned()),
                "still listed on its second day"
            );
            f.store.advance_clock(Duration::days(1)).unwrap();
            assert_eq!(titles(&api, portal, a).await, ["Spring sale"], "shown on two days: the cap");
            assert_eq!(
                titles(&api, portal, &w.b.id).await,
                ["Spring sale", "Go Pro"],
                "Bert was never shown it"
            );
            assert_eq!(
                as_customer(&api, portal, a, "POST", &shown).await.status,
                204,
                "reported again: no change"
            );
            assert_eq!(stats(&api, admin, &upgrade).await["impressions"], 2);

            // Clicks count once; a dismissed offer is gone for that customer only.
            let click = format!("/api/v1/me/offers/{everyone}/clicks");
            for _ in 0..2 {
                assert_eq!(as_customer(&api, portal, a, "POST", &click).await.status, 204);
            }
            let listed = as_customer(&api, portal, a, "GET", "/api/v1/me/offers").await;
            assert_eq!(listed.body[0]["clicked"], true, "{}", listed.body);
            let dismiss = format!("/api/v1/me/offers/{everyone}/dismissals");
            for _ in 0..2 {
                assert_eq!(as_customer(&api, portal, &w.b.id, "POST", &dismiss).await.status, 204);
            }
            assert_eq!(titles(&api, portal, &w.b.id).await, ["Go Pro"]);
            assert_eq!(
                stats(&api, admin, &everyone).await,
                json!({"customers_shown": 0, "impressions": 0, "clicks": 1, "dismissals": 1})
            );
            // An offer that does not target you answers as one that does not exist.
            let foreign =
                as_customer(&api, portal, &w.b.id, "POST", &format!("/api/v1/me/offers/{cross}/clicks"))
                    .await;
            let missing = as_customer(
                &api,
                portal,
                &w.b.id,
                "POST",
                &format!("/api/v1/me/offers/{}/clicks", uuid::Uuid::nil()),
            )
            .await;
            assert_eq!((foreign.status, foreign.code()), (404, "not_found"));
            assert_eq!(foreign.body["detail"], missing.body["detail"]);

            // Changing an offer re-ranks it; a withdrawn offer is gone and stays withdrawn.
            let mut changed = offer("cross_sell", json!({"not": owns}), "Try CAD", 100);
            changed["title_de"] = json!("CAD testen");
            let put = api
                .send("PUT", &format!("/api/v1/offers/{cross}"), Some(admin), &[], Some(changed.clone()))
                .await;
            assert_eq!((put.status, put.body["priority"].as_i64()), (200, Some(100)), "{}", put.body);
            assert_eq!(titles(&api, portal, &clara).await, ["CAD testen", "Frühjahrsaktion"]);
            let withdrawn =
                api.post(&format!("/api/v1/offers/{cross}/withdrawal"), Some(admin), json!({})).await;
            assert_eq!((withdrawn.status, withdrawn.body["state"].as_str()), (200, Some("withdrawn")));
            let again = api.post(&format!("/api/v1/offers/{cross}/withdrawal"), Some(admin), json!({})).await;
            assert_eq!(
                again.body["withdrawn_at"], withdrawn.body["withdrawn_at"],
                "withdrawing twice changes nothing"
            );
            assert_eq!(titles(&api, portal, &clara).await, ["Frühjahrsaktion"]);
            let late =
                api.send("PUT", &format!("/api/v1/offers/{cross}"), Some(admin), &[], Some(changed)).await;
            assert_eq!((late.status, late.code()), (409, "offer_withdrawn"), "{}", late.body);
            let events = api.get("/api/v1/events?kind=offer_withdrawn", Some(admin)).await;
            assert_eq!(events.status, 200, "{}", events.body);
            let withdrawals = events.body["items"].as_array().unwrap();
            assert_eq!(withdrawals.len(), 1, "one event for the withdrawal: {}", events.body);

            let all = api.get("/api/v1/offers?limit=2", Some(&w.support)).await;
            assert_eq!(all.status, 200, "{}", all.body);
            assert_eq!(all.body["items"].as_array().map(Vec::len), Some(2));
            let rest = api
                .get(
                    &format!("/api/v1/offers?after={}", all.body["next_cursor"].as_str().unwrap()),
                    Some(&w.support),
                )
                .await;
            assert_eq!(rest.body["items"].as_array().map(Vec::len), Some(2), "four offers in all");
        });
    });
}

#[test]
fn bad_offers_are_refused_naming_the_bad_part_in_english_and_german() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let admin = Some(w.admin.as_str());
            let good = offer("upgrade", json!({"all": []}), "Go Pro", 1);
            let with = |field: &str, value: Value| {
                let mut body = good.clone();
                body[field] = value;
                body
            };
            for (body, field) in [
                (with("kind", json!("sale")), "kind"),
                (with("rule", json!({"owns_product": {"product": "cad", "verions": {}}})), "rule"),
                (with("rule", json!({"all": [{"any": [{"nope": {}}]}]})), "rule"),
                (with("title_de", json!("  ")), "title_de"),
                (with("title_en", json!("x".repeat(121))), "title_en"),
                (with("text_en", json!("nul \u{0} inside")), "text_en"),
                (with("link", json!("javascript:alert(1)")), "link"),
                (with("coupon_code", json!("TWO WORDS")), "coupon_code"),
                (with("priority", json!(1001)), "priority"),
                (with("max_days_shown", json!(0)), "max_days_shown"),
                (with("ends_at", json!("2020-01-01T00:00:00Z")), "ends_at"),
                (with("priority", json!(5_000_000_000_i64)), "priority"),
                (with("starts_at", json!("2500-01-01T00:00:00Z")), "starts_at"),
                (with("starts_at", json!("1970-01-01T00:00:00Z")), "starts_at"),
                (with("rule", json!({"not": {"owns_product": {"product": "cad-rpo"}}})), "rule"),
                (with("rule", json!({"any": [{"owns_item": {"sku": "NO-SUCH-SKU"}}]})), "rule"),
            ] {
                let refused = api.post("/api/v1/offers", admin, body.clone()).await;
                assert_eq!(
                    (refused.status, refused.code()),
                    (422, "invalid_input"),
                    "{body}: {}",
                    refused.body
                );
                assert_eq!(refused.body["facts"]["field"], field, "{}", refused.body);
            }
            // A window that ended before it was saved would never be shown (and pruning would
            // take it): refused, as is an end before the start.
            let mut past = with("starts_at", json!("2024-01-01T00:00:00Z"));
            past["ends_at"] = json!("2024-02-01T00:00:00Z");
            let refused = api.post("/api/v1/offers", admin, past).await;
            assert_eq!(
                (refused.status, refused.body["facts"]["field"].as_str()),
                (422, Some("ends_at")),
                "{}",
                refused.body
            );
            let mut backwards = with("starts_at", json!((Utc::now() + Duration::days(9)).to_rfc3339()));
            backwards["ends_at"] = json!((Utc::now() + Duration::days(8)).to_rfc3339());
            let refused = api.post("/api/v1/offers", admin, backwards).await;
            assert_eq!(
                (refused.status, refused.body["facts"]["field"].as_str()),
                (422, Some("ends_at")),
                "{}",
                refused.body
            );
            let misspelt = api
                .post(
                    "/api/v1/offers",
                    admin,
                    with("rule", json!({"not": {"owns_product": {"product": "cad-rpo"}}})),
                )
                .await;
            let detail = misspelt.body["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("'cad-rpo', which does not exist"), "{}", misspelt.body);
            for year in ["+10000-01-01T00:00:00Z", "-5000-01-01T00:00:00Z"] {
                let odd = api.post("/api/v1/offers", admin, with("starts_at", json!(year))).await;
                assert!((400..500).contains(&odd.status), "{year}: {} {}", odd.status, odd.body);
            }
            let unknown = api.post("/api/v1/offers", admin, with("colour", json!("red"))).await;
            assert_eq!(unknown.status, 422, "{}", unknown.body);
            let german = api
                .send(
                    "POST",
                    "/api/v1/offers",
                    admin,
                    &[("Accept-Language", "de")],
                    Some(with("rule", json!({"all": [{"any": [{"nope": {}}]}]}))),
                )
                .await;
            assert_eq!(german.status, 422);
            let detail = german.body["detail"].as_str().unwrap();
            assert!(
                detail.contains("rule") && detail.contains("all[0].any[0]"),
                "the path of the bad part: {detail}"
            );
            assert!(detail.starts_with("Ungültiger Wert für rule"), "in German: {detail}");
            for key in [&w.support, &w.shop, &w.portal, &w.a.token] {
                let denied = api.post("/api/v1/offers", Some(key), good.clone()).await;
                assert_eq!((denied.status, denied.code()), (403, "forbidden"));
            }
            let nothing = api.get("/api/v1/offers", admin).await;
            assert_eq!(nothing.body["items"], json!([]), "nothing was stored");
        });
    });
}

/// An offer for everyone, as staff would define it in code.
fn everyone_draft(title: &str) -> OfferDraft {
    OfferDraft {
        rule: Rule::All(vec![]),
        kind: OfferKind::Update,
        title: Localized { en: title.to_owned(), de: title.to_owned() },
        text: Localized { en: String::new(), de: String::new() },
        link: None,
        coupon_code: None,
        starts_at: None,
        ends_at: None,
        priority: 0,
        max_days_shown: None,
    }
}

#[test]
fn racing_reports_lose_nothing_and_end_states_hold() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let (admin, portal, anna) = (w.admin.as_str(), w.portal.clone(), w.a.id.clone());
            let id = define(&api, admin, offer("update", json!({"all": []}), "Version 5.3", 1)).await;

            // 24 reports at once from the portal for Anna: impressions, clicks, dismissals.
            let mut tasks = tokio::task::JoinSet::new();
            for n in 0..24 {
                let (base, portal, anna, id) = (api.base.clone(), portal.clone(), anna.clone(), id.clone());
                let what = ["impressions", "clicks", "dismissals"][n % 3];
                tasks.spawn(async move {
                    let api = Api::at(&base);
                    as_customer(&api, &portal, &anna, "POST", &format!("/api/v1/me/offers/{id}/{what}")).await
                });
            }
            while let Some(reply) = tasks.join_next().await {
                let reply = reply.unwrap();
                assert_eq!(reply.status, 204, "{}", reply.body);
            }
            let counted = stats(&api, admin, &id).await;
            assert_eq!((&counted["clicks"], &counted["dismissals"]), (&json!(1), &json!(1)), "{counted}");
            assert!(counted["impressions"].as_i64().unwrap() <= 1, "{counted}");
            assert!(titles(&api, &portal, &anna).await.is_empty(), "the dismissal stood");

            // Reports on an offer not running answer as on one that does not exist.
            let later = (Utc::now() + Duration::days(3)).to_rfc3339();
            let mut body = offer("update", json!({"all": []}), "Soon", 1);
            body["starts_at"] = json!(later);
            let scheduled = api.post("/api/v1/offers", Some(admin), body).await;
            let scheduled = scheduled.body["id"].as_str().unwrap().to_owned();
            let early =
                as_customer(&api, &portal, &anna, "POST", &format!("/api/v1/me/offers/{scheduled}/clicks"))
                    .await;
            assert_eq!((early.status, early.code()), (404, "not_found"));
            api.post(&format!("/api/v1/offers/{id}/withdrawal"), Some(admin), json!({})).await;
            let gone =
                as_customer(&api, &portal, &anna, "POST", &format!("/api/v1/me/offers/{id}/clicks")).await;
            assert_eq!((gone.status, gone.code()), (404, "not_found"));

            // A change without a start keeps the offer's own.
            let mut change = offer("update", json!({"all": []}), "Soon, better", 2);
            change["ends_at"] = json!((Utc::now() + Duration::days(30)).to_rfc3339());
            let changed =
                api.send("PUT", &format!("/api/v1/offers/{scheduled}"), Some(admin), &[], Some(change)).await;
            assert_eq!(changed.status, 200, "{}", changed.body);
            let kept =
                chrono::DateTime::parse_from_rfc3339(changed.body["starts_at"].as_str().unwrap()).unwrap();
            let asked = chrono::DateTime::parse_from_rfc3339(&later).unwrap();
            assert!((kept - asked).num_seconds().abs() < 1, "{kept} {asked}");
            assert_eq!(changed.body["state"], "scheduled");

            // The same Idempotency-Key defines one offer, however often it is sent.
            let body = offer("upgrade", json!({"all": []}), "Once", 1);
            let headers = [("Idempotency-Key", "offer-once")];
            let first = api.send("POST", "/api/v1/offers", Some(admin), &headers, Some(body.clone())).await;
            let again = api.send("POST", "/api/v1/offers", Some(admin), &headers, Some(body)).await;
            assert_eq!((first.status, again.status), (201, 201));
            assert_eq!(first.body["id"], again.body["id"]);
            assert_eq!(again.header("idempotent-replayed"), Some("true"));

            // Straight at the store, many pairs at once: a dismissal and the next day's
            // impression of the same offer by the same customer, both changing one row.
            let ctx = f.ctx();
            let anna: uuid::Uuid = w.a.id.parse().unwrap();
            let ids: Vec<uuid::Uuid> = (0..20)
                .map(|n| f.store.create_offer(&ctx, &everyone_draft(&format!("Pair {n}"))).unwrap().id)
                .collect();
            for id in &ids {
                f.store.respond_to_offer(anna, *id, Response::Impression, f.store.now()).unwrap();
            }
            f.store.advance_clock(Duration::days(1)).unwrap();
            let now = f.store.now();
            let start = std::sync::Arc::new(std::sync::Barrier::new(ids.len() * 2));
            let threads: Vec<_> = ids
                .iter()
                .flat_map(|id| [(*id, Response::Impression), (*id, Response::Dismissal)])
                .map(|(id, response)| {
                    let (store, start) = (f.store.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        store.respond_to_offer(anna, id, response, now)
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap().unwrap();
            }
            for id in &ids {
                let stats = f.store.get_offer(*id, now).unwrap().stats;
                assert_eq!(stats.dismissals, 1, "no dismissal is lost to a racing impression: {stats:?}");
                assert!((1..=2).contains(&stats.impressions), "{stats:?}");
            }
        });
    });
}

#[test]
fn live_offers_are_bounded_and_old_ones_go_with_their_counts() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let admin = w.admin.as_str();
            // The running one of the test (below) and 499 more: the bound.
            let kept = define(&api, admin, offer("update", json!({"all": []}), "Kept", 1)).await;
            let ctx = f.ctx();
            let mut made = Vec::new();
            for n in 1..MAX_LIVE_OFFERS {
                made.push(f.store.create_offer(&ctx, &everyone_draft(&format!("Offer {n}"))).unwrap().id);
            }
            let full = api
                .post("/api/v1/offers", Some(admin), offer("update", json!({"all": []}), "One more", 1))
                .await;
            assert_eq!((full.status, full.code()), (409, "too_many_offers"), "{}", full.body);
            assert!(full.body["detail"].as_str().unwrap().contains("500"), "{}", full.body);
            // Anna sees the highest priorities among them, ten by default.
            assert_eq!(titles(&api, &w.portal, &w.a.id).await.len(), 10);
            // Anna saw the first of them before all were withdrawn.
            let anna = w.a.id.parse().unwrap();
            f.store.respond_to_offer(anna, made[0], Response::Impression, f.store.now()).unwrap();
            for id in &made {
                f.store.withdraw_offer(&ctx, *id).unwrap();
            }
            let room = api
                .post("/api/v1/offers", Some(admin), offer("update", json!({"all": []}), "Room again", 1))
                .await;
            assert_eq!(room.status, 201, "{}", room.body);

            // A year and a half later, with a retention of a year, the withdrawn offers go
            // (the one Anna saw with her view); the running one stays with its count.
            let old = made[0].to_string();
            assert_eq!(
                as_customer(
                    &api,
                    &w.portal,
                    &w.a.id,
                    "POST",
                    &format!("/api/v1/me/offers/{kept}/impressions")
                )
                .await
                .status,
                204
            );
            f.store.advance_clock(Duration::days(540)).unwrap();
            let retention = Retention { offers: Duration::days(365), ..Retention::default() };
            let mut pruned = 0;
            loop {
                let pass = f.store.prune(&retention, f.store.now(), 100).unwrap();
                pruned += pass.offers;
                if pass.offers == 0 {
                    break;
                }
            }
            assert_eq!(pruned, MAX_LIVE_OFFERS as usize, "the withdrawn offers and Anna's view of one");
            assert_eq!(api.get(&format!("/api/v1/offers/{old}"), Some(admin)).await.status, 404);
            let still = api.get(&format!("/api/v1/offers/{kept}"), Some(admin)).await;
            assert_eq!(
                (still.status, &still.body["stats"]["impressions"]),
                (200, &json!(1)),
                "{}",
                still.body
            );
        });
    });
}
