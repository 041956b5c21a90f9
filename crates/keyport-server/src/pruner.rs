//! The pruning job: every few minutes, deletes the rows whose retention is over (see
//! [`keyport_store::Retention`]) in batches of [`BATCH`] rows per table, each batch its own
//! short transaction, pausing between batches so requests are never kept waiting long.

use std::time::Duration;

use keyport_store::{Retention, Store};

/// Rows deleted per table and transaction.
pub const BATCH: i64 = 500;

/// Prunes until the process stops.
pub async fn run(store: Store, retention: Retention, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        prune_all(&store, retention).await;
    }
}

/// One pass: batches until no table has a full batch left.
pub async fn prune_all(store: &Store, retention: Retention) {
    loop {
        let store = store.clone();
        let pass = tokio::task::spawn_blocking(move || store.prune(&retention, store.now(), BATCH)).await;
        match pass {
            Ok(Ok(pruned)) => {
                if pruned.total() > 0 {
                    tracing::info!(?pruned, "pruned rows past their retention");
                }
                let full = [
                    pruned.idempotency_keys,
                    pruned.sessions,
                    pruned.one_time_tokens,
                    pruned.mails,
                    pruned.rate_counters,
                    pruned.usage_days,
                    pruned.idle_sessions,
                    pruned.webhook_deliveries,
                    pruned.downloads,
                    pruned.offers,
                ]
                .iter()
                .any(|n| i64::try_from(*n).unwrap_or(i64::MAX) >= BATCH);
                if !full {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "pruning failed; trying again in the next pass");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "the pruning job failed");
                return;
            }
        }
    }
}

/// How long a file in the artifact storage's `incoming/` must have been left unchanged before
/// it counts as an upload a crash or a restart broke off (a live upload writes at least every
/// body deadline: a day is far beyond any pause).
const BROKEN_UPLOAD: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Removes broken-off uploads from the artifact storage, at start and every hour.
pub async fn sweep_uploads(storage: keyport_artifacts::ArtifactStorage) {
    loop {
        match storage.sweep_incoming(BROKEN_UPLOAD).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "removed uploads broken off a day or more ago"),
            Err(e) => {
                tracing::warn!(error = %e, "sweeping broken-off uploads failed; trying again in an hour")
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}
