//! Marketing consent over real HTTP on both backends: a double opt-in whose old links never
//! subscribe after a withdrawal, requests bounded by the mails-per-account limit, bad
//! tokens refused as such, staff who read and record withdrawals by role. (The mails with
//! their RFC 8058 headers over real SMTP: `crates/keyport-server/tests/identity.rs`.)

use keyport_tests::Fixture;
use keyport_tests::http::{Api, World, block_on};
use serde_json::{Value, json};

/// The token of the newest confirmation mail in the outbox (claimed, as the mailer would).
fn confirmation_token(f: &Fixture) -> String {
    let mut token = None;
    while let Some(mail) = f.store.claim_mail(f.store.now()).unwrap() {
        if let Some(at) = mail.body.find("newsletter/confirm?token=") {
            let rest = &mail.body[at + "newsletter/confirm?token=".len()..];
            token = Some(rest.chars().take_while(char::is_ascii_hexdigit).collect());
        }
        f.store.mail_sent(&mail.id, f.store.now()).unwrap();
    }
    token.unwrap_or_else(|| panic!("no confirmation mail in the outbox"))
}

async fn state(api: &Api, token: &str) -> Value {
    let got = api.get("/api/v1/me/marketing-consent", Some(token)).await;
    assert_eq!(got.status, 200, "{}", got.body);
    got.body
}

#[test]
fn an_old_confirmation_link_never_subscribes_after_a_withdrawal() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let anna = w.a.token.as_str();
            let asked = api.post("/api/v1/me/marketing-consent", Some(anna), json!({})).await;
            assert_eq!((asked.status, &asked.body["state"]), (200, &json!("pending")), "{}", asked.body);
            let old = confirmation_token(f);
            let withdrawn = api.send("DELETE", "/api/v1/me/marketing-consent", Some(anna), &[], None).await;
            assert_eq!(withdrawn.body["state"], "unsubscribed", "{}", withdrawn.body);
            let late = api.post("/api/v1/marketing-consent/confirmations", None, json!({"token": old})).await;
            assert_eq!((late.status, late.code()), (422, "invalid_token"), "{}", late.body);
            assert_eq!(state(&api, anna).await["state"], "unsubscribed");

            // Asking anew sends a new link, and that one works.
            api.post("/api/v1/me/marketing-consent", Some(anna), json!({})).await;
            let fresh = confirmation_token(f);
            let ok = api.post("/api/v1/marketing-consent/confirmations", None, json!({"token": fresh})).await;
            assert_eq!(
                (ok.status, &ok.body),
                (200, &json!({"state": "subscribed"})),
                "the state only: {}",
                ok.body
            );
            let history = state(&api, anna).await["history"].clone();
            let states: Vec<&str> =
                history.as_array().unwrap().iter().map(|h| h["state"].as_str().unwrap()).collect();
            assert_eq!(states, ["subscribed", "pending", "unsubscribed", "pending"]);
            assert_eq!(history[0]["email"], "anna@example.com");
            let stale =
                api.post("/api/v1/marketing-consent/confirmations", None, json!({"token": old})).await;
            assert_eq!(stale.code(), "invalid_token", "the first link stays dead: {}", stale.body);
            // Asking while subscribed changes nothing and mails nothing.
            let again = api.post("/api/v1/me/marketing-consent", Some(anna), json!({})).await;
            assert_eq!(again.body["history"].as_array().unwrap().len(), 4, "{}", again.body);
        })
    });
}

#[test]
fn requests_are_bounded_bad_tokens_refused_and_staff_act_by_role() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let bert = w.b.token.as_str();
            // Three confirmation mails an hour at most (the mails-per-account limit).
            for n in 0..3 {
                let asked = api.post("/api/v1/me/marketing-consent", Some(bert), json!({})).await;
                assert_eq!(asked.status, 200, "request {n}: {}", asked.body);
            }
            let fourth = api.post("/api/v1/me/marketing-consent", Some(bert), json!({})).await;
            assert_eq!((fourth.status, fourth.code()), (429, "rate_limited"), "{}", fourth.body);
            assert_eq!(
                state(&api, bert).await["history"].as_array().unwrap().len(),
                1,
                "a resend is no change"
            );

            for token in ["", "\u{0}", &"f".repeat(100_000), "0123"] {
                let bad =
                    api.post("/api/v1/marketing-consent/confirmations", None, json!({"token": token})).await;
                assert!(matches!(bad.status, 413 | 422), "{}: {}", bad.status, bad.body);
            }
            for token in ["", "abc.def", &format!("{}.AAAA", uuid::Uuid::nil().simple())] {
                let path = format!("/api/v1/unsubscribe?token={token}");
                let bad = api.send("POST", &path, None, &[], None).await;
                assert_eq!((bad.status, bad.code()), (422, "invalid_token"), "{}", bad.body);
            }

            // A ticket login has no account to consent with.
            let ticket = api.get("/api/v1/me/marketing-consent", Some(&w.b.ticket_token)).await;
            assert_eq!(ticket.status, 403);
            let path = format!("/api/v1/customers/{}/marketing-consent", w.b.id);
            let read = api.get(&path, Some(&w.shop)).await;
            assert_eq!((read.status, &read.body["state"]), (200, &json!("pending")), "{}", read.body);
            let refused = api.send("DELETE", &path, Some(&w.shop), &[], None).await;
            assert_eq!(refused.status, 403, "a shop cannot withdraw for a customer");
            let recorded = api.send("DELETE", &path, Some(&w.support), &[], None).await;
            assert_eq!(recorded.body["state"], "unsubscribed", "{}", recorded.body);
            assert_eq!(recorded.body["history"][0]["method"], "staff");
            let unknown = api
                .get(&format!("/api/v1/customers/{}/marketing-consent", uuid::Uuid::nil()), Some(&w.shop))
                .await;
            assert_eq!(unknown.status, 404);
        })
    });
}

#[test]
fn only_the_newest_link_confirms_and_a_new_address_was_never_asked() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let anna = w.a.token.as_str();
            api.post("/api/v1/me/marketing-consent", Some(anna), json!({})).await;
            let first = confirmation_token(f);
            api.post("/api/v1/me/marketing-consent", Some(anna), json!({})).await;
            let second = confirmation_token(f);
            let old =
                api.post("/api/v1/marketing-consent/confirmations", None, json!({"token": first})).await;
            assert_eq!(old.code(), "invalid_token", "{}", old.body);
            let new =
                api.post("/api/v1/marketing-consent/confirmations", None, json!({"token": second})).await;
            assert_eq!(new.body["state"], "subscribed", "{}", new.body);

            // Support changes her address: the consent was for the old one.
            let path = format!("/api/v1/customers/{}", w.a.id);
            let changed = api
                .send("PATCH", &path, Some(&w.support), &[], Some(json!({"email": "anna.new@example.com"})))
                .await;
            assert_eq!(changed.status, 200, "{}", changed.body);
            let now = state(&api, anna).await;
            assert_eq!(
                (&now["state"], &now["history"][0]["method"]),
                (&json!("none"), &json!("email_changed")),
                "{now}"
            );
            assert_eq!(
                now["history"][0]["email"], "anna@example.com",
                "the history names the address that consented"
            );
        })
    });
}
