//! The per-user folder: the machine key (readable only by its owner), installed
//! certificates, and the last JWKS fetched from the server.

use std::path::{Path, PathBuf};

use keyport_core::certificate::Jwks;
use uuid::Uuid;

use crate::{ClientError, Machine, fingerprint, machine_sources};

/// The client's folder.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> ClientError {
    ClientError::Io(format!("cannot {what} {}: {e}", path.display()))
}

impl Home {
    /// The folder: `explicit`, else `$KEYPORT_CLIENT_HOME`, else
    /// `$XDG_DATA_HOME/keyport-client`, else `~/.local/share/keyport-client`.
    pub fn locate(explicit: Option<PathBuf>) -> Home {
        let dir = explicit
            .or_else(|| std::env::var_os("KEYPORT_CLIENT_HOME").map(PathBuf::from))
            .or_else(|| std::env::var_os("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("keyport-client")))
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/keyport-client"))
            })
            .unwrap_or_else(|| PathBuf::from(".keyport-client"));
        Home { dir }
    }

    /// The folder's path.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn ensure(&self) -> Result<(), ClientError> {
        private_dir(&self.dir.join("certificates"))?;
        restrict(&self.dir, 0o700)
    }

    /// This machine for a product: the key pair is made once and kept (mode 0600).
    pub fn machine(&self, product: &str) -> Result<Machine, ClientError> {
        self.ensure()?;
        let path = self.dir.join("machine.key");
        let seed = match std::fs::read_to_string(&path) {
            Ok(text) => {
                hex::decode(text.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or_else(|| {
                    ClientError::Io(format!("{} is damaged; remove it to make a new key", path.display()))
                })?
            }
            Err(_) => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| ClientError::Io(format!("no randomness: {e}")))?;
                write_private(&path, &hex::encode(seed))?;
                seed
            }
        };
        Ok(Machine::new(seed, fingerprint(product, &machine_sources())?))
    }

    fn certificate_path(&self, license: Uuid) -> PathBuf {
        self.dir.join("certificates").join(format!("{license}.cert"))
    }

    /// Keeps a certificate for its license.
    pub fn save_certificate(&self, license: Uuid, text: &str) -> Result<(), ClientError> {
        self.ensure()?;
        write_private(&self.certificate_path(license), text)
    }

    /// The installed certificates: (license, file text).
    pub fn certificates(&self) -> Result<Vec<(Uuid, String)>, ClientError> {
        let dir = self.dir.join("certificates");
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let license = path.file_stem().and_then(|s| s.to_str()).and_then(|s| Uuid::parse_str(s).ok());
            if let Some(license) = license {
                out.push((license, std::fs::read_to_string(&path).map_err(|e| io("read", &path, e))?));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The one installed certificate, or the one of `license`.
    pub fn certificate(&self, license: Option<Uuid>) -> Result<(Uuid, String), ClientError> {
        let all = self.certificates()?;
        match (license, all.len()) {
            (Some(id), _) => all.into_iter().find(|(l, _)| *l == id),
            (None, 1) => all.into_iter().next(),
            (None, 0) => None,
            (None, _) => {
                return Err(ClientError::Io(
                    "several licenses are installed here; name one with --license".to_owned(),
                ));
            }
        }
        .ok_or_else(|| ClientError::Io("no license certificate is installed on this machine".to_owned()))
    }

    /// Forgets a license's certificate.
    pub fn remove_certificate(&self, license: Uuid) -> Result<(), ClientError> {
        let path = self.certificate_path(license);
        std::fs::remove_file(&path).map_err(|e| io("remove", &path, e))
    }

    /// Keeps a copy of a deactivation proof until the owner uploads it; answers where.
    pub fn keep_proof(&self, license: Uuid, proof: &str) -> Result<PathBuf, ClientError> {
        self.ensure()?;
        let dir = self.dir.join("proofs");
        private_dir(&dir)?;
        let path = dir.join(format!("{license}.proof"));
        write_private(&path, proof)?;
        Ok(path)
    }

    /// Keeps a check-in that could not be sent, to send later (oldest first); at most
    /// [`QUEUE_LIMIT`] per license are kept, the oldest dropped first.
    pub fn queue_check_in(&self, license: Uuid, at_ms: i64, proof: &str) -> Result<(), ClientError> {
        self.ensure()?;
        let dir = self.dir.join("queue");
        private_dir(&dir)?;
        write_private(&dir.join(format!("{license}-{at_ms:015}.checkin")), proof)?;
        let queued = self.queued_check_ins(license)?;
        for (path, _) in queued.iter().take(queued.len().saturating_sub(QUEUE_LIMIT)) {
            std::fs::remove_file(path).map_err(|e| io("remove", path, e))?;
        }
        Ok(())
    }

    /// The queued check-ins of a license, oldest first: (file, proof).
    pub fn queued_check_ins(&self, license: Uuid) -> Result<Vec<(PathBuf, String)>, ClientError> {
        let dir = self.dir.join("queue");
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
        let prefix = format!("{license}-");
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with(&prefix) && name.ends_with(".checkin") {
                out.push((path.clone(), std::fs::read_to_string(&path).map_err(|e| io("read", &path, e))?));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Forgets a queued check-in once it was sent (or can never be); one another run of the
    /// client removed meanwhile is gone already.
    pub fn unqueue(&self, path: &Path) -> Result<(), ClientError> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", path, e)),
            _ => Ok(()),
        }
    }

    /// Remembers the open session of a license.
    pub fn save_session(&self, license: Uuid, session: Uuid) -> Result<(), ClientError> {
        self.ensure()?;
        let dir = self.dir.join("sessions");
        private_dir(&dir)?;
        write_private(&dir.join(format!("{license}.session")), &session.to_string())
    }

    /// The open session of a license, if one was started here.
    pub fn session(&self, license: Uuid) -> Option<Uuid> {
        let path = self.dir.join("sessions").join(format!("{license}.session"));
        std::fs::read_to_string(path).ok().and_then(|s| Uuid::parse_str(s.trim()).ok())
    }

    /// Forgets the open session of a license.
    pub fn remove_session(&self, license: Uuid) -> Result<(), ClientError> {
        let path = self.dir.join("sessions").join(format!("{license}.session"));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &path, e)),
            _ => Ok(()),
        }
    }

    /// Keeps the JWKS fetched from the server, for offline verification later.
    pub fn save_jwks(&self, jwks: &Jwks) -> Result<(), ClientError> {
        self.ensure()?;
        let path = self.dir.join("jwks.json");
        let text = serde_json::to_string_pretty(jwks).map_err(|e| ClientError::Io(e.to_string()))?;
        write_private(&path, &text)
    }

    /// The JWKS kept from the server.
    pub fn jwks(&self) -> Result<Jwks, ClientError> {
        read_jwks(&self.dir.join("jwks.json"))
    }
}

/// The most check-ins kept per license while the server cannot be reached (a month of daily
/// ones, with room to spare).
pub const QUEUE_LIMIT: usize = 64;

/// Reads a JWKS file (bundled with the software, or kept from the server).
pub fn read_jwks(path: &Path) -> Result<Jwks, ClientError> {
    let text = std::fs::read_to_string(path).map_err(|e| io("read the key set", path, e))?;
    serde_json::from_str(&text).map_err(|e| ClientError::Io(format!("{} is not a JWKS: {e}", path.display())))
}

/// Creates a folder (and its parents) that only its owner can open (0700 on Unix), and
/// takes access away from one made by an earlier version.
fn private_dir(path: &Path) -> Result<(), ClientError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(|e| io("create", path, e))?;
    restrict(path, 0o700)
}

/// Writes a file only its owner can read (0600 on Unix), created with that mode so it is
/// never readable by others, not even for a moment.
fn write_private(path: &Path, text: &str) -> Result<(), ClientError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| io("write", path, e))?;
    file.write_all(text.as_bytes()).map_err(|e| io("write", path, e))?;
    restrict(path, 0o600)
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> Result<(), ClientError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| io("protect", path, e))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> Result<(), ClientError> {
    Ok(())
}
