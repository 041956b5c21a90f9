//! Idempotency keys: a creating call sent again with the same `Idempotency-Key` by the same
//! caller gets the first answer again; the same key with another request is refused.
//!
//! The key is claimed before the call runs, in one transaction of its own: of two requests
//! with the same key arriving together, one claims it and runs, the other is told the key is
//! in use (or, once the first has answered, gets that answer). A claim whose request failed
//! is released, so a retry runs again; one left by a crashed instance expires.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use diesel::prelude::*;
use keyport_core::{CoreError, ErrorCode};

use crate::schema::idempotency_keys;
use crate::{Store, StoreResult, stored_time};

/// The status a claim holds while its request runs.
const RUNNING: i32 = 0;

/// How long a claim whose request never answered (a crash) blocks its key.
pub const ABANDONED_AFTER_SECONDS: i64 = 60;

/// An answer kept for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body as sent.
    pub body: String,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's now: run it, then [`Store::keep_answer`] or
    /// [`Store::release_claim`] with this claim's time (so a claim taken over after it was
    /// abandoned is not the old caller's to keep or release).
    Claimed(DateTime<Utc>),
    /// The key's request has answered: send this again.
    Answered(KeptAnswer),
}

impl Store {
    /// Claims (caller, key) for a request with `request_hash`. The same key with another
    /// request is `invalid_input`; a key whose request is still running is
    /// `idempotency_key_in_use`.
    pub fn claim_idempotency_key(
        &self,
        principal: &str,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Claim> {
        self.write(|conn| {
            let row: Option<(String, i32, String, chrono::NaiveDateTime)> = idempotency_keys::table
                .find((principal, key))
                .select((
                    idempotency_keys::request_hash,
                    idempotency_keys::status,
                    idempotency_keys::body,
                    idempotency_keys::created_at,
                ))
                .first(conn)
                .optional()?;
            let abandoned = stored_time(now - Duration::seconds(ABANDONED_AFTER_SECONDS));
            match row {
                Some((hash, _, _, _)) if hash != request_hash => Err(CoreError::invalid(
                    "Idempotency-Key",
                    "was used before with another request; use a new key for a new request",
                )
                .into()),
                Some((_, RUNNING, _, claimed_at)) if claimed_at > abandoned => {
                    Err(CoreError::new(ErrorCode::IdempotencyKeyInUse).into())
                }
                Some((_, RUNNING, _, _)) => {
                    // An abandoned claim is taken over by one caller only: the update repeats
                    // the conditions, so a racing caller's takeover makes this one change
                    // nothing.
                    let taken = diesel::update(
                        idempotency_keys::table
                            .find((principal, key))
                            .filter(idempotency_keys::status.eq(RUNNING))
                            .filter(idempotency_keys::created_at.le(abandoned)),
                    )
                    .set(idempotency_keys::created_at.eq(stored_time(now)))
                    .execute(conn)?;
                    match taken {
                        1 => Ok(Claim::Claimed(now.trunc_subsecs(6))),
                        _ => Err(CoreError::new(ErrorCode::IdempotencyKeyInUse).into()),
                    }
                }
                Some((_, status, body, _)) => {
                    let status = u16::try_from(status).map_err(|_| {
                        crate::StoreError::Corrupt(format!("idempotency key with status {status}"))
                    })?;
                    Ok(Claim::Answered(KeptAnswer { status, body }))
                }
                None => {
                    // A racing claim of the same key makes this insert fail with a unique
                    // violation; the write is then tried again and finds that claim.
                    diesel::insert_into(idempotency_keys::table)
                        .values((
                            idempotency_keys::principal.eq(principal),
                            idempotency_keys::key.eq(key),
                            idempotency_keys::request_hash.eq(request_hash),
                            idempotency_keys::status.eq(RUNNING),
                            idempotency_keys::body.eq(""),
                            idempotency_keys::created_at.eq(stored_time(now)),
                        ))
                        .execute(conn)?;
                    Ok(Claim::Claimed(now.trunc_subsecs(6)))
                }
            }
        })
    }

    /// Keeps the answer of the request that claimed (caller, key) at `claimed_at`.
    pub fn keep_answer(
        &self,
        principal: &str,
        key: &str,
        claimed_at: DateTime<Utc>,
        answer: &KeptAnswer,
    ) -> StoreResult<()> {
        self.write(|conn| {
            diesel::update(
                idempotency_keys::table
                    .find((principal, key))
                    .filter(idempotency_keys::status.eq(RUNNING))
                    .filter(idempotency_keys::created_at.eq(stored_time(claimed_at))),
            )
            .set((
                idempotency_keys::status.eq(i32::from(answer.status)),
                idempotency_keys::body.eq(&answer.body),
            ))
            .execute(conn)?;
            Ok(())
        })
    }

    /// Releases the claim (made at `claimed_at`) of a request that failed, so that a retry
    /// runs again.
    pub fn release_claim(&self, principal: &str, key: &str, claimed_at: DateTime<Utc>) -> StoreResult<()> {
        self.write(|conn| {
            diesel::delete(
                idempotency_keys::table
                    .find((principal, key))
                    .filter(idempotency_keys::status.eq(RUNNING))
                    .filter(idempotency_keys::created_at.eq(stored_time(claimed_at))),
            )
            .execute(conn)?;
            Ok(())
        })
    }
}
