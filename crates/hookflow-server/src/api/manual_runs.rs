//! `POST /api/v1/workflows/{id}/runs`: manual runs ([`crate::manage::manual_runs`]) — their
//! inputs checked against the workflow's declarations, queued, and optionally waited for.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, Call};
use crate::manage::runs::RunView;
use crate::manage::{manual_runs, workflows};
use crate::openapi::{BadRequest, Invalid, NotFound, ProblemDocument, WorkflowPath};
use crate::problem::ApiResult;
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
/// or running run (202). Without it (or with 0) the answer is 202 with the run as it stands.
#[utoipa::path(post, path = "/workflows/{id}/runs", tag = "workflows", operation_id = "startRun",
    params(WorkflowPath, WaitQuery),
    request_body(content = Option<StartRun>),
    responses(
        (status = 200, description = "The finished run (with `?wait=`).", body = RunView),
        (status = 202, description = "The run, not finished yet.", body = RunView),
        BadRequest, NotFound,
        (status = 409, description = "Invalid or disabled workflow.", body = ProblemDocument,
            content_type = "application/problem+json"),
        Invalid,
    ))]
pub async fn start_run(
    ApiQuery(q): ApiQuery<WaitQuery>,
    Call { st, id, body }: Call<StartRun>,
) -> ApiResult<Response> {
    let w = workflows::find(&st, &id).await?;
    let run_id = manual_runs::start(&st, &w, body.inputs).await?;
    let wait = q.wait.unwrap_or(0.0);
    let (done, run) = manual_runs::wait_for(&st, &run_id, wait).await?;
    // Without a wait the answer is always 202, even for a run that happened to end before it
    // was read back.
    let code = if done && wait > 0.0 {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((code, Json(run)).into_response())
}

/// This module's operations, each with its route.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(start_run))
}
