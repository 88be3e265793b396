//! Replay and dry runs (SPEC §10): `POST /api/v1/deliveries/{id}/replay` routes one stored
//! accepted delivery again through today's events, filters and workflows; `POST
//! /api/v1/webhooks/{id}/replay` does it for a time range, in bounded batches. The routing is the
//! journal's own (see [`hookflow_store::replay`]); this module checks the request and shapes the
//! answers. The UI calls the same functions.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookflow_store::deliveries::Delivery;
use hookflow_store::replay::{REPLAY_BATCH, ReplayOptions, Replayed};
use hookflow_store::runs::RunRecord;
use serde::Deserialize;
use serde_json::{Value, json};

use super::JsonBody;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// Most deliveries one bulk replay covers (SPEC §10).
pub const MOST: i64 = 10_000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReplayOne {
    /// Only these workflows (names) start.
    workflows: Option<Vec<String>>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRange {
    from: String,
    to: String,
    workflows: Option<Vec<String>>,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /deliveries/{id}/replay` → 201 `{routing, runs}` (200 for a dry run).
pub async fn one(
    State(st): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReplayOne>,
) -> ApiResult<Response> {
    let answer = replay_delivery(&st, &id, body.workflows.as_deref(), body.dry_run).await?;
    let code = if body.dry_run {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((code, Json(answer)).into_response())
}

/// Replays delivery `id` (the API's and the UI's way): `{routing, runs}`, where `runs` are the
/// runs started, or for a dry run `[{workflow, workflow_id, event, trigger}]`.
pub(crate) async fn replay_delivery(
    st: &AppState,
    id: &str,
    workflows: Option<&[String]>,
    dry_run: bool,
) -> ApiResult<Value> {
    let Some(d) = st.store.get_delivery(id).await? else {
        return Err(Problem::not_found(format!(
            "there is no delivery with id {id}"
        )));
    };
    match d.status.as_str() {
        "accepted" => {}
        "duplicate" => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                format!(
                    "delivery {id} is a duplicate of {}: duplicates are never replayed",
                    d.duplicate_of.as_deref().unwrap_or("an earlier delivery")
                ),
            ));
        }
        other => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                format!(
                    "delivery {id} was {other} (HTTP {}): only accepted deliveries are replayed",
                    d.http_status
                ),
            ));
        }
    }
    let only = workflow_names(st, workflows).await?;
    let webhook = webhook_of(st, &d.webhook_id).await?;
    let opts = ReplayOptions {
        only: only.as_deref(),
        dry_run,
    };
    let mut replayed = replay(st, &webhook, std::slice::from_ref(&d), opts).await?;
    let Some(r) = replayed.pop() else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "only accepted deliveries are replayed",
        ));
    };
    let runs = if dry_run {
        would_start(&webhook, &d, &r)
    } else {
        let mut records = Vec::with_capacity(r.runs.len());
        for run in &r.runs {
            if let Some(rec) = st.store.get_run(run.id.as_deref().unwrap_or("")).await? {
                records.push(rec);
            }
        }
        super::runs::runs_json(st, &records, None).await?
    };
    Ok(json!({ "routing": r.routing, "runs": runs, "dry_run": dry_run }))
}

/// `POST /webhooks/{id}/replay` → `{deliveries, runs_started, workflows}` (201; 200 for a dry
/// run, whose counts are what would start).
pub async fn range(
    State(st): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReplayRange>,
) -> ApiResult<Response> {
    let from = instant("from", &body.from)?;
    let to = instant("to", &body.to)?;
    let answer = replay_range(
        &st,
        &id,
        (from, to),
        body.workflows.as_deref(),
        body.dry_run,
    )
    .await?;
    let code = if body.dry_run {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((code, Json(answer)).into_response())
}

/// An RFC 3339 time as unix milliseconds; 400 naming `field` otherwise.
pub(crate) fn instant(field: &str, text: &str) -> Result<i64, Problem> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            Problem::bad_request(format!(
                "{field} must be an RFC 3339 time like 2026-01-31T12:00:00Z, got {text:?} ({e})"
            ))
        })
}

/// Replays the accepted deliveries webhook `id` received from `from` (included) to `to`
/// (excluded), [`REPLAY_BATCH`] per transaction, yielding between batches so that ingest and
/// other requests keep being served.
pub(crate) async fn replay_range(
    st: &AppState,
    id: &str,
    (from, to): (i64, i64),
    workflows: Option<&[String]>,
    dry_run: bool,
) -> ApiResult<Value> {
    if from >= to {
        return Err(Problem::bad_request("from must be before to"));
    }
    let webhook = match st.store.get_webhook(id).await? {
        Some(w) => (w.id, w.name),
        None => {
            return Err(Problem::not_found(format!(
                "there is no webhook with id {id}"
            )));
        }
    };
    let only = workflow_names(st, workflows).await?;
    let total = st.store.count_accepted_between(id, from, to).await?;
    if total > MOST {
        return Err(Problem::unprocessable(format!(
            "the range holds {total} accepted deliveries; at most {MOST} are replayed per call: \
             narrow it"
        )));
    }
    let opts = ReplayOptions {
        only: only.as_deref(),
        dry_run,
    };
    let (mut deliveries, mut runs_started) = (0i64, 0i64);
    let mut per_workflow: BTreeMap<String, i64> = BTreeMap::new();
    let mut after: Option<String> = None;
    while deliveries < MOST {
        let want = (REPLAY_BATCH as i64).min(MOST - deliveries);
        let page = st
            .store
            .accepted_between(id, (from, to), after.as_deref(), want)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for r in replay(st, &webhook, &page, opts).await? {
            deliveries += 1;
            for run in r.runs {
                runs_started += 1;
                *per_workflow.entry(run.workflow_name).or_default() += 1;
            }
        }
        if (page.len() as i64) < want {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(json!({
        "deliveries": deliveries,
        "runs_started": runs_started,
        "workflows": per_workflow,
        "dry_run": dry_run,
    }))
}

/// `(id, name)` of webhook `id`; 409 if it is gone (its deliveries cannot be routed).
async fn webhook_of(st: &AppState, id: &str) -> ApiResult<(String, String)> {
    let w = st.store.get_webhook(id).await?.ok_or_else(|| {
        Problem::new(
            StatusCode::CONFLICT,
            format!("webhook {id} no longer exists: its deliveries cannot be routed"),
        )
    })?;
    Ok((w.id, w.name))
}

/// The names of the workflows a replay is limited to (ids are accepted too); 422 naming those
/// that do not exist.
async fn workflow_names(st: &AppState, given: Option<&[String]>) -> ApiResult<Option<Vec<String>>> {
    let Some(given) = given else { return Ok(None) };
    if given.is_empty() {
        return Err(Problem::unprocessable(
            "workflows is empty: leave it out to replay to every workflow",
        ));
    }
    let (mut names, mut unknown) = (Vec::new(), Vec::new());
    for g in given {
        match st.store.get_workflow(g).await? {
            Some(w) => names.push(w.name),
            None => unknown.push(g.as_str()),
        }
    }
    if !unknown.is_empty() {
        return Err(Problem::unprocessable(format!(
            "there is no workflow named {}",
            unknown
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(Some(names))
}

/// Routes `deliveries` again (and enqueues the runs, unless a dry run), waking this node's
/// workers for them.
async fn replay(
    st: &AppState,
    webhook: &(String, String),
    deliveries: &[Delivery],
    opts: ReplayOptions<'_>,
) -> ApiResult<Vec<Replayed>> {
    let replayed = st
        .store
        .replay(
            (&webhook.0, &webhook.1),
            deliveries,
            opts,
            &st.engine.sandbox,
        )
        .await?;
    if !opts.dry_run && replayed.iter().any(|r| !r.runs.is_empty()) {
        st.engine.runs_ready.notify_one();
    }
    Ok(replayed)
}

/// A dry run's `runs`: each run that would start, with the trigger variables it would see.
fn would_start(webhook: &(String, String), d: &Delivery, r: &Replayed) -> Vec<Value> {
    r.runs
        .iter()
        .map(|run| {
            let mut t = match d
                .recorded(&webhook.1)
                .trigger((&run.event_id, &run.event_name))
            {
                Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            super::runs::drop_long_text(&mut t, Some(d));
            json!({
                "workflow": run.workflow_name,
                "workflow_id": run.workflow_id,
                "event": run.event_name,
                "trigger": t,
            })
        })
        .collect()
}

/// The replays of a delivery, newest first (its page and its API answer).
pub(crate) async fn replays_of(st: &AppState, delivery_id: &str) -> ApiResult<Vec<RunRecord>> {
    let filter = hookflow_store::runs::RunFilter {
        replay_of: Some(delivery_id.to_string()),
        ..Default::default()
    };
    Ok(st.store.list_runs(&filter, 500, None).await?.0)
}
