//! Files the store makes on disk are readable by their owner only: the SQLite database
//! holds the certificate signing keys.

use std::fs::{File, OpenOptions};
use std::io;
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
