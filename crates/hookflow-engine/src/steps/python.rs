//! The `python` step (SPEC §11): renders the arguments to text, runs the script through
//! [`hookflow_python`] (isolated, limited), and checks the module-level variables it left
//! against their declared types. Output: `{exit_code, stdout, stderr, variables}`.

use std::time::Duration;

use hookflow_core::workflow::{Step, StepKind, VarDecl, VarType, fits};
use hookflow_python::{DEFAULT_TIMEOUT, Job, RunError};
use serde_json::{Map, Value, json};

use super::{StepError, StepOut, as_text, render};
use crate::Engine;
use crate::exec::{RunState, kind_of};

pub(crate) async fn run(
    engine: &Engine,
    st: &RunState,
    step: &Step,
    script: &str,
    args: &[Value],
    variables: &[VarDecl],
) -> Result<(Value, StepOut), StepError> {
    let mut texts = Vec::with_capacity(args.len());
    for a in args {
        let text = as_text(&render(engine, st, a)?);
        texts.push(text);
    }
    let timeout = step
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_TIMEOUT);
    let input = json!({
        "script": script,
        "args": texts,
        "variables": variables.iter().map(|d| json!({"name": d.name, "type": d.r#type})).collect::<Vec<_>>(),
        "timeout_ms": timeout.as_millis() as u64,
    });
    let fail = |message: String, retryable: bool| StepError {
        message,
        retryable,
        input: Some(input.clone()),
    };
    if let Some(i) = texts.iter().position(|t| t.contains('\0')) {
        return Err(fail(
            format!("argument {i} holds a NUL character, which no argument can carry"),
            false,
        ));
    }
    let Some(py) = engine.opts.python.as_ref() else {
        return Err(fail(
            "python steps are not available on this server (it was started without a python \
             runner)"
                .into(),
            false,
        ));
    };
    let job = Job {
        script: script.to_string(),
        args: texts.clone(),
        variables: variables.iter().map(|d| d.name.clone()).collect(),
        timeout,
    };
    let out = py.run(&job).await.map_err(|e| match e {
        RunError::Unavailable(why) => fail(format!("python steps cannot run here: {why}"), false),
        RunError::Io(why) => fail(why, true),
    })?;
    metrics::histogram!("hookflow_python_step_seconds").record(out.elapsed.as_secs_f64());
    if let Some(why) = out.failure(&py.opts, &job) {
        return Err(fail(why, false));
    }
    let values = check_variables(variables, out.variables.as_ref()).map_err(|m| fail(m, false))?;
    Ok((
        input,
        StepOut::Output(json!({
            "exit_code": out.exit_code,
            "stdout": out.stdout_text(),
            "stderr": out.stderr_text(),
            "variables": values,
        })),
    ))
}

/// From now on, masks in everything the run records the values of a python step's variables
/// declared `secure_string` (SPEC §11), its own record included.
pub(crate) fn mask_secure_variables(st: &mut RunState, step: &Step, output: &Value) {
    if let StepKind::Python { variables, .. } = &step.kind
        && variables.iter().any(|d| d.r#type == VarType::SecureString)
    {
        std::sync::Arc::make_mut(&mut st.secrets).add_secure(variables, &output["variables"]);
    }
}

/// The declared variables' values, or why one is missing or does not fit its type.
fn check_variables(decls: &[VarDecl], found: Option<&Value>) -> Result<Map<String, Value>, String> {
    let mut values = Map::new();
    if decls.is_empty() {
        return Ok(values);
    }
    let Some(found) = found else {
        return Err(
            "the script's variables could not be read back (did it close or write to \
                    the descriptor hookflow reads them from?)"
                .into(),
        );
    };
    for d in decls {
        let entry = &found[&d.name];
        if entry["missing"] == Value::Bool(true) || entry.is_null() {
            return Err(format!(
                "the script did not set the variable \"{}\" (declared {}) at module level",
                d.name, d.r#type
            ));
        }
        let pytype = entry["type"].as_str().unwrap_or("?");
        if let Some(e) = entry["error"].as_str() {
            return Err(format!(
                "the variable \"{}\" holds a Python {pytype}, which is not JSON ({e}); declared {}",
                d.name, d.r#type
            ));
        }
        let v = entry.get("value").cloned().unwrap_or(Value::Null);
        if fits(d.r#type, &v).is_err() {
            let extra = match d.r#type {
                VarType::Datetime => " (an RFC 3339 text or a datetime.datetime)",
                _ => "",
            };
            return Err(format!(
                "the variable \"{}\" is declared {}{extra} but the script left a Python {pytype} \
                 ({})",
                d.name,
                d.r#type,
                kind_of(&v)
            ));
        }
        values.insert(d.name.clone(), v);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(name: &str, t: VarType) -> VarDecl {
        VarDecl {
            name: name.into(),
            r#type: t,
            default: None,
            required: false,
        }
    }

    #[test]
    fn variables_are_checked_against_their_types() {
        let found = json!({
            "n": {"type": "int", "value": 3},
            "b": {"type": "bool", "value": true},
            "s": {"missing": true},
            "x": {"type": "set", "error": "Object of type set is not JSON serializable"},
            "t": {"type": "datetime", "value": "2026-12-06T10:00:00+00:00"},
        });
        let ok = check_variables(
            &[decl("n", VarType::Integer), decl("t", VarType::Datetime)],
            Some(&found),
        )
        .unwrap();
        assert_eq!(ok["n"], 3);
        let e = check_variables(&[decl("b", VarType::Integer)], Some(&found)).unwrap_err();
        assert!(
            e.contains("declared integer but the script left a Python bool"),
            "{e}"
        );
        let e = check_variables(&[decl("s", VarType::String)], Some(&found)).unwrap_err();
        assert!(e.contains("did not set the variable \"s\""), "{e}");
        let e = check_variables(&[decl("x", VarType::Array)], Some(&found)).unwrap_err();
        assert!(e.contains("holds a Python set, which is not JSON"), "{e}");
        let e = check_variables(&[decl("n", VarType::Datetime)], Some(&found)).unwrap_err();
        assert!(e.contains("declared datetime (an RFC 3339"), "{e}");
        assert!(check_variables(&[decl("n", VarType::Integer)], None).is_err());
        assert!(check_variables(&[], None).unwrap().is_empty());
    }
}
