//! Files the store makes on disk are readable by their owner only: the SQLite database
//! holds the certificate signing keys.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Opens `path` for writing, creating it with mode 0600 when it is missing.
pub fn owner_only_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(path)
}

/// Creates the folder `path` (and its parents) with mode 0700 when missing, and takes
/// group and world access away from it when it exists.
pub fn owner_only_dir(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

/// Writes `bytes` to `path`, created (or emptied) with mode 0600: a mail file holds
/// one-time links.
pub fn write_owner_only(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(path)?;
    file.write_all(bytes)
}

/// Takes group and world access away from an existing file (one made by an earlier
/// version); answers whether it had any. A missing file is left alone.
pub fn restrict_to_owner(path: &Path) -> io::Result<bool> {
    let mode = match std::fs::metadata(path) {
        Ok(meta) => meta.permissions().mode(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if mode & 0o077 == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or_default()
    }

    #[test]
    fn files_and_folders_are_made_for_their_owner_only() -> io::Result<()> {
        let root = std::env::temp_dir().join(format!("keyport-files-{}", std::process::id()));
        let dir = root.join("data").join("mail");
        owner_only_dir(&dir)?;
        assert_eq!((mode(&root.join("data")), mode(&dir)), (0o700, 0o700));
        write_owner_only(&dir.join("a.eml"), b"token")?;
        assert_eq!(mode(&dir.join("a.eml")), 0o600);
        let old = root.join("old.db");
        std::fs::write(&old, b"")?;
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644))?;
        assert!(restrict_to_owner(&old)?);
        assert_eq!(mode(&old), 0o600);
        std::fs::remove_dir_all(&root)
    }
}
