//! Leaf steps as the interpreter records and replays them: a step's record (secrets masked,
//! cut to the record limits of [`crate::record`], the real output sealed for replay when what is
//! shown differs), a recorded step replayed instead of executed, retries and sleeps suspended, a
//! sub-run waited for. What each leaf step does is in [`crate::steps`].

use std::sync::Arc;

use hookflow_core::workflow::{Step, StepKind, VarType};
use hookflow_store::now_ms;
use hookflow_store::runs::{RunStatus, StepRecord, StepStatus};
use serde_json::{Value, json};

use crate::exec::{Flow, RunState, Scope};
use crate::record::{Limit, is_marker, limit_field};
use crate::steps::{StepError, StepOut};
use crate::{Engine, EngineError};

impl Engine {
    /// What later steps read of a finished step: `steps.<id>.output`, `.status` and `.error`.
    pub(crate) fn set_result(st: &mut RunState, id: &str, output: Value, error: Option<String>) {
        let status = if error.is_some() {
            StepStatus::Failed
        } else {
            StepStatus::Succeeded
        };
        if let Some(steps) = st.ctx.get_mut("steps").and_then(Value::as_object_mut) {
            steps.insert(
                id.to_string(),
                json!({ "output": output, "status": status, "error": error }),
            );
        }
    }

    pub(crate) fn set_output(st: &mut RunState, id: &str, output: Value) {
        Self::set_result(st, id, output, None);
    }

    /// A step that failed and was passed over (`continue_on_error`): its error as recorded (so
    /// that a resumed run reads the same), output `null`.
    pub(crate) fn set_failed(st: &mut RunState, id: &str, path: &str, fallback: &str) {
        let error = st
            .recorded
            .get(path)
            .and_then(|r| r.error.clone())
            .unwrap_or_else(|| fallback.to_string());
        Self::set_result(st, id, Value::Null, Some(error));
    }

    pub(crate) fn apply_variables(st: &mut RunState, values: &Value) {
        if let (Some(vars), Some(values)) = (
            st.ctx.get_mut("vars").and_then(Value::as_object_mut),
            values.as_object(),
        ) {
            for (k, v) in values {
                vars.insert(k.clone(), v.clone());
            }
        }
        Self::mask_secure(st, Secure::Variables, values);
    }

    /// From now on, masks the values among `values` of declared `secure_string` variables or
    /// outputs in everything the run records (SPEC §11).
    pub(crate) fn mask_secure(st: &mut RunState, which: Secure, values: &Value) {
        let decls = match which {
            Secure::Variables => &st.wf.variables,
            Secure::Outputs => &st.wf.outputs,
        };
        let any = decls.iter().any(|d| {
            d.r#type == VarType::SecureString && values.get(&d.name).is_some_and(|v| !v.is_null())
        });
        if any {
            Arc::make_mut(&mut st.secrets).add_secure(decls, values);
        }
    }

    /// Records a step. What is recorded has every secret value replaced by `***` (SPEC §4);
    /// when that changed the output, the real output is kept sealed beside it, so a resumed run
    /// replays real values, not asterisks.
    pub(crate) async fn save(
        &self,
        st: &mut RunState,
        mut rec: StepRecord,
    ) -> Result<(), EngineError> {
        let real_output = rec.output.clone();
        if !st.secrets.is_empty() {
            for field in [&mut rec.input, &mut rec.output, &mut rec.error] {
                if let Some(text) = field.as_mut() {
                    // Parsed, not searched as text: JSON escapes (`\"`, `\\`) would hide a
                    // secret containing them.
                    *text = match serde_json::from_str::<Value>(text) {
                        Ok(mut v) => {
                            st.secrets.redact(&mut v);
                            v.to_string()
                        }
                        Err(_) => st.secrets.redacted(text),
                    };
                }
            }
        }
        let limits = &self.opts.record;
        rec.input = rec.input.map(|t| limit_field(t, true, limits, &st.budget));
        rec.output = rec.output.map(|t| limit_field(t, true, limits, &st.budget));
        rec.error = rec.error.map(|t| limit_field(t, false, limits, &st.budget));
        rec.replay = None;
        if let (Some(real), Some(shown)) = (&real_output, &rec.output)
            && real != shown
        {
            // Redacted or cut: the real output is kept sealed for replay while the run's budget
            // allows; otherwise the record says it was cut and a resumed run executes the step
            // again rather than replay something else.
            if st.budget.take(real.len(), limits.run_bytes) {
                rec.replay = Some(self.store.seal_replay(&rec.run_id, real));
            } else if !is_marker(&serde_json::from_str(shown).unwrap_or(Value::Null)) {
                let m = crate::record::marker(shown, Limit::Run).to_string();
                st.budget.force(m.len());
                rec.output = Some(m);
            }
        }
        self.queue.save_step(rec.clone()).await?;
        // What a resumed run needs of a step recorded in this execution: its status (and the
        // sub-run a waiting step started); not the values, which the run holds already.
        if rec.status != StepStatus::Waiting {
            rec.input = None;
            rec.output = None;
            rec.replay = None;
        }
        st.recorded.insert(rec.path.clone(), rec);
        Ok(())
    }

    /// A recorded step's real output (unsealed when it was redacted).
    pub(crate) fn recorded_output(&self, rec: &StepRecord) -> Value {
        let text = match &rec.replay {
            Some(sealed) => self.store.open_replay(&rec.run_id, sealed).ok(),
            None => rec.output.clone(),
        };
        text.as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or(Value::Null)
    }

    pub(crate) fn new_record(
        st: &mut RunState,
        step: &Step,
        path: &str,
        scope: &Scope,
    ) -> StepRecord {
        let seq = st.recorded.get(path).map(|r| r.seq).unwrap_or_else(|| {
            st.next_seq += 1;
            st.next_seq - 1
        });
        StepRecord {
            run_id: st.run.id.clone(),
            path: path.to_string(),
            seq,
            step_id: step.id.clone(),
            step_type: step.kind.type_name().to_string(),
            status: StepStatus::Running,
            iteration: scope.iteration,
            input: None,
            output: None,
            error: None,
            attempts: 0,
            wake_at: None,
            started_at: now_ms(),
            finished_at: None,
            replay: None,
        }
    }

    pub(crate) async fn leaf_failed(
        &self,
        st: &mut RunState,
        step: &Step,
        mut rec: StepRecord,
        msg: String,
    ) -> Result<Flow, EngineError> {
        rec.status = StepStatus::Failed;
        rec.error = Some(msg.clone());
        rec.attempts = rec.attempts.max(1);
        rec.finished_at = Some(now_ms());
        let path = rec.path.clone();
        self.save(st, rec).await?;
        if step.continue_on_error {
            Self::set_failed(st, &step.id, &path, &msg);
            Ok(Flow::Continue)
        } else {
            Ok(Flow::Fail(format!("step {} failed: {msg}", step.id)))
        }
    }

    /// A leaf step: replayed, resumed (sleep, retry, sub-run) or executed. A `break` or
    /// `continue` that ran (or is replayed) tells its loop.
    pub(crate) async fn leaf(
        self: &Arc<Self>,
        st: &mut RunState,
        step: &Step,
        path: &str,
        scope: &Scope,
    ) -> Result<Flow, EngineError> {
        let flow = self.leaf_step(st, step, path, scope).await?;
        Ok(match (flow, &step.kind) {
            (Flow::Continue, StepKind::Break {}) => Flow::Break(step.id.clone()),
            (Flow::Continue, StepKind::Continue {}) => Flow::NextIteration,
            (flow, _) => flow,
        })
    }

    async fn leaf_step(
        self: &Arc<Self>,
        st: &mut RunState,
        step: &Step,
        path: &str,
        scope: &Scope,
    ) -> Result<Flow, EngineError> {
        let now = now_ms();
        let mut rec = Self::new_record(st, step, path, scope);
        if let Some(prev) = st.recorded.get(path).cloned() {
            let out = self.recorded_output(&prev);
            // An output recorded cut, without its real value kept: executed again.
            let lost = prev.replay.is_none() && is_marker(&out);
            match prev.status {
                StepStatus::Succeeded if lost => {}
                StepStatus::Succeeded => {
                    if let StepKind::SetVariables { .. } = step.kind {
                        Self::apply_variables(st, &out);
                    }
                    crate::steps::python::mask_secure_variables(st, step, &out);
                    return Ok(match &step.kind {
                        StepKind::Complete { .. } => {
                            Self::mask_secure(st, Secure::Outputs, &out);
                            Flow::Complete(out.as_object().cloned().unwrap_or_default())
                        }
                        _ => {
                            Self::set_output(st, &step.id, out);
                            Flow::Continue
                        }
                    });
                }
                StepStatus::Failed => {
                    let msg = prev.error.clone().unwrap_or_default();
                    if step.continue_on_error {
                        Self::set_failed(st, &step.id, path, &msg);
                        return Ok(Flow::Continue);
                    }
                    return Ok(Flow::Fail(format!("step {} failed: {msg}", step.id)));
                }
                StepStatus::Waiting => {
                    if let StepKind::RunWorkflow { .. } = step.kind {
                        // Woken by the sub-run's end (or the hourly re-check): look at it.
                        return self.sub_run_result(st, step, prev).await;
                    }
                    if let Some(at) = prev.wake_at
                        && at > now
                    {
                        return Ok(Flow::Suspend(at));
                    }
                    rec = prev;
                    rec.wake_at = None;
                    // A finished sleep, a due retry, or a sub-run to look at.
                    if let StepKind::Sleep { .. } = step.kind {
                        return self.leaf_done(st, step, rec, json!({})).await;
                    }
                }
                _ => {}
            }
        }
        if self.lost.lock().is_ok_and(|l| l.contains(&st.run.id)) {
            return Ok(Flow::Lost);
        }
        if step_is_slow(&step.kind) && self.store.cancel_requested(&st.run.id).await? {
            return Ok(Flow::Cancelled);
        }
        let attempt = rec.attempts + 1;
        let out = crate::steps::run_leaf(self, st, step, path).await;
        rec.attempts = attempt;
        match out {
            Ok((input, StepOut::Output(v))) => {
                rec.input = Some(input.to_string());
                self.leaf_done(st, step, rec, v).await
            }
            Ok((input, StepOut::Complete(outputs))) => {
                Self::mask_secure(st, Secure::Outputs, &Value::Object(outputs.clone()));
                rec.input = Some(input.to_string());
                rec.status = StepStatus::Succeeded;
                rec.output = Some(Value::Object(outputs.clone()).to_string());
                rec.finished_at = Some(now_ms());
                self.save(st, rec).await?;
                Ok(Flow::Complete(outputs))
            }
            Ok((input, StepOut::Fail(msg))) => {
                rec.input = Some(input.to_string());
                rec.status = StepStatus::Failed;
                rec.error = Some(msg.clone());
                rec.finished_at = Some(now_ms());
                self.save(st, rec).await?;
                Ok(Flow::Fail(msg))
            }
            Ok((input, StepOut::Wait { until, output })) => {
                rec.input = Some(input.to_string());
                rec.status = StepStatus::Waiting;
                rec.output = Some(output.to_string());
                rec.wake_at = Some(until);
                self.save(st, rec).await?;
                Ok(Flow::Suspend(until))
            }
            Err(StepError {
                message,
                retryable,
                input,
            }) => {
                rec.input = input.map(|i| i.to_string());
                let max = step.retry.as_ref().map(|r| r.max_attempts).unwrap_or(1) as i64;
                if retryable && attempt < max {
                    let base = step.retry.as_ref().map(|r| r.backoff_ms).unwrap_or(0) as i64;
                    let delay = (base.saturating_mul(1 << (attempt - 1).min(16))).min(300_000);
                    rec.status = StepStatus::Waiting;
                    rec.error = Some(message);
                    rec.wake_at = Some(now_ms() + delay);
                    let until = now_ms() + delay;
                    self.save(st, rec).await?;
                    return Ok(Flow::Suspend(until));
                }
                self.leaf_failed(st, step, rec, message).await
            }
        }
    }

    pub(crate) async fn leaf_done(
        &self,
        st: &mut RunState,
        step: &Step,
        mut rec: StepRecord,
        output: Value,
    ) -> Result<Flow, EngineError> {
        rec.status = StepStatus::Succeeded;
        rec.error = None;
        rec.output = Some(output.to_string());
        rec.finished_at = Some(now_ms());
        if let StepKind::SetVariables { .. } = step.kind {
            Self::apply_variables(st, &output);
        }
        crate::steps::python::mask_secure_variables(st, step, &output);
        self.save(st, rec).await?;
        Self::set_output(st, &step.id, output);
        Ok(Flow::Continue)
    }

    /// A `run_workflow` step whose sub-run was started: its result, or wait more.
    pub(crate) async fn sub_run_result(
        &self,
        st: &mut RunState,
        step: &Step,
        rec: StepRecord,
    ) -> Result<Flow, EngineError> {
        let child_id = self.recorded_output(&rec)["run_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let child = self.store.get_run(&child_id).await?;
        match child.as_ref().map(|c| c.status) {
            Some(RunStatus::Succeeded) => {
                let outputs: Value = child
                    .and_then(|c| c.outputs)
                    .and_then(|o| serde_json::from_str(&o).ok())
                    .unwrap_or(json!({}));
                self.leaf_done(st, step, rec, outputs).await
            }
            Some(RunStatus::Failed | RunStatus::Cancelled) | None => {
                let why = child
                    .and_then(|c| c.error)
                    .unwrap_or_else(|| "the sub-run is gone".into());
                self.leaf_failed(
                    st,
                    step,
                    rec,
                    format!("sub-workflow run {child_id} failed: {why}"),
                )
                .await
            }
            _ => {
                // Still running: the child wakes this run when it ends; a periodic re-check covers
                // a wake-up that raced with this run suspending.
                Ok(Flow::Suspend(now_ms() + crate::steps::SUB_RUN_RECHECK_MS))
            }
        }
    }
}

/// Which declarations [`Engine::mask_secure`] reads.
#[derive(Clone, Copy)]
pub(crate) enum Secure {
    Variables,
    Outputs,
}

fn step_is_slow(kind: &StepKind) -> bool {
    matches!(
        kind,
        StepKind::HttpRequest { .. }
            | StepKind::Sleep { .. }
            | StepKind::RunWorkflow { .. }
            | StepKind::Python { .. }
    )
}
