//! The mail outbox: mails are written in the transaction of the change they announce, and a
//! worker in `keyport serve` claims and sends them. A claim is a conditional update, so with
//! several instances on one database each mail is sent by one of them; a failed send is
//! tried again later with a growing back-off; nothing is lost when the server restarts.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use keyport_core::{Email, Lang};

use crate::db::DbConn;
use crate::schema::outbox;
use crate::{Context, Store, StoreResult, new_id, stored_time};

/// The most attempts before a mail is given up (its last error stays in the outbox).
pub const MAX_ATTEMPTS: i32 = 10;
/// How long a claimed mail is reserved for the instance sending it.
pub const CLAIM_SECONDS: i64 = 60;

/// Where links in mails point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    /// The public base URL, e.g. `https://licenses.example.com`.
    pub base: String,
}

impl Links {
    fn verify(&self, token: &str) -> String {
        format!("{}/api/v1/auth/verify-email?token={token}", self.base.trim_end_matches('/'))
    }

    fn reset(&self, token: &str) -> String {
        format!("{}/reset-password?token={token}", self.base.trim_end_matches('/'))
    }
}

/// The mails Keyport sends.
#[derive(Debug, Clone, Copy)]
pub enum Mail<'a> {
    /// Confirm a new account's address.
    Verify {
        /// Where links point.
        links: &'a Links,
        /// The one-time token.
        token: &'a str,
    },
    /// Set a new password.
    Reset {
        /// Where links point.
        links: &'a Links,
        /// The one-time token.
        token: &'a str,
    },
    /// Set a first password for an account a shop made.
    Invite {
        /// Where links point.
        links: &'a Links,
        /// The one-time token.
        token: &'a str,
    },
    /// Someone tried to register an address that has an account.
    AlreadyRegistered {
        /// Where links point.
        links: &'a Links,
    },
}

/// Subject and body of a mail in a language.
pub fn compose(mail: &Mail<'_>, lang: Lang) -> (String, String) {
    match (mail, lang) {
        (Mail::Verify { links, token }, Lang::En) => (
            "Confirm your e-mail address".to_owned(),
            format!(
                "Welcome!\n\nPlease confirm your e-mail address by opening this link within 48 hours:\n\n{}\n\nIf you did not register, ignore this mail.\n",
                links.verify(token)
            ),
        ),
        (Mail::Verify { links, token }, Lang::De) => (
            "Bestätigen Sie Ihre E-Mail-Adresse".to_owned(),
            format!(
                "Willkommen!\n\nBitte bestätigen Sie Ihre E-Mail-Adresse innerhalb von 48 Stunden mit diesem Link:\n\n{}\n\nWenn Sie sich nicht registriert haben, ignorieren Sie diese E-Mail.\n",
                links.verify(token)
            ),
        ),
        (Mail::Reset { links, token }, Lang::En) => (
            "Set a new password".to_owned(),
            format!(
                "Someone asked to reset the password of your account.\n\nSet a new one within one hour with this link:\n\n{}\n\nIf it was not you, ignore this mail; your password stays as it is.\n",
                links.reset(token)
            ),
        ),
        (Mail::Reset { links, token }, Lang::De) => (
            "Neues Passwort festlegen".to_owned(),
            format!(
                "Jemand hat das Zurücksetzen des Passworts Ihres Kontos angefordert.\n\nLegen Sie innerhalb einer Stunde mit diesem Link ein neues fest:\n\n{}\n\nWaren Sie das nicht, ignorieren Sie diese E-Mail; Ihr Passwort bleibt unverändert.\n",
                links.reset(token)
            ),
        ),
        (Mail::Invite { links, token }, Lang::En) => (
            "Your license account is ready".to_owned(),
            format!(
                "An account with your licenses was made for you.\n\nSet your password within 14 days with this link:\n\n{}\n",
                links.reset(token)
            ),
        ),
        (Mail::Invite { links, token }, Lang::De) => (
            "Ihr Lizenzkonto ist bereit".to_owned(),
            format!(
                "Für Sie wurde ein Konto mit Ihren Lizenzen angelegt.\n\nLegen Sie innerhalb von 14 Tagen mit diesem Link Ihr Passwort fest:\n\n{}\n",
                links.reset(token)
            ),
        ),
        (Mail::AlreadyRegistered { links }, Lang::En) => (
            "You already have an account".to_owned(),
            format!(
                "Someone tried to register with this e-mail address, which has an account already.\n\nIf you forgot your password, ask for a new one at {}.\n",
                links.base
            ),
        ),
        (Mail::AlreadyRegistered { links }, Lang::De) => (
            "Sie haben bereits ein Konto".to_owned(),
            format!(
                "Jemand wollte sich mit dieser E-Mail-Adresse registrieren, zu der es bereits ein Konto gibt.\n\nWenn Sie Ihr Passwort vergessen haben, fordern Sie unter {} ein neues an.\n",
                links.base
            ),
        ),
    }
}

/// Writes a mail to the outbox in the caller's transaction.
pub(crate) fn enqueue(
    conn: &mut DbConn,
    ctx: &Context,
    to: &Email,
    mail: &Mail<'_>,
    lang: Lang,
) -> StoreResult<()> {
    let (subject, body) = compose(mail, lang);
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(new_id()),
            outbox::recipient.eq(to.as_str()),
            outbox::subject.eq(subject),
            outbox::body.eq(body),
            outbox::created_at.eq(stored_time(ctx.now)),
            outbox::next_attempt_at.eq(stored_time(ctx.now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// A mail claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// Its id.
    pub id: String,
    /// The recipient.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
    /// Attempts so far.
    pub attempts: i32,
}

impl Store {
    /// Claims the next due mail for this instance, if any.
    ///
    /// The claim is one conditional update that repeats every condition of "due" (not sent,
    /// attempts left, its time has come, no live claim): on PostgreSQL a racing instance
    /// waits for the row and then sees the other's change, so a mail another instance has
    /// claimed or sent in the meantime is never claimed again. This is the pattern every
    /// outbox of Keyport's uses.
    pub fn claim_mail(&self, now: DateTime<Utc>) -> StoreResult<Option<OutgoingMail>> {
        let at = stored_time(now);
        self.write(|conn| {
            let due: Option<String> = outbox::table
                .filter(outbox::sent_at.is_null())
                .filter(outbox::attempts.lt(MAX_ATTEMPTS))
                .filter(outbox::next_attempt_at.le(at))
                .filter(outbox::locked_until.is_null().or(outbox::locked_until.lt(at)))
                .order(outbox::next_attempt_at.asc())
                .select(outbox::id)
                .first(conn)
                .optional()?;
            let Some(id) = due else { return Ok(None) };
            let claimed = diesel::update(
                outbox::table
                    .find(&id)
                    .filter(outbox::sent_at.is_null())
                    .filter(outbox::attempts.lt(MAX_ATTEMPTS))
                    .filter(outbox::next_attempt_at.le(at))
                    .filter(outbox::locked_until.is_null().or(outbox::locked_until.lt(at))),
            )
            .set(outbox::locked_until.eq(stored_time(now + Duration::seconds(CLAIM_SECONDS))))
            .execute(conn)?;
            if claimed != 1 {
                return Ok(None);
            }
            let (to, subject, body, attempts) = outbox::table
                .find(&id)
                .select((outbox::recipient, outbox::subject, outbox::body, outbox::attempts))
                .first(conn)?;
            Ok(Some(OutgoingMail { id, to, subject, body, attempts }))
        })
    }

    /// Records a sent mail.
    pub fn mail_sent(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(|conn| {
            diesel::update(outbox::table.find(id).filter(outbox::sent_at.is_null()))
                .set((
                    outbox::sent_at.eq(stored_time(now)),
                    outbox::locked_until.eq(None::<chrono::NaiveDateTime>),
                ))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Records a failed attempt; the next one waits longer (30 s, 2 min, 4.5 min, ...).
    pub fn mail_failed(&self, id: &str, error: &str, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(|conn| {
            let attempts: i32 = outbox::table.find(id).select(outbox::attempts).first(conn)?;
            let wait = Duration::seconds(30 * i64::from((attempts + 1).pow(2)));
            diesel::update(outbox::table.find(id))
                .set((
                    outbox::attempts.eq(attempts + 1),
                    outbox::last_error.eq(error),
                    outbox::next_attempt_at.eq(stored_time(now + wait)),
                    outbox::locked_until.eq(None::<chrono::NaiveDateTime>),
                ))
                .execute(conn)?;
            Ok(())
        })
    }
}
