//! The same storage tests on the file system and on S3-compatible storage (a `moto_server`
//! from the test venv, started once per run on a free port, a bucket per test).
#![expect(clippy::unwrap_used, reason = "tests fail loudly on a broken fixture")]

use std::sync::OnceLock;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use keyport_artifacts::{ArtifactStorage, S3Options, UploadError};
use keyport_core::release::Sha256Digest;
use sha2::{Digest, Sha256};

/// A moto server for this test binary; killed when the binary exits (it is a child).
struct Moto {
    endpoint: String,
    _child: std::process::Child,
}

fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let binary = root.join(".venv/bin/moto_server");
        assert!(
            binary.exists(),
            "{} is missing: run `bash tests/prerequisites.sh` (it installs the pinned moto)",
            binary.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Moto { endpoint, _child: child }
    })
}

async fn s3_storage() -> ArtifactStorage {
    let moto = moto();
    let bucket = format!("test-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new().put(format!("{}/{bucket}", moto.endpoint)).send().await.unwrap();
    assert!(created.status().is_success(), "creating the bucket: {}", created.status());
    ArtifactStorage::s3(&S3Options {
        bucket,
        region: "us-east-1".to_owned(),
        endpoint: Some(moto.endpoint.clone()),
        access_key_id: Some("test".to_owned()),
        secret_access_key: Some("test".to_owned()),
        allow_http: true,
        prefix: "keyport".to_owned(),
    })
    .unwrap()
}

fn local_storage() -> (ArtifactStorage, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (ArtifactStorage::local(&dir.path().join("artifacts")).unwrap(), dir)
}

/// Bytes that differ everywhere (a counter hashed in blocks), `n` long.
fn file(n: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut block = 0u64;
    while out.len() < n {
        let digest = Sha256::new().chain_update([seed]).chain_update(block.to_le_bytes()).finalize();
        out.extend_from_slice(&digest);
        block += 1;
    }
    out.truncate(n);
    out
}

/// The bytes as a body arriving in chunks of 64 KiB, as an HTTP server hands them on.
fn body(bytes: &[u8]) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        bytes.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    stream::iter(chunks)
}

fn digest_of(bytes: &[u8]) -> Sha256Digest {
    Sha256Digest::from_bytes(Sha256::digest(bytes).into())
}

async fn read_all(storage: &ArtifactStorage, digest: Sha256Digest, range: std::ops::Range<u64>) -> Vec<u8> {
    let chunks: Vec<Bytes> = storage.read(digest, range).await.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

async fn stores_reads_and_ranges(storage: ArtifactStorage) {
    // More than two S3 parts and two disk buffers, and not a multiple of either.
    let bytes = file(11 * 1024 * 1024 + 123, 1);
    let received = storage.receive(body(&bytes), 64 * 1024 * 1024, Some(digest_of(&bytes))).await.unwrap();
    assert_eq!(received.digest, digest_of(&bytes));
    assert_eq!(received.size, bytes.len() as u64);
    assert!(storage.contains(received.digest).await.unwrap());
    assert_eq!(read_all(&storage, received.digest, 0..bytes.len() as u64).await, bytes);
    let range = 1000..5_000_001u64;
    assert_eq!(read_all(&storage, received.digest, range.clone()).await, bytes[1000..5_000_001]);
    assert!(read_all(&storage, received.digest, 7..7).await.is_empty());
    assert_eq!(storage.incoming().await.unwrap(), 0);
}

async fn the_same_file_is_stored_once(storage: ArtifactStorage) {
    let bytes = file(300_000, 2);
    let first = storage.receive(body(&bytes), 1 << 30, None).await.unwrap();
    let second = storage.receive(body(&bytes), 1 << 30, None).await.unwrap();
    assert_eq!(first, second);
    storage.remove(first.digest).await.unwrap();
    assert!(!storage.contains(first.digest).await.unwrap(), "one copy, removed once");
    storage.remove(first.digest).await.unwrap();
    assert_eq!(storage.incoming().await.unwrap(), 0);
}

async fn a_wrong_hash_stores_nothing(storage: ArtifactStorage) {
    let bytes = file(6 * 1024 * 1024, 3);
    let announced = digest_of(b"something else");
    let refused = storage.receive(body(&bytes), 1 << 30, Some(announced)).await.unwrap_err();
    match refused {
        UploadError::HashMismatch { expected, actual } => {
            assert_eq!(expected, announced.to_hex());
            assert_eq!(actual, digest_of(&bytes).to_hex());
        }
        other => panic!("expected a hash mismatch, got {other}"),
    }
    assert!(!storage.contains(digest_of(&bytes)).await.unwrap());
    assert!(!storage.contains(announced).await.unwrap());
    assert_eq!(storage.incoming().await.unwrap(), 0);
}

async fn too_large_and_broken_uploads_store_nothing(storage: ArtifactStorage) {
    let bytes = file(7 * 1024 * 1024, 4);
    let limit = 6 * 1024 * 1024;
    let refused = storage.receive(body(&bytes), limit, None).await.unwrap_err();
    assert!(matches!(refused, UploadError::TooLarge { limit: l } if l == limit), "{refused}");
    let broken =
        body(&bytes[..6 * 1024 * 1024]).chain(stream::iter([Err(std::io::Error::other("connection reset"))]));
    let refused = storage.receive(Box::pin(broken), 1 << 30, None).await.unwrap_err();
    assert!(
        matches!(&refused, UploadError::Body(reason) if reason.contains("connection reset")),
        "{refused}"
    );
    assert!(!storage.contains(digest_of(&bytes)).await.unwrap());
    assert!(!storage.contains(digest_of(&bytes[..6 * 1024 * 1024])).await.unwrap());
    assert_eq!(storage.incoming().await.unwrap(), 0);
    storage.check().await.unwrap();
}

#[tokio::test]
async fn file_system_stores_reads_and_ranges() {
    let (storage, _dir) = local_storage();
    stores_reads_and_ranges(storage).await;
}

#[tokio::test]
async fn s3_stores_reads_and_ranges() {
    stores_reads_and_ranges(s3_storage().await).await;
}

#[tokio::test]
async fn file_system_stores_the_same_file_once() {
    let (storage, _dir) = local_storage();
    the_same_file_is_stored_once(storage).await;
}

#[tokio::test]
async fn s3_stores_the_same_file_once() {
    the_same_file_is_stored_once(s3_storage().await).await;
}

#[tokio::test]
async fn file_system_refuses_a_wrong_hash() {
    let (storage, _dir) = local_storage();
    a_wrong_hash_stores_nothing(storage).await;
}

#[tokio::test]
async fn s3_refuses_a_wrong_hash() {
    a_wrong_hash_stores_nothing(s3_storage().await).await;
}

#[tokio::test]
async fn file_system_refuses_too_large_and_broken_uploads() {
    let (storage, _dir) = local_storage();
    too_large_and_broken_uploads_store_nothing(storage).await;
}

#[tokio::test]
async fn s3_refuses_too_large_and_broken_uploads() {
    too_large_and_broken_uploads_store_nothing(s3_storage().await).await;
}

#[tokio::test]
async fn uploads_broken_off_by_a_crash_are_swept() {
    let (storage, dir) = local_storage();
    let incoming = dir.path().join("artifacts").join("incoming");
    std::fs::write(incoming.join("left-by-a-crash"), b"half a file").unwrap();
    assert_eq!(storage.incoming().await.unwrap(), 1);
    assert_eq!(storage.sweep_incoming(std::time::Duration::from_secs(3600)).await.unwrap(), 0, "too young");
    assert_eq!(storage.sweep_incoming(std::time::Duration::ZERO).await.unwrap(), 1);
    assert_eq!(storage.incoming().await.unwrap(), 0);
    let s3 = s3_storage().await;
    assert_eq!(s3.sweep_incoming(std::time::Duration::ZERO).await.unwrap(), 0);
}
