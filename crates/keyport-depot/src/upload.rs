//! Forms with a file (offline activation, receipt, deactivation proof, recovery): read from
//! `multipart/form-data` with every part bounded, so a huge or endless upload costs at most
//! a few kilobytes of memory before it is refused.

use actix_multipart::Multipart;
use futures_util::StreamExt;

/// The largest file taken (the signed files keyport-client writes are about 1 KB).
pub(crate) const MAX_FILE: usize = 64 * 1024;
/// The largest other field taken.
const MAX_FIELD: usize = 1024;
/// At most this many parts.
const MAX_PARTS: usize = 8;

/// What a file form sent.
#[derive(Debug, Default)]
pub(crate) struct Upload {
    /// The CSRF token.
    pub csrf: String,
    /// The file's text (empty when none was chosen).
    pub file: String,
    /// Whether the confirmation box was ticked.
    pub confirmed: bool,
}

/// Why a file form was not read.
#[derive(Debug)]
pub(crate) enum UploadError {
    /// Larger than [`MAX_FILE`], a field larger than its bound, or too many parts.
    TooLarge,
    /// Not multipart, or broken.
    Malformed,
}

/// Reads a file form.
pub(crate) async fn read(mut payload: Multipart) -> Result<Upload, UploadError> {
    let mut upload = Upload::default();
    let mut parts = 0;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(|_| UploadError::Malformed)?;
        parts += 1;
        if parts > MAX_PARTS {
            return Err(UploadError::TooLarge);
        }
        let name = field.name().unwrap_or_default().to_owned();
        let max = if name == "file" { MAX_FILE } else { MAX_FIELD };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| UploadError::Malformed)?;
            if bytes.len() + chunk.len() > max {
                return Err(UploadError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(bytes).map_err(|_| UploadError::Malformed)?;
        match name.as_str() {
            "csrf" => upload.csrf = text,
            "file" => upload.file = text,
            "confirm" => upload.confirmed = text == "yes",
            _ => {}
        }
    }
    Ok(upload)
}
