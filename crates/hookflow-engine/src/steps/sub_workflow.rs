//! The `run_workflow` step: starts a sub-run of another workflow (with its inputs, as a child
//! of this run, nested at most `max_depth` deep and counted against the root's run limit) and
//! waits for it. The child's id derives from this run and the step's path, so a replay after a
//! crash finds the same child instead of starting a second one.

use hookflow_store::now_ms;
use hookflow_store::run_queue::SubRunStart;
use serde_json::{Map, Value, json};

use super::{StepError, StepOut, render};
use crate::Engine;
use crate::exec::RunState;

/// How often a run waiting for a sub-run looks at it, besides being woken when it ends.
pub const SUB_RUN_RECHECK_MS: i64 = 2_000;

/// `run_workflow`: inserts the sub-run (once) and suspends this run until it ends.
pub(super) async fn run_workflow(
    engine: &Engine,
    st: &mut RunState,
    path: &str,
    workflow: &str,
    inputs: &Map<String, Value>,
) -> Result<(Value, StepOut), StepError> {
    let rendered = render(engine, st, &Value::Object(inputs.clone()))?;
    let input = json!({ "workflow": workflow, "inputs": rendered });
    let target = engine
        .store
        .get_workflow(workflow)
        .await
        .map_err(|e| StepError::new(e.to_string(), true, Some(input.clone())))?
        .ok_or_else(|| {
            StepError::new(
                format!("workflow {workflow:?} does not exist"),
                false,
                Some(input.clone()),
            )
        })?;
    // The values the child takes as secure_string inputs are masked in this run too.
    if let Some(child) = target
        .document
        .definition
        .as_deref()
        .and_then(|d| serde_json::from_str::<hookflow_core::workflow::Workflow>(d).ok())
        && child
            .inputs
            .iter()
            .any(|d| d.r#type == hookflow_core::workflow::VarType::SecureString)
    {
        std::sync::Arc::make_mut(&mut st.secrets).add_secure(&child.inputs, &rendered);
    }
    // The sub-run keeps its inputs whole, to run on them: at most what a run may record.
    let size = crate::record::json_size(&rendered);
    if size > engine.opts.record.run_bytes {
        return Err(StepError::new(
            format!(
                "the sub-workflow's inputs are {size} bytes, more than one run may record \
                 ({} bytes, --max-run-record-bytes)",
                engine.opts.record.run_bytes
            ),
            false,
            Some(input),
        ));
    }
    if st.run.depth + 1 > engine.opts.max_depth {
        return Err(StepError::new(
            format!(
                "sub-workflows nest deeper than {} levels",
                engine.opts.max_depth
            ),
            false,
            Some(input),
        ));
    }
    if !target.document.valid || !target.enabled {
        return Err(StepError::new(
            format!("workflow {workflow:?} is invalid or disabled"),
            false,
            Some(input),
        ));
    }
    // The child's id derives from the parent and the step's path, so a replay after a
    // crash finds the same child instead of starting a second one.
    let child_id = derived_id(&st.run.id, path);
    let new = hookflow_store::runs::NewRun {
        inputs: rendered.to_string(),
        parent_run_id: Some(st.run.id.clone()),
        depth: st.run.depth + 1,
        // The sub-run's span continues this step's.
        traceparent: st.trace.as_ref().map(crate::trace::header),
        ..hookflow_store::runs::NewRun::new(
            child_id.clone(),
            hookflow_store::runs::TriggerKind::Workflow,
            target.id.clone(),
            target.document.name.clone(),
        )
    };

    match engine
        .queue
        .enqueue_sub_run(new, engine.opts.max_runs_per_root)
        .await
    {
        // Started (this node's workers are told), or started before this step was replayed.
        Ok(SubRunStart::Started | SubRunStart::Existed) => {}
        Ok(SubRunStart::LimitReached) => {
            return Err(StepError::new(
                format!(
                    "the run that started this one (its root) and the runs under it have \
                     started {} runs, the most one root run may start \
                     (--max-runs-per-root)",
                    engine.opts.max_runs_per_root
                ),
                false,
                Some(input),
            ));
        }
        Err(e) => return Err(StepError::new(e.to_string(), true, Some(input))),
    }
    Ok((
        input,
        StepOut::Wait {
            until: now_ms() + SUB_RUN_RECHECK_MS,
            output: json!({ "run_id": child_id }),
        },
    ))
}

/// A UUID-shaped id derived from a run id and a step path.
fn derived_id(run_id: &str, path: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("{run_id}/{path}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    // Keep the parent's time prefix so the child sorts near it.
    let parent = uuid::Uuid::parse_str(run_id)
        .map(|u| *u.as_bytes())
        .unwrap_or([0; 16]);
    b[..6].copy_from_slice(&parent[..6]);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_uuids() {
        let a = derived_id("01a22294-011f-73e3-a151-f31ec84b7225", "call#2");
        assert_eq!(
            a,
            derived_id("01a22294-011f-73e3-a151-f31ec84b7225", "call#2")
        );
        assert_ne!(
            a,
            derived_id("01a22294-011f-73e3-a151-f31ec84b7225", "call#3")
        );
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }
}
