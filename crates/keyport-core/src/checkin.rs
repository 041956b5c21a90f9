//! Check-in: the ISV's software logs in by itself from the end user's machine. It signs a
//! short statement with the machine key of its activation (no customer login), reports its
//! version, OS, architecture and locale, and learns whether its license is still valid; an
//! active one gets a renewed certificate with a new check-in lease.
//!
//! Replays are refused without keeping every statement: each check-in carries its signing
//! time in milliseconds, and an activation takes only times newer than the newest it took
//! (`replayed`). A live check-in must be signed within [`CLOCK_SKEW_MINUTES`] of the
//! server's clock (`stale_proof`); a *queued* one (kept by the client while the server was
//! unreachable, sent later, oldest first) may be up to [`QUEUE_MAX_AGE_DAYS`] old. It is
//! recorded as usage and renews nothing.
//!
//! Usage sessions (start, heartbeat, end) are signed the same way; they are idempotent per
//! session id, so a repeated report changes nothing.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{CoreError, ErrorCode};
use crate::files::{FileKind, MachineStatement};
use crate::license::{ActivationState, LicenseHistory, LicenseState};

/// How far a live statement's signing time may be from the server's clock.
pub const CLOCK_SKEW_MINUTES: i64 = 5;
/// How old a queued check-in may be.
pub const QUEUE_MAX_AGE_DAYS: i64 = 30;
/// The most usage sessions one activation may have open.
pub const MAX_OPEN_SESSIONS: u32 = 16;
/// The most versions counted apart per activation and day; more are counted as
/// [`OTHER_VERSION`], so a machine that reports a new version string with every check-in
/// cannot grow the usage table.
pub const MAX_VERSIONS_PER_DAY: i64 = 8;
/// Where versions beyond [`MAX_VERSIONS_PER_DAY`] are counted.
pub const OTHER_VERSION: &str = "other";
/// A session with no heartbeat for this long is closed at its last heartbeat (clients send
/// one every 15 minutes).
pub const SESSION_TIMEOUT_MINUTES: i64 = 45;

/// "The software runs here and checks in", signed by the machine key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckIn {
    /// The activation of this machine.
    pub activation_id: Uuid,
    /// Its license.
    pub license_id: Uuid,
    /// The machine's public key.
    pub machine_key: String,
    /// When it was signed, in milliseconds since 1970.
    pub at_ms: i64,
    /// Whether it was kept while the server was unreachable and is sent late.
    #[serde(default)]
    pub queued: bool,
    /// What the software reports about itself.
    #[serde(flatten)]
    pub report: ClientReport,
}

/// What the software reports: its version and the system it runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientReport {
    /// The product version, e.g. `5.2.1`.
    pub version: String,
    /// The operating system: `windows`, `macos`, `linux` or another short name.
    pub os: String,
    /// The operating system's version, e.g. `11 23H2`.
    #[serde(default)]
    pub os_version: String,
    /// The architecture, e.g. `x86_64`, `aarch64`.
    #[serde(default)]
    pub arch: String,
    /// The user's locale, e.g. `de-DE`.
    #[serde(default)]
    pub locale: String,
}

fn token(field: &'static str, value: &str, min: usize, max: usize, extra: &[char]) -> Result<(), CoreError> {
    let ok = (min..=max).contains(&value.len())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(&c));
    if ok {
        Ok(())
    } else {
        let allowed: String = extra.iter().map(|c| format!(" '{c}'")).collect();
        Err(CoreError::invalid(field, format!("must be {min} to {max} letters, digits or{allowed}")))
    }
}

impl ClientReport {
    /// Checks every field: short tokens, nothing a log or a report could be confused by.
    pub fn check(&self) -> Result<(), CoreError> {
        token("version", &self.version, 1, 64, &['.', '-', '+', '_'])?;
        token("os", &self.os, 1, 32, &['-', '_'])?;
        token("os_version", &self.os_version, 0, 64, &['.', '-', '_', ' ', '(', ')'])?;
        token("arch", &self.arch, 0, 32, &['-', '_'])?;
        token("locale", &self.locale, 0, 35, &['-', '_'])
    }

    /// The OS name as stored: lower case.
    pub fn os_name(&self) -> String {
        self.os.to_ascii_lowercase()
    }
}

impl MachineStatement for CheckIn {
    const KIND: FileKind = FileKind::CheckIn;
    fn machine_key(&self) -> &str {
        &self.machine_key
    }
}

/// What happens to a usage session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SessionEvent {
    /// The software started.
    Start,
    /// It is still running (every 15 minutes).
    Heartbeat,
    /// It ended.
    End,
}

/// "A session of use started, goes on or ended", signed by the machine key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    /// The activation of this machine.
    pub activation_id: Uuid,
    /// Its license.
    pub license_id: Uuid,
    /// The machine's public key.
    pub machine_key: String,
    /// The session, chosen by the client; reports of one session are idempotent.
    pub session_id: Uuid,
    /// What happened.
    pub event: SessionEvent,
    /// When, in milliseconds since 1970.
    pub at_ms: i64,
    /// The product version.
    pub version: String,
    /// The operating system.
    pub os: String,
}

impl MachineStatement for UsageReport {
    const KIND: FileKind = FileKind::UsageReport;
    fn machine_key(&self) -> &str {
        &self.machine_key
    }
}

impl UsageReport {
    /// Checks the version and OS as a check-in's.
    pub fn check(&self) -> Result<(), CoreError> {
        token("version", &self.version, 1, 64, &['.', '-', '+', '_'])?;
        token("os", &self.os, 1, 32, &['-', '_'])
    }
}

/// Where a license stands for the software that checks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Validity {
    /// The license runs on this machine.
    Active,
    /// An offline activation waits for its receipt.
    Pending,
    /// The license's term ran out.
    Expired,
    /// The license was revoked.
    Revoked,
    /// This machine's activation ended (deactivated, moved to another machine, or an
    /// emergency license that ran out): the seat is lost here.
    SeatLost,
}

/// The validity of `activation_id` at `now`; the activation must be the license's.
pub fn validity(
    history: &LicenseHistory,
    activation_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Validity, CoreError> {
    let activation = crate::license::find(history, activation_id)?;
    Ok(match history.state(now) {
        LicenseState::Revoked => Validity::Revoked,
        LicenseState::Expired => Validity::Expired,
        LicenseState::Active | LicenseState::Pending | LicenseState::Inactive => match activation.state {
            ActivationState::Active if activation.is_live(now) => Validity::Active,
            ActivationState::Pending => Validity::Pending,
            ActivationState::Active
            | ActivationState::Deactivated
            | ActivationState::Recovered
            | ActivationState::Revoked
            | ActivationState::Expired => Validity::SeatLost,
        },
    })
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn stale(signed: DateTime<Utc>, now: DateTime<Utc>) -> CoreError {
    CoreError::new(ErrorCode::StaleProof)
        .with("signed_at", signed.format("%Y-%m-%d %H:%M:%S UTC"))
        .with("now", now.format("%Y-%m-%d %H:%M:%S UTC"))
        .with("minutes", CLOCK_SKEW_MINUTES)
        .with("days", QUEUE_MAX_AGE_DAYS)
}

/// May a check-in signed at `at_ms` be taken at `now`, after the newest one taken
/// (`last_ms`)? A live one must be within the clock skew, a queued one no older than
/// [`QUEUE_MAX_AGE_DAYS`] and not from the future (`stale_proof`, which tells the person to
/// look at the clock); then one not newer than the newest taken is `replayed`.
pub fn decide_checkin_time(
    at_ms: i64,
    queued: bool,
    last_ms: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), CoreError> {
    decide_report_time(at_ms, queued, now)?;
    if last_ms.is_some_and(|last| at_ms <= last) {
        return Err(CoreError::new(ErrorCode::Replayed).with("file", "check-in"));
    }
    Ok(())
}

/// May a statement signed at `at_ms` be taken at `now`: within the clock skew, or for a
/// queued one, not older than [`QUEUE_MAX_AGE_DAYS`]?
pub fn decide_report_time(at_ms: i64, queued: bool, now: DateTime<Utc>) -> Result<(), CoreError> {
    let signed = at(at_ms);
    let skew = Duration::minutes(CLOCK_SKEW_MINUTES);
    let oldest = if queued { now - Duration::days(QUEUE_MAX_AGE_DAYS) } else { now - skew };
    if signed > now + skew || signed < oldest {
        return Err(stale(signed, now));
    }
    Ok(())
}

/// Whether a check-in gets a renewed certificate: a live one (not queued) of a license that
/// runs on the machine. It carries what holds now: a new check-in lease where the rule set
/// asks for one, a renewed subscription's end, changed features.
pub fn renews_certificate(validity: Validity, queued: bool) -> bool {
    match validity {
        Validity::Active => !queued,
        Validity::Pending | Validity::Expired | Validity::Revoked | Validity::SeatLost => false,
    }
}

/// The version a report is counted under, when `seen` are the versions counted for the
/// activation on that day: its own, or [`OTHER_VERSION`] once [`MAX_VERSIONS_PER_DAY`] are.
pub fn counted_version<'a>(version: &'a str, seen: &[String]) -> &'a str {
    let room = i64::try_from(seen.len()).unwrap_or(i64::MAX) < MAX_VERSIONS_PER_DAY;
    if room || seen.iter().any(|v| v == version) { version } else { OTHER_VERSION }
}

/// A usage session as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredSession {
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its latest heartbeat (or its start).
    pub last_seen_at: DateTime<Utc>,
    /// When it was closed, if it was (kept a while, so a replayed start cannot reopen it).
    pub ended_at: Option<DateTime<Utc>>,
}

/// What a usage report does to its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStep {
    /// Open the session.
    Open,
    /// The session goes on until this report.
    Extend,
    /// Close the session; it was in use until `ended`.
    Close {
        /// The end of use that counts.
        ended: DateTime<Utc>,
    },
    /// Nothing changes (a report seen before, or of a closed or unknown session, or a start
    /// where the license does not run).
    Nothing,
}

/// What a report `event` signed at `at` does to the session as stored (`found`), when the
/// license's validity on the machine is `validity` and the activation has `open` sessions
/// open. A session whose last heartbeat is older than [`SESSION_TIMEOUT_MINUTES`] has ended
/// there, whatever comes later. Answers the step and whether the session is open after it.
pub fn decide_session(
    event: SessionEvent,
    found: Option<StoredSession>,
    validity: Validity,
    open: u32,
    at: DateTime<Utc>,
) -> Result<(SessionStep, bool), CoreError> {
    let timeout = Duration::minutes(SESSION_TIMEOUT_MINUTES);
    Ok(match (event, found) {
        (SessionEvent::Start, None) if validity != Validity::Active => (SessionStep::Nothing, false),
        (SessionEvent::Start, None) if open >= MAX_OPEN_SESSIONS => {
            return Err(CoreError::new(ErrorCode::TooManySessions).with("limit", MAX_OPEN_SESSIONS));
        }
        (SessionEvent::Start, None) => (SessionStep::Open, true),
        (SessionEvent::Heartbeat | SessionEvent::End, None) => (SessionStep::Nothing, false),
        (_, Some(stored)) if stored.ended_at.is_some() => (SessionStep::Nothing, false),
        (_, Some(stored)) if at - stored.last_seen_at > timeout => {
            (SessionStep::Close { ended: stored.last_seen_at }, false)
        }
        (SessionEvent::End, Some(stored)) => {
            (SessionStep::Close { ended: at.max(stored.last_seen_at) }, false)
        }
        (SessionEvent::Start | SessionEvent::Heartbeat, Some(stored)) if at > stored.last_seen_at => {
            (SessionStep::Extend, true)
        }
        (SessionEvent::Start | SessionEvent::Heartbeat, Some(_)) => (SessionStep::Nothing, true),
    })
}

/// How long a closed session is kept, so a replayed report of it changes nothing: longer
/// than a report is taken.
pub const CLOSED_SESSION_KEEP_MINUTES: i64 = 2 * CLOCK_SKEW_MINUTES + 1;

/// The time a statement was signed.
pub fn signed_at(at_ms: i64) -> DateTime<Utc> {
    at(at_ms)
}

/// The day (midnight UTC) usage at `t` is counted on.
pub fn usage_day(t: DateTime<Utc>) -> DateTime<Utc> {
    t.date_naive().and_time(NaiveTime::MIN).and_utc()
}

/// Seconds of use of a session from `started` to `last_seen` (never negative).
pub fn session_seconds(started: DateTime<Utc>, last_seen: DateTime<Utc>) -> i64 {
    (last_seen - started).num_seconds().max(0)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::license::ActivationRecord;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 3, 1, 12, 0, 0).single().unwrap_or_default()
    }

    fn ms(t: DateTime<Utc>) -> i64 {
        t.timestamp_millis()
    }

    fn code(result: Result<(), CoreError>) -> Option<ErrorCode> {
        result.err().map(|e| e.code())
    }

    #[test]
    fn a_live_check_in_within_the_skew_is_taken_once() {
        let signed = ms(now() - Duration::minutes(4));
        assert_eq!(decide_checkin_time(signed, false, None, now()), Ok(()));
        assert_eq!(code(decide_checkin_time(signed, false, Some(signed), now())), Some(ErrorCode::Replayed));
        let ahead = ms(now() + Duration::minutes(4));
        assert_eq!(decide_checkin_time(ahead, false, Some(signed), now()), Ok(()));
    }

    #[test]
    fn a_stale_check_in_names_both_times() {
        let err = decide_checkin_time(ms(now() - Duration::minutes(6)), false, None, now()).err();
        assert_eq!(
            err.map(|e| e.message(crate::Lang::En)),
            Some("This report was signed at 2027-03-01 11:54:00 UTC and the server's time is 2027-03-01 12:00:00 UTC: a report is taken within 5 minutes of it, a queued check-in up to 30 days after it was signed. Check the computer's clock and send a new one.".to_owned())
        );
    }

    #[test]
    fn a_queued_check_in_may_be_old_but_not_older_than_the_queue_keeps() {
        let day_old = ms(now() - Duration::days(1));
        assert_eq!(decide_checkin_time(day_old, true, None, now()), Ok(()));
        assert_eq!(code(decide_checkin_time(day_old, false, None, now())), Some(ErrorCode::StaleProof));
        let too_old = ms(now() - Duration::days(31));
        assert_eq!(code(decide_checkin_time(too_old, true, None, now())), Some(ErrorCode::StaleProof));
        let future = ms(now() + Duration::hours(1));
        assert_eq!(code(decide_checkin_time(future, true, None, now())), Some(ErrorCode::StaleProof));
    }

    fn record(state: ActivationState, emergency_until: Option<DateTime<Utc>>) -> ActivationRecord {
        ActivationRecord {
            id: Uuid::from_u128(1),
            machine_id: Uuid::from_u128(2),
            fingerprint: None,
            rebound_at: None,
            previous_machine_id: None,
            state,
            started_at: now() - Duration::days(10),
            ended_at: None,
            emergency_until,
            converted_at: None,
            stands_for: None,
        }
    }

    fn history(a: ActivationRecord) -> LicenseHistory {
        LicenseHistory {
            starts_at: now() - Duration::days(20),
            expires_at: None,
            revoked_at: None,
            activations: vec![a],
            grants: vec![],
        }
    }

    #[test]
    fn the_validity_says_what_the_software_must_do() {
        let id = Uuid::from_u128(1);
        let v = |h: &LicenseHistory| validity(h, id, now()).ok();
        assert_eq!(v(&history(record(ActivationState::Active, None))), Some(Validity::Active));
        assert_eq!(v(&history(record(ActivationState::Pending, None))), Some(Validity::Pending));
        assert_eq!(v(&history(record(ActivationState::Recovered, None))), Some(Validity::SeatLost));
        assert_eq!(v(&history(record(ActivationState::Active, Some(now())))), Some(Validity::SeatLost));
        let mut revoked = history(record(ActivationState::Revoked, None));
        revoked.revoked_at = Some(now());
        assert_eq!(v(&revoked), Some(Validity::Revoked));
        let mut expired = history(record(ActivationState::Active, None));
        expired.expires_at = Some(now());
        assert_eq!(v(&expired), Some(Validity::Expired));
    }

    #[test]
    fn a_session_opens_goes_on_closes_once_and_is_not_reopened_by_a_replay() {
        let at = now();
        let open =
            |last: DateTime<Utc>| Some(StoredSession { started_at: at, last_seen_at: last, ended_at: None });
        let step = |event, found, at| decide_session(event, found, Validity::Active, 0, at).ok();
        assert_eq!(step(SessionEvent::Start, None, at), Some((SessionStep::Open, true)));
        assert_eq!(step(SessionEvent::Start, open(at), at), Some((SessionStep::Nothing, true)));
        let beat = at + Duration::minutes(15);
        assert_eq!(step(SessionEvent::Heartbeat, open(at), beat), Some((SessionStep::Extend, true)));
        assert_eq!(
            step(SessionEvent::End, open(beat), beat + Duration::minutes(1)),
            Some((SessionStep::Close { ended: beat + Duration::minutes(1) }, false))
        );
        let closed = Some(StoredSession { started_at: at, last_seen_at: beat, ended_at: Some(beat) });
        assert_eq!(step(SessionEvent::Start, closed, at), Some((SessionStep::Nothing, false)));
        assert_eq!(step(SessionEvent::End, closed, beat), Some((SessionStep::Nothing, false)));
        // A heartbeat after the timeout does not stretch the session over the gap.
        let late = at + Duration::minutes(SESSION_TIMEOUT_MINUTES + 1);
        assert_eq!(
            step(SessionEvent::Heartbeat, open(at), late),
            Some((SessionStep::Close { ended: at }, false))
        );
        // No session starts where the license does not run, or past the limit.
        assert_eq!(
            decide_session(SessionEvent::Start, None, Validity::SeatLost, 0, at).ok(),
            Some((SessionStep::Nothing, false))
        );
        let full = decide_session(SessionEvent::Start, None, Validity::Active, MAX_OPEN_SESSIONS, at);
        assert_eq!(full.err().map(|e| e.code()), Some(ErrorCode::TooManySessions));
    }

    #[test]
    fn versions_beyond_the_daily_cap_count_as_other() {
        let seen: Vec<String> = (0..MAX_VERSIONS_PER_DAY).map(|n| format!("5.{n}")).collect();
        assert_eq!(counted_version("5.0", &seen), "5.0");
        assert_eq!(counted_version("6.0", &seen), OTHER_VERSION);
        assert_eq!(counted_version("6.0", &seen[..2]), "6.0");
        assert!(renews_certificate(Validity::Active, false));
        assert!(!renews_certificate(Validity::Active, true));
        assert!(!renews_certificate(Validity::SeatLost, false));
    }

    #[test]
    fn a_report_with_control_characters_or_long_values_is_refused() {
        let good = ClientReport {
            version: "5.2.1".to_owned(),
            os: "Windows".to_owned(),
            os_version: "11 (23H2)".to_owned(),
            arch: "x86_64".to_owned(),
            locale: "de-DE".to_owned(),
        };
        assert_eq!(good.check(), Ok(()));
        assert!(ClientReport { version: "5\0".to_owned(), ..good.clone() }.check().is_err());
        assert!(ClientReport { os: "x".repeat(33), ..good.clone() }.check().is_err());
        assert!(ClientReport { locale: "de\nDE".to_owned(), ..good }.check().is_err());
    }

    proptest! {
        /// Taking check-ins in any order, each signing time is taken at most once and the
        /// newest taken only grows.
        #[test]
        fn no_signing_time_is_taken_twice(offsets in proptest::collection::vec(-400_000i64..400_000, 1..50)) {
            let mut last: Option<i64> = None;
            let mut taken = std::collections::HashSet::new();
            for offset in offsets {
                let signed = ms(now()) + offset;
                if decide_checkin_time(signed, false, last, now()).is_ok() {
                    prop_assert!(taken.insert(signed));
                    prop_assert!(last.is_none_or(|l| signed > l));
                    prop_assert!((signed - ms(now())).abs() <= CLOCK_SKEW_MINUTES * 60_000);
                    last = Some(signed);
                }
            }
        }
    }
}
