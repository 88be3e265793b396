//! The run queue: the one door to the runs table's state. A run is enqueued (every way a run
//! starts goes through one multi-row insert), claimed by one node with a lease it keeps
//! renewing, has its steps saved as they end, and is finished, released until later (a sleep, a
//! backoff, a sub-run), woken or cancelled — here. A run whose lease expired (its node died) is
//! claimed again by any node and resumed from its recorded steps; sleeping or backing-off runs
//! are `waiting` with a future `available_at`, so they hold no worker.
//!
//! The queue writes through the delivery journal's one writer: its operations are committed with
//! the next batch, in the same transaction and fsync as the deliveries (group commit for the
//! engine too). Only the runs a schedule fires or a replay starts are inserted by transactions of
//! their own (with the statements they depend on), through the same insert.
//!
//! It owns the "runs ready" signal this node's workers wait on: told when runs were enqueued
//! here, a waiting run was woken, or a worker slot came free.
//!
//! Files: this file the handle and its typed operations; `status.rs` the words the table stores
//! (run and step statuses, what started a run); `op.rs` what travels to the writer and back;
//! `sql.rs` the statements; `sqlite.rs` and `postgres.rs` how the writer runs them.

mod op;
pub(crate) mod postgres;
pub(crate) mod sql;
pub(crate) mod sqlite;
mod status;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio::sync::Notify;

pub use op::SubRunStart;
pub(crate) use op::{QueueAnswer, QueueOp};
pub use status::{RunStatus, StepStatus, TriggerKind, UnknownWord};

use crate::journal::{Writer, WriterAnswer, WriterOp};
use crate::runs::{ClaimedRun, NewRun, RunRecord, StepRecord};
use crate::{Result, StoreError, names_nothing};

/// Enqueues the runs of slice `$runs` at `$now` through `$conn` (a `&mut` connection of either
/// backend, written as an expression evaluated once per statement; sqlx: the PostgreSQL writer,
/// and the transactions that fire a schedule or replay deliveries), at most
/// [`sql::SQLX_RUN_CHUNK`] per statement; evaluates to the number of runs inserted. A macro so
/// that the one text and binding serve both backends' types. The SQLite writer's rusqlite
/// binding is [`sqlite::insert_runs`].
macro_rules! insert_runs_sqlx {
    ($conn:expr, $now:expr, $runs:expr, $on_conflict:expr) => {{
        let runs: &[$crate::runs::NewRun] = $runs;
        let mut inserted: u64 = 0;
        let mut rest = runs;
        let max = $crate::run_queue::sql::SQLX_RUN_CHUNK;
        for size in $crate::run_queue::sql::chunk_sizes(runs.len(), max, false) {
            let (chunk, later) = rest.split_at(size);
            rest = later;
            let sql = $crate::run_queue::sql::insert_runs_sql(size, $on_conflict);
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind($now);
            for value in chunk.iter().flat_map($crate::query::Columns::values) {
                q = q.bind(value);
            }
            inserted += q.execute($conn).await?.rows_affected();
        }
        inserted
    }};
}
pub(crate) use insert_runs_sqlx;

/// Handle to the run queue. Cloning is cheap; it keeps the journal's writer running as a
/// [`DeliveryJournal`](crate::journal::DeliveryJournal) handle does.
#[derive(Clone)]
pub struct RunQueue {
    writer: Writer,
    ready: Arc<Notify>,
}

impl RunQueue {
    pub(crate) fn new(writer: Writer, ready: Arc<Notify>) -> RunQueue {
        RunQueue { writer, ready }
    }

    async fn write(&self, op: QueueOp) -> Result<QueueAnswer> {
        match self.writer.write(WriterOp::Queue(op.cleaned())).await? {
            WriterAnswer::Queue(a) => Ok(a),
            other => Err(unexpected(&other)),
        }
    }

    /// Enqueues `runs` (manual runs), due now; this node's workers are told.
    pub async fn enqueue(&self, runs: Vec<NewRun>) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        match self.write(QueueOp::Enqueue(runs)).await? {
            QueueAnswer::Enqueued => {
                self.notify_ready();
                Ok(())
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Enqueues a sub-workflow run unless one with its id exists (its id derives from the step
    /// that starts it, so a replayed step finds it), unless its root run's tree has started
    /// `max_per_root` runs already. This node's workers are told unless the limit refused it.
    pub async fn enqueue_sub_run(&self, run: NewRun, max_per_root: i64) -> Result<SubRunStart> {
        match self
            .write(QueueOp::EnqueueSubRun { run, max_per_root })
            .await?
        {
            QueueAnswer::SubRun(start) => {
                if start != SubRunStart::LimitReached {
                    self.notify_ready();
                }
                Ok(start)
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Claims up to `n` due or abandoned runs for `node`, each with a lease of `lease_ms` (on
    /// SQLite each with its context, read in the same transaction).
    pub async fn claim(&self, node: &str, n: i64, lease_ms: i64) -> Result<Vec<ClaimedRun>> {
        let op = QueueOp::Claim {
            node: node.to_string(),
            n,
            lease_ms,
        };
        match self.write(op).await? {
            QueueAnswer::Claimed(runs) => Ok(runs),
            other => Err(unexpected(&other)),
        }
    }

    /// Records a step (inserted, or updated at the same `path`).
    pub async fn save_step(&self, step: StepRecord) -> Result<()> {
        self.changed(QueueOp::SaveStep(step)).await.map(|_| ())
    }

    /// Ends run `id` that `node` holds; `false` if another node took it over.
    pub async fn finish(
        &self,
        id: &str,
        node: &str,
        status: RunStatus,
        outputs: Option<&str>,
        error: Option<&str>,
    ) -> Result<bool> {
        self.changed(QueueOp::Finish {
            id: id.into(),
            node: node.into(),
            status,
            outputs: outputs.map(str::to_string),
            error: error.map(str::to_string),
        })
        .await
    }

    /// Puts run `id` that `node` holds back to wait until `at`; `false` if `node` no longer
    /// held it.
    pub async fn release(&self, id: &str, node: &str, at: i64) -> Result<bool> {
        let (id, node) = (id.into(), node.into());
        self.changed(QueueOp::Release { id, node, at }).await
    }

    /// Makes waiting run `id` due now; this node's workers are told (whether it was waiting or
    /// not: whoever asked may have changed something they should look at).
    pub async fn wake(&self, id: &str) -> Result<bool> {
        let woken = self.changed(QueueOp::Wake { id: id.into() }).await;
        self.notify_ready();
        woken
    }

    /// Extends the leases `node` holds on the runs it is executing (`ids`); returns the ids it
    /// still holds. Only runs really executing are renewed: a run whose execution ended without
    /// recording its end lets its lease lapse and is taken over.
    pub async fn renew(&self, node: &str, ids: &[String], lease_ms: i64) -> Result<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let op = QueueOp::Renew {
            node: node.into(),
            ids: ids.to_vec(),
            lease_ms,
        };
        match self.write(op).await? {
            QueueAnswer::Held(ids) => Ok(ids),
            other => Err(unexpected(&other)),
        }
    }

    /// Gives up run `id` that `node` holds but could not go on with (its store writes failed):
    /// any node may take it over from `at`.
    pub async fn give_up(&self, id: &str, node: &str, at: i64) -> Result<()> {
        let (id, node) = (id.into(), node.into());
        self.changed(QueueOp::GiveUp { id, node, at })
            .await
            .map(|_| ())
    }

    /// Cancels a run and the sub-workflow runs it started, their own sub-runs included: flags
    /// each (a running one stops at its next step), and ends a queued or waiting one at once (its
    /// waiting step ends as cancelled) — in one transaction, so a run moving between running and
    /// waiting meanwhile cannot miss the cancel. Returns the run as it is now, `None` if unknown.
    pub async fn cancel(&self, id: &str) -> Result<Option<RunRecord>> {
        if names_nothing(id) {
            return Ok(None);
        }
        match self.write(QueueOp::Cancel { id: id.into() }).await? {
            QueueAnswer::Run(run) => Ok(run.map(|r| *r)),
            other => Err(unexpected(&other)),
        }
    }

    /// Tells this node's workers to look for runs: runs were enqueued by a transaction of their
    /// own (a schedule, a replay), or a worker slot came free.
    pub fn notify_ready(&self) {
        self.ready.notify_one();
    }

    /// Waits until [`notify_ready`](Self::notify_ready) (or the writer) says runs may be ready.
    pub async fn ready(&self) {
        self.ready.notified().await
    }

    async fn changed(&self, op: QueueOp) -> Result<bool> {
        match self.write(op).await? {
            QueueAnswer::Changed(changed) => Ok(changed),
            other => Err(unexpected(&other)),
        }
    }
}

/// An answer of the wrong kind: a bug of the writer.
fn unexpected(answer: &dyn std::fmt::Debug) -> StoreError {
    StoreError::Internal(format!(
        "the run queue got an unexpected answer: {answer:?}"
    ))
}
