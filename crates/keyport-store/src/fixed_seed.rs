//! Ids and ticket codes from a fixed seed, for the sandbox's golden files.
//!
//! `keyport sandbox --seed N` calls [`use_fixed_seed`] once at start: from then on every
//! new id and ticket code of the process is derived from the seed and a counter, so the
//! same sequence of calls gives the same ids and codes on every run. Secrets (keys,
//! session tokens, salts, signing keys) always come from the operating system. Outside the
//! sandbox nothing calls this and ids are UUIDv7 from the system's clock and randomness.
//!
//! It is process-wide because ids are made deep inside transactions, far from any handle;
//! one process serves one sandbox.

use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::{StoreError, StoreResult};

/// The time part of the first seeded id, in Unix milliseconds (2026-01-01T00:00:00Z); each
/// next id is a millisecond later, so seeded ids keep their order.
const SEEDED_EPOCH_MS: u64 = 1_767_225_600_000;

#[derive(Debug, Clone, Copy)]
struct Source {
    seed: u64,
    next: u64,
}

static SOURCE: Mutex<Option<Source>> = Mutex::new(None);

fn source() -> std::sync::MutexGuard<'static, Option<Source>> {
    SOURCE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// From now on, ids and ticket codes of this process come from `seed`.
pub fn use_fixed_seed(seed: u64) {
    *source() = Some(Source { seed, next: 0 });
}

/// Where the seeded sequence stands (`None` without a fixed seed): the sandbox notes it
/// after seeding and rewinds to it on reset.
pub fn position() -> Option<u64> {
    source().map(|s| s.next)
}

/// Rewinds (or winds) the seeded sequence to `position`; nothing without a fixed seed.
pub fn rewind(position: u64) {
    if let Some(s) = source().as_mut() {
        s.next = position;
    }
}

/// The next 32 seeded bytes and their number, if a seed is fixed.
fn draw(purpose: &[u8]) -> Option<(u64, [u8; 32])> {
    let mut guard = source();
    let s = guard.as_mut()?;
    let n = s.next;
    s.next += 1;
    let digest = Sha256::new()
        .chain_update(b"keyport-sandbox\0")
        .chain_update(purpose)
        .chain_update(s.seed.to_be_bytes())
        .chain_update(n.to_be_bytes())
        .finalize();
    Some((n, digest.into()))
}

/// A new time-ordered id: UUIDv7 from the clock and the system's randomness, or, with a
/// fixed seed, from the seed and the counter.
pub(crate) fn new_id() -> String {
    match draw(b"id") {
        Some((n, bytes)) => {
            let mut random = [0u8; 10];
            random.copy_from_slice(&bytes[..10]);
            uuid::Builder::from_unix_timestamp_millis(SEEDED_EPOCH_MS + n, &random).into_uuid().to_string()
        }
        None => uuid::Uuid::now_v7().to_string(),
    }
}

/// Fills `buf` with the random part of a ticket code: from the system, or from the seed.
pub(crate) fn fill_ticket_bytes(buf: &mut [u8]) -> StoreResult<()> {
    match draw(b"ticket") {
        Some((_, bytes)) if buf.len() <= bytes.len() => {
            buf.copy_from_slice(&bytes[..buf.len()]);
            Ok(())
        }
        Some(_) | None => {
            getrandom::fill(buf).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))
        }
    }
}
