//! API keys: created once (the plain key is shown only then), stored as a SHA-256 hash, and
//! checked on every request. Keys carry 192 random bits, so a fast hash is safe and keeps the
//! check off the hot path's budget.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use keyport_core::{ApiKeyState, CoreError, DisplayName, ErrorCode, EventKind, Role};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use keyport_api::ApiKeyView;

use crate::events::{Subject, append};
use crate::rows::ApiKeyRow;
use crate::schema::api_keys;
use crate::{Context, Page, Paging, Store, StoreError, StoreResult, new_id, stored_time, utc, uuid_of};

/// Every key starts with this, so a leaked key is easy to recognize in logs and scanners.
pub const KEY_PREFIX: &str = "kp_";

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
    /// Creates an API key with a role and a name that never expires.
    pub fn create_api_key(&self, ctx: &Context, role: Role, name: &DisplayName) -> StoreResult<NewApiKey> {
        self.create_api_key_until(ctx, role, name, None)
    }

    /// Creates an API key with a role and a name, working until `expires_at` if given (which
    /// must be in the future).
    pub fn create_api_key_until(
        &self,
        ctx: &Context,
        role: Role,
        name: &DisplayName,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<NewApiKey> {
        if expires_at.is_some_and(|end| end <= ctx.now) {
            return Err(CoreError::invalid("expires_at", "must be in the future").into());
        }
        let mut secret = [0u8; 24];
        getrandom::fill(&mut secret).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
        self.insert_api_key(ctx, role, name, expires_at, format!("{KEY_PREFIX}{}", hex::encode(secret)))
    }

    /// Creates a never-expiring API key whose plain key the caller chose (the sandbox's keys
    /// from its environment, the same on every run): `kp_` and then 32 to 128 letters,
    /// digits, `-` or `_`.
    pub fn create_api_key_from(
        &self,
        ctx: &Context,
        role: Role,
        name: &DisplayName,
        key: &str,
    ) -> StoreResult<NewApiKey> {
        let rest = key.strip_prefix(KEY_PREFIX).unwrap_or("");
        let wellformed = (32..=128).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !wellformed {
            return Err(
                CoreError::invalid("key", "must be kp_ and then 32 to 128 letters, digits, - or _").into()
            );
        }
        self.insert_api_key(ctx, role, name, None, key.to_owned())
    }

    fn insert_api_key(
        &self,
        ctx: &Context,
        role: Role,
        name: &DisplayName,
        expires_at: Option<DateTime<Utc>>,
        key: String,
    ) -> StoreResult<NewApiKey> {
        let row = ApiKeyRow {
            id: new_id(),
            name: name.as_str().to_owned(),
            role: role.as_str().to_owned(),
            key_hash: hash(&key),
            created_at: stored_time(ctx.now),
            revoked_at: None,
            expires_at: expires_at.map(stored_time),
        };
        self.write(|conn| {
            diesel::insert_into(api_keys::table).values(&row).execute(conn)?;
            let data = json!({"name": row.name, "role": row.role, "expires_at": expires_at});
            append(conn, ctx, EventKind::ApiKeyCreated, Subject::of("api_key", &row.id), data)?;
            Ok(())
        })?;
        Ok(NewApiKey { key, record: key_view(row)? })
    }

    /// The key's record, if the key is known, not revoked and not expired at `now`;
    /// `unauthorized` otherwise (the same answer for each, so a caller learns nothing).
    pub fn authenticate_api_key(&self, key: &str, now: DateTime<Utc>) -> StoreResult<ApiKeyView> {
        let digest = hash(key.trim());
        // One statement: no transaction around it (one round trip on every request).
        self.read_each(|conn| {
            let row: Option<ApiKeyRow> = api_keys::table
                .filter(api_keys::key_hash.eq(&digest))
                .select(ApiKeyRow::as_select())
                .first(conn)
                .optional()?;
            let view = key_view(row.ok_or_else(|| CoreError::new(ErrorCode::Unauthorized))?)?;
            match ApiKeyState::at(view.revoked_at, view.expires_at, now) {
                ApiKeyState::Active => Ok(view),
                ApiKeyState::Expired | ApiKeyState::Revoked => {
                    Err(CoreError::new(ErrorCode::Unauthorized).into())
                }
            }
        })
    }

    /// The API keys, newest first, one page at a time (never the keys themselves).
    pub fn list_api_keys(&self, paging: &Paging) -> StoreResult<Page<ApiKeyView>> {
        self.read(|conn| {
            let mut query = api_keys::table.order(api_keys::id.desc()).into_boxed();
            if let Some(after) = &paging.after {
                query = query.filter(api_keys::id.lt(after.clone()));
            }
            let rows: Vec<ApiKeyRow> =
                query.limit(paging.fetch()).select(ApiKeyRow::as_select()).load(conn)?;
            Page::of(rows, paging, |r| r.id.clone()).try_map(key_view)
        })
    }

    /// Revokes an API key at once. Revoking a revoked key changes nothing and answers its
    /// first revocation.
    pub fn revoke_api_key(&self, ctx: &Context, id: Uuid) -> StoreResult<ApiKeyView> {
        self.write(|conn| {
            let target: ApiKeyRow = api_keys::table
                .find(id.to_string())
                .select(ApiKeyRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| CoreError::not_found("API key"))?;
            if target.revoked_at.is_some() {
                return key_view(target);
            }
            // Revocations take turns on PostgreSQL (SQLite's write lock does so already): two
            // admins revoking each other at once must not both see the other still working.
            if let crate::db::DbConn::Pg(pg) = conn {
                diesel::sql_query(
                    "SELECT id FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL FOR UPDATE",
                )
                .execute(pg)?;
            }
            // The caller's own key may have been revoked while this request waited.
            if let keyport_core::Actor::ApiKey(own) = &ctx.actor {
                let own_revoked: Option<Option<chrono::NaiveDateTime>> = api_keys::table
                    .find(own.to_string())
                    .select(api_keys::revoked_at)
                    .first(conn)
                    .optional()?;
                if own_revoked.is_some_and(|at| at.is_some()) {
                    return Err(CoreError::new(ErrorCode::Unauthorized).into());
                }
            }
            let admins: Vec<ApiKeyRow> = api_keys::table
                .filter(api_keys::role.eq(Role::Admin.as_str()))
                .filter(api_keys::revoked_at.is_null())
                .filter(api_keys::id.ne(id.to_string()))
                .select(ApiKeyRow::as_select())
                .load(conn)?;
            let working = admins.iter().filter(|k| k.expires_at.is_none_or(|end| utc(end) > ctx.now)).count();
            let role = crate::error::stored("role", Role::parse(&target.role))?;
            keyport_core::decide_key_revocation(
                id,
                role,
                &ctx.actor,
                u64::try_from(working).unwrap_or(u64::MAX),
            )?;
            let revoked =
                diesel::update(api_keys::table.find(id.to_string()).filter(api_keys::revoked_at.is_null()))
                    .set(api_keys::revoked_at.eq(stored_time(ctx.now)))
                    .execute(conn)?;
            let row: ApiKeyRow = api_keys::table
                .find(id.to_string())
                .select(ApiKeyRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| CoreError::not_found("API key"))?;
            if revoked == 1 {
                let data = json!({"name": row.name, "role": row.role});
                append(conn, ctx, EventKind::ApiKeyRevoked, Subject::of("api_key", &row.id), data)?;
            }
            key_view(row)
        })
    }
}

pub(crate) fn key_view(row: ApiKeyRow) -> StoreResult<ApiKeyView> {
    Ok(ApiKeyView {
        id: uuid_of(&row.id)?,
        name: row.name,
        role: crate::error::stored("role", Role::parse(&row.role))?,
        created_at: utc(row.created_at),
        expires_at: row.expires_at.map(utc),
        revoked_at: row.revoked_at.map(utc),
    })
}
