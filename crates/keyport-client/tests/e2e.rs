//! The real `keyport-client` binary against a live server: online and offline flows, and
#![expect(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]
//! every way a certificate or file can be wrong.

use std::path::{Path, PathBuf};
use std::process::Command;

use keyport_core::certificate::{self, CertificateClaims, Jwk, Jwks, MachineClaim, VersionClaim};
use keyport_core::files::{FileKind, armor};
use keyport_tests::Fixture;
use keyport_tests::http::{Api, World, block_on};
use serde_json::json;
use uuid::Uuid;

/// One end-user machine: its own client folder and machine id.
struct Pc {
    home: tempfile::TempDir,
    id: String,
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Pc {
    fn new(id: &str) -> Pc {
        Pc { home: tempfile::tempdir().unwrap(), id: id.to_owned() }
    }

    async fn run(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyport-client"));
        cmd.arg("--home").arg(self.home.path()).args(args).env("KEYPORT_CLIENT_MACHINE_ID", &self.id);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    fn path(&self, name: &str) -> String {
        self.file(name).display().to_string()
    }
}

fn certificate_file(pc: &Pc, license: &str) -> PathBuf {
    pc.home.path().join("certificates").join(format!("{license}.cert"))
}

async fn seats_in_use(api: &Api, w: &World, license: &str) -> serde_json::Value {
    api.get(&format!("/api/v1/licenses/{license}"), Some(&w.admin)).await.body["seats_in_use"].clone()
}

#[test]
fn online_activate_verify_and_deactivate_with_the_cli() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let pc = Pc::new("pc-online");
            let license = w.b.license.clone();
            let activated = pc.run(&["activate", "--server", &api.base, "--ticket", &w.b.ticket_code]).await;
            assert!(activated.ok, "{}", activated.stderr);
            assert!(
                activated.stdout.starts_with(&format!("activated: license {license}")),
                "{}",
                activated.stdout
            );
            assert_eq!(seats_in_use(&api, &w, &license).await, 2, "machine 2 of the world and this PC");
            let mode = |p: &Path| {
                std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777
            };
            assert_eq!(mode(&pc.file("certificates")), 0o700, "the certificates folder is the owner's only");
            assert_eq!(mode(&certificate_file(&pc, &license)), 0o600, "a certificate is the owner's only");

            let verified = pc.run(&["verify"]).await;
            assert!(verified.ok, "{}", verified.stderr);
            assert!(
                verified.stdout.starts_with(&format!("valid: license {license} of {}", w.sku)),
                "{}",
                verified.stdout
            );
            let status = pc.run(&["status"]).await;
            assert!(status.stdout.contains(&format!("{license}: valid")), "{}", status.stdout);

            let gone = pc.run(&["deactivate", "--server", &api.base, "--ticket", &w.b.ticket_code]).await;
            assert!(gone.ok, "{}", gone.stderr);
            assert_eq!(seats_in_use(&api, &w, &license).await, 1);
            let after = pc.run(&["verify"]).await;
            assert!(!after.ok);
            assert!(after.stderr.contains("no license certificate is installed"), "{}", after.stderr);
        });
    });
}

#[test]
fn a_reinstalled_pc_activates_again_for_free_and_a_lost_one_is_recovered_with_a_credit() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let license = w.b.license.clone();
            let activate = ["activate", "--server", &api.base, "--ticket", &w.b.ticket_code];
            let first = Pc::new("pc-office");
            assert!(first.run(&activate).await.ok);
            assert_eq!(seats_in_use(&api, &w, &license).await, 2);

            // The same PC with its client folder wiped: a new machine key, the same hardware.
            let reinstalled = Pc::new("pc-office");
            let again = reinstalled.run(&activate).await;
            assert!(again.ok, "{}", again.stderr);
            assert_eq!(seats_in_use(&api, &w, &license).await, 2, "the seat came back, no new one");
            let view = api.get(&format!("/api/v1/licenses/{license}"), Some(&w.admin)).await;
            let credits = view.body["reactivation_credits"].clone();

            // The office PC is stolen: a new PC recovers its seat with a credit.
            let new_pc = Pc::new("pc-new");
            let office = view.body["activations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| {
                    a["state"] == "active"
                        && a["fingerprint"] != json!(keyport_tests::machine(2).fingerprint.as_str())
                })
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let recovered = new_pc
                .run(&[
                    "recover",
                    "--server",
                    &api.base,
                    "--ticket",
                    &w.b.ticket_code,
                    "--activation",
                    &office,
                ])
                .await;
            assert!(recovered.ok, "{}", recovered.stderr);
            assert!(
                recovered.stdout.starts_with(&format!("recovered: license {license}")),
                "{}",
                recovered.stdout
            );
            assert!(new_pc.run(&["verify"]).await.ok, "the new PC holds a valid certificate");
            let after = api.get(&format!("/api/v1/licenses/{license}"), Some(&w.admin)).await;
            assert_eq!(after.body["seats_in_use"], 2);
            assert_eq!(
                after.body["reactivation_credits"].as_u64(),
                credits.as_u64().map(|c| c - 1),
                "one credit spent"
            );
        });
    });
}

#[test]
fn offline_request_certificate_import_receipt_and_proof_with_the_cli() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let offline = Pc::new("pc-offline");
            let portal_user = Some(w.a.token.as_str());
            let license = w.a.license.clone();

            // On the offline machine: a request file.
            let request =
                offline.run(&["request", "--license", &license, "--out", &offline.path("request.txt")]).await;
            assert!(request.ok, "{}", request.stderr);
            let request_text = std::fs::read_to_string(offline.file("request.txt")).unwrap();
            assert!(request_text.starts_with("-----BEGIN KEYPORT ACTIVATION REQUEST-----"));

            // In the portal: upload it, get the certificate; the seat is held.
            let uploaded = api.post("/api/v1/me/transfers", portal_user, json!({"file": request_text})).await;
            assert_eq!(uploaded.status, 201, "{}", uploaded.body);
            assert_eq!(uploaded.body["activation"]["state"], "pending");
            let activation = uploaded.body["activation"]["id"].as_str().unwrap().to_owned();
            assert_eq!(seats_in_use(&api, &w, &license).await, 2);
            let replay = api.post("/api/v1/me/transfers", portal_user, json!({"file": request_text})).await;
            assert_eq!((replay.status, replay.code()), (409, "replayed"));
            let pending = api.get("/api/v1/me/transfers", portal_user).await;
            assert_eq!(pending.body[0]["id"], activation.as_str());
            // An interrupted transfer continues: the certificate can be fetched again.
            let again = api.get(&format!("/api/v1/me/transfers/{activation}"), portal_user).await;
            std::fs::write(offline.file("certificate.txt"), again.body["certificate"].as_str().unwrap())
                .unwrap();
            let jwks = api.get("/.well-known/jwks.json", None).await;
            std::fs::write(offline.file("jwks.json"), jwks.body.to_string()).unwrap();

            // Back on the offline machine: import with the bundled keys, write the receipt.
            let imported = offline
                .run(&[
                    "import",
                    "--certificate",
                    &offline.path("certificate.txt"),
                    "--jwks",
                    &offline.path("jwks.json"),
                    "--out",
                    &offline.path("receipt.txt"),
                ])
                .await;
            assert!(imported.ok, "{}", imported.stderr);
            let verified = offline.run(&["verify", "--jwks", &offline.path("jwks.json")]).await;
            assert!(verified.ok, "{}", verified.stderr);

            // In the portal: the receipt completes the activation, once.
            let receipt = std::fs::read_to_string(offline.file("receipt.txt")).unwrap();
            let done = api.post("/api/v1/me/receipts", portal_user, json!({"file": receipt})).await;
            assert_eq!(done.body["state"], "active", "{}", done.body);
            let replay = api.post("/api/v1/me/receipts", portal_user, json!({"file": receipt})).await;
            assert_eq!((replay.status, replay.code()), (409, "replayed"));

            // The machine gives the seat back with a proof file.
            let proof = offline.run(&["deactivate", "--offline", "--out", &offline.path("proof.txt")]).await;
            assert!(proof.ok, "{}", proof.stderr);
            let proof_text = std::fs::read_to_string(offline.file("proof.txt")).unwrap();
            let freed = api.post("/api/v1/me/deactivations", portal_user, json!({"file": proof_text})).await;
            assert_eq!(freed.body["state"], "deactivated", "{}", freed.body);
            assert_eq!(seats_in_use(&api, &w, &license).await, 1);
        });
    });
}

#[test]
fn a_cancelled_transfer_frees_its_seat() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let pc = Pc::new("pc-cancel");
            pc.run(&["request", "--license", &w.a.license, "--out", &pc.path("r.txt")]).await;
            let text = std::fs::read_to_string(pc.file("r.txt")).unwrap();
            let uploaded = api.post("/api/v1/me/transfers", Some(&w.a.token), json!({"file": text})).await;
            let activation = uploaded.body["activation"]["id"].as_str().unwrap().to_owned();
            let path = format!("/api/v1/me/transfers/{activation}/cancellation");
            let cancelled = api.post(&path, Some(&w.a.token), json!(null)).await;
            assert_eq!(cancelled.body["state"], "deactivated");
            assert_eq!(seats_in_use(&api, &w, &w.a.license).await, 1);
            assert_eq!(api.get("/api/v1/me/transfers", Some(&w.a.token)).await.body, json!([]));
        });
    });
}

fn test_claims(exp: Option<i64>, machine: MachineClaim) -> CertificateClaims {
    CertificateClaims {
        iss: "keyport".to_owned(),
        sub: Uuid::now_v7(),
        jti: Uuid::now_v7(),
        iat: chrono::Utc::now().timestamp() - 100,
        exp,
        item: "CAD-5".to_owned(),
        product: "cad".to_owned(),
        features: vec![],
        versions: VersionClaim { min: 5, max: None },
        machine,
        checkin_until: None,
        entitlements: Vec::new(),
    }
}

fn write_jwks(path: &Path, jwks: &Jwks) {
    std::fs::write(path, serde_json::to_string(jwks).unwrap()).unwrap();
}

#[test]
fn tampered_foreign_expired_and_unknown_key_certificates_are_refused_with_a_reason() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let pc = Pc::new("pc-checks");
            let license = w.b.license.clone();
            assert!(pc.run(&["activate", "--server", &api.base, "--ticket", &w.b.ticket_code]).await.ok);
            let cert_path = certificate_file(&pc, &license);
            let original = std::fs::read_to_string(&cert_path).unwrap();
            let reason = |out: Out| {
                assert!(!out.ok, "must be refused: {}", out.stdout);
                out.stderr
            };

            // Tampered: one character of the payload changed.
            let lines: Vec<&str> = original.lines().collect();
            let mut bad = lines[2].to_owned();
            let c = if bad.ends_with('A') { 'B' } else { 'A' };
            bad.replace_range(bad.len() - 1.., &c.to_string());
            let tampered: String = lines
                .iter()
                .enumerate()
                .map(|(i, l)| if i == 2 { format!("{bad}\n") } else { format!("{l}\n") })
                .collect();
            std::fs::write(&cert_path, &tampered).unwrap();
            let err = reason(pc.run(&["verify"]).await);
            assert!(err.contains("The license certificate is not valid"), "{err}");
            std::fs::write(&cert_path, &original).unwrap();

            // Another machine: the same certificate copied to a second PC.
            let other = Pc::new("pc-other");
            std::fs::create_dir_all(other.home.path().join("certificates")).unwrap();
            std::fs::copy(&cert_path, certificate_file(&other, &license)).unwrap();
            let err = reason(other.run(&["verify", "--server", &api.base]).await);
            assert!(err.ends_with("it belongs to another machine.\n"), "{err}");

            // Unknown key and expired: certificates made with a key the test holds.
            let machine = pc.run(&["fingerprint"]).await.stdout;
            let field =
                |name: &str| machine.lines().find_map(|l| l.strip_prefix(name)).unwrap().trim().to_owned();
            let mine = MachineClaim { fingerprint: field("fingerprint:"), key: field("machine key:") };
            let seed = [42u8; 32];
            let test_keys =
                Jwks { keys: vec![Jwk::ed25519("test-key", &keyport_core::jws::public_key(&seed))] };
            write_jwks(&pc.file("test-jwks.json"), &test_keys);
            let expired = test_claims(Some(chrono::Utc::now().timestamp() - 86_400), mine.clone());
            let signed = certificate::sign(&expired, "test-key", &seed).unwrap();
            std::fs::write(certificate_file(&pc, &license), armor(FileKind::Certificate, &signed)).unwrap();
            let err = reason(pc.run(&["verify", "--jwks", &pc.path("test-jwks.json")]).await);
            assert!(err.contains("it expired on"), "{err}");

            let fresh = test_claims(None, mine);
            let signed = certificate::sign(&fresh, "test-key", &seed).unwrap();
            std::fs::write(certificate_file(&pc, &license), armor(FileKind::Certificate, &signed)).unwrap();
            assert!(
                pc.run(&["verify", "--jwks", &pc.path("test-jwks.json")]).await.ok,
                "control: the test key verifies"
            );
            let err = reason(pc.run(&["verify", "--server", &api.base]).await);
            assert!(err.contains("it is signed by an unknown key 'test-key'"), "{err}");
        });
    });
}

#[test]
fn certificates_signed_before_a_key_rotation_still_verify_after_it() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let pc = Pc::new("pc-rotation");
            assert!(pc.run(&["activate", "--server", &api.base, "--ticket", &w.b.ticket_code]).await.ok);
            let before = api.get("/.well-known/jwks.json", None).await.body["keys"].as_array().unwrap().len();
            let ctx = f.ctx();
            let kid = f.store.rotate_signing_key(&ctx).unwrap();
            let jwks = api.get("/.well-known/jwks.json", None).await;
            assert_eq!(jwks.body["keys"].as_array().unwrap().len(), before + 1);
            assert_eq!(jwks.body["keys"][0]["kid"], kid.as_str(), "the newest key comes first");
            let verified = pc.run(&["verify", "--server", &api.base]).await;
            assert!(verified.ok, "an old certificate still verifies: {}", verified.stderr);
            // New certificates carry the new key id.
            let again = api
                .post(
                    &format!("/api/v1/me/licenses/{}/activations", w.a.license),
                    Some(&w.a.token),
                    keyport_tests::http::machine_body(1),
                )
                .await;
            let compact = keyport_core::files::unarmor(
                FileKind::Certificate,
                again.body["certificate"].as_str().unwrap(),
            )
            .unwrap();
            let header = keyport_core::jws::Unverified::parse(&compact).unwrap().header;
            assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
        });
    });
}

#[test]
fn check_ins_renew_the_lease_queue_while_offline_and_learn_a_revocation() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let rules = keyport_core::RuleSetParams {
                checkin_interval_days: Some(7),
                checkin_grace_days: 2,
                ..keyport_tests::rules()
            };
            let sku = f.item(keyport_core::LicenseModel::Perpetual, rules);
            let ticket = f.order(&sku, 1).order.ticket_code;
            let pc = Pc::new("pc-field");
            assert!(pc.run(&["activate", "--server", &api.base, "--ticket", &ticket]).await.ok);
            let field = ["--server", api.base.as_str(), "--app-version", "5.2.0"];

            let first = pc.run(&[&["checkin"][..], &field[..]].concat()).await;
            assert!(first.ok, "{}", first.stderr);
            assert!(first.stdout.contains("is active; check in again by"), "{}", first.stdout);

            // The server cannot be reached: the check-ins are kept, the certificate still works.
            let offline = ["checkin", "--server", "http://127.0.0.1:9", "--app-version", "5.2.0"];
            for _ in 0..2 {
                let kept = pc.run(&offline).await;
                assert!(kept.ok, "{}", kept.stderr);
                assert!(kept.stdout.contains("the check-in is kept"), "{}", kept.stdout);
            }
            assert_eq!(std::fs::read_dir(pc.file("queue")).unwrap().count(), 2);
            assert!(pc.run(&["verify"]).await.ok);

            // Back online: the queue goes first, oldest first, then the live check-in.
            let back = pc.run(&[&["checkin"][..], &field[..]].concat()).await;
            assert!(back.ok, "{}", back.stderr);
            assert!(back.stdout.starts_with("sent 2 queued check-ins (0 refused"), "{}", back.stdout);
            assert_eq!(std::fs::read_dir(pc.file("queue")).unwrap().count(), 0);

            // Sessions of use open and close.
            let start = pc.run(&[&["session", "start"][..], &field[..]].concat()).await;
            assert!(start.ok && start.stdout.contains("started"), "{} {}", start.stdout, start.stderr);
            let stop = pc.run(&[&["session", "stop"][..], &field[..]].concat()).await;
            assert!(stop.ok && stop.stdout.contains("ended"), "{} {}", stop.stdout, stop.stderr);
            let none = pc.run(&[&["session", "stop"][..], &field[..]].concat()).await;
            assert!(!none.ok && none.stderr.contains("no session is open"), "{}", none.stderr);

            // Support revokes the license: the next check-in learns it and removes the certificate.
            let admin = keyport_tests::http::api_key(f, keyport_core::Role::Admin);
            let license = api.get(&format!("/api/v1/tickets/{ticket}"), Some(&admin)).await.body["licenses"]
                [0]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let revoked = api
                .post(
                    &format!("/api/v1/licenses/{license}/revocation"),
                    Some(&admin),
                    json!({"reason": "refund"}),
                )
                .await;
            assert_eq!(revoked.status, 200, "{}", revoked.body);
            let told = pc.run(&[&["checkin"][..], &field[..]].concat()).await;
            assert!(!told.ok && told.stderr.contains("was revoked"), "{}", told.stderr);
            assert!(!certificate_file(&pc, &license).exists());
        });
    });
}

#[test]
fn a_demo_is_asked_for_from_the_software_and_an_emergency_license_runs_beside_a_lost_machine() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let demo_sku = f.item(keyport_core::LicenseModel::Demo { days: 14 }, keyport_tests::rules());
            let product = demo_sku.to_lowercase();
            let pc = Pc::new("pc-demo");
            let demo = pc
                .run(&["--product", &product, "demo", "--server", &api.base, "--email", "eva@example.com"])
                .await;
            assert!(demo.ok, "{}", demo.stderr);
            assert!(demo.stdout.contains("the ticket was mailed to eva@example.com"), "{}", demo.stdout);
            assert!(pc.run(&["--product", &product, "verify"]).await.ok);
            let again = pc
                .run(&["--product", &product, "demo", "--server", &api.base, "--email", "eva2@example.com"])
                .await;
            assert!(!again.ok && again.stderr.contains("(demo_already_used)"), "{}", again.stderr);

            let blocked = keyport_core::RuleSetParams {
                seats: 1,
                initial_credits: 0,
                credit_cap: 0,
                replenish_credits: 0,
                replenish_every_days: 0,
                blocking_days: 30,
                ..keyport_tests::rules()
            };
            let sku = f.item(keyport_core::LicenseModel::Perpetual, blocked);
            let ticket = f.order(&sku, 1).order.ticket_code;
            let old = Pc::new("pc-stolen");
            assert!(old.run(&["activate", "--server", &api.base, "--ticket", &ticket]).await.ok);
            let new_pc = Pc::new("pc-replacement");
            let recover = new_pc.run(&["recover", "--server", &api.base, "--ticket", &ticket]).await;
            assert!(
                !recover.ok
                    && (recover.stderr.contains("(no_reactivation_credits)")
                        || recover.stderr.contains("(recovery_blocked)")),
                "{}",
                recover.stderr
            );
            let emergency = new_pc.run(&["emergency", "--server", &api.base, "--ticket", &ticket]).await;
            assert!(emergency.ok, "{}", emergency.stderr);
            assert!(emergency.stdout.contains("runs here until"), "{}", emergency.stdout);
            assert!(new_pc.run(&["verify"]).await.ok);
        });
    });
}

#[test]
fn updates_are_checked_downloads_resume_and_a_corrupted_file_is_refused_by_its_hash() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let sku = f.item(keyport_core::LicenseModel::Perpetual, keyport_tests::rules());
            let product = sku.to_lowercase();
            let ticket = f.order(&sku, 1).order.ticket_code;
            let admin = keyport_tests::http::api_key(f, keyport_core::Role::Admin);
            let bytes: Vec<u8> =
                (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
            let created = api
                .post("/api/v1/releases", Some(&admin), json!({"product": product, "version": "5.1.0"}))
                .await;
            let release = created.body["id"].as_str().unwrap().to_owned();
            let arch = std::env::consts::ARCH;
            let upload = reqwest::Client::new()
                .post(format!(
                    "{}/api/v1/releases/{release}/artifacts?os=linux&arch={arch}&file_name=cad-5.1.0.tar.gz",
                    api.base
                ))
                .bearer_auth(&admin)
                .body(bytes.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(upload.status().as_u16(), 201);
            let published =
                api.post(&format!("/api/v1/releases/{release}/publish"), Some(&admin), json!({})).await;
            assert_eq!(published.status, 200);

            let pc = Pc::new("pc-update");
            assert!(pc.run(&["activate", "--server", &api.base, "--ticket", &ticket]).await.ok);
            let field = ["--server", api.base.as_str(), "--app-version", "5.0.0"];
            let check = pc.run(&[&["update-check"][..], &field[..]].concat()).await;
            assert!(check.ok, "{}", check.stderr);
            assert_eq!(
                check.stdout.trim(),
                format!(
                    "update available: {product} 5.1.0 (installed 5.0.0): cad-5.1.0.tar.gz (3000000 bytes)"
                )
            );
            let current = pc.run(&["update-check", "--server", &api.base, "--app-version", "5.1.0"]).await;
            assert!(current.stdout.starts_with("up to date"), "{}", current.stdout);

            // A download broken off after 1 MB whose first bytes were damaged: resumed, then
            // refused by its hash, and nothing is left.
            let out = pc.file("downloads");
            std::fs::create_dir_all(&out).unwrap();
            let part = out.join("cad-5.1.0.tar.gz.part");
            let mut damaged = bytes[..1_000_000].to_vec();
            damaged[10] ^= 0xff;
            std::fs::write(&part, &damaged).unwrap();
            let refused =
                pc.run(&[&["download", "--out", &out.display().to_string()][..], &field[..]].concat()).await;
            assert!(!refused.ok, "{}", refused.stdout);
            assert!(
                refused.stderr.contains("is not the one the signed manifest names"),
                "{}",
                refused.stderr
            );
            assert!(!part.exists() && !out.join("cad-5.1.0.tar.gz").exists());

            // Broken off with the right first megabyte: resumed to the very file.
            std::fs::write(&part, &bytes[..1_000_000]).unwrap();
            let done =
                pc.run(&[&["download", "--out", &out.display().to_string()][..], &field[..]].concat()).await;
            assert!(done.ok, "{}", done.stderr);
            assert!(done.stdout.contains("verified against the signed manifest"), "{}", done.stdout);
            assert_eq!(std::fs::read(out.join("cad-5.1.0.tar.gz")).unwrap(), bytes);
            assert!(!part.exists());
        });
    });
}
