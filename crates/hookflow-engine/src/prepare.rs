//! Loading a run before it is executed: the workflow version it started on (parsed once per
//! version and cached), its `trigger` rebuilt from what was recorded, its inputs with their
//! defaults, its variables, the secrets and secure values to mask, and the steps it has already
//! recorded (for replay). The result is the [`RunState`] the interpreter in [`crate::exec`] walks.

use std::collections::HashMap;
use std::sync::Arc;

use hookflow_core::redact::Redactor;
use hookflow_core::workflow::Workflow;
use hookflow_store::runs::{RunContext, RunRecord, StepRecord, TriggerKind};
use serde_json::{Map, Value, json};

use crate::exec::RunState;
use crate::record::Budget;
use crate::{Engine, EngineError};

impl Engine {
    /// Loads what a run needs: its workflow, trigger, inputs, secrets and recorded steps;
    /// `context` when its claim read it already.
    pub(crate) async fn prepare(
        &self,
        run: RunRecord,
        context: Option<RunContext>,
    ) -> Result<RunState, EngineError> {
        let rc = match context {
            Some(rc) => rc,
            None => self.store.run_context(&run).await?,
        };
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
        let secrets = self.secrets(&rc.secrets_generation).await?;
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
            "secrets": *secrets,
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
    pub fn trigger_of(run: &RunRecord, rc: &RunContext) -> Result<Value, EngineError> {
        let (event_id, event_name) = rc
            .event
            .as_ref()
            .map(|(i, n)| (i.as_str(), n.as_str()))
            .unwrap_or(("", ""));
        match run.trigger_kind {
            // A replay sees the request it replays, as the delivery's own runs did.
            TriggerKind::Webhook | TriggerKind::Replay => {
                let d = rc
                    .delivery
                    .as_ref()
                    .ok_or_else(|| EngineError::Invalid("the delivery was deleted".into()))?;
                Ok(d.recorded(rc.webhook_name.as_deref().unwrap_or(""))
                    .trigger((event_id, event_name)))
            }
            TriggerKind::Schedule => {
                let at = run
                    .scheduled_at
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .unwrap_or_default();
                Ok(hookflow_core::trigger::schedule_trigger(
                    event_id, event_name, &at,
                ))
            }
            kind => Ok(json!({ "kind": kind.as_str() })),
        }
    }
}

/// Unix milliseconds as RFC 3339 in UTC with milliseconds (`trigger.received_at`'s form).
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The bytes a step's record holds (its fields and its sealed replay copy).
fn recorded_bytes(r: &StepRecord) -> usize {
    [&r.input, &r.output, &r.error]
        .iter()
        .map(|f| f.as_ref().map_or(0, String::len))
        .sum::<usize>()
        + r.replay.as_ref().map_or(0, Vec::len)
}

impl Engine {
    /// The `secrets` object at `generation` (read with the run's context): the one held since a
    /// run read the same generation, else the secrets read and unsealed again. Secrets read
    /// after the generation was are at least as new as it, so a change is never missed: a run
    /// that reads a newer generation reads the secrets again.
    async fn secrets(
        &self,
        generation: &Option<String>,
    ) -> Result<Arc<Map<String, Value>>, EngineError> {
        if let Ok(held) = self.secrets.lock()
            && let Some((at, secrets)) = held.as_ref()
            && at == generation
        {
            return Ok(secrets.clone());
        }
        let secrets = Arc::new(Redactor::secrets_object(self.store.secret_values().await?));
        if let Ok(mut held) = self.secrets.lock() {
            *held = Some((generation.clone(), secrets.clone()));
        }
        Ok(secrets)
    }
}
