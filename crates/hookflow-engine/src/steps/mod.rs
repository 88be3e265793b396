//! What each leaf step does: render its fields against the run's context and act. Control steps
//! (condition, loops, parallel) live in [`crate::control`]; recording, replaying and retrying a
//! leaf step is [`crate::leaf`].
//!
//! One file per step family; a new step kind is a function in its family's file and one arm
//! of [`run_leaf`]:
//! * `data.rs`: `set_variables`, `json_path`, `regex`;
//! * `flow.rs`: `sleep`, `complete`, `fail` (and the record of `break` / `continue`);
//! * `http.rs`: `http_request`;
//! * `sub_workflow.rs`: `run_workflow`;
//! * `python.rs`: `python`, run by `hookflow_python`.

mod data;
mod flow;
mod http;
pub(crate) mod python;
mod sub_workflow;

use hookflow_core::workflow::{Step, StepKind};
use serde_json::{Map, Value, json};

use crate::Engine;
use crate::exec::RunState;

pub use http::MAX_RESPONSE_BYTES;
pub use sub_workflow::SUB_RUN_RECHECK_MS;

/// What a leaf step produced.
pub enum StepOut {
    Output(Value),
    Complete(Map<String, Value>),
    Fail(String),
    /// Suspend the run until `until`; `output` is kept in the step record meanwhile.
    Wait {
        until: i64,
        output: Value,
    },
}

/// A failed attempt. `input` is the rendered input when rendering got that far.
pub struct StepError {
    pub message: String,
    pub retryable: bool,
    pub input: Option<Value>,
}

impl StepError {
    fn new(message: impl Into<String>, retryable: bool, input: Option<Value>) -> StepError {
        StepError {
            message: message.into(),
            retryable,
            input,
        }
    }
}

pub(crate) fn render(engine: &Engine, st: &RunState, v: &Value) -> Result<Value, StepError> {
    engine
        .sandbox
        .render(v, &st.ctx)
        .map_err(|e| StepError::new(e.to_string(), false, None))
}

/// A value that may be JSON held in text (SPEC §11: `json_path.input`, `for_each.items`): a
/// string is parsed; anything else is taken as it is.
pub(crate) fn json_text(v: Value, field: &str) -> Result<Value, StepError> {
    match v {
        Value::String(s) => serde_json::from_str(&s).map_err(|e| {
            StepError::new(
                format!("{field} is text that does not hold JSON: {e}"),
                false,
                None,
            )
        }),
        other => Ok(other),
    }
}

pub(crate) fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Executes one attempt of a leaf step. Returns the rendered input with the result.
pub async fn run_leaf(
    engine: &std::sync::Arc<Engine>,
    st: &mut RunState,
    step: &Step,
    path: &str,
) -> Result<(Value, StepOut), StepError> {
    match &step.kind {
        StepKind::SetVariables { values } => data::set_variables(engine, st, values),
        StepKind::Sleep { duration_ms } => flow::sleep(duration_ms),
        StepKind::JsonPath { input, query } => data::json_path(engine, st, input, query),
        StepKind::Regex { input, pattern } => data::regex(engine, st, input, pattern),
        // what they do to their loop is the interpreter's (crate::leaf)
        StepKind::Break {} | StepKind::Continue {} => Ok((json!({}), StepOut::Output(json!({})))),
        StepKind::Complete { outputs } => flow::complete(engine, st, outputs),
        StepKind::Fail { message } => flow::fail(engine, st, message),
        StepKind::RunWorkflow { workflow, inputs } => {
            sub_workflow::run_workflow(engine, st, path, workflow, inputs).await
        }
        StepKind::Python {
            script,
            args,
            variables,
        } => python::run(engine, st, step, script, args, variables).await,
        StepKind::HttpRequest {
            method,
            url,
            headers,
            query,
            body,
            fail_on_status,
        } => {
            http::http(
                engine,
                st,
                step,
                method,
                url,
                headers,
                query,
                body,
                *fail_on_status,
            )
            .await
        }
        other => Err(StepError::new(
            format!("{other:?} is not a leaf step"),
            false,
            None,
        )),
    }
}
