//! The replaying interpreter. A run's steps are walked in document order; each step has a
//! *path* (its id plus the loop iterations around it) under which its record is kept. A step
//! with a finished record is not executed again: its recorded output is applied, so a resumed
//! run rebuilds its variables and `steps.*.output` exactly and continues where it stopped.
//! Suspensions (sleep, retry backoff, waiting for a sub-run) put the run back in the queue with
//! a due time instead of holding a worker.
//!
//! This module takes a run from its claim to its end (lease, cancellation, finish) and walks
//! blocks of steps; [`crate::prepare`] loads what a run needs before it starts,
//! [`crate::control`] walks control steps (condition, loops, parallel) and [`crate::leaf`]
//! records, replays and resumes leaf steps.

use std::collections::HashMap;
use std::sync::Arc;

use hookflow_core::redact::Redactor;
use hookflow_core::workflow::{Step, Workflow};
use hookflow_store::StoreError;
use hookflow_store::runs::{ClaimedRun, RunRecord, RunStatus, StepRecord};
use serde_json::{Map, Value};

use crate::record::{Budget, Limit, cut_json, cut_text};
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
    pub async fn execute(self: &Arc<Self>, claimed: ClaimedRun) {
        let ClaimedRun { run, context } = claimed;
        let id = run.id.clone();
        let parent = run.parent_run_id.clone();
        let span = crate::trace::run_span(&run);
        let outcome = match self.prepare(run, context).await {
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
                self.finish(&id, RunStatus::Succeeded, Some("{}"), None)
                    .await
            }
            (Ok(Flow::Complete(outputs)), secrets) => {
                let mut v = Value::Object(outputs);
                secrets.redact(&mut v);
                let v = cut_json(v.to_string(), self.opts.record.step_bytes, Limit::Step);
                self.finish(&id, RunStatus::Succeeded, Some(&v), None).await
            }
            (Ok(Flow::Fail(msg)), secrets) => {
                let msg = secrets.redacted(&msg);
                let msg = cut_text(msg, self.opts.record.step_bytes, Limit::Step);
                self.finish(&id, RunStatus::Failed, None, Some(&msg)).await
            }
            (Ok(Flow::Lost), _) => {
                tracing::warn!(run = %id, "stopped: another node may have taken the run over");
                Ok(false)
            }
            (Ok(Flow::Cancelled), _) => {
                self.finish(&id, RunStatus::Cancelled, None, Some("cancelled"))
                    .await
            }
            (Ok(Flow::Suspend(at)), _) => {
                metrics::counter!("hookflow_runs_suspended_total").increment(1);
                match self.queue.release(&id, &self.node, at).await {
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
                    // Woken (and this node's workers told) whatever the answer.
                    let _ = self.queue.wake(&parent).await;
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
                match engine.queue.give_up(&id, &engine.node, at).await {
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
        let run = self.queue.cancel(id).await?;
        let cancelled = run.is_some_and(|r| r.status == RunStatus::Cancelled);
        if cancelled {
            metrics::counter!("hookflow_runs_finished_total", "status" => RunStatus::Cancelled.as_str()).increment(1);
        }
        Ok(cancelled)
    }

    async fn finish(
        &self,
        id: &str,
        status: RunStatus,
        outputs: Option<&str>,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = self
            .queue
            .finish(id, &self.node, status, outputs, error)
            .await?;
        if done {
            metrics::counter!("hookflow_runs_finished_total", "status" => status.as_str())
                .increment(1);
        } else {
            tracing::warn!(run = %id, "run was taken over by another node before it finished here");
        }
        Ok(done)
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
