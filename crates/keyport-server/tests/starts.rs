//! Starting, stopping and sharing: simultaneous first starts on a fresh database, commands
//! that exit cleanly every time, and several `keyport serve` processes on one CPU sending
//! each mail of a shared outbox exactly once.
#![expect(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn keyport() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyport"));
    for var in ["KEYPORT_DATA_DIR", "KEYPORT_LISTEN", "KEYPORT_DATABASE_URL", "KEYPORT_LOG_FORMAT"] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// The PostgreSQL server of the test run, if one is configured.
fn postgres() -> Option<String> {
    std::env::var("KEYPORT_TEST_POSTGRES_URL").ok().map(|u| u.trim().to_owned()).filter(|u| !u.is_empty())
}

/// A fresh PostgreSQL database, dropped with the value.
struct PgDb {
    admin: String,
    name: String,
}

impl PgDb {
    fn new(admin: &str, tag: &str) -> PgDb {
        let name = format!("keyport_{tag}_{}_{}", std::process::id(), Instant::now().elapsed().as_nanos());
        let db = PgDb { admin: admin.to_owned(), name };
        db.psql_admin(&format!("CREATE DATABASE {}", db.name));
        db
    }

    fn url(&self) -> String {
        let host = self.admin.rsplit_once('/').map(|(h, _)| h.to_owned()).unwrap();
        format!("{host}/{}", self.name)
    }

    fn psql_admin(&self, sql: &str) {
        let ok = Command::new("psql").arg(&self.admin).args(["-qc", sql]).status().unwrap();
        assert!(ok.success(), "psql failed: {sql}");
    }

    fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql").arg(self.url()).args(["-qAtc", sql]).output().unwrap();
        assert!(out.status.success(), "psql failed: {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.admin)
            .args(["-qc", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)])
            .status();
    }
}

/// Runs `make()` `n` times at the same moment and returns every output.
fn at_once(n: usize, make: impl Fn() -> Command + Send + Sync + 'static) -> Vec<Output> {
    let barrier = Arc::new(Barrier::new(n));
    let make = Arc::new(make);
    let runs: Vec<_> = (0..n)
        .map(|_| {
            let (barrier, make) = (barrier.clone(), make.clone());
            std::thread::spawn(move || {
                let mut cmd = make();
                barrier.wait();
                cmd.output().unwrap()
            })
        })
        .collect();
    runs.into_iter().map(|r| r.join().unwrap()).collect()
}

fn assert_all_succeeded(outputs: &[Output], what: &str) {
    for out in outputs {
        assert!(
            out.status.success(),
            "{what}: exit {:?}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn instances_starting_at_the_same_moment_on_a_fresh_sqlite_file_all_start() {
    for round in 0..20 {
        for instances in [2, 4] {
            let dir = tempfile::tempdir().unwrap();
            let data = dir.path().join("data");
            let outputs = at_once(instances, move || {
                let mut cmd = keyport();
                cmd.arg("migrate").arg("--data-dir").arg(&data);
                cmd
            });
            assert_all_succeeded(&outputs, &format!("round {round}, {instances} instances"));
        }
    }
}

#[test]
fn instances_starting_at_the_same_moment_on_a_fresh_postgresql_database_all_start() {
    let Some(admin) = postgres() else {
        eprintln!("KEYPORT_TEST_POSTGRES_URL is not set: this run checks SQLite only");
        return;
    };
    for round in 0..20 {
        for instances in [2, 4] {
            let db = PgDb::new(&admin, "start");
            let url = db.url();
            let outputs = at_once(instances, move || {
                let mut cmd = keyport();
                cmd.args(["migrate", "--database-url", &url]);
                cmd
            });
            assert_all_succeeded(&outputs, &format!("round {round}, {instances} instances"));
            assert_eq!(db.psql("SELECT COUNT(*) FROM signing_keys WHERE is_current"), "1");
        }
    }
}

#[test]
fn commands_on_postgresql_exit_cleanly_every_time() {
    let Some(admin) = postgres() else {
        eprintln!("KEYPORT_TEST_POSTGRES_URL is not set: this run checks SQLite only");
        return;
    };
    let db = PgDb::new(&admin, "exit");
    let url = db.url();
    let runs: Vec<_> = (0..2)
        .map(|worker| {
            let url = url.clone();
            std::thread::spawn(move || {
                for n in 0..100 {
                    let migrate = keyport().args(["migrate", "--database-url", &url]).output().unwrap();
                    assert!(migrate.status.success(), "migrate run {worker}/{n}: {:?}", migrate.status);
                    let key = keyport()
                        .args(["admin", "create-api-key", "--role", "shop", "--name", "shop"])
                        .args(["--database-url", &url])
                        .output()
                        .unwrap();
                    assert!(key.status.success(), "create-api-key run {worker}/{n}: {:?}", key.status);
                }
            })
        })
        .collect();
    for run in runs {
        run.join().unwrap();
    }
    assert_eq!(db.psql("SELECT COUNT(*) FROM api_keys"), "200");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `keyport serve` pinned to CPU 0, stopped when dropped.
struct Pinned(Child);

impl Pinned {
    fn serve(database_url: &str, data: &Path) -> Pinned {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "0", env!("CARGO_BIN_EXE_keyport"), "serve", "--database-url", database_url])
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Pinned(cmd.spawn().unwrap())
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Mail ids of the `.eml` files in `dir/mail`.
fn sent_ids(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("mail")) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".eml")).map(str::to_owned))
        .collect()
}

#[test]
fn four_instances_on_one_cpu_send_every_mail_of_a_shared_outbox_exactly_once() {
    let Some(admin) = postgres() else {
        eprintln!("KEYPORT_TEST_POSTGRES_URL is not set: the shared outbox is checked on PostgreSQL");
        return;
    };
    if Command::new("taskset").arg("-V").output().is_err() {
        panic!("taskset is missing: apt-get install util-linux");
    }
    let db = PgDb::new(&admin, "outbox");
    let migrated = keyport().args(["migrate", "--database-url", &db.url()]).output().unwrap();
    assert!(migrated.status.success());
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let _instances: Vec<_> = dirs.iter().map(|d| Pinned::serve(&db.url(), d.path())).collect();
    for round in 0..5 {
        db.psql(&format!(
            "INSERT INTO outbox (id, recipient, subject, body, created_at, next_attempt_at) \
             SELECT 'r{round}-' || n, 'user' || n || '@example.com', 'Hello', 'Body', now(), now() \
             FROM generate_series(1, 100) AS n"
        ));
        let started = Instant::now();
        while db.psql("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL") != "0" {
            assert!(started.elapsed() < Duration::from_secs(90), "round {round}: mails are not sent");
            std::thread::sleep(Duration::from_millis(200));
        }
        // Give a late duplicate time to show up.
        std::thread::sleep(Duration::from_millis(1500));
        let mut times: HashMap<String, usize> = HashMap::new();
        for dir in &dirs {
            for id in sent_ids(dir.path()) {
                *times.entry(id).or_default() += 1;
            }
        }
        let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "round {round}: sent more than once: {twice:?}");
        assert_eq!(times.len(), 100 * (round + 1), "round {round}: every mail is sent once");
    }
}
