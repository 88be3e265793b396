//! A workflow's versions (SPEC §10): every save of its document is a new immutable version,
//! counting from 1; a deleted workflow's versions that runs still refer to are found by the
//! workflow's id.

use hookflow_core::workflow::parse_document;
use hookflow_store::versions::WorkflowVersion;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::catalog::stored_format;
use super::workflows::Validation;
use super::{ManageError, ManageResult, rfc3339, to_json};
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

/// A version as the API shows it; `definition` (the document as JSON) and `source` only when
/// `full` (one version's answer, not a list's).
pub fn view(v: &WorkflowVersion, full: bool) -> VersionView {
    VersionView {
        workflow_id: v.workflow_id.clone(),
        version: v.version,
        name: v.document.name.clone(),
        validation: Validation::of(v.document.valid, &v.document.errors),
        source_format: v.document.source_format.clone(),
        created_at: rfc3339(v.created_at),
        definition: full.then(|| {
            parse_document(&v.document.source, stored_format(&v.document.source_format))
                .unwrap_or(Value::Null)
        }),
        source: full.then(|| v.document.source.clone()),
    }
}

/// [`view`] as JSON (the web UI's pages read it).
pub fn json(v: &WorkflowVersion, full: bool) -> Value {
    to_json(&view(v, full))
}

/// The id of workflow `id` (an id or a name); the id itself if the workflow was deleted but
/// versions of it are kept; 404 otherwise.
pub async fn workflow_id(st: &AppState, id: &str) -> ManageResult<String> {
    if let Some(w) = st.store.get_workflow(id).await? {
        return Ok(w.id);
    }
    let (kept, _) = st.store.list_workflow_versions(id, 1, None).await?;
    if kept.is_empty() {
        return Err(ManageError::no("workflow", id));
    }
    Ok(id.to_string())
}

/// A page of the versions of workflow `id` (as [`workflow_id`] answers it), newest first,
/// before version `before`; and the version to continue before when more follow.
pub async fn list(
    st: &AppState,
    id: &str,
    limit: i64,
    before: Option<i64>,
) -> ManageResult<(Vec<WorkflowVersion>, Option<i64>)> {
    Ok(st.store.list_workflow_versions(id, limit, before).await?)
}

/// Version `n` (as written in the address) of workflow `id` (an id or a name, or a deleted
/// workflow's id); 400 if `n` is not a number from 1, 404 if there is no such version.
pub async fn get(st: &AppState, id: &str, n: &str) -> ManageResult<WorkflowVersion> {
    let id = workflow_id(st, id).await?;
    let n: i64 = n.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
        ManageError::Malformed(format!("a version is a number from 1, got {n:?}"))
    })?;
    st.store
        .get_workflow_version(&id, n)
        .await?
        .ok_or_else(|| ManageError::NotFound(format!("workflow {id} has no version {n}")))
}
