//! The web depot over real HTTP on both backends, as a browser without JavaScript uses it:
//! cookies, forms with their CSRF token, redirects. A login sees its own licenses only and
//! logout ends the session in the store; a form without its token changes nothing; a
//! ticket login cannot reach what needs an account; refusals carry the API's message in
//! the visitor's language; bad files are refused with a page, never a 500. (The pages in a
//! real browser with axe-core: `tests/depot_browser.py`.)

use std::collections::BTreeMap;

use keyport_tests::Fixture;
use keyport_tests::http::{Api, World, block_on};
use serde_json::json;

/// A browser without JavaScript: keeps cookies, follows no redirect by itself.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    lang: &'static str,
}

struct Page {
    status: u16,
    location: String,
    html: String,
    set_cookies: Vec<String>,
}

impl Browser {
    fn new(api: &Api, lang: &'static str) -> Browser {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { base: api.base.clone(), client, cookies: BTreeMap::new(), lang }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let response = request
            .header("Cookie", cookie.join("; "))
            .header("Accept-Language", self.lang)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let header = |name: &str| -> Vec<String> {
            response.headers().get_all(name).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
        };
        let location = header("location").first().cloned().unwrap_or_default();
        let set_cookies = header("set-cookie");
        for set in &set_cookies {
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page { status, location, html: response.text().await.unwrap(), set_cookies }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(request).await
    }

    /// A multipart form with one file, as a browser sends it.
    async fn upload(&mut self, path: &str, csrf: &str, file: &[u8]) -> Page {
        let boundary = "keyportboundary7MA4YWxkTrZu0gW";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"request.txt\"\r\nContent-Type: text/plain\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
            .body(body);
        self.send(request).await
    }

    /// The CSRF token of the forms on a page.
    async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        let at = page.html.find("name=\"csrf\" value=\"").unwrap_or_else(|| panic!("no form on {path}"));
        page.html[at + 19..at + 19 + 64].to_owned()
    }

    async fn log_in(&mut self, email: &str, password: &str) -> Page {
        let csrf = self.csrf("/depot/login").await;
        self.post("/depot/login", &[("csrf", &csrf), ("email", email), ("password", password)]).await
    }
}

/// The text of the page's error paragraph.
fn error_text(html: &str) -> String {
    let at = html.find("class=\"error\"").unwrap_or_else(|| panic!("no error on the page: {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let end = start + html[start..].find("</p>").unwrap();
    html[start..end]
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

#[test]
fn a_login_sees_its_own_licenses_and_logout_ends_the_session() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let mut anna = Browser::new(&api, "en");
            let wrong = anna.log_in(&w.a.email, "not the password").await;
            let rest = api
                .post("/api/v1/auth/login", None, json!({"email": w.a.email, "password": "not the password"}))
                .await;
            assert_eq!(wrong.status, rest.status, "the same status as the API");
            assert_eq!(error_text(&wrong.html), rest.body["detail"], "the same message as the API");
            assert!(!wrong.html.contains("not the password"), "a password is never shown again");

            let ok = anna.log_in(&w.a.email, &w.a.password).await;
            assert_eq!((ok.status, ok.location.as_str()), (303, "/depot/licenses"));
            let session = ok.set_cookies.iter().find(|c| c.starts_with("kp_depot=")).unwrap();
            assert!(
                session.contains("HttpOnly")
                    && session.contains("SameSite=Lax")
                    && session.contains("Path=/depot")
            );
            let list = anna.get("/depot/licenses").await;
            assert_eq!(list.status, 200);
            assert!(
                list.html.contains(&format!("data-license=\"{}\"", w.a.license)),
                "her license is listed"
            );
            assert!(list.html.contains("\">1 of "), "with its seat in use");
            assert!(!list.html.contains(&w.b.license), "nobody else's");
            assert_eq!(anna.get(&format!("/depot/licenses/{}", w.b.license)).await.status, 404);
            let own = anna.get(&format!("/depot/licenses/{}", w.a.license)).await;
            assert!(own.status == 200 && own.html.contains(&w.a.activation), "her license with its machine");

            let kept = anna.cookies.clone();
            let csrf = anna.csrf("/depot/licenses").await;
            let out = anna.post("/depot/logout", &[("csrf", &csrf)]).await;
            assert_eq!((out.status, out.location.as_str()), (303, "/depot/login?done=logged_out"));
            assert!(!anna.cookies.contains_key("kp_depot"), "the cookie is removed");
            // A copy of the old cookie is worthless: the session ended in the store.
            anna.cookies = kept;
            let after = anna.get("/depot/licenses").await;
            assert_eq!((after.status, after.location.as_str()), (303, "/depot/login"));
        })
    });
}

#[test]
fn a_form_without_its_token_changes_nothing() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let order = json!({"shop": "reseller", "external_order_number": "R-1",
                               "lines": [{"line_number": 1, "sku": w.sku, "quantity": 1}]});
            let order = api.post("/api/v1/orders", Some(&w.admin), order).await;
            let code = order.body["order"]["ticket_code"].as_str().unwrap().to_owned();
            let mut anna = Browser::new(&api, "en");
            assert_eq!(anna.log_in(&w.a.email, &w.a.password).await.status, 303);
            let tickets = || async {
                api.get("/api/v1/me/tickets", Some(&w.a.token)).await.body.as_array().unwrap().len()
            };
            let before = tickets().await;
            for token in ["", "0000000000000000000000000000000000000000000000000000000000000000"] {
                let refused = anna.post("/depot/tickets", &[("csrf", token), ("ticket_code", &code)]).await;
                assert_eq!(refused.status, 403, "{}", refused.html);
                assert!(refused.html.contains("This form has expired"));
            }
            // Another visitor's token does not fit this visitor's cookie.
            let mut other = Browser::new(&api, "en");
            let foreign = other.csrf("/depot/login").await;
            assert_eq!(
                anna.post("/depot/tickets", &[("csrf", &foreign), ("ticket_code", &code)]).await.status,
                403
            );
            assert_eq!(tickets().await, before, "nothing was registered");

            let csrf = anna.csrf("/depot/licenses").await;
            let done = anna.post("/depot/tickets", &[("csrf", &csrf), ("ticket_code", &code)]).await;
            assert_eq!(done.status, 200, "{}", done.html);
            assert!(done.html.contains("The ticket is registered"));
            assert_eq!(tickets().await, before + 1);
        })
    });
}

#[test]
fn a_ticket_login_reaches_its_licenses_but_nothing_that_needs_an_account() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let mut visitor = Browser::new(&api, "en");
            let csrf = visitor.csrf("/depot/login").await;
            let typed = w.a.ticket_code.to_lowercase().replace('-', " ");
            let ok = visitor.post("/depot/ticket-login", &[("csrf", &csrf), ("ticket_code", &typed)]).await;
            assert_eq!((ok.status, ok.location.as_str()), (303, "/depot/licenses"));
            let list = visitor.get("/depot/licenses").await;
            assert!(list.html.contains(&w.a.license) && !list.html.contains("action=\"/depot/tickets\""));
            assert_eq!(visitor.get("/depot/profile").await.location, "/depot/login", "no profile");
            let csrf = visitor.csrf("/depot/licenses").await;
            let refused =
                visitor.post("/depot/tickets", &[("csrf", &csrf), ("ticket_code", &w.b.ticket_code)]).await;
            assert_eq!(refused.status, 403, "a ticket login registers no tickets");
        })
    });
}

#[test]
fn refusals_speak_the_visitors_language_and_bad_files_are_refused_with_a_page() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let mut visitor = Browser::new(&api, "de");
            let csrf = visitor.csrf("/depot/login").await;
            let bad = "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA";
            let page = visitor.post("/depot/ticket-login", &[("csrf", &csrf), ("ticket_code", bad)]).await;
            let rest = api
                .send(
                    "POST",
                    "/api/v1/auth/ticket-login",
                    None,
                    &[("Accept-Language", "de")],
                    Some(json!({"ticket_code": bad})),
                )
                .await;
            assert_eq!(
                (page.status, error_text(&page.html)),
                (rest.status, rest.body["detail"].as_str().unwrap().to_owned())
            );
            assert!(page.html.contains("lang=\"de\""));

            let mut anna = Browser::new(&api, "en");
            assert_eq!(anna.log_in(&w.a.email, &w.a.password).await.status, 303);
            let csrf = anna.csrf("/depot/licenses").await;
            let path = format!("/depot/licenses/{}/offline-activation", w.a.license);
            let garbage = anna.upload(&path, &csrf, b"not a request file").await;
            assert_eq!(garbage.status, 422, "{}", garbage.html);
            assert!(
                garbage.html.contains("data-code=\"signature_invalid\"")
                    || garbage.html.contains("data-code=\"invalid_input\""),
                "{}",
                garbage.html
            );
            let huge = anna.upload(&path, &csrf, &vec![b'a'; 200 * 1024]).await;
            assert_eq!(huge.status, 413, "{}", huge.html);
            let binary = anna.upload(&path, &csrf, &[0xff, 0xfe, 0x00, 0x80]).await;
            assert_eq!(binary.status, 422);
            let empty = anna.upload(&path, &csrf, b"").await;
            assert_eq!(empty.status, 422);
            let nul = anna
                .upload(
                    &path,
                    &csrf,
                    b"-----BEGIN ACTIVATION REQUEST-----\0\n-----END ACTIVATION REQUEST-----",
                )
                .await;
            assert!((400..500).contains(&nul.status), "{}", nul.status);
            let seats = api.get(&format!("/api/v1/me/licenses/{}", w.a.license), Some(&w.a.token)).await;
            assert_eq!(seats.body["seats_in_use"], 1, "nothing changed");
        })
    });
}

#[test]
fn the_recovery_page_states_the_refusal_the_recovery_would_give() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let blocked =
                keyport_core::RuleSetParams { blocking_days: 30, seats: 1, ..keyport_tests::rules() };
            let sku = f.item(keyport_core::LicenseModel::Perpetual, blocked);
            let order = json!({"shop": "webshop", "external_order_number": "B-1", "customer": {"email": w.a.email},
                               "lines": [{"line_number": 1, "sku": sku, "quantity": 1}]});
            let order = api.post("/api/v1/orders", Some(&w.admin), order).await;
            let license = order.body["order"]["lines"][0]["license_ids"][0].as_str().unwrap().to_owned();
            let activated = api
                .post(
                    &format!("/api/v1/me/licenses/{license}/activations"),
                    Some(&w.a.token),
                    keyport_tests::http::machine_body(7),
                )
                .await;
            let activation = activated.body["activation"]["id"].as_str().unwrap().to_owned();
            let rest = api
                .post(
                    &format!("/api/v1/me/activations/{activation}/recovery"),
                    Some(&w.a.token),
                    keyport_tests::http::machine_body(8),
                )
                .await;
            assert_eq!(rest.code(), "recovery_blocked", "{}", rest.body);

            let mut anna = Browser::new(&api, "en");
            assert_eq!(anna.log_in(&w.a.email, &w.a.password).await.status, 303);
            let page =
                anna.get(&format!("/depot/licenses/{license}/activations/{activation}/recovery")).await;
            assert_eq!(page.status, 200, "{}", page.html);
            assert!(
                page.html.contains(rest.body["detail"].as_str().unwrap()),
                "the API's refusal: {}",
                page.html
            );
            assert!(
                !page.html.contains("This costs 1")
                    && !page.html.contains(&format!("{activation}/recovery\"")),
                "no cost, no form"
            );

            // Meanwhile an emergency license runs the new machine: its certificate comes back.
            let at = page.html.find("name=\"csrf\" value=\"").unwrap();
            let csrf = page.html[at + 19..at + 19 + 64].to_owned();
            let request = keyport_tests::activation_request(8, &license);
            let emergency = anna
                .upload(
                    &format!("/depot/licenses/{license}/activations/{activation}/emergency"),
                    &csrf,
                    request.as_bytes(),
                )
                .await;
            assert_eq!(emergency.status, 200, "{}", emergency.html);
            assert!(emergency.html.contains("BEGIN"), "a certificate file: {}", emergency.html);
            let shown = api.get(&format!("/api/v1/me/licenses/{license}"), Some(&w.a.token)).await;
            let running = shown.body["activations"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| !a["emergency_until"].is_null())
                .count();
            assert_eq!(running, 1, "an emergency license runs: {}", shown.body);

            // Where it is allowed, the cost is the one the recovery will spend.
            let free = anna
                .get(&format!("/depot/licenses/{}/activations/{}/recovery", w.a.license, w.a.activation))
                .await;
            assert!(free.html.contains("This costs 1 re-activation credit."), "{}", free.html);
        })
    });
}

#[test]
fn offers_show_on_the_overview_count_their_clicks_and_go_when_dismissed() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            // With no offer running, an unknown customer is still unknown (the API's answer).
            let unknown =
                api.get(&format!("/api/v1/customers/{}/offers", uuid::Uuid::nil()), Some(&w.admin)).await;
            assert_eq!((unknown.status, unknown.code()), (404, "not_found"), "{}", unknown.body);
            let offer = json!({"kind": "cross_sell", "rule": {"language": ["en"]}, "title_en": "CAD Cloud",
                               "title_de": "CAD Cloud", "text_en": "Your drawings everywhere.",
                               "link": "https://shop.example.com/cloud", "coupon_code": "CLOUD10"});
            let created = api.post("/api/v1/offers", Some(&w.admin), offer).await;
            assert_eq!(created.status, 201, "{}", created.body);
            let id = created.body["id"].as_str().unwrap().to_owned();
            let mut anna = Browser::new(&api, "en");
            assert_eq!(anna.log_in(&w.a.email, &w.a.password).await.status, 303);
            let list = anna.get("/depot/licenses").await;
            assert!(list.html.contains("CAD Cloud") && list.html.contains("CLOUD10"), "{}", list.html);
            // A click from another site is not counted (the link still leads on).
            let foreign = anna
                .client
                .get(format!("{}/depot/offers/{id}/go", api.base))
                .header("Sec-Fetch-Site", "cross-site");
            assert_eq!(anna.send(foreign).await.location, "https://shop.example.com/cloud");
            let stats = api.get(&format!("/api/v1/offers/{id}"), Some(&w.admin)).await.body["stats"].clone();
            assert_eq!(stats["clicks"].as_i64(), Some(0), "{stats}");
            let go = anna.get(&format!("/depot/offers/{id}/go")).await;
            assert_eq!((go.status, go.location.as_str()), (303, "https://shop.example.com/cloud"));
            let stats = api.get(&format!("/api/v1/offers/{id}"), Some(&w.admin)).await.body["stats"].clone();
            assert_eq!(
                (stats["impressions"].as_i64(), stats["clicks"].as_i64()),
                (Some(1), Some(1)),
                "{stats}"
            );
            let csrf = anna.csrf("/depot/licenses").await;
            let gone = anna.post(&format!("/depot/offers/{id}/dismissal"), &[("csrf", &csrf)]).await;
            assert_eq!(gone.status, 303);
            assert!(!anna.get("/depot/licenses").await.html.contains("CAD Cloud"), "dismissed for good");
            // A ticket login sees no offers and cannot follow one.
            let mut visitor = Browser::new(&api, "en");
            let csrf = visitor.csrf("/depot/login").await;
            let login = visitor
                .post("/depot/ticket-login", &[("csrf", &csrf), ("ticket_code", &w.b.ticket_code)])
                .await;
            assert_eq!((login.status, login.location.as_str()), (303, "/depot/licenses"));
            let seen = visitor.get("/depot/licenses").await;
            assert!(
                seen.status == 200 && seen.html.contains(&w.b.license) && !seen.html.contains("CAD Cloud"),
                "{}",
                seen.html
            );
            assert_eq!(visitor.get(&format!("/depot/offers/{id}/go")).await.location, "/depot/login");
        })
    });
}

#[test]
fn a_password_change_in_the_depot_ends_every_other_session() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let (mut here, mut there) = (Browser::new(&api, "en"), Browser::new(&api, "en"));
            assert_eq!(here.log_in(&w.a.email, &w.a.password).await.status, 303);
            assert_eq!(there.log_in(&w.a.email, &w.a.password).await.status, 303);
            let csrf = here.csrf("/depot/profile").await;
            let wrong = here
                .post(
                    "/depot/profile/password",
                    &[
                        ("csrf", &csrf),
                        ("old_password", "not it"),
                        ("new_password", "a brand new password 9"),
                    ],
                )
                .await;
            assert_eq!(wrong.status, 422, "the old password is checked");
            assert_eq!(there.get("/depot/licenses").await.status, 200, "a refused change ends nothing");
            let changed = here
                .post(
                    "/depot/profile/password",
                    &[
                        ("csrf", &csrf),
                        ("old_password", &w.a.password),
                        ("new_password", "a brand new password 9"),
                    ],
                )
                .await;
            assert_eq!(
                (changed.status, changed.location.as_str()),
                (303, "/depot/profile?done=password_changed")
            );
            assert_eq!(here.get("/depot/licenses").await.status, 200, "this session stays");
            assert_eq!(there.get("/depot/licenses").await.location, "/depot/login", "the other one ended");
            assert_eq!(api.get("/api/v1/me", Some(&w.a.token)).await.status, 401, "so did the API session");
            let fresh = api
                .post(
                    "/api/v1/auth/login",
                    None,
                    json!({"email": w.a.email, "password": "a brand new password 9"}),
                )
                .await;
            assert_eq!(fresh.status, 200);

            // "Log out everywhere else" ends the others and keeps this one.
            assert_eq!(there.log_in(&w.a.email, "a brand new password 9").await.status, 303);
            let csrf = here.csrf("/depot/profile").await;
            let ended = here.post("/depot/profile/sessions", &[("csrf", &csrf)]).await;
            assert_eq!(ended.location, "/depot/profile?done=other_sessions_ended");
            assert_eq!(there.get("/depot/licenses").await.location, "/depot/login");
            assert_eq!(here.get("/depot/licenses").await.status, 200);
            let token = fresh.body["access_token"].as_str().unwrap();
            assert_eq!(api.get("/api/v1/me", Some(token)).await.status, 401);
        })
    });
}

#[test]
fn downloads_list_the_customers_releases_for_the_browsers_os() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let product = w.sku.to_lowercase();
            let release = api
                .post(
                    "/api/v1/releases",
                    Some(&w.admin),
                    json!({"product": product, "version": "5.1.0", "notes_en": "Faster."}),
                )
                .await;
            assert_eq!(release.status, 201, "{}", release.body);
            let id = release.body["id"].as_str().unwrap().to_owned();
            let client = reqwest::Client::new();
            for (os, name, bytes) in [
                ("windows", "setup.exe", b"windows bytes".to_vec()),
                ("linux", "cad.tar.gz", b"linux bytes".to_vec()),
            ] {
                let sha = {
                    use sha2::Digest;
                    hex::encode(sha2::Sha256::digest(&bytes))
                };
                let url = format!(
                    "{}/api/v1/releases/{id}/artifacts?os={os}&arch=x86_64&file_name={name}&sha256={sha}",
                    api.base
                );
                let stored = client
                    .post(url)
                    .bearer_auth(&w.admin)
                    .header("Content-Type", "application/octet-stream")
                    .body(bytes)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(stored.status().as_u16(), 201);
            }
            assert_eq!(
                api.post(&format!("/api/v1/releases/{id}/publish"), Some(&w.admin), json!({})).await.status,
                200
            );

            let mut anna = Browser::new(&api, "en");
            assert_eq!(anna.log_in(&w.a.email, &w.a.password).await.status, 303);
            let windows =
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36";
            let request =
                anna.client.get(format!("{}/depot/downloads", api.base)).header("User-Agent", windows);
            let page = anna.send(request).await;
            assert_eq!(page.status, 200, "{}", page.html);
            assert!(
                page.html.contains("setup.exe") && !page.html.contains("cad.tar.gz"),
                "Windows only: {}",
                page.html
            );
            assert!(page.html.contains("Faster.") && page.html.contains("aria-current=\"page\">Windows"));
            let all = anna.get("/depot/downloads?os=all").await;
            assert!(all.html.contains("setup.exe") && all.html.contains("cad.tar.gz"));
            assert_eq!(anna.get("/depot/downloads?os=amiga").await.status, 422);
            // The page's link downloads the file, without the depot's cookie.
            let at = page.html.find("href=\"http").unwrap() + 6;
            let link = page.html[at..at + page.html[at..].find('"').unwrap()]
                .replace("&#x2f;", "/")
                .replace("&amp;", "&");
            let file = reqwest::get(&link).await.unwrap();
            assert_eq!(file.status().as_u16(), 200, "{link}");
            assert_eq!(file.bytes().await.unwrap().as_ref(), b"windows bytes");
        })
    });
}

#[test]
fn the_account_language_follows_a_login_unless_the_visitor_chose_one() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            World::build(f, &api).await;
            let mut german = Browser::new(&api, "de");
            let csrf = german.csrf("/depot/register").await;
            let form = [
                ("csrf", csrf.as_str()),
                ("name", "Jonas"),
                ("email", "jonas@example.com"),
                ("password", "ein langes Passwort 1"),
                ("ticket_code", ""),
            ];
            let registered = german.post("/depot/register", &form).await;
            assert!(
                registered.status == 200 && registered.html.contains("Bitte prüfen Sie Ihr Postfach"),
                "{}",
                registered.html
            );
            let mut token = None;
            while let Some(mail) = f.store.claim_mail(f.store.now()).unwrap() {
                if let Some(at) = mail.body.find("verify-email?token=") {
                    token = Some(
                        mail.body[at + 19..].chars().take_while(char::is_ascii_hexdigit).collect::<String>(),
                    );
                }
                f.store.mail_sent(&mail.id, f.store.now()).unwrap();
            }
            let token = token.expect("a verification mail");
            let csrf = german.csrf(&format!("/depot/verify-email?token={token}")).await;
            let verified = german.post("/depot/verify-email", &[("csrf", &csrf), ("token", &token)]).await;
            assert!(verified.html.contains("Adresse bestätigt"), "{}", verified.html);

            // An English browser logs into the German account: the pages are German.
            let mut english = Browser::new(&api, "en");
            assert_eq!(english.log_in("jonas@example.com", "ein langes Passwort 1").await.status, 303);
            assert!(english.get("/depot/licenses").await.html.contains("Meine Lizenzen"));
            // In the same browser after logout, the next account's language (English) is used.
            let csrf = english.csrf("/depot/licenses").await;
            english.post("/depot/logout", &[("csrf", &csrf)]).await;
            assert!(
                english.get("/depot/login").await.html.contains("lang=\"en\""),
                "the browser's language again"
            );
            assert_eq!(english.log_in("anna@example.com", "secret-password-1").await.status, 303);
            assert!(
                english.get("/depot/licenses").await.html.contains("My licenses"),
                "the English account's pages"
            );
            // Chosen with the switch, the choice stays.
            let mut chooser = Browser::new(&api, "en");
            chooser.get("/depot/language?to=en&back=/depot/login").await;
            assert_eq!(chooser.log_in("jonas@example.com", "ein langes Passwort 1").await.status, 303);
            assert!(chooser.get("/depot/licenses").await.html.contains("My licenses"));
        })
    });
}

#[test]
fn a_customer_tries_a_product_once_and_is_told_why_not_twice() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let demo_sku = f.item(keyport_core::LicenseModel::Demo { days: 30 }, keyport_tests::rules());
            let product = demo_sku.to_lowercase();
            let mut anna = Browser::new(&api, "en");
            assert_eq!(anna.log_in(&w.a.email, &w.a.password).await.status, 303);
            let list = anna.get("/depot/demos").await;
            assert!(
                list.status == 200 && list.html.contains(&format!("value=\"{product}\"")),
                "{}",
                list.html
            );
            let csrf = anna.csrf("/depot/demos").await;
            let given = anna.post("/depot/demos", &[("csrf", &csrf), ("product_code", &product)]).await;
            assert_eq!(given.status, 303, "{}", given.html);
            assert!(
                given.location.ends_with("?done=demo_given"),
                "to the demo's license: {}",
                given.location
            );
            let shown = anna.get(&given.location).await;
            assert!(shown.html.contains("Your demo license is ready"), "{}", shown.html);
            let licenses = api.get("/api/v1/me/licenses", Some(&w.a.token)).await;
            assert!(
                licenses.body.as_array().unwrap().iter().any(|l| l["sku"] == demo_sku.as_str()),
                "the demo joins her licenses"
            );
            let again = anna.post("/depot/demos", &[("csrf", &csrf), ("product_code", &product)]).await;
            let rest = api
                .send(
                    "POST",
                    "/api/v1/me/demos",
                    Some(&w.a.token),
                    &[("Accept-Language", "en")],
                    Some(json!({"product_code": product})),
                )
                .await;
            assert_eq!(
                (again.status, error_text(&again.html)),
                (rest.status, rest.body["detail"].as_str().unwrap().to_owned())
            );
            // A ticket login has no demos.
            let mut visitor = Browser::new(&api, "en");
            let csrf = visitor.csrf("/depot/login").await;
            let login = visitor
                .post("/depot/ticket-login", &[("csrf", &csrf), ("ticket_code", &w.b.ticket_code)])
                .await;
            assert_eq!(login.status, 303);
            assert_eq!(visitor.get("/depot/demos").await.location, "/depot/login");
        })
    });
}

#[test]
fn the_profile_changes_the_name_and_the_language_of_mails_and_pages() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let mut anna = Browser::new(&api, "en");
            assert_eq!(anna.log_in(&w.a.email, &w.a.password).await.status, 303);
            let csrf = anna.csrf("/depot/profile").await;
            let bad = anna
                .post("/depot/profile/account", &[("csrf", &csrf), ("name", "Anna"), ("language", "fr")])
                .await;
            assert_eq!(bad.status, 422, "{}", bad.html);
            let saved = anna
                .post(
                    "/depot/profile/account",
                    &[("csrf", &csrf), ("name", "Anna Schmidt"), ("language", "de")],
                )
                .await;
            assert_eq!((saved.status, saved.location.as_str()), (303, "/depot/profile?done=profile_saved"));
            let profile = anna.get("/depot/profile?done=profile_saved").await;
            assert!(
                profile.html.contains("Ihr Konto ist gespeichert")
                    && profile.html.contains("value=\"Anna Schmidt\""),
                "{}",
                profile.html
            );
            assert_eq!(api.get("/api/v1/me", Some(&w.a.token)).await.body["name"], "Anna Schmidt");
            // Mails now come in German: a reset mail says so.
            while let Some(mail) = f.store.claim_mail(f.store.now()).unwrap() {
                f.store.mail_sent(&mail.id, f.store.now()).unwrap();
            }
            api.post("/api/v1/auth/password-reset", None, json!({"email": w.a.email})).await;
            let mail = f.store.claim_mail(f.store.now()).unwrap().expect("a reset mail");
            assert!(mail.subject.contains("Passwort"), "{}", mail.subject);
        })
    });
}
