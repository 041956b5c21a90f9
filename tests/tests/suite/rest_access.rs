//! Who may call what: the authorization matrix, customers against each other's resources,
//! and attacks on tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyport_tests::Fixture;
use keyport_tests::http::{Api, World, block_on, machine_body};
use serde_json::{Value, json};

/// The callers, in the matrix's column order.
const CALLERS: [&str; 8] =
    ["none", "admin", "support", "shop", "portal", "portal->A", "customer A", "ticket A"];

/// (method, path, expected status per caller). `{license}`, `{ticket}`, `{customer}` are
/// customer A's; `{n}` makes a created name unique per caller.
#[rustfmt::skip]
const MATRIX: &[(&str, &str, [u16; 8])] = &[
    //                                               none admin supp shop portal p->A  cust  tick
    ("GET",  "/api/v1/products",                     [401, 200, 200, 200, 200,   403,  403,  403]),
    ("POST", "/api/v1/products",                     [401, 201, 403, 403, 403,   403,  403,  403]),
    ("GET",  "/api/v1/rule-sets",                    [401, 200, 200, 200, 200,   403,  403,  403]),
    ("GET",  "/api/v1/items",                        [401, 200, 200, 200, 200,   403,  403,  403]),
    ("POST", "/api/v1/orders",                       [401, 201, 403, 201, 403,   403,  403,  403]),
    ("GET",  "/api/v1/orders/webshop/W-anna@example.com", [401, 200, 200, 200, 403, 403, 403, 403]),
    ("GET",  "/api/v1/tickets/{ticket}",             [401, 200, 200, 200, 403,   403,  403,  403]),
    ("GET",  "/api/v1/customers/{customer}",         [401, 200, 200, 200, 200,   403,  403,  403]),
    ("GET",  "/api/v1/customers?email=anna@example.com", [401, 200, 200, 200, 200, 403, 403, 403]),
    ("GET",  "/api/v1/customers?name=anna",          [401, 200, 200, 403, 403,   403,  403,  403]),
    ("GET",  "/api/v1/customers",                    [401, 200, 200, 403, 403,   403,  403,  403]),
    ("GET",  "/api/v1/webhook-endpoints",            [401, 200, 403, 403, 403,   403,  403,  403]),
    ("GET",  "/api/v1/licenses/{license}",           [401, 200, 200, 403, 403,   403,  403,  403]),
    ("POST", "/api/v1/licenses/{license}/credit-grants", [401, 200, 200, 403, 403, 403, 403, 403]),
    ("GET",  "/api/v1/events",                       [401, 200, 200, 403, 403,   403,  403,  403]),
    ("GET",  "/api/v1/me",                           [401, 403, 403, 403, 403,   200,  200,  403]),
    ("GET",  "/api/v1/me/licenses",                  [401, 403, 403, 403, 403,   200,  200,  200]),
    ("GET",  "/api/v1/me/licenses/{license}",        [401, 403, 403, 403, 403,   200,  200,  200]),
    ("GET",  "/api/v1/me/tickets",                   [401, 403, 403, 403, 403,   200,  200,  200]),
    ("POST", "/api/v1/me/tickets",                   [401, 403, 403, 403, 403,   200,  200,  403]),
    ("POST", "/api/v1/me/licenses/{license}/activations", [401, 403, 403, 403, 403, 200, 200, 200]),
    ("GET",  "/api/v1/me/events",                    [401, 403, 403, 403, 403,   200,  200,  200]),
];

fn body_for(path: &str, world: &World, n: usize) -> Option<Value> {
    Some(match path {
        "/api/v1/products" => json!({"code": format!("matrix-{n}"), "name": "Matrix"}),
        "/api/v1/orders" => json!({
            "shop": "webshop", "external_order_number": format!("M-{n}"),
            "lines": [{"line_number": 1, "sku": world.sku, "quantity": 1}],
        }),
        p if p.ends_with("/credit-grants") => json!({"amount": 1, "reason": "matrix"}),
        "/api/v1/me/tickets" => json!({"ticket_code": world.a.ticket_code}),
        p if p.ends_with("/activations") => machine_body(1),
        _ => return None,
    })
}

#[test]
fn every_caller_gets_exactly_the_answer_the_matrix_says() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let mut wrong = Vec::new();
            for (row, (method, template, expected)) in MATRIX.iter().enumerate() {
                let path = template
                    .replace("{license}", &w.a.license)
                    .replace("{ticket}", &w.a.ticket_code)
                    .replace("{customer}", &w.a.id);
                for (col, caller) in CALLERS.iter().enumerate() {
                    let (token, headers): (Option<&str>, Vec<(&str, &str)>) = match col {
                        0 => (None, vec![]),
                        1 => (Some(&w.admin), vec![]),
                        2 => (Some(&w.support), vec![]),
                        3 => (Some(&w.shop), vec![]),
                        4 => (Some(&w.portal), vec![]),
                        5 => (Some(&w.portal), vec![("Keyport-Customer", w.a.id.as_str())]),
                        6 => (Some(&w.a.token), vec![]),
                        _ => (Some(&w.a.ticket_token), vec![]),
                    };
                    let body = body_for(template, &w, row * 10 + col);
                    let reply = api.send(method, &path, token, &headers, body).await;
                    if reply.status != expected[col] {
                        wrong.push(format!(
                            "{method} {path} as {caller}: {} (expected {})",
                            reply.status, expected[col]
                        ));
                    }
                    if reply.status >= 400 {
                        assert_eq!(
                            reply.content_type, "application/problem+json",
                            "{method} {path} as {caller}"
                        );
                    }
                }
            }
            assert!(wrong.is_empty(), "answers that differ from the matrix:\n{}", wrong.join("\n"));
        });
    });
}

#[test]
fn customer_a_never_reaches_customer_b_and_learns_nothing_about_it() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let b_license = w.b.license.clone();
            let b_activation = w.b.activation.clone();
            let attempts: Vec<(&str, String, Option<Value>)> = vec![
                ("GET", format!("/api/v1/me/licenses/{b_license}"), None),
                ("POST", format!("/api/v1/me/licenses/{b_license}/activations"), Some(machine_body(7))),
                (
                    "POST",
                    "/api/v1/me/deactivations".to_owned(),
                    Some(json!({"file": keyport_tests::deactivation_proof(2, &b_license, &b_activation)})),
                ),
                ("GET", format!("/api/v1/me/transfers/{b_activation}"), None),
                ("POST", format!("/api/v1/me/transfers/{b_activation}/cancellation"), None),
                ("POST", format!("/api/v1/me/activations/{b_activation}/recovery"), Some(machine_body(8))),
            ];
            let portal_for_a = [("Keyport-Customer", w.a.id.as_str())];
            type Headers<'a> = &'a [(&'a str, &'a str)];
            let callers: [(&str, &str, Headers); 3] = [
                ("customer A", &w.a.token, &[]),
                ("ticket A", &w.a.ticket_token, &[]),
                ("portal for A", &w.portal, &portal_for_a),
            ];
            for (who, token, headers) in callers {
                for (method, path, body) in &attempts {
                    let reply = api.send(method, path, Some(token), headers, body.clone()).await;
                    assert_eq!(reply.status, 404, "{who}: {method} {path}: {}", reply.body);
                    assert_eq!(reply.code(), "not_found");
                    // Exactly the answer for an id that does not exist: nothing tells B's
                    // resources apart from none.
                    let random = uuid::Uuid::now_v7().to_string();
                    let ghost_path = path.replace(&b_license, &random).replace(&b_activation, &random);
                    let ghost = api.send(method, &ghost_path, Some(token), headers, body.clone()).await;
                    assert_eq!(
                        (ghost.status, &ghost.body["detail"]),
                        (reply.status, &reply.body["detail"]),
                        "{who}: {method} {path} answers unlike a missing id"
                    );
                }
                let mine = api.send("GET", "/api/v1/me/licenses", Some(token), headers, None).await;
                let ids: Vec<&str> =
                    mine.body.as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap()).collect();
                assert_eq!(ids, vec![w.a.license.as_str()], "{who} sees only A's license");
                let events = api.send("GET", "/api/v1/me/events", Some(token), headers, None).await;
                assert!(!events.body.to_string().contains(&b_license), "{who} sees none of B's events");
            }
            // B's license is untouched by all of that.
            let b_view = api.get(&format!("/api/v1/me/licenses/{b_license}"), Some(&w.b.token)).await;
            assert_eq!(b_view.body["seats_in_use"], 1);
            assert_eq!(b_view.body["activations"].as_array().unwrap().len(), 1);
        });
    });
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(claims: &Value, secret: &[u8]) -> String {
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap()
}

#[test]
fn forged_expired_and_unsigned_tokens_are_refused() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let secret = f.store.secret("access_token_hs256").unwrap();
            let claims = claims_of(&w.a.token);
            let now = chrono::Utc::now().timestamp();

            // Control: a token made with the real secret and fresh claims works, so the
            // refusals below are about what was changed.
            let fresh = sign(&claims, &secret);
            assert_eq!(api.get("/api/v1/me", Some(&fresh)).await.status, 200);

            let unsigned = format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let wrong_key = sign(&claims, b"not the server's secret, not at all");
            let mut old = claims.clone();
            old["iat"] = json!(now - 7200);
            old["exp"] = json!(now - 3600);
            let expired = sign(&old, &secret);
            let mut other = claims.clone();
            other["aud"] = json!("someone-else");
            let wrong_audience = sign(&other, &secret);
            // Signed with the real secret, but naming a session that never was, or B's.
            let mut ghost = claims.clone();
            ghost["sid"] = json!(uuid::Uuid::now_v7().to_string());
            let ghost_session = sign(&ghost, &secret);
            let mut borrowed = claims.clone();
            borrowed["sid"] = claims_of(&w.b.token)["sid"].clone();
            let borrowed_session = sign(&borrowed, &secret);
            for (what, token) in [
                ("alg none", unsigned.as_str()),
                ("wrong key", wrong_key.as_str()),
                ("expired", expired.as_str()),
                ("wrong audience", wrong_audience.as_str()),
                ("a session that never existed", ghost_session.as_str()),
                ("another customer's session", borrowed_session.as_str()),
                ("garbage", "not-a-token"),
                ("unknown API key", "kp_000000000000000000000000000000000000000000000000"),
            ] {
                let reply = api.get("/api/v1/me", Some(token)).await;
                assert_eq!((reply.status, reply.code()), (401, "unauthorized"), "{what}");
            }
        });
    });
}

#[test]
fn a_refresh_token_works_once_and_its_reuse_ends_the_session() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let login = api
                .post("/api/v1/auth/login", None, json!({"email": w.a.email, "password": w.a.password}))
                .await;
            let first = login.body["refresh_token"].as_str().unwrap().to_owned();
            let rotated = api.post("/api/v1/auth/refresh", None, json!({"refresh_token": first})).await;
            assert_eq!(rotated.status, 200);
            let second = rotated.body["refresh_token"].as_str().unwrap().to_owned();
            let access = rotated.body["access_token"].as_str().unwrap().to_owned();
            assert_ne!(first, second);
            assert_eq!(api.get("/api/v1/me", Some(&access)).await.status, 200);

            let reused = api.post("/api/v1/auth/refresh", None, json!({"refresh_token": first})).await;
            assert_eq!((reused.status, reused.code()), (401, "unauthorized"));
            // The leak ends the whole session: the newer token and its access token too.
            let after = api.post("/api/v1/auth/refresh", None, json!({"refresh_token": second})).await;
            assert_eq!(after.status, 401);
            assert_eq!(api.get("/api/v1/me", Some(&access)).await.status, 401);
            // Other sessions of the same customer are not affected.
            assert_eq!(api.get("/api/v1/me", Some(&w.a.token)).await.status, 200);
        });
    });
}

#[test]
fn logout_ends_the_session_at_once() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let login = api
                .post("/api/v1/auth/login", None, json!({"email": w.a.email, "password": w.a.password}))
                .await;
            let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
            let access = login.body["access_token"].as_str().unwrap().to_owned();
            let out = api.post("/api/v1/auth/logout", None, json!({"refresh_token": refresh})).await;
            assert_eq!(out.status, 204);
            assert_eq!(api.get("/api/v1/me", Some(&access)).await.status, 401);
            assert_eq!(
                api.post("/api/v1/auth/refresh", None, json!({"refresh_token": refresh})).await.status,
                401
            );
        });
    });
}

#[test]
fn a_wrong_password_and_an_unknown_address_answer_the_same() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let wrong = api
                .post("/api/v1/auth/login", None, json!({"email": w.a.email, "password": "wrong password!"}))
                .await;
            let unknown = api
                .post(
                    "/api/v1/auth/login",
                    None,
                    json!({"email": "nobody@example.com", "password": "whatever12"}),
                )
                .await;
            assert_eq!(wrong.status, 401);
            assert_eq!(wrong.body, unknown.body);
        });
    });
}
