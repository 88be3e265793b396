//! Schedule events fired: their cron times are [`Schedule`]'s (in core). Each event keeps its
//! next due time in the store; a node fires a due time only if it moves that time forward
//! itself (compare-and-set in the same transaction as the runs it enqueues), so a due time fires
//! once across all nodes. Due times missed while no node ran are skipped, not replayed.

use std::sync::Arc;
use std::time::Duration;

use hookflow_core::schedule::Schedule;
use hookflow_store::now_ms;

use crate::Engine;

/// A due time older than this when a node sees it was missed (no node was running): skipped.
const MISSED_AFTER_MS: i64 = 60_000;

/// Fires due schedules until `shutdown` is set.
pub async fn run(engine: Arc<Engine>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(e) = tick(&engine).await {
            tracing::warn!(error = %e, "schedule tick failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn tick(engine: &Engine) -> Result<(), hookflow_store::StoreError> {
    let now = now_ms();
    for ev in engine.store.due_schedules(now).await? {
        let (Some(expr), Some(due)) = (ev.spec.schedule.as_deref(), ev.spec.next_fire_at) else {
            continue;
        };
        let sched = match Schedule::parse(expr, ev.spec.timezone.as_deref()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(event = %ev.spec.name, error = %e, "bad schedule");
                continue;
            }
        };
        let Ok(next) = sched.next_after(due.max(now)) else {
            continue;
        };
        let fire = now - due <= MISSED_AFTER_MS;
        if let Some(runs) = engine
            .store
            .fire_schedule(&ev.id, &ev.spec.name, due, next, fire)
            .await?
            && !runs.is_empty()
        {
            tracing::info!(event = %ev.spec.name, runs = runs.len(), "schedule fired");
            engine.queue.notify_ready();
        }
    }
    Ok(())
}
