//! The real server on port 0 over a fixture's store, and a small JSON client for it.

use std::net::TcpListener;

use keyport_core::{Actor, Channel, Role};
use keyport_server::Application;
use keyport_store::Context;
use serde_json::Value;

use crate::{Fixture, name};

/// A running server and a client for it.
pub struct Api {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    client: reqwest::Client,
}

/// A response: status and JSON body (`Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The content type.
    pub content_type: String,
    /// The body as JSON.
    pub body: Value,
    /// Every header, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body as text (for CSV, HTML).
    pub text: String,
}

impl Reply {
    /// The problem document's `code`, if this is one.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl Api {
    /// Starts the application on port 0 on the fixture's store (inside the current tokio
    /// runtime).
    pub fn spawn(f: &Fixture) -> Api {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let app = Application::with_store(listener, f.store.clone()).unwrap_or_else(|e| panic!("{e}"));
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Api { base, client: reqwest::Client::new() }
    }

    /// A client for a server that is already running at `base`.
    pub fn at(base: &str) -> Api {
        Api { base: base.to_owned(), client: reqwest::Client::new() }
    }

    /// Sends a request with an optional bearer token, extra headers and JSON body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let content_type =
            headers.iter().find(|(n, _)| n == "content-type").map(|(_, v)| v.clone()).unwrap_or_default();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, content_type, body, headers, text }
    }

    /// GET with a token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send("GET", path, token, &[], None).await
    }

    /// POST JSON with a token.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.send("POST", path, token, &[], Some(body)).await
    }
}

/// A new API key of a role, straight from the store.
pub fn api_key(f: &Fixture, role: Role) -> String {
    let ctx = Context::new(Actor::System, Channel::Cli, chrono::Utc::now());
    f.store.create_api_key(&ctx, role, &name(role.as_str())).unwrap_or_else(|e| panic!("{e}")).key
}

/// Runs an async test body on a fresh runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}")).block_on(future)
}

/// Two customers, each with a registered ticket and an activated license, and a key of
/// every role: the cast of the access tests.
pub struct World {
    /// Keys by role.
    pub admin: String,
    /// A support key.
    pub support: String,
    /// A shop key.
    pub shop: String,
    /// A portal key.
    pub portal: String,
    /// Customer A.
    pub a: Customer,
    /// Customer B.
    pub b: Customer,
    /// The SKU of the item both bought.
    pub sku: String,
}

/// A customer of the [`World`].
pub struct Customer {
    /// The account id.
    pub id: String,
    /// The e-mail address.
    pub email: String,
    /// The password.
    pub password: String,
    /// A customer access token.
    pub token: String,
    /// A ticket-login token for the customer's ticket.
    pub ticket_token: String,
    /// The ticket code.
    pub ticket_code: String,
    /// A license on the ticket.
    pub license: String,
    /// The license's activation on machine `machine`.
    pub activation: String,
}

/// A machine body for the REST API.
pub fn machine_body(n: u32) -> Value {
    let m = crate::machine(n);
    serde_json::json!({"fingerprint": m.fingerprint.as_str(), "machine_key": m.key.to_string()})
}

impl World {
    /// Builds the world through the API (catalog through the store's builders).
    pub async fn build(f: &Fixture, api: &Api) -> World {
        let rules = keyport_core::RuleSetParams { blocking_days: 0, ..crate::rules() };
        let sku = f.item(keyport_core::LicenseModel::Perpetual, rules);
        let admin = api_key(f, Role::Admin);
        let a = customer(api, &admin, &sku, "anna@example.com", 1).await;
        let b = customer(api, &admin, &sku, "bert@example.com", 2).await;
        World {
            support: api_key(f, Role::Support),
            shop: api_key(f, Role::Shop),
            portal: api_key(f, Role::Portal),
            admin,
            a,
            b,
            sku,
        }
    }
}

fn ok(reply: &Reply, what: &str) {
    assert!((200..300).contains(&reply.status), "{what}: {} {}", reply.status, reply.body);
}

async fn customer(api: &Api, admin: &str, sku: &str, email: &str, machine: u32) -> Customer {
    let password = format!("secret-password-{machine}");
    let created = api
        .post(
            "/api/v1/customers",
            Some(admin),
            serde_json::json!({"email": email, "name": email, "password": password}),
        )
        .await;
    ok(&created, "create customer");
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    let order = serde_json::json!({
        "shop": "webshop", "external_order_number": format!("W-{email}"),
        "customer": {"email": email},
        "lines": [{"line_number": 1, "sku": sku, "quantity": 1}],
    });
    let order = api.post("/api/v1/orders", Some(admin), order).await;
    ok(&order, "create order");
    let ticket_code = order.body["order"]["ticket_code"].as_str().unwrap_or_default().to_owned();
    let license = order.body["order"]["lines"][0]["license_ids"][0].as_str().unwrap_or_default().to_owned();
    let login =
        api.post("/api/v1/auth/login", None, serde_json::json!({"email": email, "password": password})).await;
    ok(&login, "login");
    let token = login.body["access_token"].as_str().unwrap_or_default().to_owned();
    let ticket =
        api.post("/api/v1/auth/ticket-login", None, serde_json::json!({"ticket_code": ticket_code})).await;
    ok(&ticket, "ticket login");
    let ticket_token = ticket.body["access_token"].as_str().unwrap_or_default().to_owned();
    let activated = api
        .post(&format!("/api/v1/me/licenses/{license}/activations"), Some(&token), machine_body(machine))
        .await;
    ok(&activated, "activate");
    let activation = activated.body["activation"]["id"].as_str().unwrap_or_default().to_owned();
    Customer { id, email: email.to_owned(), password, token, ticket_token, ticket_code, license, activation }
}
