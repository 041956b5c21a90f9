//! Single sign-on: the ISV's portal exchanges its own user token (a JWT signed RS256, ES256,
//! EdDSA or HS256) for a Keyport session. Each trusted issuer is configured with its
//! audience, the algorithms it may use, and its keys (a JWKS, or a shared secret).

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keyport_core::{CoreError, ErrorCode, SsoSubject};
use serde::Deserialize;

/// A trusted identity provider.
#[derive(Clone)]
pub struct Issuer {
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// The `aud` its tokens must carry.
    pub audience: String,
    /// The algorithms it may sign with.
    pub algorithms: Vec<Algorithm>,
    /// Its keys: (key id, algorithm family key).
    pub keys: Vec<(Option<String>, DecodingKey)>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// An issuer whose keys come from a JWKS document.
    pub fn with_jwks(
        issuer: &str,
        audience: &str,
        algorithms: Vec<Algorithm>,
        jwks: &str,
    ) -> Result<Issuer, String> {
        let set: JwkSet =
            serde_json::from_str(jwks).map_err(|e| format!("{issuer}: the JWKS cannot be read: {e}"))?;
        let keys = set
            .keys
            .iter()
            .map(|jwk| {
                DecodingKey::from_jwk(jwk)
                    .map(|key| (jwk.common.key_id.clone(), key))
                    .map_err(|e| format!("{issuer}: a JWKS key cannot be used: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Issuer { issuer: issuer.to_owned(), audience: audience.to_owned(), algorithms, keys })
    }

    /// An issuer that signs with a shared secret (HS256).
    pub fn with_secret(issuer: &str, audience: &str, secret: &[u8]) -> Issuer {
        Issuer {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            algorithms: vec![Algorithm::HS256],
            keys: vec![(None, DecodingKey::from_secret(secret))],
        }
    }
}

/// The identity a verified token vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoIdentity {
    /// The issuer.
    pub issuer: String,
    /// The user's id at the issuer (checked: it is stored in a unique index).
    pub subject: SsoSubject,
    /// The e-mail address, if the issuer says it is verified.
    pub verified_email: Option<String>,
    /// The display name, if given.
    pub name: Option<String>,
}

impl SsoIdentity {
    /// The verified e-mail address (if the issuer vouches for one) and the display name to
    /// log in with: the first of name claim, e-mail address and subject that makes one.
    pub fn login_facts(&self) -> Result<(Option<keyport_core::Email>, keyport_core::DisplayName), CoreError> {
        use keyport_core::{DisplayName, Email};
        let email = self.verified_email.as_deref().map(Email::parse).transpose()?;
        let name = [self.name.clone(), email.as_ref().map(ToString::to_string)]
            .into_iter()
            .flatten()
            .find_map(|shown| DisplayName::parse(&shown).ok())
            .map_or_else(|| DisplayName::parse(self.subject.as_str()), Ok)?;
        Ok((email, name))
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
}

fn refused(reason: impl std::fmt::Display) -> CoreError {
    CoreError::new(ErrorCode::SsoTokenInvalid).with("reason", reason)
}

/// The `iss` claim before verification, to pick the issuer's keys.
fn claimed_issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value["iss"].as_str().map(str::to_owned)
}

/// Verifies a token against the trusted issuers.
pub fn verify(token: &str, issuers: &[Issuer]) -> Result<SsoIdentity, CoreError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| refused("it is not a JWT"))?;
    let claimed = claimed_issuer(token).ok_or_else(|| refused("it names no issuer"))?;
    let mut last = refused("the issuer is not trusted");
    for issuer in issuers.iter().filter(|i| i.issuer == claimed) {
        if !issuer.algorithms.contains(&header.alg) {
            last = refused(format!("the algorithm {:?} is not allowed", header.alg));
            continue;
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&issuer.issuer]);
        validation.set_audience(&[&issuer.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        let keys =
            issuer.keys.iter().filter(|(kid, _)| header.kid.is_none() || kid.is_none() || *kid == header.kid);
        for (_, key) in keys {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => {
                    let c = data.claims;
                    // A verified token still carries the issuer's text: it is checked like
                    // any input before it reaches the database.
                    let subject =
                        SsoSubject::parse(&c.sub).map_err(|_| refused("the subject claim is not usable"))?;
                    return Ok(SsoIdentity {
                        issuer: c.iss,
                        subject,
                        verified_email: c.email.filter(|_| c.email_verified.unwrap_or(false)),
                        name: c.name,
                    });
                }
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind;
                    last = refused(match e.kind() {
                        ErrorKind::ExpiredSignature => "it has expired".to_owned(),
                        ErrorKind::InvalidIssuer => "the issuer is not trusted".to_owned(),
                        ErrorKind::InvalidAudience => "it is meant for another audience".to_owned(),
                        ErrorKind::InvalidSignature => "the signature does not match".to_owned(),
                        ErrorKind::InvalidAlgorithm => "the algorithm does not fit the key".to_owned(),
                        ErrorKind::MissingRequiredClaim(claim) => format!("the claim {claim} is missing"),
                        other => format!("it cannot be verified ({other:?})"),
                    });
                }
            }
        }
    }
    Err(last)
}
