//! Check-ins and usage sessions from the ISV's software: one short transaction each, no
//! customer login (the machine key of the activation signs), no event per check-in (usage is
//! counted per activation, day and version in `usage_days`; open sessions live in
//! `usage_sessions` until they end and are then folded into their day's row).

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use keyport_core::checkin::{
    self, CheckIn, SESSION_TIMEOUT_MINUTES, SessionStep, StoredSession, UsageReport,
};
use keyport_core::{CoreError, ErrorCode, analytics, files};
use uuid::Uuid;

use crate::db::DbConn;
use crate::licenses::{Loaded, load_one};
use crate::schema::{activations, licenses, usage_days, usage_session_lengths, usage_sessions};
use crate::{CheckInOutcome, SessionOutcome, Store, StoreResult, stored_time, utc};

/// The license of the activation a statement names, loaded, when the statement's key is
/// that activation's machine's; anything else (an unknown license or activation, another
/// key) answers like an unknown activation, so a statement reveals nothing about others.
pub(crate) fn signed_license(
    conn: &mut DbConn,
    activation: Uuid,
    license: Uuid,
    machine_key: &str,
) -> StoreResult<Loaded> {
    let hidden = || crate::StoreError::from(CoreError::not_found("activation"));
    let loaded = match load_one(conn, &license.to_string()) {
        Err(e) if e.code() == ErrorCode::NotFound => return Err(hidden()),
        other => other?,
    };
    match loaded.activation(activation) {
        Ok((_, machine)) if machine.public_key == machine_key => Ok(loaded),
        Ok(_) | Err(_) => Err(hidden()),
    }
}

/// The versions counted for an activation on a day.
fn counted_versions(conn: &mut DbConn, activation_id: &str, day: NaiveDateTime) -> StoreResult<Vec<String>> {
    Ok(usage_days::table
        .filter(usage_days::activation_id.eq(activation_id))
        .filter(usage_days::day.eq(day))
        .select(usage_days::version)
        .load(conn)?)
}

/// Adds to the usage row of an activation, day and version (creating it): a racing first
/// insert fails on the key and the whole write is tried again, then updating.
fn add_usage(
    conn: &mut DbConn,
    activation_id: &str,
    at: DateTime<Utc>,
    version: &str,
    os: &str,
    (checkins, sessions, seconds): (i32, i32, i64),
) -> StoreResult<()> {
    let day = stored_time(checkin::usage_day(at));
    let bump = |conn: &mut DbConn, version: &str| {
        diesel::update(usage_days::table.find((activation_id, day, version)))
            .set((
                usage_days::checkins.eq(usage_days::checkins + checkins),
                usage_days::sessions.eq(usage_days::sessions + sessions),
                usage_days::seconds.eq(usage_days::seconds + seconds),
                usage_days::os.eq(os),
            ))
            .execute(conn)
    };
    // The common case, a version counted today already, is one statement.
    if bump(conn, version)? > 0 {
        return Ok(());
    }
    let versions = counted_versions(conn, activation_id, day)?;
    let version = checkin::counted_version(version, &versions);
    if bump(conn, version)? == 0 {
        diesel::insert_into(usage_days::table)
            .values((
                usage_days::activation_id.eq(activation_id),
                usage_days::day.eq(day),
                usage_days::version.eq(version),
                usage_days::os.eq(os),
                usage_days::checkins.eq(checkins),
                usage_days::sessions.eq(sessions),
                usage_days::seconds.eq(seconds),
            ))
            .execute(conn)?;
    }
    Ok(())
}

impl Store {
    /// The software checks in with a statement signed by its machine key: the check-in is
    /// counted (per day and version), what the software reported is kept on the activation,
    /// and the answer says where the license stands. A live check-in of a license that runs
    /// here gets a renewed certificate (with a new lease where the rule set asks for one); a
    /// queued one is only counted.
    pub fn check_in(&self, now: DateTime<Utc>, proof: &str) -> StoreResult<CheckInOutcome> {
        let mut statement: CheckIn = files::read(proof)?;
        statement.report.check()?;
        // Signed on the machine's clock: moved with the store's (the sandbox's offset).
        statement.at_ms = statement.at_ms.saturating_add(self.clock_offset().num_milliseconds());
        let now = chrono::SubsecRound::trunc_subsecs(now, 6);
        // A change to the activation between the read and the write (a recovery, a
        // revocation, a move to another key) makes the write take nothing; it is read again.
        for _ in 0..3 {
            if let Some(outcome) = self.check_in_once(now, &statement)? {
                return Ok(outcome);
            }
        }
        Err(CoreError::new(ErrorCode::Unavailable).into())
    }

    /// One attempt of [`Store::check_in`]: `None` when the activation changed meanwhile.
    ///
    /// Everything is read and decided before the write: a statement naming an unknown
    /// activation, or a replayed or stale one, never takes the write lock, and the write is
    /// two short statements that take the check-in only while the activation is as it was
    /// read (same machine, same state), so no certificate goes to a seat that has gone.
    fn check_in_once(&self, now: DateTime<Utc>, statement: &CheckIn) -> StoreResult<Option<CheckInOutcome>> {
        let (activation, license, key) =
            (statement.activation_id, statement.license_id, &statement.machine_key);
        let loaded = self.read_each(|conn| signed_license(conn, activation, license, key))?;
        let (row, machine) = loaded.activation(activation)?;
        checkin::decide_checkin_time(statement.at_ms, statement.queued, row.last_proof_ms, now)?;
        let validity = checkin::validity(&loaded.history()?, activation, now)?;
        let signed = checkin::signed_at(statement.at_ms);
        let report = &statement.report;
        let taken = self.write(|conn| {
            let taken = diesel::update(
                activations::table
                    .find(&row.id)
                    .filter(activations::machine_id.eq(&machine.id))
                    .filter(activations::state.eq(&row.state))
                    .filter(
                        activations::last_proof_ms
                            .is_null()
                            .or(activations::last_proof_ms.lt(statement.at_ms)),
                    ),
            )
            .set((
                activations::last_proof_ms.eq(statement.at_ms),
                activations::last_checkin_at.eq(stored_time(signed)),
                activations::client_version.eq(&report.version),
                activations::client_os.eq(report.os_name()),
                activations::client_os_version.eq(&report.os_version),
                activations::client_arch.eq(&report.arch),
                activations::client_locale.eq(&report.locale),
            ))
            .execute(conn)?;
            if taken == 0 {
                // A racing copy of the same statement took it first: a replay. Anything
                // else is a change to the activation.
                let last: Option<i64> =
                    activations::table.find(&row.id).select(activations::last_proof_ms).first(conn)?;
                if last.is_some_and(|last| last >= statement.at_ms) {
                    return Err(CoreError::new(ErrorCode::Replayed).with("file", "check-in").into());
                }
                return Ok(false);
            }
            add_usage(conn, &row.id, signed, &report.version, &report.os_name(), (1, 0, 0))?;
            Ok(true)
        })?;
        if !taken {
            return Ok(None);
        }
        let expires_at = keyport_core::license::certificate_end(
            loaded.license.expires_at.map(utc),
            crate::licenses::emergency_end(&row),
        );
        let rules = loaded.rules()?;
        let (certificate, checkin_until) = if checkin::renews_certificate(validity, statement.queued) {
            let signing_key = self.cached_signing_key(now)?;
            let owner = loaded.ticket.customer_id.as_deref();
            let bonus = self.read_each(|conn| crate::bonus::entitlements_of(conn, owner))?;
            let certificate =
                crate::certificates::sign_with(&signing_key, &loaded, &row, &machine, &bonus, now)?;
            (Some(certificate), keyport_core::certificate::lease_until(rules.params(), now, expires_at))
        } else {
            (None, None)
        };
        Ok(Some(CheckInOutcome {
            validity,
            license_id: license,
            activation_id: activation,
            expires_at,
            certificate,
            checkin_until,
        }))
    }

    /// A session of use starts, goes on or ends, reported with a statement signed by the
    /// machine key. Reports of one session are idempotent: a start that was seen, a
    /// heartbeat older than the last and a report of a closed session change nothing (closed
    /// sessions are kept for a few minutes for that). A session starts only where the
    /// license runs, and at most [`keyport_core::checkin::MAX_OPEN_SESSIONS`] are open per
    /// activation.
    pub fn report_usage(&self, now: DateTime<Utc>, proof: &str) -> StoreResult<SessionOutcome> {
        let mut report: UsageReport = files::read(proof)?;
        report.check()?;
        report.at_ms = report.at_ms.saturating_add(self.clock_offset().num_milliseconds());
        checkin::decide_report_time(report.at_ms, false, now)?;
        let (activation, license, key) = (report.activation_id, report.license_id, &report.machine_key);
        let at = checkin::signed_at(report.at_ms);
        // Checked before the write, like a check-in.
        let loaded = self.read_each(|conn| signed_license(conn, activation, license, key))?;
        let validity = checkin::validity(&loaded.history()?, activation, now)?;
        self.write(|conn| {
            let session = report.session_id.to_string();
            let found: Option<(String, String, String, NaiveDateTime, NaiveDateTime, Option<NaiveDateTime>)> =
                usage_sessions::table
                    .find(&session)
                    .select((
                        usage_sessions::activation_id,
                        usage_sessions::version,
                        usage_sessions::os,
                        usage_sessions::started_at,
                        usage_sessions::last_seen_at,
                        usage_sessions::ended_at,
                    ))
                    .first(conn)
                    .optional()?;
            // A session id is the client's; one of another activation is not this one's.
            if found.as_ref().is_some_and(|f| f.0 != activation.to_string()) {
                return Err(CoreError::not_found("session").into());
            }
            let open: i64 = usage_sessions::table
                .filter(usage_sessions::activation_id.eq(activation.to_string()))
                .filter(usage_sessions::ended_at.is_null())
                // One without a heartbeat for the timeout has ended, closed or not yet.
                .filter(
                    usage_sessions::last_seen_at
                        .ge(stored_time(at - Duration::minutes(SESSION_TIMEOUT_MINUTES))),
                )
                .count()
                .get_result(conn)?;
            let stored = found.as_ref().map(|f| StoredSession {
                started_at: utc(f.3),
                last_seen_at: utc(f.4),
                ended_at: f.5.map(utc),
            });
            let open = u32::try_from(open).unwrap_or(u32::MAX);
            let (step, open_after) = checkin::decide_session(report.event, stored, validity, open, at)?;
            match (step, &found) {
                (SessionStep::Open, _) => {
                    start_session(conn, &activation.to_string(), &session, &report, at)?
                }
                (SessionStep::Extend, _) => {
                    // Only forward, and only while open (a racing report may have moved it).
                    let open = usage_sessions::table
                        .find(&session)
                        .filter(usage_sessions::ended_at.is_null())
                        .filter(usage_sessions::last_seen_at.lt(stored_time(at)));
                    diesel::update(open)
                        .set(usage_sessions::last_seen_at.eq(stored_time(at)))
                        .execute(conn)?;
                }
                (SessionStep::Close { ended }, Some((activation_id, version, os, started, _, _))) => {
                    close_session(
                        conn,
                        &session,
                        activation_id,
                        (version, os),
                        *started,
                        stored_time(ended),
                    )?;
                }
                (SessionStep::Close { .. } | SessionStep::Nothing, _) => {}
            }
            Ok(SessionOutcome { validity, session_id: report.session_id, open: open_after })
        })
    }

    /// Closes sessions with no heartbeat for [`SESSION_TIMEOUT_MINUTES`] at their last
    /// heartbeat, and forgets closed ones after
    /// [`keyport_core::checkin::CLOSED_SESSION_KEEP_MINUTES`], at most `batch` of each;
    /// answers how many it closed and forgot.
    pub fn close_idle_sessions(&self, now: DateTime<Utc>, batch: i64) -> StoreResult<usize> {
        let idle_since = stored_time(now - Duration::minutes(SESSION_TIMEOUT_MINUTES));
        let closed_before = stored_time(now - Duration::minutes(checkin::CLOSED_SESSION_KEEP_MINUTES));
        self.write(|conn| {
            let idle: Vec<(String, String, String, String, NaiveDateTime, NaiveDateTime)> =
                usage_sessions::table
                    .filter(usage_sessions::ended_at.is_null())
                    .filter(usage_sessions::last_seen_at.lt(idle_since))
                    .order(usage_sessions::last_seen_at.asc())
                    .limit(batch)
                    .select((
                        usage_sessions::id,
                        usage_sessions::activation_id,
                        usage_sessions::version,
                        usage_sessions::os,
                        usage_sessions::started_at,
                        usage_sessions::last_seen_at,
                    ))
                    .load(conn)?;
            for (id, activation, version, os, started, last_seen) in &idle {
                close_session(conn, id, activation, (version, os), *started, *last_seen)?;
            }
            let forgotten: Vec<String> = usage_sessions::table
                .filter(usage_sessions::ended_at.lt(closed_before))
                .select(usage_sessions::id)
                .limit(batch)
                .load(conn)?;
            let deleted = diesel::delete(usage_sessions::table.filter(usage_sessions::id.eq_any(&forgotten)))
                .execute(conn)?;
            Ok(idle.len() + deleted)
        })
    }
}

fn start_session(
    conn: &mut DbConn,
    activation_id: &str,
    session: &str,
    report: &UsageReport,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    diesel::insert_into(usage_sessions::table)
        .values((
            usage_sessions::id.eq(session),
            usage_sessions::activation_id.eq(activation_id),
            usage_sessions::version.eq(&report.version),
            usage_sessions::os.eq(report.os.to_ascii_lowercase()),
            usage_sessions::started_at.eq(stored_time(at)),
            usage_sessions::last_seen_at.eq(stored_time(at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Folds a session into its start day's usage row and marks it closed (kept a few minutes,
/// so a replayed report cannot open it again). A session closed before changes nothing.
fn close_session(
    conn: &mut DbConn,
    session: &str,
    activation_id: &str,
    (version, os): (&str, &str),
    started: NaiveDateTime,
    ended: NaiveDateTime,
) -> StoreResult<()> {
    let closed =
        diesel::update(usage_sessions::table.find(session).filter(usage_sessions::ended_at.is_null()))
            .set((usage_sessions::ended_at.eq(ended), usage_sessions::last_seen_at.eq(ended)))
            .execute(conn)?;
    if closed == 0 {
        return Ok(());
    }
    let seconds = checkin::session_seconds(utc(started), utc(ended));
    let os = os.to_ascii_lowercase();
    add_usage(conn, activation_id, utc(started), version, &os, (0, 1, seconds))?;
    count_length(conn, activation_id, utc(started), (version, &os), seconds)
}

/// Counts a closed session in its day's length histogram (per item, version and OS), so
/// the median session length outlives the session row. The version is the one its day's
/// usage row counted it under, so the histogram grows no faster than the usage rows.
fn count_length(
    conn: &mut DbConn,
    activation_id: &str,
    started: DateTime<Utc>,
    (version, os): (&str, &str),
    seconds: i64,
) -> StoreResult<()> {
    let item: String = activations::table
        .inner_join(licenses::table)
        .filter(activations::id.eq(activation_id))
        .select(licenses::item_id)
        .first(conn)?;
    let day = stored_time(checkin::usage_day(started));
    let versions = counted_versions(conn, activation_id, day)?;
    let version = checkin::counted_version(version, &versions);
    let key = (day, item.as_str(), version, os, analytics::session_bucket(seconds));
    let bumped = diesel::update(usage_session_lengths::table.find(key))
        .set(usage_session_lengths::sessions.eq(usage_session_lengths::sessions + 1))
        .execute(conn)?;
    if bumped == 0 {
        diesel::insert_into(usage_session_lengths::table)
            .values((
                usage_session_lengths::day.eq(key.0),
                usage_session_lengths::item_id.eq(key.1),
                usage_session_lengths::version.eq(key.2),
                usage_session_lengths::os.eq(key.3),
                usage_session_lengths::bucket.eq(key.4),
                usage_session_lengths::sessions.eq(1),
            ))
            .execute(conn)?;
    }
    Ok(())
}
