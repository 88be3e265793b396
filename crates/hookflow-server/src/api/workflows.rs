//! `/api/v1/workflows`: save (validating), read, replace, enable/disable, validate, delete, and
//! start manual runs.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hookflow_core::workflow::{
    Catalog, Format, ValidationError, Workflow, from_value, parse_document, validate,
};
use hookflow_store::runs::NewRun;
use hookflow_store::workflows::{SaveWorkflow, WorkflowRecord};
use hookflow_store::{new_id, now_ms};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiQuery, JsonBody, PageQuery, list_answer, read_body, rfc3339};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

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

pub fn workflow_json(w: &WorkflowRecord) -> Value {
    let errors: Value = serde_json::from_str(&w.errors).unwrap_or(json!([]));
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
    json!({
        "id": w.id,
        "name": w.name,
        "description": definition.get("description").cloned().unwrap_or(Value::Null),
        "enabled": w.enabled,
        "version": w.version,
        "validation": {
            "status": if w.valid { "valid" } else { "invalid" },
            "errors": errors,
        },
        "triggers": triggers,
        "definition": definition,
        "source": w.source,
        "source_format": w.source_format,
        "created_at": rfc3339(w.created_at),
        "updated_at": rfc3339(w.updated_at),
    })
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

pub async fn create(State(st): State<AppState>, req: Request) -> ApiResult<Response> {
    let w = save(&st, None, req).await?;
    tracing::info!(workflow = %w.id, name = %w.name, valid = w.valid, "workflow created");
    revalidate_all(&st).await;
    let w = find(&st, &w.id).await?;
    Ok((StatusCode::CREATED, Json(workflow_json(&w))).into_response())
}

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

pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(workflow_json(&find(&st, &id).await?)))
}

pub async fn list(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    let (items, next) = st
        .store
        .list_workflows(q.limit()?, q.cursor()?.as_deref())
        .await?;
    Ok(Json(list_answer(
        items.iter().map(workflow_json).collect(),
        next,
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    enabled: bool,
}

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

pub async fn delete(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    delete_workflow(&st, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Validates a stored workflow again (events, secrets or other workflows may have changed).
pub async fn revalidate(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let w = find(&st, &id).await?;
    let cat = catalog(&st, None).await?;
    revalidate_one(&st, &w, &cat).await?;
    let w = find(&st, &w.id).await?;
    Ok(Json(json!({
        "id": w.id,
        "validation": workflow_json(&w)["validation"].clone(),
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    #[serde(default)]
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

#[derive(Deserialize)]
pub struct WaitQuery {
    wait: Option<f64>,
}

/// `POST /workflows/{id}/runs`: a manual run; with `?wait=SECONDS` the answer is the finished
/// run if it ends in time (200), else the queued/running run (202).
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
