//! Customer sessions: password and ticket logins, rotating refresh tokens stored hashed,
//! logout, and the secret that signs access tokens (shared by every instance through the
//! database).
//!
//! A refresh token is used once: refreshing marks it used and issues the next one of the
//! same family. Presenting a used token again means it leaked, so the whole family is
//! revoked and the caller gets `unauthorized`.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use keyport_core::{CoreError, Email, ErrorCode, Password, TicketCode};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::DbConn;
use crate::passwords;
use crate::schema::{customers, secrets, sessions, tickets};
use crate::{Context, Store, StoreError, StoreResult, new_id, stored_time, utc, uuid_of};

/// How long a refresh token lives.
pub const REFRESH_TOKEN_DAYS: i64 = 30;

/// Who a session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionSubject {
    /// A customer account.
    Customer(Uuid),
    /// A ticket login: that ticket's licenses only.
    Ticket(Uuid),
}

/// A session just opened or refreshed.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who it is for.
    pub subject: SessionSubject,
    /// The refresh token to hand out once; only its hash is stored.
    pub refresh_token: String,
    /// When the refresh token expires.
    pub refresh_expires_at: DateTime<Utc>,
}

fn unauthorized() -> StoreError {
    CoreError::new(ErrorCode::Unauthorized).into()
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_hex(bytes: usize) -> StoreResult<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

impl Store {
    /// Sets (or replaces) a customer's password, hashed with Argon2id.
    pub fn set_password(&self, customer_id: Uuid, password: &Password) -> StoreResult<()> {
        let hashed = passwords::hash(password)?;
        self.write(|conn| {
            let changed = diesel::update(customers::table.find(customer_id.to_string()))
                .set(customers::password_hash.eq(&hashed))
                .execute(conn)?;
            if changed == 0 { Err(CoreError::not_found("customer").into()) } else { Ok(()) }
        })
    }

    /// Logs a customer in by e-mail and password. Any failure is the same `unauthorized`,
    /// so the answer does not tell whether the address has an account.
    pub fn login(&self, ctx: &Context, email: &Email, password: &str) -> StoreResult<Session> {
        let found: Option<(String, Option<String>)> = self.read(|conn| {
            Ok(customers::table
                .filter(customers::email.eq(email.as_str()))
                .select((customers::id, customers::password_hash))
                .first(conn)
                .optional()?)
        })?;
        let (id, stored) = match found {
            Some((id, Some(stored))) => (id, stored),
            _ => {
                passwords::burn_time(password)?;
                return Err(unauthorized());
            }
        };
        if !passwords::verify(password, &stored)? {
            return Err(unauthorized());
        }
        let customer = uuid_of(&id)?;
        let verified: Option<chrono::NaiveDateTime> = self.read(|conn| {
            Ok(customers::table.find(&id).select(customers::email_verified_at).first(conn)?)
        })?;
        if verified.is_none() {
            return Err(CoreError::new(ErrorCode::EmailNotVerified).into());
        }
        // Parameters changed since this hash was made: replace it now that the password is known.
        if passwords::needs_rehash(&stored)
            && let Ok(password) = Password::parse(password)
        {
            let rehashed = passwords::hash(&password)?;
            self.write(|conn| {
                diesel::update(customers::table.find(&id))
                    .set(customers::password_hash.eq(&rehashed))
                    .execute(conn)?;
                Ok(())
            })?;
        }
        self.write(|conn| open_session(conn, ctx, SessionSubject::Customer(customer), None))
    }

    /// Logs in with a ticket code alone: the session sees only that ticket's licenses.
    pub fn ticket_login(&self, ctx: &Context, code: &TicketCode) -> StoreResult<Session> {
        self.write(|conn| {
            let id: String = tickets::table
                .filter(tickets::code.eq(code.as_str()))
                .select(tickets::id)
                .first(conn)
                .optional()?
                .ok_or_else(unauthorized)?;
            open_session(conn, ctx, SessionSubject::Ticket(uuid_of(&id)?), None)
        })
    }

    /// Trades a refresh token for the next one of its family. A token used before revokes
    /// the family (it leaked); an expired or revoked one is refused.
    pub fn refresh_session(&self, ctx: &Context, token: &str) -> StoreResult<Session> {
        let digest = hash(token.trim());
        let outcome = self.write(|conn| {
            let row: Option<SessionRow> = sessions::table
                .filter(sessions::token_hash.eq(&digest))
                .select(SessionRow::as_select())
                .first(conn)
                .optional()?;
            let Some(row) = row else { return Ok(Err(unauthorized())) };
            if row.used_at.is_some() {
                revoke_family(conn, ctx, &row.family_id)?;
                tracing::warn!(family = %row.family_id, "a used refresh token was presented again; family revoked");
                return Ok(Err(unauthorized()));
            }
            let family_revoked: i64 = sessions::table
                .filter(sessions::family_id.eq(&row.family_id))
                .filter(sessions::revoked_at.is_not_null())
                .count()
                .get_result(conn)?;
            if family_revoked > 0 || utc(row.expires_at) <= ctx.now {
                return Ok(Err(unauthorized()));
            }
            let used = diesel::update(sessions::table.find(&row.id).filter(sessions::used_at.is_null()))
                .set(sessions::used_at.eq(stored_time(ctx.now)))
                .execute(conn)?;
            if used == 0 {
                // Another refresh with the same token won the race: it was used twice.
                revoke_family(conn, ctx, &row.family_id)?;
                return Ok(Err(unauthorized()));
            }
            let subject = row.subject()?;
            open_session(conn, ctx, subject, Some(&row.family_id)).map(Ok)
        })?;
        // The family's revocation above is committed even though the caller is refused.
        outcome
    }

    /// Ends the session a refresh token belongs to (its whole family).
    pub fn logout(&self, ctx: &Context, token: &str) -> StoreResult<()> {
        let digest = hash(token.trim());
        self.write(|conn| {
            let family: Option<String> = sessions::table
                .filter(sessions::token_hash.eq(&digest))
                .select(sessions::family_id)
                .first(conn)
                .optional()?;
            match family {
                Some(family) => revoke_family(conn, ctx, &family),
                None => Err(unauthorized()),
            }
        })
    }

    /// Ends a session family by its id (the web depot's logout: its cookie names the family,
    /// not a refresh token). Ending one already ended changes nothing.
    pub fn end_session(&self, ctx: &Context, family_id: &str) -> StoreResult<()> {
        self.write(|conn| revoke_family(conn, ctx, family_id))
    }

    /// Ends every session of a customer except one family: their logins and the ticket
    /// logins of their tickets (the depot's "log out everywhere else").
    pub fn end_other_sessions(&self, ctx: &Context, customer: Uuid, keep_family: &str) -> StoreResult<()> {
        let id = customer.to_string();
        self.write(|conn| end_others(conn, ctx, &id, keep_family))
    }

    /// Who an open session family is for: `None` when no session of the family exists, or
    /// it was ended (logout, a reused refresh token, a password reset). An access token is
    /// accepted only when this is the subject it names.
    pub fn open_session_subject(&self, family_id: &str) -> StoreResult<Option<SessionSubject>> {
        // One statement: no transaction around it (one round trip on every request).
        self.read_each(|conn| {
            let rows: Vec<(SessionRow, Option<chrono::NaiveDateTime>)> = sessions::table
                .filter(sessions::family_id.eq(family_id))
                .select((SessionRow::as_select(), sessions::revoked_at))
                .load(conn)?;
            if rows.iter().any(|(_, revoked)| revoked.is_some()) {
                return Ok(None);
            }
            // Every session of a family is for the same subject (refresh keeps it).
            rows.first().map(|(row, _)| row.subject()).transpose()
        })
    }

    /// The secret named `name` (32 random bytes, hex), created on first use and then the
    /// same for every instance on this database.
    pub fn secret(&self, name: &str) -> StoreResult<Vec<u8>> {
        let value = self.write(|conn| {
            let found: Option<String> =
                secrets::table.find(name).select(secrets::value).first(conn).optional()?;
            if let Some(value) = found {
                return Ok(value);
            }
            let value = random_hex(32)?;
            diesel::insert_into(secrets::table)
                .values((
                    secrets::name.eq(name),
                    secrets::value.eq(&value),
                    secrets::created_at.eq(stored_time(self.now())),
                ))
                .execute(conn)?;
            Ok(value)
        })?;
        hex::decode(value).map_err(|e| StoreError::Corrupt(format!("secret {name}: {e}")))
    }
}

/// The family id a refresh token belongs to (carried in access tokens so logout ends them).
pub fn family_of(session: &Session) -> String {
    // A token is `<family>.<secret>`; see `open_session`.
    session.refresh_token.split('.').next().unwrap_or_default().to_owned()
}

/// Opens a new session (a new refresh-token family) in the caller's transaction.
pub(crate) fn open(conn: &mut DbConn, ctx: &Context, subject: SessionSubject) -> StoreResult<Session> {
    open_session(conn, ctx, subject, None)
}

fn open_session(
    conn: &mut DbConn,
    ctx: &Context,
    subject: SessionSubject,
    family: Option<&str>,
) -> StoreResult<Session> {
    let family_id = match family {
        Some(f) => f.to_owned(),
        None => random_hex(16)?,
    };
    let token = format!("{family_id}.{}", random_hex(32)?);
    let expires_at = ctx.now + Duration::days(REFRESH_TOKEN_DAYS);
    let (customer_id, ticket_id) = match subject {
        SessionSubject::Customer(id) => (Some(id.to_string()), None),
        SessionSubject::Ticket(id) => (None, Some(id.to_string())),
    };
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(new_id()),
            sessions::family_id.eq(&family_id),
            sessions::customer_id.eq(customer_id),
            sessions::ticket_id.eq(ticket_id),
            sessions::token_hash.eq(hash(&token)),
            sessions::created_at.eq(stored_time(ctx.now)),
            sessions::expires_at.eq(stored_time(expires_at)),
        ))
        .execute(conn)?;
    Ok(Session { subject, refresh_token: token, refresh_expires_at: expires_at })
}

/// Ends every open session of a customer (password and ticket logins of their tickets)
/// but the family `keep`, in the caller's transaction.
pub(crate) fn end_others(conn: &mut DbConn, ctx: &Context, customer: &str, keep: &str) -> StoreResult<()> {
    let their_tickets = crate::schema::tickets::table
        .filter(crate::schema::tickets::customer_id.eq(customer))
        .select(crate::schema::tickets::id.nullable());
    diesel::update(
        sessions::table
            .filter(sessions::customer_id.eq(customer).or(sessions::ticket_id.eq_any(their_tickets)))
            .filter(sessions::family_id.ne(keep))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(stored_time(ctx.now)))
    .execute(conn)?;
    Ok(())
}

fn revoke_family(conn: &mut DbConn, ctx: &Context, family: &str) -> StoreResult<()> {
    diesel::update(
        sessions::table.filter(sessions::family_id.eq(family)).filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(stored_time(ctx.now)))
    .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id: String,
    family_id: String,
    customer_id: Option<String>,
    ticket_id: Option<String>,
    expires_at: chrono::NaiveDateTime,
    used_at: Option<chrono::NaiveDateTime>,
}

impl SessionRow {
    fn subject(&self) -> StoreResult<SessionSubject> {
        match (&self.customer_id, &self.ticket_id) {
            (Some(c), _) => Ok(SessionSubject::Customer(uuid_of(c)?)),
            (None, Some(t)) => Ok(SessionSubject::Ticket(uuid_of(t)?)),
            (None, None) => Err(StoreError::Corrupt(format!("session {} has no subject", self.id))),
        }
    }
}
