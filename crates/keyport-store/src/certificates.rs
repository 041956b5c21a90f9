//! Signing keys (kept in the database, so every instance signs with the same current key and
//! verifies with all of them) and the license certificates they sign.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use keyport_core::certificate::{self, Entitlement, Jwk, Jwks, MachineClaim};
use keyport_core::files::{FileKind, armor};
use keyport_core::{EventKind, jws};
use serde_json::json;

use crate::catalog::features_of;
use crate::db::DbConn;
use crate::events::{Subject, append};
use crate::licenses::Loaded;
use crate::rows::{ActivationRow, MachineRow};
use crate::schema::signing_keys;
use crate::{Context, Store, StoreError, StoreResult, stored_time, uuid_of};

fn new_key(conn: &mut DbConn, now: DateTime<Utc>) -> StoreResult<(String, [u8; 32])> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    let public = jws::public_key(&seed);
    let kid = format!("{}-{}", now.format("%Y%m%d"), &hex::encode(public)[..8]);
    diesel::update(signing_keys::table).set(signing_keys::is_current.eq(false)).execute(conn)?;
    diesel::insert_into(signing_keys::table)
        .values((
            signing_keys::kid.eq(&kid),
            signing_keys::seed.eq(hex::encode(seed)),
            signing_keys::public_key.eq(hex::encode(public)),
            signing_keys::is_current.eq(true),
            signing_keys::created_at.eq(stored_time(now)),
        ))
        .execute(conn)?;
    Ok((kid, seed))
}

fn seed_of(hex_seed: &str) -> StoreResult<[u8; 32]> {
    hex::decode(hex_seed)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| StoreError::Corrupt("a signing key is not 32 bytes".to_owned()))
}

/// A signing key: its id and seed.
pub(crate) type SigningKey = (String, [u8; 32]);

/// How long the check-in path signs with the key it read last, before reading the current
/// one again: after a rotation by another instance, check-ins here sign with the previous
/// key for at most this long (the JWKS lists both, so every certificate verifies).
pub(crate) const SIGNING_KEY_CACHE: std::time::Duration = std::time::Duration::from_secs(60);

/// The signing key as last read, and a generation a rotation on this instance moves on, so a
/// lookup that read the old key before the rotation cannot keep it afterwards.
#[derive(Default)]
pub(crate) struct KeyCache {
    key: Option<(SigningKey, std::time::Instant)>,
    generation: u64,
}

impl KeyCache {
    /// Forgets the key, as a rotation does: a lookup in flight cannot store what it read.
    pub(crate) fn forget(&mut self) {
        self.key = None;
        self.generation += 1;
    }
}

/// The current signing key, if there is one (reads only).
pub(crate) fn find_current_key(conn: &mut DbConn) -> StoreResult<Option<SigningKey>> {
    let found: Option<(String, String)> = signing_keys::table
        .filter(signing_keys::is_current.eq(true))
        .select((signing_keys::kid, signing_keys::seed))
        .first(conn)
        .optional()?;
    found.map(|(kid, seed)| Ok((kid, seed_of(&seed)?))).transpose()
}

/// The current signing key (id and seed), created on first use.
pub(crate) fn current_key(conn: &mut DbConn, now: DateTime<Utc>) -> StoreResult<SigningKey> {
    match find_current_key(conn)? {
        Some(key) => Ok(key),
        None => new_key(conn, now),
    }
}

/// Signs the certificate of an activation, armored as a certificate file.
pub(crate) fn issue(
    conn: &mut DbConn,
    loaded: &Loaded,
    activation: &ActivationRow,
    machine: &MachineRow,
    now: DateTime<Utc>,
) -> StoreResult<String> {
    let key = current_key(conn, now)?;
    let bonus = crate::bonus::entitlements_of(conn, loaded.ticket.customer_id.as_deref())?;
    sign_with(&key, loaded, activation, machine, &bonus, now)
}

/// Signs the certificate of an activation with `key`, without the database.
pub(crate) fn sign_with(
    (kid, seed): &SigningKey,
    loaded: &Loaded,
    activation: &ActivationRow,
    machine: &MachineRow,
    bonus: &[String],
    now: DateTime<Utc>,
) -> StoreResult<String> {
    let entitlement = Entitlement {
        license_id: uuid_of(&loaded.license.id)?,
        activation_id: uuid_of(&activation.id)?,
        // An emergency license's certificate ends with it.
        license_expires_at: keyport_core::license::certificate_end(
            loaded.license.expires_at.map(|t| t.and_utc()),
            crate::licenses::emergency_end(activation),
        ),
        sku: loaded.item.sku.clone(),
        product: loaded.product_code.clone(),
        features: features_of(&loaded.item)?,
        versions: crate::catalog::versions_of(&loaded.item)?,
        // The hardware the activation was made for (the machine row keeps the first seen).
        machine: MachineClaim {
            fingerprint: activation.fingerprint.clone().unwrap_or_else(|| machine.fingerprint.clone()),
            key: machine.public_key.clone(),
        },
        bonus: bonus.to_vec(),
    };
    let claims = certificate::claims(&entitlement, loaded.rules()?.params(), now);
    let signed = certificate::sign(&claims, kid, seed)?;
    metrics::counter!("keyport_certificates_signed_total").increment(1);
    Ok(armor(FileKind::Certificate, &signed))
}

impl Store {
    /// Makes sure a current signing key exists (the first start creates one).
    pub fn ensure_signing_key(&self) -> StoreResult<()> {
        let now = self.now();
        self.write(|conn| current_key(conn, now).map(drop))
    }

    /// The current signing key for the check-in path: as read within the last
    /// [`SIGNING_KEY_CACHE`], else read now (and created, on a database that has none yet).
    pub(crate) fn cached_signing_key(&self, now: DateTime<Utc>) -> StoreResult<SigningKey> {
        let lock = || self.signing_key.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let generation = {
            let cache = lock();
            let fresh = cache.key.as_ref().filter(|(_, at)| at.elapsed() < SIGNING_KEY_CACHE);
            if let Some((key, _)) = fresh {
                return Ok(key.clone());
            }
            cache.generation
        };
        let key = match self.read_each(find_current_key)? {
            Some(key) => key,
            None => self.write(|conn| current_key(conn, now))?,
        };
        let mut cache = lock();
        if cache.generation == generation {
            cache.key = Some((key.clone(), std::time::Instant::now()));
        }
        Ok(key)
    }

    /// Adds a new current signing key; certificates signed with older keys still verify.
    /// Returns the new key's id.
    pub fn rotate_signing_key(&self, ctx: &Context) -> StoreResult<String> {
        let rotated = self.write(|conn| {
            let (kid, _) = new_key(conn, ctx.now)?;
            append(
                conn,
                ctx,
                EventKind::SigningKeyRotated,
                Subject::of("signing_key", &kid),
                json!({"kid": kid}),
            )?;
            Ok(kid)
        });
        // This instance signs with the new key from now on.
        let mut cache = self.signing_key.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.key = None;
        cache.generation += 1;
        drop(cache);
        rotated
    }

    /// Every public key, newest first, as a JWKS.
    pub fn jwks(&self) -> StoreResult<Jwks> {
        self.read(|conn| {
            let rows: Vec<(String, String)> = signing_keys::table
                .order(signing_keys::created_at.desc())
                .select((signing_keys::kid, signing_keys::public_key))
                .load(conn)?;
            let keys = rows
                .into_iter()
                .map(|(kid, public)| {
                    let key: [u8; 32] = hex::decode(&public)
                        .ok()
                        .and_then(|b| b.try_into().ok())
                        .ok_or_else(|| StoreError::Corrupt(format!("public key {kid}")))?;
                    Ok(Jwk::ed25519(&kid, &key))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Jwks { keys })
        })
    }
}
