//! Control steps as the interpreter walks them: `condition`, `for_each`, `while` and `parallel`
//! (each branch on its own copy of the run's state, merged in branch order). A control step's
//! record is written when it starts, so it lists before the steps inside it, and completed when
//! its block ends.

use std::sync::Arc;

use hookflow_core::workflow::{Step, StepKind};
use hookflow_store::now_ms;
use hookflow_store::runs::{StepRecord, StepStatus};
use serde_json::{Value, json};

use crate::exec::{Flow, RunState, Scope, kind_of};
use crate::leaf::Secure;
use crate::record::BoundedList;
use crate::{Engine, EngineError};

/// Sequence numbers reserved for each `parallel` branch.
const PARALLEL_SEQ_SPAN: i64 = 1_000_000;

impl Engine {
    /// One step, replayed from its record when it has one.
    /// One step, under its own span when traces are exported (see [`crate::trace`]).
    pub(crate) async fn step(
        self: &Arc<Self>,
        st: &mut RunState,
        step: &Step,
        scope: &Scope,
    ) -> Result<Flow, EngineError> {
        let Some(span) = crate::trace::step_span(st, step, &scope.path(&step.id)) else {
            return self.step_untraced(st, step, scope).await;
        };
        let outer = st.trace.replace(span.context());
        let flow = self.step_untraced(st, step, scope).await;
        st.trace = outer;
        crate::trace::end(span, "hookflow.step.status", &flow);
        flow
    }

    async fn step_untraced(
        self: &Arc<Self>,
        st: &mut RunState,
        step: &Step,
        scope: &Scope,
    ) -> Result<Flow, EngineError> {
        let path = scope.path(&step.id);
        match &step.kind {
            StepKind::Condition {
                branches,
                else_steps,
            } => {
                let mut rec = self.open_block(st, step, &path, scope).await?;
                let mut chosen: Option<(Value, &[Step])> = None;
                for (i, b) in branches.iter().enumerate() {
                    match self.sandbox.eval_bool(&b.when, &st.ctx) {
                        Ok(true) => {
                            chosen = Some((json!(i), &b.steps));
                            break;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            return self
                                .leaf_failed(st, step, rec, format!("branch {i}: {e}"))
                                .await;
                        }
                    }
                }
                let (branch, steps) = chosen.unwrap_or((json!("else"), else_steps));
                let flow = (self.block(st, steps, scope)).await?;
                self.close_block(st, step, &mut rec, json!({ "branch": branch }), &flow)
                    .await?;
                Ok(flow)
            }
            StepKind::ForEach {
                items,
                as_name,
                steps,
                max_iterations,
            } => {
                let mut rec = self.open_block(st, step, &path, scope).await?;
                let items = match self.sandbox.render(items, &st.ctx) {
                    Ok(v) => crate::steps::json_text(v, "items").map_err(|e| e.message),
                    Err(e) => Err(e.to_string()),
                };
                let items = match items {
                    Ok(Value::Array(a)) => a,
                    Ok(other) => {
                        return self
                            .leaf_failed(
                                st,
                                step,
                                rec,
                                format!("items must be a list, got {}", kind_of(&other)),
                            )
                            .await;
                    }
                    Err(e) => return self.leaf_failed(st, step, rec, e).await,
                };
                let cap = max_iterations.unwrap_or(self.opts.max_iterations) as usize;
                if items.len() > cap {
                    return self
                        .leaf_failed(
                            st,
                            step,
                            rec,
                            format!(
                                "{} items exceed the loop cap of {cap} iterations",
                                items.len()
                            ),
                        )
                        .await;
                }
                let saved = (
                    st.ctx.get(as_name.as_str()).cloned(),
                    st.ctx.get("loop").cloned(),
                );
                let mut outputs = BoundedList::new(self.opts.record.run_bytes);
                let mut flow = Flow::Continue;
                for (i, item) in items.into_iter().enumerate() {
                    st.ctx[as_name.as_str()] = item;
                    st.ctx["loop"] = json!({ "index": i });
                    let inner = scope.enter(i as i64);
                    flow = (self.block(st, steps, &inner)).await?;
                    outputs.push(iteration_output(st, steps, &inner));
                    match flow {
                        Flow::Continue | Flow::NextIteration => flow = Flow::Continue,
                        Flow::Break(_) => {
                            flow = Flow::Continue;
                            break;
                        }
                        _ => break,
                    }
                }
                restore(&mut st.ctx, as_name, saved.0);
                restore(&mut st.ctx, "loop", saved.1);
                let outputs = Value::Array(outputs.into_vec());
                self.close_block(st, step, &mut rec, outputs, &flow).await?;
                Ok(flow)
            }
            StepKind::While {
                when,
                steps,
                max_iterations,
            } => {
                let mut rec = self.open_block(st, step, &path, scope).await?;
                let cap = max_iterations.unwrap_or(self.opts.max_iterations) as i64;
                let saved = st.ctx.get("loop").cloned();
                let mut i = 0i64;
                let mut flow = Flow::Continue;
                loop {
                    st.ctx["loop"] = json!({ "index": i });
                    match self.sandbox.eval_bool(when, &st.ctx) {
                        Ok(false) => break,
                        Ok(true) if i >= cap => {
                            restore(&mut st.ctx, "loop", saved);
                            return self
                                .leaf_failed(
                                    st,
                                    step,
                                    rec,
                                    format!("the loop exceeded its cap of {cap} iterations"),
                                )
                                .await;
                        }
                        Ok(true) => {}
                        Err(e) => {
                            restore(&mut st.ctx, "loop", saved);
                            return self.leaf_failed(st, step, rec, e.to_string()).await;
                        }
                    }
                    flow = (self.block(st, steps, &scope.enter(i))).await?;
                    i += 1;
                    match flow {
                        Flow::Continue | Flow::NextIteration => flow = Flow::Continue,
                        _ => break,
                    }
                }
                restore(&mut st.ctx, "loop", saved);
                let mut output = json!({ "iterations": i });
                if let Flow::Break(by) = &flow {
                    output["broken_by"] = json!(by);
                    flow = Flow::Continue;
                }
                self.close_block(st, step, &mut rec, output, &flow).await?;
                Ok(flow)
            }
            StepKind::Parallel { branches } => {
                let mut rec = self.open_block(st, step, &path, scope).await?;
                let (outputs, flow) = self.branches(st, branches, scope).await?;
                self.close_block(st, step, &mut rec, outputs, &flow).await?;
                Ok(flow)
            }
            _ => self.leaf(st, step, &path, scope).await,
        }
    }

    /// Runs `parallel` branches concurrently, each on its own copy of the run's state (they may
    /// read what came before the step, not each other), then merges what they did in branch
    /// order: step outputs, variables, records. The step's flow is the first branch's (in order)
    /// that did not just continue; if some branches wait, the step waits for the earliest.
    pub(crate) async fn branches(
        self: &Arc<Self>,
        st: &mut RunState,
        branches: &[Vec<Step>],
        scope: &Scope,
    ) -> Result<(Value, Flow), EngineError> {
        let mut set = tokio::task::JoinSet::new();
        for (b, steps) in branches.iter().enumerate() {
            let mut bst = RunState {
                run: st.run.clone(),
                wf: st.wf.clone(),
                ctx: st.ctx.clone(),
                recorded: st.recorded.clone(),
                // Disjoint sequence numbers per branch keep each branch's steps together.
                next_seq: st.next_seq + (b as i64) * PARALLEL_SEQ_SPAN,
                secrets: st.secrets.clone(),
                budget: st.budget.clone(),
                trace: st.trace.clone(),
            };
            let engine = self.clone();
            let steps = steps.clone();
            let scope = scope.clone();
            set.spawn(async move {
                let flow = (engine.block(&mut bst, &steps, &scope)).await;
                (b, bst, steps, flow)
            });
        }
        let mut done = Vec::with_capacity(branches.len());
        while let Some(joined) = set.join_next().await {
            done.push(joined.map_err(|e| EngineError::Invalid(format!("a branch panicked: {e}")))?);
        }
        done.sort_by_key(|(b, ..)| *b);
        let mut outputs = BoundedList::new(self.opts.record.run_bytes);
        let mut flow = Flow::Continue;
        let mut wait: Option<i64> = None;
        let before_vars = st.ctx["vars"].clone();
        for (_, bst, steps, result) in done {
            let result = result?;
            outputs.push(last_output(&bst, &steps));
            if let (Some(all), Some(theirs)) = (
                st.ctx.get_mut("steps").and_then(Value::as_object_mut),
                bst.ctx.get("steps").and_then(Value::as_object),
            ) {
                for (k, v) in theirs {
                    all.insert(k.clone(), v.clone());
                }
            }
            if let (Some(vars), Some(theirs), Some(before)) = (
                st.ctx.get_mut("vars").and_then(Value::as_object_mut),
                bst.ctx.get("vars").and_then(Value::as_object),
                before_vars.as_object(),
            ) {
                for (k, v) in theirs {
                    if before.get(k) != Some(v) {
                        vars.insert(k.clone(), v.clone());
                    }
                }
            }
            // values a branch gave to secure_string variables are masked from now on
            if let Some(theirs) = bst.ctx.get("vars") {
                Self::mask_secure(st, Secure::Variables, theirs);
            }
            st.recorded.extend(bst.recorded);
            st.next_seq = st.next_seq.max(bst.next_seq);
            match result {
                Flow::Continue => {}
                Flow::Suspend(at) => wait = Some(wait.map_or(at, |w| w.min(at))),
                other if matches!(flow, Flow::Continue) => flow = other,
                _ => {}
            }
        }
        if matches!(flow, Flow::Continue)
            && let Some(at) = wait
        {
            flow = Flow::Suspend(at);
        }
        Ok((Value::Array(outputs.into_vec()), flow))
    }

    /// The record of a control step, written when it first starts so that it lists before the
    /// steps inside it.
    pub(crate) async fn open_block(
        &self,
        st: &mut RunState,
        step: &Step,
        path: &str,
        scope: &Scope,
    ) -> Result<StepRecord, EngineError> {
        let rec = Self::new_record(st, step, path, scope);
        if !st.recorded.contains_key(path) {
            self.save(st, rec.clone()).await?;
        }
        Ok(rec)
    }

    /// Records a control step when its block ended (or suspended: then nothing yet).
    pub(crate) async fn close_block(
        &self,
        st: &mut RunState,
        step: &Step,
        rec: &mut StepRecord,
        output: Value,
        flow: &Flow,
    ) -> Result<(), EngineError> {
        if matches!(flow, Flow::Suspend(_) | Flow::Cancelled | Flow::Lost) {
            return Ok(());
        }
        if let Some(r) = st.recorded.get(&rec.path)
            && r.status.has_result()
        {
            let error =
                (r.status == StepStatus::Failed).then(|| r.error.clone().unwrap_or_default());
            Self::set_result(st, &step.id, output, error);
            return Ok(());
        }
        // A block that ended the run by failing fails its control step too.
        match flow {
            Flow::Fail(msg) => {
                rec.status = StepStatus::Failed;
                rec.error = Some(msg.clone());
            }
            _ => rec.status = StepStatus::Succeeded,
        }
        rec.output = Some(output.to_string());
        rec.finished_at = Some(now_ms());
        self.save(st, rec.clone()).await?;
        let error = match flow {
            Flow::Fail(_) => Some(
                st.recorded
                    .get(&rec.path)
                    .and_then(|r| r.error.clone())
                    .unwrap_or_default(),
            ),
            _ => None,
        };
        Self::set_result(st, &step.id, output, error);
        Ok(())
    }
}

fn restore(ctx: &mut Value, key: &str, saved: Option<Value>) {
    if let Some(obj) = ctx.as_object_mut() {
        match saved {
            Some(v) => {
                obj.insert(key.to_string(), v);
            }
            None => {
                obj.remove(key);
            }
        }
    }
}

/// The output of one loop iteration: that of the last step of the body that ran in it (a
/// `break` or `continue` may have ended it early; the steps after did not run).
fn iteration_output(st: &RunState, steps: &[Step], scope: &Scope) -> Value {
    steps
        .iter()
        .rev()
        .find(|s| {
            st.recorded
                .get(&scope.path(&s.id))
                .is_some_and(|r| r.status.has_result())
        })
        .and_then(|s| st.ctx["steps"].get(&s.id).map(|o| o["output"].clone()))
        .unwrap_or(Value::Null)
}

/// The output of the last step of a block that has one.
fn last_output(st: &RunState, steps: &[Step]) -> Value {
    steps
        .iter()
        .rev()
        .find_map(|s| st.ctx["steps"].get(&s.id).map(|o| o["output"].clone()))
        .unwrap_or(Value::Null)
}
