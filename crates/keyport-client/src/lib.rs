#![doc = include_str!("../README.md")]

pub mod download;
pub mod home;
pub mod server;

use chrono::{DateTime, Utc};
use keyport_core::certificate::{self, CertificateClaims, Jwks};
use keyport_core::checkin::{CheckIn, ClientReport, SessionEvent, UsageReport};
use keyport_core::files::{self, ActivationRequest, DeactivationProof, FileKind, Receipt};
use keyport_core::{CoreError, Fingerprint, Lang, MachineKey, jws};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use home::Home;
pub use server::{Server, Session};

/// Everything that can go wrong, with a message for the person at the keyboard.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Keyport (or a signed file) said no.
    #[error("{}", .0.message(Lang::En))]
    Refused(#[from] CoreError),
    /// The server answered with a problem document.
    #[error("{detail} ({code})")]
    Server {
        /// The stable error code.
        code: String,
        /// The server's message.
        detail: String,
    },
    /// The server could not be reached or answered nonsense.
    #[error("cannot talk to the server: {0}")]
    Network(String),
    /// A local file could not be read or written.
    #[error("{0}")]
    Io(String),
}

/// This machine as Keyport knows it: its fingerprint and key pair.
#[derive(Clone)]
pub struct Machine {
    seed: [u8; 32],
    /// The public key, which identifies the machine.
    pub key: MachineKey,
    /// The fingerprint for the product.
    pub fingerprint: Fingerprint,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("key", &self.key.to_string())
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

fn nonce() -> Result<String, ClientError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ClientError::Io(format!("no randomness: {e}")))?;
    Ok(hex::encode(bytes))
}

impl Machine {
    /// The machine with this key seed and fingerprint.
    pub fn new(seed: [u8; 32], fingerprint: Fingerprint) -> Machine {
        Machine { key: MachineKey::from_bytes(jws::public_key(&seed)), seed, fingerprint }
    }

    /// An activation request file for a license.
    pub fn activation_request(&self, license_id: Uuid) -> Result<String, ClientError> {
        let request = ActivationRequest {
            license_id,
            fingerprint: self.fingerprint.as_str().to_owned(),
            machine_key: self.key.to_string(),
            nonce: nonce()?,
            iat: Utc::now().timestamp(),
        };
        Ok(files::write(&request, &self.seed)?)
    }

    /// A receipt file for an imported certificate.
    pub fn receipt(&self, claims: &CertificateClaims) -> Result<String, ClientError> {
        let receipt = Receipt {
            activation_id: claims.jti,
            license_id: claims.sub,
            machine_key: self.key.to_string(),
            nonce: nonce()?,
            iat: Utc::now().timestamp(),
        };
        Ok(files::write(&receipt, &self.seed)?)
    }

    /// A deactivation proof file for the activation a certificate names.
    pub fn deactivation_proof(&self, claims: &CertificateClaims) -> Result<String, ClientError> {
        let proof = DeactivationProof {
            activation_id: claims.jti,
            license_id: claims.sub,
            machine_key: self.key.to_string(),
            nonce: nonce()?,
            iat: Utc::now().timestamp(),
        };
        Ok(files::write(&proof, &self.seed)?)
    }

    /// A check-in signed by this machine for the activation a certificate names, signed at
    /// `at`; `queued` for one kept while the server could not be reached.
    pub fn check_in(
        &self,
        claims: &CertificateClaims,
        report: &ClientReport,
        at: DateTime<Utc>,
        queued: bool,
    ) -> Result<String, ClientError> {
        let statement = CheckIn {
            activation_id: claims.jti,
            license_id: claims.sub,
            machine_key: self.key.to_string(),
            at_ms: at.timestamp_millis(),
            queued,
            report: report.clone(),
        };
        Ok(files::write(&statement, &self.seed)?)
    }

    /// An update check for the installed license, signed by this machine now.
    pub fn update_check(
        &self,
        claims: &CertificateClaims,
        report: &ClientReport,
        channel: Option<&str>,
    ) -> Result<String, ClientError> {
        let statement = keyport_core::release::UpdateCheck {
            activation_id: claims.jti,
            license_id: claims.sub,
            machine_key: self.key.to_string(),
            at_ms: Utc::now().timestamp_millis(),
            channel: channel.map(str::to_owned),
            report: report.clone(),
        };
        Ok(files::write(&statement, &self.seed)?)
    }

    /// A usage report of a session of use, signed by this machine now.
    pub fn usage_report(
        &self,
        claims: &CertificateClaims,
        session_id: Uuid,
        event: SessionEvent,
        report: &ClientReport,
    ) -> Result<String, ClientError> {
        let statement = UsageReport {
            activation_id: claims.jti,
            license_id: claims.sub,
            machine_key: self.key.to_string(),
            session_id,
            event,
            at_ms: Utc::now().timestamp_millis(),
            version: report.version.clone(),
            os: report.os.clone(),
        };
        Ok(files::write(&statement, &self.seed)?)
    }

    /// Verifies a certificate offline: signed by a key of the JWKS, not expired, lease not
    /// passed, and issued to this machine.
    pub fn verify(
        &self,
        certificate_file: &str,
        jwks: &Jwks,
        now: DateTime<Utc>,
    ) -> Result<CertificateClaims, ClientError> {
        let compact = files::unarmor(FileKind::Certificate, certificate_file).map_err(|e| {
            CoreError::new(keyport_core::ErrorCode::CertificateInvalid).with("reason", e.message(Lang::En))
        })?;
        let claims = certificate::verify(&compact, jwks, now)?;
        certificate::check_machine(&claims, self.fingerprint.as_str(), &self.key.to_string())?;
        Ok(claims)
    }
}

/// The machine fingerprint for a product: SHA-256 over the product code and the machine's
/// stable identifiers, so two products on one machine see different fingerprints.
pub fn fingerprint(product: &str, sources: &[String]) -> Result<Fingerprint, ClientError> {
    let mut hasher = Sha256::new();
    hasher.update(product.as_bytes());
    for source in sources {
        hasher.update(b"\n");
        hasher.update(source.trim().as_bytes());
    }
    Ok(Fingerprint::parse(&format!("sha256:{}", hex::encode(hasher.finalize())))?)
}

/// What this software reports when it checks in: its version, and this system's OS (from the
/// build target), OS version (`KEYPORT_CLIENT_OS_VERSION`, or `/etc/os-release` on Linux),
/// architecture and locale (`LC_ALL`, `LANG`).
pub fn client_report(version: &str) -> ClientReport {
    // Rust's names for the systems are the ones Keyport reports: windows, macos, linux.
    let os = std::env::consts::OS;
    let os_version = std::env::var("KEYPORT_CLIENT_OS_VERSION").ok().or_else(os_release).unwrap_or_default();
    let locale = ["LC_ALL", "LANG"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|v| !v.is_empty())
        .map(|v| v.split(['.', '@']).next().unwrap_or_default().replace('_', "-"))
        .unwrap_or_default();
    let keep = |text: String, max: usize, extra: &[char]| -> String {
        text.chars().filter(|c| c.is_ascii_alphanumeric() || extra.contains(c)).take(max).collect()
    };
    ClientReport {
        version: version.to_owned(),
        os: os.to_owned(),
        os_version: keep(os_version, 64, &['.', '-', '_', ' ', '(', ')']),
        arch: keep(std::env::consts::ARCH.to_owned(), 32, &['-', '_']),
        locale: keep(locale, 35, &['-', '_']),
    }
}

fn os_release() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines().find_map(|l| l.strip_prefix("VERSION_ID=")).map(|v| v.trim_matches('"').to_owned())
}

/// The stable identifiers of this machine, from the OS (or `KEYPORT_CLIENT_MACHINE_ID`,
/// which replaces them, for tests and containers).
pub fn machine_sources() -> Vec<String> {
    if let Ok(id) = std::env::var("KEYPORT_CLIENT_MACHINE_ID") {
        return vec![id];
    }
    ["/etc/machine-id", "/var/lib/dbus/machine-id", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter(|s| !s.trim().is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_differs_per_product_and_machine() {
        let f = |product: &str, source: &str| fingerprint(product, &[source.to_owned()]).ok();
        let a = f("cad", "machine-1");
        assert!(a.is_some());
        assert_ne!(a, f("cam", "machine-1"));
        assert_ne!(a, f("cad", "machine-2"));
        assert_eq!(a, f("cad", " machine-1\n"));
    }
}
