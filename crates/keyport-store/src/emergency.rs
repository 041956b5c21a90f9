//! Emergency licenses: a customer whose machine is lost and whose recovery is blocked runs
//! the license on a new machine for a few days, without a credit or a seat; support can end
//! one early.

use diesel::prelude::*;
use keyport_core::{ActivationState, EventKind, MachineIdentity, Reason, emergency};
use serde_json::json;
use uuid::Uuid;

use crate::activations::{insert_activation, license_subject, lock_activation_in_scope, upsert_machine};
use crate::certificates;
use crate::events::append;
use crate::licenses::activation_view;
use crate::rows::ActivationRow;
use crate::schema::activations;
use crate::{ActivationView, Context, EmergencyOutcome, Scope, Store, StoreResult, stored_time, uuid_of};

impl Store {
    /// Starts an emergency license on `machine` for the activation of a lost machine, where
    /// the rule set gives them and a recovery is blocked; it spends no credit, takes no seat
    /// and ends by itself (its certificate with it).
    pub fn start_emergency(
        &self,
        ctx: &Context,
        scope: Scope,
        lost_activation_id: Uuid,
        machine: &MachineIdentity,
    ) -> StoreResult<EmergencyOutcome> {
        self.write(|conn| {
            let loaded = lock_activation_in_scope(conn, scope, lost_activation_id)?;
            let new_machine = upsert_machine(conn, ctx, machine)?;
            let decision = emergency::decide_emergency(
                &loaded.rules()?,
                &loaded.history()?,
                lost_activation_id,
                uuid_of(&new_machine.id)?,
                ctx.now,
            )?;
            let row = insert_activation(conn, &loaded, &new_machine, ActivationState::Active, ctx)?;
            let until = stored_time(decision.until);
            let stands_for = lost_activation_id.to_string();
            diesel::update(activations::table.find(&row.id))
                .set((activations::emergency_until.eq(until), activations::stands_for.eq(&stands_for)))
                .execute(conn)?;
            let row = ActivationRow { emergency_until: Some(until), stands_for: Some(stands_for), ..row };
            let data = json!({
                "activation_id": row.id,
                "lost_activation_id": lost_activation_id,
                "machine_id": new_machine.id,
                "until": decision.until.to_rfc3339(),
                "left_this_year": decision.left_this_year,
            });
            append(conn, ctx, EventKind::EmergencyStarted, license_subject(&loaded), data)?;
            let certificate = certificates::issue(conn, &loaded, &row, &new_machine, ctx.now)?;
            Ok(EmergencyOutcome {
                activation: activation_view(&row, &new_machine, ActivationState::Active)?,
                certificate,
                emergency_until: decision.until,
                left_this_year: decision.left_this_year,
            })
        })
    }

    /// Support ends a running emergency license now, with the reason recorded. One that has
    /// ended (by itself or before) stays as it is, and nothing is recorded.
    pub fn end_emergency(
        &self,
        ctx: &Context,
        activation_id: Uuid,
        reason: &Reason,
    ) -> StoreResult<ActivationView> {
        self.write(|conn| {
            let loaded = lock_activation_in_scope(conn, Scope::Staff, activation_id)?;
            let history = loaded.history()?;
            let decision = emergency::decide_end(&history, activation_id, ctx.now)?;
            let (row, machine) = loaded.activation(activation_id)?;
            match decision {
                emergency::EndDecision::End => {}
                emergency::EndDecision::Ended => {
                    let record = history.activations.iter().find(|a| a.id == activation_id);
                    let state =
                        record.map_or(ActivationState::Expired, |r| history.effective_state(r, ctx.now));
                    return activation_view(&row, &machine, state);
                }
            }
            let now = stored_time(ctx.now);
            diesel::update(activations::table.find(&row.id))
                .set((
                    activations::state.eq(ActivationState::Revoked.as_str()),
                    activations::ended_at.eq(now),
                ))
                .execute(conn)?;
            let data = json!({"activation_id": row.id, "reason": reason.as_str()});
            append(conn, ctx, EventKind::EmergencyEnded, license_subject(&loaded), data)?;
            let row = ActivationRow {
                state: ActivationState::Revoked.as_str().to_owned(),
                ended_at: Some(now),
                ..row
            };
            activation_view(&row, &machine, ActivationState::Revoked)
        })
    }
}
