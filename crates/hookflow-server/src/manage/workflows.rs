//! Workflows: a document saved (new or replacing one, as a new version) with its validation,
//! checked without saving, enabled or disabled, deleted, validated again; and the view an
//! operator sees. Every save or delete re-validates the other workflows (one may call another).

use hookflow_core::workflow::{Format, ValidationError, parse_document};
use hookflow_store::workflows::{SaveWorkflow, WorkflowDocument, WorkflowRecord};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::catalog::{assess, catalog, revalidate_all, revalidate_one};
use super::page::{Page, PageRequest};
use super::{Found, ManageError, ManageResult, rfc3339, to_json};
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
    pub fn of(valid: bool, errors: &str) -> Validation {
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

/// A stored workflow validated again.
#[derive(Serialize, ToSchema)]
pub struct Revalidated {
    pub id: String,
    pub validation: Validation,
}

/// A document's parsed value and its name, or the errors that keep it from being stored.
pub fn read_document(text: &str, format: Format) -> Result<(Value, String), Vec<ValidationError>> {
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
pub async fn check(
    st: &AppState,
    text: &str,
    format: Format,
) -> ManageResult<Vec<ValidationError>> {
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
pub fn invalid_document(errors: Vec<ValidationError>) -> ManageError {
    let detail = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    ManageError::Invalid {
        detail: format!("the workflow document cannot be read: {detail}"),
        errors: Some(errors),
    }
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Yaml => "yaml",
        Format::Json => "json",
    }
}

pub fn view(w: &WorkflowRecord) -> WorkflowView {
    let format = if w.document.source_format == "yaml" {
        Format::Yaml
    } else {
        Format::Json
    };
    let definition = parse_document(&w.document.source, format).unwrap_or(Value::Null);
    let triggers: Value = w
        .document
        .definition
        .as_deref()
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .map(|d| d["triggers"].clone())
        .unwrap_or(json!([]));
    WorkflowView {
        id: w.id.clone(),
        name: w.document.name.clone(),
        description: definition
            .get("description")
            .cloned()
            .unwrap_or(Value::Null),
        enabled: w.enabled,
        version: w.version,
        validation: Validation::of(w.document.valid, &w.document.errors),
        triggers,
        definition,
        source: w.document.source.clone(),
        source_format: w.document.source_format.clone(),
        created_at: rfc3339(w.created_at),
        updated_at: rfc3339(w.updated_at),
    }
}

/// [`view`] as JSON (the web UI's pages read it).
pub fn json(w: &WorkflowRecord) -> Value {
    to_json(&view(w))
}

/// Saves document `text` (new, or replacing workflow `id`: a new version) with its validation,
/// then re-validates the others. Answers the stored workflow.
pub async fn save(
    st: &AppState,
    id: Option<&str>,
    text: String,
    format: Format,
) -> ManageResult<WorkflowRecord> {
    let (doc, name) = read_document(&text, format).map_err(invalid_document)?;
    let cat = catalog(st, Some(&name)).await?;
    let (definition, errors, triggers) = assess(st, &doc, &cat);
    let save = SaveWorkflow {
        document: WorkflowDocument {
            name,
            source: text,
            source_format: format_name(format).into(),
            valid: errors.is_empty() && definition.is_some(),
            errors: serde_json::to_string(&errors).unwrap_or_else(|_| "[]".into()),
            definition,
        },
        triggers,
    };
    let w = match id {
        None => {
            let w = st.store.create_workflow(save).await?;
            let (name, valid) = (&w.document.name, w.document.valid);
            tracing::info!(workflow = %w.id, name = %name, valid, "workflow created");
            w
        }
        Some(id) => st.store.replace_workflow(id, save).await?,
    };
    revalidate_all(st).await;
    find(st, &w.id).await
}

/// Workflow `id` (an id or a name); 404 if there is none.
pub async fn find(st: &AppState, id: &str) -> ManageResult<WorkflowRecord> {
    st.store.get_workflow(id).await?.found("workflow", id)
}

/// A page of workflows, newest first (as stored: [`view`] shows one).
pub async fn list(st: &AppState, page: &PageRequest) -> ManageResult<Page<WorkflowRecord>> {
    let (items, next) = st
        .store
        .list_workflows(page.limit, page.after.as_deref())
        .await?;
    Ok(Page { items, next })
}

/// Enables or disables workflow `id` (an id or a name).
pub async fn set_enabled(st: &AppState, id: &str, enabled: bool) -> ManageResult<WorkflowRecord> {
    let w = find(st, id).await?;
    Ok(st.store.set_workflow_enabled(&w.id, enabled).await?)
}

/// Deletes workflow `id` (an id or a name), then re-validates the others; 404 if there is none.
pub async fn delete(st: &AppState, id: &str) -> ManageResult<()> {
    let w = find(st, id).await?;
    st.store.delete_workflow(&w.id).await?;
    revalidate_all(st).await;
    Ok(())
}

/// Validates stored workflow `id` again (events, secrets or workflows it names may have
/// changed); answers it with its validation.
pub async fn revalidate(st: &AppState, id: &str) -> ManageResult<WorkflowRecord> {
    let w = find(st, id).await?;
    let cat = catalog(st, None).await?;
    revalidate_one(st, &w, &cat).await?;
    find(st, &w.id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_without_a_name_cannot_be_stored() {
        let (doc, name) = read_document("name: ' x '\nsteps: []\n", Format::Yaml).unwrap();
        assert_eq!((doc["steps"].clone(), name.as_str()), (json!([]), "x"));
        let errors = read_document("steps: []\n", Format::Yaml).unwrap_err();
        assert_eq!(errors[0].path, "name");
        let e = invalid_document(errors.clone());
        assert_eq!(
            e,
            ManageError::Invalid {
                detail: "the workflow document cannot be read: name: a workflow needs a name \
                         (a non-empty string)"
                    .into(),
                errors: Some(errors),
            }
        );
        assert!(read_document("{", Format::Json).is_err());
    }
}
