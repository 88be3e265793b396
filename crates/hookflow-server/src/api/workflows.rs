//! `/api/v1/workflows`: save (validating), read, replace, enable/disable, validate, delete.
//! Manual runs are [`super::manual_runs`].

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hookflow_core::workflow::{
    Catalog, Format, ValidationError, Workflow, from_value, parse_document, validate,
};
use hookflow_store::workflows::{SaveWorkflow, WorkflowRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{ApiQuery, JsonBody, PageQuery, encode_cursor, read_body, rfc3339, to_json};
use crate::openapi::{BadRequest, NameTaken, NotFound, TooLarge};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// A workflow as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Workflow)]
pub struct WorkflowView {
    pub id: String,
    pub name: String,
    /// The document's `description`.
    #[schema(value_type = Option<String>, required = true)]
    pub description: Value,
    pub enabled: bool,
    /// The number of its latest version (each save of the document makes one; see
    /// `GET /api/v1/workflows/{id}/versions`).
    pub version: i64,
    pub validation: Validation,
    /// The triggers of a readable document: `{event, disabled}`.
    #[schema(value_type = Vec<Object>)]
    pub triggers: Value,
    /// The document as JSON.
    #[schema(value_type = Object)]
    pub definition: Value,
    /// The document as written.
    pub source: String,
    /// `yaml` or `json`.
    pub source_format: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// Whether a workflow document is valid; a workflow is stored even when it is not, and only a
/// valid one runs.
#[derive(Serialize, ToSchema)]
pub struct Validation {
    pub status: ValidationStatus,
    /// Every problem found; empty when valid.
    #[schema(value_type = Vec<ValidationError>)]
    pub errors: Value,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValidationStatus {
    Valid,
    Invalid,
}

impl Validation {
    /// A validation as stored: whether it passed and its errors (a JSON array).
    pub(crate) fn of(valid: bool, errors: &str) -> Validation {
        Validation {
            status: if valid {
                ValidationStatus::Valid
            } else {
                ValidationStatus::Invalid
            },
            errors: serde_json::from_str(errors).unwrap_or(json!([])),
        }
    }
}

super::page!(
    /// A page of workflows.
    WorkflowList of WorkflowView
);

crate::openapi::problem_answers! {
    /// Not JSON or YAML.
    NotJsonOrYaml;
    /// The document cannot be read (not JSON or YAML, or no `name`); `errors` lists why.
    UnreadableDocument;
}

/// A stored workflow validated again.
#[derive(Serialize, ToSchema)]
pub struct Revalidated {
    pub id: String,
    pub validation: Validation,
}

/// What exists, read from the store once per validation.
struct StoreCatalog {
    events: HashSet<String>,
    workflows: HashSet<String>,
    secrets: HashSet<String>,
    /// What each stored workflow calls (valid or not: a cycle keeps all of its workflows
    /// invalid).
    calls: HashMap<String, Vec<String>>,
}

impl Catalog for StoreCatalog {
    fn event_exists(&self, name_or_id: &str) -> bool {
        self.events.contains(name_or_id)
    }
    fn workflow_exists(&self, name: &str) -> bool {
        self.workflows.contains(name)
    }
    fn secret_exists(&self, name: &str) -> bool {
        self.secrets.contains(name)
    }
    fn workflow_calls(&self, name: &str) -> Vec<String> {
        self.calls.get(name).cloned().unwrap_or_default()
    }
}

async fn catalog(st: &AppState, also: Option<&str>) -> ApiResult<StoreCatalog> {
    let mut events = HashSet::new();
    for (id, name) in st.store.event_refs().await? {
        events.insert(id);
        events.insert(name);
    }
    let stored = st.store.all_workflows().await?;
    let calls = stored
        .iter()
        .filter_map(|w| {
            let wf: Workflow = serde_json::from_str(w.definition.as_deref()?).ok()?;
            Some((w.name.clone(), wf.called_workflows()))
        })
        .collect();
    let mut workflows: HashSet<String> = stored.into_iter().map(|w| w.name).collect();
    if let Some(n) = also {
        workflows.insert(n.to_string());
    }
    let secrets = st
        .store
        .list_secrets()
        .await?
        .into_iter()
        .map(|(n, _, _)| n)
        .collect();
    Ok(StoreCatalog {
        events,
        workflows,
        secrets,
        calls,
    })
}

/// A document checked: what to store.
fn assess(
    st: &AppState,
    doc: &Value,
    cat: &StoreCatalog,
) -> (Option<String>, Vec<ValidationError>, Vec<(String, bool)>) {
    match from_value(doc) {
        Ok(wf) => {
            let errors = validate(&wf, cat, &st.engine.sandbox);
            let triggers = wf
                .triggers
                .iter()
                .map(|t| (t.event.clone(), t.disabled))
                .collect();
            (serde_json::to_string(&wf).ok(), errors, triggers)
        }
        Err(errors) => (None, errors, Vec::new()),
    }
}

/// Parses a request's document: its format from `Content-Type`, its name.
async fn document(st: &AppState, req: Request) -> ApiResult<(String, Format, Value, String)> {
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
    let bytes = read_body(req, st).await?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| Problem::bad_request("the workflow document is not UTF-8"))?;
    let (doc, name) = read_document(&text, format).map_err(invalid_document)?;
    Ok((text, format, doc, name))
}

/// A document's parsed value and its name, or the errors that keep it from being stored.
pub(crate) fn read_document(
    text: &str,
    format: Format,
) -> Result<(Value, String), Vec<ValidationError>> {
    let doc = parse_document(text, format).map_err(|e| vec![e])?;
    let name = doc
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            vec![ValidationError {
                path: "name".into(),
                message: "a workflow needs a name (a non-empty string)".into(),
            }]
        })?
        .to_string();
    Ok((doc, name))
}

/// Every error of a document, as saving it would record them, without saving it.
pub(crate) async fn check_document(
    st: &AppState,
    text: &str,
    format: Format,
) -> ApiResult<Vec<ValidationError>> {
    let (doc, name) = match read_document(text, format) {
        Ok(d) => d,
        Err(errors) => return Ok(errors),
    };
    let cat = catalog(st, Some(&name)).await?;
    let (definition, mut errors, _) = assess(st, &doc, &cat);
    if definition.is_none() && errors.is_empty() {
        errors.push(ValidationError {
            path: String::new(),
            message: "the document does not describe a workflow".into(),
        });
    }
    Ok(errors)
}

/// 422 for a document that cannot even be stored, with its errors.
fn invalid_document(errors: Vec<ValidationError>) -> Problem {
    let detail = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    Problem {
        errors: Some(json!(errors)),
        ..Problem::unprocessable(format!("the workflow document cannot be read: {detail}"))
    }
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Yaml => "yaml",
        Format::Json => "json",
    }
}

pub fn workflow_view(w: &WorkflowRecord) -> WorkflowView {
    let format = if w.source_format == "yaml" {
        Format::Yaml
    } else {
        Format::Json
    };
    let definition = parse_document(&w.source, format).unwrap_or(Value::Null);
    let triggers: Value = w
        .definition
        .as_deref()
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .map(|d| d["triggers"].clone())
        .unwrap_or(json!([]));
    WorkflowView {
        id: w.id.clone(),
        name: w.name.clone(),
        description: definition
            .get("description")
            .cloned()
            .unwrap_or(Value::Null),
        enabled: w.enabled,
        version: w.version,
        validation: Validation::of(w.valid, &w.errors),
        triggers,
        definition,
        source: w.source.clone(),
        source_format: w.source_format.clone(),
        created_at: rfc3339(w.created_at),
        updated_at: rfc3339(w.updated_at),
    }
}

/// [`workflow_view`] as JSON (the web UI's pages read it).
pub fn workflow_json(w: &WorkflowRecord) -> Value {
    to_json(&workflow_view(w))
}

async fn save(st: &AppState, id: Option<&str>, req: Request) -> ApiResult<WorkflowRecord> {
    let (text, format, doc, name) = document(st, req).await?;
    save_parsed(st, id, text, format, doc, name).await
}

/// Saves a document (new, or replacing workflow `id`) with its validation, then re-validates
/// the others — the API's and the UI's way. Answers the stored workflow.
pub(crate) async fn save_document(
    st: &AppState,
    id: Option<&str>,
    text: String,
    format: Format,
) -> ApiResult<WorkflowRecord> {
    let (doc, name) = read_document(&text, format).map_err(invalid_document)?;
    let w = save_parsed(st, id, text, format, doc, name).await?;
    revalidate_all(st).await;
    find(st, &w.id).await
}

async fn save_parsed(
    st: &AppState,
    id: Option<&str>,
    text: String,
    format: Format,
    doc: Value,
    name: String,
) -> ApiResult<WorkflowRecord> {
    let cat = catalog(st, Some(&name)).await?;
    let (definition, errors, triggers) = assess(st, &doc, &cat);
    let save = SaveWorkflow {
        name,
        source: text,
        source_format: format_name(format).into(),
        valid: errors.is_empty() && definition.is_some(),
        errors: serde_json::to_string(&errors).unwrap_or_else(|_| "[]".into()),
        definition,
        triggers,
    };
    let w = match id {
        None => st.store.create_workflow(save).await?,
        Some(id) => st.store.replace_workflow(id, save).await?,
    };
    Ok(w)
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
        (status = 400, response = BadRequest), (status = 409, response = NameTaken),
        (status = 413, response = TooLarge), (status = 415, response = NotJsonOrYaml),
        (status = 422, response = UnreadableDocument),
    ))]
pub async fn create(State(st): State<AppState>, req: Request) -> ApiResult<Response> {
    let w = save(&st, None, req).await?;
    tracing::info!(workflow = %w.id, name = %w.name, valid = w.valid, "workflow created");
    revalidate_all(&st).await;
    let w = find(&st, &w.id).await?;
    Ok((StatusCode::CREATED, Json(workflow_json(&w))).into_response())
}

/// Replace a workflow's document
///
/// Makes a new version; runs already started keep executing theirs.
#[utoipa::path(put, path = "/workflows/{id}", tag = "workflows", operation_id = "replaceWorkflow",
    params(("id" = String, Path, description = "The workflow's id or name.")),
    request_body(description = "The workflow document (SPEC §3): JSON or YAML, as `Content-Type` \
        says; stored as written.",
        content((Object = "application/json"), (String = "application/yaml"))),
    responses(
        (status = 200, description = "The workflow.", body = WorkflowView),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 409, response = NameTaken), (status = 413, response = TooLarge),
        (status = 415, response = NotJsonOrYaml), (status = 422, response = UnreadableDocument),
    ))]
pub async fn replace(
    State(st): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Json<Value>> {
    let existing = find(&st, &id).await?;
    let w = save(&st, Some(&existing.id), req).await?;
    revalidate_all(&st).await;
    Ok(Json(workflow_json(&find(&st, &w.id).await?)))
}

pub(crate) async fn find(st: &AppState, id: &str) -> ApiResult<WorkflowRecord> {
    st.store
        .get_workflow(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("there is no workflow with id {id}")))
}

/// Show a workflow (id or name)
#[utoipa::path(get, path = "/workflows/{id}", tag = "workflows", operation_id = "getWorkflow",
    params(("id" = String, Path, description = "The workflow's id or name.")),
    responses(
        (status = 200, description = "The workflow.", body = WorkflowView),
        (status = 404, response = NotFound),
    ))]
pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(workflow_json(&find(&st, &id).await?)))
}

/// List workflows, newest first
#[utoipa::path(get, path = "/workflows", tag = "workflows", operation_id = "listWorkflows",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of workflows.", body = WorkflowList),
        (status = 400, response = BadRequest),
    ))]
pub async fn list(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    let (items, next) = st
        .store
        .list_workflows(q.limit()?, q.cursor()?.as_deref())
        .await?;
    Ok(Json(to_json(&WorkflowList {
        items: items.iter().map(workflow_view).collect(),
        next_cursor: encode_cursor(next),
    })))
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
    params(("id" = String, Path, description = "The workflow's id or name.")),
    request_body = Patch,
    responses(
        (status = 200, description = "The workflow.", body = WorkflowView),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
    ))]
pub async fn patch(
    State(st): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Patch>,
) -> ApiResult<Json<Value>> {
    let w = find(&st, &id).await?;
    let w = st.store.set_workflow_enabled(&w.id, body.enabled).await?;
    Ok(Json(workflow_json(&w)))
}

/// Deletes a workflow (by id or name); 404 if there is none.
pub(crate) async fn delete_workflow(st: &AppState, id: &str) -> ApiResult<()> {
    let w = find(st, id).await?;
    st.store.delete_workflow(&w.id).await?;
    revalidate_all(st).await;
    Ok(())
}

/// Delete a workflow
///
/// Its versions that runs refer to are kept; other workflows are validated again.
#[utoipa::path(delete, path = "/workflows/{id}", tag = "workflows", operation_id = "deleteWorkflow",
    params(("id" = String, Path, description = "The workflow's id or name.")),
    responses((status = 204, description = "Deleted."), (status = 404, response = NotFound)))]
pub async fn delete(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    delete_workflow(&st, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Validate a stored workflow again
///
/// Events, secrets or other workflows it names may have changed since it was saved.
#[utoipa::path(post, path = "/workflows/{id}/validate", tag = "workflows",
    operation_id = "validateWorkflow",
    params(("id" = String, Path, description = "The workflow's id or name.")),
    responses(
        (status = 200, description = "Its validation.", body = Revalidated),
        (status = 404, response = NotFound),
    ))]
pub async fn revalidate(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let w = find(&st, &id).await?;
    let cat = catalog(&st, None).await?;
    revalidate_one(&st, &w, &cat).await?;
    let w = find(&st, &w.id).await?;
    Ok(Json(to_json(&Revalidated {
        validation: Validation::of(w.valid, &w.errors),
        id: w.id,
    })))
}

async fn revalidate_one(st: &AppState, w: &WorkflowRecord, cat: &StoreCatalog) -> ApiResult<()> {
    let format = if w.source_format == "yaml" {
        Format::Yaml
    } else {
        Format::Json
    };
    let Ok(doc) = parse_document(&w.source, format) else {
        return Ok(());
    };
    let (definition, errors, _) = assess(st, &doc, cat);
    let valid = errors.is_empty() && definition.is_some();
    let text = serde_json::to_string(&errors).unwrap_or_else(|_| "[]".into());
    if valid != w.valid || text != w.errors {
        st.store
            .set_workflow_validation(&w.id, valid, &text)
            .await?;
    }
    Ok(())
}

/// Re-validates every workflow after something they may refer to changed (an event, a secret,
/// another workflow). Failures are logged: the change itself has been made.
pub async fn revalidate_all(st: &AppState) {
    let result = async {
        let cat = catalog(st, None).await?;
        for w in st.store.all_workflows().await? {
            revalidate_one(st, &w, &cat).await?;
        }
        Ok::<(), Problem>(())
    }
    .await;
    if let Err(p) = result {
        tracing::warn!(detail = %p.detail, "re-validating workflows failed");
    }
}
