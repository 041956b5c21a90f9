//! Licenses and their activations, and the rule decisions about them.
//!
//! Every decision is a function of (rule set, license history, now): the same inputs always
//! give the same answer, whatever order the history was loaded in.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::error::{CoreError, ErrorCode};
use crate::rules::RuleSet;

/// Where an activation stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationState {
    /// An offline activation waiting for its receipt; it holds a seat.
    Pending,
    /// Bound to its machine; it holds a seat.
    Active,
    /// The machine gave its seat back.
    Deactivated,
    /// The machine was lost; the seat moved to another machine for a credit.
    Recovered,
    /// Support or a cancelled order ended it.
    Revoked,
    /// The license's term ran out.
    Expired,
}

impl ActivationState {
    /// Every state, for parsing and documentation.
    pub const ALL: [ActivationState; 6] = [
        ActivationState::Pending,
        ActivationState::Active,
        ActivationState::Deactivated,
        ActivationState::Recovered,
        ActivationState::Revoked,
        ActivationState::Expired,
    ];

    /// The stored snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivationState::Pending => "pending",
            ActivationState::Active => "active",
            ActivationState::Deactivated => "deactivated",
            ActivationState::Recovered => "recovered",
            ActivationState::Revoked => "revoked",
            ActivationState::Expired => "expired",
        }
    }

    /// Reads a stored name.
    pub fn parse(value: &str) -> Result<ActivationState, CoreError> {
        ActivationState::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| CoreError::invalid("state", format!("'{value}' is not an activation state")))
    }

    /// Whether an activation in this state occupies a seat.
    pub fn holds_seat(self) -> bool {
        matches!(self, ActivationState::Pending | ActivationState::Active)
    }
}

/// A license's state, derived from its activations and dates.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenseState {
    /// Revoked by support or a cancelled order.
    Revoked,
    /// Its term ran out.
    Expired,
    /// Active on at least one machine.
    Active,
    /// Only pending offline activations.
    Pending,
    /// On no machine.
    Inactive,
}

impl LicenseState {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseState::Revoked => "revoked",
            LicenseState::Expired => "expired",
            LicenseState::Active => "active",
            LicenseState::Pending => "pending",
            LicenseState::Inactive => "inactive",
        }
    }
}

/// One activation as the decisions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRecord {
    /// The activation.
    pub id: Uuid,
    /// The machine it binds.
    pub machine_id: Uuid,
    /// The hardware fingerprint the machine had when it was bound.
    pub fingerprint: Option<String>,
    /// When it last moved to a new machine key on the same hardware, if it did.
    pub rebound_at: Option<DateTime<Utc>>,
    /// The machine it was bound to before that move.
    pub previous_machine_id: Option<Uuid>,
    /// Its stored state.
    pub state: ActivationState,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// When it ended, if it did.
    pub ended_at: Option<DateTime<Utc>>,
    /// Where this is an emergency license: when it ends by itself. It holds no seat of the
    /// license's own, and it holds nothing once this time has passed.
    pub emergency_until: Option<DateTime<Utc>>,
    /// When a recovery made this emergency license a normal activation, if one did.
    pub converted_at: Option<DateTime<Utc>>,
    /// For an emergency license: the activation of the lost machine it stands in for.
    pub stands_for: Option<Uuid>,
}

impl ActivationRecord {
    /// Whether this activation holds its machine's place on the license at `now`: a
    /// pending or active one, and an emergency license only until it ends.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.state.holds_seat() && self.emergency_end().is_none_or(|until| until > now)
    }

    /// Whether this is an emergency license (running or ended; not one a recovery made
    /// normal).
    pub fn is_emergency(&self) -> bool {
        self.emergency_end().is_some()
    }

    /// When this emergency license ends by itself; `None` for a normal activation.
    pub fn emergency_end(&self) -> Option<DateTime<Utc>> {
        emergency_end(self.emergency_until, self.converted_at)
    }

    /// Whether it began as an emergency license (converted or not): it counts against the
    /// yearly allowance.
    pub fn began_as_emergency(&self) -> bool {
        self.emergency_until.is_some()
    }

    /// When it took its seat: its start, or for a converted emergency license the recovery
    /// that made it normal.
    fn seated_at(&self) -> DateTime<Utc> {
        self.converted_at.unwrap_or(self.started_at)
    }
}

/// When an activation that began as an emergency license (until `emergency_until`) ends by
/// itself: never once a recovery converted it (`converted_at`), and never for a normal one.
pub fn emergency_end(
    emergency_until: Option<DateTime<Utc>>,
    converted_at: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    emergency_until.filter(|_| converted_at.is_none())
}

/// When the certificate of an activation ends: with its license, or with the emergency
/// license it is, whichever is first.
pub fn certificate_end(
    license_expires_at: Option<DateTime<Utc>>,
    emergency_end: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match (license_expires_at, emergency_end) {
        (Some(license), Some(emergency)) => Some(license.min(emergency)),
        (license, emergency) => license.or(emergency),
    }
}

/// Re-activation credits that support granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditGrant {
    /// When.
    pub at: DateTime<Utc>,
    /// How many.
    pub amount: u32,
}

/// Everything the decisions need to know about one license.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseHistory {
    /// When the license began (credits replenish from here).
    pub starts_at: DateTime<Utc>,
    /// When it expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Every activation, in any order.
    pub activations: Vec<ActivationRecord>,
    /// Every support grant, in any order.
    pub grants: Vec<CreditGrant>,
}

impl LicenseHistory {
    /// The time a decision is made at: `now`, or the latest recorded change when that is
    /// later. A writer reads its clock before it waits for the license's lock; a racing
    /// writer that committed first may have stamped its change a moment later, and that
    /// change has happened all the same (a credit it spent is spent).
    pub fn decision_time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.activations
            .iter()
            .flat_map(|a| [Some(a.started_at), a.ended_at])
            .flatten()
            .chain(self.grants.iter().map(|g| g.at))
            .fold(now, DateTime::max)
    }

    /// Whether the license has run out at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|end| end <= now)
    }

    /// Activations holding a seat at `now` (none once revoked or expired). An emergency
    /// license comes on top of the seats and is not counted.
    pub fn seats_in_use(&self, now: DateTime<Utc>) -> u32 {
        if self.revoked_at.is_some() || self.is_expired(now) {
            return 0;
        }
        let held = self.activations.iter().filter(|a| a.state.holds_seat() && !a.is_emergency()).count();
        u32::try_from(held).unwrap_or(u32::MAX)
    }

    /// The license's state at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> LicenseState {
        if self.revoked_at.is_some() {
            LicenseState::Revoked
        } else if self.is_expired(now) {
            LicenseState::Expired
        } else if self.activations.iter().any(|a| a.state == ActivationState::Active && a.is_live(now)) {
            LicenseState::Active
        } else if self.activations.iter().any(|a| a.state == ActivationState::Pending) {
            LicenseState::Pending
        } else {
            LicenseState::Inactive
        }
    }

    /// An activation's state at `now`: one that holds a seat shows `expired` or `revoked`
    /// once its license is, and an emergency license `expired` once its time has passed.
    pub fn effective_state(&self, activation: &ActivationRecord, now: DateTime<Utc>) -> ActivationState {
        match self.state(now) {
            LicenseState::Revoked if activation.state.holds_seat() => ActivationState::Revoked,
            LicenseState::Expired if activation.state.holds_seat() => ActivationState::Expired,
            _ if activation.state.holds_seat() && !activation.is_live(now) => ActivationState::Expired,
            _ => activation.state,
        }
    }

    pub(crate) fn usable(&self, now: DateTime<Utc>) -> Result<(), CoreError> {
        if self.revoked_at.is_some() {
            return Err(CoreError::new(ErrorCode::LicenseRevoked));
        }
        match self.expires_at {
            Some(end) if end <= now => Err(CoreError::new(ErrorCode::LicenseExpired).with("date", day(end))),
            _ => Ok(()),
        }
    }

    /// The live activation of this machine at `now`, if it has one.
    pub(crate) fn holder(&self, machine_id: Uuid, now: DateTime<Utc>) -> Option<&ActivationRecord> {
        self.activations.iter().find(|a| a.machine_id == machine_id && a.is_live(now))
    }

    #[cfg(test)]
    pub(crate) fn blocked_until_for_tests(&self, blocking: Duration) -> Option<DateTime<Utc>> {
        self.blocked_until(blocking)
    }

    /// When a recovery becomes possible after the latest activation: emergency licenses do
    /// not count (they would push a recovery out forever). `None` when nothing blocks.
    fn blocked_until(&self, blocking: Duration) -> Option<DateTime<Utc>> {
        // A zero blocking period never blocks, even when a racing recovery has just started
        // an activation a moment "after" this request's clock reading.
        if blocking <= Duration::zero() {
            return None;
        }
        self.activations
            .iter()
            .filter(|a| !a.is_emergency())
            .map(ActivationRecord::seated_at)
            .max()
            .map(|t| t + blocking)
    }
}

/// A license's re-activation credits at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credits {
    /// Credits that can be spent now.
    pub available: u32,
    /// When the next credit comes by replenishment, if one will.
    pub next_credit_at: Option<DateTime<Utc>>,
}

/// Counts the credits at `now`: start with the initial number; every completed period adds
/// K up to the cap; each recovery spends one; support grants add theirs (above the cap too).
pub fn credits(rules: &RuleSet, history: &LicenseHistory, now: DateTime<Utc>) -> Credits {
    let balance = balance(rules, history, now);
    let p = rules.params();
    let cap = i64::from(p.credit_cap);
    let next_credit_at = if p.replenish_credits == 0 || balance >= cap {
        None
    } else {
        let period = Duration::days(i64::from(p.replenish_every_days));
        let index = period_index(history.starts_at, period, now);
        i32::try_from(index + 1).ok().map(|n| history.starts_at + period * n)
    };
    Credits { available: u32::try_from(balance.max(0)).unwrap_or(u32::MAX), next_credit_at }
}

fn balance(rules: &RuleSet, history: &LicenseHistory, now: DateTime<Utc>) -> i64 {
    let p = rules.params();
    let mut changes: Vec<(DateTime<Utc>, i64)> = history
        .grants
        .iter()
        .map(|g| (g.at, i64::from(g.amount)))
        .chain(
            history
                .activations
                .iter()
                .filter(|a| a.state == ActivationState::Recovered)
                .filter_map(|a| a.ended_at.map(|at| (at, -1))),
        )
        .filter(|(at, _)| *at <= now)
        .collect();
    changes.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));

    let cap = i64::from(p.credit_cap);
    let step = i64::from(p.replenish_credits);
    let period = Duration::days(i64::from(p.replenish_every_days));
    let replenish = |balance: i64, from: DateTime<Utc>, to: DateTime<Utc>| {
        if step == 0 || balance >= cap {
            return balance;
        }
        let periods =
            period_index(history.starts_at, period, to) - period_index(history.starts_at, period, from);
        cap.min(balance.saturating_add(step.saturating_mul(periods.max(0))))
    };

    let mut balance = i64::from(p.initial_credits);
    let mut at = history.starts_at;
    for (when, delta) in changes {
        let when = when.max(at);
        balance = replenish(balance, at, when) + delta;
        at = when;
    }
    replenish(balance, at, now.max(at))
}

/// Completed replenishment periods from `start` to `t` (0 before the start).
fn period_index(start: DateTime<Utc>, period: Duration, t: DateTime<Utc>) -> i64 {
    let period = period.num_seconds();
    if period <= 0 || t <= start {
        return 0;
    }
    (t - start).num_seconds() / period
}

pub(crate) fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// What an activation attempt comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationDecision {
    /// The machine holds this activation already: activating again is free.
    Existing(Uuid),
    /// The same hardware (fingerprint) holds this activation under another machine key: the
    /// client was reinstalled and its key lost. The activation moves to the new key for free.
    Rebind(Uuid),
    /// A new activation takes a free seat.
    New,
}

/// May `machine_id`, whose hardware has `fingerprint`, activate this license at `now`?
///
/// - The same machine again gets its activation, for free.
/// - The same hardware under a new machine key (a reinstalled client whose key was lost)
///   gets its activation moved to the new key, for free, but at most once per blocking
///   period (at least a day) and never straight back to the key it moved from: a
///   fingerprint copied to other machines cannot pass a seat around.
/// - Anything else needs a free seat.
pub fn decide_activation(
    rules: &RuleSet,
    history: &LicenseHistory,
    machine_id: Uuid,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<ActivationDecision, CoreError> {
    history.usable(now)?;
    if let Some(existing) = history.holder(machine_id, now) {
        return Ok(ActivationDecision::Existing(existing.id));
    }
    let period = Duration::days(i64::from(rules.params().blocking_days.max(1)));
    let same_hardware: Vec<&ActivationRecord> = history
        .activations
        .iter()
        .filter(|a| a.state == ActivationState::Active && !a.is_emergency())
        .filter(|a| a.fingerprint.as_deref() == Some(fingerprint))
        .filter(|a| a.previous_machine_id != Some(machine_id))
        .collect();
    if let Some(free) = same_hardware.iter().find(|a| a.rebound_at.is_none_or(|at| at + period <= now)) {
        return Ok(ActivationDecision::Rebind(free.id));
    }
    // The same hardware holds an activation that moved too recently: a new seat would leave
    // that one behind with a key nobody has (only a paid recovery could free it).
    if let Some(next) = same_hardware.iter().filter_map(|a| a.rebound_at).map(|at| at + period).min() {
        return Err(CoreError::new(ErrorCode::RecoveryBlocked)
            .with("date", day(next))
            .with("at", next.to_rfc3339()));
    }
    if history.seats_in_use(now) < rules.seats() {
        return Ok(ActivationDecision::New);
    }
    Err(CoreError::new(ErrorCode::SeatsExhausted).with("seats", rules.seats()))
}

/// May this activation give its seat back?
pub fn decide_deactivation(
    rules: &RuleSet,
    history: &LicenseHistory,
    activation_id: Uuid,
) -> Result<(), CoreError> {
    let activation = find(history, activation_id)?;
    if !activation.state.holds_seat() {
        return Err(CoreError::new(ErrorCode::ActivationNotActive).with("state", activation.state.as_str()));
    }
    if !rules.params().deactivation_allowed {
        return Err(CoreError::new(ErrorCode::DeactivationNotAllowed));
    }
    Ok(())
}

/// What a recovery costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryDecision {
    /// Credits left after this recovery spends one.
    pub credits_after: u32,
    /// The new machine runs an emergency license of this license: the recovery makes that
    /// activation a normal one instead of starting another.
    pub converts: Option<Uuid>,
    /// Emergency licenses running on other machines for this lost machine: its seat has
    /// moved now, so they end.
    pub ends_emergencies: Vec<Uuid>,
}

/// May the seat of the active activation `lost_activation_id`, on a machine that was lost,
/// move to `new_machine_id` at `now`? It costs one re-activation credit.
pub fn decide_recovery(
    rules: &RuleSet,
    history: &LicenseHistory,
    lost_activation_id: Uuid,
    new_machine_id: Uuid,
    now: DateTime<Utc>,
) -> Result<RecoveryDecision, CoreError> {
    let now = history.decision_time(now);
    history.usable(now)?;
    lost_machine(history, lost_activation_id)?;
    let converts = match history.holder(new_machine_id, now) {
        Some(held) if held.is_emergency() => Some(held.id),
        Some(_) => return Err(CoreError::new(ErrorCode::MachineAlreadyActive)),
        None => None,
    };
    let available = recovery_allowed(rules, history, now)?;
    let ends_emergencies = history
        .activations
        .iter()
        .filter(|a| a.is_emergency() && a.is_live(now) && Some(a.id) != converts)
        .filter(|a| a.stands_for == Some(lost_activation_id))
        .map(|a| a.id)
        .collect();
    Ok(RecoveryDecision { credits_after: available - 1, converts, ends_emergencies })
}

/// What recovering the lost machine's activation would leave, decided as the recovery
/// decides it (for a page that states the cost before the customer confirms): the credits
/// left after it, or the refusal the recovery would give now (a revoked or expired
/// license, an activation that is not a lost machine's, the blocking period, no credit).
pub fn preview_recovery(
    rules: &RuleSet,
    history: &LicenseHistory,
    lost_activation_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u32, CoreError> {
    let now = history.decision_time(now);
    history.usable(now)?;
    lost_machine(history, lost_activation_id)?;
    Ok(recovery_allowed(rules, history, now)? - 1)
}

/// Whether the license's rules let a recovery happen at `now` (the blocking period after
/// the latest activation is over, and a credit is there): the credits available, or why
/// not (`recovery_blocked`, `no_reactivation_credits`, `reactivation_credits_exhausted`).
pub(crate) fn recovery_allowed(
    rules: &RuleSet,
    history: &LicenseHistory,
    now: DateTime<Utc>,
) -> Result<u32, CoreError> {
    let blocking = Duration::days(i64::from(rules.params().blocking_days));
    if let Some(free_at) = history.blocked_until(blocking).filter(|free_at| now < *free_at) {
        return Err(CoreError::new(ErrorCode::RecoveryBlocked)
            .with("date", day(free_at))
            .with("at", free_at.to_rfc3339()));
    }
    let credits = credits(rules, history, now);
    if credits.available == 0 {
        return Err(match credits.next_credit_at {
            Some(next) => CoreError::new(ErrorCode::NoReactivationCredits)
                .with("date", day(next))
                .with("at", next.to_rfc3339()),
            None => CoreError::new(ErrorCode::ReactivationCreditsExhausted),
        });
    }
    Ok(credits.available)
}

/// What a revocation request comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationDecision {
    /// Revoke now: every seat is freed and the revocation recorded.
    Revoke,
    /// Revoked before: a revoked license is final; the answer is the license as it is (the
    /// first reason stays) and nothing is recorded.
    AlreadyRevoked,
}

/// Revoking a revoked license changes nothing.
pub fn decide_revocation(history: &LicenseHistory) -> RevocationDecision {
    if history.revoked_at.is_some() { RevocationDecision::AlreadyRevoked } else { RevocationDecision::Revoke }
}

/// The most credits one support grant can give.
pub const MAX_GRANT: u32 = 100;

/// May support grant `amount` credits? 1 to [`MAX_GRANT`], and never on a revoked license:
/// it can never spend them. An expired license may take them (a renewal brings it back).
pub fn decide_credit_grant(history: &LicenseHistory, amount: u32) -> Result<(), CoreError> {
    if !(1..=MAX_GRANT).contains(&amount) {
        return Err(CoreError::invalid("amount", format!("must be between 1 and {MAX_GRANT}")));
    }
    if history.revoked_at.is_some() {
        return Err(CoreError::new(ErrorCode::LicenseRevoked));
    }
    Ok(())
}

/// The new end of a license of `model` renewed at `now`: a subscription runs its term
/// again from its end, or from `now` once it has ended. Only a subscription is renewed
/// (`not_a_subscription`), and a revoked license is final (`license_revoked`).
pub fn decide_renewal(
    model: crate::LicenseModel,
    history: &LicenseHistory,
    now: DateTime<Utc>,
) -> Result<Renewal, CoreError> {
    let days = match model {
        crate::LicenseModel::Subscription { days } => days,
        crate::LicenseModel::Perpetual | crate::LicenseModel::Demo { .. } => {
            return Err(CoreError::new(ErrorCode::NotASubscription));
        }
    };
    if history.revoked_at.is_some() {
        return Err(CoreError::new(ErrorCode::LicenseRevoked));
    }
    let end = history.expires_at.unwrap_or(now).max(now);
    Ok(Renewal { expires_at: end + Duration::days(i64::from(days)), days })
}

/// A subscription's renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewal {
    /// The new end.
    pub expires_at: DateTime<Utc>,
    /// The term it was renewed by.
    pub days: u32,
}

/// The activation of a machine that was lost: it must be active, and not an emergency
/// license (which ends by itself and is never moved).
pub(crate) fn lost_machine(
    history: &LicenseHistory,
    activation_id: Uuid,
) -> Result<&ActivationRecord, CoreError> {
    let lost = find(history, activation_id)?;
    if lost.state != ActivationState::Active {
        return Err(CoreError::new(ErrorCode::ActivationNotActive).with("state", lost.state.as_str()));
    }
    if lost.is_emergency() {
        return Err(CoreError::new(ErrorCode::EmergencyNotRecoverable));
    }
    Ok(lost)
}

pub(crate) fn find(history: &LicenseHistory, activation_id: Uuid) -> Result<&ActivationRecord, CoreError> {
    history
        .activations
        .iter()
        .find(|a| a.id == activation_id)
        .ok_or_else(|| CoreError::not_found("activation"))
}

#[cfg(test)]
#[path = "license_tests.rs"]
mod tests;
