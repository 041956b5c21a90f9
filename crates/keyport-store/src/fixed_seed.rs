//! Ids and ticket codes from a fixed seed, for the sandbox's golden files.
//!
//! `keyport sandbox --seed N` calls [`use_fixed_seed`] once at start: from then on every
//! id and ticket code a use case makes is derived from the seed, a stream and a counter, so
//! the same sequence of calls gives the same ids and codes on every run. The seeded catalog
//! draws from a stream of its own; [`restart_requests`] (after seeding, and at every reset)
//! starts the requests' stream at its beginning, so the ids an integrator sees depend only on
//! the integrator's own calls, not on how many draws seeding took.
//!
//! Secrets (keys, session tokens, salts, signing keys) always come from the operating system,
//! and so do the ids of background work (webhook deliveries, claims: see [`system_id`]), whose
//! timing no test controls. Outside the sandbox nothing calls this and ids are UUIDv7 from the
//! system's clock and randomness.
//!
//! It is process-wide because ids are made deep inside transactions, far from any handle;
//! one process serves one sandbox.

use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::{StoreError, StoreResult};

/// The time part of the first seeded id of the catalog's stream, in Unix milliseconds
/// (2026-01-01T00:00:00Z); each next id is a millisecond later, so seeded ids keep their
/// order. The requests' stream starts a day later: its ids sort after the catalog's.
const SEEDED_EPOCH_MS: u64 = 1_767_225_600_000;
const DAY_MS: u64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Catalog,
    Requests,
}

#[derive(Debug, Clone, Copy)]
struct Source {
    seed: u64,
    stream: Stream,
    next: u64,
}

static SOURCE: Mutex<Option<Source>> = Mutex::new(None);

fn source() -> std::sync::MutexGuard<'static, Option<Source>> {
    SOURCE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// From now on, ids and ticket codes of this process come from `seed` (the catalog's
/// stream first).
pub fn use_fixed_seed(seed: u64) {
    *source() = Some(Source { seed, stream: Stream::Catalog, next: 0 });
}

/// Starts the requests' stream at its beginning; nothing without a fixed seed.
pub fn restart_requests() {
    if let Some(s) = source().as_mut() {
        s.stream = Stream::Requests;
        s.next = 0;
    }
}

/// The next 32 seeded bytes, their number and the stream's first millisecond, if a seed
/// is fixed.
fn draw(purpose: &[u8]) -> Option<(u64, u64, [u8; 32])> {
    let mut guard = source();
    let s = guard.as_mut()?;
    let n = s.next;
    s.next += 1;
    let (tag, epoch): (&[u8], u64) = match s.stream {
        Stream::Catalog => (b"catalog", SEEDED_EPOCH_MS),
        Stream::Requests => (b"requests", SEEDED_EPOCH_MS + DAY_MS),
    };
    let digest = Sha256::new()
        .chain_update(b"keyport-sandbox\0")
        .chain_update(tag)
        .chain_update(purpose)
        .chain_update(s.seed.to_be_bytes())
        .chain_update(n.to_be_bytes())
        .finalize();
    Some((n, epoch, digest.into()))
}

/// A new time-ordered id: UUIDv7 from the clock and the system's randomness, or, with a
/// fixed seed, from the seed, the stream and the counter.
pub(crate) fn new_id() -> String {
    match draw(b"id") {
        Some((n, epoch, bytes)) => {
            let mut random = [0u8; 10];
            random.copy_from_slice(&bytes[..10]);
            uuid::Builder::from_unix_timestamp_millis(epoch + n, &random).into_uuid().to_string()
        }
        None => system_id(),
    }
}

/// An id for background work, never from the seed: UUIDv7 from the clock and the system's
/// randomness.
pub(crate) fn system_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Fills `buf` with the random part of a ticket code: from the system, or from the seed.
pub(crate) fn fill_ticket_bytes(buf: &mut [u8]) -> StoreResult<()> {
    match draw(b"ticket") {
        Some((_, _, bytes)) if buf.len() <= bytes.len() => {
            buf.copy_from_slice(&bytes[..buf.len()]);
            Ok(())
        }
        Some(_) | None => {
            getrandom::fill(buf).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))
        }
    }
}
