//! Workflow validation against what exists: the events, workflows and secrets a document may
//! name ([`StoreCatalog`], read once per validation), a document checked ([`assess`]), and the
//! re-validation of every stored workflow after something they may refer to changed.

use std::collections::HashSet;

use hookflow_core::workflow::{
    Format, KnownNames, ValidationError, Workflow, from_value, parse_document, validate,
};
use hookflow_store::workflows::WorkflowRecord;
use serde_json::Value;

use super::{ManageError, ManageResult};
use crate::state::AppState;

/// What exists, read from the store once per validation.
pub type StoreCatalog = KnownNames;

/// What exists now; `also`: a workflow name to count as existing (the one being saved).
pub async fn catalog(st: &AppState, also: Option<&str>) -> ManageResult<StoreCatalog> {
    let mut events = HashSet::new();
    for (id, name) in st.store.event_refs().await? {
        events.insert(id);
        events.insert(name);
    }
    let stored = st.store.all_workflows().await?;
    let calls = stored
        .iter()
        .filter_map(|w| {
            let wf: Workflow = serde_json::from_str(w.document.definition.as_deref()?).ok()?;
            Some((w.document.name.clone(), wf.called_workflows()))
        })
        .collect();
    let mut workflows: HashSet<String> = stored.into_iter().map(|w| w.document.name).collect();
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

/// A document checked: its definition (when it describes a workflow), its errors and its
/// triggers `(event, disabled)`.
pub fn assess(
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

/// Validates stored workflow `w` again, writing its validation when it changed.
pub async fn revalidate_one(
    st: &AppState,
    w: &WorkflowRecord,
    cat: &StoreCatalog,
) -> ManageResult<()> {
    let Ok(doc) = parse_document(&w.document.source, stored_format(&w.document.source_format))
    else {
        return Ok(());
    };
    let (definition, errors, _) = assess(st, &doc, cat);
    let valid = errors.is_empty() && definition.is_some();
    let text = serde_json::to_string(&errors).unwrap_or_else(|_| "[]".into());
    if valid != w.document.valid || text != w.document.errors {
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
        Ok::<(), ManageError>(())
    }
    .await;
    if let Err(p) = result {
        tracing::warn!(error = %p, "re-validating workflows failed");
    }
}

/// The format a document was stored in (`yaml` or `json`).
pub fn stored_format(source_format: &str) -> Format {
    if source_format == "yaml" {
        Format::Yaml
    } else {
        Format::Json
    }
}
