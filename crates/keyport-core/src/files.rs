//! The offline files: an activation request, a license certificate, a receipt and a
//! deactivation proof. Each is a compact JWS in an armor of short lines, so it survives
//! e-mail and USB sticks:
//!
//! ```text
//! -----BEGIN KEYPORT ACTIVATION REQUEST-----
//! eyJhbGciOiJFZERTQSIsInR5cCI6ImtleXBvcnQtYWN0aXZhdGlvbi1yZXF1ZXN0In0.eyJsaWNlbnNl
//! ...
//! -----END KEYPORT ACTIVATION REQUEST-----
//! ```
//!
//! Requests, receipts and proofs are signed by the machine's key, which they also name:
//! a valid signature proves the file comes from the machine that holds that key.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::error::{CoreError, ErrorCode};
use crate::jws::{self, Unverified};
use crate::machine::MachineKey;

/// The kinds of offline file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Written on the offline machine: "please activate this license here".
    ActivationRequest,
    /// Returned by the portal: the signed license certificate.
    Certificate,
    /// Written after import: "the certificate is installed here".
    Receipt,
    /// Written when the machine gives its seat back.
    DeactivationProof,
    /// Sent when the software checks in (kept in the client's queue while offline).
    CheckIn,
    /// Sent when a session of use starts, goes on or ends.
    UsageReport,
    /// Sent when the software asks which update there is for it.
    UpdateCheck,
}

impl FileKind {
    /// The armor label.
    pub fn label(self) -> &'static str {
        match self {
            FileKind::ActivationRequest => "KEYPORT ACTIVATION REQUEST",
            FileKind::Certificate => "KEYPORT LICENSE CERTIFICATE",
            FileKind::Receipt => "KEYPORT ACTIVATION RECEIPT",
            FileKind::DeactivationProof => "KEYPORT DEACTIVATION PROOF",
            FileKind::CheckIn => "KEYPORT CHECK-IN",
            FileKind::UsageReport => "KEYPORT USAGE REPORT",
            FileKind::UpdateCheck => "KEYPORT UPDATE CHECK",
        }
    }

    /// The JWS `typ` of a machine-signed file.
    pub fn typ(self) -> &'static str {
        match self {
            FileKind::ActivationRequest => "keyport-activation-request",
            FileKind::Certificate => crate::certificate::CERTIFICATE_TYPE,
            FileKind::Receipt => "keyport-activation-receipt",
            FileKind::DeactivationProof => "keyport-deactivation-proof",
            FileKind::CheckIn => "keyport-checkin",
            FileKind::UsageReport => "keyport-usage-report",
            FileKind::UpdateCheck => "keyport-update-check",
        }
    }
}

/// Wraps a compact JWS in the armor of its kind, 64 characters a line.
pub fn armor(kind: FileKind, jws: &str) -> String {
    let mut out = format!("-----BEGIN {}-----\n", kind.label());
    for chunk in jws.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {}-----\n", kind.label()));
    out
}

/// The compact JWS inside an armored file (or a bare one); line breaks, spaces and mail
/// quoting (`> `) are ignored.
pub fn unarmor(kind: FileKind, text: &str) -> Result<String, CoreError> {
    let begin = format!("-----BEGIN {}-----", kind.label());
    let end = format!("-----END {}-----", kind.label());
    let body = match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) if b < e => &text[b + begin.len()..e],
        (None, None) if !text.contains("-----BEGIN") => text,
        _ => {
            return Err(CoreError::new(ErrorCode::SignatureInvalid).with(
                "reason",
                format!("this is not a file of the kind '{}'", kind.label().to_lowercase()),
            ));
        }
    };
    Ok(body.lines().map(|l| l.trim_start_matches('>').trim()).collect())
}

/// A machine-signed statement: names its machine key.
pub trait MachineStatement: Serialize + DeserializeOwned {
    /// The kind of file it travels in.
    const KIND: FileKind;
    /// The key that must have signed it.
    fn machine_key(&self) -> &str;
}

/// "Please activate this license on this machine."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationRequest {
    /// The license to activate.
    pub license_id: Uuid,
    /// The machine's fingerprint.
    pub fingerprint: String,
    /// The machine's public key.
    pub machine_key: String,
    /// A random value that makes the request unique; a second upload is refused.
    pub nonce: String,
    /// When it was written (seconds since 1970).
    pub iat: i64,
}

/// "The certificate for this activation is installed here."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The pending activation the certificate was issued for.
    pub activation_id: Uuid,
    /// The license.
    pub license_id: Uuid,
    /// The machine's public key.
    pub machine_key: String,
    /// A random value.
    pub nonce: String,
    /// When it was written (seconds since 1970).
    pub iat: i64,
}

/// "This machine gives its seat back."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeactivationProof {
    /// The activation that ends.
    pub activation_id: Uuid,
    /// The license.
    pub license_id: Uuid,
    /// The machine's public key.
    pub machine_key: String,
    /// A random value.
    pub nonce: String,
    /// When it was written (seconds since 1970).
    pub iat: i64,
}

impl MachineStatement for ActivationRequest {
    const KIND: FileKind = FileKind::ActivationRequest;
    fn machine_key(&self) -> &str {
        &self.machine_key
    }
}

impl MachineStatement for Receipt {
    const KIND: FileKind = FileKind::Receipt;
    fn machine_key(&self) -> &str {
        &self.machine_key
    }
}

impl MachineStatement for DeactivationProof {
    const KIND: FileKind = FileKind::DeactivationProof;
    fn machine_key(&self) -> &str {
        &self.machine_key
    }
}

/// Signs a statement with the machine's key seed and armors it.
pub fn write<T: MachineStatement>(statement: &T, machine_seed: &[u8; 32]) -> Result<String, CoreError> {
    Ok(armor(T::KIND, &jws::sign(statement, T::KIND.typ(), None, machine_seed)?))
}

/// Reads a statement and checks that the machine key it names signed it.
pub fn read<T: MachineStatement>(text: &str) -> Result<T, CoreError> {
    let unverified = Unverified::parse(&unarmor(T::KIND, text)?)?;
    if unverified.header.typ != T::KIND.typ() {
        return Err(CoreError::new(ErrorCode::SignatureInvalid)
            .with("reason", format!("this is not a file of the kind '{}'", T::KIND.label().to_lowercase())));
    }
    let claimed: T = unverified.peek()?;
    let key = MachineKey::parse(claimed.machine_key())?;
    unverified.verify(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof(seed: &[u8; 32]) -> DeactivationProof {
        DeactivationProof {
            activation_id: Uuid::nil(),
            license_id: Uuid::max(),
            machine_key: MachineKey::from_bytes(jws::public_key(seed)).to_string(),
            nonce: "n".to_owned(),
            iat: 1,
        }
    }

    #[test]
    fn a_file_survives_being_quoted_in_an_e_mail() {
        let text = write(&proof(&[3; 32]), &[3; 32]).unwrap_or_default();
        assert!(text.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        let quoted: String = text.lines().map(|l| format!("> {l}\r\n")).collect();
        assert_eq!(read::<DeactivationProof>(&quoted), Ok(proof(&[3; 32])));
    }

    #[test]
    fn a_proof_signed_by_another_machine_is_refused() {
        let mut claimed = proof(&[3; 32]);
        claimed.machine_key = MachineKey::from_bytes(jws::public_key(&[4; 32])).to_string();
        let text = write(&claimed, &[3; 32]).unwrap_or_default();
        assert_eq!(
            read::<DeactivationProof>(&text).err().map(|e| e.code()),
            Some(ErrorCode::SignatureInvalid)
        );
    }

    #[test]
    fn a_receipt_is_not_accepted_as_a_proof() {
        let receipt = Receipt {
            activation_id: Uuid::nil(),
            license_id: Uuid::nil(),
            machine_key: MachineKey::from_bytes(jws::public_key(&[3; 32])).to_string(),
            nonce: "n".to_owned(),
            iat: 1,
        };
        let text = write(&receipt, &[3; 32]).unwrap_or_default();
        assert!(read::<DeactivationProof>(&text).is_err());
    }
}
