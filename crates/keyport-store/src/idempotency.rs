//! Idempotency keys: a creating call sent again with the same `Idempotency-Key` by the same
//! caller gets the first answer again; the same key with another request is refused.

use diesel::prelude::*;
use keyport_core::CoreError;

use crate::schema::idempotency_keys;
use crate::{Store, StoreResult, stored_time};

/// An answer kept for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body as sent.
    pub body: String,
}

impl Store {
    /// The answer kept for (caller, key), if any. A key seen with another request is
    /// `invalid_input`.
    pub fn kept_answer(
        &self,
        principal: &str,
        key: &str,
        request_hash: &str,
    ) -> StoreResult<Option<KeptAnswer>> {
        self.read(|conn| {
            let row: Option<(String, i32, String)> = idempotency_keys::table
                .find((principal, key))
                .select((idempotency_keys::request_hash, idempotency_keys::status, idempotency_keys::body))
                .first(conn)
                .optional()?;
            match row {
                None => Ok(None),
                Some((hash, _, _)) if hash != request_hash => Err(CoreError::invalid(
                    "Idempotency-Key",
                    "was used before with another request; use a new key for a new request",
                )
                .into()),
                Some((_, status, body)) => {
                    Ok(Some(KeptAnswer { status: u16::try_from(status).unwrap_or(500), body }))
                }
            }
        })
    }

    /// Keeps the answer to a request for its key (the first answer wins).
    pub fn keep_answer(
        &self,
        principal: &str,
        key: &str,
        request_hash: &str,
        answer: &KeptAnswer,
    ) -> StoreResult<()> {
        self.write(|conn| {
            let exists: i64 = idempotency_keys::table.find((principal, key)).count().get_result(conn)?;
            if exists > 0 {
                return Ok(());
            }
            diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::principal.eq(principal),
                    idempotency_keys::key.eq(key),
                    idempotency_keys::request_hash.eq(request_hash),
                    idempotency_keys::status.eq(i32::from(answer.status)),
                    idempotency_keys::body.eq(&answer.body),
                    idempotency_keys::created_at.eq(stored_time(chrono::Utc::now())),
                ))
                .execute(conn)?;
            Ok(())
        })
    }
}
