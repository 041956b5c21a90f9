//! API keys: created with an optional expiry, listed, revoked at once, over REST and in the
//! store, on each backend.

use chrono::{Duration, Utc};
use keyport_core::{ErrorCode, Role};
use keyport_tests::Fixture;
use keyport_tests::http::{Api, api_key, block_on};
use serde_json::json;

#[test]
fn an_admin_creates_lists_and_revokes_keys_and_a_revoked_key_stops_at_once() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let admin = api_key(f, Role::Admin);
            let until = (Utc::now() + Duration::hours(1)).to_rfc3339();
            let created = api
                .post(
                    "/api/v1/api-keys",
                    Some(&admin),
                    json!({"name": "web shop", "role": "shop", "expires_at": until}),
                )
                .await;
            assert_eq!(created.status, 201, "{}", created.body);
            let key = created.body["key"].as_str().unwrap().to_owned();
            let id = created.body["record"]["id"].as_str().unwrap().to_owned();
            assert_eq!(api.get("/api/v1/products", Some(&key)).await.status, 200, "the new key works");

            let listed = api.get("/api/v1/api-keys", Some(&admin)).await;
            let entry =
                listed.body.as_array().unwrap().iter().find(|k| k["id"] == id.as_str()).unwrap().clone();
            assert_eq!(entry["role"], "shop");
            assert!(entry["expires_at"].is_string());
            assert!(!listed.body.to_string().contains(&key), "a list never shows a key");
            let forbidden = api.get("/api/v1/api-keys", Some(&key)).await;
            assert_eq!((forbidden.status, forbidden.code()), (403, "forbidden"), "only admins manage keys");

            for _ in 0..2 {
                let revoked =
                    api.post(&format!("/api/v1/api-keys/{id}/revocation"), Some(&admin), json!({})).await;
                assert_eq!(revoked.status, 200, "{}", revoked.body);
                assert!(revoked.body["revoked_at"].is_string());
            }
            let refused = api.get("/api/v1/products", Some(&key)).await;
            assert_eq!(
                (refused.status, refused.code()),
                (401, "unauthorized"),
                "a revoked key stops at once"
            );
            let events = api.get("/api/v1/events?kind=api_key_revoked", Some(&admin)).await;
            assert_eq!(events.body["items"].as_array().unwrap().len(), 1, "revoking twice is one revocation");

            let own =
                listed.body.as_array().unwrap().iter().find(|k| k["role"] == "admin").unwrap()["id"].clone();
            let own = own.as_str().unwrap();
            let refused =
                api.post(&format!("/api/v1/api-keys/{own}/revocation"), Some(&admin), json!({})).await;
            assert_eq!(
                (refused.status, refused.code()),
                (409, "key_revocation_refused"),
                "not the key of the request"
            );
            assert_eq!(api.get("/api/v1/products", Some(&admin)).await.status, 200);

            let past = (Utc::now() - Duration::hours(1)).to_rfc3339();
            let invalid = api
                .post(
                    "/api/v1/api-keys",
                    Some(&admin),
                    json!({"name": "old", "role": "shop", "expires_at": past}),
                )
                .await;
            assert_eq!((invalid.status, invalid.code()), (422, "invalid_input"));
        });
    });
}

#[test]
fn a_key_stops_working_when_it_expires() {
    Fixture::each(|f| {
        let ctx = f.ctx();
        let name = keyport_tests::name("short-lived");
        let created = f
            .store
            .create_api_key_until(&ctx, Role::Shop, &name, Some(ctx.now + Duration::hours(1)))
            .unwrap();
        assert!(f.store.authenticate_api_key(&created.key, ctx.now + Duration::minutes(59)).is_ok());
        let later =
            f.store.authenticate_api_key(&created.key, ctx.now + Duration::hours(1)).map_err(|e| e.code());
        assert_eq!(later.err(), Some(ErrorCode::Unauthorized));
    });
}
