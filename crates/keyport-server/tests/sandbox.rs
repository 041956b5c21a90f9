//! `keyport sandbox` as an integrator's CI runs it: the real binary on a free port, its
//! printed keys, the seeded catalog, captured mails, a fixed seed, reset and the clock; and
//! the sandbox-only endpoints absent from `keyport serve`.

#![expect(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Running, request};
use serde_json::{Value, json};

struct Sandbox {
    base: String,
    vars: HashMap<String, String>,
    process: Running,
}

impl Drop for Sandbox {
    /// Stops the sandbox as an operator does (SIGTERM), so that it removes its temporary
    /// folder; `Running` kills it if it has not ended within ten seconds.
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.process.0.id().to_string()]).status();
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if !matches!(self.process.0.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Sandbox {
    fn key(&self, role: &str) -> &str {
        &self.vars[&format!("KEYPORT_SANDBOX_{}_KEY", role.to_uppercase())]
    }

    fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, _, body) = request(&self.base, method, path, Some(self.key("admin")), body);
        (status, body)
    }
}

fn sandbox_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyport"));
    command.arg("sandbox").args(["--listen", "127.0.0.1:0"]).args(args);
    // Settings meant for a real server are not the sandbox's.
    command
        .env("KEYPORT_PUBLIC_URL", "https://licenses.example.com")
        .env("KEYPORT_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("KEYPORT_LISTEN", "0.0.0.0:1");
    for var in [
        "KEYPORT_SANDBOX_ADMIN_KEY",
        "KEYPORT_SANDBOX_SUPPORT_KEY",
        "KEYPORT_SANDBOX_SHOP_KEY",
        "KEYPORT_SANDBOX_PORTAL_KEY",
        "KEYPORT_SANDBOX_SEED",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command
}

/// Starts a sandbox and reads its `KEYPORT_SANDBOX_*=` lines.
fn sandbox(args: &[&str], env: &[(&str, &str)]) -> Sandbox {
    let mut child = sandbox_command(args, env).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let process = Running(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut vars = HashMap::new();
    while !vars.contains_key("KEYPORT_SANDBOX_PORTAL_KEY") {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the sandbox printed its keys"));
        let (name, value) = line.split_once('=').unwrap_or_else(|| panic!("a NAME=value line: {line}"));
        vars.insert(name.to_owned(), value.to_owned());
    }
    let base = vars["KEYPORT_SANDBOX_URL"].clone();
    assert_eq!(request(&base, "GET", "/readyz", None, None).0, 200);
    Sandbox { base, vars, process }
}

fn order(s: &Sandbox, number: &str, sku: &str) -> Value {
    let (status, body) = s.admin(
        "POST",
        "/api/v1/orders",
        Some(json!({"shop": "webshop", "external_order_number": number,
                    "lines": [{"line_number": 1, "sku": sku, "quantity": 1}]})),
    );
    assert_eq!(status, 201, "{body}");
    body["order"].clone()
}

#[test]
fn the_sandbox_is_seeded_with_the_documented_catalog_and_a_key_for_every_role() {
    let s = sandbox(&[], &[]);
    let catalog: Value = serde_json::from_str(include_str!("../sandbox/catalog.json")).unwrap();
    let (status, items) = s.admin("GET", "/api/v1/items", None);
    assert_eq!(status, 200);
    let mut served: Vec<&str> =
        items.as_array().unwrap().iter().map(|i| i["sku"].as_str().unwrap()).collect();
    let mut documented: Vec<&str> =
        catalog["items"].as_array().unwrap().iter().map(|i| i["sku"].as_str().unwrap()).collect();
    served.sort_unstable();
    documented.sort_unstable();
    assert_eq!(served, documented);
    let models: Vec<&str> =
        items.as_array().unwrap().iter().map(|i| i["license_model"].as_str().unwrap()).collect();
    for model in ["perpetual", "subscription", "demo"] {
        assert!(models.contains(&model), "an item of each license model: {models:?}");
    }
    let (_, rules) = s.admin("GET", "/api/v1/rule-sets", None);
    let credits: Vec<u64> =
        rules.as_array().unwrap().iter().map(|r| r["initial_credits"].as_u64().unwrap()).collect();
    assert!(credits.contains(&0) && credits.iter().any(|c| *c > 0), "{credits:?}");
    // Every role's key is a working key: a shop may order, the others may not; none is unknown.
    for (role, status) in [("admin", 201), ("shop", 201), ("support", 403), ("portal", 403)] {
        let body = json!({"shop": "webshop", "external_order_number": format!("K-{role}"),
                          "lines": [{"line_number": 1, "sku": "CAD-PRO-5", "quantity": 1}]});
        let (got, _, answer) = request(&s.base, "POST", "/api/v1/orders", Some(s.key(role)), Some(body));
        assert_eq!(got, status, "{role}: {answer}");
    }
    assert_eq!(request(&s.base, "GET", "/api/v1/items", Some("kp_wrong"), None).0, 401);
}

#[test]
fn keys_named_in_the_environment_are_the_keys_and_a_malformed_one_stops_the_start() {
    let key = "kp_integrator-ci-admin-key-0123456789abcdef";
    let s = sandbox(&[], &[("KEYPORT_SANDBOX_ADMIN_KEY", key)]);
    assert_eq!(s.key("admin"), key);
    assert_eq!(s.admin("GET", "/api/v1/items", None).0, 200);
    let output = sandbox_command(&[], &[("KEYPORT_SANDBOX_SHOP_KEY", "secret")]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("KEYPORT_SANDBOX_SHOP_KEY") && stderr.contains("kp_"), "{stderr}");
}

#[test]
fn mails_are_captured_and_the_verification_link_in_one_works() {
    let s = sandbox(&[], &[]);
    let (status, _, _) = request(
        &s.base,
        "POST",
        "/api/v1/auth/register",
        None,
        Some(json!({"email": "Ada@Example.com", "name": "Ada", "password": "correct horse battery"})),
    );
    assert_eq!(status, 202);
    let (status, mails) = s.admin("GET", "/sandbox/mails?to=ada@example.com", None);
    assert_eq!(status, 200);
    let mails = mails.as_array().unwrap();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let link = mails[0]["links"][0].as_str().unwrap();
    let path = link.strip_prefix(&s.base).unwrap_or_else(|| panic!("{link} names the sandbox"));
    // The link opens the web depot's page with a button; a test confirms with its token.
    let token = path.strip_prefix("/depot/verify-email?token=").unwrap_or_else(|| panic!("{path}"));
    assert_eq!(request(&s.base, "GET", path, None, None).0, 200, "the depot's page");
    let (status, _, body) =
        request(&s.base, "GET", &format!("/api/v1/auth/verify-email?token={token}"), None, None);
    assert_eq!((status, body["status"].as_str()), (200, Some("verified")));
    let (_, others) = s.admin("GET", "/sandbox/mails?to=bob@example.com", None);
    assert_eq!(others, json!([]));
    // Only the admin key reads mails.
    let (status, _, _) = request(&s.base, "GET", "/sandbox/mails", Some(s.key("support")), None);
    assert_eq!(status, 403);
    assert_eq!(request(&s.base, "GET", "/sandbox/mails", None, None).0, 401);
}

#[test]
fn a_fixed_seed_gives_the_same_ids_and_ticket_codes_on_every_run_and_after_a_reset() {
    let first = sandbox(&["--seed", "42"], &[]);
    let second = sandbox(&[], &[("KEYPORT_SANDBOX_SEED", "42")]);
    let other = sandbox(&["--seed", "43"], &[]);
    let a = order(&first, "A-1", "CAD-PRO-5");
    let b = order(&second, "A-1", "CAD-PRO-5");
    let c = order(&other, "A-1", "CAD-PRO-5");
    assert_eq!(a["id"], b["id"]);
    assert_eq!(a["ticket_code"], b["ticket_code"]);
    assert_eq!(a["lines"], b["lines"]);
    assert_ne!(a["ticket_code"], c["ticket_code"]);
    assert_ne!(a["id"], c["id"]);
    assert_eq!(first.admin("POST", "/sandbox/reset", None).0, 200);
    let again = order(&first, "A-1", "CAD-PRO-5");
    assert_eq!(again["ticket_code"], a["ticket_code"]);
    assert_eq!(again["id"], a["id"]);
    // The ids of the integrator's calls do not depend on the catalog seeded before them.
    let dir = tempfile::tempdir().unwrap();
    let mut catalog: Value = serde_json::from_str(include_str!("../sandbox/catalog.json")).unwrap();
    catalog["products"].as_array_mut().unwrap().push(json!({"code": "extra", "name": "Extra"}));
    let file = dir.path().join("catalog.json");
    std::fs::write(&file, catalog.to_string()).unwrap();
    let larger = sandbox(&["--seed", "42", "--catalog", file.to_str().unwrap()], &[]);
    assert_eq!(larger.admin("GET", "/api/v1/products/extra", None).0, 200);
    let d = order(&larger, "A-1", "CAD-PRO-5");
    assert_eq!((&d["id"], &d["ticket_code"]), (&a["id"], &a["ticket_code"]));
}

#[test]
fn a_reset_restores_the_seeded_state() {
    let s = sandbox(&[], &[]);
    let ticket = order(&s, "R-1", "CAD-PRO-5")["ticket_code"].as_str().unwrap().to_owned();
    let (status, _) = s.admin("POST", "/api/v1/products", Some(json!({"code": "extra", "name": "Extra"})));
    assert_eq!(status, 201);
    assert_eq!(s.admin("POST", "/sandbox/clock", Some(json!({"days": 10}))).0, 200);
    let (status, clock) = s.admin("POST", "/sandbox/reset", None);
    assert_eq!(status, 200);
    assert_eq!(clock["offset_seconds"], 0);
    assert_eq!(s.admin("GET", "/api/v1/products/extra", None).0, 404);
    assert_eq!(s.admin("GET", "/api/v1/products/cad-pro", None).0, 200);
    assert_eq!(s.admin("GET", &format!("/api/v1/tickets/{ticket}"), None).0, 404);
    // The same order number makes a new ticket again: nothing of the first is left.
    let again = order(&s, "R-1", "CAD-PRO-5");
    assert_ne!(again["ticket_code"].as_str(), Some(ticket.as_str()));
}

#[test]
fn the_clock_ends_subscriptions_and_refuses_to_go_back() {
    let s = sandbox(&[], &[]);
    let ticket = order(&s, "S-1", "CAD-PRO-SUB-1Y")["ticket_code"].as_str().unwrap().to_owned();
    let (status, _, login) =
        request(&s.base, "POST", "/api/v1/auth/ticket-login", None, Some(json!({"ticket_code": ticket})));
    assert_eq!(status, 200, "{login}");
    let token = login["access_token"].as_str().unwrap().to_owned();
    let state = |token: &str| {
        let (status, _, licenses) = request(&s.base, "GET", "/api/v1/me/licenses", Some(token), None);
        assert_eq!(status, 200, "{licenses}");
        licenses[0]["state"].as_str().unwrap().to_owned()
    };
    assert_eq!(state(&token), "inactive");
    let (status, clock) = s.admin("POST", "/sandbox/clock", Some(json!({"days": 366})));
    assert_eq!(status, 200, "{clock}");
    assert_eq!(clock["offset_seconds"], 366 * 86_400);
    // The access token of a year ago has expired on the moved clock; a new login sees the
    // subscription's end.
    assert_eq!(request(&s.base, "GET", "/api/v1/me/licenses", Some(&token), None).0, 401);
    let (_, _, login) =
        request(&s.base, "POST", "/api/v1/auth/ticket-login", None, Some(json!({"ticket_code": ticket})));
    assert_eq!(state(login["access_token"].as_str().unwrap()), "expired");
    let (_, now) = s.admin("GET", "/sandbox/clock", None);
    assert_eq!(now["offset_seconds"], 366 * 86_400);
    for (body, field) in [
        (json!({"days": 0}), "days"),
        (json!({"days": 4000}), "days"),
        (json!({"days": -1}), "body"),
        (json!({"weeks": 1}), "body"),
    ] {
        let (status, problem) = s.admin("POST", "/sandbox/clock", Some(body.clone()));
        assert_eq!((status, problem["code"].as_str()), (422, Some("invalid_input")), "{body}: {problem}");
        assert_eq!(problem["facts"]["field"], field, "{problem}");
    }
    let (status, _, _) =
        request(&s.base, "POST", "/sandbox/clock", Some(s.key("shop")), Some(json!({"days": 1})));
    assert_eq!(status, 403);
    // Every error is a problem document: a wrong method, an unknown query parameter.
    let (status, head, problem) = request(&s.base, "PUT", "/sandbox/reset", Some(s.key("admin")), None);
    assert_eq!((status, problem["code"].as_str()), (405, Some("method_not_allowed")), "{head}");
    assert!(head.to_ascii_lowercase().contains("allow: post"), "{head}");
    let (status, _, problem) = request(&s.base, "GET", "/sandbox/mails?x=1", Some(s.key("admin")), None);
    assert_eq!((status, problem["code"].as_str()), (422, Some("invalid_input")), "{problem}");
    let (status, _, problem) = request(&s.base, "GET", "/sandbox/nothing", Some(s.key("admin")), None);
    assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")), "{problem}");
}

#[test]
fn the_sandbox_endpoints_do_not_exist_outside_sandbox_mode() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::serve(&format!("data_dir = \"{}\"\n", dir.path().display()), dir.path());
    for (method, path) in [
        ("GET", "/sandbox/mails"),
        ("POST", "/sandbox/reset"),
        ("GET", "/sandbox/clock"),
        ("POST", "/sandbox/clock"),
    ] {
        let (status, _, problem) = request(&server.base, method, path, None, Some(json!({"days": 1})));
        assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")), "{method} {path}");
    }
}
