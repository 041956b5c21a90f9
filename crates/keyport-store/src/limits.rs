//! Rate limits and lockout, shared through the database so they hold across instances: a
//! counter per key (an account, a source address) in a fixed window.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use keyport_core::{CoreError, Email, ErrorCode, TicketCode};

use crate::db::DbConn;
use crate::mail::MailLinks;
use crate::schema::rate_counters;
use crate::{Context, Session, Store, StoreResult, stored_time, utc};

/// A limit: at most `max` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Events allowed in a window.
    pub max: u32,
    /// The window's length.
    pub window: Duration,
}

/// The limits on logins and resets.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failed logins per account before it is locked for the rest of the window.
    pub login_per_account: Limit,
    /// Failed logins per source address.
    pub login_per_address: Limit,
    /// Ticket logins per source address.
    pub ticket_login_per_address: Limit,
    /// Password-reset requests per source address.
    pub reset_per_address: Limit,
    /// Registrations per source address (each costs a password hash and may send a mail).
    pub register_per_address: Limit,
    /// Registrations naming one e-mail address, from anywhere: each sends that address a
    /// mail, so nobody can bury an inbox. (Password resets have no such budget: it would let
    /// anyone block a person's own reset.)
    pub mails_per_account: Limit,
    /// Demos the software may ask for without a login, from all sources together: each
    /// writes a license and a mail, so a swarm of addresses cannot grow the database without
    /// bound.
    pub demos_total: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        let minutes = |max, m| Limit { max, window: Duration::minutes(m) };
        Limits {
            login_per_account: minutes(5, 15),
            login_per_address: minutes(20, 15),
            ticket_login_per_address: minutes(30, 15),
            reset_per_address: minutes(5, 60),
            register_per_address: minutes(10, 60),
            mails_per_account: minutes(3, 60),
            demos_total: minutes(500, 60),
        }
    }
}

impl Store {
    /// Logs in by e-mail and password from a source address, within the limits: every
    /// attempt is counted before the password is checked (so parallel guesses count too);
    /// a success resets the account's counter and gives the address its attempt back.
    pub fn guarded_login(
        &self,
        ctx: &Context,
        limits: &Limits,
        source: &str,
        email: &str,
        password: &str,
    ) -> StoreResult<Session> {
        // The address is counted first: once it is limited, its guesses add no rows for
        // new accounts. Text that is no e-mail address names no account and adds none.
        let address = format!("login:address:{}", bounded(source));
        self.take_attempt(&address, limits.login_per_address, ctx.now)?;
        let email = Email::parse(email).map_err(|_| CoreError::new(ErrorCode::Unauthorized))?;
        let account = format!("login:account:{}", email.as_str().to_lowercase());
        self.take_attempt(&account, limits.login_per_account, ctx.now)?;
        let session = self.login(ctx, &email, password)?;
        self.reset_limit(&account)?;
        self.refund_attempt(&address)?;
        Ok(session)
    }

    /// A ticket login from a source address, within the per-address limit.
    pub fn guarded_ticket_login(
        &self,
        ctx: &Context,
        limits: &Limits,
        source: &str,
        code: &TicketCode,
    ) -> StoreResult<Session> {
        self.take_attempt(
            &format!("ticket-login:address:{}", bounded(source)),
            limits.ticket_login_per_address,
            ctx.now,
        )?;
        self.ticket_login(ctx, code)
    }

    /// A password-reset request from a source address, within the per-address limit.
    pub fn guarded_password_reset(
        &self,
        ctx: &Context,
        limits: &Limits,
        source: &str,
        links: &MailLinks,
        email: &Email,
    ) -> StoreResult<()> {
        self.take_attempt(&format!("reset:address:{}", bounded(source)), limits.reset_per_address, ctx.now)?;
        self.request_password_reset(ctx, links, email)
    }

    /// A customer's request for marketing mail, within the limit of mails to the account
    /// (each request mails a confirmation link).
    pub fn guarded_marketing_request(
        &self,
        ctx: &Context,
        limits: &Limits,
        customer: uuid::Uuid,
        source: &str,
        links: &MailLinks,
    ) -> StoreResult<keyport_api::MarketingConsentView> {
        self.take_attempt(&format!("marketing:account:{customer}"), limits.mails_per_account, ctx.now)?;
        self.request_marketing_consent(ctx, customer, Some(source), links)
    }

    /// A registration from a source address, within the per-address limit and the limit of
    /// mails to the address it names.
    pub fn guarded_register(
        &self,
        ctx: &Context,
        limits: &Limits,
        source: &str,
        links: &MailLinks,
        registration: &crate::Registration,
    ) -> StoreResult<()> {
        self.take_attempt(
            &format!("register:address:{}", bounded(source)),
            limits.register_per_address,
            ctx.now,
        )?;
        let email = registration.email.as_str();
        self.take_attempt(&format!("register:account:{email}"), limits.mails_per_account, ctx.now)?;
        self.register(ctx, links, registration)
    }

    /// A demo asked for by the software for an e-mail address, within the per-address
    /// registration limit and the limit of mails to that address (each demo mails it).
    pub fn guarded_demo(
        &self,
        ctx: &Context,
        limits: &Limits,
        source: &str,
        links: &MailLinks,
        policy: &keyport_core::demo::DemoPolicy,
        demo: &crate::SoftwareDemo<'_>,
    ) -> StoreResult<crate::DemoOutcome> {
        self.take_attempt(
            &format!("demo:address:{}", network(source)),
            limits.register_per_address,
            ctx.now,
        )?;
        let email = demo.email.as_str();
        self.take_attempt(&format!("demo:account:{email}"), limits.mails_per_account, ctx.now)?;
        // The cap over all sources counts demos given, never refusals: a flood of requests
        // that are refused anyway cannot use it up.
        let all = "demo:all";
        let counted: Option<(i32, chrono::NaiveDateTime)> = self.read(|conn| {
            Ok(rate_counters::table
                .find(all)
                .select((rate_counters::count, rate_counters::window_start))
                .first(conn)
                .optional()?)
        })?;
        if let Some((count, start)) = counted
            && utc(start) + limits.demos_total.window > ctx.now
            && count >= i32::try_from(limits.demos_total.max).unwrap_or(i32::MAX)
        {
            let seconds = (utc(start) + limits.demos_total.window - ctx.now).num_seconds().max(1);
            return Err(CoreError::new(ErrorCode::RateLimited).with("seconds", seconds).into());
        }
        let who = crate::DemoFor::Email { email: demo.email, lang: demo.lang, links };
        let given = self.request_demo(ctx, demo.product, who, Some(demo.machine), policy)?;
        self.write(|conn| bump(conn, all, limits.demos_total, ctx.now))?;
        Ok(given)
    }

    /// Counts an attempt for `key` and refuses it with `rate_limited` when it is over the
    /// limit. Counting and checking happen in one transaction, on the row this attempt just
    /// changed, so parallel attempts cannot slip past the check before they are counted.
    pub fn take_attempt(&self, key: &str, limit: Limit, now: DateTime<Utc>) -> StoreResult<()> {
        let (count, start) = self.write(|conn| bump(conn, key, limit, now))?;
        if count > i32::try_from(limit.max).unwrap_or(i32::MAX) {
            let seconds = (utc(start) + limit.window - now).num_seconds().max(1);
            // The kind of counter, never its key (an address or an account).
            let kind = key.rsplit_once(':').map_or("other", |(kind, _)| kind);
            tracing::info!(limit = kind, retry_after_seconds = seconds, "a rate limit refused an attempt");
            return Err(CoreError::new(ErrorCode::RateLimited).with("seconds", seconds).into());
        }
        Ok(())
    }

    /// Gives back one counted attempt (a login that succeeded was no failure).
    pub fn refund_attempt(&self, key: &str) -> StoreResult<()> {
        self.write(|conn| {
            diesel::update(rate_counters::table.find(key).filter(rate_counters::count.gt(0)))
                .set(rate_counters::count.eq(rate_counters::count - 1))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Forgets `key`'s counter (a successful login resets its account's failures).
    pub fn reset_limit(&self, key: &str) -> StoreResult<()> {
        self.write(|conn| {
            diesel::delete(rate_counters::table.find(key)).execute(conn)?;
            Ok(())
        })
    }
}

/// A source address as a counter key: at most 64 characters (an IPv6 address has 45), so a
/// forged header cannot grow the table by kilobytes per row.
fn bounded(source: &str) -> &str {
    match source.char_indices().nth(64) {
        Some((end, _)) => &source[..end],
        None => source,
    }
}

/// A source address as the network it stands for: an IPv6 address by its /64 (one
/// subscriber's share, which holds more addresses than any limit could count), anything
/// else as it is.
fn network(source: &str) -> String {
    keyport_core::net::network_of(source).unwrap_or_else(|| bounded(source).to_owned())
}

/// Adds one to `key`'s counter in the current window (starting a new window when the last
/// one is over) and answers the count and the window's start, as this transaction sees them.
fn bump(
    conn: &mut DbConn,
    key: &str,
    limit: Limit,
    now: DateTime<Utc>,
) -> StoreResult<(i32, chrono::NaiveDateTime)> {
    let window_open = stored_time(now - limit.window);
    let bumped =
        diesel::update(rate_counters::table.find(key).filter(rate_counters::window_start.gt(window_open)))
            .set(rate_counters::count.eq(rate_counters::count + 1))
            .execute(conn)?;
    if bumped == 0 {
        // Only a window that is over starts again; a row another transaction has just made
        // (or bumped) in this window must not be reset.
        let restarted = diesel::update(
            rate_counters::table.find(key).filter(rate_counters::window_start.le(window_open)),
        )
        .set((rate_counters::count.eq(1), rate_counters::window_start.eq(stored_time(now))))
        .execute(conn)?;
        if restarted == 0 {
            diesel::insert_into(rate_counters::table)
                .values((
                    rate_counters::key.eq(key),
                    rate_counters::count.eq(1),
                    rate_counters::window_start.eq(stored_time(now)),
                ))
                .execute(conn)?;
        }
    }
    Ok(rate_counters::table
        .find(key)
        .select((rate_counters::count, rate_counters::window_start))
        .first(conn)?)
}
