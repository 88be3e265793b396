//! The `http_request` step: renders its URL, headers, query and body, refuses a destination in
//! the operator's deny list (an IP-literal URL here, a host name in the client's resolver, see
//! [`crate::deny`]), sends the request with the step's timeout and trace context, and reads at
//! most [`MAX_RESPONSE_BYTES`] of the answer. Transport errors and 429/5xx answers are
//! retryable; refusals by configuration are not.

use std::time::Duration;

use hookflow_core::workflow::Step;
use serde_json::{Map, Value, json};

use super::{StepError, StepOut, as_text, render};
use crate::Engine;
use crate::exec::RunState;

/// The largest response body an `http_request` reads (10 MiB).
pub const MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;

#[allow(clippy::too_many_arguments)]
pub(super) async fn http(
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
