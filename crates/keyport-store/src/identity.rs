//! Customer identity: self-registration with e-mail verification, password reset and
//! invitation by one-time tokens (stored hashed), password change, and single sign-on links.
//! Mails are written to the outbox in the same transaction as the change they announce.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use keyport_core::{CoreError, DisplayName, Email, ErrorCode, EventKind, Lang, Password, TicketCode};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::DbConn;
use crate::events::{Subject, append};
use crate::mail::{self, Mail};
use keyport_core::mail::{INVITE_LIFETIME, RESET_LIFETIME, VERIFY_LIFETIME};

use crate::schema::{customers, one_time_tokens, sessions, tickets};
use crate::{
    Context, Session, SessionSubject, Store, StoreError, StoreResult, new_id, stored_time, utc, uuid_of,
};

/// What a link in a mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirms the e-mail address of a new account.
    Verify,
    /// Sets a new password after "forgot password".
    Reset,
    /// Lets an account made by a shop set its first password.
    Invite,
    /// Confirms marketing consent (double opt-in).
    Marketing,
}

impl Purpose {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Purpose::Verify => "verify",
            Purpose::Reset => "reset",
            Purpose::Invite => "invite",
            Purpose::Marketing => "marketing",
        }
    }
}

/// A self-registration.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The e-mail address.
    pub email: Email,
    /// The display name.
    pub name: DisplayName,
    /// The password.
    pub password: Password,
    /// The language of the account's mails.
    pub lang: Lang,
    /// A ticket to register to the new account at once.
    pub ticket: Option<TicketCode>,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

pub(crate) fn new_token(
    conn: &mut DbConn,
    purpose: Purpose,
    customer: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    let token = hex::encode(bytes);
    diesel::insert_into(one_time_tokens::table)
        .values((
            one_time_tokens::token_hash.eq(hash(&token)),
            one_time_tokens::purpose.eq(purpose.as_str()),
            one_time_tokens::customer_id.eq(customer),
            one_time_tokens::expires_at.eq(stored_time(expires_at)),
        ))
        .execute(conn)?;
    Ok(token)
}

/// Uses a one-time token of one of the purposes; answers the customer id. An unknown,
/// used or expired token is `invalid_token`.
/// The customer a valid, unused token of one of `purposes` is for; `invalid_token`
/// otherwise. Changes nothing.
fn check_token(
    conn: &mut DbConn,
    token: &str,
    purposes: &[Purpose],
    now: DateTime<Utc>,
) -> StoreResult<String> {
    let row: Option<(String, String, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)> =
        one_time_tokens::table
            .find(hash(token))
            .select((
                one_time_tokens::purpose,
                one_time_tokens::customer_id,
                one_time_tokens::expires_at,
                one_time_tokens::used_at,
            ))
            .first(conn)
            .optional()?;
    let invalid = || StoreError::from(CoreError::new(ErrorCode::InvalidToken));
    let (purpose, customer, expires_at, used_at) = row.ok_or_else(invalid)?;
    if used_at.is_some() || utc(expires_at) <= now || !purposes.iter().any(|p| p.as_str() == purpose) {
        return Err(invalid());
    }
    Ok(customer)
}

pub(crate) fn use_token(
    conn: &mut DbConn,
    token: &str,
    purposes: &[Purpose],
    now: DateTime<Utc>,
) -> StoreResult<String> {
    let customer = check_token(conn, token, purposes, now)?;
    let invalid = || StoreError::from(CoreError::new(ErrorCode::InvalidToken));
    let used =
        diesel::update(one_time_tokens::table.find(hash(token)).filter(one_time_tokens::used_at.is_null()))
            .set(one_time_tokens::used_at.eq(stored_time(now)))
            .execute(conn)?;
    if used == 0 {
        return Err(invalid());
    }
    Ok(customer)
}

fn customer_subject(id: &str) -> Subject<'_> {
    Subject { customer_id: Some(id), ..Subject::of("customer", id) }
}

impl Store {
    /// Registers a new account (unverified until the link in the mail is used). An address
    /// that has an account already gets a mail saying so instead; the caller sees the same
    /// answer either way.
    pub fn register(
        &self,
        ctx: &Context,
        links: &mail::MailLinks,
        registration: &Registration,
    ) -> StoreResult<()> {
        let hashed = crate::passwords::hash(&registration.password)?;
        self.write(|conn| {
            // A ticket that cannot be claimed is refused before the address is looked at: the
            // answer must not tell whether the address has an account.
            if let Some(code) = &registration.ticket {
                let free: i64 = tickets::table
                    .filter(tickets::code.eq(code.as_str()))
                    .filter(tickets::customer_id.is_null())
                    .count()
                    .get_result(conn)?;
                if free == 0 {
                    return Err(CoreError::new(ErrorCode::TicketAlreadyRegistered).into());
                }
            }
            if let Some(existing) = crate::lookup::by_email(conn, &registration.email)? {
                let lang = Lang::from_code(&language_of(conn, &existing.id)?);
                return mail::enqueue(conn, ctx, &registration.email, &Mail::AlreadyRegistered, links, lang);
            }
            let id = new_id();
            diesel::insert_into(customers::table)
                .values((
                    customers::id.eq(&id),
                    customers::email.eq(registration.email.as_str()),
                    customers::name.eq(registration.name.as_str()),
                    customers::name_folded.eq(crate::lookup::fold(registration.name.as_str())),
                    customers::created_at.eq(stored_time(ctx.now)),
                    customers::password_hash.eq(&hashed),
                    customers::language.eq(registration.lang.code()),
                ))
                .execute(conn)?;
            if let Some(code) = &registration.ticket {
                let ticket: Option<String> = tickets::table
                    .filter(tickets::code.eq(code.as_str()))
                    .filter(tickets::customer_id.is_null())
                    .select(tickets::id)
                    .first(conn)
                    .optional()?;
                let changed = match &ticket {
                    Some(ticket) => {
                        diesel::update(tickets::table.find(ticket).filter(tickets::customer_id.is_null()))
                            .set((
                                tickets::customer_id.eq(&id),
                                tickets::registered_at.eq(stored_time(ctx.now)),
                            ))
                            .execute(conn)?
                    }
                    None => 0,
                };
                match ticket {
                    Some(ticket) if changed == 1 => crate::bonus::earn(conn, ctx, &id, &ticket)?,
                    Some(_) | None => return Err(CoreError::new(ErrorCode::TicketAlreadyRegistered).into()),
                }
            }
            let token = new_token(conn, Purpose::Verify, &id, ctx.now + VERIFY_LIFETIME.duration())?;
            mail::enqueue(
                conn,
                ctx,
                &registration.email,
                &Mail::Verify { token: &token },
                links,
                registration.lang,
            )?;
            let data = json!({"email": registration.email.as_str(), "self_registered": true,
                              "ticket": registration.ticket.as_ref().map(ToString::to_string)});
            append(conn, ctx, EventKind::CustomerCreated, customer_subject(&id), data)
        })
    }

    /// Confirms an account's e-mail address with the token from the verification mail.
    pub fn verify_email(&self, ctx: &Context, token: &str) -> StoreResult<()> {
        self.write(|conn| {
            let id = use_token(conn, token, &[Purpose::Verify], ctx.now)?;
            diesel::update(customers::table.find(&id))
                .set(customers::email_verified_at.eq(stored_time(ctx.now)))
                .execute(conn)?;
            append(conn, ctx, EventKind::EmailVerified, customer_subject(&id), json!({}))
        })
    }

    /// Sends a password-reset link if the address has an account; answers the same either way.
    pub fn request_password_reset(
        &self,
        ctx: &Context,
        links: &mail::MailLinks,
        email: &Email,
    ) -> StoreResult<()> {
        self.write(|conn| {
            let Some(customer) = crate::lookup::by_email(conn, email)? else { return Ok(()) };
            let lang = Lang::from_code(&language_of(conn, &customer.id)?);
            let token = new_token(conn, Purpose::Reset, &customer.id, ctx.now + RESET_LIFETIME.duration())?;
            mail::enqueue(conn, ctx, email, &Mail::Reset { token: &token }, links, lang)
        })
    }

    /// Sets a new password with a reset or invitation token. It confirms the address too,
    /// and ends every session of the account.
    pub fn reset_password(&self, ctx: &Context, token: &str, password: &Password) -> StoreResult<()> {
        // A token that cannot work costs no password hashing: junk tokens cannot fill the
        // hashing queue. The write below checks it again and uses it.
        self.read(|conn| check_token(conn, token, &[Purpose::Reset, Purpose::Invite], ctx.now))?;
        let hashed = crate::passwords::hash(password)?;
        self.write(|conn| {
            let id = use_token(conn, token, &[Purpose::Reset, Purpose::Invite], ctx.now)?;
            diesel::update(customers::table.find(&id))
                .set(customers::password_hash.eq(&hashed))
                .execute(conn)?;
            diesel::update(customers::table.find(&id).filter(customers::email_verified_at.is_null()))
                .set(customers::email_verified_at.eq(stored_time(ctx.now)))
                .execute(conn)?;
            diesel::update(
                sessions::table.filter(sessions::customer_id.eq(&id)).filter(sessions::revoked_at.is_null()),
            )
            .set(sessions::revoked_at.eq(stored_time(ctx.now)))
            .execute(conn)?;
            append(conn, ctx, EventKind::PasswordChanged, customer_subject(&id), json!({"by": "reset"}))
        })
    }

    /// The language a customer's account is kept in (mails, and the depot after a login).
    pub fn customer_language(&self, customer: Uuid) -> StoreResult<Lang> {
        let id = customer.to_string();
        let code = self.read_each(|conn| Ok(language_of(conn, &id).optional()?))?;
        Ok(code.map(|c| Lang::from_code(&c)).unwrap_or_default())
    }

    /// Changes the password of a logged-in customer, who proves the old one. With
    /// `keep_session`, every other session of the account ends in the same transaction (a
    /// stolen one among them); that family stays.
    pub fn change_password(
        &self,
        ctx: &Context,
        customer: Uuid,
        old: &str,
        new: &Password,
        keep_session: Option<&str>,
    ) -> StoreResult<()> {
        let id = customer.to_string();
        let stored: Option<Option<String>> = self.read(|conn| {
            Ok(customers::table.find(&id).select(customers::password_hash).first(conn).optional()?)
        })?;
        let stored = stored.ok_or_else(|| CoreError::not_found("customer"))?;
        let matches = match stored.as_deref() {
            Some(stored) => crate::passwords::verify(old, stored)?,
            None => false,
        };
        if !matches {
            return Err(CoreError::invalid("old_password", "is not the current password").into());
        }
        let hashed = crate::passwords::hash(new)?;
        self.write(|conn| {
            diesel::update(customers::table.find(&id))
                .set(customers::password_hash.eq(&hashed))
                .execute(conn)?;
            if let Some(keep) = keep_session {
                crate::sessions::end_others(conn, ctx, &id, keep)?;
            }
            append(conn, ctx, EventKind::PasswordChanged, customer_subject(&id), json!({"by": "customer"}))
        })
    }

    /// Logs in the customer an identity provider vouches for: found by (issuer, subject), or
    /// linked by its verified e-mail address, or created (verified) on first use. A user not
    /// linked yet needs a verified e-mail address.
    pub fn sso_login(
        &self,
        ctx: &Context,
        issuer: &str,
        subject: &str,
        email: Option<&Email>,
        name: &DisplayName,
    ) -> StoreResult<Session> {
        self.write(|conn| {
            let linked: Option<String> = customers::table
                .filter(customers::sso_issuer.eq(issuer))
                .filter(customers::sso_subject.eq(subject))
                .select(customers::id)
                .first(conn)
                .optional()?;
            let id = match (linked, email) {
                (Some(id), _) => id,
                (None, None) => {
                    return Err(CoreError::new(ErrorCode::SsoTokenInvalid)
                        .with("reason", "it carries no verified e-mail address")
                        .into());
                }
                (None, Some(email)) => match crate::lookup::by_email(conn, email)? {
                    Some(existing) => {
                        diesel::update(customers::table.find(&existing.id))
                            .set((customers::sso_issuer.eq(issuer), customers::sso_subject.eq(subject)))
                            .execute(conn)?;
                        existing.id
                    }
                    None => {
                        let id = new_id();
                        diesel::insert_into(customers::table)
                            .values((
                                customers::id.eq(&id),
                                customers::email.eq(email.as_str()),
                                customers::name.eq(name.as_str()),
                                customers::name_folded.eq(crate::lookup::fold(name.as_str())),
                                customers::created_at.eq(stored_time(ctx.now)),
                                customers::email_verified_at.eq(stored_time(ctx.now)),
                                customers::sso_issuer.eq(issuer),
                                customers::sso_subject.eq(subject),
                            ))
                            .execute(conn)?;
                        let data = json!({"email": email.as_str(), "sso_issuer": issuer});
                        append(conn, ctx, EventKind::CustomerCreated, customer_subject(&id), data)?;
                        id
                    }
                },
            };
            crate::sessions::open(conn, ctx, SessionSubject::Customer(uuid_of(&id)?))
        })
    }
}

/// Writes an invitation (a token and its mail) in the caller's transaction.
pub(crate) fn invite_in(
    conn: &mut DbConn,
    ctx: &Context,
    links: &mail::MailLinks,
    id: &str,
) -> StoreResult<()> {
    let (email, lang): (String, String) = customers::table
        .find(id)
        .select((customers::email, customers::language))
        .first(conn)
        .optional()?
        .ok_or_else(|| CoreError::not_found("customer"))?;
    let token = new_token(conn, Purpose::Invite, id, ctx.now + INVITE_LIFETIME.duration())?;
    let email = crate::error::stored("email", Email::parse(&email))?;
    mail::enqueue(conn, ctx, &email, &Mail::Invite { token: &token }, links, Lang::from_code(&lang))
}

fn language_of(conn: &mut DbConn, id: &str) -> Result<String, diesel::result::Error> {
    customers::table.find(id).select(customers::language).first(conn)
}
