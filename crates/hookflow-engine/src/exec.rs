//! The replaying interpreter. A run's steps are walked in document order; each step has a
//! *path* (its id plus the loop iterations around it) under which its record is kept. A step
//! with a finished record is not executed again: its recorded output is applied, so a resumed
//! run rebuilds its variables and `steps.*.output` exactly and continues where it stopped.
//! Suspensions (sleep, retry backoff, waiting for a sub-run) put the run back in the queue with
//! a due time instead of holding a worker.

use std::collections::HashMap;
use std::sync::Arc;

use hookflow_core::workflow::{Step, StepKind, VarType, Workflow};
use hookflow_store::runs::{RunRecord, StepRecord};
use hookflow_store::{StoreError, now_ms};
use serde_json::{Map, Value, json};

use crate::record::{BoundedList, Budget, Limit, cut_json, cut_text, is_marker, limit_field};
use crate::redact::Redactor;
use crate::steps::{StepError, StepOut};
use crate::{Engine, EngineError};

/// How a run (or a block of steps) ended.
#[derive(Debug)]
pub enum Flow {
    /// The block ran to its end.
    Continue,
    /// A `complete` step ended the run with these outputs.
    Complete(Map<String, Value>),
    /// A step failed (or a `fail` step ran): the run fails with this message.
    Fail(String),
    /// The run waits until this time (unix ms).
    Suspend(i64),
    /// Cancellation was requested.
    Cancelled,
    /// This node lost the run's lease: stop without recording anything more.
    Lost,
}

/// A run being executed.
pub struct RunState {
    pub run: RunRecord,
    pub wf: Workflow,
    /// `{trigger, inputs, vars, steps, secrets, run}` plus loop locals.
    pub ctx: Value,
    pub recorded: HashMap<String, StepRecord>,
    pub next_seq: i64,
    /// The run's secrets, to mask in everything recorded (shared by parallel branches).
    pub secrets: Arc<Redactor>,
    /// What the run's records hold so far (shared with its `parallel` branches).
    pub budget: Budget,
}

type BlockFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Flow, EngineError>> + Send + 'a>>;

/// After an engine error, how long before the run may be taken up again.
const RETRY_AFTER_ERROR_MS: i64 = 5_000;

/// Sequence numbers reserved for each `parallel` branch.
const PARALLEL_SEQ_SPAN: i64 = 1_000_000;

/// Where a block runs: the loop iterations around it.
#[derive(Clone, Default)]
struct Scope {
    suffix: String,
    iteration: Option<i64>,
}

impl Scope {
    fn path(&self, id: &str) -> String {
        format!("{id}{}", self.suffix)
    }
    fn enter(&self, i: i64) -> Scope {
        Scope {
            suffix: format!("{}#{i}", self.suffix),
            iteration: Some(i),
        }
    }
}

impl Engine {
    /// Runs a claimed run until it finishes or suspends, and records the result.
    pub async fn execute(self: &Arc<Self>, run: RunRecord) {
        let id = run.id.clone();
        let parent = run.parent_run_id.clone();
        let outcome = match self.prepare(run).await {
            Ok(mut st) => {
                let steps = st.wf.steps.clone();
                let flow = (self.block(&mut st, &steps, &Scope::default())).await;
                (flow, st.secrets)
            }
            Err(EngineError::Invalid(msg)) => (Ok(Flow::Fail(msg)), Arc::default()),
            Err(e) => (Err(e), Arc::default()),
        };
        let result = match outcome {
            (Ok(Flow::Continue), _) => self.finish(&id, "succeeded", Some("{}"), None).await,
            (Ok(Flow::Complete(outputs)), secrets) => {
                let mut v = Value::Object(outputs);
                secrets.redact(&mut v);
                let v = cut_json(v.to_string(), self.opts.record.step_bytes, Limit::Step);
                self.finish(&id, "succeeded", Some(&v), None).await
            }
            (Ok(Flow::Fail(msg)), secrets) => {
                let msg = secrets.redacted(&msg);
                let msg = cut_text(msg, self.opts.record.step_bytes, Limit::Step);
                self.finish(&id, "failed", None, Some(&msg)).await
            }
            (Ok(Flow::Lost), _) => {
                tracing::warn!(run = %id, "stopped: another node may have taken the run over");
                Ok(false)
            }
            (Ok(Flow::Cancelled), _) => {
                self.finish(&id, "cancelled", None, Some("cancelled")).await
            }
            (Ok(Flow::Suspend(at)), _) => {
                metrics::counter!("hookflow_runs_suspended_total").increment(1);
                match self.release_run(&id, at).await {
                    // A cancel asked while the run was still running was only flagged; now that
                    // it waits, apply it, or it would sleep (and go on) regardless.
                    Ok(true) => self.cancel_if_requested(&id).await,
                    other => other.map(|_| false),
                }
            }
            (Err(e), _) => {
                // The machinery failed (database down, a write refused): give the lease up so
                // that any node resumes the run a little later from what was recorded.
                tracing::warn!(run = %id, error = %e, "run interrupted; it will be resumed");
                self.give_up_lease(id.clone());
                Ok(false)
            }
        };
        match result {
            Ok(true) => {
                if let Some(parent) = parent {
                    let _ = self.wake_run(&parent).await;
                    self.runs_ready.notify_one();
                }
            }
            Ok(false) => {}
            Err(e) => {
                // Its end (or its suspension) was not recorded: any node resumes it from its
                // last recorded step once the database answers again.
                tracing::warn!(run = %id, error = %e, "cannot record the run's end; it will be resumed");
                self.give_up_lease(id);
            }
        }
    }

    /// Gives up this node's lease on a run it could not go on with, so that any node resumes it
    /// [`RETRY_AFTER_ERROR_MS`] from now. When the database cannot be reached (the usual reason
    /// the run failed) this is tried again every half second in the background, until it works
    /// or the lease would have run out anyway: the run resumes soon after the database is back,
    /// not a whole lease later.
    fn give_up_lease(self: &Arc<Self>, id: String) {
        let engine = self.clone();
        let give_up_by = hookflow_store::now_ms() + self.opts.lease_ms;
        tokio::spawn(async move {
            loop {
                let at = hookflow_store::now_ms() + RETRY_AFTER_ERROR_MS;
                match engine.store.expire_lease(&id, &engine.node, at).await {
                    Ok(()) => return,
                    Err(e) if hookflow_store::now_ms() >= give_up_by => {
                        tracing::warn!(run = %id, error = %e, "could not give the lease up; it runs out by itself");
                        return;
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
                }
            }
        });
    }

    /// After a run was put back to wait: cancels it if that was asked meanwhile. `true` if it
    /// was (it has ended, so its parent is woken).
    async fn cancel_if_requested(&self, id: &str) -> Result<bool, StoreError> {
        if !self.store.cancel_requested(id).await? {
            return Ok(false);
        }
        let run = self.store.cancel_run(id).await?;
        let cancelled = run.is_some_and(|r| r.status == "cancelled");
        if cancelled {
            metrics::counter!("hookflow_runs_finished_total", "status" => "cancelled").increment(1);
        }
        Ok(cancelled)
    }

    async fn finish(
        &self,
        id: &str,
        status: &str,
        outputs: Option<&str>,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = self.finish_run(id, status, outputs, error).await?;
        if done {
            metrics::counter!("hookflow_runs_finished_total", "status" => status.to_string())
                .increment(1);
        } else {
            tracing::warn!(run = %id, "run was taken over by another node before it finished here");
        }
        Ok(done)
    }

    /// Loads what a run needs: its workflow, trigger, inputs, secrets and recorded steps.
    async fn prepare(&self, run: RunRecord) -> Result<RunState, EngineError> {
        let rc = self.store.run_context(&run).await?;
        let (version, valid, def) = rc
            .workflow
            .clone()
            .ok_or_else(|| EngineError::Invalid("the workflow was deleted".into()))?;
        let def = def
            .filter(|_| valid)
            .ok_or_else(|| EngineError::Invalid("the workflow is invalid".into()))?;
        let wf = self.definition(&run.workflow_id, version, &def)?;
        let wf: Workflow = (*wf).clone();
        let trigger = self.trigger_of(&run, &rc)?;
        let given: Map<String, Value> = serde_json::from_str(&run.inputs).unwrap_or_default();
        let mut inputs = Map::new();
        for d in &wf.inputs {
            match given.get(&d.name).or(d.default.as_ref()) {
                Some(v) => {
                    inputs.insert(d.name.clone(), v.clone());
                }
                None if d.required => {
                    return Err(EngineError::Invalid(format!(
                        "input {:?} is required and was not given",
                        d.name
                    )));
                }
                None => {
                    inputs.insert(d.name.clone(), Value::Null);
                }
            }
        }
        let mut vars = Map::new();
        for d in &wf.variables {
            vars.insert(d.name.clone(), d.default.clone().unwrap_or(Value::Null));
        }
        let secrets: Map<String, Value> = self
            .store
            .secret_values()
            .await?
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let redaction = Arc::new(Redactor::for_secrets(&secrets));
        // A run claimed for the first time has recorded nothing yet.
        let recorded: HashMap<String, StepRecord> = if run.claims <= 1 {
            HashMap::new()
        } else {
            self.store
                .run_steps(&run.id)
                .await?
                .into_iter()
                .map(|s| (s.path.clone(), s))
                .collect()
        };
        let next_seq = recorded.values().map(|s| s.seq + 1).max().unwrap_or(0);
        let used: usize = recorded.values().map(recorded_bytes).sum();
        // A replay reads statuses, outputs and errors, never rendered inputs.
        let recorded = recorded
            .into_iter()
            .map(|(k, mut r)| {
                r.input = None;
                (k, r)
            })
            .collect();
        let ctx = json!({
            "trigger": trigger,
            "inputs": inputs,
            "vars": vars,
            "steps": {},
            "secrets": secrets,
            "run": {"id": run.id, "workflow": run.workflow_name},
        });
        Ok(RunState {
            run,
            wf,
            ctx,
            recorded,
            next_seq,
            secrets: redaction,
            budget: Budget::starting_at(used as u64),
        })
    }

    /// A workflow's parsed definition, cached by version (parsing is per change, not per run).
    fn definition(&self, id: &str, version: i64, text: &str) -> Result<Arc<Workflow>, EngineError> {
        if let Ok(cache) = self.definitions.lock()
            && let Some((v, wf)) = cache.get(id)
            && *v == version
        {
            return Ok(wf.clone());
        }
        let wf: Arc<Workflow> = Arc::new(
            serde_json::from_str(text)
                .map_err(|e| EngineError::Invalid(format!("stored definition unreadable: {e}")))?,
        );
        if let Ok(mut cache) = self.definitions.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(id.to_string(), (version, wf.clone()));
        }
        Ok(wf)
    }

    /// The `trigger` variables of a run, rebuilt from what was recorded.
    fn trigger_of(
        &self,
        run: &RunRecord,
        rc: &hookflow_store::runs::RunContext,
    ) -> Result<Value, EngineError> {
        let (event_id, event_name) = rc
            .event
            .as_ref()
            .map(|(i, n)| (i.as_str(), n.as_str()))
            .unwrap_or(("", ""));
        match run.trigger_kind.as_str() {
            "webhook" => {
                let d = rc
                    .delivery
                    .as_ref()
                    .ok_or_else(|| EngineError::Invalid("the delivery was deleted".into()))?;
                let headers: Vec<(String, String)> =
                    serde_json::from_str(&d.headers).unwrap_or_default();
                let received = chrono::DateTime::from_timestamp_millis(d.received_at)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .unwrap_or_default();
                Ok(hookflow_core::trigger::webhook_trigger(
                    &hookflow_core::trigger::Delivered {
                        webhook_id: &d.webhook_id,
                        webhook_name: rc.webhook_name.as_deref().unwrap_or(""),
                        event_id,
                        event_name,
                        delivery_id: &d.id,
                        received_at: &received,
                        content_type: d.content_type.as_deref(),
                        headers: &headers,
                        query: serde_json::from_str(&d.query).unwrap_or(Value::Null),
                        body: d.body.as_deref().unwrap_or_default(),
                    },
                ))
            }
            "schedule" => {
                let at = run
                    .scheduled_at
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .unwrap_or_default();
                Ok(hookflow_core::trigger::schedule_trigger(
                    event_id, event_name, &at,
                ))
            }
            kind => Ok(json!({ "kind": kind })),
        }
    }

    /// Runs a block of steps in order.
    ///
    /// Boxed with an explicit `Send`: the interpreter is recursive (blocks hold steps that hold
    /// blocks), and `parallel` spawns blocks on other tasks.
    fn block<'a>(
        self: &'a Arc<Self>,
        st: &'a mut RunState,
        steps: &'a [Step],
        scope: &'a Scope,
    ) -> BlockFuture<'a> {
        Box::pin(async move {
            for step in steps {
                let flow = self.step(st, step, scope).await?;
                // A control step whose block failed is recorded failed; with
                // `continue_on_error` the run goes on after it (leaf steps handle it themselves).
                if let Flow::Fail(_) = flow
                    && step.continue_on_error
                {
                    continue;
                }
                if !matches!(flow, Flow::Continue) {
                    return Ok(flow);
                }
            }
            Ok(Flow::Continue)
        })
    }

    fn set_output(st: &mut RunState, id: &str, output: Value) {
        if let Some(steps) = st.ctx.get_mut("steps").and_then(Value::as_object_mut) {
            steps.insert(id.to_string(), json!({ "output": output }));
        }
    }

    fn apply_variables(st: &mut RunState, values: &Value) {
        if let (Some(vars), Some(values)) = (
            st.ctx.get_mut("vars").and_then(Value::as_object_mut),
            values.as_object(),
        ) {
            for (k, v) in values {
                vars.insert(k.clone(), v.clone());
            }
        }
    }

    /// Records a step. What is recorded has every secret value replaced by `***` (SPEC §4);
    /// when that changed the output, the real output is kept sealed beside it, so a resumed run
    /// replays real values, not asterisks.
    async fn save(&self, st: &mut RunState, mut rec: StepRecord) -> Result<(), EngineError> {
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
        self.save_step(&rec).await?;
        // What a resumed run needs of a step recorded in this execution: its status (and the
        // sub-run a waiting step started); not the values, which the run holds already.
        if rec.status != "waiting" {
            rec.input = None;
            rec.output = None;
            rec.replay = None;
        }
        st.recorded.insert(rec.path.clone(), rec);
        Ok(())
    }

    /// A recorded step's real output (unsealed when it was redacted).
    fn recorded_output(&self, rec: &StepRecord) -> Value {
        let text = match &rec.replay {
            Some(sealed) => self.store.open_replay(&rec.run_id, sealed).ok(),
            None => rec.output.clone(),
        };
        text.as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or(Value::Null)
    }

    fn new_record(st: &mut RunState, step: &Step, path: &str, scope: &Scope) -> StepRecord {
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
            status: "running".into(),
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

    /// One step, replayed from its record when it has one.
    async fn step(
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
                    Err(e) => return self.leaf_failed(st, step, rec, e.to_string()).await,
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
                    outputs.push(last_output(st, steps));
                    if !matches!(flow, Flow::Continue) {
                        break;
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
                    if !matches!(flow, Flow::Continue) {
                        break;
                    }
                }
                restore(&mut st.ctx, "loop", saved);
                self.close_block(st, step, &mut rec, json!({ "iterations": i }), &flow)
                    .await?;
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
    async fn branches(
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
    async fn open_block(
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
    async fn close_block(
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
        if st
            .recorded
            .get(&rec.path)
            .is_some_and(|r| r.status == "succeeded")
        {
            Self::set_output(st, &step.id, output);
            return Ok(());
        }
        // A block that ended the run by failing fails its control step too.
        match flow {
            Flow::Fail(msg) => {
                rec.status = "failed".into();
                rec.error = Some(msg.clone());
            }
            _ => rec.status = "succeeded".into(),
        }
        rec.output = Some(output.to_string());
        rec.finished_at = Some(now_ms());
        Self::set_output(st, &step.id, output);
        self.save(st, rec.clone()).await
    }

    async fn leaf_failed(
        &self,
        st: &mut RunState,
        step: &Step,
        mut rec: StepRecord,
        msg: String,
    ) -> Result<Flow, EngineError> {
        rec.status = "failed".into();
        rec.error = Some(msg.clone());
        rec.attempts = rec.attempts.max(1);
        rec.finished_at = Some(now_ms());
        self.save(st, rec).await?;
        if step.continue_on_error {
            Self::set_output(st, &step.id, Value::Null);
            Ok(Flow::Continue)
        } else {
            Ok(Flow::Fail(format!("step {} failed: {msg}", step.id)))
        }
    }

    /// A leaf step: replayed, resumed (sleep, retry, sub-run) or executed.
    async fn leaf(
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
            match prev.status.as_str() {
                "succeeded" if lost => {}
                "succeeded" => {
                    if let StepKind::SetVariables { .. } = step.kind {
                        Self::apply_variables(st, &out);
                    }
                    return Ok(match &step.kind {
                        StepKind::Complete { .. } => {
                            Flow::Complete(out.as_object().cloned().unwrap_or_default())
                        }
                        _ => {
                            Self::set_output(st, &step.id, out);
                            Flow::Continue
                        }
                    });
                }
                "failed" => {
                    let msg = prev.error.clone().unwrap_or_default();
                    if step.continue_on_error {
                        Self::set_output(st, &step.id, Value::Null);
                        return Ok(Flow::Continue);
                    }
                    return Ok(Flow::Fail(format!("step {} failed: {msg}", step.id)));
                }
                "waiting" => {
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
                rec.input = Some(input.to_string());
                rec.status = "succeeded".into();
                rec.output = Some(Value::Object(outputs.clone()).to_string());
                rec.finished_at = Some(now_ms());
                self.save(st, rec).await?;
                Ok(Flow::Complete(outputs))
            }
            Ok((input, StepOut::Fail(msg))) => {
                rec.input = Some(input.to_string());
                rec.status = "failed".into();
                rec.error = Some(msg.clone());
                rec.finished_at = Some(now_ms());
                self.save(st, rec).await?;
                Ok(Flow::Fail(msg))
            }
            Ok((input, StepOut::Wait { until, output })) => {
                rec.input = Some(input.to_string());
                rec.status = "waiting".into();
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
                    rec.status = "waiting".into();
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

    async fn leaf_done(
        &self,
        st: &mut RunState,
        step: &Step,
        mut rec: StepRecord,
        output: Value,
    ) -> Result<Flow, EngineError> {
        rec.status = "succeeded".into();
        rec.error = None;
        rec.output = Some(output.to_string());
        rec.finished_at = Some(now_ms());
        if let StepKind::SetVariables { .. } = step.kind {
            Self::apply_variables(st, &output);
        }
        self.save(st, rec).await?;
        Self::set_output(st, &step.id, output);
        Ok(Flow::Continue)
    }

    /// A `run_workflow` step whose sub-run was started: its result, or wait more.
    async fn sub_run_result(
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
        match child.as_ref().map(|c| c.status.as_str()) {
            Some("succeeded") => {
                let outputs: Value = child
                    .and_then(|c| c.outputs)
                    .and_then(|o| serde_json::from_str(&o).ok())
                    .unwrap_or(json!({}));
                self.leaf_done(st, step, rec, outputs).await
            }
            Some("failed") | Some("cancelled") | None => {
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

fn step_is_slow(kind: &StepKind) -> bool {
    matches!(
        kind,
        StepKind::HttpRequest { .. } | StepKind::Sleep { .. } | StepKind::RunWorkflow { .. }
    )
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

/// The output of the last step of a block that has one.
fn last_output(st: &RunState, steps: &[Step]) -> Value {
    steps
        .iter()
        .rev()
        .find_map(|s| st.ctx["steps"].get(&s.id).map(|o| o["output"].clone()))
        .unwrap_or(Value::Null)
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Whether a value fits a declared variable type.
pub fn fits(t: &VarType, v: &Value) -> bool {
    match t {
        VarType::String | VarType::SecureString => v.is_string() || v.is_null(),
        VarType::Integer => v.is_i64() || v.is_u64() || v.is_null(),
        VarType::Number => v.is_number() || v.is_null(),
        VarType::Boolean => v.is_boolean() || v.is_null(),
        VarType::Datetime => {
            v.is_null()
                || v.as_str()
                    .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
        }
        VarType::Object => v.is_object() || v.is_null(),
        VarType::Array => v.is_array() || v.is_null(),
    }
}

/// The bytes a step's record holds (its fields and its sealed replay copy).
fn recorded_bytes(r: &StepRecord) -> usize {
    [&r.input, &r.output, &r.error]
        .iter()
        .map(|f| f.as_ref().map_or(0, String::len))
        .sum::<usize>()
        + r.replay.as_ref().map_or(0, Vec::len)
}
