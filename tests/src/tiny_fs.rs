//! A small tmpfs for tests of a full disk (needs root, as CI runs; skipped otherwise).

use std::path::Path;
use std::process::Command;

/// A mounted tmpfs, unmounted when dropped.
pub struct TinyFs {
    dir: tempfile::TempDir,
}

impl TinyFs {
    /// Mounts a tmpfs of `mib` MiB, or `None` where mounting is not allowed.
    pub fn mount(mib: u32) -> Option<TinyFs> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .ok()?;
        mounted.success().then_some(TinyFs { dir })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}
