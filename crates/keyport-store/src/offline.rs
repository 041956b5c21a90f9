//! The offline flow and signed deactivation: an activation request file gives a pending
//! activation (the seat is held) and its certificate; the receipt file completes it; a
//! pending transfer can be fetched again or cancelled; a deactivation proof signed by the
//! machine's key gives the seat back, online or from a file.
//!
//! Every signed file carries a nonce; a file whose nonce was used before is refused as
//! `replayed`, so an intercepted request, receipt or proof cannot be used twice.

use diesel::prelude::*;
use keyport_core::files::{self, ActivationRequest, DeactivationProof, Receipt};
use keyport_core::{
    ActivationDecision, ActivationState, CoreError, ErrorCode, EventKind, Fingerprint, MachineIdentity,
    MachineKey, license,
};
use serde_json::json;
use uuid::Uuid;

use crate::activations::{
    end_activation, insert_activation, license_subject, lock_activation_in_scope, lock_and_load,
    upsert_machine,
};
use crate::certificates;
use crate::db::DbConn;
use crate::events::append;
use crate::licenses::activation_view;
use crate::rows::{ActivationRow, MachineRow};
use crate::schema::{activations, used_files};
use crate::{
    ActivationOutcome, ActivationView, Context, Page, Paging, Scope, Store, StoreResult, stored_time,
};

/// Records a file's nonce, or refuses it as `replayed`.
fn use_once(
    conn: &mut DbConn,
    ctx: &Context,
    kind: &'static str,
    nonce: &str,
    activation: &str,
) -> StoreResult<()> {
    if nonce.is_empty() || nonce.len() > 128 || nonce.chars().any(char::is_control) {
        return Err(
            CoreError::invalid("nonce", "must be 1 to 128 characters, none a control character").into()
        );
    }
    let used: i64 = used_files::table.find(nonce).count().get_result(conn)?;
    if used > 0 {
        return Err(CoreError::new(ErrorCode::Replayed).with("file", kind).into());
    }
    diesel::insert_into(used_files::table)
        .values((
            used_files::nonce.eq(nonce),
            used_files::kind.eq(kind),
            used_files::activation_id.eq(activation),
            used_files::used_at.eq(stored_time(ctx.now)),
        ))
        .execute(conn)?;
    Ok(())
}

fn signed_by_holder(machine: &MachineRow, machine_key: &str) -> StoreResult<()> {
    if machine.public_key == machine_key {
        Ok(())
    } else {
        Err(CoreError::new(ErrorCode::WrongMachine).into())
    }
}

fn pending(row: &ActivationRow) -> StoreResult<()> {
    if row.state == ActivationState::Pending.as_str() {
        Ok(())
    } else {
        Err(CoreError::new(ErrorCode::ActivationNotActive).with("state", row.state.clone()).into())
    }
}

impl Store {
    /// Takes an activation request file: holds a seat for the machine (activation
    /// *pending*) and returns the certificate to carry back to it.
    pub fn request_offline_activation(
        &self,
        ctx: &Context,
        scope: Scope,
        text: &str,
    ) -> StoreResult<ActivationOutcome> {
        let request: ActivationRequest = files::read(text)?;
        let machine = MachineIdentity {
            fingerprint: Fingerprint::parse(&request.fingerprint)?,
            key: MachineKey::parse(&request.machine_key)?,
        };
        self.write(|conn| {
            let loaded = lock_and_load(conn, scope, request.license_id)?;
            if !loaded.rules()?.params().offline_allowed {
                return Err(CoreError::new(ErrorCode::OfflineNotAllowed).into());
            }
            let machine_row = upsert_machine(conn, ctx, &machine)?;
            let machine_id = crate::uuid_of(&machine_row.id)?;
            let decision = license::decide_activation(
                &loaded.rules()?,
                &loaded.history()?,
                machine_id,
                &machine_row.fingerprint,
                ctx.now,
            )?;
            let (row, created) = match decision {
                ActivationDecision::Existing(id) => (
                    crate::activations::current_hardware(conn, loaded.activation(id)?.0, &machine_row)?,
                    false,
                ),
                ActivationDecision::Rebind(id) => {
                    (crate::activations::rebind(conn, ctx, &loaded, id, &machine_row)?, false)
                }
                ActivationDecision::New => {
                    crate::demo_claims::claim_machine(conn, ctx, &loaded, &machine_row.fingerprint)?;
                    (insert_activation(conn, &loaded, &machine_row, ActivationState::Pending, ctx)?, true)
                }
            };
            use_once(conn, ctx, "activation request", &request.nonce, &row.id)?;
            if created {
                let data = json!({"activation_id": row.id, "machine_id": machine_row.id, "offline": true});
                append(conn, ctx, EventKind::LicenseActivated, license_subject(&loaded), data)?;
            }
            let certificate = certificates::issue(conn, &loaded, &row, &machine_row, ctx.now)?;
            let state = ActivationState::parse(&row.state)?;
            Ok(ActivationOutcome {
                activation: activation_view(&row, &machine_row, state)?,
                created,
                certificate,
            })
        })
    }

    /// Takes the receipt file the machine wrote after importing its certificate: the pending
    /// activation becomes active.
    pub fn complete_offline_activation(
        &self,
        ctx: &Context,
        scope: Scope,
        text: &str,
    ) -> StoreResult<ActivationView> {
        let receipt: Receipt = files::read(text)?;
        self.write(|conn| {
            let loaded = lock_and_load(conn, scope, receipt.license_id)?;
            let (row, machine) = loaded.activation(receipt.activation_id)?;
            signed_by_holder(&machine, &receipt.machine_key)?;
            use_once(conn, ctx, "receipt", &receipt.nonce, &row.id)?;
            pending(&row)?;
            diesel::update(activations::table.find(&row.id))
                .set(activations::state.eq(ActivationState::Active.as_str()))
                .execute(conn)?;
            let data = json!({"activation_id": row.id, "machine_id": machine.id});
            append(conn, ctx, EventKind::ActivationCompleted, license_subject(&loaded), data)?;
            let row = ActivationRow { state: ActivationState::Active.as_str().to_owned(), ..row };
            activation_view(&row, &machine, ActivationState::Active)
        })
    }

    /// The pending offline activations the scope sees ("transfers"), one page of the
    /// scope's licenses at a time: the cursor is the last license looked at.
    pub fn list_transfers(&self, scope: Scope, paging: &Paging) -> StoreResult<Page<ActivationView>> {
        let licenses = self.page_licenses(scope, paging, self.now())?;
        Ok(Page {
            items: licenses
                .items
                .into_iter()
                .flat_map(|l| l.activations)
                .filter(|a| a.state == ActivationState::Pending)
                .collect(),
            next_cursor: licenses.next_cursor,
        })
    }

    /// A pending transfer with its certificate again, to continue an interrupted one.
    pub fn continue_transfer(
        &self,
        ctx: &Context,
        scope: Scope,
        activation_id: Uuid,
    ) -> StoreResult<ActivationOutcome> {
        self.write(|conn| {
            let loaded = lock_activation_in_scope(conn, scope, activation_id)?;
            let (row, machine) = loaded.activation(activation_id)?;
            pending(&row)?;
            let certificate = certificates::issue(conn, &loaded, &row, &machine, ctx.now)?;
            let activation = activation_view(&row, &machine, ActivationState::Pending)?;
            Ok(ActivationOutcome { activation, created: false, certificate })
        })
    }

    /// Cancels a pending transfer: the held seat is free again.
    pub fn cancel_transfer(
        &self,
        ctx: &Context,
        scope: Scope,
        activation_id: Uuid,
    ) -> StoreResult<ActivationView> {
        self.write(|conn| {
            let loaded = lock_activation_in_scope(conn, scope, activation_id)?;
            let (row, _) = loaded.activation(activation_id)?;
            pending(&row)?;
            let (row, machine) =
                end_activation(conn, &loaded, activation_id, ActivationState::Deactivated, ctx)?;
            let data = json!({"activation_id": row.id, "machine_id": machine.id, "transfer_cancelled": true});
            append(conn, ctx, EventKind::LicenseDeactivated, license_subject(&loaded), data)?;
            activation_view(&row, &machine, ActivationState::Deactivated)
        })
    }

    /// Gives a seat back on the strength of a deactivation proof signed by the machine that
    /// holds the activation (sent online by the client, or uploaded from a file).
    pub fn deactivate_with_proof(
        &self,
        ctx: &Context,
        scope: Scope,
        text: &str,
    ) -> StoreResult<ActivationView> {
        let proof: DeactivationProof = files::read(text)?;
        self.write(|conn| {
            let loaded = lock_and_load(conn, scope, proof.license_id)?;
            let (row, machine) = loaded.activation(proof.activation_id)?;
            signed_by_holder(&machine, &proof.machine_key)?;
            use_once(conn, ctx, "deactivation proof", &proof.nonce, &row.id)?;
            license::decide_deactivation(&loaded.rules()?, &loaded.history()?, proof.activation_id)?;
            let (row, machine) =
                end_activation(conn, &loaded, proof.activation_id, ActivationState::Deactivated, ctx)?;
            let data = json!({"activation_id": row.id, "machine_id": machine.id, "signed": true});
            append(conn, ctx, EventKind::LicenseDeactivated, license_subject(&loaded), data)?;
            activation_view(&row, &machine, ActivationState::Deactivated)
        })
    }
}
