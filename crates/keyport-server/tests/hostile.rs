//! A real `keyport serve` under attack: slow clients, a login storm (memory measured),
//! secrets that must never reach the log, files only the owner may read, and forwarded
//! headers from untrusted peers.
#![expect(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{peak_rss_mib, request, serve, serve_logging};
use serde_json::{Value, json};

fn admin_key(data: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_keyport"))
        .args(["admin", "create-api-key", "--role", "admin", "--name", "ops", "--data-dir"])
        .arg(data)
        .env_remove("KEYPORT_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn data_config(data: &Path) -> String {
    format!("data_dir = \"{}\"\n", data.display())
}

/// Sends `head`, then waits without sending the rest; the answer the server gives.
fn stall_after(base: &str, head: &str) -> (String, Duration) {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    (answer, started.elapsed())
}

#[test]
fn slow_heads_and_slow_bodies_are_cut_with_408() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[http]\nhead_timeout_ms = 1000\nbody_timeout_ms = 1500\nrequests_per_address = 64\n",
        data_config(dir.path())
    );
    let server = serve(&config, dir.path());

    let (answer, waited) = stall_after(&server.base, "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n");
    assert!(answer.starts_with("HTTP/1.1 408"), "a slow head: {answer:?}");
    assert!(waited < Duration::from_secs(5), "cut after {waited:?}");

    for path in ["/api/v1/auth/login", "/soap"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"em"
        );
        let (answer, waited) = stall_after(&server.base, &head);
        assert!(answer.starts_with("HTTP/1.1 408"), "a slow body on {path}: {answer:?}");
        assert!(answer.contains("request_timeout"), "a problem with its code: {answer}");
        assert!(waited < Duration::from_secs(6), "cut after {waited:?}");
    }
    assert_eq!(request(&server.base, "GET", "/healthz", None, None).0, 200, "the server still serves");
}

#[test]
fn beyond_the_instance_bound_requests_get_503_at_once_and_slow_bodies_do_not_fill_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[http]\nhead_timeout_ms = 5000\nbody_timeout_ms = 4000\nrequests_per_address = 64\nmax_in_flight = 1\n",
        data_config(dir.path())
    );
    let server = serve(&config, dir.path());
    // Bodies still arriving hold their address's slots only: the instance takes work.
    let stalled: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut stream = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
            let head = "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
            stream.write_all(head.as_bytes()).unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(request(&server.base, "GET", "/api/v1/products", None, None).0, 401);
    drop(stalled);
    // Logins hash a password (slow on purpose): with room for one at a time, a burst of
    // them gets 503 with Retry-After for those that find no room, after a short pause and
    // not behind the logins.
    let base = server.base.clone();
    let burst: Vec<_> = (0..8)
        .map(|_| {
            let base = base.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let body = serde_json::json!({"email": "nobody@example.com", "password": "wrong password!"});
                let (status, head, problem) = request(&base, "POST", "/api/v1/auth/login", None, Some(body));
                (status, head, problem, started.elapsed())
            })
        })
        .collect();
    let answers: Vec<_> = burst.into_iter().map(|t| t.join().unwrap()).collect();
    let refused: Vec<_> = answers.iter().filter(|(status, ..)| *status == 503).collect();
    assert!(!refused.is_empty(), "{:?}", answers.iter().map(|a| a.0).collect::<Vec<_>>());
    assert!(
        answers.iter().all(|(status, ..)| [401, 503].contains(status)),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    for (_, head, problem, took) in &refused {
        assert_eq!(problem["code"], "unavailable", "{problem}");
        assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
        assert!(*took < Duration::from_secs(2), "a refusal took {took:?}");
    }
    // Probes are answered however busy the instance is.
    assert_eq!(request(&server.base, "GET", "/healthz", None, None).0, 200);
    assert_eq!(request(&server.base, "GET", "/readyz", None, None).0, 200);
}

#[test]
fn a_storm_of_failed_logins_keeps_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[limits]\nwindow_minutes = 15\nlogin_failures_per_account = 1000\nlogin_failures_per_address = 100000\nticket_logins_per_address = 30\nreset_requests_per_address = 5\n",
        data_config(dir.path())
    );
    let server = serve(&config, dir.path());
    let storm: Vec<_> = (0..48)
        .map(|n| {
            let base = server.base.clone();
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                for i in 0..3 {
                    let body =
                        json!({"email": format!("storm{n}-{i}@example.com"), "password": "wrong-password"});
                    statuses.push(request(&base, "POST", "/api/v1/auth/login", None, Some(body)).0);
                }
                statuses
            })
        })
        .collect();
    for thread in storm {
        for status in thread.join().unwrap() {
            assert!(
                matches!(status, 401 | 503),
                "a failed login answers 401 (or 503 when saturated), got {status}"
            );
        }
    }
    let peak = peak_rss_mib(server.process.0.id());
    eprintln!("peak RSS under 48 concurrent failed logins: {peak} MiB");
    assert!(peak < 150, "peak RSS {peak} MiB");
}

#[test]
fn a_whole_walk_through_leaves_no_secret_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = admin_key(&data);
    let log = dir.path().join("server.log");
    let server = serve_logging(&data_config(&data), dir.path(), Some(&log));
    let base = &server.base;
    let post = |path: &str, token: Option<&str>, body: Value| {
        let (status, _, answer) = request(base, "POST", path, token, Some(body));
        assert!((200..300).contains(&status), "{path}: {status} {answer}");
        answer
    };
    post("/api/v1/products", Some(&admin), json!({"code": "cad", "name": "CAD"}));
    post(
        "/api/v1/rule-sets",
        Some(&admin),
        json!({"name": "std", "seats": 2, "deactivation_allowed": true, "offline_allowed": true,
               "initial_credits": 1, "blocking_days": 0, "replenish_credits": 0, "replenish_every_days": 0,
               "credit_cap": 1, "emergency_days": 14, "emergency_per_year": 1, "checkin_grace_days": 0}),
    );
    post(
        "/api/v1/items",
        Some(&admin),
        json!({"sku": "CAD-1", "product_code": "cad", "name": "CAD 1", "license_model": "perpetual",
               "features": [], "version_min": 1, "rule_set": "std"}),
    );
    post(
        "/api/v1/customers",
        Some(&admin),
        json!({"email": "anna@example.com", "name": "Anna", "password": "anna-secret-password"}),
    );
    let order = post(
        "/api/v1/orders",
        Some(&admin),
        json!({"shop": "web", "external_order_number": "L-1", "lines": [{"line_number": 1, "sku": "CAD-1", "quantity": 1}]}),
    );
    let ticket = order["order"]["ticket_code"].as_str().unwrap().to_owned();
    // The ticket code in a path, a token in a query string, a key in a query string.
    let _ = request(base, "GET", &format!("/api/v1/tickets/{ticket}"), Some(&admin), None);
    let _ = request(base, "GET", "/api/v1/auth/verify-email?token=secret-verification-token-123", None, None);
    let _ = request(base, "GET", &format!("/api/v1/products?api_key={admin}"), None, None);
    let login = post(
        "/api/v1/auth/login",
        None,
        json!({"email": "anna@example.com", "password": "anna-secret-password"}),
    );
    let access = login["access_token"].as_str().unwrap().to_owned();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    let ticket_login = post("/api/v1/auth/ticket-login", None, json!({"ticket_code": ticket}));
    let _ = request(base, "GET", "/api/v1/me", Some(&access), None);
    let _ = request(base, "GET", &format!("/api/v1/me/tickets?code={ticket}"), Some(&access), None);
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("/api/v1/tickets/{ticket_code}"), "requests are logged by route: {text}");
    let ticket_token = ticket_login["access_token"].as_str().unwrap();
    for (what, secret) in [
        ("the ticket code", ticket.as_str()),
        ("the ticket code without dashes", &ticket.replace('-', "")),
        ("the admin key", admin.as_str()),
        ("an access token", access.as_str()),
        ("a refresh token", refresh.as_str()),
        ("a ticket-login token", ticket_token),
        ("a verification token", "secret-verification-token-123"),
        ("a password", "anna-secret-password"),
    ] {
        assert!(!text.contains(secret), "{what} is in the log");
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_data_folder_the_database_and_mails_are_readable_by_their_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = serve(&data_config(&data), dir.path());
    let register = json!({"email": "new@example.com", "name": "New", "password": "a-good-long-password"});
    assert_eq!(request(&server.base, "POST", "/api/v1/auth/register", None, Some(register)).0, 202);
    let mails = data.join("mail");
    let started = Instant::now();
    let mail = loop {
        if let Some(entry) = std::fs::read_dir(&mails).ok().and_then(|mut d| d.next()) {
            break entry.unwrap().path();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no mail was written");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(mode(&data), 0o700, "the data folder");
    assert_eq!(mode(&data.join("keyport.db")), 0o600, "the database");
    assert_eq!(mode(&mails), 0o700, "the mail folder");
    assert_eq!(mode(&mail), 0o600, "a mail with a one-time link");
}

#[test]
fn forwarded_headers_count_only_from_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let untrusted = serve(&format!("{}# no public_url\n", data_config(&dir.path().join("a"))), dir.path());
    let wsdl = |base: &str, extra: &str| {
        let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
        write!(
            stream,
            "GET /soap?wsdl HTTP/1.1\r\nHost: keyport.internal:8080\r\n{extra}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    };
    let forged = "X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\n";
    let answer = wsdl(&untrusted.base, forged);
    assert!(!answer.contains("evil.example"), "an untrusted caller moved the WSDL's address");
    assert!(answer.contains("http://keyport.internal:8080/soap"), "the WSDL names the Host asked for");

    let trusted = serve(
        &format!(
            "{}trusted_proxies = [\"127.0.0.1\"]\n# no public_url\n",
            data_config(&dir.path().join("b"))
        ),
        dir.path(),
    );
    let answer =
        wsdl(&trusted.base, "X-Forwarded-Host: licenses.example.com\r\nX-Forwarded-Proto: https\r\n");
    assert!(
        answer.contains("https://licenses.example.com/soap"),
        "behind a trusted proxy the WSDL names the public host"
    );
}

#[test]
fn a_store_log_line_written_during_a_request_carries_its_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let config = format!(
        "{}log_format = \"json\"\n[limits]\nwindow_minutes = 15\nlogin_failures_per_account = 5\nlogin_failures_per_address = 1\nticket_logins_per_address = 30\nreset_requests_per_address = 5\n",
        data_config(&dir.path().join("data"))
    );
    let server = serve_logging(&config, dir.path(), Some(&log));
    let body = json!({"email": "who@example.com", "password": "wrong-password"});
    let _ = request(&server.base, "POST", "/api/v1/auth/login", None, Some(body.clone()));
    let (status, head, _) = request(&server.base, "POST", "/api/v1/auth/login", None, Some(body));
    assert_eq!(status, 429);
    let id = head.lines().find_map(|l| l.strip_prefix("x-request-id: ")).unwrap().trim().to_owned();
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "a rate limit refused an attempt")
        .unwrap_or_else(|| panic!("no store line in {text}"));
    assert_eq!(line["target"], "keyport_store::limits");
    assert_eq!(line["span"]["request_id"], id.as_str(), "{line}");
}
