//! `POST /api/v1/workflows/{id}/runs`: manual runs — their inputs checked against the
//! workflow's declarations, queued, and optionally waited for.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookflow_store::runs::NewRun;
use hookflow_store::workflows::WorkflowRecord;
use hookflow_store::{new_id, now_ms};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::workflows::find;
use super::{ApiQuery, JsonBody};
use crate::openapi::{BadRequest, Invalid, NotFound, ProblemDocument};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// A manual run.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// The run's inputs by name: declared by the workflow and fitting their types; those left
    /// out take their defaults.
    #[serde(default)]
    #[schema(value_type = Object)]
    inputs: serde_json::Map<String, Value>,
}

/// Manual-run inputs must be declared and fit their declared types (missing ones take their
/// defaults; a required one without a default must be given).
fn check_inputs(w: &WorkflowRecord, given: &serde_json::Map<String, Value>) -> ApiResult<()> {
    let Some(wf) = w
        .definition
        .as_deref()
        .and_then(|d| serde_json::from_str::<hookflow_core::workflow::Workflow>(d).ok())
    else {
        return Ok(());
    };
    for (k, v) in given {
        let Some(d) = wf.inputs.iter().find(|d| &d.name == k) else {
            let declared: Vec<&str> = wf.inputs.iter().map(|d| d.name.as_str()).collect();
            return Err(Problem::unprocessable(format!(
                "input {k:?} is not declared by the workflow (declared: {})",
                declared.join(", ")
            )));
        };
        if let Err(why) = hookflow_core::workflow::fits(d.r#type, v) {
            return Err(Problem::unprocessable(format!("input {k:?}: {why}")));
        }
    }
    if let Some(d) = wf
        .inputs
        .iter()
        .find(|d| d.required && d.default.is_none() && !given.contains_key(&d.name))
    {
        return Err(Problem::unprocessable(format!(
            "input {:?} is required",
            d.name
        )));
    }
    Ok(())
}

/// Queues a manual run of `w` with checked `inputs`; answers its id (the API's and the UI's way).
pub(crate) async fn start_manual_run(
    st: &AppState,
    w: &WorkflowRecord,
    inputs: serde_json::Map<String, Value>,
) -> ApiResult<String> {
    if !w.valid {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "the workflow is invalid; fix the errors in its validation first",
        ));
    }
    if !w.enabled {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "the workflow is disabled",
        ));
    }
    check_inputs(w, &inputs)?;
    let run_id = new_id();
    st.store
        .insert_run(&NewRun {
            id: run_id.clone(),
            workflow_id: w.id.clone(),
            workflow_name: w.name.clone(),
            trigger_kind: "manual".into(),
            delivery_id: None,
            event_id: None,
            scheduled_at: None,
            inputs: Value::Object(inputs).to_string(),
            parent_run_id: None,
            depth: 0,
            replay_of: None,
            traceparent: None,
        })
        .await?;
    st.engine.runs_ready.notify_one();
    Ok(run_id)
}

/// `?wait=` of a manual run.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Seconds to wait for the run to finish (0 to 300, default 0).
    #[param(minimum = 0, maximum = 300)]
    wait: Option<f64>,
}

/// Start a manual run
///
/// With `?wait=SECONDS` the answer is the finished run if it ends in time (200), else the queued
/// or running run (202).
#[utoipa::path(post, path = "/workflows/{id}/runs", tag = "workflows", operation_id = "startRun",
    params(("id" = String, Path, description = "The workflow's id or name."), WaitQuery),
    request_body(content = Option<StartRun>),
    responses(
        (status = 200, description = "The finished run (with `?wait=`).", body = super::runs::RunView),
        (status = 202, description = "The run, not finished yet.", body = super::runs::RunView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, description = "Invalid or disabled workflow.", body = ProblemDocument,
            content_type = "application/problem+json"),
        (status = 422, response = Invalid),
    ))]
pub async fn start_run(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    JsonBody(body): JsonBody<StartRun>,
) -> ApiResult<Response> {
    let w = find(&st, &id).await?;
    let run_id = start_manual_run(&st, &w, body.inputs).await?;
    let wait = q.wait.unwrap_or(0.0).clamp(0.0, 300.0);
    let deadline = now_ms() + (wait * 1000.0) as i64;
    loop {
        let run = st
            .store
            .get_run(&run_id)
            .await?
            .ok_or_else(|| Problem::not_found("the run vanished"))?;
        let done = matches!(run.status.as_str(), "succeeded" | "failed" | "cancelled");
        if done || now_ms() >= deadline {
            let code = if done {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            let v = super::runs::run_with_steps(&st, &run, &Default::default()).await?;
            return Ok((code, Json(v)).into_response());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
