//! Runs and their steps as they are read: one run, lists, a run's steps and what executing it
//! needs. Every change of a run goes through [`crate::run_queue`].

use sqlx::Row;

use crate::db::on_db;
use crate::run_queue::sql::RUN_COLUMNS;
pub use crate::run_queue::{RunStatus, StepStatus, TriggerKind};
use crate::{Result, Store, StoreError, clean, clean_opt, names_nothing};

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

#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: String,
    pub workflow_id: String,
    pub workflow_name: String,
    /// The version of the workflow the run started on and always executes (SPEC §10); 0 if the
    /// workflow was gone when the run was enqueued.
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

impl RunRecord {
    /// The delivery whose request the run's `trigger` describes: the one that started it, or the
    /// one it replays.
    pub fn trigger_delivery_id(&self) -> Option<&str> {
        self.delivery_id.as_deref().or(self.replay_of.as_deref())
    }
}

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
    /// The unredacted output, sealed, when redaction changed `output` (see [`Store::seal_replay`]).
    pub replay: Option<Vec<u8>>,
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

/// A [`RunRecord`] from a row of [`RUN_COLUMNS`], read with `$get` (sqlx's `try_get` on either
/// backend, rusqlite's `get` in the SQLite writer).
macro_rules! run_from_row {
    ($r:expr, $get:ident) => {{
        let r = $r;
        $crate::runs::RunRecord {
            id: r.$get("id")?,
            workflow_id: r.$get("workflow_id")?,
            workflow_name: r.$get("workflow_name")?,
            workflow_version: r.$get("workflow_version")?,
            status: r.$get("status")?,
            trigger_kind: r.$get("trigger_kind")?,
            delivery_id: r.$get("delivery_id")?,
            event_id: r.$get("event_id")?,
            scheduled_at: r.$get("scheduled_at")?,
            inputs: r.$get("inputs")?,
            outputs: r.$get("outputs")?,
            error: r.$get("error")?,
            parent_run_id: r.$get("parent_run_id")?,
            depth: r.$get("depth")?,
            cancel_requested: r.$get("cancel_requested")?,
            available_at: r.$get("available_at")?,
            claims: r.$get("claims")?,
            created_at: r.$get("created_at")?,
            started_at: r.$get("started_at")?,
            finished_at: r.$get("finished_at")?,
            replay_of: r.$get("replay_of")?,
            traceparent: r.$get("traceparent")?,
        }
    }};
}

pub(crate) use run_from_row;

const STEP_COLUMNS: &str = "run_id, path, seq, step_id, step_type, status, iteration, input, \
    output, error, attempts, wake_at, started_at, finished_at, replay";

macro_rules! step_from_row {
    ($r:expr) => {{
        let r = $r;
        StepRecord {
            run_id: r.try_get("run_id")?,
            path: r.try_get("path")?,
            seq: r.try_get("seq")?,
            step_id: r.try_get("step_id")?,
            step_type: r.try_get("step_type")?,
            status: r.try_get("status")?,
            iteration: r.try_get("iteration")?,
            input: r.try_get("input")?,
            output: r.try_get("output")?,
            error: r.try_get("error")?,
            attempts: r.try_get("attempts")?,
            wake_at: r.try_get("wake_at")?,
            started_at: r.try_get("started_at")?,
            finished_at: r.try_get("finished_at")?,
            replay: r.try_get("replay")?,
        }
    }};
}

/// Filters of `GET /runs`.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub workflow_id: Option<String>,
    /// A status as users see it: `running` lists the `waiting` runs too.
    pub status: Option<RunStatus>,
    pub delivery_id: Option<String>,
    pub replay_of: Option<String>,
}

/// What executing a run needs from the store besides its steps, read in one query: the
/// definition of the workflow version it is pinned to, its event, and (webhook runs) its delivery
/// with the webhook's name.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The definition of the run's version (`None` inside when that version did not parse);
    /// `None` if the workflow was deleted (or the version is gone).
    pub workflow: Option<Option<String>>,
    /// `(id, name)`.
    pub event: Option<(String, String)>,
    pub delivery: Option<crate::deliveries::Delivery>,
    pub webhook_name: Option<String>,
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

    /// See [`RunContext`].
    pub async fn run_context(&self, run: &RunRecord) -> Result<RunContext> {
        let sql = "SELECT v.version AS w_version, v.definition AS w_definition, \
            e.id AS e_id, e.name AS e_name, \
            d.id AS d_id, d.webhook_id, d.received_at, d.status, d.http_status, d.reason, \
            d.method, d.content_type, d.headers, d.query, d.body, d.body_size, \
            d.body_truncated, d.routing, d.verification, h.name AS h_name \
            FROM (SELECT 1 AS one) AS x \
            LEFT JOIN workflows w ON w.id = $1 \
            LEFT JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = $4 \
            LEFT JOIN events e ON e.id = $2 \
            LEFT JOIN deliveries d ON d.id = $3 \
            LEFT JOIN webhooks h ON h.id = d.webhook_id";
        on_db!(&self.db, |p| {
            let r = sqlx::query(sql)
                .bind(&run.workflow_id)
                .bind(run.event_id.as_deref().unwrap_or(""))
                .bind(run.trigger_delivery_id().unwrap_or(""))
                .bind(run.workflow_version)
                .fetch_one(p)
                .await?;
            let version: Option<i64> = r.try_get("w_version")?;
            let event_id: Option<String> = r.try_get("e_id")?;
            let delivery_id: Option<String> = r.try_get("d_id")?;
            Ok(RunContext {
                workflow: match version {
                    Some(_) => Some(r.try_get("w_definition")?),
                    None => None,
                },
                event: match event_id {
                    Some(id) => Some((id, r.try_get("e_name")?)),
                    None => None,
                },
                delivery: match delivery_id {
                    Some(id) => Some(crate::deliveries::Delivery {
                        id,
                        webhook_id: r.try_get("webhook_id")?,
                        received_at: r.try_get("received_at")?,
                        status: r.try_get("status")?,
                        http_status: r.try_get("http_status")?,
                        reason: r.try_get("reason")?,
                        method: r.try_get("method")?,
                        content_type: r.try_get("content_type")?,
                        headers: r.try_get("headers")?,
                        query: r.try_get("query")?,
                        body: Some(r.try_get("body")?),
                        body_size: r.try_get("body_size")?,
                        body_truncated: r.try_get("body_truncated")?,
                        routing: r.try_get("routing")?,
                        duplicate_of: None,
                        verification: r.try_get("verification")?,
                    }),
                    None => None,
                },
                webhook_name: r.try_get("h_name")?,
            })
        })
    }

    pub async fn get_run(&self, id: &str) -> Result<Option<RunRecord>> {
        if names_nothing(id) {
            return Ok(None);
        }
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        on_db!(&self.db, |p| {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => Some(run_from_row!(&r, try_get)),
                None => None,
            })
        })
    }

    /// Newest first, filtered.
    pub async fn list_runs(
        &self,
        filter: &RunFilter,
        limit: i64,
        cursor: Option<&str>,
    ) -> Result<(Vec<RunRecord>, Option<String>)> {
        let keys = [
            filter.workflow_id.as_deref(),
            filter.delivery_id.as_deref(),
            filter.replay_of.as_deref(),
            cursor,
        ];
        if keys.into_iter().flatten().any(names_nothing) {
            return Ok((Vec::new(), None));
        }
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE 1 = 1");
        let mut binds: Vec<&str> = Vec::new();
        for (col, v) in [
            ("workflow_id", filter.workflow_id.as_deref()),
            ("status", filter.status.map(RunStatus::as_str)),
            ("delivery_id", filter.delivery_id.as_deref()),
            ("replay_of", filter.replay_of.as_deref()),
        ] {
            if let Some(v) = v {
                binds.push(v);
                let n = binds.len();
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
            binds.push(c);
            sql.push_str(&format!(" AND id < ${}", binds.len()));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", binds.len() + 1));
        let items: Vec<RunRecord> = on_db!(&self.db, |p| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for b in &binds {
                q = q.bind(*b);
            }
            let rows = q.bind(limit + 1).fetch_all(p).await?;
            rows.iter()
                .map(|r| Ok(run_from_row!(r, try_get)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
        })?;
        crate::webhooks::page(items, limit, |r| r.id.clone()).map_items(Ok)
    }

    /// A run's steps in start order.
    pub async fn run_steps(&self, run_id: &str) -> Result<Vec<StepRecord>> {
        if names_nothing(run_id) {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT {STEP_COLUMNS} FROM run_steps WHERE run_id = $1 ORDER BY seq");
        on_db!(&self.db, |p| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(run_id)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| Ok(step_from_row!(r)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// One page of a run's steps in start order: up to `limit` after the step with sequence
    /// number `after`, with the number of steps the run has in all.
    pub async fn run_steps_page(
        &self,
        run_id: &str,
        after: Option<i64>,
        limit: i64,
    ) -> Result<(Vec<StepRecord>, i64)> {
        if names_nothing(run_id) {
            return Ok((Vec::new(), 0));
        }
        let sql = format!(
            "SELECT {STEP_COLUMNS} FROM run_steps WHERE run_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3"
        );
        on_db!(&self.db, |p| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(run_id)
                .bind(after.unwrap_or(-1))
                .bind(limit)
                .fetch_all(p)
                .await?;
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM run_steps WHERE run_id = $1")
                .bind(run_id)
                .fetch_one(p)
                .await?;
            let steps = rows
                .iter()
                .map(|r| Ok(step_from_row!(r)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            Ok::<_, StoreError>((steps, total))
        })
    }

    /// Whether cancellation of a run was requested.
    pub async fn cancel_requested(&self, id: &str) -> Result<bool> {
        if names_nothing(id) {
            return Ok(false);
        }
        let v: Option<bool> = on_db!(&self.db, |p| {
            sqlx::query_scalar("SELECT cancel_requested FROM runs WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await
        })?;
        Ok(v.unwrap_or(false))
    }
}
