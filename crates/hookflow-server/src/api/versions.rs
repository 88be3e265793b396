//! `/api/v1/workflows/{id}/versions`: the saved versions of a workflow's document (SPEC §10),
//! newest first, and one of them with its definition. A deleted workflow's versions that runs
//! still refer to are found by the workflow's id.

use axum::Json;
use axum::extract::{Path, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hookflow_core::workflow::{Format, parse_document};
use hookflow_store::versions::WorkflowVersion;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::workflows::Validation;
use super::{ApiQuery, PageQuery, rfc3339, to_json};
use crate::openapi::{BadRequest, NotFound};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// One saved version of a workflow's document.
#[derive(Serialize, ToSchema)]
#[schema(as = WorkflowVersion)]
pub struct VersionView {
    pub workflow_id: String,
    /// Counting from 1.
    pub version: i64,
    /// The workflow's name in this version.
    pub name: String,
    /// Its validation when it was saved.
    pub validation: Validation,
    /// `yaml` or `json`.
    pub source_format: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The document as JSON (one version's answer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub definition: Option<Value>,
    /// The document as written (one version's answer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

super::page!(
    /// A page of versions (without their documents).
    WorkflowVersionList of VersionView
);

/// A version as the API shows it; `definition` (the document as JSON) and `source` only when
/// `full` (one version's answer, not a list's).
pub fn version_view(v: &WorkflowVersion, full: bool) -> VersionView {
    let format = if v.source_format == "yaml" {
        Format::Yaml
    } else {
        Format::Json
    };
    VersionView {
        workflow_id: v.workflow_id.clone(),
        version: v.version,
        name: v.name.clone(),
        validation: Validation::of(v.valid, &v.errors),
        source_format: v.source_format.clone(),
        created_at: rfc3339(v.created_at),
        definition: full.then(|| parse_document(&v.source, format).unwrap_or(Value::Null)),
        source: full.then(|| v.source.clone()),
    }
}

/// [`version_view`] as JSON (the web UI's pages read it).
pub fn version_json(v: &WorkflowVersion, full: bool) -> Value {
    to_json(&version_view(v, full))
}

/// The id of workflow `id` (an id or a name); the id itself if the workflow was deleted but
/// versions of it are kept; 404 otherwise.
pub(crate) async fn workflow_id(st: &AppState, id: &str) -> ApiResult<String> {
    if let Some(w) = st.store.get_workflow(id).await? {
        return Ok(w.id);
    }
    let (kept, _) = st.store.list_workflow_versions(id, 1, None).await?;
    if kept.is_empty() {
        return Err(Problem::not_found(format!(
            "there is no workflow with id {id}"
        )));
    }
    Ok(id.to_string())
}

/// The version a list cursor stands for (an opaque token to clients).
fn cursor(q: &PageQuery) -> ApiResult<Option<i64>> {
    q.cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|t| t.strip_prefix("v:")?.parse::<i64>().ok())
                .ok_or_else(|| {
                    Problem::bad_request(
                        "cursor is not one this server issued: pass the next_cursor of the \
                         previous page as it was",
                    )
                })
        })
        .transpose()
}

/// List a workflow's versions, newest first
///
/// Every save of a workflow's document makes a new immutable version, counting from 1; a run
/// executes the version it started on (`workflow_version`). Kept: the newest 50 versions and
/// every version a run refers to.
#[utoipa::path(get, path = "/workflows/{id}/versions", tag = "workflows",
    operation_id = "listWorkflowVersions",
    params(("id" = String, Path, description = "The workflow's id or name (a deleted workflow's id while runs refer to its versions)."), PageQuery),
    responses(
        (status = 200, description = "A page of versions (without their documents).",
            body = WorkflowVersionList),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    ))]
pub async fn list(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit()?;
    let before = cursor(&q)?;
    let id = workflow_id(&st, &id).await?;
    let (items, next) = st.store.list_workflow_versions(&id, limit, before).await?;
    Ok(Json(to_json(&WorkflowVersionList {
        items: items.iter().map(|v| version_view(v, false)).collect(),
        next_cursor: next.map(|n| URL_SAFE_NO_PAD.encode(format!("v:{n}"))),
    })))
}

/// One version of a workflow, with its document
#[utoipa::path(get, path = "/workflows/{id}/versions/{n}", tag = "workflows",
    operation_id = "getWorkflowVersion",
    params(("id" = String, Path, description = "The workflow's id or name (a deleted workflow's id while runs refer to its versions)."), ("n" = i64, Path, minimum = 1, description = "The version number.")),
    responses(
        (status = 200, description = "The version.", body = VersionView),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
    ))]
pub async fn show(
    State(st): State<AppState>,
    Path((id, n)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let id = workflow_id(&st, &id).await?;
    let n: i64 =
        n.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
            Problem::bad_request(format!("a version is a number from 1, got {n:?}"))
        })?;
    let v = st
        .store
        .get_workflow_version(&id, n)
        .await?
        .ok_or_else(|| Problem::not_found(format!("workflow {id} has no version {n}")))?;
    Ok(Json(version_json(&v, true)))
}
