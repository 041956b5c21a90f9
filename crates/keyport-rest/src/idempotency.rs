//! `Idempotency-Key` on creating calls: the same key from the same caller with the same
//! request gets the first successful answer again (with `Idempotent-Replayed: true`); with
//! another request it is refused with 422; while the first request still runs, 409
//! `idempotency_key_in_use`. Failed answers are not kept, so a retry after a failure runs
//! again.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use keyport_core::CoreError;
use keyport_store::{Claim, KeptAnswer};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::{Principal, RestState};
use crate::{ApiError, run};

/// The request header.
pub const HEADER: &str = "Idempotency-Key";

/// Answers from the kept answer for the key, or runs `create` and keeps its answer.
pub async fn once<T, F, Fut>(
    state: &RestState,
    who: &Principal,
    req: &HttpRequest,
    request: &impl Serialize,
    create: F,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize,
    F: FnOnce() -> Fut + 'static,
    Fut: std::future::Future<Output = Result<(StatusCode, T), ApiError>> + 'static,
{
    let key = match req.headers().get(HEADER) {
        None => None,
        Some(value) => {
            let key = value.to_str().map(str::trim).unwrap_or_default().to_owned();
            if key.is_empty() || key.len() > 200 {
                return Err(CoreError::invalid(HEADER, "must be 1 to 200 visible characters").into());
            }
            Some(key)
        }
    };
    let Some(key) = key else {
        let (status, body) = create().await?;
        return Ok(HttpResponse::build(status).json(body));
    };
    let principal = who.name();
    let text = serde_json::to_string(request).map_err(|e| ApiError::internal(&e))?;
    let hash = hex::encode(Sha256::digest(format!("{} {}\n{text}", req.method(), req.path())));
    let (store, p, k) = (state.store.clone(), principal.clone(), key.clone());
    let now = state.store.now();
    match run(move || store.claim_idempotency_key(&p, &k, &hash, now)).await? {
        Claim::Answered(kept) => {
            let status = StatusCode::from_u16(kept.status).map_err(|e| ApiError::internal(&e))?;
            Ok(HttpResponse::build(status)
                .insert_header(("Idempotent-Replayed", "true"))
                .content_type("application/json")
                .body(kept.body))
        }
        Claim::Claimed(claimed_at) => {
            // The call and the keeping of its answer run as a task of their own: a client
            // that hangs up does not leave the key claimed with its change made.
            let store = state.store.clone();
            let (release_store, release_principal, release_key) =
                (state.store.clone(), principal.clone(), key.clone());
            let work = async move {
                let answered = match create().await {
                    Ok((status, body)) => serde_json::to_string(&body)
                        .map(|text| (status, text))
                        .map_err(|e| ApiError::internal(&e)),
                    Err(e) => Err(e),
                };
                match answered {
                    Ok((status, text)) => {
                        let answer = KeptAnswer { status: status.as_u16(), body: text.clone() };
                        // The change is made: the caller gets its answer even if keeping it
                        // fails (a retry then runs again once the claim is abandoned).
                        if let Err(e) =
                            run(move || store.keep_answer(&principal, &key, claimed_at, &answer)).await
                        {
                            tracing::warn!(error = %e, "an idempotent answer could not be kept");
                        }
                        Ok((status, text))
                    }
                    Err(e) => {
                        if let Err(release) =
                            run(move || store.release_claim(&principal, &key, claimed_at)).await
                        {
                            tracing::warn!(error = %release, "an idempotency claim could not be released");
                        }
                        Err(e)
                    }
                }
            };
            let task = actix_web::rt::spawn(tracing::Instrument::instrument(work, tracing::Span::current()));
            let (status, text) = match task.await {
                Ok(answered) => answered?,
                // The call panicked: its claim is released, so a retry runs again.
                Err(e) => {
                    let released = run(move || {
                        release_store.release_claim(&release_principal, &release_key, claimed_at)
                    })
                    .await;
                    if let Err(release) = released {
                        tracing::warn!(error = %release, "an idempotency claim could not be released");
                    }
                    return Err(ApiError::internal(&e));
                }
            };
            Ok(HttpResponse::build(status).content_type("application/json").body(text))
        }
    }
}
