//! The bonus program over real HTTP on both backends: staff define coupon pools and
//! rewards; registering a reseller's ticket earns its rewards once (however often it is
//! registered or moved); coupons are handed out once, also under racing registrations,
//! and owed while a pool is empty; redemptions never take a balance below zero, also
//! when they race; entitlements reach the portal and the certificate's claims.

use keyport_core::certificate;
use keyport_core::files::{FileKind, unarmor};
use keyport_tests::Fixture;
use keyport_tests::http::{Api, Reply, World, block_on, machine_body};
use serde_json::{Value, json};

/// A portal acting for a customer.
async fn as_customer(
    api: &Api,
    portal: &str,
    customer: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Reply {
    api.send(method, path, Some(portal), &[("Keyport-Customer", customer)], body).await
}

/// A reseller's order for no one named: answers its ticket code.
async fn sold(api: &Api, admin: &str, shop: &str, number: &str, sku: &str) -> String {
    let order = json!({"shop": shop, "external_order_number": number,
                       "lines": [{"line_number": 1, "sku": sku, "quantity": 1}]});
    let created = api.post("/api/v1/orders", Some(admin), order).await;
    assert!((200..300).contains(&created.status), "{}", created.body);
    created.body["order"]["ticket_code"].as_str().unwrap().to_owned()
}

/// A new customer account (created by staff): answers its id.
async fn account(api: &Api, admin: &str, email: &str) -> String {
    let body = json!({"email": email, "name": email, "password": "a long secret phrase"});
    let created = api.post("/api/v1/customers", Some(admin), body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

async fn pool(api: &Api, admin: &str, name: &str, price: Option<i64>, codes: &[&str]) -> String {
    let created =
        api.post("/api/v1/coupon-pools", Some(admin), json!({"name": name, "points_price": price})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    if !codes.is_empty() {
        let added = api
            .post(&format!("/api/v1/coupon-pools/{id}/coupons"), Some(admin), json!({"codes": codes}))
            .await;
        assert_eq!(added.status, 200, "{}", added.body);
    }
    id
}

async fn reward(api: &Api, admin: &str, body: Value) -> String {
    let created = api.post("/api/v1/rewards", Some(admin), body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["state"], "live", "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

async fn register(api: &Api, portal: &str, customer: &str, ticket: &str) -> Reply {
    as_customer(api, portal, customer, "POST", "/api/v1/me/tickets", Some(json!({"ticket_code": ticket})))
        .await
}

async fn account_of(api: &Api, staff: &str, customer: &str) -> Value {
    let got = api.get(&format!("/api/v1/customers/{customer}/bonus"), Some(staff)).await;
    assert_eq!(got.status, 200, "{}", got.body);
    got.body
}

/// The (grant, points, coupon code, entitlement) of each entry a registration answered.
fn earned(reply: &Reply) -> Vec<(String, i64, Option<String>, Option<String>)> {
    let mut got: Vec<_> = reply.body["bonus"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["reward_name"].as_str().unwrap_or_default().to_owned(),
                e["points"].as_i64().unwrap(),
                e["coupon_code"].as_str().map(str::to_owned),
                e["entitlement"].as_str().map(str::to_owned),
            )
        })
        .collect();
    got.sort();
    got
}

#[test]
fn registering_a_resellers_ticket_earns_its_rewards_once_wherever_the_ticket_goes() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let (admin, shop, portal, support) =
                (w.admin.as_str(), w.shop.as_str(), w.portal.as_str(), w.support.as_str());
            let product = w.sku.to_lowercase();
            let cam = pool(&api, admin, "CAM Lite -20%", Some(100), &["CAM-1", "CAM-2", "CAM-1"]).await;
            let pools = api.get("/api/v1/coupon-pools", Some(support)).await;
            assert_eq!(
                pools.body[0]["available"], 2,
                "a code twice in one upload is one code: {}",
                pools.body
            );
            reward(&api, admin, json!({"name": "Reseller points", "shop": "reseller-nord", "points": 150}))
                .await;
            reward(&api, admin, json!({"name": "Add-on coupon", "product": product, "coupon_pool_id": cam}))
                .await;
            reward(&api, admin, json!({"name": "Club", "entitlement": "exclusive-content"})).await;
            let webshop =
                reward(&api, admin, json!({"name": "Webshop points", "shop": "webshop", "points": 999}))
                    .await;

            // Clara registers a reseller's ticket: the three rewards that match, once.
            let clara = account(&api, admin, "clara@example.com").await;
            let ticket = sold(&api, admin, "reseller-nord", "RN-1", &w.sku).await;
            let first = register(&api, portal, &clara, &ticket).await;
            assert_eq!(first.status, 200, "{}", first.body);
            let expected = vec![
                ("Add-on coupon".to_owned(), 0, Some("CAM-1".to_owned()), None),
                ("Club".to_owned(), 0, None, Some("exclusive-content".to_owned())),
                ("Reseller points".to_owned(), 150, None, None),
            ];
            assert_eq!(earned(&first), expected);
            let again = register(&api, portal, &clara, &ticket).await;
            assert_eq!(again.status, 200, "{}", again.body);
            assert_eq!(earned(&again), expected, "registering again answers the same and earns nothing more");
            let mine = as_customer(&api, portal, &clara, "GET", "/api/v1/me/bonus", None).await;
            assert_eq!(mine.body["balance"], 150, "{}", mine.body);
            assert_eq!(mine.body["entitlements"], json!(["exclusive-content"]));
            assert_eq!(mine.body["coupons"][0]["code"], "CAM-1");
            assert_eq!(mine.body["coupons"][0]["pool"], "CAM Lite -20%");

            // Her certificates carry the entitlement.
            let license = first.body["licenses"][0]["id"].as_str().unwrap();
            let path = format!("/api/v1/me/licenses/{license}/activations");
            let activated = as_customer(&api, portal, &clara, "POST", &path, Some(machine_body(7))).await;
            assert_eq!(activated.status, 201, "{}", activated.body);
            let jws =
                unarmor(FileKind::Certificate, activated.body["certificate"].as_str().unwrap()).unwrap();
            let claims = certificate::verify(&jws, &f.store.jwks().unwrap(), chrono::Utc::now()).unwrap();
            assert_eq!(claims.entitlements, vec!["exclusive-content".to_owned()]);

            // Support moves the ticket to Dora: the reward stays with Clara, Dora earns nothing.
            let dora = account(&api, admin, "dora@example.com").await;
            let moved = api
                .post(
                    &format!("/api/v1/tickets/{ticket}/transfer"),
                    Some(support),
                    json!({"customer_id": dora}),
                )
                .await;
            assert_eq!(moved.status, 200, "{}", moved.body);
            assert_eq!(account_of(&api, shop, &dora).await["balance"], 0);
            assert_eq!(account_of(&api, shop, &clara).await["balance"], 150);

            // A webshop ticket earns the webshop's points, the product's coupon and the club;
            // a cancelled order's ticket earns nothing.
            let bought = sold(&api, admin, "webshop", "WS-1", &w.sku).await;
            let second = register(&api, portal, &dora, &bought).await;
            assert_eq!(second.status, 200, "{}", second.body);
            assert_eq!(earned(&second).iter().map(|e| e.1).sum::<i64>(), 999, "{}", second.body);
            assert!(earned(&second).iter().any(|e| e.2.as_deref() == Some("CAM-2")), "{}", second.body);
            let refunded = sold(&api, admin, "reseller-nord", "RN-2", &w.sku).await;
            let reason = keyport_tests::parse(keyport_core::Reason::parse("refund"));
            f.store.cancel_order(&f.ctx(), "reseller-nord", "RN-2", &reason).unwrap();
            let third = register(&api, portal, &dora, &refunded).await;
            assert_eq!(third.status, 200, "{}", third.body);
            assert!(earned(&third).is_empty(), "{}", third.body);

            // The pool is empty: the next coupon is owed, and the next upload pays it.
            let eve = account(&api, admin, "eve@example.com").await;
            let fourth =
                register(&api, portal, &eve, &sold(&api, admin, "reseller-nord", "RN-3", &w.sku).await).await;
            let owed = earned(&fourth);
            assert!(owed.iter().any(|e| e.0 == "Add-on coupon" && e.2.is_none()), "{}", fourth.body);
            assert_eq!(account_of(&api, shop, &eve).await["owed_coupons"], json!(["CAM Lite -20%"]));
            let upload = api
                .post(
                    &format!("/api/v1/coupon-pools/{cam}/coupons"),
                    Some(admin),
                    json!({"codes": ["CAM-1", "CAM-3"]}),
                )
                .await;
            assert_eq!(upload.status, 200, "{}", upload.body);
            assert_eq!(
                (&upload.body["added"], &upload.body["already_present"], &upload.body["handed_to_owed"]),
                (&json!(1), &json!(1), &json!(1))
            );
            let eves = account_of(&api, shop, &eve).await;
            assert_eq!(
                (&eves["coupons"][0]["code"], &eves["owed_coupons"]),
                (&json!("CAM-3"), &json!([])),
                "{eves}"
            );

            // Rewards count what they granted; a withdrawn reward earns nothing more.
            let listed = api.get("/api/v1/rewards", Some(support)).await;
            let counts: Vec<(String, i64)> = listed.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r["name"].as_str().unwrap().to_owned(), r["earned"].as_i64().unwrap()))
                .collect();
            assert_eq!(
                counts,
                vec![
                    ("Reseller points".into(), 2),
                    ("Add-on coupon".into(), 3),
                    ("Club".into(), 3),
                    ("Webshop points".into(), 1)
                ]
            );
            let withdrawn =
                api.post(&format!("/api/v1/rewards/{webshop}/withdrawal"), Some(admin), json!({})).await;
            assert_eq!(withdrawn.body["state"], "withdrawn", "{}", withdrawn.body);
            let later =
                register(&api, portal, &eve, &sold(&api, admin, "webshop", "WS-2", &w.sku).await).await;
            assert!(!earned(&later).iter().any(|e| e.0 == "Webshop points"), "{}", later.body);

            // Support registering an unowned ticket for a customer earns like registering it.
            let gina = account(&api, admin, "gina@example.com").await;
            let unowned = sold(&api, admin, "reseller-nord", "RN-5", &w.sku).await;
            let transfer = api
                .post(
                    &format!("/api/v1/tickets/{unowned}/transfer"),
                    Some(support),
                    json!({"customer_id": gina}),
                )
                .await;
            assert_eq!(transfer.status, 200, "{}", transfer.body);
            assert_eq!(account_of(&api, shop, &gina).await["balance"], 150);

            // A refund takes back what the ticket earned: the entitlement, the owed coupon and
            // what is left of the points (Frank spent 100 of them: those stay spent).
            let frank = account(&api, admin, "frank@example.com").await;
            let refunded = sold(&api, admin, "reseller-nord", "RN-4", &w.sku).await;
            assert_eq!(register(&api, portal, &frank, &refunded).await.status, 200);
            let before = account_of(&api, shop, &frank).await;
            assert_eq!(
                (&before["balance"], &before["entitlements"]),
                (&json!(150), &json!(["exclusive-content"]))
            );
            assert_eq!(before["owed_coupons"], json!(["CAM Lite -20%"]), "{before}");
            let path = format!("/api/v1/customers/{frank}/bonus/redemptions");
            let spent = api
                .post(&path, Some(shop), json!({"shop": "webshop", "points": 100, "reference": "F-1"}))
                .await;
            assert_eq!(spent.status, 201, "{}", spent.body);
            for _ in 0..2 {
                let reason = keyport_tests::parse(keyport_core::Reason::parse("refund"));
                f.store.cancel_order(&f.ctx(), "reseller-nord", "RN-4", &reason).unwrap();
                let after = account_of(&api, shop, &frank).await;
                assert_eq!(
                    (&after["balance"], &after["entitlements"], &after["owed_coupons"]),
                    (&json!(0), &json!([]), &json!([])),
                    "{after}"
                );
                let ledger = api.get(&format!("/api/v1/customers/{frank}/bonus/ledger"), Some(shop)).await;
                let items = ledger.body["items"].as_array().unwrap();
                assert_eq!(
                    (items.len(), &items[0]["kind"], &items[0]["points"]),
                    (5, &json!("reversal"), &json!(-50)),
                    "{}",
                    ledger.body
                );
                assert!(
                    items.iter().filter(|e| e["kind"] == "reward").all(|e| e["reversed_at"].is_string()),
                    "{}",
                    ledger.body
                );
            }
            let pools = api.get("/api/v1/coupon-pools", Some(support)).await;
            assert_eq!(pools.body[0]["owed"], 2, "Frank's owed coupon is no longer owed: {}", pools.body);
        })
    });
}

#[test]
fn redemptions_never_go_below_zero_and_a_reference_redeems_once() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let (admin, shop, portal) = (w.admin.clone(), w.shop.clone(), w.portal.as_str());
            reward(&api, &admin, json!({"name": "Points", "points": 150})).await;
            let clara = account(&api, &admin, "clara@example.com").await;
            let ticket = sold(&api, &admin, "reseller-nord", "RN-1", &w.sku).await;
            assert_eq!(register(&api, portal, &clara, &ticket).await.status, 200);

            let path = format!("/api/v1/customers/{clara}/bonus/redemptions");
            let first = api
                .post(&path, Some(&shop), json!({"shop": "webshop", "points": 40, "reference": "W-77"}))
                .await;
            assert_eq!(first.status, 201, "{}", first.body);
            assert_eq!(first.body["points"], -40);
            let repeat = api
                .post(&path, Some(&shop), json!({"shop": "webshop", "points": 40, "reference": "W-77"}))
                .await;
            assert_eq!((repeat.status, &repeat.body["id"]), (200, &first.body["id"]), "{}", repeat.body);
            let other = api
                .post(&path, Some(&shop), json!({"shop": "webshop", "points": 50, "reference": "W-77"}))
                .await;
            assert_eq!((other.status, other.code()), (409, "redemption_conflict"), "{}", other.body);
            // A reference is the shop's own: another shop's order W-77 is another redemption.
            let theirs = api
                .post(&path, Some(&shop), json!({"shop": "outlet", "points": 40, "reference": "W-77"}))
                .await;
            assert_eq!((theirs.status, &theirs.body["shop"]), (201, &json!("outlet")), "{}", theirs.body);

            // Six redemptions of 40 at once from 70 points: one passes, five are refused.
            let mut tasks = tokio::task::JoinSet::new();
            for n in 0..6 {
                let (base, shop, path) = (api.base.clone(), shop.clone(), path.clone());
                tasks.spawn(async move {
                    Api::at(&base)
                        .post(
                            &path,
                            Some(&shop),
                            json!({"shop": "webshop", "points": 40, "reference": format!("R-{n}")}),
                        )
                        .await
                });
            }
            let mut passed = 0;
            while let Some(reply) = tasks.join_next().await {
                let reply = reply.unwrap();
                match reply.status {
                    201 => passed += 1,
                    409 => assert_eq!(reply.code(), "insufficient_points", "{}", reply.body),
                    other => panic!("{other}: {}", reply.body),
                }
            }
            assert_eq!(passed, 1);
            assert_eq!(account_of(&api, &shop, &clara).await["balance"], 30);

            // Straight at the store, eight customers with 150 points each, six redemptions
            // of 40 each at once: three pass per customer, and no balance goes below zero.
            let mut racers = Vec::new();
            for n in 0..8 {
                let customer = account(&api, &admin, &format!("racer{n}@example.com")).await;
                let ticket = sold(&api, &admin, "reseller-nord", &format!("RACE-{n}"), &w.sku).await;
                assert_eq!(register(&api, portal, &customer, &ticket).await.status, 200);
                racers.push(customer.parse::<uuid::Uuid>().unwrap());
            }
            let start = std::sync::Arc::new(std::sync::Barrier::new(racers.len() * 6));
            let webshop = keyport_tests::parse(keyport_core::ShopName::parse("webshop"));
            let threads: Vec<_> = racers
                .iter()
                .flat_map(|c| (0..6).map(move |n| (*c, n)))
                .map(|(customer, n)| {
                    let (store, start, ctx, webshop) =
                        (f.store.clone(), start.clone(), f.ctx(), webshop.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        store
                            .redeem_points(&ctx, customer, &webshop, 40, &format!("T-{n}"))
                            .map(|(created, _)| created)
                    })
                })
                .collect();
            for thread in threads {
                match thread.join().unwrap() {
                    Ok(created) => assert!(created),
                    Err(e) => assert_eq!(e.code(), keyport_core::ErrorCode::InsufficientPoints, "{e}"),
                }
            }
            for racer in &racers {
                assert_eq!(f.store.bonus_account(*racer).unwrap().balance, 30, "three of six passed");
            }

            // The refusal names both numbers, in German too.
            let refused = api
                .send(
                    "POST",
                    &path,
                    Some(&shop),
                    &[("Accept-Language", "de")],
                    Some(json!({"shop": "webshop", "points": 31, "reference": "R-9"})),
                )
                .await;
            assert_eq!(refused.status, 409);
            let detail = refused.body["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("31 Bonuspunkte") && detail.contains("Kontostand ist 30"), "{detail}");

            // Bad input is refused by name; nothing changes.
            for (body, field) in [
                (json!({"shop": "webshop", "points": 0, "reference": "R-10"}), "points"),
                (json!({"shop": "webshop", "points": 1, "reference": "R10\u{0}"}), "reference"),
                (json!({"shop": "webshop", "points": 1, "reference": "x".repeat(65)}), "reference"),
                (json!({"shop": "web shop", "points": 1, "reference": "R-10"}), "shop"),
            ] {
                let bad = api.post(&path, Some(&shop), body).await;
                assert_eq!((bad.status, bad.code()), (422, "invalid_input"), "{}", bad.body);
                assert!(bad.body["detail"].as_str().unwrap_or_default().contains(field), "{}", bad.body);
            }
            assert_eq!(account_of(&api, &shop, &clara).await["balance"], 30);

            // The ledger, newest first, as the customer sees it.
            let ledger =
                as_customer(&api, portal, &clara, "GET", "/api/v1/me/bonus/ledger?limit=2", None).await;
            assert_eq!(ledger.body["items"].as_array().unwrap().len(), 2, "{}", ledger.body);
            assert_eq!(ledger.body["items"][0]["kind"], "redemption");
            let rest = as_customer(
                &api,
                portal,
                &clara,
                "GET",
                &format!("/api/v1/me/bonus/ledger?after={}", ledger.body["next_cursor"].as_str().unwrap()),
                None,
            )
            .await;
            let kinds: Vec<&str> =
                rest.body["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
            assert_eq!(kinds, vec!["redemption", "reward"], "{}", rest.body);
        })
    });
}

#[test]
fn racing_registrations_never_hand_one_coupon_to_two_and_exchanges_take_points_and_coupon_together() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let (admin, shop, portal) = (w.admin.clone(), w.shop.clone(), w.portal.clone());
            let codes = ["C-1", "C-2", "C-3", "C-4", "C-5"];
            let gift = pool(&api, &admin, "Gift", None, &codes).await;
            reward(&api, &admin, json!({"name": "Gift coupon", "coupon_pool_id": gift})).await;
            reward(&api, &admin, json!({"name": "Points", "points": 100})).await;

            // Eight customers register eight tickets at once; two more race for one ticket.
            let (mut customers, mut pairs) = (Vec::new(), Vec::new());
            for n in 0..8 {
                let customer = account(&api, &admin, &format!("racer{n}@example.com")).await;
                let ticket = sold(&api, &admin, "reseller-nord", &format!("RACE-{n}"), &w.sku).await;
                customers.push(customer.clone());
                pairs.push((customer, ticket));
            }
            let contested = sold(&api, &admin, "reseller-nord", "RACE-X", &w.sku).await;
            pairs.extend(customers[..2].iter().map(|c| (c.clone(), contested.clone())));
            // Everything exists before the first registration starts: they all overlap.
            let mut tasks = tokio::task::JoinSet::new();
            for (customer, ticket) in pairs {
                let (base, portal) = (api.base.clone(), portal.clone());
                tasks.spawn(async move { register(&Api::at(&base), &portal, &customer, &ticket).await });
            }
            let (mut ok, mut refused) = (0, 0);
            while let Some(reply) = tasks.join_next().await {
                let reply = reply.unwrap();
                match reply.status {
                    200 => ok += 1,
                    409 => {
                        assert_eq!(reply.code(), "ticket_already_registered", "{}", reply.body);
                        refused += 1;
                    }
                    other => panic!("{other}: {}", reply.body),
                }
            }
            assert_eq!((ok, refused), (9, 1));
            let mut handed = Vec::new();
            let mut owed = 0;
            for customer in &customers {
                let account = account_of(&api, &shop, customer).await;
                for c in account["coupons"].as_array().unwrap() {
                    handed.push(c["code"].as_str().unwrap().to_owned());
                }
                owed += account["owed_coupons"].as_array().unwrap().len();
            }
            handed.sort();
            assert_eq!(handed, codes.to_vec(), "each code once, to one customer");
            assert_eq!(owed, 4, "nine tickets earned a coupon; five were there");
            let pools = api.get("/api/v1/coupon-pools", Some(&admin)).await;
            assert_eq!(
                (&pools.body[0]["available"], &pools.body[0]["handed_out"], &pools.body[0]["owed"]),
                (&json!(0), &json!(5), &json!(4))
            );

            // Exchanges: the winner of the contested ticket has 200 points (two tickets); a
            // pool of three codes at 80 points each.
            let mut shopper = customers[0].clone();
            if account_of(&api, &shop, &shopper).await["balance"] != 200 {
                shopper = customers[1].clone();
            }
            assert_eq!(account_of(&api, &shop, &shopper).await["balance"], 200);
            let addon = pool(&api, &admin, "Add-on", Some(80), &["ADD-1", "ADD-2", "ADD-3"]).await;
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..3 {
                let (base, portal, shopper, addon) =
                    (api.base.clone(), portal.clone(), shopper.clone(), addon.clone());
                tasks.spawn(async move {
                    as_customer(
                        &Api::at(&base),
                        &portal,
                        &shopper,
                        "POST",
                        "/api/v1/me/bonus/exchanges",
                        Some(json!({"coupon_pool_id": addon})),
                    )
                    .await
                });
            }
            let mut outcomes = Vec::new();
            while let Some(reply) = tasks.join_next().await {
                let reply = reply.unwrap();
                outcomes.push((
                    reply.status,
                    reply.code().to_owned(),
                    reply.body["coupon_code"].as_str().map(str::to_owned),
                ));
            }
            outcomes.sort();
            assert_eq!(
                outcomes,
                vec![
                    (201, String::new(), Some("ADD-1".to_owned())),
                    (201, String::new(), Some("ADD-2".to_owned())),
                    (409, "insufficient_points".to_owned(), None),
                ]
            );
            let after = account_of(&api, &shop, &shopper).await;
            assert_eq!(after["balance"], 40, "a refused exchange takes no points: {after}");
            let offered = json!([{"id": addon, "name": "Add-on", "points_price": 80, "available": true}]);
            assert_eq!(after["exchangeable"], offered);
            // An empty pool refuses with nothing taken; so does a pool that does not exist.
            let path = "/api/v1/me/bonus/exchanges";
            let (third, fourth) = (customers[2].clone(), customers[3].clone());
            let last =
                as_customer(&api, &portal, &third, "POST", path, Some(json!({"coupon_pool_id": addon})))
                    .await;
            assert_eq!(last.body["coupon_code"], "ADD-3", "{}", last.body);
            let empty =
                as_customer(&api, &portal, &fourth, "POST", path, Some(json!({"coupon_pool_id": addon})))
                    .await;
            assert_eq!((empty.status, empty.code()), (409, "coupon_pool_empty"), "{}", empty.body);
            assert_eq!(account_of(&api, &shop, &fourth).await["balance"], 100);
            let nowhere = json!({"coupon_pool_id": uuid::Uuid::nil()});
            let unknown = as_customer(&api, &portal, &fourth, "POST", path, Some(nowhere)).await;
            assert_eq!((unknown.status, unknown.code()), (422, "invalid_input"), "{}", unknown.body);
            // A pool without a price is not for points.
            let gift_exchange = as_customer(
                &api,
                &portal,
                &shopper,
                "POST",
                "/api/v1/me/bonus/exchanges",
                Some(json!({"coupon_pool_id": gift})),
            )
            .await;
            assert_eq!(
                (gift_exchange.status, gift_exchange.code()),
                (422, "invalid_input"),
                "{}",
                gift_exchange.body
            );
        })
    });
}

#[test]
fn staff_and_customers_see_only_what_their_role_allows() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let body = json!({"name": "Points", "points": 10});
            for key in [&w.support, &w.shop, &w.portal] {
                let refused = api.post("/api/v1/rewards", Some(key), body.clone()).await;
                assert_eq!(refused.status, 403, "{}", refused.body);
            }
            let ticket_login = api.get("/api/v1/me/bonus", Some(&w.a.ticket_token)).await;
            assert_eq!(ticket_login.status, 403, "a ticket login has no account: {}", ticket_login.body);
            let own = api.get("/api/v1/me/bonus", Some(&w.a.token)).await;
            assert_eq!((own.status, &own.body["balance"]), (200, &json!(0)), "{}", own.body);
            let unknown =
                api.get(&format!("/api/v1/customers/{}/bonus", uuid::Uuid::nil()), Some(&w.shop)).await;
            assert_eq!(unknown.status, 404, "{}", unknown.body);
            // Exactly one grant; a product that does not exist; an end in the past.
            for (bad, field) in [
                (json!({"name": "Two", "points": 10, "entitlement": "x"}), "points"),
                (json!({"name": "Ghost", "points": 10, "product": "no-such-product"}), "product"),
                (json!({"name": "Late", "points": 10, "ends_at": "2020-01-01T00:00:00Z"}), "ends_at"),
                (json!({"name": "Pool", "coupon_pool_id": uuid::Uuid::nil()}), "coupon_pool_id"),
            ] {
                let refused = api.post("/api/v1/rewards", Some(&w.admin), bad).await;
                assert_eq!((refused.status, refused.code()), (422, "invalid_input"), "{}", refused.body);
                assert!(
                    refused.body["detail"].as_str().unwrap_or_default().contains(field),
                    "{}",
                    refused.body
                );
            }
            let codes: Vec<String> = (0..2001).map(|n| format!("C{n}")).collect();
            let created = api.post("/api/v1/coupon-pools", Some(&w.admin), json!({"name": "Big"})).await;
            let id = created.body["id"].as_str().unwrap();
            let too_many = api
                .post(&format!("/api/v1/coupon-pools/{id}/coupons"), Some(&w.admin), json!({"codes": codes}))
                .await;
            assert_eq!(too_many.status, 422, "{}", too_many.body);
            let bad_code = api
                .post(
                    &format!("/api/v1/coupon-pools/{id}/coupons"),
                    Some(&w.admin),
                    json!({"codes": ["OK-1", "no spaces"]}),
                )
                .await;
            assert!(
                bad_code.body["detail"].as_str().unwrap_or_default().contains("code number 2"),
                "{}",
                bad_code.body
            );
            let pools = api.get("/api/v1/coupon-pools", Some(&w.admin)).await;
            assert_eq!(pools.body[0]["available"], 0, "a refused upload adds nothing: {}", pools.body);
        })
    });
}
