//! The expression context of a run (`trigger`, `inputs`, `vars`, `steps`, `secrets`, `run`) and
//! the redaction of secret values from everything a run records.

use serde_json::{Map, Value};

/// Replaces every occurrence of a secret value in the strings of `v` with `***` (SPEC §4).
pub fn redact(v: &mut Value, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    match v {
        Value::String(s) if secrets.iter().any(|x| s.contains(x.as_str())) => {
            *s = redact_text(s, secrets);
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact(x, secrets)),
        Value::Object(o) => o.values_mut().for_each(|x| redact(x, secrets)),
        _ => {}
    }
}

/// A redacted copy of a text.
pub fn redact_text(s: &str, secrets: &[String]) -> String {
    let mut out = s.to_string();
    for x in secrets {
        out = out.replace(x.as_str(), "***");
    }
    out
}

/// The secret values worth redacting (empty values would match everywhere).
pub fn redaction_list(secrets: &Map<String, Value>) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for s in secrets
        .values()
        .filter_map(|v| v.as_str())
        .filter(|s| !s.is_empty())
    {
        v.push(s.to_string());
        // The forms a value takes in a URL or a form body, which responses may echo.
        for encoded in [
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>(),
        ] {
            if encoded != s && !v.contains(&encoded) {
                v.push(encoded);
            }
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_nested_strings() {
        let mut v = json!({"a": "Bearer s3cret!", "b": ["x s3cret! y", 1], "c": {"d": "ok"}});
        redact(&mut v, &["s3cret!".to_string()]);
        assert_eq!(
            v,
            json!({"a": "Bearer ***", "b": ["x *** y", 1], "c": {"d": "ok"}})
        );
    }
}
