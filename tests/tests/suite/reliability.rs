//! Reliability: the outbox claim under racing instances, recovery races, retention, and a
//! database that goes away and comes back.

use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chrono::Utc;
use keyport_core::{Email, ErrorCode, Role, RuleSetParams};
use keyport_store::mail::MailLinks;
use keyport_store::{Limit, NewCustomer, PoolOptions, Retention, Scope, Store};
use keyport_tests::http::{Api, api_key, block_on};
use keyport_tests::proxy::Proxy;
use keyport_tests::{Fixture, POSTGRES_ENV, TestDb, machine, name, parse, rules};

fn links() -> MailLinks {
    keyport_rest::mail_links("https://licenses.example.com")
}

/// `n` customers, each with a password-reset mail in the outbox.
fn reset_mails(f: &Fixture, round: usize, n: usize) {
    for i in 0..n {
        let email = parse(Email::parse(&format!("user{round}-{i}@example.com")));
        let new =
            NewCustomer { email: email.clone(), name: name("User"), customer_number: None, password: None };
        f.store.create_customer(&f.ctx(), &new).unwrap();
        f.store.request_password_reset(&f.ctx(), &links(), &email).unwrap();
    }
}

#[test]
fn four_instances_claiming_the_outbox_send_every_mail_exactly_once() {
    Fixture::each(|f| {
        // Four stores with pools of their own stand for four instances on one database.
        let instances: Vec<Store> =
            (0..4).map(|_| Store::open(f.url(), PoolOptions::server(4)).unwrap()).collect();
        for round in 0..5 {
            reset_mails(f, round, 40);
            let barrier = Arc::new(Barrier::new(instances.len()));
            let workers: Vec<_> = instances
                .iter()
                .map(|store| {
                    let (store, barrier) = (store.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let mut sent = Vec::new();
                        let mut idle = 0;
                        while idle < 20 {
                            match store.claim_mail(Utc::now()).unwrap() {
                                Some(mail) => {
                                    idle = 0;
                                    store.mail_sent(&mail.id, Utc::now()).unwrap();
                                    sent.push(mail.id);
                                }
                                None => idle += 1,
                            }
                        }
                        sent
                    })
                })
                .collect();
            let mut times: HashMap<String, usize> = HashMap::new();
            for worker in workers {
                for id in worker.join().unwrap() {
                    *times.entry(id).or_default() += 1;
                }
            }
            let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
            assert!(twice.is_empty(), "round {round}: mails sent more than once: {twice:?}");
            assert_eq!(times.len(), 40, "round {round}: every mail is sent");
        }
    });
}

#[test]
fn racing_recoveries_for_the_last_credit_refuse_the_loser_for_its_credits_not_a_blocking_period() {
    Fixture::each(|f| {
        let params = RuleSetParams {
            seats: 2,
            initial_credits: 1,
            blocking_days: 0,
            replenish_credits: 0,
            replenish_every_days: 0,
            credit_cap: 1,
            ..rules()
        };
        for round in 0..10u32 {
            let license = f.license_at(Utc::now(), params.clone());
            let base = round * 10;
            let lost: Vec<_> = (1..=2)
                .map(|m| f.store.activate(&f.ctx(), Scope::Staff, license, &machine(base + m)).unwrap())
                .map(|o| o.activation.id)
                .collect();
            let barrier = Arc::new(Barrier::new(2));
            let racers: Vec<_> = lost
                .iter()
                .zip(3..=4)
                .map(|(lost, m)| {
                    let (store, barrier, ctx, lost) = (f.store.clone(), barrier.clone(), f.ctx(), *lost);
                    std::thread::spawn(move || {
                        barrier.wait();
                        store
                            .recover(&ctx, Scope::Staff, lost, &machine(base + m))
                            .map(drop)
                            .map_err(|e| e.code())
                    })
                })
                .collect();
            let mut outcomes: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
            outcomes.sort_by_key(|o| o.is_err());
            assert_eq!(outcomes, vec![Ok(()), Err(ErrorCode::ReactivationCreditsExhausted)], "round {round}");
        }
    });
}

#[test]
fn rows_past_their_retention_are_pruned_and_the_rest_kept() {
    Fixture::each(|f| {
        let now = Utc::now();
        let minute = Limit { max: 5, window: chrono::Duration::minutes(1) };
        for n in 0..30 {
            f.store.take_attempt(&format!("login:address:10.0.0.{n}"), minute, now).unwrap();
        }
        reset_mails(f, 0, 3);
        while let Some(mail) = f.store.claim_mail(Utc::now()).unwrap() {
            f.store.mail_sent(&mail.id, Utc::now()).unwrap();
        }
        let answer = keyport_store::KeptAnswer { status: 201, body: "{}".to_owned() };
        let keyport_store::Claim::Claimed(at) =
            f.store.claim_idempotency_key("shop", "key-1", "hash", Utc::now()).unwrap()
        else {
            panic!("a new key is claimed")
        };
        f.store.keep_answer("shop", "key-1", at, &answer).unwrap();
        let count = |table: &str| {
            f.store.table_sizes().unwrap().into_iter().find(|(t, _)| *t == table).map(|(_, n)| n).unwrap()
        };
        let retention = Retention::default();

        // Today nothing is old enough.
        assert_eq!(f.store.prune(&retention, Utc::now(), 500).unwrap().total(), 0);
        assert_eq!(count("rate_counters"), 30);

        // A month and a half later, everything that only grows is gone, in batches.
        let later = now + chrono::Duration::days(45);
        let first = f.store.prune(&retention, later, 10).unwrap();
        assert_eq!(first.rate_counters, 10, "a batch deletes at most its size");
        while f.store.prune(&retention, later, 10).unwrap().total() > 0 {}
        for table in ["rate_counters", "idempotency_keys", "outbox", "one_time_tokens"] {
            assert_eq!(count(table), 0, "{table} is pruned");
        }
        assert_eq!(count("customers"), 3, "customers are the record and stay");
        assert!(count("events") > 0, "the event log is kept");
    });
}

/// A PostgreSQL store reached through a proxy the test can cut.
/// `None` (the test is skipped) without PostgreSQL.
fn behind_proxy() -> Option<(Proxy, Fixture)> {
    let Ok(admin) = std::env::var(POSTGRES_ENV) else {
        eprintln!("skipped: {POSTGRES_ENV} is not set (the test command sets it in CI)");
        return None;
    };
    let db = TestDb::postgres(admin.trim());
    let proxy = Proxy::start(&db.url_text());
    let store =
        Store::open(&keyport_store::DatabaseUrl::parse(&proxy.url()).unwrap(), PoolOptions::server(4))
            .unwrap();
    Some((proxy, Fixture::with_store(db, store)))
}

#[test]
fn while_postgresql_is_unreachable_requests_fail_fast_with_503_and_service_resumes_by_itself() {
    let Some((proxy, f)) = behind_proxy() else { return };
    block_on(async {
        let api = Api::spawn(&f);
        let key = api_key(&f, Role::Admin);
        assert_eq!(api.get("/readyz", None).await.status, 200);
        assert_eq!(api.get("/api/v1/products", Some(&key)).await.status, 200);

        proxy.cut();
        let started = Instant::now();
        let ready = api.get("/readyz", None).await;
        assert_eq!(ready.status, 503);
        assert!(started.elapsed() < Duration::from_millis(1500), "readyz took {:?}", started.elapsed());

        let started = Instant::now();
        let answers = futures_join(&api, &key, 8).await;
        for reply in &answers {
            assert_eq!((reply.status, reply.code()), (503, "unavailable"), "{}", reply.body);
            assert_eq!(reply.header("retry-after"), Some("1"));
        }
        assert!(started.elapsed() < Duration::from_secs(5), "8 requests took {:?}", started.elapsed());

        proxy.restore();
        let started = Instant::now();
        loop {
            if api.get("/api/v1/products", Some(&key)).await.status == 200 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "service did not resume");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(api.get("/readyz", None).await.status, 200);
    });
}

#[test]
fn a_restart_of_postgresql_between_requests_fails_none_of_the_next_requests() {
    let Some((proxy, f)) = behind_proxy() else { return };
    let licenses: Vec<_> = (0..4).map(|_| f.license_at(Utc::now(), rules())).collect();
    block_on(async {
        let api = Api::spawn(&f);
        let key = api_key(&f, Role::Admin);
        // Every pooled connection open and just used: the pool hands them out untested.
        for reply in futures_join(&api, &key, 8).await {
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
        for (round, license) in licenses.iter().enumerate().take(3) {
            // What a restart does to the pool: every open connection is closed; new ones
            // are accepted.
            proxy.cut();
            proxy.restore();
            assert_eq!(api.get("/readyz", None).await.status, 200, "round {round}: ready again at once");
            proxy.cut();
            proxy.restore();
            for reply in futures_join(&api, &key, 8).await {
                assert_eq!(reply.status, 200, "round {round}: {}", reply.body);
            }
            proxy.cut();
            proxy.restore();
            let activated = f.store.activate(&f.ctx(), Scope::Staff, *license, &machine(round as u32 + 1));
            let activated = activated.unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert!(activated.created);
        }
    });
}

/// `n` concurrent catalog reads.
async fn futures_join(api: &Api, key: &str, n: usize) -> Vec<keyport_tests::http::Reply> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (base, key) = (api.base.clone(), key.to_owned());
        tasks.spawn(async move {
            let api = Api::at(&base);
            api.get("/api/v1/products", Some(&key)).await
        });
    }
    let mut replies = Vec::new();
    while let Some(reply) = tasks.join_next().await {
        replies.push(reply.unwrap());
    }
    replies
}

#[test]
fn a_full_sqlite_disk_answers_503_and_logs_never_panics() {
    // A 2 MiB file system: the database fills it.
    let Some(mount) = keyport_tests::tiny_fs::TinyFs::mount(2) else {
        eprintln!("skipped: no tmpfs can be mounted here (needs root)");
        return;
    };
    let db = TestDb::sqlite_in(mount.path());
    let f = Fixture::new(db);
    block_on(async {
        let api = Api::spawn(&f);
        let key = api_key(&f, Role::Admin);
        let mut full = None;
        for n in 0..400 {
            let body = serde_json::json!({"code": format!("p-{n}"), "name": "x".repeat(200)});
            let reply = api.post("/api/v1/products", Some(&key), body).await;
            if reply.status != 201 {
                full = Some(reply);
                break;
            }
        }
        let reply = full.expect("2 MiB must fill up");
        assert_eq!((reply.status, reply.code()), (503, "unavailable"), "{}", reply.body);
        assert_eq!(api.get("/healthz", None).await.status, 200, "the server still runs");
    });
}

/// The certificate's compact JWS out of its armored file.
fn compact(certificate: &str) -> String {
    keyport_core::files::unarmor(keyport_core::files::FileKind::Certificate, certificate).unwrap()
}

#[test]
fn a_database_moves_between_backends_and_its_certificates_keep_verifying() {
    let Ok(admin) = std::env::var(POSTGRES_ENV) else {
        eprintln!("skipped: {POSTGRES_ENV} is not set (the test command sets it in CI)");
        return;
    };
    for (from, to) in [
        (TestDb::sqlite(), TestDb::postgres(admin.trim())),
        (TestDb::postgres(admin.trim()), TestDb::sqlite()),
    ] {
        eprintln!("--- from {:?} to {:?}", from.backend(), to.backend());
        let source = Fixture::new(from);
        source.store.ensure_signing_key().unwrap();
        let license = source.license_at(Utc::now(), rules());
        let activated = source.store.activate(&source.ctx(), Scope::Staff, license, &machine(1)).unwrap();
        reset_mails(&source, 0, 2);
        let mut file = Vec::new();
        let rows = source.store.export(&mut file).unwrap();
        assert!(rows > 10, "{rows} rows exported");

        let target = Fixture::new(to);
        assert_eq!(target.store.import(file.as_slice()).unwrap(), rows);
        let now = Utc::now();
        let before = source.store.get_license(Scope::Staff, license, now).unwrap();
        let after = target.store.get_license(Scope::Staff, license, now).unwrap();
        assert_eq!(after, before, "the license, its activations and credits moved as they were");
        let events = |f: &Fixture| {
            f.store
                .query_events(&keyport_store::EventFilter { limit: Some(500), ..Default::default() })
                .unwrap()
                .items
        };
        assert_eq!(events(&target), events(&source), "every event moved, in order");
        let jwks = target.store.jwks().unwrap();
        assert_eq!(jwks, source.store.jwks().unwrap(), "the signing keys moved");
        let claims = keyport_core::certificate::verify(&compact(&activated.certificate), &jwks, now).unwrap();
        assert_eq!(claims.sub, license, "a certificate issued before the move verifies after it");

        // The moved database goes on working: a second machine, a new event after the old ones.
        target.store.activate(&target.ctx(), Scope::Staff, license, &machine(2)).unwrap();
        let moved = events(&target);
        assert_eq!(moved.len(), events(&source).len() + 1);
        assert!(
            target.store.import(file.as_slice()).is_err(),
            "an import into a database with rows is refused"
        );
    }
}
