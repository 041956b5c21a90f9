//! License certificates: what the ISV's software verifies offline, and the JWKS (RFC 8037)
//! that publishes the keys they are signed with.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{CoreError, ErrorCode};
use crate::jws::{self, Unverified};

/// The `typ` of a license certificate.
pub const CERTIFICATE_TYPE: &str = "keyport-license+jwt";
/// The issuer of every certificate.
pub const ISSUER: &str = "keyport";

/// The major versions a certificate entitles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionClaim {
    /// The lowest.
    pub min: u32,
    /// The highest, if bounded.
    pub max: Option<u32>,
}

/// The machine a certificate is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineClaim {
    /// The machine's fingerprint.
    pub fingerprint: String,
    /// The machine's public key (unpadded base64url).
    pub key: String,
}

/// The claims of a license certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateClaims {
    /// Always `keyport`.
    pub iss: String,
    /// The license id.
    pub sub: Uuid,
    /// The activation id (unique per certificate holder).
    pub jti: Uuid,
    /// Issued at (seconds since 1970).
    pub iat: i64,
    /// Expires at (seconds since 1970), where the license expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// The item's article number.
    pub item: String,
    /// The product's code.
    pub product: String,
    /// The features unlocked.
    pub features: Vec<String>,
    /// The major versions entitled.
    pub versions: VersionClaim,
    /// The machine it is bound to.
    pub machine: MachineClaim,
    /// The software must check in before this time (seconds since 1970), where the rule
    /// set asks for check-ins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkin_until: Option<i64>,
    /// What the license's owner earned in the bonus program (e.g. `exclusive-content`),
    /// sorted; absent when nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
}

/// What a certificate is issued for: the license and its activation on one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    /// The license.
    pub license_id: Uuid,
    /// The activation (one per machine that holds the license).
    pub activation_id: Uuid,
    /// When the license ends, if it does.
    pub license_expires_at: Option<DateTime<Utc>>,
    /// The item's article number.
    pub sku: String,
    /// The product's code.
    pub product: String,
    /// The features unlocked.
    pub features: Vec<String>,
    /// The major versions entitled.
    pub versions: crate::VersionRange,
    /// The machine it is bound to: its key and the fingerprint of its hardware.
    pub machine: MachineClaim,
    /// The bonus entitlements of the license's owner, sorted.
    pub bonus: Vec<String>,
}

/// Until when a certificate issued at `now` lets the software run without checking in:
/// the check-in interval plus its grace, where the rule set asks for check-ins.
pub fn checkin_lease(rules: &crate::RuleSetParams, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    rules
        .checkin_interval_days
        .map(|days| now + chrono::Duration::days(i64::from(days) + i64::from(rules.checkin_grace_days)))
}

/// The check-in lease of a certificate issued at `now` that ends at `end` (if it does): the
/// lease, never reaching past the certificate's end.
pub fn lease_until(
    rules: &crate::RuleSetParams,
    now: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    checkin_lease(rules, now).map(|lease| end.map_or(lease, |end| lease.min(end)))
}

/// The claims of the certificate for an entitlement issued at `now` under `rules`.
pub fn claims(
    entitlement: &Entitlement,
    rules: &crate::RuleSetParams,
    now: DateTime<Utc>,
) -> CertificateClaims {
    CertificateClaims {
        iss: ISSUER.to_owned(),
        sub: entitlement.license_id,
        jti: entitlement.activation_id,
        iat: now.timestamp(),
        exp: entitlement.license_expires_at.map(|t| t.timestamp()),
        item: entitlement.sku.clone(),
        product: entitlement.product.clone(),
        features: entitlement.features.clone(),
        versions: VersionClaim {
            min: entitlement.versions.min_major(),
            max: entitlement.versions.max_major(),
        },
        machine: entitlement.machine.clone(),
        checkin_until: lease_until(rules, now, entitlement.license_expires_at).map(|t| t.timestamp()),
        entitlements: entitlement.bonus.clone(),
    }
}

/// Signs certificate claims with a server key.
pub fn sign(claims: &CertificateClaims, kid: &str, seed: &[u8; 32]) -> Result<String, CoreError> {
    jws::sign(claims, CERTIFICATE_TYPE, Some(kid), seed)
}

/// One public key in a JWKS (RFC 8037 `OKP` / `Ed25519`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwk {
    /// Always `OKP`.
    pub kty: String,
    /// Always `Ed25519`.
    pub crv: String,
    /// The public key, unpadded base64url.
    pub x: String,
    /// The key id certificates name in their header.
    pub kid: String,
    /// Always `EdDSA`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub usage: String,
}

impl Jwk {
    /// The JWK of an Ed25519 public key.
    pub fn ed25519(kid: &str, public_key: &[u8; 32]) -> Jwk {
        Jwk {
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            x: URL_SAFE_NO_PAD.encode(public_key),
            kid: kid.to_owned(),
            alg: "EdDSA".to_owned(),
            usage: "sig".to_owned(),
        }
    }

    fn key(&self) -> Option<[u8; 32]> {
        if self.kty != "OKP" || self.crv != "Ed25519" {
            return None;
        }
        URL_SAFE_NO_PAD.decode(&self.x).ok()?.try_into().ok()
    }
}

/// A JSON Web Key Set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwks {
    /// The keys, newest first.
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// The Ed25519 public key with this key id, if the set has it.
    pub fn key(&self, kid: &str) -> Option<[u8; 32]> {
        self.keys.iter().find(|k| k.kid == kid).and_then(Jwk::key)
    }
}

fn invalid(reason: impl std::fmt::Display) -> CoreError {
    CoreError::new(ErrorCode::CertificateInvalid).with("reason", reason)
}

/// Verifies a certificate against a JWKS at `now`: the signature by a known key, the issuer,
/// the expiry and the check-in lease. Each refusal says why in words.
pub fn verify(text: &str, jwks: &Jwks, now: DateTime<Utc>) -> Result<CertificateClaims, CoreError> {
    let unverified = Unverified::parse(text).map_err(|e| invalid(e.message(crate::Lang::En)))?;
    if unverified.header.typ != CERTIFICATE_TYPE {
        return Err(invalid("it is not a license certificate"));
    }
    let kid = unverified.header.kid.clone().unwrap_or_default();
    let key = jwks
        .keys
        .iter()
        .find(|k| k.kid == kid)
        .and_then(Jwk::key)
        .ok_or_else(|| invalid(format!("it is signed by an unknown key '{kid}'")))?;
    let claims: CertificateClaims = unverified
        .verify(&key)
        .map_err(|_| invalid("the signature does not match: the certificate was changed or forged"))?;
    if claims.iss != ISSUER {
        return Err(invalid("it was not issued by Keyport"));
    }
    let now_s = now.timestamp();
    if let Some(exp) = claims.exp.filter(|exp| *exp <= now_s) {
        return Err(invalid(format!("it expired on {}", day(exp))));
    }
    if let Some(until) = claims.checkin_until.filter(|until| *until <= now_s) {
        return Err(invalid(format!(
            "the software had to check in by {}; connect and activate again",
            day(until)
        )));
    }
    Ok(claims)
}

/// Checks that verified claims belong to this machine.
pub fn check_machine(
    claims: &CertificateClaims,
    fingerprint: &str,
    machine_key: &str,
) -> Result<(), CoreError> {
    if claims.machine.key != machine_key || claims.machine.fingerprint != fingerprint {
        return Err(invalid("it belongs to another machine"));
    }
    Ok(())
}

fn day(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    mod lease {
        use proptest::prelude::*;

        use super::super::checkin_lease;
        use crate::rules::tests::standard;

        proptest! {
            #[test]
            fn a_lease_exists_exactly_when_check_ins_are_asked_for_and_lasts_interval_plus_grace(
                interval in proptest::option::of(1u32..3650),
                grace in 0u32..3650,
                at in 0i64..4_000_000_000,
            ) {
                let now = chrono::DateTime::from_timestamp(at, 0).unwrap_or_default();
                let rules = crate::RuleSetParams { checkin_interval_days: interval, checkin_grace_days: grace, ..standard() };
                let lease = checkin_lease(&rules, now);
                prop_assert_eq!(lease.is_some(), interval.is_some());
                if let (Some(lease), Some(days)) = (lease, interval) {
                    prop_assert_eq!((lease - now).num_days(), i64::from(days) + i64::from(grace));
                }
            }
        }
    }
    use chrono::TimeZone;

    fn claims(exp: Option<i64>) -> CertificateClaims {
        CertificateClaims {
            iss: ISSUER.to_owned(),
            sub: Uuid::nil(),
            jti: Uuid::max(),
            iat: 1_800_000_000,
            exp,
            item: "CAD-5".to_owned(),
            product: "cad".to_owned(),
            features: vec!["export".to_owned()],
            versions: VersionClaim { min: 5, max: Some(5) },
            machine: MachineClaim { fingerprint: "fp-0123456789abcdef".to_owned(), key: "key".to_owned() },
            checkin_until: None,
            entitlements: Vec::new(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_100, 0).single().unwrap_or_default()
    }

    fn jwks(kid: &str, seed: &[u8; 32]) -> Jwks {
        Jwks { keys: vec![Jwk::ed25519(kid, &crate::jws::public_key(seed))] }
    }

    fn reason(result: Result<CertificateClaims, CoreError>) -> String {
        result.err().map(|e| e.message(crate::Lang::En)).unwrap_or_default()
    }

    #[test]
    fn a_certificate_verifies_with_the_published_key() {
        let token = sign(&claims(None), "k1", &[1; 32]).unwrap_or_default();
        assert_eq!(verify(&token, &jwks("k1", &[1; 32]), now()), Ok(claims(None)));
    }

    #[test]
    fn a_certificate_of_an_unknown_key_is_refused_by_name() {
        let token = sign(&claims(None), "k9", &[1; 32]).unwrap_or_default();
        assert_eq!(
            reason(verify(&token, &jwks("k1", &[1; 32]), now())),
            "The license certificate is not valid: it is signed by an unknown key 'k9'."
        );
    }

    #[test]
    fn a_forged_certificate_is_refused() {
        let token = sign(&claims(None), "k1", &[2; 32]).unwrap_or_default();
        assert!(reason(verify(&token, &jwks("k1", &[1; 32]), now())).contains("changed or forged"));
    }

    #[test]
    fn an_expired_certificate_is_refused_with_its_date() {
        let token = sign(&claims(Some(1_800_000_000)), "k1", &[1; 32]).unwrap_or_default();
        assert!(reason(verify(&token, &jwks("k1", &[1; 32]), now())).ends_with("it expired on 2027-01-15."));
    }

    #[test]
    fn a_certificate_for_another_machine_is_refused() {
        let c = claims(None);
        assert!(check_machine(&c, "fp-0123456789abcdef", "key").is_ok());
        assert!(check_machine(&c, "fp-0123456789abcdef", "other").is_err());
    }
}
