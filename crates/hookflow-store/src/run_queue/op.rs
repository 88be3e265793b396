//! What travels from a [`RunQueue`](super::RunQueue) method to the journal's writer and back:
//! one operation and its answer. Private to the store: callers see the typed methods.

use super::{NewRun, RunRecord, RunStatus, StepRecord};
use crate::clean_opt;
use crate::runs::ClaimedRun;

/// A write of the queue, committed by the journal's writer with the next batch.
#[derive(Debug, Clone)]
pub(crate) enum QueueOp {
    Enqueue(Vec<NewRun>),
    /// A sub-workflow run unless its id exists, counted against its root run's limit.
    EnqueueSubRun {
        run: NewRun,
        max_per_root: i64,
    },
    /// Up to `n` due or abandoned runs for `node`, with a lease of `lease_ms`.
    Claim {
        node: String,
        n: i64,
        lease_ms: i64,
    },
    SaveStep(StepRecord),
    Finish {
        id: String,
        node: String,
        status: RunStatus,
        outputs: Option<String>,
        error: Option<String>,
    },
    /// Back to the queue until `at` (a sleep, a backoff, a sub-run).
    Release {
        id: String,
        node: String,
        at: i64,
    },
    /// A waiting run due now.
    Wake {
        id: String,
    },
    Renew {
        node: String,
        ids: Vec<String>,
        lease_ms: i64,
    },
    /// The lease `node` holds on `id` runs out at `at`.
    GiveUp {
        id: String,
        node: String,
        at: i64,
    },
    Cancel {
        id: String,
    },
}

impl QueueOp {
    /// The op with the text it records free of NUL characters (see [`crate::text`]).
    pub(crate) fn cleaned(mut self) -> QueueOp {
        match &mut self {
            QueueOp::Enqueue(runs) => runs.iter_mut().for_each(NewRun::clean),
            QueueOp::EnqueueSubRun { run, .. } => run.clean(),
            QueueOp::SaveStep(s) => s.clean(),
            QueueOp::Finish { outputs, error, .. } => {
                clean_opt(outputs);
                clean_opt(error);
            }
            QueueOp::Claim { .. }
            | QueueOp::Release { .. }
            | QueueOp::Wake { .. }
            | QueueOp::Renew { .. }
            | QueueOp::GiveUp { .. }
            | QueueOp::Cancel { .. } => {}
        }
        self
    }
}

/// What a [`QueueOp`] returned; each typed method of the queue expects its own.
#[derive(Debug)]
pub(crate) enum QueueAnswer {
    Enqueued,
    SubRun(SubRunStart),
    /// The runs claimed (on SQLite with their contexts).
    Claimed(Vec<ClaimedRun>),
    /// Whether the guarded row changed (the node still held the run, the run was waiting…).
    Changed(bool),
    /// The runs whose lease was renewed.
    Held(Vec<String>),
    /// The run after a cancel.
    Run(Option<Box<RunRecord>>),
}

/// What enqueueing a sub-workflow run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubRunStart {
    Started,
    /// A run with its id exists: the step that starts it was replayed.
    Existed,
    /// Its root run's tree has started `max_per_root` runs already; nothing was enqueued.
    LimitReached,
}
