//! Runs and their steps as they are read: one run, lists, a run's steps and what executing it
//! needs. Every change of a run goes through [`crate::run_queue`].

mod context;

use sqlx::AssertSqlSafe;

use crate::query::{Arg, Columns, record};
use crate::run_queue::sql::{GET_RUN_SQL, RUN_COLUMNS};
pub use crate::run_queue::{RunStatus, StepStatus, TriggerKind};
use crate::{Result, Store, StoreError, clean, clean_opt};
pub(crate) use context::context_sqlite;
pub use context::{ClaimedRun, RunContext};

record! {
    /// A run to enqueue.
    #[derive(Debug, Clone)]
    pub struct NewRun {
        pub id: String,
        pub workflow_id: String,
        pub workflow_name: String,
        pub trigger_kind: TriggerKind,
        pub delivery_id: Option<String>,
        pub event_id: Option<String>,
        pub scheduled_at: Option<i64>,
        /// JSON object.
        pub inputs: String,
        pub parent_run_id: Option<String>,
        pub depth: i64,
        /// The delivery a replay run replays (SPEC §10; `trigger_kind` is then `replay`).
        pub replay_of: Option<String>,
        /// The W3C `traceparent` of the span the run's span continues (README, "Traces").
        pub traceparent: Option<String>,
    }
}

record! {
    #[derive(Debug, Clone)]
    pub struct RunRecord {
        pub id: String,
        pub workflow_id: String,
        pub workflow_name: String,
        /// The version of the workflow the run started on and always executes (SPEC §10); 0 if
        /// the workflow was gone when the run was enqueued.
        pub workflow_version: i64,
        pub status: RunStatus,
        pub trigger_kind: TriggerKind,
        pub delivery_id: Option<String>,
        pub event_id: Option<String>,
        pub scheduled_at: Option<i64>,
        pub inputs: String,
        pub outputs: Option<String>,
        pub error: Option<String>,
        pub parent_run_id: Option<String>,
        pub depth: i64,
        pub cancel_requested: bool,
        pub available_at: i64,
        pub claims: i64,
        pub created_at: i64,
        pub started_at: Option<i64>,
        pub finished_at: Option<i64>,
        /// The delivery a replay run replays (SPEC §10).
        pub replay_of: Option<String>,
        /// The W3C `traceparent` of the span the run's span continues (README, "Traces").
        pub traceparent: Option<String>,
    }
}

impl RunRecord {
    /// The delivery whose request the run's `trigger` describes: the one that started it, or the
    /// one it replays.
    pub fn trigger_delivery_id(&self) -> Option<&str> {
        self.delivery_id.as_deref().or(self.replay_of.as_deref())
    }
}

record! {
    /// One executed step (a step in a loop is recorded once per iteration).
    #[derive(Debug, Clone)]
    pub struct StepRecord {
        pub run_id: String,
        /// Where the step is in the definition, with loop iterations: stable across replays.
        pub path: String,
        pub seq: i64,
        pub step_id: String,
        pub step_type: String,
        pub status: StepStatus,
        pub iteration: Option<i64>,
        pub input: Option<String>,
        pub output: Option<String>,
        pub error: Option<String>,
        pub attempts: i64,
        /// A sleeping step or a retry: when to continue.
        pub wake_at: Option<i64>,
        pub started_at: i64,
        pub finished_at: Option<i64>,
        /// The unredacted output, sealed, when redaction changed `output` (see
        /// [`Store::seal_replay`]).
        pub replay: Option<Vec<u8>>,
    }
}

impl NewRun {
    /// A run of workflow `(workflow_id, workflow_name)` with id `id`, started by `trigger_kind`,
    /// with no inputs (`{}`), no parent, no delivery, event or trace: the caller sets those that
    /// apply.
    pub fn new(
        id: String,
        trigger_kind: TriggerKind,
        workflow_id: String,
        workflow_name: String,
    ) -> NewRun {
        NewRun {
            id,
            workflow_id,
            workflow_name,
            trigger_kind,
            delivery_id: None,
            event_id: None,
            scheduled_at: None,
            inputs: "{}".into(),
            parent_run_id: None,
            depth: 0,
            replay_of: None,
            traceparent: None,
        }
    }

    /// Its text free of NUL characters (see [`crate::text`]).
    pub(crate) fn clean(&mut self) {
        clean(&mut self.workflow_name);
        clean(&mut self.inputs);
    }
}

impl StepRecord {
    /// Its text free of NUL characters (see [`crate::text`]).
    pub(crate) fn clean(&mut self) {
        clean(&mut self.path);
        clean(&mut self.step_id);
        clean(&mut self.step_type);
        clean_opt(&mut self.input);
        clean_opt(&mut self.output);
        clean_opt(&mut self.error);
    }
}

const STEP_COLUMNS: &str = <StepRecord as Columns>::COLUMNS;

/// Filters of `GET /runs`.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub workflow_id: Option<String>,
    /// A status as users see it: `running` lists the `waiting` runs too.
    pub status: Option<RunStatus>,
    pub delivery_id: Option<String>,
    pub replay_of: Option<String>,
}

impl Store {
    /// Seals a step's unredacted output for replay, bound to its run.
    pub fn seal_replay(&self, run_id: &str, plain: &str) -> Vec<u8> {
        self.key.seal(plain.as_bytes(), &format!("replay:{run_id}"))
    }

    /// Opens what [`seal_replay`](Self::seal_replay) sealed.
    pub fn open_replay(&self, run_id: &str, sealed: &[u8]) -> Result<String> {
        let plain = self.key.open(sealed, &format!("replay:{run_id}"))?;
        String::from_utf8(plain).map_err(|_| StoreError::Internal("replay is not UTF-8".into()))
    }

    pub async fn get_run(&self, id: &str) -> Result<Option<RunRecord>> {
        self.one(GET_RUN_SQL.as_str(), &[id.into()]).await
    }

    /// Newest first, filtered.
    pub async fn list_runs(
        &self,
        filter: &RunFilter,
        limit: i64,
        cursor: Option<&str>,
    ) -> Result<(Vec<RunRecord>, Option<String>)> {
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE 1 = 1");
        let mut args: Vec<Arg> = Vec::new();
        for (col, v) in [
            ("workflow_id", filter.workflow_id.as_deref()),
            ("status", filter.status.map(RunStatus::as_str)),
            ("delivery_id", filter.delivery_id.as_deref()),
            ("replay_of", filter.replay_of.as_deref()),
        ] {
            if let Some(v) = v {
                args.push(v.into());
                let n = args.len();
                if filter.status == Some(RunStatus::Running) && col == "status" {
                    // A run waiting (sleep, backoff, sub-run) is running to its users.
                    let waiting = RunStatus::Waiting.as_str();
                    sql.push_str(&format!(" AND status IN (${n}, '{waiting}')"));
                } else {
                    sql.push_str(&format!(" AND {col} = ${n}"));
                }
            }
        }
        if let Some(c) = cursor {
            args.push(c.into());
            sql.push_str(&format!(" AND id < ${}", args.len()));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", args.len() + 1));
        let key = |r: &RunRecord| r.id.clone();
        self.page(AssertSqlSafe(sql), &args, limit, key).await
    }

    /// A run's steps in start order.
    pub async fn run_steps(&self, run_id: &str) -> Result<Vec<StepRecord>> {
        let sql = format!("SELECT {STEP_COLUMNS} FROM run_steps WHERE run_id = $1 ORDER BY seq");
        self.all(AssertSqlSafe(sql), &[run_id.into()]).await
    }

    /// One page of a run's steps in start order: up to `limit` after the step with sequence
    /// number `after`, with the number of steps the run has in all.
    pub async fn run_steps_page(
        &self,
        run_id: &str,
        after: Option<i64>,
        limit: i64,
    ) -> Result<(Vec<StepRecord>, i64)> {
        let sql = format!(
            "SELECT {STEP_COLUMNS} FROM run_steps WHERE run_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3"
        );
        let args = [run_id.into(), after.unwrap_or(-1).into(), limit.into()];
        let steps = self.all(AssertSqlSafe(sql), &args).await?;
        let count = "SELECT COUNT(*) FROM run_steps WHERE run_id = $1";
        let total: Option<(i64,)> = self.one(count, &[run_id.into()]).await?;
        Ok((steps, total.map_or(0, |(n,)| n)))
    }

    /// Whether cancellation of a run was requested.
    pub async fn cancel_requested(&self, id: &str) -> Result<bool> {
        let sql = "SELECT cancel_requested FROM runs WHERE id = $1";
        let v: Option<(bool,)> = self.one(sql, &[id.into()]).await?;
        Ok(v.is_some_and(|(v,)| v))
    }
}
