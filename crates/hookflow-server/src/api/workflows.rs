//! `/api/v1/workflows`: save (validating), read, replace, enable/disable, validate, delete (the
//! rules are [`crate::manage::workflows`]). Manual runs are [`super::manual_runs`].

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use hookflow_core::workflow::Format;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Answer, ApiQuery, Call, PageQuery, created};
use crate::manage::to_json;
use crate::manage::workflows::{self, Revalidated, Validation, WorkflowView};
use crate::openapi::{BadRequest, NameTaken, NotFound, TooLarge, WorkflowPath};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

super::page!(
    /// A page of workflows.
    WorkflowList of WorkflowView
);

crate::openapi::problem_answers! {
    /// Not JSON or YAML.
    NotJsonOrYaml = 415;
    /// The document cannot be read (not JSON or YAML, or no `name`); `errors` lists why.
    UnreadableDocument = 422;
}

/// A request's document: its text, its format from `Content-Type`.
async fn document(st: &AppState, req: Request) -> ApiResult<(String, Format)> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let format = Format::from_content_type(&ct).ok_or_else(|| {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "a workflow is sent as JSON (application/json) or YAML (application/yaml, \
                 application/x-yaml, text/yaml), not {ct}"
            ),
        )
    })?;
    let bytes = st.read_body(req).await?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| Problem::bad_request("the workflow document is not UTF-8"))?;
    Ok((text, format))
}

/// Save a workflow (validated; stored even when invalid)
///
/// Other workflows are validated again (one may call this one).
#[utoipa::path(post, path = "/workflows", tag = "workflows", operation_id = "createWorkflow",
    request_body(description = "The workflow document (SPEC §3): JSON or YAML, as `Content-Type` \
        says; stored as written.",
        content((Object = "application/json"), (String = "application/yaml"))),
    responses(
        (status = 201, description = "The workflow with its validation.", body = WorkflowView),
        BadRequest, NameTaken, TooLarge, NotJsonOrYaml, UnreadableDocument,
    ))]
pub async fn create(State(st): State<AppState>, req: Request) -> ApiResult<Response> {
    let (text, format) = document(&st, req).await?;
    let w = workflows::save(&st, None, text, format).await?;
    Ok(created(workflows::json(&w)))
}

/// Replace a workflow's document
///
/// Makes a new version; runs already started keep executing theirs.
#[utoipa::path(put, path = "/workflows/{id}", tag = "workflows", operation_id = "replaceWorkflow",
    params(WorkflowPath),
    request_body(description = "The workflow document (SPEC §3): JSON or YAML, as `Content-Type` \
        says; stored as written.",
        content((Object = "application/json"), (String = "application/yaml"))),
    responses((status = 200, description = "The workflow.", body = WorkflowView),
        BadRequest, NotFound, NameTaken, TooLarge, NotJsonOrYaml, UnreadableDocument))]
pub async fn replace(State(st): State<AppState>, Path(id): Path<String>, req: Request) -> Answer {
    let existing = workflows::find(&st, &id).await?;
    let (text, format) = document(&st, req).await?;
    let w = workflows::save(&st, Some(&existing.id), text, format).await?;
    Ok(Json(workflows::json(&w)))
}

/// Show a workflow (id or name)
#[utoipa::path(get, path = "/workflows/{id}", tag = "workflows", operation_id = "getWorkflow",
    params(WorkflowPath),
    responses((status = 200, description = "The workflow.", body = WorkflowView), NotFound))]
pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> Answer {
    Ok(Json(workflows::json(&workflows::find(&st, &id).await?)))
}

/// List workflows, newest first
#[utoipa::path(get, path = "/workflows", tag = "workflows", operation_id = "listWorkflows",
    params(PageQuery),
    responses((status = 200, description = "A page of workflows.", body = WorkflowList),
        BadRequest))]
pub async fn list(State(st): State<AppState>, ApiQuery(q): ApiQuery<PageQuery>) -> Answer {
    Ok(WorkflowList::answer(
        workflows::list(&st, &q.page()?).await?.map(workflows::view),
    ))
}

/// Whether a workflow runs.
#[derive(Deserialize, ToSchema)]
#[schema(as = WorkflowPatch)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// A disabled workflow starts no runs; runs already started go on.
    enabled: bool,
}

/// Enable or disable a workflow
#[utoipa::path(patch, path = "/workflows/{id}", tag = "workflows",
    operation_id = "setWorkflowEnabled",
    params(WorkflowPath),
    request_body = Patch,
    responses((status = 200, description = "The workflow.", body = WorkflowView),
        BadRequest, NotFound))]
pub async fn patch(Call { st, id, body }: Call<Patch>) -> Answer {
    let w = workflows::set_enabled(&st, &id, body.enabled).await?;
    Ok(Json(workflows::json(&w)))
}

super::delete_operation!(
    /// Delete a workflow
    ///
    /// Its versions that runs refer to are kept; other workflows are validated again.
    "/workflows/{id}", "workflows", "deleteWorkflow", WorkflowPath, workflows::delete
);

/// Validate a stored workflow again
///
/// Events, secrets or other workflows it names may have changed since it was saved.
#[utoipa::path(post, path = "/workflows/{id}/validate", tag = "workflows",
    operation_id = "validateWorkflow",
    params(WorkflowPath),
    responses((status = 200, description = "Its validation.", body = Revalidated), NotFound))]
pub async fn revalidate(State(st): State<AppState>, Path(id): Path<String>) -> Answer {
    let w = workflows::revalidate(&st, &id).await?;
    Ok(Json(to_json(&Revalidated {
        validation: Validation::of(w.document.valid, &w.document.errors),
        id: w.id,
    })))
}

/// This module's operations, each with its route.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, replace, patch, delete))
        .routes(routes!(revalidate))
}
