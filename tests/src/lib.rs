#![doc = include_str!("../README.md")]

pub mod http;
pub mod proxy;
pub mod tiny_fs;

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use diesel::{Connection, RunQueryDsl};
use keyport_core::{
    Actor, Channel, DisplayName, ExternalOrderNumber, Features, Fingerprint, ItemSpec, LicenseModel,
    MachineIdentity, MachineKey, OrderCustomer, OrderLine, OrderRequest, ProductCode, ProductSpec, RuleSet,
    RuleSetName, RuleSetParams, ShopName, Sku, VersionRange,
};
use keyport_store::{Backend, Context, DatabaseUrl, OrderOutcome, Store};
use uuid::Uuid;

/// The environment variable naming a PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "KEYPORT_TEST_POSTGRES_URL";

/// A fresh, empty database of one backend, removed when dropped.
pub struct TestDb {
    url: DatabaseUrl,
    backend: Backend,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
    text: String,
}

impl TestDb {
    /// A new SQLite file in a temporary folder.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"));
        let path = dir.path().join("keyport.db");
        let url = DatabaseUrl::sqlite_file(&path);
        TestDb { url, backend: Backend::Sqlite, _dir: Some(dir), postgres: None, text: sqlite_text(&path) }
    }

    /// A new SQLite file in a folder of the caller's (which outlives it).
    pub fn sqlite_in(dir: &std::path::Path) -> TestDb {
        let path = dir.join("keyport.db");
        let url = DatabaseUrl::sqlite_file(&path);
        TestDb { url, backend: Backend::Sqlite, _dir: None, postgres: None, text: sqlite_text(&path) }
    }

    /// A new PostgreSQL database on the server `admin_url` names.
    pub fn postgres(admin_url: &str) -> TestDb {
        let name = format!("keyport_test_{}", Uuid::now_v7().simple());
        let mut admin = diesel::PgConnection::establish(admin_url)
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {POSTGRES_ENV}: {e}"));
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .unwrap_or_else(|e| panic!("cannot create {name}: {e}"));
        let url = with_database(admin_url, &name);
        let parsed = DatabaseUrl::parse(&url).unwrap_or_else(|e| panic!("{e}"));
        TestDb {
            url: parsed,
            backend: Backend::Postgres,
            _dir: None,
            postgres: Some((admin_url.to_owned(), name)),
            text: url,
        }
    }

    /// Every backend to test on: SQLite always, PostgreSQL when configured.
    pub fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        if let Ok(url) = std::env::var(POSTGRES_ENV)
            && !url.trim().is_empty()
        {
            dbs.push(TestDb::postgres(url.trim()));
        }
        dbs
    }

    /// The database's URL.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The database's URL as text (for a command line or a proxy).
    pub fn url_text(&self) -> String {
        self.text.clone()
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

fn sqlite_text(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres
            && let Ok(mut admin) = diesel::PgConnection::establish(admin_url)
        {
            let _ =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
        }
    }
}

/// The same server URL with another database name.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{host_part}/{name}{query}")
}

/// A store on a fresh database, and builders for what tests need in it.
pub struct Fixture {
    /// The store under test.
    pub store: Store,
    db: TestDb,
    counter: AtomicU32,
}

impl Fixture {
    /// Opens (and migrates) a store on a fresh database.
    pub fn new(db: TestDb) -> Fixture {
        let store = Store::open(db.url(), keyport_store::PoolOptions::server(16))
            .unwrap_or_else(|e| panic!("cannot open {:?}: {e}", db.url()));
        Fixture { store, db, counter: AtomicU32::new(0) }
    }

    /// A fixture over a store the test opened itself on `db` (e.g. through a proxy).
    pub fn with_store(db: TestDb, store: Store) -> Fixture {
        Fixture { store, db, counter: AtomicU32::new(0) }
    }

    /// The database's URL.
    pub fn url(&self) -> &DatabaseUrl {
        self.db.url()
    }

    /// The database's URL as text (for a connection of the test's own).
    pub fn url_text(&self) -> String {
        self.db.url_text()
    }

    /// Runs a test once on each backend, saying which one runs (shown when it fails).
    pub fn each(test: impl Fn(&Fixture)) {
        for db in TestDb::all() {
            eprintln!("--- on {:?}", db.backend());
            test(&Fixture::new(db));
        }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// A support action at `now` over REST by the system.
    pub fn ctx(&self) -> Context {
        self.ctx_at(Utc::now())
    }

    /// A context at a given time.
    pub fn ctx_at(&self, now: DateTime<Utc>) -> Context {
        Context::new(Actor::System, Channel::Rest, now)
    }

    fn next(&self) -> u32 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Defines a product, a rule set with these numbers and an item; returns the SKU.
    pub fn item(&self, model: LicenseModel, rules: RuleSetParams) -> String {
        self.item_at(Utc::now(), model, rules)
    }

    /// Like [`Fixture::item`], at a given time.
    pub fn item_at(&self, now: DateTime<Utc>, model: LicenseModel, rules: RuleSetParams) -> String {
        let n = self.next();
        let ctx = self.ctx_at(now);
        let product =
            ProductSpec { code: parse(ProductCode::parse(&format!("cad-{n}"))), name: name("CAD Pro") };
        self.store.define_product(&ctx, &product).unwrap_or_else(|e| panic!("{e}"));
        let rules = RuleSet::new(RuleSetParams { name: format!("rules-{n}"), ..rules })
            .unwrap_or_else(|e| panic!("{e}"));
        self.store.define_rule_set(&ctx, &rules).unwrap_or_else(|e| panic!("{e}"));
        let sku = format!("CAD-{n}");
        let spec = ItemSpec {
            sku: parse(Sku::parse(&sku)),
            product: product.code,
            name: name("CAD Pro 5"),
            model,
            features: parse(Features::new(["export", "render"])),
            versions: parse(VersionRange::new(5, Some(5))),
            rule_set: parse(RuleSetName::parse(rules.name().as_str())),
            // Demo items of the fixture are offered for self-service (product `cad-<n>`).
            self_service: matches!(model, LicenseModel::Demo { .. }),
            upgrade_from: Vec::new(),
        };
        self.store.define_item(&ctx, &spec).unwrap_or_else(|e| panic!("{e}"));
        sku
    }

    /// Orders `quantity` of `sku` as a new order of shop `webshop`.
    pub fn order(&self, sku: &str, quantity: u32) -> OrderOutcome {
        self.order_at(Utc::now(), sku, quantity)
    }

    /// Like [`Fixture::order`], at a given time.
    pub fn order_at(&self, now: DateTime<Utc>, sku: &str, quantity: u32) -> OrderOutcome {
        let number = format!("A-{}", self.next());
        let request = order_request(&number, OrderCustomer::None, &[(1, sku, quantity)]);
        self.store.create_order(&self.ctx_at(now), &request).unwrap_or_else(|e| panic!("{e}"))
    }

    /// One license of a new item with these rules, ordered at `now`.
    pub fn license_at(&self, now: DateTime<Utc>, rules: RuleSetParams) -> Uuid {
        let sku = self.item_at(now, LicenseModel::Perpetual, rules);
        let outcome = self.order_at(now, &sku, 1);
        outcome.order.lines[0].license_ids[0]
    }
}

/// An order request of shop `webshop` with (line number, SKU, quantity) lines.
pub fn order_request(number: &str, customer: OrderCustomer, lines: &[(u32, &str, u32)]) -> OrderRequest {
    let lines =
        lines.iter().map(|(n, sku, q)| parse(OrderLine::new(*n, parse(Sku::parse(sku)), *q))).collect();
    parse(OrderRequest::new(
        parse(ShopName::parse("webshop")),
        parse(ExternalOrderNumber::parse(number)),
        customer,
        lines,
    ))
}

/// A rule set: 3 seats, deactivation allowed, 1 initial credit, 7 blocking days, 1 more
/// credit every 30 days up to 2.
pub fn rules() -> RuleSetParams {
    RuleSetParams {
        name: "standard".to_owned(),
        seats: 3,
        deactivation_allowed: true,
        offline_allowed: true,
        initial_credits: 1,
        blocking_days: 7,
        replenish_credits: 1,
        replenish_every_days: 30,
        credit_cap: 2,
        emergency_days: 14,
        emergency_per_year: 1,
        checkin_interval_days: None,
        checkin_grace_days: 0,
    }
}

/// The private key seed of machine number `n`.
pub fn machine_seed(n: u32) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&n.to_be_bytes());
    seed[31] = 1;
    seed
}

/// Machine number `n`: a fixed key pair and fingerprint derived from `n`.
pub fn machine(n: u32) -> MachineIdentity {
    MachineIdentity {
        fingerprint: parse(Fingerprint::parse(&format!("sha256:machine-{n:08}"))),
        key: MachineKey::from_bytes(keyport_core::jws::public_key(&machine_seed(n))),
    }
}

/// An activation request file for a license, written and signed by machine `n`.
pub fn activation_request(n: u32, license_id: &str) -> String {
    let m = machine(n);
    let request = keyport_core::files::ActivationRequest {
        license_id: parse_uuid(license_id),
        fingerprint: m.fingerprint.as_str().to_owned(),
        machine_key: m.key.to_string(),
        nonce: Uuid::now_v7().to_string(),
        iat: chrono::Utc::now().timestamp(),
    };
    parse(keyport_core::files::write(&request, &machine_seed(n)))
}

/// A deactivation proof file signed by machine `n`.
pub fn deactivation_proof(n: u32, license_id: &str, activation_id: &str) -> String {
    let proof = keyport_core::files::DeactivationProof {
        activation_id: parse_uuid(activation_id),
        license_id: parse_uuid(license_id),
        machine_key: machine(n).key.to_string(),
        nonce: Uuid::now_v7().to_string(),
        iat: chrono::Utc::now().timestamp(),
    };
    parse(keyport_core::files::write(&proof, &machine_seed(n)))
}

/// A check-in signed by machine `n` at `at` (queued or live), reporting version `5.1.0` on
/// Windows.
pub fn check_in(n: u32, license_id: Uuid, activation_id: Uuid, at: DateTime<Utc>, queued: bool) -> String {
    check_in_version(n, (license_id, activation_id), at, queued, "5.1.0")
}

/// Like [`check_in`], reporting `version`.
pub fn check_in_version(
    n: u32,
    (license_id, activation_id): (Uuid, Uuid),
    at: DateTime<Utc>,
    queued: bool,
    version: &str,
) -> String {
    let statement = keyport_core::checkin::CheckIn {
        activation_id,
        license_id,
        machine_key: machine(n).key.to_string(),
        at_ms: at.timestamp_millis(),
        queued,
        report: keyport_core::checkin::ClientReport {
            version: version.to_owned(),
            os: "windows".to_owned(),
            os_version: "11 (23H2)".to_owned(),
            arch: "x86_64".to_owned(),
            locale: "de-DE".to_owned(),
        },
    };
    parse(keyport_core::files::write(&statement, &machine_seed(n)))
}

/// A usage report of a session, signed by machine `n` at `at`.
pub fn usage_report(
    n: u32,
    (license_id, activation_id): (Uuid, Uuid),
    session_id: Uuid,
    event: keyport_core::checkin::SessionEvent,
    at: DateTime<Utc>,
) -> String {
    let report = keyport_core::checkin::UsageReport {
        activation_id,
        license_id,
        machine_key: machine(n).key.to_string(),
        session_id,
        event,
        at_ms: at.timestamp_millis(),
        version: "5.1.0".to_owned(),
        os: "linux".to_owned(),
    };
    parse(keyport_core::files::write(&report, &machine_seed(n)))
}

fn parse_uuid(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap_or_else(|e| panic!("not a uuid '{text}': {e}"))
}

/// A display name.
pub fn name(text: &str) -> DisplayName {
    parse(DisplayName::parse(text))
}

/// Unwraps a constructor's result in a test, naming the error.
pub fn parse<T>(result: Result<T, keyport_core::CoreError>) -> T {
    result.unwrap_or_else(|e| panic!("invalid test input: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_url_gets_the_new_database_name() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
