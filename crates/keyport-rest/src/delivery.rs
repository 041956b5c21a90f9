//! What serving releases needs besides the store: the artifact storage, the upload limit,
//! how download links are made, and the HTTP pieces of a download (byte ranges, the file
//! name header, recording a completed download).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use actix_web::{HttpMessage, HttpRequest};
use bytes::Bytes;
use futures_util::Stream;
use keyport_artifacts::{ArtifactStorage, ByteStream};
use keyport_core::release::Downloader;
use keyport_core::release::Sha256Digest;
use keyport_store::{DownloadGrant, DownloadLinks, Store};

/// The default upload limit: 4 GiB.
pub const DEFAULT_MAX_UPLOAD: u64 = 4 * 1024 * 1024 * 1024;

/// Releases' files: where they are and how they are handed out.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The artifact storage.
    pub storage: ArtifactStorage,
    /// The largest artifact taken, in bytes.
    pub max_upload_bytes: u64,
    /// How long a download link works.
    pub link_ttl: chrono::Duration,
    /// The public URL links start with (else the request's scheme and host).
    pub public_url: Option<String>,
    /// Downloads being sent, per holder of links (a customer, a ticket, a machine).
    active: Arc<Mutex<HashMap<Downloader, usize>>>,
}

/// The most downloads one holder of links (a customer, a ticket login, a machine) may have
/// running at once on an instance: a download manager's parallel parts fit, and one link
/// spread over many addresses cannot occupy the instance.
pub const MAX_DOWNLOADS_PER_HOLDER: usize = 16;

/// A running download, counted out when its body ends or is dropped.
pub(crate) struct Running {
    downloader: Downloader,
    active: Arc<Mutex<HashMap<Downloader, usize>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = active.get_mut(&self.downloader) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                active.remove(&self.downloader);
            }
        }
    }
}

impl Delivery {
    /// Removes files no artifact uses any more (after a delete, or a refused record).
    pub(crate) async fn forget(&self, store: &keyport_store::Store, digests: Vec<Sha256Digest>) {
        for digest in digests {
            let check = store.clone();
            match crate::run(move || check.digest_in_use(digest)).await {
                Ok(false) => {
                    if let Err(e) = self.storage.remove(digest).await {
                        tracing::warn!(error = %e, digest = %digest.to_hex(), "an unused artifact file stays");
                    }
                }
                Ok(true) => {}
                Err(e) => tracing::warn!(error = %e, "an unused artifact file stays"),
            }
        }
    }

    /// The download links' base: the configured public URL, else where this request came.
    pub(crate) fn links(&self, req: &HttpRequest) -> DownloadLinks {
        let base = match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            // Where the request came, forwarded headers believed from trusted proxies only.
            None => match req.extensions().get::<keyport_core::net::Origin>() {
                Some(origin) => format!("{}://{}", origin.scheme, origin.host),
                None => {
                    let info = req.connection_info();
                    format!("{}://{}", info.scheme(), info.host())
                }
            },
        };
        DownloadLinks { base: format!("{base}{}", crate::BASE_PATH), ttl: self.link_ttl }
    }

    /// Files in `storage`, 4 GiB uploads, 10-minute links.
    pub fn new(storage: ArtifactStorage, public_url: Option<String>) -> Delivery {
        Delivery {
            storage,
            max_upload_bytes: DEFAULT_MAX_UPLOAD,
            link_ttl: chrono::Duration::minutes(10),
            public_url,
            active: Arc::default(),
        }
    }

    /// Counts a download of `downloader` in, or refuses it (`rate_limited`) when it has
    /// [`MAX_DOWNLOADS_PER_HOLDER`] running.
    pub(crate) fn start(&self, downloader: Downloader) -> Result<Running, keyport_core::CoreError> {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        let count = active.entry(downloader).or_insert(0);
        if *count >= MAX_DOWNLOADS_PER_HOLDER {
            return Err(keyport_core::CoreError::new(keyport_core::ErrorCode::RateLimited).with("seconds", 5));
        }
        *count += 1;
        Ok(Running { downloader, active: self.active.clone() })
    }

    /// The file's bytes, recording the download once the last byte of the file was sent
    /// (`to_end`: this response ends with the file's last byte). A download broken off is
    /// not recorded; its resumption, which sends the end, is.
    pub(crate) fn recorded(
        &self,
        stream: ByteStream,
        (store, grant): (Store, DownloadGrant),
        to_end: bool,
        running: Running,
    ) -> Recorded {
        Recorded { inner: stream, done: Some((store, grant)).filter(|_| to_end), _running: running }
    }
}

/// A download's body that records the download when it ends.
pub(crate) struct Recorded {
    inner: ByteStream,
    done: Option<(Store, DownloadGrant)>,
    _running: Running,
}

impl Stream for Recorded {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(None) = next
            && let Some((store, grant)) = self.done.take()
        {
            actix_web::rt::task::spawn_blocking(move || {
                if let Err(e) = store.record_download(&grant, store.now()) {
                    tracing::warn!(error = %e, artifact = %grant.artifact_id, "a download was not recorded");
                }
            });
        }
        next
    }
}

/// What a `Range` header asks of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// The whole file: no header, several ranges, or a header this does not read (RFC 9110
    /// lets a server ignore those).
    Whole,
    /// The bytes `start..end`.
    Part(u64, u64),
    /// A range beyond the file (416).
    Unsatisfiable,
}

/// The one byte range a `Range` header asks of a file of `size` bytes.
pub fn byte_range(header: Option<&str>, size: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Whole;
    };
    let Some((first, last)) = spec.split_once('-').filter(|_| !spec.contains(',')) else {
        return ByteRange::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    // First the syntax (a header this does not read is ignored), then the file's size.
    let (start, end) = match (first.trim().is_empty(), number(first), last.trim().is_empty(), number(last)) {
        // bytes=-N: the last N bytes.
        (true, None, false, Some(n)) => {
            return match n == 0 || size == 0 {
                true => ByteRange::Unsatisfiable,
                false => ByteRange::Part(size.saturating_sub(n), size),
            };
        }
        // bytes=A-: from A to the end.
        (false, Some(a), true, None) => (a, size),
        // bytes=A-B: B may lie beyond the end.
        (false, Some(a), false, Some(b)) if a <= b => (a, b.saturating_add(1).min(size)),
        _ => return ByteRange::Whole,
    };
    match start < size {
        true => ByteRange::Part(start, end),
        false => ByteRange::Unsatisfiable,
    }
}

/// `Content-Disposition: attachment` with the file's name: an ASCII fallback and the exact
/// name (RFC 6266, RFC 8187).
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let exact = keyport_core::release::percent_encoded(name);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{exact}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        use ByteRange::{Part, Unsatisfiable, Whole};
        assert_eq!(byte_range(None, 100), Whole);
        assert_eq!(byte_range(Some("bytes=0-9"), 100), Part(0, 10));
        assert_eq!(byte_range(Some("bytes=90-"), 100), Part(90, 100));
        assert_eq!(byte_range(Some("bytes=90-500"), 100), Part(90, 100));
        assert_eq!(byte_range(Some("bytes=-10"), 100), Part(90, 100));
        assert_eq!(byte_range(Some("bytes=-500"), 100), Part(0, 100));
        assert_eq!(byte_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(byte_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 100), Whole);
        assert_eq!(byte_range(Some("bytes=9-3"), 100), Whole);
        assert_eq!(byte_range(Some("items=0-9"), 100), Whole);
        assert_eq!(byte_range(Some("bytes=+1-2"), 100), Whole);
        assert_eq!(byte_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(byte_range(Some("bytes=500-x"), 100), Whole, "syntax before size");
    }

    #[test]
    fn a_file_name_cannot_break_its_header() {
        assert_eq!(
            content_disposition("setup 5.2.exe"),
            "attachment; filename=\"setup 5.2.exe\"; filename*=UTF-8''setup%205.2.exe"
        );
        assert_eq!(
            content_disposition("Größe.zip"),
            "attachment; filename=\"Gr__e.zip\"; filename*=UTF-8''Gr%C3%B6%C3%9Fe.zip"
        );
    }
}
