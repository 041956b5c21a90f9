//! Updates for the installed software: the offered release's signed manifest is verified
//! with the server's keys, the file is downloaded (resuming a broken download), and its
//! size and SHA-256 are checked against the manifest before it is handed over.

use std::io::Read;
use std::path::{Path, PathBuf};

use keyport_api::OfferedRelease;
use keyport_core::certificate::Jwks;
use keyport_core::release::{UpdateManifest, verify_manifest};
use sha2::{Digest, Sha256};

use crate::{ClientError, Server};

/// The manifest of an offered release, verified, and matching the offered file.
pub fn verified_manifest(offered: &OfferedRelease, jwks: &Jwks) -> Result<UpdateManifest, ClientError> {
    let manifest = verify_manifest(&offered.manifest, jwks)?;
    let file = &offered.artifact.artifact;
    if manifest.artifact_id != file.id || manifest.sha256 != file.sha256 || manifest.size != file.size {
        return Err(ClientError::Io(
            "the update's manifest names another file than the one offered".to_owned(),
        ));
    }
    Ok(manifest)
}

/// The SHA-256 of a file, in hex.
pub fn sha256_of(path: &Path) -> Result<String, ClientError> {
    let io = |e: std::io::Error| ClientError::Io(format!("cannot read {}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Downloads the offered file into `dir` and checks it against the verified manifest. A
/// `<name>.part` file left by a broken download is resumed. A file whose size or SHA-256
/// is not the manifest's is removed and refused. Answers the file's path.
pub fn download(
    server: &Server,
    offered: &OfferedRelease,
    manifest: &UpdateManifest,
    dir: &Path,
) -> Result<PathBuf, ClientError> {
    let io = |e: std::io::Error| ClientError::Io(format!("cannot write in {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    // The manifest's name, without a path: a signed name still must not leave the folder.
    let name = Path::new(&manifest.file_name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .ok_or_else(|| ClientError::Io("the manifest names no usable file name".to_owned()))?;
    let target = dir.join(&name);
    let part = dir.join(format!("{name}.part"));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(false)
        .write(true)
        .truncate(false)
        .open(&part)
        .map_err(io)?;
    let have = file.metadata().map_err(io)?.len();
    let from = if have < manifest.size { have } else { 0 };
    let etag = format!("\"{}\"", manifest.sha256);
    server.fetch(&offered.artifact.download_url, from, &etag, &mut file)?;
    drop(file);
    let size = std::fs::metadata(&part).map_err(io)?.len();
    let digest = sha256_of(&part)?;
    if size != manifest.size || digest != manifest.sha256 {
        let _ = std::fs::remove_file(&part);
        return Err(ClientError::Io(format!(
            "the downloaded file ({size} bytes, SHA-256 {digest}) is not the one the signed manifest names ({} bytes, SHA-256 {}); it was removed",
            manifest.size, manifest.sha256
        )));
    }
    std::fs::rename(&part, &target).map_err(io)?;
    Ok(target)
}
