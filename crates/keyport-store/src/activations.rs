//! Use cases that move seats: activate, deactivate, recover from a lost machine, revoke,
//! and grant re-activation credits.
//!
//! Each locks the license row first (an update of its lock version), so on PostgreSQL two
//! writers of one license queue up, and on SQLite the write lock is held from `BEGIN
//! IMMEDIATE`. The decision then sees every committed activation.

use diesel::prelude::*;
use keyport_core::{
    ActivationDecision, ActivationState, CoreError, EventKind, MachineIdentity, Reason, RevocationDecision,
    license,
};
use serde_json::json;
use uuid::Uuid;

use crate::certificates;
use crate::db::DbConn;
use crate::events::{Subject, append};
use crate::licenses::{Loaded, activation_view, load_in_scope, load_one, scope_sees};
use crate::rows::{ActivationRow, CreditGrantRow, MachineRow};
use crate::schema::{activations, credit_grants, licenses, machines, tickets};
use crate::{
    ActivationOutcome, ActivationView, Context, LicenseView, Scope, Store, StoreError, StoreResult, new_id,
    stored_time,
};

impl Store {
    /// Activates a license on a machine. The same machine again gets its existing
    /// activation for free; a new machine takes a free seat or is refused with
    /// `seats_exhausted`.
    pub fn activate(
        &self,
        ctx: &Context,
        scope: Scope,
        license_id: Uuid,
        machine: &MachineIdentity,
    ) -> StoreResult<ActivationOutcome> {
        // The current signing key as cached in this process (a rotation elsewhere is seen
        // within `SIGNING_KEY_CACHE`, 60 s; older keys keep verifying): one statement fewer
        // while the license is locked.
        let key = self.cached_signing_key(ctx.now)?;
        self.write(|conn| activate_with(conn, ctx, scope, license_id, machine, Some(&key)))
    }

    /// Gives an activation's seat back, where the rule set allows it.
    pub fn deactivate(
        &self,
        ctx: &Context,
        scope: Scope,
        activation_id: Uuid,
    ) -> StoreResult<ActivationView> {
        self.write(|conn| {
            let loaded = lock_activation_in_scope(conn, scope, activation_id)?;
            license::decide_deactivation(&loaded.rules()?, &loaded.history()?, activation_id)?;
            let (row, machine) =
                end_activation(conn, &loaded, activation_id, ActivationState::Deactivated, ctx)?;
            let data = json!({"activation_id": row.id, "machine_id": machine.id});
            append(conn, ctx, EventKind::LicenseDeactivated, license_subject(&loaded), data)?;
            activation_view(&row, &machine, ActivationState::Deactivated)
        })
    }

    /// Moves the seat of an active activation on a lost machine to a new machine, spending
    /// one re-activation credit, within the rule set's blocking period and credits.
    pub fn recover(
        &self,
        ctx: &Context,
        scope: Scope,
        lost_activation_id: Uuid,
        machine: &MachineIdentity,
    ) -> StoreResult<ActivationOutcome> {
        self.write(|conn| {
            let loaded = lock_activation_in_scope(conn, scope, lost_activation_id)?;
            let new_machine = upsert_machine(conn, ctx, machine)?;
            let decision = license::decide_recovery(
                &loaded.rules()?,
                &loaded.history()?,
                lost_activation_id,
                crate::uuid_of(&new_machine.id)?,
                ctx.now,
            )?;
            let (lost, _) =
                end_activation(conn, &loaded, lost_activation_id, ActivationState::Recovered, ctx)?;
            let row = match decision.converts {
                // The new machine runs an emergency license: it becomes a normal activation
                // (still counted against the yearly allowance).
                Some(emergency) => {
                    let (row, _) = loaded.activation(emergency)?;
                    let now = stored_time(ctx.now);
                    diesel::update(activations::table.find(&row.id))
                        .set(activations::converted_at.eq(now))
                        .execute(conn)?;
                    ActivationRow { converted_at: Some(now), ..row }
                }
                None => {
                    crate::demo_claims::claim_machine(conn, ctx, &loaded, &new_machine.fingerprint)?;
                    insert_activation(conn, &loaded, &new_machine, ActivationState::Active, ctx)?
                }
            };
            // Emergency licenses elsewhere stood in for the lost machine: they end now.
            for ended in &decision.ends_emergencies {
                end_activation(conn, &loaded, *ended, ActivationState::Expired, ctx)?;
            }
            let data = json!({
                "lost_activation_id": lost.id,
                "activation_id": row.id,
                "machine_id": new_machine.id,
                "credits_after": decision.credits_after,
                "converted_emergency": decision.converts.is_some(),
                "ended_emergencies": decision.ends_emergencies,
            });
            append(conn, ctx, EventKind::LicenseRecovered, license_subject(&loaded), data)?;
            let certificate = certificates::issue(conn, &loaded, &row, &new_machine, ctx.now)?;
            let activation = activation_view(&row, &new_machine, ActivationState::Active)?;
            Ok(ActivationOutcome { activation, created: true, certificate })
        })
    }

    /// What [`Store::recover`] would leave now, without doing it: the credits left after it,
    /// or the refusal it would give (the web depot states the cost before it asks).
    pub fn preview_recovery(
        &self,
        scope: Scope,
        lost_activation_id: Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<u32> {
        // A read (no lock): a page view takes no write lock; the recovery decides again.
        self.read(|conn| {
            let hidden = || StoreError::from(CoreError::not_found("activation"));
            let license_id: Option<String> = activations::table
                .find(lost_activation_id.to_string())
                .select(activations::license_id)
                .first(conn)
                .optional()?;
            let loaded = crate::licenses::load_one(conn, &license_id.ok_or_else(hidden)?)?;
            if !loaded.visible_to(scope) {
                return Err(hidden());
            }
            Ok(license::preview_recovery(&loaded.rules()?, &loaded.history()?, lost_activation_id, now)?)
        })
    }

    /// Revokes a license: every seat is freed and nothing can activate it again. A revoked
    /// license is final: revoking it again changes nothing and records nothing.
    pub fn revoke_license(
        &self,
        ctx: &Context,
        license_id: Uuid,
        reason: &Reason,
    ) -> StoreResult<LicenseView> {
        self.write(|conn| {
            revoke_in(conn, ctx, license_id, reason)?;
            load_one(conn, &license_id.to_string())?.view(ctx.now)
        })
    }

    /// Renews a subscription license by its item's term: from its end, or from now when it
    /// has ended. Its activations hold their seats again while it runs.
    pub fn renew_subscription(&self, ctx: &Context, license_id: Uuid) -> StoreResult<LicenseView> {
        self.write(|conn| {
            let loaded = lock_and_load(conn, Scope::Staff, license_id)?;
            let model = crate::catalog::model_of(&loaded.item)?;
            let renewed = license::decide_renewal(model, &loaded.history()?, ctx.now)?;
            diesel::update(licenses::table.find(&loaded.license.id))
                .set(licenses::expires_at.eq(stored_time(renewed.expires_at)))
                .execute(conn)?;
            let data = json!({"expires_at": renewed.expires_at.to_rfc3339(), "days": renewed.days});
            append(conn, ctx, EventKind::SubscriptionRenewed, license_subject(&loaded), data)?;
            load_one(conn, &loaded.license.id)?.view(ctx.now)
        })
    }

    /// Grants extra re-activation credits (support), with the reason recorded; never to a
    /// revoked license, which can never spend them.
    pub fn grant_credits(
        &self,
        ctx: &Context,
        license_id: Uuid,
        amount: u32,
        reason: &Reason,
    ) -> StoreResult<LicenseView> {
        self.write(|conn| {
            let loaded = lock_and_load(conn, Scope::Staff, license_id)?;
            license::decide_credit_grant(&loaded.history()?, amount)?;
            let grant = CreditGrantRow {
                id: new_id(),
                license_id: loaded.license.id.clone(),
                amount: i32::try_from(amount).unwrap_or(i32::MAX),
                reason: reason.as_str().to_owned(),
                granted_at: stored_time(ctx.now),
            };
            diesel::insert_into(credit_grants::table).values(&grant).execute(conn)?;
            let data = json!({"grant_id": grant.id, "amount": amount, "reason": reason.as_str()});
            append(conn, ctx, EventKind::CreditsGranted, license_subject(&loaded), data)?;
            load_one(conn, &loaded.license.id)?.view(ctx.now)
        })
    }
}

/// Activates a license on a machine inside the caller's transaction (see
/// [`Store::activate`]).
pub(crate) fn activate_in(
    conn: &mut DbConn,
    ctx: &Context,
    scope: Scope,
    license_id: Uuid,
    machine: &MachineIdentity,
) -> StoreResult<ActivationOutcome> {
    activate_with(conn, ctx, scope, license_id, machine, None)
}

/// Activates in the caller's transaction; the certificate is signed with `key` when given,
/// else with the current key read in the transaction.
fn activate_with(
    conn: &mut DbConn,
    ctx: &Context,
    scope: Scope,
    license_id: Uuid,
    machine: &MachineIdentity,
    key: Option<&certificates::SigningKey>,
) -> StoreResult<ActivationOutcome> {
    let loaded = lock_and_load(conn, scope, license_id)?;
    let machine = upsert_machine(conn, ctx, machine)?;
    let machine_id = crate::uuid_of(&machine.id)?;
    let decision = license::decide_activation(
        &loaded.rules()?,
        &loaded.history()?,
        machine_id,
        &machine.fingerprint,
        ctx.now,
    )?;
    let (row, created) = match decision {
        ActivationDecision::Existing(id) => {
            (current_hardware(conn, loaded.activation(id)?.0, &machine)?, false)
        }
        ActivationDecision::Rebind(id) => (rebind(conn, ctx, &loaded, id, &machine)?, false),
        ActivationDecision::New => {
            crate::demo_claims::claim_machine(conn, ctx, &loaded, &machine.fingerprint)?;
            let row = insert_activation(conn, &loaded, &machine, ActivationState::Active, ctx)?;
            let data = json!({"activation_id": row.id, "machine_id": machine.id});
            append(conn, ctx, EventKind::LicenseActivated, license_subject(&loaded), data)?;
            (row, true)
        }
    };
    let state = ActivationState::parse(&row.state)?;
    let certificate = match key {
        Some(key) => {
            let bonus = crate::bonus::entitlements_of(conn, loaded.ticket.customer_id.as_deref())?;
            certificates::sign_with(key, &loaded, &row, &machine, &bonus, ctx.now)?
        }
        None => certificates::issue(conn, &loaded, &row, &machine, ctx.now)?,
    };
    Ok(ActivationOutcome { activation: activation_view(&row, &machine, state)?, created, certificate })
}

/// Revokes a license inside the caller's transaction (nothing changes if it is revoked
/// already): every seat it holds is freed.
pub(crate) fn revoke_in(
    conn: &mut DbConn,
    ctx: &Context,
    license_id: Uuid,
    reason: &Reason,
) -> StoreResult<()> {
    let loaded = lock_and_load(conn, Scope::Staff, license_id)?;
    if license::decide_revocation(&loaded.history()?) == RevocationDecision::AlreadyRevoked {
        return Ok(());
    }
    let now = stored_time(ctx.now);
    diesel::update(licenses::table.find(&loaded.license.id))
        .set((licenses::revoked_at.eq(now), licenses::revoke_reason.eq(reason.as_str())))
        .execute(conn)?;
    let holding = [ActivationState::Active.as_str(), ActivationState::Pending.as_str()];
    diesel::update(
        activations::table
            .filter(activations::license_id.eq(&loaded.license.id))
            .filter(activations::state.eq_any(holding)),
    )
    .set((activations::state.eq(ActivationState::Revoked.as_str()), activations::ended_at.eq(now)))
    .execute(conn)?;
    append(conn, ctx, EventKind::LicenseRevoked, license_subject(&loaded), json!({"reason": reason.as_str()}))
}

/// Takes the license's row lock, then loads it with everything the decisions need; a
/// license outside the scope is `not_found`. On PostgreSQL the lock is `SELECT ... FOR NO
/// KEY UPDATE` (the lock an update of the row takes, without writing a new row version; rows
/// that reference the license can still be inserted beside it); on SQLite the write
/// transaction (`BEGIN IMMEDIATE`) holds the database's lock already, so the load is all.
pub(crate) fn lock_and_load(conn: &mut DbConn, scope: Scope, license_id: Uuid) -> StoreResult<Loaded> {
    let id = license_id.to_string();
    match conn {
        DbConn::Pg(c) => {
            let locked: Option<String> =
                licenses::table.find(&id).select(licenses::id).for_no_key_update().first(c).optional()?;
            if locked.is_none() {
                return Err(CoreError::not_found("license").into());
            }
        }
        DbConn::Sqlite(_) => {}
    }
    load_in_scope(conn, scope, &id)
}

/// Takes the lock of the license an activation belongs to and loads it, when the scope may
/// see that license. An activation of a license outside the scope answers exactly like one
/// that does not exist (`not_found`, resource "activation"), and its license is not locked.
pub(crate) fn lock_activation_in_scope(
    conn: &mut DbConn,
    scope: Scope,
    activation_id: Uuid,
) -> StoreResult<Loaded> {
    let hidden = || StoreError::from(CoreError::not_found("activation"));
    let found: Option<(String, String, Option<String>)> = activations::table
        .inner_join(licenses::table.inner_join(tickets::table))
        .filter(activations::id.eq(activation_id.to_string()))
        .select((licenses::id, tickets::id, tickets::customer_id))
        .first(conn)
        .optional()?;
    let Some((license_id, ticket_id, customer_id)) = found else { return Err(hidden()) };
    if !scope_sees(scope, &ticket_id, customer_id.as_deref()) {
        return Err(hidden());
    }
    let loaded = lock_and_load(conn, Scope::Staff, crate::uuid_of(&license_id)?)?;
    // The ticket may have moved to another customer between the look and the lock.
    if loaded.visible_to(scope) { Ok(loaded) } else { Err(hidden()) }
}

/// The machine with this public key, created on first sight; its fingerprint is kept
/// current (hardware changes move it, the key identifies the machine).
pub(crate) fn upsert_machine(
    conn: &mut DbConn,
    ctx: &Context,
    machine: &MachineIdentity,
) -> StoreResult<MachineRow> {
    let key = machine.key.to_string();
    let found: Option<MachineRow> = machines::table
        .filter(machines::public_key.eq(&key))
        .select(MachineRow::as_select())
        .first(conn)
        .optional()?;
    let fingerprint = machine.fingerprint.as_str();
    match found {
        // The row keeps the fingerprint it was first seen with (older activations show it);
        // this activation keeps the one it is made with.
        Some(row) => Ok(MachineRow { fingerprint: fingerprint.to_owned(), ..row }),
        None => {
            let row = MachineRow {
                id: new_id(),
                public_key: key,
                fingerprint: fingerprint.to_owned(),
                created_at: stored_time(ctx.now),
            };
            diesel::insert_into(machines::table).values(&row).execute(conn)?;
            Ok(row)
        }
    }
}

pub(crate) fn insert_activation(
    conn: &mut DbConn,
    loaded: &Loaded,
    machine: &MachineRow,
    state: ActivationState,
    ctx: &Context,
) -> StoreResult<ActivationRow> {
    let row = ActivationRow {
        id: new_id(),
        license_id: loaded.license.id.clone(),
        machine_id: machine.id.clone(),
        state: state.as_str().to_owned(),
        started_at: stored_time(ctx.now),
        ended_at: None,
        fingerprint: Some(machine.fingerprint.clone()),
        rebound_at: None,
        previous_machine_id: None,
        emergency_until: None,
        converted_at: None,
        stands_for: None,
        last_proof_ms: None,
    };
    diesel::insert_into(activations::table).values(&row).execute(conn)?;
    Ok(row)
}

/// The machine of an activation presents other hardware than it was bound with (a new
/// disk, a new board): the activation keeps the fingerprint it is used with now, so its
/// certificate matches the machine.
pub(crate) fn current_hardware(
    conn: &mut DbConn,
    row: ActivationRow,
    machine: &MachineRow,
) -> StoreResult<ActivationRow> {
    if row.fingerprint.as_deref() == Some(machine.fingerprint.as_str()) {
        return Ok(row);
    }
    diesel::update(activations::table.find(&row.id))
        .set(activations::fingerprint.eq(&machine.fingerprint))
        .execute(conn)?;
    Ok(ActivationRow { fingerprint: Some(machine.fingerprint.clone()), ..row })
}

/// Moves an activation to a new machine key on the same hardware (a reinstalled client),
/// for free, with an event.
pub(crate) fn rebind(
    conn: &mut DbConn,
    ctx: &Context,
    loaded: &Loaded,
    activation_id: Uuid,
    machine: &MachineRow,
) -> StoreResult<ActivationRow> {
    let (row, old_machine) = loaded.activation(activation_id)?;
    let now = stored_time(ctx.now);
    diesel::update(activations::table.find(&row.id))
        .set((
            activations::machine_id.eq(&machine.id),
            activations::fingerprint.eq(&machine.fingerprint),
            activations::rebound_at.eq(now),
            activations::previous_machine_id.eq(&old_machine.id),
        ))
        .execute(conn)?;
    let data = json!({"activation_id": row.id, "from_machine_id": old_machine.id, "machine_id": machine.id});
    append(conn, ctx, EventKind::MachineRebound, license_subject(loaded), data)?;
    Ok(ActivationRow {
        machine_id: machine.id.clone(),
        fingerprint: Some(machine.fingerprint.clone()),
        rebound_at: Some(now),
        previous_machine_id: Some(old_machine.id.clone()),
        ..row
    })
}

pub(crate) fn end_activation(
    conn: &mut DbConn,
    loaded: &Loaded,
    activation_id: Uuid,
    state: ActivationState,
    ctx: &Context,
) -> StoreResult<(ActivationRow, MachineRow)> {
    let id = activation_id.to_string();
    let (row, machine) = loaded.activation(activation_id)?;
    let ended_at = stored_time(ctx.now);
    diesel::update(activations::table.find(&id))
        .set((activations::state.eq(state.as_str()), activations::ended_at.eq(ended_at)))
        .execute(conn)?;
    Ok((ActivationRow { state: state.as_str().to_owned(), ended_at: Some(ended_at), ..row }, machine))
}

/// License events are about the license; the activation or grant is named in the data.
pub(crate) fn license_subject(loaded: &Loaded) -> Subject<'_> {
    Subject {
        kind: "license",
        id: &loaded.license.id,
        license_id: Some(&loaded.license.id),
        customer_id: loaded.customer_id(),
    }
}
