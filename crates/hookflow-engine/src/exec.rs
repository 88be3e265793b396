//! The replaying interpreter. A run's steps are walked in document order; each step has a
//! *path* (its id plus the loop iterations around it) under which its record is kept. A step
//! with a finished record is not executed again: its recorded output is applied, so a resumed
//! run rebuilds its variables and `steps.*.output` exactly and continues where it stopped.
//! Suspensions (sleep, retry backoff, waiting for a sub-run) put the run back in the queue with
//! a due time instead of holding a worker.
//!
//! This module takes a run from its claim to its end; [`crate::control`] walks control steps
//! (condition, loops, parallel) and [`crate::leaf`] records, replays and resumes leaf steps.

use std::collections::HashMap;
use std::sync::Arc;

use hookflow_core::workflow::{Step, VarType, Workflow};
use hookflow_store::StoreError;
use hookflow_store::runs::{RunRecord, StepRecord};
use serde_json::{Map, Value, json};

use crate::record::{Budget, Limit, cut_json, cut_text};
use crate::redact::Redactor;
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
    /// A `break` step (its id) ran: the innermost loop ends.
    Break(String),
    /// A `continue` step ran: the innermost loop goes on with its next iteration.
    NextIteration,
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
    /// The span the steps being executed run under (the run's, or the enclosing step's), when
    /// traces are exported.
    pub trace: Option<opentelemetry::trace::SpanContext>,
}

type BlockFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Flow, EngineError>> + Send + 'a>>;

/// After an engine error, how long before the run may be taken up again.
const RETRY_AFTER_ERROR_MS: i64 = 5_000;

/// Where a block runs: the loop iterations around it.
#[derive(Clone, Default)]
pub(crate) struct Scope {
    suffix: String,
    pub(crate) iteration: Option<i64>,
}

impl Scope {
    pub(crate) fn path(&self, id: &str) -> String {
        format!("{id}{}", self.suffix)
    }
    pub(crate) fn enter(&self, i: i64) -> Scope {
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
        let span = crate::trace::run_span(&run);
        let outcome = match self.prepare(run).await {
            Ok(mut st) => {
                st.trace = span.as_ref().map(crate::trace::Span::context);
                let steps = st.wf.steps.clone();
                let flow = (self.block(&mut st, &steps, &Scope::default())).await;
                (flow, st.secrets)
            }
            Err(EngineError::Invalid(msg)) => (Ok(Flow::Fail(msg)), Arc::default()),
            Err(e) => (Err(e), Arc::default()),
        };
        if let Some(span) = span {
            crate::trace::end(span, "hookflow.run.status", &outcome.0);
        }
        let result = match outcome {
            // (`break`/`continue` outside a loop are refused at validation)
            (Ok(Flow::Continue | Flow::Break(_) | Flow::NextIteration), _) => {
                self.finish(&id, "succeeded", Some("{}"), None).await
            }
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
        // The version the run started on, whatever the workflow has become since (SPEC §10).
        // It was valid when the run started (nothing starts an invalid workflow's runs).
        let version = run.workflow_version;
        let def = rc
            .workflow
            .clone()
            .ok_or_else(|| EngineError::Invalid("the workflow was deleted".into()))?
            .ok_or_else(|| EngineError::Invalid("the workflow is invalid".into()))?;
        let wf = self.definition(&run.workflow_id, version, &def)?;
        let wf: Workflow = (*wf).clone();
        let trigger = Self::trigger_of(&run, &rc)?;
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
        // Secrets, and the values of declared secure_string inputs and variables (SPEC §11).
        let mut redaction = Redactor::for_secrets(&secrets);
        redaction.add_secure(&wf.inputs, &Value::Object(inputs.clone()));
        redaction.add_secure(&wf.variables, &Value::Object(vars.clone()));
        let redaction = Arc::new(redaction);
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
            "run": {
                "id": run.id,
                "workflow": run.workflow_name,
                "started_at": rfc3339_ms(run.started_at.unwrap_or(run.created_at)),
                "started_by": run.trigger_kind,
                "workflow_version": version,
            },
        });
        Ok(RunState {
            run,
            wf,
            ctx,
            recorded,
            next_seq,
            secrets: redaction,
            budget: Budget::starting_at(used as u64),
            trace: None,
        })
    }

    /// A workflow version's parsed definition, cached (versions never change: parsing is per
    /// save, not per run).
    fn definition(&self, id: &str, version: i64, text: &str) -> Result<Arc<Workflow>, EngineError> {
        let key = (id.to_string(), version);
        if let Ok(cache) = self.definitions.lock()
            && let Some(wf) = cache.get(&key)
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
            cache.insert(key, wf.clone());
        }
        Ok(wf)
    }

    /// The `trigger` variables of a run, rebuilt from what was recorded.
    pub fn trigger_of(
        run: &RunRecord,
        rc: &hookflow_store::runs::RunContext,
    ) -> Result<Value, EngineError> {
        let (event_id, event_name) = rc
            .event
            .as_ref()
            .map(|(i, n)| (i.as_str(), n.as_str()))
            .unwrap_or(("", ""));
        match run.trigger_kind.as_str() {
            // A replay sees the request it replays, as the delivery's own runs did.
            "webhook" | "replay" => {
                let d = rc
                    .delivery
                    .as_ref()
                    .ok_or_else(|| EngineError::Invalid("the delivery was deleted".into()))?;
                Ok(crate::filters::stored_trigger(
                    (&d.webhook_id, rc.webhook_name.as_deref().unwrap_or("")),
                    (event_id, event_name),
                    d,
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
    pub(crate) fn block<'a>(
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
}

/// Unix milliseconds as RFC 3339 in UTC with milliseconds (`trigger.received_at`'s form).
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
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
