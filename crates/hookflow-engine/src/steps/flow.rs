//! The steps that steer the run itself rather than compute: `sleep` (the run is suspended
//! until its time, holding no worker), `complete` (the run ends with its outputs) and `fail`
//! (the run fails with a message). `break` and `continue` act on their loop in the interpreter
//! (`crate::leaf`); as steps they only record an empty output.

use hookflow_store::now_ms;
use serde_json::{Map, Value, json};

use super::{StepError, StepOut, as_text, render};
use crate::Engine;
use crate::exec::RunState;

/// `sleep`: wait `duration_ms` from now.
pub(super) fn sleep(duration_ms: &u64) -> Result<(Value, StepOut), StepError> {
    let input = json!({ "duration_ms": duration_ms });
    Ok((
        input,
        StepOut::Wait {
            until: now_ms() + *duration_ms as i64,
            output: json!({}),
        },
    ))
}

/// `complete`: end the run with the rendered outputs.
pub(super) fn complete(
    engine: &Engine,
    st: &RunState,
    outputs: &Map<String, Value>,
) -> Result<(Value, StepOut), StepError> {
    let rendered = render(engine, st, &Value::Object(outputs.clone()))?;
    let map = rendered.as_object().cloned().unwrap_or_default();
    Ok((rendered, StepOut::Complete(map)))
}

/// `fail`: fail the run with the rendered message.
pub(super) fn fail(
    engine: &Engine,
    st: &RunState,
    message: &Value,
) -> Result<(Value, StepOut), StepError> {
    let rendered = render(engine, st, message)?;
    Ok((rendered.clone(), StepOut::Fail(as_text(&rendered))))
}
