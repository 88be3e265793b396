//! `/api/v1/runs`: list, show (with steps, a page at a time: `?steps_limit=&steps_cursor=`, the
//! answer saying `steps_total` and `steps_next_cursor`), cancel ([`crate::manage::runs`]).

use axum::Json;
use axum::extract::{Path, State};
use hookflow_store::runs::RunFilter;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Answer, ApiQuery, PageQuery};
use crate::manage::runs::{self, RunView, StepsQuery};
use crate::manage::to_json;
use crate::openapi::{BadRequest, NotFound, RunPath};
use crate::retention::RetentionView;
use crate::state::AppState;

/// A page of runs.
#[derive(Serialize, ToSchema)]
pub struct RunList {
    /// As [`runs_json`] shows them (secrets masked).
    #[schema(value_type = Vec<RunView>)]
    pub items: Vec<Value>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
    pub retention: RetentionView,
}

/// Which runs to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only the runs of this workflow (its id).
    workflow_id: Option<String>,
    /// Only runs with this status: `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    status: Option<String>,
    /// Only the runs this delivery started.
    delivery_id: Option<String>,
    /// Only the runs replays of this delivery started.
    replay_of: Option<String>,
}

/// List runs, newest first
#[utoipa::path(get, path = "/runs", tag = "runs", operation_id = "listRuns",
    params(PageQuery, RunsQuery),
    responses((status = 200, description = "A page of runs.", body = RunList), BadRequest))]
pub async fn list(
    State(st): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> Answer {
    let filter = RunFilter {
        workflow_id: q.workflow_id,
        status: runs::parse_status(q.status.as_deref())?,
        delivery_id: q.delivery_id,
        replay_of: q.replay_of,
    };
    let page = runs::list(&st, &filter, &page.page()?).await?;
    Ok(Json(to_json(&RunList {
        next_cursor: page.next_cursor(),
        items: page.items,
        retention: st.retention.view(),
    })))
}

/// Show a run with its steps
///
/// Shows the run with one page of its steps in start order (the first 1000 unless
/// `steps_limit` says otherwise); `steps_total` counts them all and `steps_next_cursor`, passed
/// as `steps_cursor`, gives the next page.
#[utoipa::path(get, path = "/runs/{id}", tag = "runs", operation_id = "getRun",
    params(RunPath, StepsQuery),
    responses((status = 200, description = "The run.", body = RunView), BadRequest, NotFound))]
pub async fn show(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<StepsQuery>,
) -> Answer {
    let run = runs::find(&st, &id).await?;
    Ok(Json(runs::run_with_steps(&st, &run, &q).await?))
}

/// Cancel a run
///
/// Cancels the run and the sub-workflow runs it started (recursively): a queued or waiting run
/// ends at once, a running one stops at its next step.
#[utoipa::path(post, path = "/runs/{id}/cancel", tag = "runs", operation_id = "cancelRun",
    params(RunPath),
    responses((status = 200, description = "The run.", body = RunView), NotFound))]
pub async fn cancel(State(st): State<AppState>, Path(id): Path<String>) -> Answer {
    Ok(Json(runs::cancel(&st, &id).await?))
}

/// This module's operations, each with its route.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(cancel))
}
