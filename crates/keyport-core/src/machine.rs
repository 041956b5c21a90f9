//! Machines: an end user's computer, known by a fingerprint and a machine public key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::CoreError;

/// A fingerprint computed by the client from stable OS sources (already hashed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// 16 to 128 characters of letters, digits, '-', '_', '+', '/', '=' or ':'.
    pub fn parse(value: &str) -> Result<Fingerprint, CoreError> {
        let value = value.trim();
        let ok = (16..=128).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '=' | ':'));
        if ok {
            Ok(Fingerprint(value.to_owned()))
        } else {
            Err(CoreError::invalid(
                "fingerprint",
                "must be 16 to 128 characters of letters, digits, '-', '_', '+', '/', '=' or ':'",
            ))
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A machine's Ed25519 public key: 32 bytes, written as unpadded base64url. It identifies
/// the machine.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MachineKey([u8; 32]);

impl MachineKey {
    /// Reads 32 bytes of unpadded base64url.
    pub fn parse(value: &str) -> Result<MachineKey, CoreError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(value.trim())
            .map_err(|_| CoreError::invalid("machine_key", "must be unpadded base64url"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CoreError::invalid("machine_key", "must be a 32-byte Ed25519 public key"))?;
        Ok(MachineKey(bytes))
    }

    /// The key from its raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MachineKey {
        MachineKey(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for MachineKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

/// A machine as a client presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineIdentity {
    /// The fingerprint.
    pub fingerprint: Fingerprint,
    /// The public key, which identifies the machine.
    pub key: MachineKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_key_round_trips_through_base64url() {
        let key = MachineKey::from_bytes([9; 32]);
        assert_eq!(MachineKey::parse(&key.to_string()), Ok(key));
    }

    #[test]
    fn a_short_machine_key_is_refused() {
        assert!(MachineKey::parse("AAAA").is_err());
        assert!(MachineKey::parse("not base64!").is_err());
    }

    #[test]
    fn a_fingerprint_must_be_long_enough() {
        assert!(Fingerprint::parse("abc").is_err());
        assert!(Fingerprint::parse("sha256:0123456789abcdef").is_ok());
    }
}
