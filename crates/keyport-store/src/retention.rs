//! Retention: what grows per request or per day and is not the product's record is pruned
//! after its time, in small batches (each its own short transaction, so no prune holds a
//! lock for long). The event log is the record and is kept; so are the rows a license's
//! history is made of (orders, licenses, activations, used offline files).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::schema::{
    downloads, idempotency_keys, offer_views, offers, one_time_tokens, outbox, rate_counters, sessions,
    usage_days, usage_session_lengths, webhook_attempts, webhook_deliveries, webhook_endpoints,
};
use crate::{Store, StoreResult, stored_time};

/// How long each kind of row is kept once it has no more use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Idempotency keys, from their first answer (a client's retries come within this).
    pub idempotency_keys: Duration,
    /// Sessions, from their expiry or revocation.
    pub sessions: Duration,
    /// One-time tokens (verification, reset, invitation), from their expiry.
    pub one_time_tokens: Duration,
    /// Sent mails, from sending.
    pub sent_mail: Duration,
    /// Mails given up after their last attempt, from their creation.
    pub failed_mail: Duration,
    /// Rate-limit counters, from the start of their window: at least the longest window.
    pub rate_counters: Duration,
    /// Daily usage rows (check-ins, sessions) and the daily session-length histogram, from
    /// their day.
    pub usage_days: Duration,
    /// Webhook deliveries (with their attempts), from their creation: a delivery is done
    /// within its retry window (a day); one never sent because its endpoint stayed disabled
    /// goes too, one still waiting for an enabled endpoint never.
    pub webhook_deliveries: Duration,
    /// Completed downloads (what the analytics count), from their time.
    pub downloads: Duration,
    /// Offers with what customers did with them, from when they ended or were withdrawn.
    pub offers: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            idempotency_keys: Duration::hours(24),
            sessions: Duration::days(30),
            one_time_tokens: Duration::days(7),
            sent_mail: Duration::days(14),
            failed_mail: Duration::days(90),
            rate_counters: Duration::hours(24),
            usage_days: Duration::days(730),
            webhook_deliveries: Duration::days(30),
            downloads: Duration::days(730),
            offers: Duration::days(730),
        }
    }
}

/// What one pruning pass deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Idempotency keys.
    pub idempotency_keys: usize,
    /// Sessions.
    pub sessions: usize,
    /// One-time tokens.
    pub one_time_tokens: usize,
    /// Mails.
    pub mails: usize,
    /// Rate-limit counters.
    pub rate_counters: usize,
    /// Daily usage rows.
    pub usage_days: usize,
    /// Usage sessions closed for want of a heartbeat.
    pub idle_sessions: usize,
    /// Webhook deliveries done (with their attempts).
    pub webhook_deliveries: usize,
    /// Completed downloads.
    pub downloads: usize,
    /// Offers over for their time, and their customers' views (rows of both).
    pub offers: usize,
}

impl Pruned {
    /// Rows deleted in all.
    pub fn total(&self) -> usize {
        self.idempotency_keys
            + self.sessions
            + self.one_time_tokens
            + self.mails
            + self.rate_counters
            + self.usage_days
            + self.idle_sessions
            + self.webhook_deliveries
            + self.downloads
            + self.offers
    }
}

/// The tables whose size an operator watches, for `keyport admin storage`.
pub const COUNTED_TABLES: [&str; 24] = [
    "customers",
    "tickets",
    "licenses",
    "activations",
    "events",
    "sessions",
    "one_time_tokens",
    "idempotency_keys",
    "outbox",
    "rate_counters",
    "used_files",
    "api_keys",
    "demo_claims",
    "usage_sessions",
    "usage_days",
    "usage_session_lengths",
    "webhook_deliveries",
    "webhook_attempts",
    "downloads",
    "offers",
    "offer_views",
    "bonus_ledger",
    "coupons",
    "consent_history",
];

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

impl Store {
    /// Deletes at most `batch` expired rows of each table; call again while it deletes a
    /// full batch of any.
    pub fn prune(&self, retention: &Retention, now: DateTime<Utc>, batch: i64) -> StoreResult<Pruned> {
        let cutoff = |keep: Duration| stored_time(now - keep);
        let idempotency_keys = self.write(|conn| {
            let old: Vec<(String, String)> = idempotency_keys::table
                .filter(idempotency_keys::created_at.lt(cutoff(retention.idempotency_keys)))
                .select((idempotency_keys::principal, idempotency_keys::key))
                .limit(batch)
                .load(conn)?;
            let mut deleted = 0;
            for (principal, key) in &old {
                deleted += diesel::delete(idempotency_keys::table.find((principal, key))).execute(conn)?;
            }
            Ok(deleted)
        })?;
        let sessions = self.write(|conn| {
            let ended = cutoff(retention.sessions);
            let old: Vec<String> = sessions::table
                .filter(sessions::expires_at.lt(ended).or(sessions::revoked_at.lt(ended)))
                .select(sessions::id)
                .limit(batch)
                .load(conn)?;
            Ok(diesel::delete(sessions::table.filter(sessions::id.eq_any(&old))).execute(conn)?)
        })?;
        let one_time_tokens = self.write(|conn| {
            let old: Vec<String> = one_time_tokens::table
                .filter(one_time_tokens::expires_at.lt(cutoff(retention.one_time_tokens)))
                .select(one_time_tokens::token_hash)
                .limit(batch)
                .load(conn)?;
            Ok(diesel::delete(one_time_tokens::table.filter(one_time_tokens::token_hash.eq_any(&old)))
                .execute(conn)?)
        })?;
        let mails = self.write(|conn| {
            let old: Vec<String> = outbox::table
                .filter(
                    outbox::sent_at.lt(cutoff(retention.sent_mail)).or(outbox::sent_at
                        .is_null()
                        .and(outbox::attempts.ge(crate::mail::MAX_ATTEMPTS))
                        .and(outbox::created_at.lt(cutoff(retention.failed_mail)))),
                )
                .select(outbox::id)
                .limit(batch)
                .load(conn)?;
            Ok(diesel::delete(outbox::table.filter(outbox::id.eq_any(&old))).execute(conn)?)
        })?;
        let rate_counters = self.write(|conn| {
            let old: Vec<String> = rate_counters::table
                .filter(rate_counters::window_start.lt(cutoff(retention.rate_counters)))
                .select(rate_counters::key)
                .limit(batch)
                .load(conn)?;
            Ok(diesel::delete(rate_counters::table.filter(rate_counters::key.eq_any(&old))).execute(conn)?)
        })?;
        let usage_days = self.write(|conn| {
            let old: Vec<(String, chrono::NaiveDateTime, String)> = usage_days::table
                .filter(usage_days::day.lt(cutoff(retention.usage_days)))
                .select((usage_days::activation_id, usage_days::day, usage_days::version))
                .limit(batch)
                .load(conn)?;
            let mut deleted = 0;
            for key in &old {
                deleted += diesel::delete(usage_days::table.find(key.clone())).execute(conn)?;
            }
            // The session histogram has the same retention as the usage it came from.
            let lengths: Vec<(chrono::NaiveDateTime, String, String, String, i64)> =
                usage_session_lengths::table
                    .filter(usage_session_lengths::day.lt(cutoff(retention.usage_days)))
                    .select((
                        usage_session_lengths::day,
                        usage_session_lengths::item_id,
                        usage_session_lengths::version,
                        usage_session_lengths::os,
                        usage_session_lengths::bucket,
                    ))
                    .limit(batch)
                    .load(conn)?;
            for key in &lengths {
                deleted += diesel::delete(usage_session_lengths::table.find(key.clone())).execute(conn)?;
            }
            Ok(deleted)
        })?;
        let webhook_deliveries = self.write(|conn| {
            // Ids are UUID v7: those below one made at the cutoff were made before it.
            let keep = crate::id_at(now - retention.webhook_deliveries);
            let old: Vec<String> = webhook_deliveries::table
                .filter(webhook_deliveries::id.lt(keep))
                // Never one still waiting for an enabled endpoint (it is sent, or given up).
                .filter(
                    webhook_deliveries::state.ne(crate::DeliveryState::Pending.as_str()).or(
                        webhook_deliveries::endpoint_id.ne_all(
                            webhook_endpoints::table
                                .filter(webhook_endpoints::enabled.eq(true))
                                .select(webhook_endpoints::id),
                        ),
                    ),
                )
                .select(webhook_deliveries::id)
                .limit(batch)
                .load(conn)?;
            diesel::delete(webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(&old)))
                .execute(conn)?;
            Ok(diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&old)))
                .execute(conn)?)
        })?;
        let downloads = self.write(|conn| {
            let old: Vec<String> = downloads::table
                .filter(downloads::at.lt(cutoff(retention.downloads)))
                .select(downloads::id)
                .limit(batch)
                .load(conn)?;
            Ok(diesel::delete(downloads::table.filter(downloads::id.eq_any(&old))).execute(conn)?)
        })?;
        let offers = self.write(|conn| {
            // The views of offers over for their time, a batch at a time (one statement per
            // offer); an offer goes, still over, once it has none left.
            let over = cutoff(retention.offers);
            let is_over = offers::withdrawn_at.lt(over).or(offers::ends_at.lt(over));
            let old: Vec<String> =
                offers::table.filter(is_over).select(offers::id).limit(batch).load(conn)?;
            let views: Vec<(String, String)> = offer_views::table
                .filter(offer_views::offer_id.eq_any(&old))
                .select((offer_views::offer_id, offer_views::customer_id))
                .limit(batch)
                .load(conn)?;
            let mut by_offer: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
            for (offer, customer) in &views {
                by_offer.entry(offer.as_str()).or_default().push(customer.as_str());
            }
            let mut deleted = 0;
            for (offer, customers) in by_offer {
                deleted += diesel::delete(
                    offer_views::table
                        .filter(offer_views::offer_id.eq(offer))
                        .filter(offer_views::customer_id.eq_any(customers)),
                )
                .execute(conn)?;
            }
            let emptied: Vec<String> =
                old.into_iter().filter(|id| !views.iter().any(|(offer, _)| offer == id)).collect();
            deleted += diesel::delete(
                offers::table
                    .filter(offers::id.eq_any(&emptied))
                    .filter(offers::withdrawn_at.lt(over).or(offers::ends_at.lt(over)))
                    .filter(diesel::dsl::not(diesel::dsl::exists(
                        offer_views::table.filter(offer_views::offer_id.eq(offers::id)),
                    ))),
            )
            .execute(conn)?;
            Ok(deleted)
        })?;
        let idle_sessions = self.close_idle_sessions(now, batch)?;
        // Accounts a previous release wrote beside this one (during an upgrade) get their
        // folded names for search here.
        self.fold_names()?;
        Ok(Pruned {
            idempotency_keys,
            sessions,
            one_time_tokens,
            mails,
            rate_counters,
            usage_days,
            idle_sessions,
            webhook_deliveries,
            downloads,
            offers,
        })
    }

    /// Rows per table of [`COUNTED_TABLES`], for an operator watching what grows.
    pub fn table_sizes(&self) -> StoreResult<Vec<(&'static str, i64)>> {
        self.read(|conn| {
            COUNTED_TABLES
                .iter()
                .map(|table| {
                    let count: Count =
                        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}")).get_result(conn)?;
                    Ok((*table, count.n))
                })
                .collect()
        })
    }
}
