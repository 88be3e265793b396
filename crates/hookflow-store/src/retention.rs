//! Retention (`serve --retain-days`): what is deleted once it is older than the cutoff, and what
//! never is. Finished runs go with their steps, then deliveries, then workflow versions no run
//! refers to any more — each call one small transaction of its own, so the caller can pause
//! between them and ingest's transactions commit in the gaps.
//!
//! Kept whatever their age: a run that has not finished (queued, waiting, running) and
//! everything it needs — its parent and root runs (a run is deleted only once no run under it is
//! left, and only when its parent is finished and past the cutoff too, so the runs that remain
//! always reach their root), its delivery (a delivery is deleted only when no run refers to it),
//! and its workflow version (a version is deleted only when no run refers to it and it is not
//! among its workflow's newest [`VERSIONS_KEPT`]), and a delivery that holds a dedup key whose
//! window (at most 30 days) has not ended: its row is the key's durable record (see
//! [`crate::dedup`]), so a duplicate's `duplicate_of` always names a delivery that is there while
//! the window lasts. Dedup keys themselves are removed by the dedup sweeper.
//!
//! On PostgreSQL several nodes prune at once: each batch locks the rows it picked with `SKIP
//! LOCKED`, so two nodes never pick the same rows and every delete is of rows still there.

use sqlx::AssertSqlSafe;

use crate::db::{Backend, on_db};
use crate::versions::VERSIONS_KEPT;
use crate::{Result, Store, StoreError};

/// The statuses a run ends in.
const FINISHED: &str = "('succeeded', 'failed', 'cancelled')";

/// What one [`Store::prune_runs`] call deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrunedRuns {
    pub runs: u64,
    pub steps: u64,
}

impl Store {
    /// The row lock a batch takes on what it picked: ` FOR UPDATE SKIP LOCKED` on PostgreSQL
    /// (another node's batch skips those rows), nothing on SQLite (one writer at a time).
    fn skip_locked(&self) -> &'static str {
        match &self.db {
            Backend::Sqlite(_) => "",
            Backend::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Deletes up to `limit` runs that finished before `cutoff` (unix ms), with their steps, in
    /// one transaction, oldest first: only runs no run is left under and whose parent (if any)
    /// also finished before `cutoff`. The candidates are read first, outside the transaction
    /// (the one range scan); the transaction only checks each again by its id and deletes, so it
    /// holds SQLite's write lock for a few index probes and deletes.
    pub async fn prune_runs(&self, cutoff: i64, limit: i64) -> Result<PrunedRuns> {
        let prunable = prunable_runs();
        let candidates = run_candidates_sql();
        on_db!(&self.db, |p| {
            let ids: Vec<String> = sqlx::query_scalar(AssertSqlSafe(candidates))
                .bind(cutoff)
                .bind(limit)
                .fetch_all(p)
                .await?;
            if ids.is_empty() {
                return Ok(PrunedRuns::default());
            }
            let list: Vec<String> = (2..ids.len() + 2).map(|i| format!("${i}")).collect();
            let list = list.join(", ");
            let mut tx = p.begin_with(self.db.begin_write()).await?;
            // Still prunable now (a run's state may have changed since it was read).
            let recheck = format!(
                "SELECT r.id FROM runs r WHERE r.id IN ({list}) AND {prunable}{}",
                self.skip_locked()
            );
            let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(recheck)).bind(cutoff);
            for id in &ids {
                q = q.bind(id);
            }
            let ids = q.fetch_all(&mut *tx).await?;
            let mut done = PrunedRuns::default();
            if !ids.is_empty() {
                let list: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
                let list = list.join(", ");
                for (table, column) in [("run_steps", "run_id"), ("runs", "id")] {
                    let sql = format!("DELETE FROM {table} WHERE {column} IN ({list})");
                    let mut q = sqlx::query(AssertSqlSafe(sql));
                    for id in &ids {
                        q = q.bind(id);
                    }
                    let n = q.execute(&mut *tx).await?.rows_affected();
                    match table {
                        "runs" => done.runs = n,
                        _ => done.steps = n,
                    }
                }
            }
            tx.commit().await?;
            Ok::<_, StoreError>(done)
        })
    }

    /// Deletes up to `limit` deliveries (accepted, rejected or duplicate) received before
    /// `cutoff` that no run refers to (as its delivery, or as the delivery it replays) and that
    /// hold no dedup key still in its window, oldest first.
    pub async fn prune_deliveries(&self, cutoff: i64, limit: i64) -> Result<u64> {
        let sql = prune_deliveries_sql(self.skip_locked());
        let args = [cutoff.into(), limit.into(), crate::now_ms().into()];
        self.execute(AssertSqlSafe(sql), &args).await
    }

    /// Deletes up to `limit` workflow versions that no run refers to and that are not among
    /// their workflow's newest [`VERSIONS_KEPT`] (any, for a deleted workflow): what the runs
    /// retention removed kept them, and saving the workflow would have removed them otherwise.
    pub async fn prune_versions(&self, limit: i64) -> Result<u64> {
        let sql = format!(
            "DELETE FROM workflow_versions WHERE (workflow_id, version) IN (\
             SELECT v.workflow_id, v.version FROM workflow_versions v \
             WHERE v.version <= COALESCE((SELECT w.version FROM workflows w \
             WHERE w.id = v.workflow_id) - $1, v.version) \
             AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.workflow_id = v.workflow_id \
             AND r.workflow_version = v.version) LIMIT $2{})",
            self.skip_locked()
        );
        let args = [VERSIONS_KEPT.into(), limit.into()];
        self.execute(AssertSqlSafe(sql), &args).await
    }
}

/// Runs the retention may delete: `$1` the cutoff. `status || ''`: no index on status for this
/// term, so that both planners read the `runs_by_finished` range in order and stop at the limit.
fn prunable_runs() -> String {
    format!(
        "r.finished_at < $1 AND r.status || '' IN {FINISHED} \
         AND NOT EXISTS (SELECT 1 FROM runs c WHERE c.parent_run_id = r.id) \
         AND (r.parent_run_id IS NULL OR NOT EXISTS (SELECT 1 FROM runs p \
         WHERE p.id = r.parent_run_id AND (p.finished_at IS NULL OR p.finished_at >= $1 \
         OR p.status NOT IN {FINISHED})))"
    )
}

/// The oldest `$2` runs the retention may delete at cutoff `$1` (read before its transaction).
pub(crate) fn run_candidates_sql() -> String {
    format!(
        "SELECT r.id FROM runs r WHERE {} ORDER BY r.finished_at LIMIT $2",
        prunable_runs()
    )
}

/// Deletes the oldest `$2` deliveries received before `$1` that no run refers to and whose
/// dedup key ended by `$3`; `lock` is [`Store::skip_locked`]'s.
pub(crate) fn prune_deliveries_sql(lock: &str) -> String {
    format!(
        "DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d \
         WHERE d.received_at < $1 \
         AND (d.dedup_expires_at IS NULL OR d.dedup_expires_at <= $3) \
         AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.delivery_id = d.id) \
         AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.replay_of = d.id) \
         ORDER BY d.received_at LIMIT $2{lock})"
    )
}
