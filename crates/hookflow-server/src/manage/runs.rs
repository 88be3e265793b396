//! Runs as an operator sees them, with every secret value masked (SPEC §4, §11): a page of
//! runs, one run with a page of its steps and the trigger variables it started with, and
//! cancelling a run.

use std::collections::HashMap;

use hookflow_core::redact::Redactor;
use hookflow_core::workflow::{VarDecl, VarType, Workflow};
use hookflow_engine::Engine;
use hookflow_engine::record::Limit;
use hookflow_store::runs::{RunFilter, RunRecord, RunStatus, StepRecord, TriggerKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::page::{Page, PageRequest};
use super::{Found, ManageError, ManageResult, rfc3339, to_json};
use crate::state::AppState;

fn json_or_null(s: Option<&str>) -> Value {
    s.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

/// A workflow run as the API shows it. A step input, output or error, or run outputs or error,
/// over `--max-step-record-bytes` is recorded cut: `{"truncated": true, "limit":
/// "max_step_record_bytes", "bytes": N, "preview": "…"}` (an error text ends with `[cut: N bytes,
/// over …]`); past `--max-run-record-bytes` for the whole run, values are recorded as
/// `{"truncated": true, "limit": "max_run_record_bytes", "bytes": N}`.
#[derive(Serialize, ToSchema)]
#[schema(as = Run)]
pub struct RunView {
    pub id: String,
    pub workflow_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The version of the workflow the run started on; it always executes that version's
    /// definition (also when resumed after a sleep, a retry pause or a crash, or on another
    /// node).
    pub workflow_version: i64,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// What started the run. Every run answer has `kind` (`webhook`, `schedule`, `manual`,
    /// `workflow`), `delivery_id`, `event_id` and `scheduled_at`. One run's answer (`GET
    /// /api/v1/runs/{id}`, a manual run answered with `?wait=`) also holds the trigger variables
    /// it started with (SPEC §3: `body`, `raw_body`, `headers`, `request_body`,
    /// `request_headers`, `query`, `content_type`, `webhook` {id, name}, `event` {id, name},
    /// `delivery_id`, `received_at`; a schedule's `event` and `scheduled_at`), secrets masked;
    /// `raw_body` and `request_body` are left out when the body is over 64 KiB (the delivery
    /// keeps it). A replay's `kind` is `webhook` and its `delivery_id` the delivery it replays.
    #[schema(value_type = RunTrigger)]
    pub trigger: Value,
    /// How the run started (`run.started_by` in expressions): `webhook`, `schedule`, `manual`,
    /// `workflow`, or `replay` for a run a replay started (SPEC §10).
    pub started_by: String,
    /// The delivery a replay run replays (its `trigger` is that delivery's request); null
    /// otherwise.
    #[schema(required = true)]
    pub replay_of: Option<String>,
    /// The inputs the run was given; values of secrets and of declared `secure_string` inputs
    /// are shown as `***`.
    #[schema(value_type = Object)]
    pub inputs: Value,
    /// What its `complete` step set; values of secrets and of declared `secure_string` values
    /// are `***`.
    #[schema(value_type = Option<Object>, required = true)]
    pub outputs: Value,
    #[schema(required = true)]
    pub error: Option<String>,
    /// The run that started this one as a sub-workflow.
    #[schema(required = true)]
    pub parent_run_id: Option<String>,
    pub cancel_requested: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime, required = true)]
    pub started_at: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub finished_at: Option<String>,
    /// Only in `GET /api/v1/runs/{id}` and manual runs answered finished: one page of the steps,
    /// in start order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepView>>,
    /// How many steps the run has recorded (with `steps`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps_total: Option<i64>,
    /// Pass as `steps_cursor` for the next page of steps; null on the last (with `steps`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps_next_cursor: Option<Option<String>>,
}

/// What every run answer says of its trigger.
#[derive(Serialize, ToSchema)]
pub struct RunTrigger {
    /// `webhook`, `schedule`, `manual` or `workflow`.
    pub kind: String,
    #[schema(required = true)]
    pub delivery_id: Option<String>,
    #[schema(required = true)]
    pub event_id: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub scheduled_at: Option<String>,
}

/// One step of a run (one iteration of a step in a loop).
#[derive(Serialize, ToSchema)]
#[schema(as = Step)]
pub struct StepView {
    /// The step's `id` in the definition.
    pub id: String,
    /// The step's `title` in the definition of the version the run executes, or null.
    #[schema(required = true)]
    pub title: Option<String>,
    /// The step's type.
    #[serde(rename = "type")]
    pub step_type: String,
    pub status: String,
    /// Which iteration of a loop, in a loop.
    #[schema(required = true)]
    pub iteration: Option<i64>,
    #[schema(value_type = Option<Object>, required = true)]
    pub input: Value,
    #[schema(value_type = Option<Object>, required = true)]
    pub output: Value,
    #[schema(required = true)]
    pub error: Option<String>,
    pub attempts: i64,
    /// When a sleeping or backing-off step wakes.
    #[schema(format = DateTime, required = true)]
    pub wake_at: Option<String>,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime, required = true)]
    pub finished_at: Option<String>,
}

fn step_view(s: &StepRecord, title: Option<String>) -> StepView {
    StepView {
        id: s.step_id.clone(),
        title,
        step_type: s.step_type.clone(),
        status: s.status.as_str().to_string(),
        iteration: s.iteration,
        input: json_or_null(s.input.as_deref()),
        output: json_or_null(s.output.as_deref()),
        error: s.error.clone(),
        attempts: s.attempts,
        wake_at: s.wake_at.map(rfc3339),
        started_at: rfc3339(s.started_at),
        finished_at: s.finished_at.map(rfc3339),
    }
}

/// Runs as the API shows them, with every secret value replaced by `***` — including in
/// inputs, which a run keeps real (a sub-run's inputs may be rendered from secrets).
pub async fn runs_json(
    st: &AppState,
    runs: &[RunRecord],
    steps: Option<&[StepRecord]>,
) -> ManageResult<Vec<Value>> {
    let redactor = redactor(st).await?;
    let declared = declared(st, runs).await?;
    let step_bytes = st.engine.opts.record.step_bytes;
    Ok(runs
        .iter()
        .map(|r| {
            let d = declared.get(&(r.workflow_id.clone(), r.workflow_version));
            let mut v = run_json(r, steps, d.map(|d| &d.titles));
            match d {
                Some(d) if !d.secure_inputs.is_empty() => {
                    let mut own = redactor.clone();
                    own.add_secure(&d.secure_inputs, &v["inputs"]);
                    own.redact(&mut v);
                }
                _ => redactor.redact(&mut v),
            }
            // A run keeps its inputs whole (it runs on them); shown, they are cut like any
            // other recorded value.
            if r.inputs.len() > step_bytes {
                v["inputs"] =
                    hookflow_engine::record::marker(&v["inputs"].to_string(), Limit::Step);
            }
            v
        })
        .collect())
}

/// What run answers take from a run's workflow definition: the `secure_string` inputs (their
/// values are masked like secrets, SPEC §11) and the steps' titles.
#[derive(Default)]
struct Declared {
    secure_inputs: Vec<VarDecl>,
    titles: HashMap<String, String>,
}

/// [`Declared`] for each workflow version of `runs`, by workflow id and version (the definition
/// each run executes).
async fn declared(
    st: &AppState,
    runs: &[RunRecord],
) -> ManageResult<HashMap<(String, i64), Declared>> {
    let mut out: HashMap<(String, i64), Declared> = HashMap::new();
    for r in runs {
        let key = (r.workflow_id.clone(), r.workflow_version);
        if out.contains_key(&key) {
            continue;
        }
        let wf = st
            .store
            .get_workflow_version(&r.workflow_id, r.workflow_version)
            .await?
            .and_then(|w| w.document.definition)
            .and_then(|d| serde_json::from_str::<Workflow>(&d).ok());
        let d = match wf {
            Some(wf) => Declared {
                titles: wf
                    .all_steps()
                    .into_iter()
                    .filter_map(|s| Some((s.id.clone(), s.title.clone()?)))
                    .collect(),
                secure_inputs: wf
                    .inputs
                    .into_iter()
                    .filter(|d| d.r#type == VarType::SecureString)
                    .collect(),
            },
            None => Declared::default(),
        };
        out.insert(key, d);
    }
    Ok(out)
}

/// Masks every secret's value.
async fn redactor(st: &AppState) -> ManageResult<Redactor> {
    let secrets = Redactor::secrets_object(st.store.secret_values().await?);
    Ok(Redactor::for_secrets(&secrets))
}

/// Bodies larger than this are left out of a run's `trigger` as text (`raw_body`,
/// `request_body`); the delivery keeps them (SPEC §5).
pub const TRIGGER_TEXT_BYTES: usize = 64 * 1024;

/// Leaves the body's text out of trigger variables `t` when `delivery`'s body is longer than
/// [`TRIGGER_TEXT_BYTES`].
pub fn drop_long_text(
    t: &mut serde_json::Map<String, Value>,
    delivery: Option<&hookflow_store::deliveries::Delivery>,
) {
    if delivery
        .and_then(|d| d.body.as_ref())
        .is_some_and(|b| b.len() > TRIGGER_TEXT_BYTES)
    {
        t.remove("raw_body");
        t.remove("request_body");
    }
}

/// A run's `trigger` as one run's answer shows it: the trigger variables it started with (SPEC
/// §3, rebuilt from its delivery or schedule as the engine does), with `kind` and the ids every
/// run answer has.
async fn trigger_json(st: &AppState, r: &RunRecord) -> ManageResult<Value> {
    let rc = st.store.run_context(r).await?;
    let mut t = match Engine::trigger_of(r, &rc) {
        Ok(Value::Object(m)) => m,
        // the delivery was deleted: the ids are all there is
        _ => serde_json::Map::new(),
    };
    drop_long_text(&mut t, rc.delivery.as_ref());
    if let Value::Object(ids) = compact_trigger(r) {
        for (k, v) in ids {
            t.entry(k).or_insert(v);
        }
    }
    Ok(Value::Object(t))
}

/// What every run answer says of its trigger (lists included): its kind and ids.
fn compact_trigger(r: &RunRecord) -> Value {
    to_json(&RunTrigger {
        // A replay's trigger is the request it replays (`started_by` says it is a replay).
        kind: if r.replay_of.is_some() {
            TriggerKind::Webhook.as_str().to_string()
        } else {
            r.trigger_kind.as_str().to_string()
        },
        delivery_id: r.trigger_delivery_id().map(str::to_string),
        event_id: r.event_id.clone(),
        scheduled_at: r.scheduled_at.map(rfc3339),
    })
}

fn run_json(
    r: &RunRecord,
    steps: Option<&[StepRecord]>,
    titles: Option<&HashMap<String, String>>,
) -> Value {
    to_json(&RunView {
        id: r.id.clone(),
        workflow_id: r.workflow_id.clone(),
        workflow: r.workflow_name.clone(),
        workflow_version: r.workflow_version,
        // `waiting` (sleeping, backing off, waiting for a sub-run) is internal: it is running.
        status: r.status.public().as_str().to_string(),
        trigger: compact_trigger(r),
        started_by: r.trigger_kind.as_str().to_string(),
        replay_of: r.replay_of.clone(),
        inputs: json_or_null(Some(&r.inputs)),
        outputs: json_or_null(r.outputs.as_deref()),
        error: r.error.clone(),
        parent_run_id: r.parent_run_id.clone(),
        cancel_requested: r.cancel_requested,
        created_at: rfc3339(r.created_at),
        started_at: r.started_at.map(rfc3339),
        finished_at: r.finished_at.map(rfc3339),
        steps: steps.map(|steps| {
            steps
                .iter()
                .map(|s| step_view(s, titles.and_then(|t| t.get(&s.step_id)).cloned()))
                .collect()
        }),
        steps_total: None,
        steps_next_cursor: None,
    })
}

/// Steps shown with a run unless `steps_limit` says otherwise, and the most it may say.
pub const DEFAULT_STEPS: i64 = 1000;
pub const MAX_STEPS: i64 = 5000;

/// Which of a run's steps to show: `?steps_limit=` (default [`DEFAULT_STEPS`], at most
/// [`MAX_STEPS`]) after `?steps_cursor=` (the `steps_next_cursor` of the previous answer).
#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StepsQuery {
    /// Steps in the answer, 1 to 5000 (default 1000).
    #[param(minimum = 1, maximum = 5000)]
    pub steps_limit: Option<i64>,
    /// The `steps_next_cursor` of the previous answer.
    pub steps_cursor: Option<String>,
}

impl StepsQuery {
    fn limit(&self) -> ManageResult<i64> {
        match self.steps_limit {
            None => Ok(DEFAULT_STEPS),
            Some(n) if (1..=MAX_STEPS).contains(&n) => Ok(n),
            Some(n) => Err(ManageError::Malformed(format!(
                "steps_limit must be between 1 and {MAX_STEPS}, got {n}"
            ))),
        }
    }

    fn cursor(&self) -> ManageResult<Option<i64>> {
        match self.steps_cursor.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(c) => c
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(Some)
                .ok_or_else(|| {
                    ManageError::Malformed(
                        "steps_cursor is not one this server issued: pass the steps_next_cursor of \
                     the previous answer as it was"
                            .into(),
                    )
                }),
        }
    }
}

/// A run as the API shows it with one page of its steps, `steps_total` (all of them) and
/// `steps_next_cursor` (`null` on the last page).
pub async fn run_with_steps(st: &AppState, run: &RunRecord, q: &StepsQuery) -> ManageResult<Value> {
    let limit = q.limit()?;
    let (mut steps, total) = st
        .store
        .run_steps_page(&run.id, q.cursor()?, limit + 1)
        .await?;
    let more = steps.len() as i64 > limit;
    steps.truncate(limit as usize);
    let next = more
        .then(|| steps.last().map(|s| s.seq.to_string()))
        .flatten();
    let mut v = runs_json(st, std::slice::from_ref(run), Some(&steps))
        .await?
        .remove(0);
    let mut trigger = trigger_json(st, run).await?;
    redactor(st).await?.redact(&mut trigger);
    v["trigger"] = trigger;
    v["steps_total"] = json!(total);
    v["steps_next_cursor"] = json!(next);
    Ok(v)
}

/// Run `id`; 404 if there is none.
pub async fn find(st: &AppState, id: &str) -> ManageResult<RunRecord> {
    st.store.get_run(id).await?.found("run", id)
}

/// A run status a run answer shows ([`RunStatus::PUBLIC`]); 400 for any other.
pub fn parse_status(status: Option<&str>) -> ManageResult<Option<RunStatus>> {
    match status {
        None => Ok(None),
        Some(s) => RunStatus::parse_public(s).map(Some).ok_or_else(|| {
            ManageError::Malformed(format!(
                "status must be queued, running, succeeded, failed or cancelled, got {s:?}"
            ))
        }),
    }
}

/// A page of the runs `filter` selects, newest first, as [`runs_json`] shows them.
pub async fn list(
    st: &AppState,
    filter: &RunFilter,
    page: &PageRequest,
) -> ManageResult<Page<Value>> {
    let (items, next) = st
        .store
        .list_runs(filter, page.limit, page.after.as_deref())
        .await?;
    Ok(Page {
        items: runs_json(st, &items, None).await?,
        next,
    })
}

/// Cancels run `id` and the sub-workflow runs it started; answers it as [`runs_json`] shows it.
pub async fn cancel(st: &AppState, id: &str) -> ManageResult<Value> {
    let run = st.engine.queue.cancel(id).await?.found("run", id)?;
    let mut v = runs_json(st, std::slice::from_ref(&run), None).await?;
    Ok(v.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_those_answers_show() {
        for s in ["queued", "running", "succeeded", "failed", "cancelled"] {
            assert_eq!(parse_status(Some(s)).unwrap().unwrap().as_str(), s);
        }
        assert_eq!(parse_status(None), Ok(None));
        // `waiting` is stored, never shown: no list asks for it.
        assert_eq!(
            parse_status(Some("waiting")).unwrap_err(),
            ManageError::Malformed(
                "status must be queued, running, succeeded, failed or cancelled, got \"waiting\""
                    .into()
            )
        );
    }
}
