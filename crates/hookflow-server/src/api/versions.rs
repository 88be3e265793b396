//! `/api/v1/workflows/{id}/versions`: the saved versions of a workflow's document (SPEC §10),
//! newest first, and one of them with its definition. A deleted workflow's versions that runs
//! still refer to are found by the workflow's id.

use axum::Json;
use axum::extract::{Path, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hookflow_core::workflow::{Format, parse_document};
use hookflow_store::versions::WorkflowVersion;
use serde_json::{Value, json};

use super::{ApiQuery, PageQuery, rfc3339};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// A version as the API shows it; `definition` (the document as JSON) and `source` only when
/// `full` (one version's answer, not a list's).
pub fn version_json(v: &WorkflowVersion, full: bool) -> Value {
    let mut j = json!({
        "workflow_id": v.workflow_id,
        "version": v.version,
        "name": v.name,
        "validation": {
            "status": if v.valid { "valid" } else { "invalid" },
            "errors": serde_json::from_str::<Value>(&v.errors).unwrap_or(json!([])),
        },
        "source_format": v.source_format,
        "created_at": rfc3339(v.created_at),
    });
    if full {
        let format = if v.source_format == "yaml" {
            Format::Yaml
        } else {
            Format::Json
        };
        j["definition"] = parse_document(&v.source, format).unwrap_or(Value::Null);
        j["source"] = json!(v.source);
    }
    j
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

/// `GET /api/v1/workflows/{id}/versions[?limit=&cursor=]`.
pub async fn list(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit()?;
    let before = cursor(&q)?;
    let id = workflow_id(&st, &id).await?;
    let (items, next) = st.store.list_workflow_versions(&id, limit, before).await?;
    Ok(Json(json!({
        "items": items.iter().map(|v| version_json(v, false)).collect::<Vec<_>>(),
        "next_cursor": next.map(|n| URL_SAFE_NO_PAD.encode(format!("v:{n}"))),
    })))
}

/// `GET /api/v1/workflows/{id}/versions/{n}`.
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
