//! `/api/v1/workflows/{id}/versions`: the saved versions of a workflow's document (SPEC §10),
//! newest first, and one of them with its definition ([`crate::manage::versions`]).

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Answer, ApiQuery, PageQuery};
use crate::manage::page::{self, NOT_ISSUED, version_after, version_cursor};
use crate::manage::to_json;
use crate::manage::versions::{self, VersionView};
use crate::openapi::{BadRequest, NotFound, VersionsPath};
use crate::problem::Problem;
use crate::state::AppState;

super::page!(
    /// A page of versions (without their documents).
    WorkflowVersionList of VersionView
);

/// List a workflow's versions, newest first
///
/// Every save of a workflow's document makes a new immutable version, counting from 1; a run
/// executes the version it started on (`workflow_version`). Kept: the newest 50 versions and
/// every version a run refers to.
#[utoipa::path(get, path = "/workflows/{id}/versions", tag = "workflows",
    operation_id = "listWorkflowVersions",
    params(VersionsPath, PageQuery),
    responses(
        (status = 200, description = "A page of versions (without their documents).",
            body = WorkflowVersionList),
        BadRequest, NotFound,
    ))]
pub async fn list(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Answer {
    let limit = page::limit(q.limit)?;
    let before = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| version_after(c).ok_or_else(|| Problem::bad_request(NOT_ISSUED)))
        .transpose()?;
    let id = versions::workflow_id(&st, &id).await?;
    let (items, next) = versions::list(&st, &id, limit, before).await?;
    Ok(Json(to_json(&WorkflowVersionList {
        items: items.iter().map(|v| versions::view(v, false)).collect(),
        next_cursor: next.map(version_cursor),
    })))
}

/// One version of a workflow, with its document
#[utoipa::path(get, path = "/workflows/{id}/versions/{n}", tag = "workflows",
    operation_id = "getWorkflowVersion",
    params(VersionsPath, ("n" = i64, Path, minimum = 1, description = "The version number.")),
    responses((status = 200, description = "The version.", body = VersionView),
        BadRequest, NotFound))]
pub async fn show(State(st): State<AppState>, Path((id, n)): Path<(String, String)>) -> Answer {
    Ok(Json(versions::json(
        &versions::get(&st, &id, &n).await?,
        true,
    )))
}

/// This module's operations, each with its route.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
}
