//! Form-urlencoded bodies and URL query strings, and the repeated-key convention (a key seen
//! twice becomes an array) that the XML walker shares.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// Form-urlencoded text (also used for URL query strings) to an object of strings; a repeated
/// key becomes an array of strings (in order). `+` means space, percent-decoding as usual
/// (a percent-encoded sequence that is not UTF-8 decodes to U+FFFD).
pub fn form_to_value(text: &str) -> Value {
    let mut map = Map::new();
    for (key, value) in form_urlencoded::parse(text.as_bytes()) {
        push_value(&mut map, key, Value::String(value.into_owned()));
    }
    Value::Object(map)
}

/// Inserts `value` under `key`; a key seen before becomes an array of its values, in order
/// (the form and xmltodict convention).
pub(super) fn push_value(map: &mut Map<String, Value>, key: Cow<'_, str>, value: Value) {
    match map.get_mut(key.as_ref()) {
        Some(Value::Array(values)) => values.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
        None => {
            map.insert(key.into_owned(), value);
        }
    }
}
