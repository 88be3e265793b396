//! Conversions between `serde_json::Value` and minijinja's `Value`.

use minijinja::value::{Value, ValueKind};
use serde_json::Value as Json;

use super::analyze::{CONTEXT_DEPTH, Needs};

/// Converts the parts of the context object `ctx` that `needs` lists.
pub(crate) fn context(ctx: &Json, needs: &Needs) -> Result<Value, String> {
    let Json::Object(map) = ctx else {
        return Err("the evaluation context must be a JSON object".into());
    };
    if needs.full {
        return from_json(ctx, 0);
    }
    let mut pairs = Vec::with_capacity(needs.children.len());
    for (name, need) in &needs.children {
        if let Some(v) = map.get(name) {
            pairs.push((Value::from(name.as_str()), pruned(v, need, 1)?));
        }
    }
    Ok(Value::from_pairs(pairs))
}

fn pruned(v: &Json, needs: &Needs, depth: usize) -> Result<Value, String> {
    match v {
        Json::Object(map) if !needs.full => {
            check_depth(depth)?;
            let mut pairs = Vec::with_capacity(needs.children.len());
            for (key, need) in &needs.children {
                if let Some(child) = map.get(key) {
                    pairs.push((Value::from(key.as_str()), pruned(child, need, depth + 1)?));
                }
            }
            Ok(Value::from_pairs(pairs))
        }
        _ => from_json(v, depth),
    }
}

fn check_depth(depth: usize) -> Result<(), String> {
    if depth >= CONTEXT_DEPTH {
        Err(format!(
            "a context value is nested deeper than {CONTEXT_DEPTH} levels"
        ))
    } else {
        Ok(())
    }
}

pub(crate) fn from_json(v: &Json, depth: usize) -> Result<Value, String> {
    Ok(match v {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => {
            check_depth(depth)?;
            let items = items
                .iter()
                .map(|i| from_json(i, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Value::from(items)
        }
        Json::Object(map) => {
            check_depth(depth)?;
            let mut pairs = Vec::with_capacity(map.len());
            for (k, v) in map {
                pairs.push((Value::from(k.as_str()), from_json(v, depth + 1)?));
            }
            Value::from_pairs(pairs)
        }
    })
}

/// Converts a result to JSON. `budget` is the number of bytes the result may take (roughly, as
/// JSON text); exceeding it is an error.
pub(crate) fn to_json(v: &Value, budget: &mut usize) -> Result<Json, String> {
    to_json_at(v, budget, 0)
}

/// Deeper than anything the static depth check lets through; a last guard.
const MAX_RESULT_DEPTH: usize = 1024;

fn spend(budget: &mut usize, n: usize) -> Result<(), String> {
    match budget.checked_sub(n) {
        Some(rest) => {
            *budget = rest;
            Ok(())
        }
        None => Err("the result exceeds the output size limit".into()),
    }
}

fn to_json_at(v: &Value, budget: &mut usize, depth: usize) -> Result<Json, String> {
    if depth > MAX_RESULT_DEPTH {
        return Err(format!(
            "the result is nested deeper than {MAX_RESULT_DEPTH} levels"
        ));
    }
    Ok(match v.kind() {
        ValueKind::Undefined if depth == 0 => return Err("the result is undefined".into()),
        ValueKind::Undefined => return Err("the result contains an undefined value".into()),
        ValueKind::None => {
            spend(budget, 4)?;
            Json::Null
        }
        ValueKind::Bool => {
            spend(budget, 5)?;
            Json::Bool(v.is_true())
        }
        ValueKind::Number => {
            spend(budget, 8)?;
            number(v)?
        }
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default();
            spend(budget, s.len() + 2)?;
            Json::String(s.to_string())
        }
        ValueKind::Bytes => {
            let b = v.as_bytes().unwrap_or_default();
            spend(budget, b.len() + 2)?;
            Json::String(String::from_utf8_lossy(b).into_owned())
        }
        ValueKind::Seq | ValueKind::Iterable => {
            spend(budget, 2)?;
            let iter = v.try_iter().map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            for item in iter {
                spend(budget, 1)?;
                out.push(to_json_at(&item, budget, depth + 1)?);
            }
            Json::Array(out)
        }
        ValueKind::Map => {
            spend(budget, 2)?;
            let iter = v.try_iter().map_err(|e| e.to_string())?;
            let mut out = serde_json::Map::new();
            for key in iter {
                let value = v.get_item(&key).map_err(|e| e.to_string())?;
                let key = match key.as_str() {
                    Some(s) => s.to_string(),
                    None => key.to_string(),
                };
                spend(budget, key.len() + 4)?;
                let value = to_json_at(&value, budget, depth + 1)?;
                out.insert(key, value);
            }
            Json::Object(out)
        }
        // functions, macros, loop objects: their printed form
        ValueKind::Plain => {
            let s = v.to_string();
            spend(budget, s.len() + 2)?;
            Json::String(s)
        }
        ValueKind::Invalid => return Err(format!("invalid value: {v}")),
        _ => return Err(format!("cannot convert a {} to JSON", v.kind())),
    })
}

fn number(v: &Value) -> Result<Json, String> {
    if v.is_integer() {
        if let Some(i) = v.as_i64() {
            return Ok(Json::from(i));
        }
        if let Ok(u) = u64::try_from(v.clone()) {
            return Ok(Json::from(u));
        }
    }
    let f = f64::try_from(v.clone()).map_err(|e| e.to_string())?;
    serde_json::Number::from_f64(f)
        .map(Json::Number)
        .ok_or_else(|| format!("the result {f} is not a finite number"))
}
