//! Password hashing: Argon2id, m = 19 MiB, t = 2, p = 1 (OWASP's baseline), PHC strings.
//!
//! Each hash or check takes 19 MiB for its duration, so at most one per core runs at once
//! (the [`GATE`]); the rest queue for up to [`QUEUE_WAIT`] and are then answered
//! `unavailable` (503 with Retry-After). A storm of logins costs time, not memory.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use std::sync::{Condvar, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use keyport_core::{CoreError, ErrorCode, Password};

use crate::StoreError;

/// Memory cost in KiB.
pub const M_COST: u32 = 19_456;
/// Iterations.
pub const T_COST: u32 = 2;
/// Parallelism.
pub const P_COST: u32 = 1;

/// How long a password operation waits for its turn before it is refused.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// At most this many password operations run at once in this process: one per core.
static GATE: LazyLock<Gate> = LazyLock::new(|| {
    Gate::new(std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(2))
});

/// A counting semaphore for blocking threads.
struct Gate {
    free: Mutex<usize>,
    turn: Condvar,
}

/// A turn through the gate, given back when dropped.
struct Turn<'a>(&'a Gate);

impl Gate {
    fn new(size: usize) -> Gate {
        Gate { free: Mutex::new(size.max(1)), turn: Condvar::new() }
    }

    fn enter(&self, wait: Duration) -> Result<Turn<'_>, StoreError> {
        let free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut free, timeout) = self
            .turn
            .wait_timeout_while(free, wait, |free| *free == 0)
            .unwrap_or_else(PoisonError::into_inner);
        if timeout.timed_out() && *free == 0 {
            tracing::warn!(waited_ms = wait.as_millis(), "password hashing is saturated; refusing");
            return Err(CoreError::new(ErrorCode::Unavailable).into());
        }
        *free -= 1;
        Ok(Turn(self))
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.turn.notify_one();
    }
}

fn hasher() -> Result<Argon2<'static>, StoreError> {
    let params = Params::new(M_COST, T_COST, P_COST, None)
        .map_err(|e| StoreError::Corrupt(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with a fresh random salt.
pub(crate) fn hash(password: &Password) -> Result<String, StoreError> {
    let _turn = GATE.enter(QUEUE_WAIT)?;
    let hashed = hasher()?
        .hash_password(password.expose().as_bytes())
        .map_err(|e| StoreError::Corrupt(format!("password hashing failed: {e}")))?;
    Ok(hashed.to_string())
}

/// Whether `password` matches the stored PHC string (with the parameters it was made with).
pub(crate) fn verify(password: &str, stored: &str) -> Result<bool, StoreError> {
    let _turn = GATE.enter(QUEUE_WAIT)?;
    Ok(match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    })
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
pub(crate) fn burn_time(password: &str) -> Result<(), StoreError> {
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vdd5CJgNMh6QZrUEGIrOUXkCCeYkpXnjEvsZ5g6vQAU";
    verify(password, DUMMY).map(drop)
}
