//! Background clean-up of what ingest leaves behind: dedup keys whose window has passed (SPEC
//! §9). Each pass deletes in small bounded statements, pausing between them, so that it never
//! holds the database long enough to stall ingest; an expired key still in the table is harmless
//! (the journal takes it over), so a slow sweep only costs space.

use std::time::Duration;

use hookflow_store::journal::{DeliveryJournal, Swept};
use tokio::sync::watch;

/// Keys deleted by one statement.
const CHUNK: i64 = 500;
/// Pause between two statements of a pass.
const PAUSE: Duration = Duration::from_millis(20);

/// Sweeps expired dedup keys every `every` until `stop` turns true.
pub async fn run(journal: DeliveryJournal, every: Duration, mut stop: watch::Receiver<bool>) {
    while waited(every, &mut stop).await {
        sweep_dedup_keys(&journal).await;
    }
}

/// Waits `wait` between two passes of a background task: true when the wait is over, false as
/// soon as `stop` changes (or is true).
pub(crate) async fn waited(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = stop.changed() => return false,
    }
    !*stop.borrow()
}

/// One pass: deletes expired keys chunk by chunk until none is left (or an error).
/// Each statement goes through the journal's writer (on SQLite the keys live in its connection)
/// as one small op of a batch.
pub async fn sweep_dedup_keys(journal: &DeliveryJournal) -> u64 {
    let mut total = 0;
    loop {
        match journal.sweep_dedup_keys(CHUNK).await {
            Ok(Swept { deleted, done }) => {
                total += deleted;
                if done {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "sweeping expired dedup keys failed; retrying later");
                break;
            }
        }
        tokio::time::sleep(PAUSE).await;
    }
    if total > 0 {
        metrics::counter!("hookflow_dedup_keys_expired_total").increment(total);
        tracing::debug!(deleted = total, "expired dedup keys swept");
    }
    total
}
