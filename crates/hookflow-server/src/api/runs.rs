//! `/api/v1/runs`: list, show (with steps, a page at a time: `?steps_limit=&steps_cursor=`, the
//! answer saying `steps_total` and `steps_next_cursor`), cancel.

use axum::Json;
use axum::extract::{Path, State};
use std::collections::HashMap;

use hookflow_core::workflow::{VarDecl, VarType, Workflow};
use hookflow_engine::Engine;
use hookflow_engine::record::Limit;
use hookflow_engine::redact::Redactor;
use hookflow_store::runs::{RunFilter, RunRecord, StepRecord};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiQuery, PageQuery, list_answer, rfc3339};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

fn json_or_null(s: Option<&str>) -> Value {
    s.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

pub fn step_json(s: &StepRecord) -> Value {
    json!({
        "id": s.step_id,
        "type": s.step_type,
        "status": s.status,
        "iteration": s.iteration,
        "input": json_or_null(s.input.as_deref()),
        "output": json_or_null(s.output.as_deref()),
        "error": s.error,
        "attempts": s.attempts,
        "wake_at": s.wake_at.map(rfc3339),
        "started_at": rfc3339(s.started_at),
        "finished_at": s.finished_at.map(rfc3339),
    })
}

/// Runs as the API shows them, with every secret value replaced by `***` — including in
/// inputs, which a run keeps real (a sub-run's inputs may be rendered from secrets).
pub async fn runs_json(
    st: &AppState,
    runs: &[RunRecord],
    steps: Option<&[StepRecord]>,
) -> ApiResult<Vec<Value>> {
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
) -> ApiResult<HashMap<(String, i64), Declared>> {
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
            .and_then(|w| w.definition)
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
async fn redactor(st: &AppState) -> ApiResult<Redactor> {
    let secrets: serde_json::Map<String, Value> = st
        .store
        .secret_values()
        .await?
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    Ok(Redactor::for_secrets(&secrets))
}

/// Bodies larger than this are left out of a run's `trigger` as text (`raw_body`,
/// `request_body`); the delivery keeps them (SPEC §5).
pub const TRIGGER_TEXT_BYTES: usize = 64 * 1024;

/// Leaves the body's text out of trigger variables `t` when `delivery`'s body is longer than
/// [`TRIGGER_TEXT_BYTES`].
pub(crate) fn drop_long_text(
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
async fn trigger_json(st: &AppState, r: &RunRecord) -> ApiResult<Value> {
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
    json!({
        // A replay's trigger is the request it replays (`started_by` says it is a replay).
        "kind": if r.replay_of.is_some() { "webhook" } else { r.trigger_kind.as_str() },
        "delivery_id": r.trigger_delivery_id(),
        "event_id": r.event_id,
        "scheduled_at": r.scheduled_at.map(rfc3339),
    })
}

fn run_json(
    r: &RunRecord,
    steps: Option<&[StepRecord]>,
    titles: Option<&HashMap<String, String>>,
) -> Value {
    let mut v = json!({
        "id": r.id,
        "workflow_id": r.workflow_id,
        "workflow": r.workflow_name,
        "workflow_version": r.workflow_version,
        // `waiting` (sleeping, backing off, waiting for a sub-run) is internal: it is running.
        "status": if r.status == "waiting" { "running" } else { r.status.as_str() },
        "trigger": compact_trigger(r),
        "started_by": r.trigger_kind,
        "replay_of": r.replay_of,
        "inputs": json_or_null(Some(&r.inputs)),
        "outputs": json_or_null(r.outputs.as_deref()),
        "error": r.error,
        "parent_run_id": r.parent_run_id,
        "cancel_requested": r.cancel_requested,
        "created_at": rfc3339(r.created_at),
        "started_at": r.started_at.map(rfc3339),
        "finished_at": r.finished_at.map(rfc3339),
    });
    if let Some(steps) = steps {
        v["steps"] = Value::Array(
            steps
                .iter()
                .map(|s| {
                    let mut j = step_json(s);
                    j["title"] = json!(titles.and_then(|t| t.get(&s.step_id)));
                    j
                })
                .collect(),
        );
    }
    v
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
    cursor: Option<String>,
    workflow_id: Option<String>,
    status: Option<String>,
    delivery_id: Option<String>,
    replay_of: Option<String>,
}

pub async fn list(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    if let Some(s) = &q.status
        && !matches!(
            s.as_str(),
            "queued" | "running" | "succeeded" | "failed" | "cancelled"
        )
    {
        return Err(Problem::bad_request(format!(
            "status must be queued, running, succeeded, failed or cancelled, got {s:?}"
        )));
    }
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let filter = RunFilter {
        workflow_id: q.workflow_id,
        status: q.status,
        delivery_id: q.delivery_id,
        replay_of: q.replay_of,
    };
    let (items, next) = st
        .store
        .list_runs(&filter, page.limit()?, page.cursor()?.as_deref())
        .await?;
    let mut out = list_answer(runs_json(&st, &items, None).await?, next);
    out["retention"] = st.retention.to_json();
    Ok(Json(out))
}

/// Steps shown with a run unless `steps_limit` says otherwise, and the most it may say.
pub const DEFAULT_STEPS: i64 = 1000;
pub const MAX_STEPS: i64 = 5000;

/// Which of a run's steps to show: `?steps_limit=` (default [`DEFAULT_STEPS`], at most
/// [`MAX_STEPS`]) after `?steps_cursor=` (the `steps_next_cursor` of the previous answer).
#[derive(Deserialize, Default)]
pub struct StepsQuery {
    pub steps_limit: Option<i64>,
    pub steps_cursor: Option<String>,
}

impl StepsQuery {
    fn limit(&self) -> ApiResult<i64> {
        match self.steps_limit {
            None => Ok(DEFAULT_STEPS),
            Some(n) if (1..=MAX_STEPS).contains(&n) => Ok(n),
            Some(n) => Err(Problem::bad_request(format!(
                "steps_limit must be between 1 and {MAX_STEPS}, got {n}"
            ))),
        }
    }

    fn cursor(&self) -> ApiResult<Option<i64>> {
        match self.steps_cursor.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(c) => c
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(Some)
                .ok_or_else(|| {
                    Problem::bad_request(
                        "steps_cursor is not one this server issued: pass the steps_next_cursor of \
                     the previous answer as it was",
                    )
                }),
        }
    }
}

/// A run as the API shows it with one page of its steps, `steps_total` (all of them) and
/// `steps_next_cursor` (`null` on the last page).
pub async fn run_with_steps(st: &AppState, run: &RunRecord, q: &StepsQuery) -> ApiResult<Value> {
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

pub async fn show(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<StepsQuery>,
) -> ApiResult<Json<Value>> {
    let run = st
        .store
        .get_run(&id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("there is no run with id {id}")))?;
    Ok(Json(run_with_steps(&st, &run, &q).await?))
}

pub async fn cancel(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let run = st
        .store
        .cancel_run(&id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("there is no run with id {id}")))?;
    let mut v = runs_json(&st, std::slice::from_ref(&run), None).await?;
    Ok(Json(v.remove(0)))
}
