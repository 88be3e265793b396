//! Translators of leaf activities: HTTP requests, Python scripts, JSONPath queries, regular
//! expressions, set variables, sleep, replace string.

use serde_json::{Map, Value, json};

use super::context::{Ctx, title};
use super::export::str_of;
use super::mapping::query_type;
use super::refs::{Piece, Ref, has_refs, pieces};
use super::resolve::escape_text;

/// A timeout in seconds as a duration (`180s`), when there is one.
fn timeout(v: &Value) -> Option<Value> {
    let secs = v
        .as_u64()
        .or_else(|| v.as_f64().map(|f| f.ceil() as u64))
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))?;
    (secs > 0).then(|| json!(format!("{}s", secs.min(86_400))))
}

fn nonempty(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.trim().is_empty())
}

/// `web-service.http_request`: target base URL + relative URL, method, headers (content type,
/// accept, custom), body as text, timeout, and `continue_on_error_status_code` as
/// `fail_on_status: false`.
pub fn http_request(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let p = &act["properties"];
    let id = ctx.step_id(act);
    let mut headers = Map::new();
    if let Some(ct) = nonempty(&p["content_type"]) {
        headers.insert("Content-Type".into(), ctx.template(&json!(ct), true));
    }
    if let Some(acc) = nonempty(&p["accept"]) {
        headers.insert("Accept".into(), ctx.template(&json!(acc), true));
    }
    for h in p["custom_headers"].as_array().into_iter().flatten() {
        if let Some(name) = nonempty(&h["name"]) {
            headers.insert(name.trim().to_string(), ctx.template(&h["value"], true));
        }
    }
    let rel = ctx.template(&json!(p["relative_url"].as_str().unwrap_or_default()), true);
    let target = ctx.activity_target(act);
    if p["runtime_user"]["override_target_runtime_user"].as_bool() == Some(true) {
        ctx.gap(
            "runtime_user",
            "the request used its own account instead of the target's: put those credentials in the target's auth_secret",
        );
    }
    match ctx.target_url(&target, &rel, &mut headers) {
        Ok(url) => {
            let mut s = ctx.step(act, &id, "http_request");
            s.insert(
                "method".into(),
                json!(p["method"].as_str().unwrap_or("GET").to_uppercase()),
            );
            s.insert("url".into(), url);
            if !headers.is_empty() {
                s.insert("headers".into(), Value::Object(headers));
            }
            match &p["body"] {
                Value::String(b) if b.is_empty() => {}
                Value::Null => {}
                Value::String(b) => {
                    let body = ctx.template(&json!(b), true);
                    s.insert("body".into(), body);
                }
                other => {
                    let body = ctx.template(other, false);
                    s.insert("body".into(), body);
                }
            }
            if let Some(t) = timeout(&p["action_timeout"]) {
                s.insert("timeout".into(), t);
            }
            if p["continue_on_error_status_code"].as_bool() == Some(true) {
                s.insert("fail_on_status".into(), json!(false));
            }
            vec![Value::Object(s)]
        }
        Err(why) => {
            let mut s = ctx.step(act, &id, "fail");
            s.remove("continue_on_error");
            s.insert(
                "message".into(),
                json!(format!(
                    "HTTP request \"{}\" not sent: {why}",
                    escape_text(&title(act).unwrap_or_default())
                )),
            );
            vec![Value::Object(s)]
        }
    }
}

/// `python3.script`: script, arguments as text, script queries as typed variables, timeout.
pub fn python(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let p = &act["properties"];
    let id = ctx.step_id(act);
    let mut s = ctx.step(act, &id, "python");
    s.insert(
        "script".into(),
        json!(p["script"].as_str().unwrap_or_default()),
    );
    let args: Vec<Value> = p["script_arguments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| match a {
            Value::String(_) => ctx.template(a, true),
            other => json!(match other {
                Value::Null => String::new(),
                v => v.to_string(),
            }),
        })
        .collect();
    if !args.is_empty() {
        s.insert("args".into(), json!(args));
    }
    let mut vars = Vec::new();
    for q in p["script_queries"].as_array().into_iter().flatten() {
        let name = str_of(q, &["script_query"]).unwrap_or_default();
        if !hookflow_core::workflow::is_identifier(name) {
            ctx.gap(
                "python",
                format!("script variable {name:?} is not a Python identifier"),
            );
            continue;
        }
        let ty = query_type(str_of(q, &["script_query_type"]).unwrap_or("string"));
        vars.push(json!({"name": name, "type": ty}));
    }
    if !vars.is_empty() {
        s.insert("variables".into(), json!(vars));
    }
    if let Some(t) = timeout(&p["action_timeout"]) {
        s.insert("timeout".into(), t);
    }
    vec![Value::Object(s)]
}

/// Whether an RFC 9535 query selects at most one node (no wildcard, descendant, filter, slice
/// or union): its result is `value`, otherwise `values`.
pub fn is_singular(query: &str) -> bool {
    !(query.contains('*')
        || query.contains("..")
        || query.contains('?')
        || query.contains(',')
        || query.contains(':'))
}

/// A JSONPath query in RFC 9535 form, when it is one: a missing leading `$` is added, and
/// the old product's (Jayway's) `.[` is written `[`.
fn rfc9535(query: &str) -> Option<String> {
    let q = query.trim().replace(".[", "[");
    let q = q.as_str();
    let q = if q.starts_with('$') {
        q.to_string()
    } else if q.starts_with('[') {
        format!("${q}")
    } else {
        format!("$.{q}")
    };
    serde_json_path::JsonPath::parse(&q).ok().map(|_| q)
}

/// `corejava.jsonpathquery`: one `json_path` step per query.
pub fn json_path(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let p = &act["properties"];
    let info = ctx.info(act);
    let input = ctx.template(&p["input_json"], false);
    let mut out = Vec::new();
    for q in p["jsonpath_queries"].as_array().into_iter().flatten() {
        let name = str_of(q, &["jsonpath_query_name"]).unwrap_or_default();
        let query = str_of(q, &["jsonpath_query"]).unwrap_or_default();
        let Some((qid, _)) = info.queries.get(name).cloned() else {
            continue;
        };
        let query = if has_refs(query) {
            ctx.template(&json!(query), true)
        } else {
            match rfc9535(query) {
                Some(q) => json!(q),
                None => {
                    ctx.gap(
                        "jsonpath",
                        format!("query {query:?} is not RFC 9535 JSONPath (Jayway-only syntax): rewrite it"),
                    );
                    ctx.untranslated = true;
                    let mut s = ctx.step(act, &qid, "fail");
                    s.remove("continue_on_error");
                    s.insert(
                        "message".into(),
                        json!(format!(
                            "not imported from SecureX: JSONPath query {} is not RFC 9535",
                            escape_text(&serde_json::to_string(query).unwrap_or_default())
                        )),
                    );
                    out.push(Value::Object(s));
                    continue;
                }
            }
        };
        let mut s = ctx.step(act, &qid, "json_path");
        if !out.is_empty() || info.queries.len() > 1 {
            let t = title(act).unwrap_or_default();
            s.insert("title".into(), json!(format!("{t} ({name})")));
        }
        s.insert("input".into(), input.clone());
        s.insert("query".into(), query);
        out.push(Value::Object(s));
    }
    out
}

/// `core.matchregex`: input and pattern (matches → `matched`, `groups`).
pub fn regex(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let p = &act["properties"];
    let id = ctx.step_id(act);
    let pattern = p["input_regex"].as_str().unwrap_or_default();
    if has_refs(pattern) {
        return vec![ctx.fail_step(
            act,
            "regex",
            "a pattern built from variables is not supported",
        )];
    }
    if let Err(e) = regex::Regex::new(pattern) {
        let why = format!(
            "pattern {pattern:?} is not supported (no look-around or back-references): {e}"
        );
        return vec![ctx.fail_step(act, "regex", &why)];
    }
    let input = ctx.template(&p["input_string"], true);
    let mut s = ctx.step(act, &id, "regex");
    s.insert("input".into(), input);
    s.insert("pattern".into(), json!(pattern));
    vec![Value::Object(s)]
}

/// `core.set_multiple_variables`: each variable to update → `values` of one `set_variables`.
pub fn set_variables(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let p = &act["properties"];
    let id = ctx.step_id(act);
    let mut updates: Vec<(Value, Value)> = p["variables_to_update"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            (
                u["variable_to_update"].clone(),
                u["variable_value_new"].clone(),
            )
        })
        .collect();
    if let Some(v) = p.get("variable_to_update") {
        updates.push((v.clone(), p["variable_value_new"].clone()));
    }
    let mut values = Map::new();
    for (target, value) in updates {
        let target_s = target.as_str().unwrap_or_default();
        let var = match pieces(target_s).as_slice() {
            [Piece::Ref { r, raw }] => match r {
                Ref::Workflow { var, path, .. } if path.is_empty() => ctx.var(var).cloned(),
                Ref::Global { .. } => {
                    let e = ctx.resolve(r, raw);
                    let name = e.code.trim_start_matches("vars.").to_string();
                    ctx.plan.vars.values().find(|v| v.name == name).cloned()
                }
                _ => None,
            },
            _ => None,
        };
        let Some(var) = var else {
            ctx.gap(
                "set_variable",
                format!("cannot set {target_s:?}: not a variable of this workflow"),
            );
            continue;
        };
        if var.ns == super::context::Ns::Inputs {
            ctx.gap(
                "set_variable",
                format!(
                    "sets input \"{}\": hookflow inputs cannot be set; declare a variable for it",
                    var.name
                ),
            );
            continue;
        }
        let v = if matches!(&value, Value::String(s) if has_refs(s)) {
            ctx.template_for(&value, var.ty)
        } else {
            let lit = super::workflow::coerce(var.ty, &value);
            ctx.template(&lit, false)
        };
        values.insert(var.name.clone(), v);
    }
    if values.is_empty() {
        return Vec::new();
    }
    let mut s = ctx.step(act, &id, "set_variables");
    s.insert("values".into(), Value::Object(values));
    vec![Value::Object(s)]
}

/// `core.sleep`: `sleep_interval` seconds.
pub fn sleep(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let v = &act["properties"]["sleep_interval"];
    let secs = v
        .as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
    let Some(secs) = secs else {
        return vec![ctx.fail_step(act, "sleep", "a sleep whose length is not a number")];
    };
    if secs <= 0.0 {
        return Vec::new();
    }
    let id = ctx.step_id(act);
    let mut s = ctx.step(act, &id, "sleep");
    s.insert(
        "duration".into(),
        json!(format!("{}ms", (secs * 1000.0).round() as u64)),
    );
    vec![Value::Object(s)]
}

/// `core.replacestring`: the input with each replacement applied, into the activity's result
/// variable.
pub fn replace_string(ctx: &mut Ctx, act: &Value) -> Vec<Value> {
    let p = &act["properties"];
    let info = ctx.info(act);
    let Some(result) = info.result_var.clone() else {
        return vec![ctx.fail_step(act, "activity_output", "no result variable")];
    };
    let mut code = format!("({})", ctx.expression(&p["input_string"]).text());
    for r in p["replace_list"].as_array().into_iter().flatten() {
        let from = ctx.expression(&r["replaced_string"]).code;
        let to = ctx.expression(&r["replacement_string"]).code;
        code = format!("{code} | replace({from}, {to})");
    }
    let mut s = ctx.step(act, &info.step, "set_variables");
    s.insert(
        "values".into(),
        json!({ result: format!("{{{{ {code} }}}}") }),
    );
    vec![Value::Object(s)]
}
