//! The `keyport` binary as an operator runs it.
#![expect(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn keyport() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyport"));
    for var in ["KEYPORT_DATA_DIR", "KEYPORT_LISTEN", "KEYPORT_DATABASE_URL", "KEYPORT_LOG_FORMAT"] {
        cmd.env_remove(var);
    }
    cmd
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A GET over a plain socket: (status, headers and body as text).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text))
}

fn wait_ready(port: u16, child: &mut Child) -> String {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Some((200, text)) = get(port, "/readyz") {
            return text;
        }
        assert!(child.try_wait().unwrap().is_none(), "keyport exited before it was ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("keyport did not become ready");
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let killed = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(killed.success());
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "keyport did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_without_configuration_keeps_its_data_in_keyport_data_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = keyport()
        .current_dir(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--log-format", "json"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let answer = wait_ready(port, &mut child);
    let request_id =
        answer.lines().find_map(|l| l.strip_prefix("x-request-id: ")).map(str::trim).unwrap().to_owned();
    assert!(dir.path().join("keyport-data/keyport.db").exists());
    let status = terminate(&mut child);
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert!(
        lines.iter().any(|l| l.to_string().contains(&request_id)),
        "the request's log line carries its request id {request_id}"
    );
}

#[test]
fn an_unreachable_database_gives_one_clear_line_and_a_failing_exit() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyport()
        .current_dir(dir.path())
        .args(["serve", "--database-url", "postgres://keyport:secret@127.0.0.1:1/keyport"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "keyport: cannot connect to the database postgres://keyport:***@127.0.0.1:1/keyport"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "the password must not be shown: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_database_url_of_an_unknown_kind_is_refused_by_name() {
    let out = keyport().args(["migrate", "--database-url", "mysql://localhost/keyport"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the database URL must start with postgres://, postgresql:// or sqlite://"),
        "{stderr}"
    );
}

#[test]
fn create_api_key_prints_the_key_once_on_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyport()
        .args(["admin", "create-api-key", "--role", "shop", "--name", "web shop", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.trim();
    assert!(key.starts_with("kp_") && key.len() == 51, "{key}");
    assert_eq!(stdout.lines().count(), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("created shop key 'web shop'"), "{stderr}");
    assert!(!stderr.contains(key), "the key is printed only to standard output");
}

#[test]
fn an_unknown_role_is_refused() {
    let out = keyport().args(["admin", "create-api-key", "--role", "root", "--name", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'root'"));
}

#[test]
fn every_command_explains_itself_with_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["admin", "--help"],
        vec!["admin", "create-api-key", "--help"],
    ] {
        let out = keyport().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage: keyport"), "{args:?}: {text}");
    }
}

#[test]
fn migrate_prepares_a_database_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyport().args(["migrate", "--data-dir"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "migrations applied");
    let mut header = [0u8; 15];
    std::fs::File::open(dir.path().join("keyport.db")).unwrap().read_exact(&mut header).unwrap();
    assert_eq!(&header, b"SQLite format 3");
}

#[test]
fn keys_are_listed_with_their_state_and_a_revoked_key_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let out = keyport().args(args).arg("--data-dir").arg(&data).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let key =
        run(&["admin", "create-api-key", "--role", "shop", "--name", "web shop", "--expires-in-days", "30"]);
    run(&["admin", "create-api-key", "--role", "admin", "--name", "ops"]);
    let listed = run(&["admin", "list-api-keys"]);
    assert!(!listed.contains(key.trim()), "the list never shows a key");
    let shop = listed.lines().find(|l| l.contains("web shop")).unwrap();
    assert!(shop.contains("shop") && shop.contains("active until"), "{shop}");
    let id = shop.split_whitespace().next().unwrap().to_owned();
    run(&["admin", "revoke-api-key", "--id", &id]);
    let listed = run(&["admin", "list-api-keys"]);
    let shop = listed.lines().find(|l| l.contains("web shop")).unwrap();
    assert!(shop.contains("revoked"), "{shop}");
    assert!(listed.lines().any(|l| l.contains("ops") && l.contains("active")), "{listed}");
}
