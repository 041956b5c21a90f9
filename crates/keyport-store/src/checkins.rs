//! Check-ins and usage sessions from the ISV's software: one short transaction each, no
//! customer login (the machine key of the activation signs), no event per check-in (usage is
//! counted per activation, day and version in `usage_days`; open sessions live in
//! `usage_sessions` until they end and are then folded into their day's row).

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use keyport_core::checkin::{
    self, CheckIn, MAX_OPEN_SESSIONS, SESSION_TIMEOUT_MINUTES, SessionEvent, UsageReport, Validity,
};
use keyport_core::{CoreError, ErrorCode, files};
use uuid::Uuid;

use crate::db::DbConn;
use crate::licenses::{Loaded, load_one};
use crate::rows::{ActivationRow, MachineRow};
use crate::schema::{activations, machines, usage_days, usage_sessions};
use crate::{CheckInOutcome, SessionOutcome, Store, StoreResult, stored_time, utc};

/// The activation a statement names, with its machine, when the statement's key is that
/// machine's and its license is the one named; anything else answers like an unknown
/// activation, so a statement reveals nothing about activations of others.
fn signed_activation(
    conn: &mut DbConn,
    activation_id: Uuid,
    license_id: Uuid,
    machine_key: &str,
) -> StoreResult<(ActivationRow, MachineRow, Option<i64>)> {
    let found: Option<(ActivationRow, MachineRow, Option<i64>)> = activations::table
        .inner_join(machines::table)
        .filter(activations::id.eq(activation_id.to_string()))
        .select((ActivationRow::as_select(), MachineRow::as_select(), activations::last_proof_ms))
        .first(conn)
        .optional()?;
    match found {
        Some((row, machine, last)) if machine.public_key == machine_key && row.license_id == license_id.to_string() => {
            Ok((row, machine, last))
        }
        _ => Err(CoreError::not_found("activation").into()),
    }
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
    let versions: Vec<String> = usage_days::table
        .filter(usage_days::activation_id.eq(activation_id))
        .filter(usage_days::day.eq(day))
        .select(usage_days::version)
        .load(conn)?;
    let version = if versions.iter().any(|v| v == version) || (versions.len() as i64) < checkin::MAX_VERSIONS_PER_DAY {
        version
    } else {
        checkin::OTHER_VERSION
    };
    let key = usage_days::table.find((activation_id, day, version));
    let updated = diesel::update(key)
        .set((
            usage_days::checkins.eq(usage_days::checkins + checkins),
            usage_days::sessions.eq(usage_days::sessions + sessions),
            usage_days::seconds.eq(usage_days::seconds + seconds),
            usage_days::os.eq(os),
        ))
        .execute(conn)?;
    if updated == 0 {
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

fn history_validity(loaded: &Loaded, activation_id: Uuid, now: DateTime<Utc>) -> StoreResult<Validity> {
    Ok(checkin::validity(&loaded.history()?, activation_id, now)?)
}

impl Store {
    /// The software checks in with a statement signed by its machine key: the check-in is
    /// counted (per day and version), what the software reported is kept on the activation,
    /// and the answer says where the license stands. A live check-in of a license that runs
    /// here gets a renewed certificate (with a new check-in lease where the rule set asks
    /// for one); a queued one is only counted.
    pub fn check_in(&self, now: DateTime<Utc>, proof: &str) -> StoreResult<CheckInOutcome> {
        let statement: CheckIn = files::read(proof)?;
        statement.report.check()?;
        let now = chrono::SubsecRound::trunc_subsecs(now, 6);
        self.write(|conn| {
            let (row, machine, last_ms) =
                signed_activation(conn, statement.activation_id, statement.license_id, &statement.machine_key)?;
            checkin::decide_checkin_time(statement.at_ms, statement.queued, last_ms, now)?;
            let signed = checkin::signed_at(statement.at_ms);
            // Taken once: a racing copy of the same statement finds the newer time and stops.
            let report = &statement.report;
            let taken = diesel::update(
                activations::table
                    .find(&row.id)
                    .filter(activations::last_proof_ms.is_null().or(activations::last_proof_ms.lt(statement.at_ms))),
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
                return Err(CoreError::new(ErrorCode::Replayed).with("file", "check-in").into());
            }
            add_usage(conn, &row.id, signed, &report.version, &report.os_name(), (1, 0, 0))?;
            let loaded = load_one(conn, &row.license_id)?;
            let validity = history_validity(&loaded, statement.activation_id, now)?;
            let expires_at = match (loaded.license.expires_at, row.emergency_until) {
                (Some(a), Some(b)) => Some(utc(a.min(b))),
                (a, b) => a.or(b).map(utc),
            };
            let certificate = match validity {
                Validity::Active if !statement.queued => {
                    Some(crate::certificates::issue(conn, &loaded, &row, &machine, now)?)
                }
                Validity::Active
                | Validity::Pending
                | Validity::Expired
                | Validity::Revoked
                | Validity::SeatLost => None,
            };
            let checkin_until = match certificate {
                Some(_) => keyport_core::certificate::checkin_lease(loaded.rules()?.params(), now),
                None => None,
            };
            Ok(CheckInOutcome {
                validity,
                license_id: statement.license_id,
                activation_id: statement.activation_id,
                expires_at,
                certificate,
                checkin_until,
            })
        })
    }

    /// A session of use starts, goes on or ends, reported with a statement signed by the
    /// machine key. Reports of one session are idempotent: a start that was seen, a
    /// heartbeat older than the last and an end of a closed session change nothing. A
    /// session starts only where the license runs, and at most
    /// [`MAX_OPEN_SESSIONS`] are open per activation.
    pub fn report_usage(&self, now: DateTime<Utc>, proof: &str) -> StoreResult<SessionOutcome> {
        let report: UsageReport = files::read(proof)?;
        report.check()?;
        checkin::decide_report_time(report.at_ms, false, now)?;
        let at = stored_time(checkin::signed_at(report.at_ms));
        self.write(|conn| {
            let (row, _, _) =
                signed_activation(conn, report.activation_id, report.license_id, &report.machine_key)?;
            let loaded = load_one(conn, &row.license_id)?;
            let validity = history_validity(&loaded, report.activation_id, now)?;
            let session = report.session_id.to_string();
            let open_row: Option<(String, NaiveDateTime, NaiveDateTime, String)> = usage_sessions::table
                .find(&session)
                .select((
                    usage_sessions::activation_id,
                    usage_sessions::started_at,
                    usage_sessions::last_seen_at,
                    usage_sessions::version,
                ))
                .first(conn)
                .optional()?;
            // A session id is the client's; one of another activation is not this one's.
            let open_row = match open_row {
                Some(found) if found.0 != row.id => return Err(CoreError::not_found("session").into()),
                other => other,
            };
            let open = match (report.event, open_row) {
                (SessionEvent::Start | SessionEvent::Heartbeat, Some((_, _, last_seen, _))) => {
                    if at > last_seen {
                        diesel::update(usage_sessions::table.find(&session))
                            .set(usage_sessions::last_seen_at.eq(at))
                            .execute(conn)?;
                    }
                    true
                }
                (SessionEvent::Start, None) => {
                    if validity != Validity::Active {
                        false
                    } else {
                        start_session(conn, &row.id, &session, &report, at)?;
                        true
                    }
                }
                (SessionEvent::Heartbeat | SessionEvent::End, None) => false,
                (SessionEvent::End, Some((_, started, last_seen, version))) => {
                    close_session(conn, &session, &row.id, &version, &report.os, started, last_seen.max(at))?;
                    false
                }
            };
            Ok(SessionOutcome { validity, session_id: report.session_id, open })
        })
    }

    /// Closes sessions with no heartbeat for [`SESSION_TIMEOUT_MINUTES`] at their last
    /// heartbeat, at most `batch` of them; answers how many.
    pub fn close_idle_sessions(&self, now: DateTime<Utc>, batch: i64) -> StoreResult<usize> {
        let idle_since = stored_time(now - Duration::minutes(SESSION_TIMEOUT_MINUTES));
        self.write(|conn| {
            let idle: Vec<(String, String, String, String, NaiveDateTime, NaiveDateTime)> = usage_sessions::table
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
                close_session(conn, id, activation, version, os, *started, *last_seen)?;
            }
            Ok(idle.len())
        })
    }
}

fn start_session(
    conn: &mut DbConn,
    activation_id: &str,
    session: &str,
    report: &UsageReport,
    at: NaiveDateTime,
) -> StoreResult<()> {
    let open: i64 = usage_sessions::table
        .filter(usage_sessions::activation_id.eq(activation_id))
        .count()
        .get_result(conn)?;
    if open >= i64::from(MAX_OPEN_SESSIONS) {
        return Err(CoreError::new(ErrorCode::TooManySessions).with("limit", MAX_OPEN_SESSIONS).into());
    }
    diesel::insert_into(usage_sessions::table)
        .values((
            usage_sessions::id.eq(session),
            usage_sessions::activation_id.eq(activation_id),
            usage_sessions::version.eq(&report.version),
            usage_sessions::os.eq(report.os.to_ascii_lowercase()),
            usage_sessions::started_at.eq(at),
            usage_sessions::last_seen_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Folds a session into its start day's usage row and forgets it.
fn close_session(
    conn: &mut DbConn,
    session: &str,
    activation_id: &str,
    version: &str,
    os: &str,
    started: NaiveDateTime,
    ended: NaiveDateTime,
) -> StoreResult<()> {
    let deleted = diesel::delete(usage_sessions::table.find(session)).execute(conn)?;
    if deleted == 0 {
        return Ok(());
    }
    let seconds = checkin::session_seconds(utc(started), utc(ended));
    add_usage(conn, activation_id, utc(started), version, &os.to_ascii_lowercase(), (0, 1, seconds))
}
