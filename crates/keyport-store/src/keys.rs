//! API keys: created once (the plain key is shown only then), stored as a SHA-256 hash, and
//! checked on every request. Keys carry 192 random bits, so a fast hash is safe and keeps the
//! check off the hot path's budget.

use diesel::prelude::*;
use keyport_core::{CoreError, DisplayName, ErrorCode, EventKind, Role};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::events::{Subject, append};
use crate::rows::ApiKeyRow;
use crate::schema::api_keys;
use crate::{Context, Store, StoreError, StoreResult, new_id, stored_time, utc, uuid_of};

/// Every key starts with this, so a leaked key is easy to recognize in logs and scanners.
pub const KEY_PREFIX: &str = "kp_";

/// An API key as stored (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyView {
    /// Its id (recorded as the actor of its changes).
    pub id: Uuid,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A key just created: the plain key, to be shown once, and what is stored.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The plain key. It is not stored and cannot be shown again.
    pub key: String,
    /// The stored record.
    pub record: ApiKeyView,
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl Store {
    /// Creates an API key with a role and a name.
    pub fn create_api_key(&self, ctx: &Context, role: Role, name: &DisplayName) -> StoreResult<NewApiKey> {
        let mut secret = [0u8; 24];
        getrandom::fill(&mut secret).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
        let key = format!("{KEY_PREFIX}{}", hex::encode(secret));
        let row = ApiKeyRow {
            id: new_id(),
            name: name.as_str().to_owned(),
            role: role.as_str().to_owned(),
            key_hash: hash(&key),
            created_at: stored_time(ctx.now),
            revoked_at: None,
        };
        self.write(|conn| {
            diesel::insert_into(api_keys::table).values(&row).execute(conn)?;
            let data = json!({"name": row.name, "role": row.role});
            append(conn, ctx, EventKind::ApiKeyCreated, Subject::of("api_key", &row.id), data)?;
            Ok(())
        })?;
        Ok(NewApiKey { key, record: key_view(row)? })
    }

    /// The key's record, if the key is known and not revoked; `unauthorized` otherwise.
    pub fn authenticate_api_key(&self, key: &str) -> StoreResult<ApiKeyView> {
        let digest = hash(key.trim());
        self.read(|conn| {
            let row: Option<ApiKeyRow> = api_keys::table
                .filter(api_keys::key_hash.eq(&digest))
                .filter(api_keys::revoked_at.is_null())
                .select(ApiKeyRow::as_select())
                .first(conn)
                .optional()?;
            key_view(row.ok_or_else(|| CoreError::new(ErrorCode::Unauthorized))?)
        })
    }
}

fn key_view(row: ApiKeyRow) -> StoreResult<ApiKeyView> {
    Ok(ApiKeyView {
        id: uuid_of(&row.id)?,
        name: row.name,
        role: crate::error::stored("role", Role::parse(&row.role))?,
        created_at: utc(row.created_at),
    })
}
