//! Updates for the installed software: the offered release's signed manifest is verified
//! with the server's keys, the file is downloaded (resuming a broken download), and its
//! size and SHA-256 are checked against the manifest before it is handed over.

use std::io::Read;
use std::path::{Path, PathBuf};

use keyport_api::OfferedRelease;
use keyport_core::certificate::Jwks;
use keyport_core::release::{ReleaseVersion, UpdateManifest, verify_manifest};
use sha2::{Digest, Sha256};

use crate::{ClientError, Server};

/// What the update must be for: the installed product and version, and this machine.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The product of the installed license's certificate.
    pub product: &'a str,
    /// The installed version (the update must be newer).
    pub installed: &'a str,
    /// This machine's OS, as reported.
    pub os: &'a str,
    /// This machine's architecture, as reported.
    pub arch: &'a str,
}

/// The manifest of an offered release, verified with `jwks`, for the offered file, and for
/// this product, a newer version than the installed one, and this machine's OS and
/// architecture, signed within a day: an older manifest (a downgrade) or one for another
/// product or machine is refused, wherever it came from.
pub fn verified_manifest(
    offered: &OfferedRelease,
    jwks: &Jwks,
    expected: &Expected<'_>,
) -> Result<UpdateManifest, ClientError> {
    let manifest = verify_manifest(&offered.manifest, jwks)?;
    let refuse = |what: &str| {
        Err(ClientError::Io(format!("the update's signed manifest {what}; it is not installed")))
    };
    let file = &offered.artifact.artifact;
    if manifest.artifact_id != file.id || manifest.sha256 != file.sha256 || manifest.size != file.size {
        return refuse("names another file than the one offered");
    }
    if manifest.product != expected.product || manifest.version != offered.version {
        return refuse("is for another product or version than the one offered");
    }
    let newer = match (ReleaseVersion::parse(&manifest.version), ReleaseVersion::parse(expected.installed)) {
        (Ok(update), Ok(installed)) => update > installed,
        (Ok(_), Err(_)) => true,
        (Err(_), _) => false,
    };
    if !newer {
        return refuse("is not newer than the installed version");
    }
    if !manifest.os.as_str().eq_ignore_ascii_case(expected.os)
        || !manifest.arch.eq_ignore_ascii_case(expected.arch)
    {
        return refuse("is for another operating system or architecture");
    }
    if (chrono::Utc::now().timestamp() - manifest.iat).abs() > 86_400 {
        return refuse("was not signed within the last day");
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
    // A part as long as the file may be complete already: then it needs no download.
    let complete = have == manifest.size && sha256_of(&part)? == manifest.sha256;
    if !complete {
        let from = if have < manifest.size { have } else { 0 };
        let etag = format!("\"{}\"", manifest.sha256);
        server.fetch(&offered.artifact.download_url, (from, manifest.size), &etag, &mut file)?;
    }
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

#[cfg(test)]
mod tests {
    use keyport_api::{ArtifactView, DownloadableArtifact};
    use keyport_core::certificate::Jwk;
    use keyport_core::release::{Os, sign_manifest};

    use super::*;

    fn offer(version: &str, seed: &[u8; 32], iat: i64) -> OfferedRelease {
        let file = ArtifactView {
            id: uuid::Uuid::from_u128(1),
            os: Os::Linux,
            arch: "x86_64".to_owned(),
            file_name: "cad.tar.gz".to_owned(),
            media_type: "application/gzip".to_owned(),
            size: 10,
            sha256: "ab".repeat(32),
            min_os_version: None,
            created_at: chrono::Utc::now(),
        };
        let manifest = UpdateManifest {
            product: "cad".to_owned(),
            version: version.to_owned(),
            artifact_id: file.id,
            file_name: file.file_name.clone(),
            os: Os::Linux,
            arch: "x86_64".to_owned(),
            size: 10,
            sha256: file.sha256.clone(),
            iat,
        };
        OfferedRelease {
            release_id: uuid::Uuid::from_u128(2),
            version: version.to_owned(),
            channel: "stable".to_owned(),
            notes_en: String::new(),
            notes_de: String::new(),
            published_at: chrono::Utc::now(),
            artifact: DownloadableArtifact {
                artifact: file,
                download_url: "http://127.0.0.1:9/x".to_owned(),
                link_expires_at: chrono::Utc::now(),
            },
            manifest: sign_manifest(&manifest, "k1", seed).unwrap(),
        }
    }

    #[test]
    fn only_a_fresh_manifest_for_this_product_a_newer_version_and_this_machine_is_taken() {
        let seed = [5u8; 32];
        let jwks = Jwks { keys: vec![Jwk::ed25519("k1", &keyport_core::jws::public_key(&seed))] };
        let now = chrono::Utc::now().timestamp();
        let here = Expected { product: "cad", installed: "5.1.0", os: "linux", arch: "x86_64" };
        assert!(verified_manifest(&offer("5.2.0", &seed, now), &jwks, &here).is_ok());
        let refused = |offered: OfferedRelease, expected: &Expected<'_>| {
            verified_manifest(&offered, &jwks, expected).unwrap_err().to_string()
        };
        assert!(refused(offer("5.0.0", &seed, now), &here).contains("not newer"), "a downgrade");
        assert!(refused(offer("5.2.0", &seed, now - 3 * 86_400), &here).contains("within the last day"));
        let viewer = Expected { product: "viewer", ..here.clone() };
        assert!(refused(offer("5.2.0", &seed, now), &viewer).contains("another product"));
        let mac = Expected { os: "macos", ..here.clone() };
        assert!(refused(offer("5.2.0", &seed, now), &mac).contains("another operating system"));
        assert!(refused(offer("5.2.0", &[6u8; 32], now), &here).contains("signature"), "another key");
    }
}
