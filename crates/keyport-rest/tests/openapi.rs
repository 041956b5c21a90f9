//! The committed `openapi/openapi.json` is the contract portals build against: it must equal
//! what the code generates.

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json")
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = keyport_rest::openapi_json().unwrap();
    let path = committed_path();
    if std::env::var_os("KEYPORT_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json differs from the code. Regenerate it with\n\n    \
         KEYPORT_UPDATE_OPENAPI=1 cargo test -p keyport-rest --test openapi\n\nand commit the result."
    );
}

#[test]
fn every_operation_has_a_verb_resource_id_and_a_tag() {
    let api = keyport_rest::openapi();
    let verbs = ["create_", "get_", "list_", "update_", "delete_", "refresh_", "register_", "verify_"];
    let mut count = 0;
    for (path, item) in &api.paths.paths {
        let operations = [&item.get, &item.post, &item.put, &item.patch, &item.delete];
        for op in operations.into_iter().flatten() {
            count += 1;
            let id = op.operation_id.clone().unwrap_or_default();
            assert!(verbs.iter().any(|v| id.starts_with(v)), "{path}: operation id '{id}'");
            assert!(op.tags.as_ref().is_some_and(|t| !t.is_empty()), "{path}: no tag");
        }
    }
    assert!(count >= 30, "only {count} operations documented");
}
