//! What each leaf step does: render its fields against the run's context and act. Control steps
//! (condition, loops, parallel) live in [`crate::exec`].

use std::time::Duration;

use hookflow_core::workflow::{Step, StepKind};
use hookflow_store::now_ms;
use serde_json::{Map, Value, json};

use crate::Engine;
use crate::exec::{RunState, kind_of};

/// The largest response body an `http_request` reads (10 MiB).
pub const MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;

/// How often a run waiting for a sub-run looks at it, besides being woken when it ends.
pub const SUB_RUN_RECHECK_MS: i64 = 2_000;

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
        StepKind::SetVariables { values } => {
            let rendered = render(engine, st, &Value::Object(values.clone()))?;
            if let Some(obj) = rendered.as_object() {
                for (k, v) in obj {
                    let decl = st.wf.variables.iter().find(|d| &d.name == k);
                    match decl {
                        None => {
                            return Err(StepError::new(
                                format!("{k:?} is not a declared variable"),
                                false,
                                Some(rendered.clone()),
                            ));
                        }
                        Some(d) if !crate::exec::fits(&d.r#type, v) => {
                            return Err(StepError::new(
                                format!(
                                    "{k:?} is declared {} but the value is {}",
                                    d.r#type,
                                    kind_of(v)
                                ),
                                false,
                                Some(rendered.clone()),
                            ));
                        }
                        Some(_) => {}
                    }
                }
            }
            Ok((rendered.clone(), StepOut::Output(rendered)))
        }
        StepKind::Sleep { duration_ms } => {
            let input = json!({ "duration_ms": duration_ms });
            Ok((
                input,
                StepOut::Wait {
                    until: now_ms() + *duration_ms as i64,
                    output: json!({}),
                },
            ))
        }
        StepKind::JsonPath { input, query } => {
            let value = json_text(render(engine, st, input)?, "input")?;
            let query = match render(engine, st, &Value::String(query.clone()))? {
                Value::String(q) => q,
                other => {
                    return Err(StepError::new(
                        format!("the query must be text, got {}", kind_of(&other)),
                        false,
                        Some(json!({ "input": value, "query": other })),
                    ));
                }
            };
            let query = &query;
            let path = serde_json_path::JsonPath::parse(query).map_err(|e| {
                StepError::new(
                    format!("bad JSONPath {query:?}: {e}"),
                    false,
                    Some(json!({ "input": value, "query": query })),
                )
            })?;
            // `$..*` repeats every part of a value once per level above it: the results are
            // copied only up to what one run may hold (crate::record).
            let mut list = crate::record::BoundedList::new(engine.opts.record.run_bytes);
            for v in path.query(&value).all() {
                list.push_copy(v);
            }
            let values = list.into_vec();
            let first = values.first().cloned().unwrap_or(Value::Null);
            Ok((
                json!({ "input": value, "query": query }),
                StepOut::Output(json!({ "values": values, "value": first })),
            ))
        }
        StepKind::Regex { input, pattern } => {
            let value = render(engine, st, input)?;
            let text = as_text(&value);
            let re = regex::Regex::new(pattern)
                .map_err(|e| StepError::new(format!("bad pattern: {e}"), false, None))?;
            let input = json!({ "input": text, "pattern": pattern });
            let out = match re.captures(&text) {
                Some(c) => {
                    let groups: Vec<Value> = c
                        .iter()
                        .map(|g| {
                            g.map(|m| Value::String(m.as_str().into()))
                                .unwrap_or(Value::Null)
                        })
                        .collect();
                    let mut named = Map::new();
                    for name in re.capture_names().flatten() {
                        named.insert(
                            name.to_string(),
                            c.name(name)
                                .map(|m| Value::String(m.as_str().into()))
                                .unwrap_or(Value::Null),
                        );
                    }
                    json!({ "matched": true, "groups": groups, "named": named })
                }
                None => json!({ "matched": false, "groups": [], "named": {} }),
            };
            Ok((input, StepOut::Output(out)))
        }
        // what they do to their loop is the interpreter's (crate::leaf)
        StepKind::Break {} | StepKind::Continue {} => Ok((json!({}), StepOut::Output(json!({})))),
        StepKind::Complete { outputs } => {
            let rendered = render(engine, st, &Value::Object(outputs.clone()))?;
            let map = rendered.as_object().cloned().unwrap_or_default();
            Ok((rendered, StepOut::Complete(map)))
        }
        StepKind::Fail { message } => {
            let rendered = render(engine, st, message)?;
            Ok((rendered.clone(), StepOut::Fail(as_text(&rendered))))
        }
        StepKind::RunWorkflow { workflow, inputs } => {
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
            if !target.valid || !target.enabled {
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
                id: child_id.clone(),
                workflow_id: target.id.clone(),
                workflow_name: target.name.clone(),
                trigger_kind: "workflow".into(),
                delivery_id: None,
                event_id: None,
                scheduled_at: None,
                inputs: rendered.to_string(),
                parent_run_id: Some(st.run.id.clone()),
                depth: st.run.depth + 1,
                replay_of: None,
                // The sub-run's span continues this step's.
                traceparent: st.trace.as_ref().map(crate::trace::header),
            };
            match engine.insert_sub_run(new).await {
                Ok(true) => {}
                Ok(false) => {
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
            engine.runs_ready.notify_one();
            Ok((
                input,
                StepOut::Wait {
                    until: now_ms() + SUB_RUN_RECHECK_MS,
                    output: json!({ "run_id": child_id }),
                },
            ))
        }
        StepKind::Python {
            script,
            args,
            variables,
        } => crate::python::run(engine, st, step, script, args, variables).await,
        StepKind::HttpRequest {
            method,
            url,
            headers,
            query,
            body,
            fail_on_status,
        } => {
            http(
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

#[allow(clippy::too_many_arguments)]
async fn http(
    engine: &Engine,
    st: &RunState,
    step: &Step,
    method: &str,
    url: &Value,
    headers: &Option<Value>,
    query: &Option<Value>,
    body: &Option<Value>,
    fail_on_status: bool,
) -> Result<(Value, StepOut), StepError> {
    let url_v = render(engine, st, url)?;
    let headers_v = match headers {
        Some(h) => render(engine, st, h)?,
        None => json!({}),
    };
    let query_v = match query {
        Some(q) => render(engine, st, q)?,
        None => json!({}),
    };
    let body_v = match body {
        Some(b) => Some(render(engine, st, b)?),
        None => None,
    };
    let input = json!({
        "method": method.to_ascii_uppercase(),
        "url": url_v,
        "headers": headers_v,
        "query": query_v,
        "body": body_v,
    });
    let url_text = as_text(&url_v);
    let parsed = reqwest::Url::parse(&url_text).map_err(|e| {
        StepError::new(
            format!("bad URL {url_text:?}: {e}"),
            false,
            Some(input.clone()),
        )
    })?;
    engine
        .deny
        .check_url(&parsed)
        .map_err(|d| StepError::new(d.0, false, Some(input.clone())))?;
    let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).map_err(|_| {
        StepError::new(format!("bad method {method:?}"), false, Some(input.clone()))
    })?;
    let timeout = Duration::from_millis(step.timeout_ms.unwrap_or(engine.opts.http_timeout_ms));
    let mut req = engine.http.request(m, parsed).timeout(timeout);
    if let Some(h) = headers_v.as_object() {
        for (k, v) in h {
            req = req.header(k.as_str(), as_text(v));
        }
    }
    req = crate::trace::propagate(req, st.trace.as_ref(), &headers_v);
    if let Some(q) = query_v.as_object() {
        let pairs: Vec<(String, String)> = q.iter().map(|(k, v)| (k.clone(), as_text(v))).collect();
        req = req.query(&pairs);
    }
    match &body_v {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => req = req.body(s.clone()),
        Some(other) => {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(other.to_string())
        }
    }
    let resp = req.send().await.map_err(|e| {
        // A host name resolving into a denied range: refused by configuration, not retried.
        if let Some(d) = crate::deny::Denied::find(&e) {
            return StepError::new(d.0.clone(), false, Some(input.clone()));
        }
        StepError::new(
            transport_error("request failed", e, timeout),
            true,
            Some(input.clone()),
        )
    })?;
    let status = resp.status().as_u16();
    let mut rh = Map::new();
    for (k, v) in resp.headers() {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        match rh.get_mut(k.as_str()) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&v);
            }
            _ => {
                rh.insert(k.as_str().to_string(), Value::String(v));
            }
        }
    }
    let is_json = rh
        .get("content-type")
        .and_then(Value::as_str)
        .is_some_and(|c| c.contains("json"));
    // Read at most MAX_RESPONSE_BYTES: a huge answer fails the step instead of the server.
    let mut resp = resp;
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(StepError::new(
                        format!(
                            "the response is larger than {MAX_RESPONSE_BYTES} bytes, the most a \
                             step records"
                        ),
                        false,
                        Some(input),
                    ));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                return Err(StepError::new(
                    transport_error("reading the response failed", e, timeout),
                    true,
                    Some(input.clone()),
                ));
            }
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body_out = if is_json {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    } else {
        Value::String(text)
    };
    let output = json!({ "status": status, "headers": rh, "body": body_out });
    if fail_on_status && status >= 400 {
        let retryable = status == 429 || status >= 500;
        return Err(StepError {
            message: format!(
                "the server answered {status}: {}",
                truncate(&output["body"])
            ),
            retryable,
            input: Some(input),
        });
    }
    Ok((input, StepOut::Output(output)))
}

/// A transport error as a user reads it: a timeout says so (reqwest's own text only names the
/// URL), anything else with its causes (`connection refused`, ...).
fn transport_error(what: &str, e: reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!(
            "{what}: the request timed out after {}",
            hookflow_core::workflow::format_duration(timeout.as_millis() as u64)
        );
    }
    // Without the URL: it may carry a secret in a form redaction would not recognise.
    let e = e.without_url();
    let mut msg = format!("{what}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = cause.source();
    }
    msg
}

fn truncate(v: &Value) -> String {
    let s = as_text(v);
    if s.len() > 300 {
        let mut cut = 300;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &s[..cut])
    } else {
        s
    }
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
