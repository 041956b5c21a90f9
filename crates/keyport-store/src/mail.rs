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

pub use keyport_core::mail::{Mail, MailLinks};

/// Writes a mail to the outbox in the caller's transaction.
pub(crate) fn enqueue(
    conn: &mut DbConn,
    ctx: &Context,
    to: &Email,
    mail: &Mail<'_>,
    links: &MailLinks,
    lang: Lang,
) -> StoreResult<()> {
    let (subject, body) = keyport_core::mail::compose(mail, links, lang);
    let list_unsubscribe = keyport_core::mail::list_unsubscribe(mail, links);
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(new_id()),
            outbox::recipient.eq(to.as_str()),
            outbox::subject.eq(subject),
            outbox::body.eq(body),
            outbox::created_at.eq(stored_time(ctx.now)),
            outbox::next_attempt_at.eq(stored_time(ctx.now)),
            outbox::list_unsubscribe.eq(list_unsubscribe),
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
    /// The one-click unsubscribe URL of a marketing mail (its `List-Unsubscribe` header).
    pub list_unsubscribe: Option<String>,
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
            let (to, subject, body, attempts, list_unsubscribe) = outbox::table
                .find(&id)
                .select((
                    outbox::recipient,
                    outbox::subject,
                    outbox::body,
                    outbox::attempts,
                    outbox::list_unsubscribe,
                ))
                .first(conn)?;
            Ok(Some(OutgoingMail { id, to, subject, body, attempts, list_unsubscribe }))
        })
    }

    /// Mails waiting to be sent (not given up), and the age in seconds of the oldest.
    pub fn outbox_stats(&self, now: DateTime<Utc>) -> StoreResult<(i64, Option<i64>)> {
        self.read(|conn| {
            let waiting =
                outbox::table.filter(outbox::sent_at.is_null()).filter(outbox::attempts.lt(MAX_ATTEMPTS));
            let depth: i64 = waiting.count().get_result(conn)?;
            let oldest: Option<chrono::NaiveDateTime> =
                waiting.select(diesel::dsl::min(outbox::created_at)).first(conn)?;
            Ok((depth, oldest.map(|t| (now - crate::utc(t)).num_seconds().max(0))))
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
