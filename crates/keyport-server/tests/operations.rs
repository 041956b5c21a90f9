//! Operating Keyport: a backup taken under write load holds every order acknowledged before
//! it began, is the owner's only, verifies, and restores into a new data folder; a restore
//! is refused while a server uses the database.
#![expect(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{request, serve};
use serde_json::json;

fn keyport(args: &[&str], data: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyport"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("KEYPORT_DATABASE_URL")
        .output()
        .unwrap()
}

#[test]
fn a_backup_under_load_restores_every_order_acknowledged_before_it_began() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let created = keyport(&["admin", "create-api-key", "--role", "admin", "--name", "ops"], &data);
    let admin = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let server = serve(&format!("data_dir = \"{}\"\n", data.display()), dir.path());
    let base = server.base.clone();
    let post = |path: &str, body: serde_json::Value| request(&base, "POST", path, Some(&admin), Some(body)).0;
    assert_eq!(post("/api/v1/products", json!({"code": "bak", "name": "Backup"})), 201);
    let rules = json!({"name": "bak", "seats": 1, "deactivation_allowed": true, "offline_allowed": true,
        "initial_credits": 1, "blocking_days": 0, "replenish_credits": 0, "replenish_every_days": 0,
        "credit_cap": 1, "emergency_days": 14, "emergency_per_year": 1, "checkin_grace_days": 0});
    assert_eq!(post("/api/v1/rule-sets", rules), 201);
    let item = json!({"sku": "BAK-1", "product_code": "bak", "name": "Backup 1", "license_model": "perpetual",
        "features": [], "version_min": 1, "rule_set": "bak"});
    assert_eq!(post("/api/v1/items", item), 201);

    // Four shops order without pause while the backup is taken.
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (base, admin, acknowledged, stop) =
                (base.clone(), admin.clone(), acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    let number = format!("B-{t}-{n}");
                    let order = json!({"shop": "web", "external_order_number": number,
                        "lines": [{"line_number": 1, "sku": "BAK-1", "quantity": 1}]});
                    if request(&base, "POST", "/api/v1/orders", Some(&admin), Some(order)).0 == 201 {
                        acknowledged.lock().unwrap().push(number);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let backup = dir.path().join("keyport-backup.db");
    let taken = keyport(&["admin", "backup", "--out", backup.to_str().unwrap()], &data);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.join().unwrap();
    }
    assert!(taken.status.success(), "backup: {}", String::from_utf8_lossy(&taken.stderr));
    assert!(before.len() > 10, "the load wrote orders before the backup: {}", before.len());
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);

    let refused = keyport(&["admin", "restore", "--from", backup.to_str().unwrap()], &data);
    assert!(!refused.status.success(), "a restore under a running server is refused");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("stop it before restoring"));
    drop(server);

    let bytes_before = std::fs::read(&backup).unwrap();
    let verified = Command::new(env!("CARGO_BIN_EXE_keyport"))
        .args(["admin", "verify-backup"])
        .arg(&backup)
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    assert!(String::from_utf8_lossy(&verified.stdout).contains("integrity          ok"));
    assert!(std::fs::read(&backup).unwrap() == bytes_before, "verifying a backup changes nothing in it");

    // Restoring over the stopped server's own database keeps the one it replaces.
    let over = keyport(&["admin", "restore", "--from", backup.to_str().unwrap()], &data);
    assert!(over.status.success(), "restore: {}", String::from_utf8_lossy(&over.stderr));
    assert!(data.join("keyport.db.before-restore").exists(), "the replaced database is kept");
    let not_a_db = dir.path().join("notes.txt");
    std::fs::write(&not_a_db, "not a database").unwrap();
    let bad = keyport(&["admin", "restore", "--from", not_a_db.to_str().unwrap()], &data);
    assert!(!bad.status.success(), "a file that is no Keyport database is not restored");
    assert!(data.join("keyport.db").exists(), "and the database stays in place");

    let restored = dir.path().join("restored");
    keyport_store::files::owner_only_dir(&restored).unwrap();
    let put = keyport(&["admin", "restore", "--from", backup.to_str().unwrap()], &restored);
    assert!(put.status.success(), "restore: {}", String::from_utf8_lossy(&put.stderr));
    let again = serve(&format!("data_dir = \"{}\"\n", restored.display()), dir.path());
    for number in &before {
        let (status, _, _) =
            request(&again.base, "GET", &format!("/api/v1/orders/web/{number}"), Some(&admin), None);
        assert_eq!(status, 200, "order {number}, acknowledged before the backup, is in it");
    }
}

#[test]
fn the_command_line_moves_a_sqlite_database_to_postgresql() {
    let Ok(admin_url) = std::env::var("KEYPORT_TEST_POSTGRES_URL") else {
        eprintln!("KEYPORT_TEST_POSTGRES_URL is not set: the move to PostgreSQL is checked in CI");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(
        keyport(&["admin", "create-api-key", "--role", "shop", "--name", "shop"], &data).status.success()
    );
    let export = dir.path().join("keyport.export");
    let exported = keyport(&["admin", "export", "--out", export.to_str().unwrap()], &data);
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    assert_eq!(std::fs::metadata(&export).unwrap().permissions().mode() & 0o777, 0o600);

    let name = format!("keyport_move_{}", std::process::id());
    let psql = |sql: &str| Command::new("psql").arg(admin_url.trim()).args(["-qc", sql]).status().unwrap();
    assert!(psql(&format!("CREATE DATABASE {name}")).success());
    let url = format!("{}/{name}", admin_url.trim().rsplit_once('/').unwrap().0);
    let imported = Command::new(env!("CARGO_BIN_EXE_keyport"))
        .args(["admin", "import", "--from", export.to_str().unwrap(), "--database-url", &url])
        .output()
        .unwrap();
    let keys = Command::new(env!("CARGO_BIN_EXE_keyport"))
        .args(["admin", "list-api-keys", "--database-url", &url])
        .output()
        .unwrap();
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    assert!(
        String::from_utf8_lossy(&keys.stdout).contains("shop"),
        "the key moved: {}",
        String::from_utf8_lossy(&keys.stdout)
    );
}
