//! The steps that compute values from the run's context: `set_variables` (each value checked
//! against its declared type), `json_path` (an RFC 9535 query; its results copied only up to
//! what one run may record) and `regex` (the first match, its groups and named groups).

use hookflow_core::workflow::fits;
use serde_json::{Map, Value, json};

use super::{StepError, StepOut, as_text, json_text, render};
use crate::Engine;
use crate::exec::{RunState, kind_of};

/// `set_variables`: the rendered values, refused when one is not a declared variable or does
/// not fit its type.
pub(super) fn set_variables(
    engine: &Engine,
    st: &RunState,
    values: &Map<String, Value>,
) -> Result<(Value, StepOut), StepError> {
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
                Some(d) if fits(d.r#type, v).is_err() => {
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

/// `json_path`: the values a query selects from the input (JSON, or text holding JSON).
pub(super) fn json_path(
    engine: &Engine,
    st: &RunState,
    input: &Value,
    query: &str,
) -> Result<(Value, StepOut), StepError> {
    let value = json_text(render(engine, st, input)?, "input")?;
    let query = match render(engine, st, &Value::String(query.to_string()))? {
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

/// `regex`: whether the pattern matches the input as text, with its groups.
pub(super) fn regex(
    engine: &Engine,
    st: &RunState,
    input: &Value,
    pattern: &str,
) -> Result<(Value, StepOut), StepError> {
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
