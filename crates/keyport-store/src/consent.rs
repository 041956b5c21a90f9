//! Marketing consent: the double opt-in (a request mails a confirmation link; the link
//! subscribes), withdrawal in the account, by staff or with the one-click unsubscribe link
//! (RFC 8058). The state lives on the customer; every change is a history row (what, how,
//! for which address, from which network address) kept with the account as the proof of
//! consent, and an event. What each step does is decided in core (`consent`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use keyport_api::{ConsentEntryView, ConsentStateView, MarketingConsentView};
use keyport_core::consent::{self, ConsentChange, ConsentMethod, ConsentState, ConsentStep};
use keyport_core::mail::{MARKETING_CONFIRM_LIFETIME, Mail, MailLinks};
use keyport_core::{CoreError, Email, EventKind, Lang};
use serde_json::json;
use uuid::Uuid;

use crate::db::DbConn;
use crate::events::{Subject, append};
use crate::identity::{Purpose, new_token, use_token};
use crate::schema::{consent_history, customers, one_time_tokens};
use crate::{Context, Store, StoreResult, new_id, stored_time, utc, uuid_of};

/// The name of the secret that signs unsubscribe links.
const UNSUBSCRIBE_SECRET: &str = "unsubscribe";
/// The most history entries an answer lists.
const HISTORY_SHOWN: i64 = 100;

/// A step, with who took it and from where.
struct Step<'a> {
    step: ConsentStep,
    method: ConsentMethod,
    source: Option<&'a str>,
}

/// Takes a step for a customer in the caller's transaction: locks the customer's row,
/// asks core, writes the state, the history row, the event and the mails.
fn take(
    conn: &mut DbConn,
    ctx: &Context,
    customer: &str,
    step: &Step<'_>,
    links: &MailLinks,
    unsubscribe_secret: &[u8],
) -> StoreResult<()> {
    crate::lookup::lock_customer(conn, customer)?;
    let (state, email, language): (String, String, String) = customers::table
        .find(customer)
        .select((customers::marketing_consent, customers::email, customers::language))
        .first(conn)?;
    let change = consent::decide(ConsentState::parse(&state)?, step.step)?;
    let lang = Lang::from_code(&language);
    let to = crate::error::stored("customer e-mail", Email::parse(&email))?;
    if !matches!(change, ConsentChange::Unchanged) {
        // Only the newest link works, and none after the state moved on.
        expire_links(conn, customer, ctx)?;
    }
    if change.mails_confirmation() {
        let expires = ctx.now + MARKETING_CONFIRM_LIFETIME.duration();
        let token = new_token(conn, Purpose::Marketing, customer, expires)?;
        crate::mail::enqueue(conn, ctx, &to, &Mail::ConfirmMarketing { token: &token }, links, lang)?;
    }
    let ConsentChange::To(next) = change else { return Ok(()) };
    record(conn, ctx, customer, next, step, &email)?;
    if next == ConsentState::Subscribed {
        let token = consent::unsubscribe_token(unsubscribe_secret, uuid_of(customer)?);
        crate::mail::enqueue(conn, ctx, &to, &Mail::MarketingWelcome { unsubscribe: &token }, links, lang)?;
    }
    Ok(())
}

/// Marks the customer's unused confirmation links used.
fn expire_links(conn: &mut DbConn, customer: &str, ctx: &Context) -> StoreResult<()> {
    diesel::update(
        one_time_tokens::table
            .filter(one_time_tokens::customer_id.eq(customer))
            .filter(one_time_tokens::purpose.eq(Purpose::Marketing.as_str()))
            .filter(one_time_tokens::used_at.is_null()),
    )
    .set(one_time_tokens::used_at.eq(stored_time(ctx.now)))
    .execute(conn)?;
    Ok(())
}

/// Writes a new state with its history row and event.
fn record(
    conn: &mut DbConn,
    ctx: &Context,
    customer: &str,
    next: ConsentState,
    step: &Step<'_>,
    email: &str,
) -> StoreResult<()> {
    diesel::update(customers::table.find(customer))
        .set((
            customers::marketing_consent.eq(next.as_str()),
            customers::marketing_consent_at.eq(stored_time(ctx.now)),
        ))
        .execute(conn)?;
    diesel::insert_into(consent_history::table)
        .values((
            consent_history::id.eq(new_id()),
            consent_history::customer_id.eq(customer),
            consent_history::state.eq(next.as_str()),
            consent_history::method.eq(step.method.as_str()),
            consent_history::email.eq(email),
            consent_history::source_address.eq(step.source.map(|s| s.chars().take(100).collect::<String>())),
            consent_history::created_at.eq(stored_time(ctx.now)),
        ))
        .execute(conn)?;
    let subject = Subject { customer_id: Some(customer), ..Subject::of("customer", customer) };
    let data = json!({"state": next.as_str(), "method": step.method.as_str()});
    append(conn, ctx, EventKind::MarketingConsentChanged, subject, data)
}

/// In the transaction that changes a customer's e-mail address from `old`: a consent given
/// or asked for the old address ends, and its links stop working.
pub(crate) fn address_changed(
    conn: &mut DbConn,
    ctx: &Context,
    customer: &str,
    old: &str,
) -> StoreResult<()> {
    let state: String = customers::table.find(customer).select(customers::marketing_consent).first(conn)?;
    if let Some(next) = consent::after_address_change(ConsentState::parse(&state)?) {
        expire_links(conn, customer, ctx)?;
        let step =
            Step { step: ConsentStep::Unsubscribe, method: ConsentMethod::AddressChanged, source: None };
        record(conn, ctx, customer, next, &step, old)?;
    }
    Ok(())
}

fn view(conn: &mut DbConn, customer: &str) -> StoreResult<MarketingConsentView> {
    let (state, at): (String, Option<NaiveDateTime>) = customers::table
        .find(customer)
        .select((customers::marketing_consent, customers::marketing_consent_at))
        .first(conn)
        .optional()?
        .ok_or_else(|| CoreError::not_found("customer"))?;
    type Row = (String, String, String, Option<String>, NaiveDateTime);
    let rows: Vec<Row> = consent_history::table
        .filter(consent_history::customer_id.eq(customer))
        .order(consent_history::id.desc())
        .limit(HISTORY_SHOWN)
        .select((
            consent_history::state,
            consent_history::method,
            consent_history::email,
            consent_history::source_address,
            consent_history::created_at,
        ))
        .load(conn)?;
    let history = rows
        .into_iter()
        .map(|(state, method, email, source_address, at)| {
            Ok(ConsentEntryView {
                state: ConsentState::parse(&state)?.into(),
                method,
                email,
                source_address,
                at: utc(at),
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(MarketingConsentView { state: ConsentState::parse(&state)?.into(), changed_at: at.map(utc), history })
}

impl Store {
    /// The secret that signs unsubscribe links (read once per process: it never changes).
    pub(crate) fn unsubscribe_secret(&self) -> StoreResult<Vec<u8>> {
        if let Some(secret) = self.unsubscribe_secret.get() {
            return Ok(secret.clone());
        }
        let secret = self.secret(UNSUBSCRIBE_SECRET)?;
        Ok(self.unsubscribe_secret.get_or_init(|| secret).clone())
    }

    /// A customer's marketing consent and its history.
    pub fn marketing_consent(&self, customer: Uuid) -> StoreResult<MarketingConsentView> {
        let id = customer.to_string();
        self.read(|conn| view(conn, &id))
    }

    /// A customer asks for marketing mail: a confirmation link is mailed (again, while
    /// pending); a subscribed customer stays as they are.
    pub fn request_marketing_consent(
        &self,
        ctx: &Context,
        customer: Uuid,
        source: Option<&str>,
        links: &MailLinks,
    ) -> StoreResult<MarketingConsentView> {
        let step = Step { step: ConsentStep::Request, method: ConsentMethod::Requested, source };
        self.consent_step(ctx, customer, &step, links)
    }

    /// A customer (in the account) or staff withdraw marketing consent.
    pub fn withdraw_marketing_consent(
        &self,
        ctx: &Context,
        customer: Uuid,
        by_staff: bool,
        source: Option<&str>,
        links: &MailLinks,
    ) -> StoreResult<MarketingConsentView> {
        let method = if by_staff { ConsentMethod::Staff } else { ConsentMethod::Withdrawn };
        let step = Step { step: ConsentStep::Unsubscribe, method, source };
        self.consent_step(ctx, customer, &step, links)
    }

    /// The link of a confirmation mail subscribes (once; only the newest link, and none
    /// after the state moved on, e.g. a withdrawal: `invalid_token`). Answers the state only:
    /// whoever holds a link learns nothing else.
    pub fn confirm_marketing_consent(
        &self,
        ctx: &Context,
        token: &str,
        source: Option<&str>,
        links: &MailLinks,
    ) -> StoreResult<ConsentStateView> {
        if token.len() > 200 || token.contains('\0') {
            return Err(CoreError::new(keyport_core::ErrorCode::InvalidToken).into());
        }
        let secret = self.unsubscribe_secret()?;
        let step = Step { step: ConsentStep::Confirm, method: ConsentMethod::Confirmed, source };
        self.write(|conn| {
            let customer = use_token(conn, token, &[Purpose::Marketing], ctx.now)?;
            take(conn, ctx, &customer, &step, links, &secret)?;
            Ok(view(conn, &customer)?.state)
        })
    }

    /// The one-click unsubscribe link (RFC 8058): a forged or foreign token is
    /// `invalid_token`; using it again changes nothing.
    pub fn unsubscribe(
        &self,
        ctx: &Context,
        token: &str,
        source: Option<&str>,
        links: &MailLinks,
    ) -> StoreResult<()> {
        let secret = self.unsubscribe_secret()?;
        let customer = consent::unsubscribe_customer(&secret, token)?;
        let step = Step { step: ConsentStep::Unsubscribe, method: ConsentMethod::OneClick, source };
        self.write(|conn| take(conn, ctx, &customer.to_string(), &step, links, &secret))
    }

    /// The one-click unsubscribe URL of a customer (for marketing mails sent by other
    /// systems, e.g. a newsletter tool fed by a segment export).
    pub fn unsubscribe_url(&self, customer: Uuid, links: &MailLinks) -> StoreResult<String> {
        let secret = self.unsubscribe_secret()?;
        Ok(format!("{}?token={}", links.unsubscribe, consent::unsubscribe_token(&secret, customer)))
    }

    fn consent_step(
        &self,
        ctx: &Context,
        customer: Uuid,
        step: &Step<'_>,
        links: &MailLinks,
    ) -> StoreResult<MarketingConsentView> {
        let secret = self.unsubscribe_secret()?;
        let id = customer.to_string();
        self.write(|conn| {
            take(conn, ctx, &id, step, links, &secret)?;
            view(conn, &id)
        })
    }
}
