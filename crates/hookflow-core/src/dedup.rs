//! Duplicate detection settings of a webhook (SPEC §9): which value identifies a request — an
//! expression over the trigger variables, or a preset named by a verification scheme — and how
//! long a key is remembered. Pure: the HTTP layer evaluates the key, the delivery journal decides
//! inside the transaction that records the request whether it was seen.

use serde_json::Value;

/// `window_seconds` when none is given: one day.
pub const DEFAULT_WINDOW_SECONDS: i64 = 86_400;
/// The longest window: 30 days.
pub const MAX_WINDOW_SECONDS: i64 = 30 * 86_400;

/// The presets of SPEC §9, by verification scheme: the header or body field each sender puts
/// its unique event id in.
pub const PRESETS: [(&str, &str); 4] = [
    ("standard_webhooks", r#"trigger.headers["webhook-id"]"#),
    ("github", r#"trigger.headers["x-github-delivery"]"#),
    ("stripe", "trigger.body.id"),
    ("slack", "trigger.body.event_id"),
];

/// A webhook's `dedup`: `key` as configured (a preset name or an expression) and its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dedup {
    pub key: String,
    pub window_seconds: i64,
}

impl Dedup {
    /// The expression that computes the key: the preset's, or `key` itself.
    pub fn expression(&self) -> &str {
        preset(&self.key).unwrap_or(&self.key)
    }

    /// The window in milliseconds.
    pub fn window_ms(&self) -> i64 {
        self.window_seconds.saturating_mul(1000)
    }
}

/// The expression of a preset name, if `name` is one.
pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, e)| *e)
}

/// Checks a window: 1 second to [`MAX_WINDOW_SECONDS`].
pub fn check_window(seconds: i64) -> Result<i64, String> {
    if (1..=MAX_WINDOW_SECONDS).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(format!(
            "dedup.window_seconds must be 1 to {MAX_WINDOW_SECONDS} (30 days), got {seconds}"
        ))
    }
}

/// The text a key value is remembered by: a string as it is, a number or boolean as its JSON
/// text, an object or array as its JSON. `None` — no key, the request is processed normally —
/// for `null`, an empty string, an empty array or object.
pub fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(a) if a.is_empty() => None,
        Value::Object(o) if o.is_empty() => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn presets_and_expressions() {
        let d = |k: &str| Dedup {
            key: k.into(),
            window_seconds: 60,
        };
        assert_eq!(
            d("github").expression(),
            r#"trigger.headers["x-github-delivery"]"#
        );
        assert_eq!(
            d("standard_webhooks").expression(),
            r#"trigger.headers["webhook-id"]"#
        );
        assert_eq!(d("stripe").expression(), "trigger.body.id");
        assert_eq!(d("slack").expression(), "trigger.body.event_id");
        assert_eq!(d("trigger.body.x").expression(), "trigger.body.x");
        assert_eq!(d("github").window_ms(), 60_000);
    }

    #[test]
    fn windows() {
        assert_eq!(check_window(1), Ok(1));
        assert_eq!(check_window(MAX_WINDOW_SECONDS), Ok(MAX_WINDOW_SECONDS));
        assert!(check_window(0).is_err());
        assert!(check_window(MAX_WINDOW_SECONDS + 1).is_err());
    }

    #[test]
    fn key_values() {
        assert_eq!(key_text(&json!(null)), None);
        assert_eq!(key_text(&json!("")), None);
        assert_eq!(key_text(&json!([])), None);
        assert_eq!(key_text(&json!("evt_1")), Some("evt_1".into()));
        assert_eq!(key_text(&json!(42)), Some("42".into()));
        assert_eq!(key_text(&json!({"a": 1})), Some(r#"{"a":1}"#.into()));
    }
}
