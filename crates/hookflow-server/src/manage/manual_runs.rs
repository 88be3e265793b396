//! Manual runs: their inputs checked against the workflow's declarations, queued, and
//! optionally waited for.

use std::time::Duration;

use hookflow_store::runs::{NewRun, TriggerKind};
use hookflow_store::workflows::WorkflowRecord;
use hookflow_store::{new_id, now_ms};
use serde_json::Value;

use super::runs::run_with_steps;
use super::{ManageError, ManageResult};
use crate::state::AppState;

/// Manual-run inputs must be declared and fit their declared types (missing ones take their
/// defaults; a required one without a default must be given).
fn check_inputs(w: &WorkflowRecord, given: &serde_json::Map<String, Value>) -> ManageResult<()> {
    let Some(wf) = w
        .document
        .definition
        .as_deref()
        .and_then(|d| serde_json::from_str::<hookflow_core::workflow::Workflow>(d).ok())
    else {
        return Ok(());
    };
    for (k, v) in given {
        let Some(d) = wf.inputs.iter().find(|d| &d.name == k) else {
            let declared: Vec<&str> = wf.inputs.iter().map(|d| d.name.as_str()).collect();
            return Err(ManageError::invalid(format!(
                "input {k:?} is not declared by the workflow (declared: {})",
                declared.join(", ")
            )));
        };
        if let Err(why) = hookflow_core::workflow::fits(d.r#type, v) {
            return Err(ManageError::invalid(format!("input {k:?}: {why}")));
        }
    }
    if let Some(d) = wf
        .inputs
        .iter()
        .find(|d| d.required && d.default.is_none() && !given.contains_key(&d.name))
    {
        return Err(ManageError::invalid(format!(
            "input {:?} is required",
            d.name
        )));
    }
    Ok(())
}

/// Queues a manual run of `w` with checked `inputs`; answers its id.
pub async fn start(
    st: &AppState,
    w: &WorkflowRecord,
    inputs: serde_json::Map<String, Value>,
) -> ManageResult<String> {
    if !w.document.valid {
        return Err(ManageError::Conflict(
            "the workflow is invalid; fix the errors in its validation first".into(),
        ));
    }
    if !w.enabled {
        return Err(ManageError::Conflict("the workflow is disabled".into()));
    }
    check_inputs(w, &inputs)?;
    let run_id = new_id();
    st.engine
        .queue
        .enqueue(vec![NewRun {
            inputs: Value::Object(inputs).to_string(),
            ..NewRun::new(
                run_id.clone(),
                TriggerKind::Manual,
                w.id.clone(),
                w.document.name.clone(),
            )
        }])
        .await?;
    Ok(run_id)
}

/// Run `run_id` as one run's answer shows it, once it has finished or `wait` seconds (0 to 300)
/// have passed; and whether it has finished.
pub async fn wait_for(st: &AppState, run_id: &str, wait: f64) -> ManageResult<(bool, Value)> {
    let wait = wait.clamp(0.0, 300.0);
    let deadline = now_ms() + (wait * 1000.0) as i64;
    loop {
        let run = st
            .store
            .get_run(run_id)
            .await?
            .ok_or_else(|| ManageError::NotFound("the run vanished".into()))?;
        let done = run.status.is_finished();
        if done || now_ms() >= deadline {
            let v = run_with_steps(st, &run, &Default::default()).await?;
            return Ok((done, v));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
