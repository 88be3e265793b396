//! JSON bodies: a depth pre-scan so serde_json never sees nesting past the limit, the
//! value-free check used on ingest, and the mapping of serde_json's errors to [`BodyError`].
//! The caller has already removed a BOM and handled blank text.

use serde_json::Value;

use super::BodyError;
use super::limits::{BodyLimits, json_limit};

/// Checks JSON text without building a value ([`super::validate`]).
pub(super) fn validate(text: &str, limits: &BodyLimits) -> Result<(), BodyError> {
    let limit = json_limit(limits);
    check_json_depth(text, limit)?;
    serde_json::from_str::<JsonCheck>(text)
        .map(|_| ())
        .map_err(|e| json_error(e, limit))
}

/// Parses JSON text into its value ([`super::parse`]).
pub(super) fn parse(text: &str, limits: &BodyLimits) -> Result<Value, BodyError> {
    let limit = json_limit(limits);
    check_json_depth(text, limit)?;
    serde_json::from_str::<Value>(text).map_err(|e| json_error(e, limit))
}

/// Refuses JSON text whose arrays/objects nest deeper than `limit`, by a linear scan that
/// skips strings. Malformed text is left for serde_json to explain.
fn check_json_depth(text: &str, limit: usize) -> Result<(), BodyError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(BodyError::TooDeep { limit });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Deserializes any JSON value and keeps nothing. Unlike `serde::de::IgnoredAny` (whose
/// skipping path in serde_json does not check number ranges), it makes serde_json parse every
/// value as for `serde_json::Value`, so `validate` refuses exactly what `parse` refuses.
struct JsonCheck;

impl<'de> serde::Deserialize<'de> for JsonCheck {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonCheckVisitor)
    }
}

struct JsonCheckVisitor;

impl<'de> serde::de::Visitor<'de> for JsonCheckVisitor {
    type Value = JsonCheck;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_i64<E>(self, _: i64) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_u64<E>(self, _: u64) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_f64<E>(self, _: f64) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_str<E>(self, _: &str) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_unit<E>(self) -> Result<JsonCheck, E> {
        Ok(JsonCheck)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<JsonCheck, A::Error> {
        while seq.next_element::<JsonCheck>()?.is_some() {}
        Ok(JsonCheck)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonCheck, A::Error> {
        while map.next_entry::<JsonCheck, JsonCheck>()?.is_some() {}
        Ok(JsonCheck)
    }
}

fn json_error(error: serde_json::Error, limit: usize) -> BodyError {
    let message = error.to_string();
    if message.starts_with("recursion limit exceeded") {
        BodyError::TooDeep { limit }
    } else {
        BodyError::Json { message }
    }
}
