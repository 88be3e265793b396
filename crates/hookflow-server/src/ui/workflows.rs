//! Workflows: the list with validation badges, the definition editor (Validate shows each
//! error at its line; Save stores as the API does), enable/disable, triggers, run history and
//! manual runs.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use hookflow_core::workflow::{Format, ValidationError};
use hookflow_store::runs::RunFilter;
use hookflow_store::workflows::WorkflowRecord;
use serde_json::{Value as Json, json};

use super::locate::{line_in_message, line_of_path};
use super::session::{Form, Session, Visit};
use super::{UiError, UiResult, form, next_page, page, page_of, see_other};
use crate::manage::{ManageError, manual_runs, runs, workflows};
use crate::problem::Problem;
use crate::state::AppState;

/// What a new workflow's editor starts with.
const STARTER: &str = "name: my-workflow
description: What this workflow does
triggers: []
steps:
  - id: done
    type: complete
    outputs: {}
";

pub async fn index(Visit { st, session, q }: Visit) -> UiResult {
    let listed = workflows::list(&st, &page_of(&q)?).await?;
    let rows: Vec<Json> = listed
        .items
        .iter()
        .map(|w| {
            let doc = &w.document;
            json!({"id": w.id, "name": doc.name, "valid": doc.valid, "enabled": w.enabled})
        })
        .collect();
    Ok(page(
        StatusCode::OK,
        "workflows.html",
        Some(&session),
        json!({
            "title": "Workflows", "section": "workflows", "workflows": rows,
            "next_page": next_page("/ui/workflows", listed.next),
        }),
    ))
}

/// The format of an edited definition: JSON if it looks like a JSON object, else YAML.
fn format_of(text: &str) -> Format {
    if text.trim_start().starts_with('{') {
        Format::Json
    } else {
        Format::Yaml
    }
}

/// Errors with the line each is at (where it can be found).
fn located(text: &str, errors: &[ValidationError]) -> Vec<Json> {
    errors
        .iter()
        .map(|e| {
            let line = line_in_message(&e.message).or_else(|| line_of_path(text, &e.path));
            json!({"path": e.path, "message": e.message, "line": line})
        })
        .collect()
}

/// The text's lines, each with the errors at it, for the annotated view.
fn annotated(text: &str, errors: &[Json]) -> Vec<Json> {
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let here: Vec<String> = errors
                .iter()
                .filter(|e| e["line"].as_u64() == Some(i as u64 + 1))
                .map(|e| match e["path"].as_str() {
                    Some(p) if !p.is_empty() => {
                        format!("{p}: {}", e["message"].as_str().unwrap_or(""))
                    }
                    _ => e["message"].as_str().unwrap_or("").to_string(),
                })
                .collect();
            json!({"no": i + 1, "text": line, "errors": here})
        })
        .collect()
}

/// What the editor page shows besides the stored workflow.
#[derive(Default)]
struct Editor<'a> {
    /// The text in the editor (the stored source when `None`).
    text: Option<&'a str>,
    /// Errors to show; `checked` when they come from pressing Validate.
    errors: Option<Vec<ValidationError>>,
    checked: bool,
    error: Option<String>,
    /// The workflow that already has the name a document was saved with (`id`, `name`).
    existing: Option<(String, String)>,
    run_error: Option<String>,
    inputs: Option<&'a str>,
}

/// The editor page: new (`w` None) or a stored workflow with its triggers and runs.
async fn editor(
    st: &AppState,
    session: &Session,
    status: StatusCode,
    w: Option<&WorkflowRecord>,
    q: &super::Fields,
    ed: Editor<'_>,
) -> UiResult {
    let text = ed
        .text
        .or(w.map(|w| w.document.source.as_str()))
        .unwrap_or(STARTER);
    let errors = match (ed.errors, w) {
        (Some(e), _) => e,
        (None, Some(w)) => serde_json::from_str(&w.document.errors).unwrap_or_default(),
        (None, None) => Vec::new(),
    };
    let errors = located(text, &errors);
    let mut ctx = json!({
        "section": "workflows",
        "definition": text,
        "errors": errors,
        "lines": if errors.is_empty() { Vec::new() } else { annotated(text, &errors) },
        "checked": ed.checked,
        "error": ed.error,
        "existing": ed.existing.map(|(id, name)| json!({"id": id, "name": name})),
        "run_error": ed.run_error,
        "inputs": ed.inputs.unwrap_or("{}"),
    });
    match w {
        None => {
            ctx["title"] = json!("New Workflow");
            ctx["action"] = json!("/ui/workflows/new");
        }
        Some(w) => {
            let filter = RunFilter {
                workflow_id: Some(w.id.clone()),
                ..Default::default()
            };
            let listed = runs::list(st, &filter, &page_of(q)?).await?;
            let shown = workflows::json(w);
            ctx["title"] = json!(w.document.name);
            ctx["action"] = json!(format!("/ui/workflows/{}", w.id));
            let (versions, more_versions) =
                super::versions::newest(st, &w.id, super::versions::ON_WORKFLOW_PAGE).await?;
            ctx["workflow"] = json!({
                "id": w.id, "name": w.document.name, "valid": w.document.valid,
                "enabled": w.enabled,
                "description": shown["description"], "triggers": shown["triggers"],
                "version": w.version, "more_versions": more_versions,
                "versions_table": super::versions::versions_table(&versions, Some(w.version)),
            });
            ctx["runs"] = json!(listed.items);
            ctx["charts"] = super::pictures::workflow_charts(st, &w.id).await?;
            ctx["diagram"] = json!(super::pictures::workflow_diagram(
                w.document.definition.as_deref()
            ));
            ctx["next_page"] = json!(next_page(&format!("/ui/workflows/{}", w.id), listed.next));
        }
    }
    Ok(page(status, "workflow.html", Some(session), ctx))
}

pub async fn new_form(Visit { st, session, .. }: Visit) -> UiResult {
    editor(
        &st,
        &session,
        StatusCode::OK,
        None,
        &Default::default(),
        Editor::default(),
    )
    .await
}

pub async fn show(Visit { st, session, q }: Visit, Path(id): Path<String>) -> UiResult {
    let w = workflows::find(&st, &id).await?;
    editor(
        &st,
        &session,
        StatusCode::OK,
        Some(&w),
        &q,
        Editor::default(),
    )
    .await
}

/// Validate or Save of the editor, for a new workflow (`w` None) or a stored one.
async fn submit_editor(st: &AppState, form: &Form, w: Option<&WorkflowRecord>) -> UiResult {
    let text = form
        .fields
        .get("definition")
        .unwrap_or("")
        .replace("\r\n", "\n");
    let format = format_of(&text);
    let none = super::Fields::default();
    if form.fields.get("action") == Some("validate") {
        let errors = workflows::check(st, &text, format).await?;
        let ed = Editor {
            text: Some(&text),
            errors: Some(errors),
            checked: true,
            ..Default::default()
        };
        return editor(st, &form.session, StatusCode::OK, w, &none, ed).await;
    }
    match workflows::save(st, w.map(|w| w.id.as_str()), text.clone(), format).await {
        Ok(saved) => Ok(see_other(&format!("/ui/workflows/{}", saved.id))),
        Err(e) => {
            let errors = match &e {
                ManageError::Invalid {
                    errors: Some(errors),
                    ..
                } => errors.clone(),
                _ => Vec::new(),
            };
            let conflict = matches!(e, ManageError::Conflict(_));
            let p = Problem::from(e);
            let existing = if conflict {
                named_like(st, &text, format).await?
            } else {
                None
            };
            let ed = Editor {
                text: Some(&text),
                errors: Some(errors),
                error: Some(p.detail.clone()),
                existing,
                ..Default::default()
            };
            editor(st, &form.session, p.status, w, &none, ed).await
        }
    }
}

/// The stored workflow with the name `text` gives, as `(id, name)`.
async fn named_like(
    st: &AppState,
    text: &str,
    format: Format,
) -> Result<Option<(String, String)>, UiError> {
    let Ok((_, name)) = workflows::read_document(text, format) else {
        return Ok(None);
    };
    Ok(st
        .store
        .get_workflow(&name)
        .await?
        .filter(|w| w.document.name == name)
        .map(|w| (w.id, w.document.name)))
}

/// `POST /ui/workflows/new`.
pub async fn create(State(st): State<AppState>, form: Form) -> UiResult {
    submit_editor(&st, &form, None).await
}

/// `POST /ui/workflows/{id}`.
pub async fn submit(State(st): State<AppState>, Path(id): Path<String>, form: Form) -> UiResult {
    let w = workflows::find(&st, &id).await?;
    submit_editor(&st, &form, Some(&w)).await
}

pub async fn set_enabled(
    State(st): State<AppState>,
    Path(id): Path<String>,
    form: Form,
) -> UiResult {
    let enabled = form.fields.get("enabled") == Some("true");
    let w = workflows::set_enabled(&st, &id, enabled).await?;
    Ok(see_other(&format!("/ui/workflows/{}", w.id)))
}

/// `POST /ui/workflows/{id}/run` with `inputs` (a JSON object): the new run's page.
pub async fn run(State(st): State<AppState>, Path(id): Path<String>, form: Form) -> UiResult {
    let w = workflows::find(&st, &id).await?;
    let raw = form.fields.get("inputs").unwrap_or("").trim();
    let started = async {
        let inputs = match raw {
            "" => serde_json::Map::new(),
            text => match serde_json::from_str::<Json>(text) {
                Ok(Json::Object(m)) => m,
                _ => {
                    return Err(Problem::unprocessable(
                        "inputs must be a JSON object, like {\"severity\": \"high\"}",
                    ));
                }
            },
        };
        Ok::<_, Problem>(manual_runs::start(&st, &w, inputs).await?)
    }
    .await;
    match started {
        Ok(run_id) => Ok(see_other(&format!("/ui/runs/{run_id}"))),
        Err(p) => {
            let ed = Editor {
                run_error: Some(p.detail.clone()),
                inputs: Some(raw),
                ..Default::default()
            };
            let none = super::Fields::default();
            editor(&st, &form.session, p.status, Some(&w), &none, ed).await
        }
    }
}

pub async fn delete(State(st): State<AppState>, Path(id): Path<String>, _: Form) -> Response {
    match workflows::delete(&st, &id).await {
        Ok(()) => see_other("/ui/workflows"),
        Err(p) => axum::response::IntoResponse::into_response(UiError::from(p)),
    }
}

/// This module's pages and forms, each with its route.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/workflows", get(index))
        .route("/workflows/new", form(new_form, create))
        .route("/workflows/{id}", form(show, submit))
        .route("/workflows/{id}/enabled", post(set_enabled))
        .route("/workflows/{id}/run", post(run))
        .route("/workflows/{id}/delete", post(delete))
}
