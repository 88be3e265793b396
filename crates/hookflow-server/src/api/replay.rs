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
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{JsonBody, to_json};
use crate::openapi::{BadRequest, Invalid, NotFound, ProblemDocument};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// Most deliveries one bulk replay covers (SPEC §10).
pub const MOST: i64 = 10_000;

/// A replay of one delivery.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayOne {
    /// Only these workflows (names) start; the others are reported in `routing.not_started`
    /// with the reason `the replay names other workflows`. An unknown name is 422.
    #[schema(min_items = 1)]
    workflows: Option<Vec<String>>,
    /// Start nothing and record nothing: answer what would start.
    #[serde(default)]
    dry_run: bool,
}

/// A replay of the accepted deliveries of a time range.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRange {
    /// The first instant of the range (RFC 3339, included).
    #[schema(format = DateTime)]
    from: String,
    /// The end of the range (RFC 3339, excluded).
    #[schema(format = DateTime)]
    to: String,
    /// Only these workflows (names) start; the others are reported in `routing.not_started`
    /// with the reason `the replay names other workflows`. An unknown name is 422.
    #[schema(min_items = 1)]
    workflows: Option<Vec<String>>,
    /// Start nothing and record nothing: answer what would start.
    #[serde(default)]
    dry_run: bool,
}

/// What a replay of one delivery started (or would start).
#[derive(Serialize, ToSchema)]
pub struct Replay {
    /// Same shape and reasons as a delivery's own `routing`: `events` [{id, name, matched,
    /// reason}], `runs` [{id, workflow_id, workflow, event}] (`id` null in a dry run),
    /// `not_started` [{workflow_id, workflow, event, reason}].
    #[schema(value_type = Object)]
    pub routing: Value,
    /// The runs started (as `GET /api/v1/runs` shows them); in a dry run, each run that would
    /// start: {workflow, workflow_id, event, trigger} with the trigger variables it would see.
    #[schema(value_type = Vec<Object>)]
    pub runs: Vec<Value>,
    pub dry_run: bool,
}

/// What a replay of a time range started (or would start).
#[derive(Serialize, ToSchema)]
pub struct ReplaySummary {
    /// Accepted deliveries replayed.
    pub deliveries: i64,
    /// Runs started (would start, in a dry run).
    pub runs_started: i64,
    /// Runs started per workflow name.
    pub workflows: BTreeMap<String, i64>,
    pub dry_run: bool,
}

/// Replay a stored accepted delivery through today's events, filters and workflows
///
/// Routes the delivery again exactly as routing does on arrival (events and their filters,
/// valid, enabled workflows with enabled triggers, as they are now) and starts the runs that
/// gives, in one transaction. Each new run has `started_by` `replay` and `replay_of` the
/// delivery's id; its `trigger` variables are those of the original request
/// (`trigger.delivery_id` is the original delivery). The delivery and its own runs are not
/// changed. With `dry_run` nothing starts and nothing is recorded: the answer (200) has the same
/// `routing` and, in `runs`, each run that would start with the trigger variables it would see.
#[utoipa::path(post, path = "/deliveries/{id}/replay", tag = "deliveries",
    operation_id = "replayDelivery",
    params(("id" = String, Path, description = "The delivery's id.")),
    request_body(content = Option<ReplayOne>),
    responses(
        (status = 200, description = "Dry run: what a replay would start.", body = Replay),
        (status = 201, description = "Replayed: the routing and the runs started.", body = Replay),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, description = "The delivery cannot be replayed: it is a duplicate \
            (duplicates are never replayed), it was rejected (only accepted deliveries are \
            replayed), or its webhook is gone.", body = ProblemDocument,
            content_type = "application/problem+json"),
        (status = 422, response = Invalid),
    ))]
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
    Ok(to_json(&Replay {
        routing: r.routing,
        runs,
        dry_run,
    }))
}

/// Replay a webhook's accepted deliveries of a time range
///
/// Replays (as `POST /api/v1/deliveries/{id}/replay` does) every accepted delivery the webhook
/// received from `from` (included) to `to` (excluded), oldest first, 100 per transaction.
/// Duplicates and rejected deliveries are skipped. At most 10,000 deliveries per call: a range
/// holding more is 422 saying how many. With `dry_run` nothing starts: the counts are what
/// would.
#[utoipa::path(post, path = "/webhooks/{id}/replay", tag = "webhooks",
    operation_id = "replayWebhookDeliveries",
    params(("id" = String, Path, description = "The webhook's id.")),
    request_body = ReplayRange,
    responses(
        (status = 200, description = "Dry run: what the replay would start.", body = ReplaySummary),
        (status = 201, description = "Replayed.", body = ReplaySummary),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 422, response = Invalid),
    ))]
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
    Ok(to_json(&ReplaySummary {
        deliveries,
        runs_started,
        workflows: per_workflow,
        dry_run,
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
