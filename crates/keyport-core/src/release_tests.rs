use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

fn at(day: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::days(day)
}

fn v(text: &str) -> ReleaseVersion {
    ReleaseVersion::parse(text).unwrap()
}

fn license(n: u128, product: &str, min: u32, max: Option<u32>, ends: Option<i64>) -> HeldLicense {
    HeldLicense {
        license_id: Uuid::from_u128(n),
        sku: format!("SKU-{n}"),
        product: product.to_owned(),
        versions: VersionRange::new(min, max).unwrap(),
        ends_at: ends.map(at),
        revoked: false,
    }
}

fn release<'a>(version: &'a ReleaseVersion, day: i64) -> ReleaseFacts<'a> {
    ReleaseFacts { product: "cad", version, published_at: at(day) }
}

fn reason_of(result: Result<Uuid, CoreError>) -> String {
    let error = result.unwrap_err();
    assert_eq!(error.code(), ErrorCode::NotEntitled);
    error.facts().get("reason").cloned().unwrap_or_default()
}

#[test]
fn versions_compare_as_semver() {
    assert!(v("5.10.0") > v("5.9.3"));
    assert!(v("6.0.0-beta.1") < v("6.0.0"));
    assert_eq!(v(" 5.2.0 ").major(), 5);
    assert!(v("5.2.0+build1").same_as(&v("5.2.0+build2")) && !v("5.2.0").same_as(&v("5.2.1")));
    for bad in ["v5.2.0", "5.2", "", "5.2.0.1", "99999999999.0.0"] {
        assert_eq!(ReleaseVersion::parse(bad).unwrap_err().code(), ErrorCode::InvalidInput, "{bad}");
    }
}

#[test]
fn value_types_refuse_what_would_break_a_header_or_a_path() {
    assert!(FileName::parse("setup-5.2.0.exe").is_ok());
    for bad in [
        "../etc/passwd",
        "a\\b",
        "a\"b",
        "line\nbreak",
        "..",
        "",
        &"x".repeat(201),
        "c:x",
        "CON",
        "nul.txt",
        "com1.exe",
        "a.",
    ] {
        assert!(FileName::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(MediaType::parse("Application/ZIP").unwrap().as_str(), "application/zip");
    assert!(MediaType::parse("text/html\r\nX-Evil: 1").is_err());
    assert_eq!(Os::parse("MacOS").unwrap(), Os::Macos);
    assert!(Os::parse("beos").is_err());
    assert!(Arch::parse("x86_64").is_ok() && Arch::parse("x86-64").is_err());
    assert!(OsVersion::parse("13.1").unwrap() < OsVersion::parse("13.10").unwrap());
    assert!(OsVersion::parse("10.0.19045.1.2").is_err());
    let digest = Sha256Digest::parse(&"AB".repeat(32)).unwrap();
    assert_eq!(digest.to_hex(), "ab".repeat(32));
    assert!(Sha256Digest::parse(&"zz".repeat(32)).is_err());
    assert!(Sha256Digest::parse("é".repeat(32).as_str()).is_err());
}

#[test]
fn a_release_changes_state_only_forward_and_end_states_repeat_quietly() {
    let version = v("5.0.0");
    let decide = |state, change, artifacts| decide_change(&version, state, change, artifacts);
    assert_eq!(decide(ReleaseState::Draft, Change::Publish, 1).unwrap(), Transition::Apply);
    assert_eq!(decide(ReleaseState::Draft, Change::Publish, 0).unwrap_err().code(), ErrorCode::ReleaseState);
    assert_eq!(decide(ReleaseState::Published, Change::Publish, 1).unwrap(), Transition::AlreadyDone);
    assert_eq!(decide(ReleaseState::Published, Change::Yank, 1).unwrap(), Transition::Apply);
    assert_eq!(decide(ReleaseState::Yanked, Change::Yank, 1).unwrap(), Transition::AlreadyDone);
    assert!(decide(ReleaseState::Yanked, Change::Publish, 1).is_err());
    assert!(decide(ReleaseState::Draft, Change::Yank, 1).is_err());
    assert!(decide(ReleaseState::Published, Change::Edit, 1).is_err());
    assert!(decide(ReleaseState::Yanked, Change::Rollout, 1).is_err());
    let error = decide(ReleaseState::Published, Change::Edit, 1).unwrap_err();
    assert!(error.message(crate::Lang::De).contains("nur ein Entwurf kann geändert werden"), "{error}");
}

#[test]
fn a_license_entitles_the_versions_of_its_item() {
    let five = v("5.3.0");
    let six = v("6.0.0");
    let held = [license(1, "cad", 5, Some(5), None)];
    assert_eq!(entitlement(release(&five, 10), &held, &[]).unwrap(), Uuid::from_u128(1));
    let upgrade = entitlement(release(&six, 10), &held, &["CAD-6".to_owned()]).unwrap_err();
    assert_eq!(upgrade.facts().get("reason").map(String::as_str), Some(reason::UPGRADE));
    assert_eq!(upgrade.facts().get("upgrade_items").map(String::as_str), Some("CAD-6"));
    assert_eq!(reason_of(entitlement(release(&five, 10), &[], &[])), reason::NO_LICENSE);
    let other = [license(1, "viewer", 5, None, None)];
    assert_eq!(reason_of(entitlement(release(&five, 10), &other, &[])), reason::NO_LICENSE);
}

#[test]
fn a_subscription_keeps_what_was_published_while_it_ran() {
    let held = [license(1, "cad", 5, None, Some(100))];
    let before = v("5.1.0");
    let after = v("5.2.0");
    assert!(entitlement(release(&before, 100), &held, &[]).is_ok(), "published on its last day");
    let error = entitlement(release(&after, 101), &held, &[]).unwrap_err();
    assert_eq!(error.facts().get("reason").map(String::as_str), Some(reason::ENDED));
    assert_eq!(error.facts().get("license_id"), Some(&Uuid::from_u128(1).to_string()));
    // A second, perpetual license entitles it.
    let both = [held[0].clone(), license(2, "cad", 5, Some(5), None)];
    assert_eq!(entitlement(release(&after, 101), &both, &[]).unwrap(), Uuid::from_u128(2));
}

#[test]
fn a_revoked_license_entitles_nothing() {
    let mut held = license(1, "cad", 5, None, None);
    held.revoked = true;
    assert_eq!(reason_of(entitlement(release(&v("5.0.0"), 1), &[held], &[])), reason::REVOKED);
}

fn candidate(version: &str, channel: &str, entitled: bool, in_rollout: bool) -> Candidate {
    Candidate {
        version: v(version),
        channel: ReleaseChannel::parse(channel).unwrap(),
        entitlement: if entitled { Ok(Uuid::nil()) } else { Err(CoreError::new(ErrorCode::NotEntitled)) },
        in_rollout,
    }
}

#[test]
fn the_newest_entitled_release_on_the_channel_is_offered() {
    let candidates = [
        candidate("5.1.0", "stable", true, true),
        candidate("5.2.0", "stable", true, true),
        candidate("5.3.0-beta.1", "beta", true, true),
        candidate("6.0.0", "stable", false, true),
    ];
    let stable = ReleaseChannel::stable();
    let decision = decide_update(Some(&v("5.1.0")), &stable, &candidates);
    assert_eq!(decision, UpdateDecision { newest: Some(1), behind: true, not_entitled: Some(3) });
    let beta = ReleaseChannel::parse("beta").unwrap();
    assert_eq!(decide_update(Some(&v("5.1.0")), &beta, &candidates).newest, Some(2));
    let current = decide_update(Some(&v("5.2.0")), &stable, &candidates);
    assert!(!current.behind);
    // Installed beyond everything entitled: nothing newer to sell below it.
    assert_eq!(decide_update(Some(&v("7.0.0")), &stable, &candidates).not_entitled, None);
}

#[test]
fn a_release_outside_the_rollout_is_not_offered_yet() {
    let candidates = [candidate("5.1.0", "stable", true, true), candidate("5.2.0", "stable", true, false)];
    let decision = decide_update(Some(&v("5.1.0")), &ReleaseChannel::stable(), &candidates);
    assert_eq!(decision, UpdateDecision { newest: Some(0), behind: false, not_entitled: None });
}

#[test]
fn rollout_buckets_spread_evenly_and_grow_monotonically() {
    let release = Uuid::from_u128(42);
    let buckets: Vec<u8> = (0..10_000u128).map(|n| rollout_bucket(release, Uuid::from_u128(n))).collect();
    let in_ten = buckets.iter().filter(|b| in_rollout(10, **b)).count();
    assert!((800..1200).contains(&in_ten), "10% rollout took {in_ten} of 10000");
    assert!(buckets.iter().all(|b| in_rollout(FULL_ROLLOUT, *b)));
    assert!(buckets.iter().all(|b| !in_rollout(0, *b)));
    assert_eq!(rollout_percent(101).unwrap_err().code(), ErrorCode::InvalidInput);
    assert_eq!(rollout_percent(-1).unwrap_err().code(), ErrorCode::InvalidInput);
}

#[test]
fn a_download_link_works_for_its_file_until_it_expires() {
    let seed = [9u8; 32];
    let public = jws::public_key(&seed);
    let artifact = Uuid::from_u128(7);
    let claims = DownloadClaims {
        art: artifact,
        sub: Downloader::Customer(Uuid::from_u128(1)),
        exp: at(1).timestamp(),
    };
    let token = sign_download(&claims, "k1", &seed).unwrap();
    let keys = |kid: &str| (kid == "k1").then_some(public);
    assert_eq!(verify_download(&token, artifact, keys, at(0)).unwrap(), claims.sub);
    let reason = |e: CoreError| e.facts().get("reason").cloned().unwrap_or_default();
    assert_eq!(reason(verify_download(&token, artifact, keys, at(1)).unwrap_err()), "it has expired");
    let other = verify_download(&token, Uuid::from_u128(8), keys, at(0)).unwrap_err();
    assert_eq!(reason(other), "it was made for another file");
    let forged = sign_download(&claims, "k1", &[8u8; 32]).unwrap();
    assert_eq!(
        reason(verify_download(&forged, artifact, keys, at(0)).unwrap_err()),
        "it was not made by this service"
    );
    // A certificate or any other document signed by the same key is not a download link.
    let certificate = jws::sign(&claims, "keyport-license+jwt", Some("k1"), &seed).unwrap();
    assert!(verify_download(&certificate, artifact, keys, at(0)).is_err());
    assert!(verify_download("not.a.token", artifact, keys, at(0)).is_err());
}

fn arb_license() -> impl Strategy<Value = HeldLicense> {
    (
        0u128..6,
        prop::bool::ANY,
        3u32..7,
        prop::option::of(0u32..3),
        prop::option::of(0i64..200),
        prop::bool::ANY,
    )
        .prop_map(|(n, same_product, min, span, ends, revoked)| HeldLicense {
            license_id: Uuid::from_u128(n),
            sku: format!("SKU-{n}"),
            product: if same_product { "cad" } else { "viewer" }.to_owned(),
            versions: VersionRange::new(min, span.map(|s| min + s)).unwrap(),
            ends_at: ends.map(at),
            revoked,
        })
}

proptest! {
    #[test]
    fn entitlement_is_granted_exactly_by_a_covering_live_license(
        licenses in prop::collection::vec(arb_license(), 0..6),
        major in 2u32..10,
        day in 0i64..220,
    ) {
        let version = v(&format!("{major}.0.0"));
        let facts = release(&version, day);
        let result = entitlement(facts, &licenses, &[]);
        let expected = licenses.iter().any(|l| l.product == "cad" && !l.revoked
            && l.versions.contains(major) && l.ends_at.is_none_or(|e| at(day) <= e));
        prop_assert_eq!(result.is_ok(), expected);
        if let Ok(id) = result {
            let chosen = licenses.iter().find(|l| l.license_id == id && l.product == "cad" && !l.revoked);
            prop_assert!(chosen.is_some());
        }
    }

    #[test]
    fn the_offered_update_is_never_older_than_another_offered_one(
        entries in prop::collection::vec((0u64..4, 0u64..4, prop::bool::ANY, prop::bool::ANY, prop::bool::ANY), 0..8),
        installed in prop::option::of((0u64..4, 0u64..4)),
    ) {
        let candidates: Vec<Candidate> = entries.iter().map(|(major, minor, beta, entitled, rolled)| {
            candidate(&format!("{major}.{minor}.0"), if *beta { "beta" } else { "stable" }, *entitled, *rolled)
        }).collect();
        let installed = installed.map(|(a, b)| v(&format!("{a}.{b}.0")));
        let decision = decide_update(installed.as_ref(), &ReleaseChannel::stable(), &candidates);
        if let Some(i) = decision.newest {
            let chosen = &candidates[i];
            prop_assert!(chosen.entitlement.is_ok() && chosen.in_rollout && chosen.channel.as_str() == "stable");
            for c in candidates.iter().filter(|c| c.entitlement.is_ok() && c.in_rollout && c.channel.as_str() == "stable") {
                prop_assert!(c.version <= chosen.version);
            }
            prop_assert_eq!(decision.behind, installed.as_ref().is_some_and(|x| chosen.version > *x));
        } else {
            prop_assert!(!decision.behind);
        }
        if let Some(i) = decision.not_entitled {
            prop_assert!(candidates[i].entitlement.is_err());
        }
    }
}

#[test]
fn the_hint_names_upgrades_of_what_is_held_first() {
    let item = |sku: &str, from: &[&str]| CoveringItem {
        sku: sku.to_owned(),
        upgrade_from: from.iter().map(|s| (*s).to_owned()).collect(),
    };
    let covering = [item("CAD-6", &[]), item("CAD-6-UP", &["CAD-5"]), item("CAD-6-UP4", &["CAD-4"])];
    let held = |sku: &str, revoked| HeldLicense {
        license_id: Uuid::nil(),
        sku: sku.to_owned(),
        product: "cad".to_owned(),
        versions: VersionRange::new(5, Some(5)).unwrap(),
        ends_at: None,
        revoked,
    };
    assert_eq!(upgrade_hint(&covering, &[held("CAD-5", false)]), ["CAD-6-UP", "CAD-6", "CAD-6-UP4"]);
    assert_eq!(upgrade_hint(&covering, &[held("CAD-5", true)]), ["CAD-6", "CAD-6-UP", "CAD-6-UP4"]);
    assert_eq!(upgrade_hint(&covering, &[]), ["CAD-6", "CAD-6-UP", "CAD-6-UP4"]);
}
