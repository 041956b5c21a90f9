#![expect(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]
//! Customer identity end to end: real `keyport serve` processes, a real SMTP server
//! (aiosmtpd from PyPI, installed into the repository's `.venv` by tests/contract/setup.sh),
//! SSO tokens signed with keys made here, and lockout shared by two instances.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{Running, free_port, request, serve};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// aiosmtpd writing every received mail into a maildir.
struct Smtp {
    port: u16,
    maildir: tempfile::TempDir,
    _process: Running,
}

impl Smtp {
    fn start() -> Smtp {
        static SETUP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let ready = SETUP.get_or_init(|| {
            Command::new("bash")
                .arg(root().join("tests/contract/setup.sh"))
                .status()
                .is_ok_and(|s| s.success())
        });
        assert!(*ready, "tests/contract/setup.sh must install the test tools (aiosmtpd)");
        let port = free_port();
        let maildir = tempfile::tempdir().unwrap();
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.path().join(sub)).unwrap();
        }
        let process = Command::new(root().join(".venv/bin/python"))
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Smtp { port, maildir, _process: Running(process) }
    }

    /// Waits for a mail to `to` whose text contains `needle`; returns its text.
    fn wait_for(&self, to: &str, needle: &str) -> String {
        let start = Instant::now();
        loop {
            for dir in ["new", "cur"] {
                if let Ok(entries) = std::fs::read_dir(self.maildir.path().join(dir)) {
                    for entry in entries.flatten() {
                        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                        if text.contains(&format!("To: {to}")) && text.contains(needle) {
                            return text;
                        }
                    }
                }
            }
            assert!(start.elapsed() < Duration::from_secs(30), "no mail to {to} containing {needle:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The token in a mail's link.
fn token_in(mail: &str, link: &str) -> String {
    let unfolded = mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let start = unfolded.find(link).unwrap_or_else(|| panic!("no {link} in {mail}")) + link.len();
    unfolded[start..].chars().take_while(char::is_ascii_hexdigit).collect()
}

fn smtp_config(smtp: &Smtp, data: &Path) -> String {
    format!(
        "data_dir = \"{}\"\nmail_from = \"Keyport <licenses@example.com>\"\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n",
        data.display(),
        smtp.port
    )
}

#[test]
fn a_new_user_registers_verifies_logs_in_forgets_the_password_and_resets_it_from_the_mail() {
    let smtp = Smtp::start();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&smtp_config(&smtp, dir.path()), dir.path());
    let b = server.base.as_str();

    let (status, _, registered) = request(
        b,
        "POST",
        "/api/v1/auth/register",
        None,
        Some(json!({
            "email": "nina@example.com", "name": "Nina", "password": "a long secret phrase", "language": "de"
        })),
    );
    assert_eq!(status, 202, "{registered}");
    let login = json!({"email": "nina@example.com", "password": "a long secret phrase"});
    let (status, _, refused) = request(b, "POST", "/api/v1/auth/login", None, Some(login.clone()));
    assert_eq!((status, refused["code"].as_str()), (403, Some("email_not_verified")));

    let mail = smtp.wait_for("nina@example.com", "verify-email");
    assert!(mail.contains("Willkommen"), "the mail is in German: {mail}");
    let token = token_in(&mail, "verify-email?token=");
    let (status, _, _) = request(b, "GET", &format!("/api/v1/auth/verify-email?token={token}"), None, None);
    assert_eq!(status, 200);
    let (status, _, again) =
        request(b, "GET", &format!("/api/v1/auth/verify-email?token={token}"), None, None);
    assert_eq!((status, again["code"].as_str()), (422, Some("invalid_token")), "a link works once");

    let (status, _, session) = request(b, "POST", "/api/v1/auth/login", None, Some(login.clone()));
    assert_eq!(status, 200, "{session}");
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();

    // Forgot: the answer is the same for a known and an unknown address.
    let (s1, _, known) =
        request(b, "POST", "/api/v1/auth/password-reset", None, Some(json!({"email": "nina@example.com"})));
    let (s2, _, unknown) =
        request(b, "POST", "/api/v1/auth/password-reset", None, Some(json!({"email": "nobody@example.com"})));
    assert_eq!((s1, &known), (s2, &unknown));
    let mail = smtp.wait_for("nina@example.com", "reset-password");
    let token = token_in(&mail, "reset-password?token=");
    let confirm = json!({"token": token, "new_password": "another long phrase"});
    let (status, _, _) =
        request(b, "POST", "/api/v1/auth/password-reset/confirm", None, Some(confirm.clone()));
    assert_eq!(status, 204);
    let (status, _, _) =
        request(b, "POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": refresh})));
    assert_eq!(status, 401, "a reset ends every session");
    let (status, _, _) = request(b, "POST", "/api/v1/auth/login", None, Some(login));
    assert_eq!(status, 401, "the old password is gone");
    let new_login = json!({"email": "nina@example.com", "password": "another long phrase"});
    let (status, _, _) = request(b, "POST", "/api/v1/auth/login", None, Some(new_login));
    assert_eq!(status, 200);
    let (status, _, _) = request(b, "POST", "/api/v1/auth/password-reset/confirm", None, Some(confirm));
    assert_eq!(status, 422, "a reset link works once");
    let sent = smtp.maildir.path().join("new").read_dir().map(|d| d.count()).unwrap_or(0);
    assert_eq!(sent, 2, "verification and reset; no mail for the unknown address");
}

#[test]
fn registering_an_address_with_an_account_answers_the_same_and_tells_only_the_owner() {
    let smtp = Smtp::start();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&smtp_config(&smtp, dir.path()), dir.path());
    let body = |password: &str| json!({"email": "olga@example.com", "name": "Olga", "password": password});
    let first = request(&server.base, "POST", "/api/v1/auth/register", None, Some(body("first long phrase")));
    let second =
        request(&server.base, "POST", "/api/v1/auth/register", None, Some(body("second long phrase")));
    assert_eq!((first.0, &first.2), (second.0, &second.2));
    smtp.wait_for("olga@example.com", "already");
    let (status, _, weak) = request(
        &server.base,
        "POST",
        "/api/v1/auth/register",
        None,
        Some(json!({
            "email": "p@example.com", "name": "P", "password": "password123"
        })),
    );
    assert_eq!(
        (status, weak["facts"]["field"].as_str()),
        (422, Some("password")),
        "common passwords are refused"
    );
}

fn openssl_key(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let path = dir.join(name);
    let ok = Command::new("openssl")
        .arg("genpkey")
        .args(args)
        .arg("-out")
        .arg(&path)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "openssl genpkey {args:?}");
    std::fs::read(path).unwrap()
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).unwrap()
}

#[test]
fn sso_tokens_of_each_algorithm_log_in_once_created_and_every_bad_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = EncodingKey::from_rsa_pem(&openssl_key(
        dir.path(),
        "rsa.pem",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    ))
    .unwrap();
    let ec = EncodingKey::from_ec_pem(&openssl_key(
        dir.path(),
        "ec.pem",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    ))
    .unwrap();
    let ed =
        EncodingKey::from_ed_pem(&openssl_key(dir.path(), "ed.pem", &["-algorithm", "ed25519"])).unwrap();
    let stranger =
        EncodingKey::from_ed_pem(&openssl_key(dir.path(), "other.pem", &["-algorithm", "ed25519"])).unwrap();
    let jwks = |key: &EncodingKey, alg| {
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(key, alg).unwrap();
        json!({"keys": [jwk]}).to_string()
    };
    let mut config = format!("data_dir = \"{}\"\n", dir.path().display());
    for (name, alg, set) in [
        ("rsa", "RS256", jwks(&rsa, Algorithm::RS256)),
        ("ec", "ES256", jwks(&ec, Algorithm::ES256)),
        ("ed", "EdDSA", jwks(&ed, Algorithm::EdDSA)),
    ] {
        let file = dir.path().join(format!("{name}.jwks.json"));
        std::fs::write(&file, set).unwrap();
        config.push_str(&format!(
            "[[sso]]\nissuer = \"https://{name}.portal.test\"\naudience = \"keyport\"\nalgorithms = [\"{alg}\"]\njwks_file = \"{}\"\n",
            file.display()
        ));
    }
    config.push_str("[[sso]]\nissuer = \"https://hs.portal.test\"\naudience = \"keyport\"\nalgorithms = [\"HS256\"]\nsecret = \"a shared secret of the portal\"\n");
    let server = serve(&config, dir.path());
    let hs = EncodingKey::from_secret(b"a shared secret of the portal");
    let now = chrono::Utc::now().timestamp();
    let claims = |iss: &str, sub: &str, email: &str| {
        json!({"iss": iss, "sub": sub, "aud": "keyport", "exp": now + 300, "iat": now,
               "email": email, "email_verified": true, "name": "Portal User"})
    };
    let exchange = |token: String| {
        request(&server.base, "POST", "/api/v1/auth/sso", None, Some(json!({"token": token})))
    };

    for (name, alg, key) in [
        ("rsa", Algorithm::RS256, &rsa),
        ("ec", Algorithm::ES256, &ec),
        ("ed", Algorithm::EdDSA, &ed),
        ("hs", Algorithm::HS256, &hs),
    ] {
        let iss = format!("https://{name}.portal.test");
        let email = format!("{name}-user@example.com");
        let (status, _, first) = exchange(sign(alg, key, &claims(&iss, "user-1", &email)));
        assert_eq!(status, 200, "{name}: {first}");
        let access = first["access_token"].as_str().unwrap().to_owned();
        let (_, _, me) = request(&server.base, "GET", "/api/v1/me", Some(&access), None);
        assert_eq!(me["email"], email.as_str());
        let (_, _, again) = exchange(sign(alg, key, &claims(&iss, "user-1", &email)));
        let (_, _, me_again) =
            request(&server.base, "GET", "/api/v1/me", Some(again["access_token"].as_str().unwrap()), None);
        assert_eq!(me_again["id"], me["id"], "{name}: the same user is the same customer");
    }

    // The web depot's hand-off: a link from the portal carrying a token opens a page whose
    // button logs the same customer in; the link alone logs nobody in; a bad token is refused.
    let token =
        sign(Algorithm::HS256, &hs, &claims("https://hs.portal.test", "user-1", "hs-user@example.com"));
    let page = depot_page(&server.base, "GET", &format!("/depot/sso?token={token}"), "", "");
    assert!(page.starts_with("HTTP/1.1 200") && !page.contains("kp_depot="), "a page, no login: {page}");
    let csrf_cookie = header_cookie(&page, "kp_csrf");
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let form = format!("csrf={}&token={token}", &page[at..at + 64]);
    let answer = depot_page(&server.base, "POST", "/depot/sso", &format!("kp_csrf={csrf_cookie}"), &form);
    assert!(answer.starts_with("HTTP/1.1 303") && answer.contains("location: /depot/licenses"), "{answer}");
    let session = header_cookie(&answer, "kp_depot");
    let profile = depot_page(&server.base, "GET", "/depot/profile", &format!("kp_depot={session}"), "");
    assert!(profile.starts_with("HTTP/1.1 200") && profile.contains("hs-user@example.com"), "{profile}");
    let forged = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"guess"),
        &claims("https://hs.portal.test", "user-1", "x@example.com"),
    );
    let form = format!("csrf={}&token={forged}", &page[at..at + 64]);
    let refused = depot_page(&server.base, "POST", "/depot/sso", &format!("kp_csrf={csrf_cookie}"), &form);
    assert!(refused.starts_with("HTTP/1.1 401") && refused.contains("sso_token_invalid"), "{refused}");

    // A linked user needs no e-mail claim; a new one needs a verified address.
    let mut bare = claims("https://ed.portal.test", "user-1", "ignored@example.com");
    bare.as_object_mut().unwrap().remove("email");
    let (status, _, linked) = exchange(sign(Algorithm::EdDSA, &ed, &bare));
    assert_eq!(status, 200, "{linked}");
    let mut unverified = claims("https://ed.portal.test", "user-9", "new@example.com");
    unverified["email_verified"] = json!(false);
    let (status, _, problem) = exchange(sign(Algorithm::EdDSA, &ed, &unverified));
    assert_eq!((status, problem["code"].as_str()), (401, Some("sso_token_invalid")), "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("no verified e-mail address"));

    let good = claims("https://ed.portal.test", "user-2", "u2@example.com");
    let mut expired = good.clone();
    expired["exp"] = json!(now - 3600);
    let mut other_audience = good.clone();
    other_audience["aud"] = json!("someone-else");
    let cases = [
        (
            "wrong issuer",
            sign(Algorithm::EdDSA, &ed, &claims("https://evil.test", "x", "x@example.com")),
            "the issuer is not trusted",
        ),
        ("wrong audience", sign(Algorithm::EdDSA, &ed, &other_audience), "another audience"),
        (
            "wrong algorithm",
            sign(Algorithm::HS256, &EncodingKey::from_secret(b"guess"), &good),
            "is not allowed",
        ),
        ("wrong signature", sign(Algorithm::EdDSA, &stranger, &good), "signature does not match"),
        ("expired", sign(Algorithm::EdDSA, &ed, &expired), "expired"),
    ];
    for (what, token, reason) in cases {
        let (status, _, problem) = exchange(token);
        assert_eq!((status, problem["code"].as_str()), (401, Some("sso_token_invalid")), "{what}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains(reason), "{what}: {problem}");
    }
}

/// Two instances on one database: failed logins counted by either lock the account on both.
fn lockout_on(database: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "data_dir = \"{}\"\n{database}[limits]\nwindow_minutes = 15\nlogin_failures_per_account = 3\nlogin_failures_per_address = 100\nticket_logins_per_address = 100\nreset_requests_per_address = 100\n",
        dir.path().display()
    );
    let one = serve(&config, dir.path());
    let two = serve(&config, dir.path());
    let data = if database.is_empty() {
        vec!["--data-dir".to_owned(), dir.path().display().to_string()]
    } else {
        vec!["--database-url".to_owned(), database.split('"').nth(1).unwrap().to_owned()]
    };
    let key = Command::new(env!("CARGO_BIN_EXE_keyport"))
        .args(["admin", "create-api-key", "--role", "admin", "--name", "t"])
        .args(&data)
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let (status, _, _) = request(
        &one.base,
        "POST",
        "/api/v1/customers",
        Some(&key),
        Some(json!({
            "email": "lock@example.com", "name": "L", "password": "the right phrase"
        })),
    );
    assert_eq!(status, 201);
    let wrong = json!({"email": "lock@example.com", "password": "a wrong guess!"});
    for (i, server) in [&one, &two, &one].iter().enumerate() {
        let (status, _, _) = request(&server.base, "POST", "/api/v1/auth/login", None, Some(wrong.clone()));
        assert_eq!(status, 401, "attempt {i}");
    }
    let right = json!({"email": "lock@example.com", "password": "the right phrase"});
    // Guesses sent in parallel are counted too: exactly three get to try.
    let (status, _, _) = request(
        &one.base,
        "POST",
        "/api/v1/customers",
        Some(&key),
        Some(json!({
            "email": "race@example.com", "name": "R", "password": "the right phrase"
        })),
    );
    assert_eq!(status, 201);
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let base = if i % 2 == 0 { one.base.clone() } else { two.base.clone() };
            std::thread::spawn(move || {
                let guess = json!({"email": "race@example.com", "password": format!("guess number {i}")});
                request(&base, "POST", "/api/v1/auth/login", None, Some(guess)).0
            })
        })
        .collect();
    let statuses: Vec<u16> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 5, "{statuses:?}");
    for server in [&two, &one] {
        let (status, head, problem) =
            request(&server.base, "POST", "/api/v1/auth/login", None, Some(right.clone()));
        assert_eq!((status, problem["code"].as_str()), (429, Some("rate_limited")), "{problem}");
        assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    }
}

#[test]
fn brute_force_is_stopped_on_two_instances_sharing_sqlite() {
    lockout_on("");
}

#[test]
fn brute_force_is_stopped_on_two_instances_sharing_postgresql() {
    let Ok(admin) = std::env::var("KEYPORT_TEST_POSTGRES_URL") else {
        eprintln!("KEYPORT_TEST_POSTGRES_URL is not set: this run checks the SQLite case only");
        return;
    };
    let name = format!("keyport_lock_{}", std::process::id());
    let host = admin.rsplit_once('/').map(|(h, _)| h.to_owned()).unwrap();
    let psql = |sql: &str| Command::new("psql").arg(&admin).args(["-qc", sql]).status().unwrap();
    assert!(psql(&format!("CREATE DATABASE {name}")).success());
    lockout_on(&format!("database_url = \"{host}/{name}\"\n"));
    psql(&format!("DROP DATABASE {name} WITH (FORCE)"));
}

/// Waits for an `.eml` file in `dir` containing `needle`.
fn eml(dir: &Path, needle: &str) -> String {
    let start = Instant::now();
    loop {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                if text.contains(needle) {
                    return text;
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no .eml in {} containing {needle:?}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn without_smtp_mails_become_eml_files_and_a_ticket_joins_the_new_account_and_shops_can_invite() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&format!("data_dir = \"{}\"\n", dir.path().display()), dir.path());
    let b = server.base.as_str();
    let key = Command::new(env!("CARGO_BIN_EXE_keyport"))
        .args(["admin", "create-api-key", "--role", "admin", "--name", "t", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let admin = Some(key.as_str());
    request(b, "POST", "/api/v1/products", admin, Some(json!({"code": "cad", "name": "CAD"})));
    request(
        b,
        "POST",
        "/api/v1/rule-sets",
        admin,
        Some(json!({"name": "std", "seats": 1, "deactivation_allowed": true,
        "offline_allowed": true, "initial_credits": 0, "blocking_days": 0, "replenish_credits": 0, "replenish_every_days": 0,
        "credit_cap": 0, "emergency_days": 0, "emergency_per_year": 0, "checkin_interval_days": null, "checkin_grace_days": 0})),
    );
    request(
        b,
        "POST",
        "/api/v1/items",
        admin,
        Some(json!({"sku": "CAD-1", "product_code": "cad", "name": "CAD",
        "license_model": "perpetual", "version_min": 1, "version_max": null, "rule_set": "std"})),
    );
    let (_, _, order) = request(
        b,
        "POST",
        "/api/v1/orders",
        admin,
        Some(json!({"shop": "w", "external_order_number": "1",
        "lines": [{"line_number": 1, "sku": "CAD-1", "quantity": 1}]})),
    );
    let ticket = order["order"]["ticket_code"].as_str().unwrap().to_owned();

    let (status, _, _) = request(
        b,
        "POST",
        "/api/v1/auth/register",
        None,
        Some(json!({
            "email": "quinn@example.com", "name": "Quinn", "password": "quinn's long phrase", "ticket_code": ticket
        })),
    );
    assert_eq!(status, 202);
    let mail_dir = dir.path().join("mail");
    let token = token_in(&eml(&mail_dir, "quinn@example.com"), "verify-email?token=");
    assert_eq!(request(b, "GET", &format!("/api/v1/auth/verify-email?token={token}"), None, None).0, 200);
    let (_, _, session) = request(
        b,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": "quinn@example.com", "password": "quinn's long phrase"})),
    );
    let access = session["access_token"].as_str().unwrap().to_owned();
    let (_, _, licenses) = request(b, "GET", "/api/v1/me/licenses", Some(&access), None);
    assert_eq!(licenses.as_array().map(Vec::len), Some(1), "the ticket joined the account at once");

    let change = json!({"old_password": "not it at all", "new_password": "quinn's new phrase"});
    assert_eq!(request(b, "POST", "/api/v1/me/password", Some(&access), Some(change)).0, 422);
    let change = json!({"old_password": "quinn's long phrase", "new_password": "quinn's new phrase"});
    assert_eq!(request(b, "POST", "/api/v1/me/password", Some(&access), Some(change)).0, 204);
    let (status, _, _) = request(
        b,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": "quinn@example.com", "password": "quinn's new phrase"})),
    );
    assert_eq!(status, 200);

    // A shop creates a customer over SOAP and asks for an invitation.
    let envelope = "<e:Envelope xmlns:e=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:k=\"urn:keyport:soap:v1\"><e:Body>\
         <k:CreateCustomer><k:email>rita@example.com</k:email><k:name>Rita</k:name><k:sendInvitation>true</k:sendInvitation></k:CreateCustomer>\
         </e:Body></e:Envelope>";
    let address = b.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    let auth = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("erp:{key}"))
    };
    write!(stream, "POST /soap HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nAuthorization: Basic {auth}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{envelope}", envelope.len()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let token = token_in(&eml(&mail_dir, "rita@example.com"), "reset-password?token=");
    let set = json!({"token": token, "new_password": "rita's first phrase"});
    assert_eq!(request(b, "POST", "/api/v1/auth/password-reset/confirm", None, Some(set)).0, 204);
    let (status, _, _) = request(
        b,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": "rita@example.com", "password": "rita's first phrase"})),
    );
    assert_eq!(status, 200, "the invited customer logs in with the password they set");
}

/// A form post (as a mail client's one-click unsubscribe sends it): the status and body.
fn form_post(base: &str, path_and_query: &str, form: &str) -> (u16, String) {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST {path_and_query} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

#[test]
fn marketing_consent_is_a_double_opt_in_and_every_marketing_mail_unsubscribes_in_one_click() {
    let smtp = Smtp::start();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&smtp_config(&smtp, dir.path()), dir.path());
    let b = server.base.as_str();
    let registration =
        json!({"email": "mara@example.com", "name": "Mara", "password": "a long secret phrase"});
    let (status, _, _) = request(b, "POST", "/api/v1/auth/register", None, Some(registration));
    assert_eq!(status, 202);
    let token = token_in(&smtp.wait_for("mara@example.com", "verify-email"), "verify-email?token=");
    assert_eq!(request(b, "GET", &format!("/api/v1/auth/verify-email?token={token}"), None, None).0, 200);
    let login = json!({"email": "mara@example.com", "password": "a long secret phrase"});
    let (_, _, session) = request(b, "POST", "/api/v1/auth/login", None, Some(login));
    let access = session["access_token"].as_str().unwrap().to_owned();

    // She asks; until she confirms, nothing is hers but a confirmation mail.
    let (status, _, pending) = request(b, "POST", "/api/v1/me/marketing-consent", Some(&access), None);
    assert_eq!((status, pending["state"].as_str()), (200, Some("pending")), "{pending}");
    let confirmation = smtp.wait_for("mara@example.com", "newsletter/confirm");
    assert!(!confirmation.contains("List-Unsubscribe"), "the confirmation is no marketing mail");
    let token = token_in(&confirmation, "newsletter/confirm?token=");
    let confirm = json!({"token": token});
    let (status, _, subscribed) =
        request(b, "POST", "/api/v1/marketing-consent/confirmations", None, Some(confirm.clone()));
    assert_eq!((status, subscribed["state"].as_str()), (200, Some("subscribed")), "{subscribed}");
    let (status, _, again) =
        request(b, "POST", "/api/v1/marketing-consent/confirmations", None, Some(confirm));
    assert_eq!((status, again["code"].as_str()), (422, Some("invalid_token")), "a link works once");

    // The first marketing mail carries the RFC 8058 headers; its one-click POST unsubscribes.
    let welcome = smtp.wait_for("mara@example.com", "List-Unsubscribe-Post");
    let unfolded = welcome.replace("\r\n ", " ").replace("\n ", " ");
    assert!(unfolded.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{welcome}");
    let header = unfolded.lines().find(|l| l.starts_with("List-Unsubscribe: <")).unwrap();
    let url = header.trim_start_matches("List-Unsubscribe: <").trim_end_matches('>');
    assert!(url.starts_with(&format!("{b}/api/v1/unsubscribe?token=")), "{url}");
    let path = url.trim_start_matches(b);
    let (status, page) = request_text(b, path);
    assert!(status == 200 && page.contains("<form method=\"post\""), "a GET only shows the button: {page}");
    let (_, _, still) = request(b, "GET", "/api/v1/me/marketing-consent", Some(&access), None);
    assert_eq!(still["state"], "subscribed");
    let (status, done) = form_post(b, path, "List-Unsubscribe=One-Click");
    assert_eq!(status, 200, "{done}");
    let (status, _) = form_post(b, path, "List-Unsubscribe=One-Click");
    assert_eq!(status, 200, "unsubscribing again is no error");
    // Another customer's id with Mara's tag: the HMAC is for her id only.
    let at = path.find("token=").unwrap() + "token=".len();
    let first = if &path[at..=at] == "0" { "1" } else { "0" };
    let forged = format!("{}{first}{}", &path[..at], &path[at + 1..]);
    assert_eq!(form_post(b, &forged, "List-Unsubscribe=One-Click").0, 422);
    let (_, _, consent) = request(b, "GET", "/api/v1/me/marketing-consent", Some(&access), None);
    assert_eq!(consent["state"], "unsubscribed");
    let methods: Vec<&str> =
        consent["history"].as_array().unwrap().iter().map(|h| h["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["one_click_unsubscribe", "double_opt_in_confirmed", "double_opt_in_requested"]);
    assert!(consent["history"][0]["source_address"].as_str().is_some_and(|a| a.starts_with("127.0.0.1")));
}

/// A GET answering text: status and body.
/// A depot page (GET, or POST of a form) with cookies, as text (head and body).
fn depot_page(base: &str, method: &str, path: &str, cookie: &str, form: &str) -> String {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

/// A cookie's value from an answer's `set-cookie` headers.
fn header_cookie(answer: &str, name: &str) -> String {
    answer
        .lines()
        .filter_map(|l| {
            l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie")).map(|(_, v)| v.trim())
        })
        .find_map(|v| {
            v.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} cookie in {answer}"))
}

fn request_text(base: &str, path: &str) -> (u16, String) {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}
