//! Document text → JSON value → typed [`Workflow`], in two stages so that every error, syntax
//! errors aside, carries the document path of what is wrong.
//!
//! Stage 1 ([`parse_document`]) turns YAML or JSON text into a `serde_json::Value`, enforcing the
//! size and nesting limits. Stage 2 ([`from_value`]) reads that value into the model by hand,
//! collecting every structural error (unknown or missing fields, wrong value kinds, unknown step
//! types, bad durations) instead of stopping at the first.

use serde_json::Value;

use super::ValidationError;
use super::model::Workflow;
use super::reader::Reader;

/// A document's syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// The format a request's `Content-Type` announces: `application/json` (and `+json`) is JSON;
    /// `application/yaml`, `application/x-yaml`, `text/yaml` and `text/x-yaml` are YAML.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Some(Format::Json),
            "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => {
                Some(Format::Yaml)
            }
            e if e.ends_with("+json") => Some(Format::Json),
            e if e.ends_with("+yaml") => Some(Format::Yaml),
            _ => None,
        }
    }
}

/// Largest document accepted, in bytes (1 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Deepest nesting of objects and lists accepted (the document's root object is level 1).
pub const MAX_DEPTH: usize = 64;
/// Most steps a workflow may have, counting steps at every depth.
pub const MAX_STEPS: usize = 10_000;
/// Most errors reported for one document; the rest are summarised in one last error.
pub const MAX_ERRORS: usize = 1_000;

/// Parses a workflow document: the typed model plus the document itself as JSON (what the server
/// stores as the definition). On failure, every error found, each with its document path.
pub fn parse(text: &str, format: Format) -> Result<(Workflow, Value), Vec<ValidationError>> {
    let doc = parse_document(text, format).map_err(|e| vec![e])?;
    let workflow = from_value(&doc)?;
    Ok((workflow, doc))
}

/// Stage 1: the document text as a JSON value, within the size and nesting limits. The error's
/// path is `""`; its message names the line and column of a syntax error.
pub fn parse_document(text: &str, format: Format) -> Result<Value, ValidationError> {
    let top = |message: String| ValidationError {
        path: String::new(),
        message,
    };
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(top(format!(
            "the document is {} bytes; at most {MAX_DOCUMENT_BYTES} bytes (1 MiB) are accepted",
            text.len()
        )));
    }
    let value: Value = match format {
        Format::Json => serde_json::from_str::<StrictJson>(text)
            .map(|j| j.0)
            .map_err(|e| {
                if e.to_string().starts_with("recursion limit exceeded") {
                    top(too_deep())
                } else {
                    top(format!("invalid JSON: {e}"))
                }
            })?,
        Format::Yaml => {
            let options = serde_saphyr::options! {
                budget: serde_saphyr::budget! { max_depth: MAX_DEPTH },
                strict_booleans: true,
            };
            serde_saphyr::from_str_with_options(text, options).map_err(|e| {
                let plain = e.without_snippet().render_with_options(
                    serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off },
                );
                if plain.contains("budget breached: Depth") {
                    top(too_deep())
                } else {
                    top(format!("invalid YAML: {plain}"))
                }
            })?
        }
    };
    if depth(&value) > MAX_DEPTH {
        return Err(top(too_deep()));
    }
    Ok(value)
}

/// A JSON value read like `serde_json::Value`, except that a key repeated in one object is an
/// error (serde_json would silently keep the last one; YAML refuses it too).
struct StrictJson(Value);

impl<'de> serde::Deserialize<'de> for StrictJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictJson)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictJson(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate key {}",
                    Value::String(key)
                )));
            }
            let StrictJson(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

fn too_deep() -> String {
    format!("the document is nested too deeply: at most {MAX_DEPTH} levels of objects and lists")
}

/// Nesting depth of a value: a scalar is 0, an empty or flat object/list 1.
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Stage 2: a document value as the typed model, or every structural error in it.
pub fn from_value(doc: &Value) -> Result<Workflow, Vec<ValidationError>> {
    let mut r = Reader::default();
    let wf = r.workflow(doc);
    if r.steps > MAX_STEPS {
        r.err(
            "steps".to_string(),
            format!(
                "the workflow has {} steps; at most {MAX_STEPS} are allowed (counting steps at every depth)",
                r.steps
            ),
        );
    }
    if r.errors.is_empty() {
        Ok(wf)
    } else {
        Err(super::cap_errors(r.errors))
    }
}

/// A short description of a value's kind for "expected X, found Y" messages.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => {
            let mut shown: String = s.chars().take(40).collect();
            if shown.len() < s.len() {
                shown.push('…');
            }
            format!("a string ({})", Value::String(shown))
        }
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// Levenshtein distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (distance(&lower, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
