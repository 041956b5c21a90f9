//! Compact JWS (RFC 7515) with EdDSA over Ed25519 (RFC 8037): the one signature format of
//! Keyport. License certificates are signed by the server's key; activation requests,
//! receipts and deactivation proofs by the machine's key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::error::{CoreError, ErrorCode};

/// A JWS protected header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwsHeader {
    /// Always `EdDSA`.
    pub alg: String,
    /// What the payload is, e.g. `keyport-license+jwt`.
    pub typ: String,
    /// The signing key's id (server keys only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

/// Signs `claims` as a compact JWS.
pub fn sign<T: Serialize>(
    claims: &T,
    typ: &str,
    kid: Option<&str>,
    seed: &[u8; 32],
) -> Result<String, CoreError> {
    let header = JwsHeader { alg: "EdDSA".to_owned(), typ: typ.to_owned(), kid: kid.map(str::to_owned) };
    let header = serde_json::to_vec(&header).map_err(|e| malformed(&e))?;
    let payload = serde_json::to_vec(claims).map_err(|e| malformed(&e))?;
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let signature = SigningKey::from_bytes(seed).sign(input.as_bytes());
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes())))
}

/// The public key of a 32-byte Ed25519 seed.
pub fn public_key(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// A JWS split into its parts, before its signature is checked.
#[derive(Debug, Clone)]
pub struct Unverified {
    /// The header.
    pub header: JwsHeader,
    input: String,
    payload: Vec<u8>,
    signature: [u8; 64],
}

fn malformed(reason: &dyn std::fmt::Display) -> CoreError {
    CoreError::new(ErrorCode::SignatureInvalid)
        .with("reason", format!("it is not a readable signed document ({reason})"))
}

impl Unverified {
    /// Splits a compact JWS (whitespace anywhere is ignored) and reads its header.
    pub fn parse(text: &str) -> Result<Unverified, CoreError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let mut parts = compact.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed(&"it needs three parts separated by dots"));
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|e| malformed(&e));
        let header: JwsHeader = serde_json::from_slice(&decode(h)?).map_err(|e| malformed(&e))?;
        if header.alg != "EdDSA" {
            return Err(CoreError::new(ErrorCode::SignatureInvalid)
                .with("reason", format!("the algorithm '{}' is not accepted; only EdDSA is", header.alg)));
        }
        let signature: [u8; 64] =
            decode(s)?.try_into().map_err(|_| malformed(&"the signature is not 64 bytes"))?;
        Ok(Unverified { header, input: format!("{h}.{p}"), payload: decode(p)?, signature })
    }

    /// The payload, unverified: only to find which key must verify it.
    pub fn peek<T: DeserializeOwned>(&self) -> Result<T, CoreError> {
        serde_json::from_slice(&self.payload).map_err(|e| malformed(&e))
    }

    /// Checks the signature with a public key and returns the payload.
    pub fn verify<T: DeserializeOwned>(&self, public_key: &[u8; 32]) -> Result<T, CoreError> {
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| {
            CoreError::new(ErrorCode::SignatureInvalid)
                .with("reason", "the public key is not a valid Ed25519 key")
        })?;
        key.verify_strict(self.input.as_bytes(), &Signature::from_bytes(&self.signature)).map_err(|_| {
            CoreError::new(ErrorCode::SignatureInvalid).with(
                "reason",
                "the signature does not match: the document was changed or signed by another key",
            )
        })?;
        self.peek()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn a_signed_document_verifies_with_its_key_only() {
        let seed = [7u8; 32];
        let token = sign(&json!({"a": 1}), "test", Some("k1"), &seed).unwrap_or_default();
        let parsed = Unverified::parse(&token).ok();
        let value: Option<Value> = parsed.as_ref().and_then(|p| p.verify(&public_key(&seed)).ok());
        assert_eq!(value, Some(json!({"a": 1})));
        assert_eq!(parsed.as_ref().map(|p| p.header.kid.clone()), Some(Some("k1".to_owned())));
        let other = parsed.and_then(|p| p.verify::<Value>(&public_key(&[8u8; 32])).err());
        assert_eq!(other.map(|e| e.code()), Some(ErrorCode::SignatureInvalid));
    }

    #[test]
    fn a_changed_payload_is_refused() {
        let seed = [7u8; 32];
        let token = sign(&json!({"seats": 1}), "test", None, &seed).unwrap_or_default();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(br#"{"seats":99}"#), parts[2]);
        let result = Unverified::parse(&forged).and_then(|p| p.verify::<Value>(&public_key(&seed)));
        assert_eq!(result.err().map(|e| e.code()), Some(ErrorCode::SignatureInvalid));
    }

    #[test]
    fn alg_none_is_refused_before_anything_else() {
        let token = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"x"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"a":1}"#)
        );
        let err = Unverified::parse(&token).err().map(|e| e.message(crate::Lang::En));
        assert_eq!(
            err.as_deref(),
            Some("The signature is not valid: the algorithm 'none' is not accepted; only EdDSA is.")
        );
    }
}
