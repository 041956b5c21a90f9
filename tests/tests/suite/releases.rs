//! Releases, artifacts, downloads and updates over real HTTP with real files, on every
//! backend: staff upload and publish, customers list and download what their licenses
//! entitle them to (resuming with `Range`), links expire and cannot be forged or moved to
//! another file, yanked releases are never offered, staged rollouts hold back, and the
//! ISV's software asks for updates with a statement signed by its machine key.

use chrono::{Duration, Utc};
use keyport_core::Role;
use keyport_tests::http::{Api, Reply, api_key, block_on, machine_body};
use keyport_tests::{Fixture, machine, machine_seed};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A file of `n` bytes that differ everywhere.
fn file(n: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 32);
    let mut block = 0u64;
    while out.len() < n {
        out.extend_from_slice(
            &Sha256::new().chain_update([seed]).chain_update(block.to_le_bytes()).finalize(),
        );
        block += 1;
    }
    out.truncate(n);
    out
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn ok(reply: &Reply, what: &str) {
    assert!((200..300).contains(&reply.status), "{what}: {} {}", reply.status, reply.body);
}

/// The shop's catalog: product `cad`, items for major 5 (perpetual), 6 and later
/// (perpetual), and a 30-day subscription for 5 and later.
async fn catalog(api: &Api, admin: &str) {
    let k = Some(admin);
    ok(&api.post("/api/v1/products", k, json!({"code": "cad", "name": "CAD Pro"})).await, "product");
    let rule_set = json!({
        "name": "std", "seats": 2, "deactivation_allowed": true, "offline_allowed": true,
        "initial_credits": 1, "blocking_days": 0, "replenish_credits": 0, "replenish_every_days": 0,
        "credit_cap": 1, "emergency_days": 7, "emergency_per_year": 1,
        "checkin_interval_days": null, "checkin_grace_days": 0,
    });
    ok(&api.post("/api/v1/rule-sets", k, rule_set).await, "rule set");
    for (sku, model, days, min, max) in [
        ("CAD-5", "perpetual", None, 5, Some(5)),
        ("CAD-6", "perpetual", None, 6, None),
        ("CAD-SUB", "subscription", Some(30), 5, None),
    ] {
        let item = json!({"sku": sku, "product_code": "cad", "name": sku, "license_model": model,
                          "duration_days": days, "version_min": min, "version_max": max, "rule_set": "std"});
        ok(&api.post("/api/v1/items", k, item).await, sku);
    }
}

/// A customer who bought `sku`: access token and license id.
async fn customer(api: &Api, admin: &str, email: &str, sku: &str) -> (String, String) {
    let password = "a-long-secret-password";
    let created = api
        .post("/api/v1/customers", Some(admin), json!({"email": email, "name": email, "password": password}))
        .await;
    ok(&created, "customer");
    let order = json!({"shop": "web", "external_order_number": format!("W-{email}"), "customer": {"email": email},
                       "lines": [{"line_number": 1, "sku": sku, "quantity": 1}]});
    let order = api.post("/api/v1/orders", Some(admin), order).await;
    ok(&order, "order");
    let license = order.body["order"]["lines"][0]["license_ids"][0].as_str().unwrap_or_default().to_owned();
    let login = api.post("/api/v1/auth/login", None, json!({"email": email, "password": password})).await;
    ok(&login, "login");
    (login.body["access_token"].as_str().unwrap_or_default().to_owned(), license)
}

/// Sends raw bytes (an upload) and reads the JSON answer.
async fn upload(api: &Api, admin: &str, release: &str, query: &str, bytes: Vec<u8>, lang: &str) -> Reply {
    let url = format!("{}/api/v1/releases/{release}/artifacts?{query}", api.base);
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(admin)
        .header("Accept-Language", lang)
        .header("Content-Type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload: {e}"));
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Reply { status, content_type: String::new(), body, headers: Vec::new(), text: String::new() }
}

/// A published (or draft) release of `cad` with one Windows file: (release id, file).
async fn release(api: &Api, admin: &str, version: &str, publish: bool, seed: u8) -> (String, Vec<u8>) {
    let created = api
        .post(
            "/api/v1/releases",
            Some(admin),
            json!({"product": "cad", "version": version,
        "notes_en": format!("What is new in {version}"), "notes_de": format!("Neu in {version}")}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    let bytes = file(200_000 + usize::from(seed), seed);
    let query = format!("os=windows&arch=x86_64&file_name=cad-{version}-setup.exe&sha256={}", sha(&bytes));
    let stored = upload(api, admin, &id, &query, bytes.clone(), "en").await;
    assert_eq!(stored.status, 201, "{}", stored.body);
    if publish {
        ok(&api.post(&format!("/api/v1/releases/{id}/publish"), Some(admin), json!({})).await, "publish");
    }
    (id, bytes)
}

/// GETs a URL with headers: status, headers, bytes.
async fn fetch(url: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap_or_default().to_vec())
}

fn versions(downloads: &Value) -> Vec<String> {
    downloads["products"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["releases"].as_array().into_iter().flatten())
        .map(|r| r["version"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn link_of(downloads: &Value, version: &str) -> String {
    downloads["products"][0]["releases"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["version"] == json!(version))
        .and_then(|r| r["artifacts"][0]["download_url"].as_str())
        .unwrap_or_else(|| panic!("no link for {version} in {downloads}"))
        .to_owned()
}

async fn downloads_recorded(f: &Fixture, release: &str, expected: i64) {
    let id = uuid::Uuid::parse_str(release).unwrap_or_default();
    for _ in 0..100 {
        if f.store.count_downloads(id).unwrap_or_default() == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("expected {expected} downloads of {release}, have {:?}", f.store.count_downloads(id));
}

#[test]
fn a_customer_downloads_what_a_release_offers_and_resumes_with_range() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            catalog(&api, &admin).await;
            let (token, _) = customer(&api, &admin, "eva@example.com", "CAD-5").await;
            let (draft, _) = release(&api, &admin, "5.2.0", false, 2).await;
            // A draft is nobody's download.
            let listed = api.get("/api/v1/me/downloads", Some(&token)).await;
            ok(&listed, "downloads");
            assert_eq!(versions(&listed.body), Vec::<String>::new());
            ok(
                &api.post(&format!("/api/v1/releases/{draft}/publish"), Some(&admin), json!({})).await,
                "publish",
            );
            let again = api.post(&format!("/api/v1/releases/{draft}/publish"), Some(&admin), json!({})).await;
            assert_eq!((again.status, again.body["state"].clone()), (200, json!("published")));
            let (_, bytes) = release(&api, &admin, "5.1.0", true, 1).await;

            let listed = api.get("/api/v1/me/downloads", Some(&token)).await;
            assert_eq!(versions(&listed.body), ["5.2.0", "5.1.0"], "newest first: {}", listed.body);
            let entry = &listed.body["products"][0]["releases"][1];
            assert_eq!(entry["notes_de"], json!("Neu in 5.1.0"));
            assert_eq!(entry["artifacts"][0]["sha256"], json!(sha(&bytes)));
            let url = link_of(&listed.body, "5.1.0");
            assert!(url.starts_with(&format!("{}/api/v1/downloads/", api.base)), "{url}");

            // The whole file, with what a browser and a download manager need.
            let (status, headers, body) = fetch(&url, &[]).await;
            assert_eq!(status, 200);
            assert_eq!(body, bytes);
            let header =
                |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            assert_eq!(header("content-length"), bytes.len().to_string());
            assert_eq!(header("etag"), format!("\"{}\"", sha(&bytes)));
            assert_eq!(header("accept-ranges"), "bytes");
            assert!(header("content-disposition").contains("filename=\"cad-5.1.0-setup.exe\""));
            // Broken off after 70,000 bytes, resumed from there: the same file.
            let (status, headers, head) = fetch(&url, &[("Range", "bytes=0-69999")]).await;
            assert_eq!((status, head.len()), (206, 70_000));
            assert_eq!(
                headers.get("content-range").and_then(|v| v.to_str().ok()),
                Some(format!("bytes 0-69999/{}", bytes.len()).as_str())
            );
            let etag = format!("\"{}\"", sha(&bytes));
            let (status, _, tail) =
                fetch(&url, &[("Range", "bytes=70000-"), ("If-Range", etag.as_str())]).await;
            assert_eq!(status, 206);
            assert_eq!([head, tail].concat(), bytes, "the resumed file is byte-identical");
            let (status, _, _) = fetch(&url, &[("If-None-Match", etag.as_str())]).await;
            assert_eq!(status, 304);
            let (status, headers, body) = fetch(&url, &[("Range", "bytes=900000-")]).await;
            let problem: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert_eq!((status, problem["code"].clone()), (416, json!("range_not_satisfiable")));
            assert_eq!(
                headers.get("content-range").and_then(|v| v.to_str().ok()),
                Some(format!("bytes */{}", bytes.len()).as_str())
            );
            // Two complete downloads (the whole file, and the resumed one); the broken-off
            // part counts for nothing.
            let id = listed.body["products"][0]["releases"][1]["id"].as_str().unwrap_or_default().to_owned();
            downloads_recorded(f, &id, 2).await;

            // Every change is an event.
            let events = api.get("/api/v1/events?limit=100", Some(&admin)).await;
            let kinds: Vec<&str> = events.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["kind"].as_str())
                .collect();
            for kind in ["release_created", "artifact_added", "release_published"] {
                assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
            }
            assert_eq!(
                kinds.iter().filter(|k| **k == "release_published").count(),
                2,
                "publishing twice is one event"
            );
        })
    });
}

#[test]
fn uploads_that_are_refused_store_nothing() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            catalog(&api, &admin).await;
            let created = api
                .post("/api/v1/releases", Some(&admin), json!({"product": "cad", "version": "5.0.0"}))
                .await;
            let id = created.body["id"].as_str().unwrap_or_default().to_owned();
            let bytes = file(100_000, 7);
            let wrong = sha(b"another file");
            let query = format!("os=linux&arch=x86_64&file_name=cad.tar.gz&sha256={wrong}");
            let refused = upload(&api, &admin, &id, &query, bytes.clone(), "de").await;
            assert_eq!((refused.status, refused.code()), (422, "hash_mismatch"));
            assert_eq!(
                refused.body["detail"].as_str(),
                Some(format!("Die SHA-256-Prüfsumme der hochgeladenen Datei ist {}, nicht {wrong} wie angekündigt; es wurde nichts gespeichert.", sha(&bytes)).as_str())
            );
            let shown = api.get(&format!("/api/v1/releases/{id}"), Some(&admin)).await;
            assert_eq!(shown.body["artifacts"], json!([]));
            // Nothing to publish yet.
            let publish = api.post(&format!("/api/v1/releases/{id}/publish"), Some(&admin), json!({})).await;
            assert_eq!((publish.status, publish.code()), (409, "release_state"));

            let stored =
                upload(&api, &admin, &id, "os=linux&arch=x86_64&file_name=cad.tar.gz", bytes.clone(), "en")
                    .await;
            assert_eq!((stored.status, stored.body["size"].clone()), (201, json!(100_000)));
            let twice =
                upload(&api, &admin, &id, "os=linux&arch=x86_64&file_name=other.tar.gz", bytes.clone(), "en")
                    .await;
            assert_eq!((twice.status, twice.code()), (409, "already_exists"));
            for (query, field) in [
                ("os=beos&arch=x86_64&file_name=a", "os"),
                ("os=linux&arch=x86-64&file_name=a", "arch"),
                ("os=linux&arch=arm64&file_name=../../etc/passwd", "file_name"),
                ("os=linux&arch=arm64&file_name=a&sha256=xyz", "sha256"),
            ] {
                let refused = upload(&api, &admin, &id, query, b"x".to_vec(), "en").await;
                assert_eq!(
                    (refused.status, refused.body["facts"]["field"].clone()),
                    (422, json!(field)),
                    "{query}"
                );
            }
            let support = api_key(f, Role::Support);
            let forbidden =
                upload(&api, &support, &id, "os=linux&arch=arm64&file_name=a", b"x".to_vec(), "en").await;
            assert_eq!((forbidden.status, forbidden.code()), (403, "forbidden"));
            let missing = uuid::Uuid::now_v7();
            let unknown = upload(
                &api,
                &admin,
                &missing.to_string(),
                "os=linux&arch=arm64&file_name=a",
                b"x".to_vec(),
                "en",
            )
            .await;
            assert_eq!((unknown.status, unknown.code()), (404, "not_found"));

            ok(
                &api.post(&format!("/api/v1/releases/{id}/publish"), Some(&admin), json!({})).await,
                "publish",
            );
            let late =
                upload(&api, &admin, &id, "os=macos&arch=aarch64&file_name=cad.dmg", b"x".to_vec(), "en")
                    .await;
            assert_eq!((late.status, late.code()), (409, "release_state"));
            let delete = api.send("DELETE", &format!("/api/v1/releases/{id}"), Some(&admin), &[], None).await;
            assert_eq!((delete.status, delete.code()), (409, "release_state"));
            let duplicate = api
                .post("/api/v1/releases", Some(&admin), json!({"product": "cad", "version": "5.0.0"}))
                .await;
            assert_eq!((duplicate.status, duplicate.code()), (409, "already_exists"));
            let bad =
                api.post("/api/v1/releases", Some(&admin), json!({"product": "cad", "version": "v5"})).await;
            assert_eq!((bad.status, bad.body["facts"]["field"].clone()), (422, json!("version")));

            // A draft deleted with its file.
            let (draft, _) = release(&api, &admin, "5.0.1", false, 9).await;
            let delete =
                api.send("DELETE", &format!("/api/v1/releases/{draft}"), Some(&admin), &[], None).await;
            assert_eq!(delete.status, 204);
            assert_eq!(api.get(&format!("/api/v1/releases/{draft}"), Some(&admin)).await.status, 404);
        })
    });
}

#[test]
fn entitlement_follows_versions_subscription_ends_and_revocation() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            catalog(&api, &admin).await;
            let (five, five_license) = customer(&api, &admin, "five@example.com", "CAD-5").await;
            customer(&api, &admin, "sub@example.com", "CAD-SUB").await;
            let (nobody, _) = customer(&api, &admin, "nobody@example.com", "CAD-6").await;
            release(&api, &admin, "5.1.0", true, 1).await;
            release(&api, &admin, "6.0.0", true, 2).await;
            let five_list = api.get("/api/v1/me/downloads", Some(&five)).await;
            assert_eq!(versions(&five_list.body), ["5.1.0"]);
            assert_eq!(versions(&api.get("/api/v1/me/downloads", Some(&nobody)).await.body), ["6.0.0"]);
            let updates = api
                .send(
                    "GET",
                    "/api/v1/me/updates?os=windows&arch=x86_64&installed=cad@5.0.0",
                    Some(&five),
                    &[("Accept-Language", "de")],
                    None,
                )
                .await;
            ok(&updates, "updates");
            let cad = &updates.body["products"][0];
            assert_eq!(
                (cad["latest"]["version"].clone(), cad["update_available"].clone()),
                (json!("5.1.0"), json!(true))
            );
            assert_eq!(cad["upgrade"]["version"], json!("6.0.0"));
            assert_eq!(cad["upgrade"]["upgrade_items"], json!(["CAD-6", "CAD-SUB"]));
            assert_eq!(
                cad["upgrade"]["message"],
                json!(
                    "Keine Ihrer Lizenzen berechtigt Sie zu cad 6.0.0: Ihre Lizenzen gelten für andere Versionen dieses Produkts; ein Upgrade ist nötig."
                )
            );

            // The subscription ends; what was published while it ran stays downloadable.
            f.store.advance_clock(Duration::days(31)).unwrap_or_else(|e| panic!("{e}"));
            release(&api, &admin, "5.2.0", true, 3).await;
            // (Access tokens expired with the clock: log in again.)
            let login = json!({"email": "sub@example.com", "password": "a-long-secret-password"});
            let sub = api.post("/api/v1/auth/login", None, login).await.body["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let login = json!({"email": "five@example.com", "password": "a-long-secret-password"});
            let five = api.post("/api/v1/auth/login", None, login).await.body["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let sub_list = api.get("/api/v1/me/downloads", Some(&sub)).await;
            assert_eq!(versions(&sub_list.body), ["6.0.0", "5.1.0"]);
            let updates =
                api.get("/api/v1/me/updates?os=windows&arch=x86_64&installed=cad@5.1.0", Some(&sub)).await;
            let cad = &updates.body["products"][0];
            assert_eq!(cad["latest"]["version"], json!("6.0.0"), "{}", updates.body);
            assert_eq!(cad["upgrade"], Value::Null, "nothing newer than 6.0.0 exists");

            // Revoked: nothing, and a link made before refuses.
            let link = link_of(&api.get("/api/v1/me/downloads", Some(&five)).await.body, "5.1.0");
            assert_eq!(fetch(&link, &[]).await.0, 200);
            let revoked = api
                .post(
                    &format!("/api/v1/licenses/{five_license}/revocation"),
                    Some(&admin),
                    json!({"reason": "refund"}),
                )
                .await;
            ok(&revoked, "revoke");
            assert_eq!(api.get("/api/v1/me/downloads", Some(&five)).await.body["products"], json!([]));
            let (status, _, body) = fetch(&link, &[]).await;
            let problem: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert_eq!((status, problem["code"].clone()), (403, json!("not_entitled")), "{problem}");
            assert_eq!(problem["facts"]["reason"], json!("your license of this product was revoked"));
        })
    });
}

#[test]
fn a_yanked_release_is_never_offered_and_stays_only_for_those_who_had_it() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            catalog(&api, &admin).await;
            let (had, _) = customer(&api, &admin, "had@example.com", "CAD-5").await;
            let (other, _) = customer(&api, &admin, "other@example.com", "CAD-5").await;
            release(&api, &admin, "5.1.0", true, 1).await;
            let (bad, _) = release(&api, &admin, "5.2.0", true, 2).await;
            let listed = api.get("/api/v1/me/downloads", Some(&had)).await;
            assert_eq!(fetch(&link_of(&listed.body, "5.2.0"), &[]).await.0, 200);
            downloads_recorded(f, &bad, 1).await;

            let yank = json!({"reason": "crashes on start", "keep_downloadable": true});
            let yanked = api.post(&format!("/api/v1/releases/{bad}/yank"), Some(&admin), yank.clone()).await;
            assert_eq!((yanked.status, yanked.body["state"].clone()), (200, json!("yanked")));
            let again = api.post(&format!("/api/v1/releases/{bad}/yank"), Some(&admin), yank).await;
            assert_eq!((again.status, again.body["yank_reason"].clone()), (200, json!("crashes on start")));
            let republish =
                api.post(&format!("/api/v1/releases/{bad}/publish"), Some(&admin), json!({})).await;
            assert_eq!((republish.status, republish.code()), (409, "release_state"));

            for token in [&had, &other] {
                let updates = api
                    .get("/api/v1/me/updates?os=windows&arch=x86_64&installed=cad@5.0.0", Some(token))
                    .await;
                assert_eq!(
                    updates.body["products"][0]["latest"]["version"],
                    json!("5.1.0"),
                    "{}",
                    updates.body
                );
            }
            let kept = api.get("/api/v1/me/downloads", Some(&had)).await;
            assert_eq!(versions(&kept.body), ["5.2.0", "5.1.0"]);
            assert_eq!(kept.body["products"][0]["releases"][0]["yanked"], json!(true));
            assert_eq!(versions(&api.get("/api/v1/me/downloads", Some(&other)).await.body), ["5.1.0"]);
            let events = api.get("/api/v1/events?kind=release_yanked", Some(&admin)).await;
            assert_eq!(events.body["items"].as_array().map(Vec::len), Some(1), "{}", events.body);
            // The ISV changes its mind: nobody keeps it.
            let cut = json!({"reason": "security hole", "keep_downloadable": false});
            let cut = api.post(&format!("/api/v1/releases/{bad}/yank"), Some(&admin), cut).await;
            assert_eq!((cut.status, cut.body["keep_downloadable"].clone()), (200, json!(false)));
            assert_eq!(cut.body["yank_reason"], json!("crashes on start"), "the first reason stays");
            assert_eq!(versions(&api.get("/api/v1/me/downloads", Some(&had)).await.body), ["5.1.0"]);
            let events = api.get("/api/v1/events?kind=release_yanked", Some(&admin)).await;
            assert_eq!(events.body["items"].as_array().map(Vec::len), Some(2), "{}", events.body);
        })
    });
}

#[test]
fn download_links_expire_are_bound_to_their_file_and_cannot_be_forged() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            catalog(&api, &admin).await;
            let (token, _) = customer(&api, &admin, "eva@example.com", "CAD-5").await;
            release(&api, &admin, "5.1.0", true, 1).await;
            release(&api, &admin, "5.2.0", true, 2).await;
            let listed = api.get("/api/v1/me/downloads", Some(&token)).await;
            let (one, two) = (link_of(&listed.body, "5.1.0"), link_of(&listed.body, "5.2.0"));
            let problem = |body: &[u8]| -> Value { serde_json::from_slice(body).unwrap_or(Value::Null) };
            // 5.1.0's token on 5.2.0's file.
            let token_of = |url: &str| url.split("token=").nth(1).unwrap_or_default().to_owned();
            let moved = format!("{}?token={}", two.split('?').next().unwrap_or_default(), token_of(&one));
            let (status, _, body) = fetch(&moved, &[]).await;
            assert_eq!(
                (status, problem(&body)["facts"]["reason"].clone()),
                (403, json!("it was made for another file"))
            );
            // A changed token.
            let mut forged = token_of(&one);
            forged.insert(forged.len() / 2, 'A');
            let forged = format!("{}?token={forged}", one.split('?').next().unwrap_or_default());
            let (status, _, body) = fetch(&forged, &[]).await;
            assert_eq!((status, problem(&body)["code"].clone()), (403, json!("download_link_invalid")));
            let (status, _, _) = fetch(one.split('?').next().unwrap_or_default(), &[]).await;
            assert_eq!(status, 422, "no token");
            // Ten minutes later.
            f.store.advance_clock(Duration::minutes(11)).unwrap_or_else(|e| panic!("{e}"));
            let (status, _, body) = fetch(&one, &[("Accept-Language", "de")]).await;
            assert_eq!(
                (status, problem(&body)["detail"].clone()),
                (
                    403,
                    json!(
                        "Dieser Download-Link ist ungültig: er ist abgelaufen; holen Sie einen neuen aus der Liste der Downloads."
                    )
                )
            );
        })
    });
}

#[test]
fn a_staged_rollout_offers_a_release_to_its_share_only() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            catalog(&api, &admin).await;
            let (token, _) = customer(&api, &admin, "eva@example.com", "CAD-5").await;
            release(&api, &admin, "5.1.0", true, 1).await;
            let (next, _) = release(&api, &admin, "5.2.0", false, 2).await;
            let rollout = api
                .send(
                    "PUT",
                    &format!("/api/v1/releases/{next}/rollout"),
                    Some(&admin),
                    &[],
                    Some(json!({"percent": 0})),
                )
                .await;
            assert_eq!((rollout.status, rollout.body["rollout_percent"].clone()), (200, json!(0)));
            ok(
                &api.post(&format!("/api/v1/releases/{next}/publish"), Some(&admin), json!({})).await,
                "publish",
            );
            let path = "/api/v1/me/updates?os=windows&arch=x86_64&installed=cad@5.1.0";
            let held = api.get(path, Some(&token)).await;
            assert_eq!(held.body["products"][0]["latest"]["version"], json!("5.1.0"));
            assert_eq!(held.body["products"][0]["update_available"], json!(false));
            // Downloadable all the same (a rollout holds back the offer, not the right).
            assert_eq!(
                versions(&api.get("/api/v1/me/downloads", Some(&token)).await.body),
                ["5.2.0", "5.1.0"]
            );
            let bad = api
                .send(
                    "PUT",
                    &format!("/api/v1/releases/{next}/rollout"),
                    Some(&admin),
                    &[],
                    Some(json!({"percent": 101})),
                )
                .await;
            assert_eq!((bad.status, bad.body["facts"]["field"].clone()), (422, json!("rollout_percent")));
            api.send(
                "PUT",
                &format!("/api/v1/releases/{next}/rollout"),
                Some(&admin),
                &[],
                Some(json!({"percent": 100})),
            )
            .await;
            let offered = api.get(path, Some(&token)).await;
            assert_eq!(offered.body["products"][0]["latest"]["version"], json!("5.2.0"));
            assert_eq!(offered.body["products"][0]["update_available"], json!(true));
            // Other OS, nothing.
            let mac = api.get("/api/v1/me/updates?os=macos&arch=aarch64", Some(&token)).await;
            assert_eq!(mac.body["products"][0]["latest"], Value::Null, "{}", mac.body);
            let bad = api.get("/api/v1/me/updates?os=windows&arch=x86_64&installed=cad", Some(&token)).await;
            assert_eq!((bad.status, bad.body["facts"]["field"].clone()), (422, json!("installed")));
        })
    });
}

/// An update check signed by machine `n`.
fn update_check(n: u32, license: &str, activation: &str, version: &str, at: chrono::DateTime<Utc>) -> String {
    let statement = keyport_core::release::UpdateCheck {
        activation_id: uuid::Uuid::parse_str(activation).unwrap_or_default(),
        license_id: uuid::Uuid::parse_str(license).unwrap_or_default(),
        machine_key: machine(n).key.to_string(),
        at_ms: at.timestamp_millis(),
        channel: None,
        report: keyport_core::checkin::ClientReport {
            version: version.to_owned(),
            os: "windows".to_owned(),
            os_version: "10.0.19045".to_owned(),
            arch: "x86_64".to_owned(),
            locale: "de-DE".to_owned(),
        },
    };
    let signed = keyport_core::jws::sign(
        &statement,
        keyport_core::files::FileKind::UpdateCheck.typ(),
        None,
        &machine_seed(n),
    )
    .unwrap_or_default();
    keyport_core::files::armor(keyport_core::files::FileKind::UpdateCheck, &signed)
}

#[test]
fn the_software_asks_for_its_update_with_a_signed_statement_and_gets_a_signed_manifest() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            catalog(&api, &admin).await;
            let (token, license) = customer(&api, &admin, "eva@example.com", "CAD-5").await;
            let activated = api
                .post(&format!("/api/v1/me/licenses/{license}/activations"), Some(&token), machine_body(4))
                .await;
            ok(&activated, "activate");
            let activation = activated.body["activation"]["id"].as_str().unwrap_or_default().to_owned();
            let (_, bytes) = release(&api, &admin, "5.1.0", true, 1).await;

            let now = f.store.now();
            let proof = update_check(4, &license, &activation, "5.0.0", now);
            let answer = api.post("/api/v1/update-checks", None, json!({"proof": proof})).await;
            ok(&answer, "update check");
            let latest = &answer.body["products"][0]["latest"];
            assert_eq!(
                (latest["version"].clone(), answer.body["products"][0]["update_available"].clone()),
                (json!("5.1.0"), json!(true))
            );
            // The manifest verifies with the published keys and names the file's digest.
            let jwks = api.get("/.well-known/jwks.json", None).await;
            let manifest =
                keyport_core::jws::Unverified::parse(latest["manifest"].as_str().unwrap_or_default())
                    .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(manifest.header.typ, keyport_core::release::MANIFEST_TYP);
            let kid = manifest.header.kid.clone().unwrap_or_default();
            let key = jwks.body["keys"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|k| k["kid"] == json!(kid))
                .map(|k| k["x"].as_str().unwrap_or_default().to_owned())
                .unwrap_or_default();
            let key: [u8; 32] =
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, key)
                    .ok()
                    .and_then(|k| k.try_into().ok())
                    .unwrap_or([0; 32]);
            let claims: keyport_core::release::UpdateManifest =
                manifest.verify(&key).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((claims.sha256, claims.size), (sha(&bytes), bytes.len() as u64));
            let (status, _, body) =
                fetch(latest["artifact"]["download_url"].as_str().unwrap_or_default(), &[]).await;
            assert_eq!((status, body == bytes), (200, true));

            // Another machine's key, an old statement: refused.
            let stranger = update_check(5, &license, &activation, "5.0.0", now);
            let refused = api.post("/api/v1/update-checks", None, json!({"proof": stranger})).await;
            assert_eq!((refused.status, refused.code()), (404, "not_found"));
            let stale = update_check(4, &license, &activation, "5.0.0", now - Duration::minutes(30));
            let refused = api.post("/api/v1/update-checks", None, json!({"proof": stale})).await;
            assert_eq!((refused.status, refused.code()), (422, "stale_proof"));
        })
    });
}

#[test]
fn one_holder_of_links_runs_at_most_sixteen_downloads_at_once() {
    use std::io::{Read, Write};
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            catalog(&api, &admin).await;
            let (token, _) = customer(&api, &admin, "eva@example.com", "CAD-5").await;
            let created = api
                .post("/api/v1/releases", Some(&admin), json!({"product": "cad", "version": "5.1.0"}))
                .await;
            let id = created.body["id"].as_str().unwrap_or_default().to_owned();
            // Larger than what the sockets buffer: a download not read stays running.
            let big = file(48 * 1024 * 1024, 5);
            let stored =
                upload(&api, &admin, &id, "os=windows&arch=x86_64&file_name=big.bin", big, "en").await;
            assert_eq!(stored.status, 201, "{}", stored.body);
            ok(
                &api.post(&format!("/api/v1/releases/{id}/publish"), Some(&admin), json!({})).await,
                "publish",
            );
            let url = link_of(&api.get("/api/v1/me/downloads", Some(&token)).await.body, "5.1.0");
            let address = api.base.trim_start_matches("http://").to_owned();
            let path = url.trim_start_matches(&api.base).to_owned();
            // Sixteen downloads that read their first bytes and then stall.
            let stalled: Vec<std::net::TcpStream> = (0..16)
                .map(|_| {
                    let mut stream = std::net::TcpStream::connect(&address).unwrap_or_else(|e| panic!("{e}"));
                    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n")
                        .unwrap_or_else(|e| panic!("{e}"));
                    let mut head = [0u8; 12];
                    stream.read_exact(&mut head).unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(&head, b"HTTP/1.1 200");
                    stream
                })
                .collect();
            let (status, _, body) = fetch(&url, &[]).await;
            let problem: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert_eq!((status, problem["code"].clone()), (429, json!("rate_limited")), "the seventeenth");
            drop(stalled);
            // The stalled ones end when their connections close; then downloads go again.
            let mut status = 0;
            for _ in 0..100 {
                status = fetch(&url, &[("Range", "bytes=0-9")]).await.0;
                if status == 206 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            assert_eq!(status, 206);
        })
    });
}
