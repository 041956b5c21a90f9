#![doc = include_str!("../README.md")]

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt, TryStreamExt};
use keyport_core::release::Sha256Digest;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Bytes of a stored file, as they are read.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// How much of an upload is buffered before it is written: on disk.
const DISK_BUFFER: usize = 1024 * 1024;
/// The size of an S3 multipart upload's parts (S3's smallest but the last).
const S3_PART: usize = 5 * 1024 * 1024;
/// Parts of one S3 upload in flight at once.
const S3_PARTS_IN_FLIGHT: usize = 2;
/// How much one read of a stored file asks for.
const READ_CHUNK: usize = 256 * 1024;

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The body is larger than the limit.
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The file's SHA-256 is not the announced one.
    #[error("the file's SHA-256 is {actual}, not {expected}")]
    HashMismatch {
        /// What the uploader announced.
        expected: String,
        /// What arrived.
        actual: String,
    },
    /// The client's body broke off (or came too slowly).
    #[error("the upload broke off: {0}")]
    Body(String),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The storage failed (a disk, the object store).
#[derive(Debug, thiserror::Error)]
#[error("artifact storage: {0}")]
pub struct StorageError(String);

impl StorageError {
    fn io(what: &str, e: impl std::fmt::Display) -> StorageError {
        StorageError(format!("{what}: {e}"))
    }
}

/// A file that arrived and is stored: its digest and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Its SHA-256.
    pub digest: Sha256Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// Where S3-compatible storage is and how to log in.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// The bucket.
    pub bucket: String,
    /// The region (any name for servers that ignore it).
    pub region: String,
    /// The endpoint, for S3-compatible servers (MinIO, ...); AWS when absent.
    pub endpoint: Option<String>,
    /// Access key id (else from the environment, as the AWS SDKs read it).
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Whether `http://` endpoints are allowed.
    pub allow_http: bool,
    /// A prefix for every object, e.g. `keyport/`.
    pub prefix: String,
}

enum Backend {
    Local { root: PathBuf },
    S3 { store: Arc<dyn ObjectStore>, prefix: String },
}

/// The artifact storage. Cheap to clone.
#[derive(Clone)]
pub struct ArtifactStorage(Arc<Backend>);

impl std::fmt::Debug for ArtifactStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

fn hex_path(digest: Sha256Digest) -> (String, String) {
    let hex = digest.to_hex();
    (hex[..2].to_owned(), hex)
}

impl ArtifactStorage {
    /// Files under `root` (created, readable by its owner only where the OS has modes).
    pub fn local(root: &Path) -> Result<ArtifactStorage, StorageError> {
        for dir in [root.join("sha256"), root.join("incoming")] {
            std::fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir.display().to_string(), e))?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| StorageError::io(&root.display().to_string(), e))?;
        }
        Ok(ArtifactStorage(Arc::new(Backend::Local { root: root.to_owned() })))
    }

    /// S3-compatible object storage.
    pub fn s3(options: &S3Options) -> Result<ArtifactStorage, StorageError> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&options.bucket)
            .with_region(&options.region)
            .with_allow_http(options.allow_http);
        if let Some(endpoint) = &options.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let (Some(id), Some(secret)) = (&options.access_key_id, &options.secret_access_key) {
            builder = builder.with_access_key_id(id).with_secret_access_key(secret);
        }
        let store = builder.build().map_err(|e| StorageError::io("S3 configuration", e))?;
        let prefix = options.prefix.trim_matches('/').to_owned();
        Ok(ArtifactStorage(Arc::new(Backend::S3 { store: Arc::new(store), prefix })))
    }

    /// Where the files are, for logs (no secrets).
    pub fn describe(&self) -> String {
        match &*self.0 {
            Backend::Local { root } => format!("file system at {}", root.display()),
            Backend::S3 { store, prefix } => format!("{store} (prefix '{prefix}')"),
        }
    }

    fn object(prefix: &str, parts: &[&str]) -> ObjectPath {
        let joined = parts.join("/");
        match prefix.is_empty() {
            true => ObjectPath::from(joined),
            false => ObjectPath::from(format!("{prefix}/{joined}")),
        }
    }

    /// Receives a file from `body`: streams it to the storage while hashing it, refuses it
    /// beyond `limit` bytes or when its SHA-256 is not `expected`, and stores it under its
    /// digest (once: a file stored before stays as it is). A refused or broken upload leaves
    /// nothing behind.
    pub async fn receive<S, E>(
        &self,
        body: S,
        limit: u64,
        expected: Option<Sha256Digest>,
    ) -> Result<Received, UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let incoming = uuid::Uuid::new_v4().to_string();
        match &*self.0 {
            Backend::Local { root } => {
                let staged = root.join("incoming").join(&incoming);
                let result = receive_file(&staged, body, limit).await;
                let received = match check(result, expected) {
                    Ok(received) => received,
                    Err(e) => {
                        let _ = tokio::fs::remove_file(&staged).await;
                        return Err(e);
                    }
                };
                let (dir, hex) = hex_path(received.digest);
                let dir = root.join("sha256").join(dir);
                let promote = async {
                    tokio::fs::create_dir_all(&dir).await?;
                    let target = dir.join(hex);
                    match tokio::fs::try_exists(&target).await? {
                        true => tokio::fs::remove_file(&staged).await,
                        false => tokio::fs::rename(&staged, &target).await,
                    }
                };
                if let Err(e) = promote.await {
                    let _ = tokio::fs::remove_file(&staged).await;
                    return Err(StorageError::io("storing the file", e).into());
                }
                Ok(received)
            }
            Backend::S3 { store, prefix } => {
                let staged = Self::object(prefix, &["incoming", &incoming]);
                let result = receive_object(store.as_ref(), &staged, body, limit).await;
                let received = match check(result, expected) {
                    Ok(received) => received,
                    Err(e) => {
                        let _ = store.delete(&staged).await;
                        return Err(e);
                    }
                };
                let target = Self::object(prefix, &["sha256", &received.digest.to_hex()]);
                let promote = async {
                    match store.head(&target).await {
                        Ok(_) => store.delete(&staged).await,
                        Err(object_store::Error::NotFound { .. }) => store.rename(&staged, &target).await,
                        Err(e) => Err(e),
                    }
                };
                if let Err(e) = promote.await {
                    let _ = store.delete(&staged).await;
                    return Err(StorageError::io("storing the file", e).into());
                }
                Ok(received)
            }
        }
    }

    /// Whether a file with this digest is stored.
    pub async fn contains(&self, digest: Sha256Digest) -> Result<bool, StorageError> {
        match &*self.0 {
            Backend::Local { root } => {
                let (dir, hex) = hex_path(digest);
                tokio::fs::try_exists(root.join("sha256").join(dir).join(hex))
                    .await
                    .map_err(|e| StorageError::io("looking for a file", e))
            }
            Backend::S3 { store, prefix } => {
                match store.head(&Self::object(prefix, &["sha256", &digest.to_hex()])).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(StorageError::io("looking for a file", e)),
                }
            }
        }
    }

    /// Removes the file with this digest (nothing when there is none).
    pub async fn remove(&self, digest: Sha256Digest) -> Result<(), StorageError> {
        match &*self.0 {
            Backend::Local { root } => {
                let (dir, hex) = hex_path(digest);
                match tokio::fs::remove_file(root.join("sha256").join(dir).join(hex)).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(StorageError::io("removing a file", e))
                    }
                    Ok(()) | Err(_) => Ok(()),
                }
            }
            Backend::S3 { store, prefix } => {
                match store.delete(&Self::object(prefix, &["sha256", &digest.to_hex()])).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(StorageError::io("removing a file", e)),
                }
            }
        }
    }

    /// The bytes `range` of the file with this digest (the range lies within the file).
    pub async fn read(&self, digest: Sha256Digest, range: Range<u64>) -> Result<ByteStream, StorageError> {
        match &*self.0 {
            Backend::Local { root } => {
                let (dir, hex) = hex_path(digest);
                let path = root.join("sha256").join(dir).join(hex);
                let mut file =
                    tokio::fs::File::open(&path).await.map_err(|e| StorageError::io("opening a file", e))?;
                file.seek(std::io::SeekFrom::Start(range.start))
                    .await
                    .map_err(|e| StorageError::io("reading a file", e))?;
                let reader = file.take(range.end.saturating_sub(range.start));
                Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(reader, READ_CHUNK)))
            }
            Backend::S3 { store, prefix } => {
                if range.is_empty() {
                    return Ok(Box::pin(futures_util::stream::empty()));
                }
                let options = GetOptions { range: Some(GetRange::Bounded(range)), ..GetOptions::default() };
                let found = store
                    .get_opts(&Self::object(prefix, &["sha256", &digest.to_hex()]), options)
                    .await
                    .map_err(|e| StorageError::io("reading a file", e))?;
                Ok(Box::pin(found.into_stream().map_err(std::io::Error::other)))
            }
        }
    }

    /// Files in `incoming/`: uploads under way, or left by a crash in the middle of one.
    pub async fn incoming(&self) -> Result<usize, StorageError> {
        match &*self.0 {
            Backend::Local { root } => {
                let mut entries = tokio::fs::read_dir(root.join("incoming"))
                    .await
                    .map_err(|e| StorageError::io("listing incoming files", e))?;
                let mut n = 0;
                while entries
                    .next_entry()
                    .await
                    .map_err(|e| StorageError::io("listing incoming files", e))?
                    .is_some()
                {
                    n += 1;
                }
                Ok(n)
            }
            Backend::S3 { store, prefix } => {
                let listed: Vec<_> = store
                    .list(Some(&Self::object(prefix, &["incoming"])))
                    .try_collect()
                    .await
                    .map_err(|e| StorageError::io("listing incoming files", e))?;
                Ok(listed.len())
            }
        }
    }

    /// Removes files in `incoming/` older than `age`: uploads a crash or a restart broke off.
    /// (An S3 multipart upload broken off that way is not listed; a bucket lifecycle rule
    /// `AbortIncompleteMultipartUpload` removes its parts.) Answers how many were removed.
    pub async fn sweep_incoming(&self, age: std::time::Duration) -> Result<usize, StorageError> {
        let failed = |e: &dyn std::fmt::Display| StorageError::io("sweeping incoming files", e);
        let mut removed = 0;
        match &*self.0 {
            Backend::Local { root } => {
                let mut entries = tokio::fs::read_dir(root.join("incoming")).await.map_err(|e| failed(&e))?;
                while let Some(entry) = entries.next_entry().await.map_err(|e| failed(&e))? {
                    let modified =
                        entry.metadata().await.and_then(|m| m.modified()).map_err(|e| failed(&e))?;
                    if modified.elapsed().is_ok_and(|waited| waited > age) {
                        tokio::fs::remove_file(entry.path()).await.map_err(|e| failed(&e))?;
                        removed += 1;
                    }
                }
            }
            Backend::S3 { store, prefix } => {
                let listed: Vec<object_store::ObjectMeta> = store
                    .list(Some(&Self::object(prefix, &["incoming"])))
                    .try_collect()
                    .await
                    .map_err(|e| failed(&e))?;
                let cutoff = std::time::SystemTime::now() - age;
                for meta in listed {
                    if std::time::SystemTime::from(meta.last_modified) < cutoff {
                        store.delete(&meta.location).await.map_err(|e| failed(&e))?;
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }

    /// Checks that the storage answers (for readiness).
    pub async fn check(&self) -> Result<(), StorageError> {
        match &*self.0 {
            Backend::Local { root } => tokio::fs::metadata(root.join("sha256"))
                .await
                .map(drop)
                .map_err(|e| StorageError::io("the artifact folder", e)),
            Backend::S3 { store, prefix } => {
                match store.head(&Self::object(prefix, &["sha256", "probe"])).await {
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(StorageError::io("the object store", e)),
                }
            }
        }
    }
}

/// The digest and size of what arrived, checked against the announced digest.
fn check(
    result: Result<(Sha256Digest, u64), UploadError>,
    expected: Option<Sha256Digest>,
) -> Result<Received, UploadError> {
    let (digest, size) = result?;
    match expected {
        Some(expected) if expected != digest => {
            Err(UploadError::HashMismatch { expected: expected.to_hex(), actual: digest.to_hex() })
        }
        Some(_) | None => Ok(Received { digest, size }),
    }
}

/// Counts and hashes the chunks of a body, refusing it beyond `limit`.
struct Intake {
    hasher: Sha256,
    size: u64,
    limit: u64,
}

impl Intake {
    fn new(limit: u64) -> Intake {
        Intake { hasher: Sha256::new(), size: 0, limit }
    }

    fn take<E: std::fmt::Display>(&mut self, chunk: Result<Bytes, E>) -> Result<Bytes, UploadError> {
        let chunk = chunk.map_err(|e| UploadError::Body(e.to_string()))?;
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(UploadError::TooLarge { limit: self.limit });
        }
        self.hasher.update(&chunk);
        Ok(chunk)
    }

    fn done(self) -> (Sha256Digest, u64) {
        (Sha256Digest::from_bytes(self.hasher.finalize().into()), self.size)
    }
}

async fn receive_file<S, E>(
    staged: &Path,
    mut body: S,
    limit: u64,
) -> Result<(Sha256Digest, u64), UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let failed = |e: std::io::Error| UploadError::Storage(StorageError::io("writing the file", e));
    let mut file = tokio::fs::File::create(staged).await.map_err(failed)?;
    let mut intake = Intake::new(limit);
    let mut buffer = BytesMut::with_capacity(DISK_BUFFER);
    while let Some(chunk) = body.next().await {
        buffer.extend_from_slice(&intake.take(chunk)?);
        if buffer.len() >= DISK_BUFFER {
            file.write_all(&buffer).await.map_err(failed)?;
            buffer.clear();
        }
    }
    file.write_all(&buffer).await.map_err(failed)?;
    file.sync_all().await.map_err(failed)?;
    Ok(intake.done())
}

async fn receive_object<S, E>(
    store: &dyn ObjectStore,
    staged: &ObjectPath,
    mut body: S,
    limit: u64,
) -> Result<(Sha256Digest, u64), UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let failed = |e: object_store::Error| UploadError::Storage(StorageError::io("writing the file", e));
    let upload = store.put_multipart(staged).await.map_err(failed)?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, S3_PART);
    let mut intake = Intake::new(limit);
    while let Some(chunk) = body.next().await {
        let chunk = match intake.take(chunk) {
            Ok(chunk) => chunk,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(e);
            }
        };
        if let Err(e) = writer.wait_for_capacity(S3_PARTS_IN_FLIGHT).await {
            let _ = writer.abort().await;
            return Err(failed(e));
        }
        writer.put(chunk);
    }
    writer.finish().await.map_err(failed)?;
    Ok(intake.done())
}
