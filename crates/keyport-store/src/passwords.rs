//! Password hashing: Argon2id, m = 19 MiB, t = 2, p = 1 (OWASP's baseline), PHC strings.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use keyport_core::Password;

use crate::StoreError;

/// Memory cost in KiB.
pub const M_COST: u32 = 19_456;
/// Iterations.
pub const T_COST: u32 = 2;
/// Parallelism.
pub const P_COST: u32 = 1;

fn hasher() -> Result<Argon2<'static>, StoreError> {
    let params = Params::new(M_COST, T_COST, P_COST, None)
        .map_err(|e| StoreError::Corrupt(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with a fresh random salt.
pub(crate) fn hash(password: &Password) -> Result<String, StoreError> {
    let hashed = hasher()?
        .hash_password(password.expose().as_bytes())
        .map_err(|e| StoreError::Corrupt(format!("password hashing failed: {e}")))?;
    Ok(hashed.to_string())
}

/// Whether `password` matches the stored PHC string (with the parameters it was made with).
pub(crate) fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Whether a stored hash was made with other parameters than today's (it is then
/// replaced at the next successful login).
pub(crate) fn needs_rehash(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return true };
    if parsed.algorithm.as_str() != Algorithm::Argon2id.as_str() {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(p) => p.m_cost() != M_COST || p.t_cost() != T_COST || p.p_cost() != P_COST,
        Err(_) => true,
    }
}

/// Spends the time of one verification, so an unknown address answers as slowly as a
/// wrong password.
pub(crate) fn burn_time(password: &str) {
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vdd5CJgNMh6QZrUEGIrOUXkCCeYkpXnjEvsZ5g6vQAU";
    let _ = verify(password, DUMMY);
}
