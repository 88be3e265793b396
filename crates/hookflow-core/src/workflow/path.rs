//! Document paths as errors show them: `steps[0].branches[1].steps[2].url`,
//! `steps[1].headers["Content-Type"]`.

/// `base.key`, or `base["key"]` when `key` is not a plain identifier; just `key` at the root.
pub(crate) fn field(base: &str, key: &str) -> String {
    if is_identifier(key) {
        if base.is_empty() {
            key.to_string()
        } else {
            format!("{base}.{key}")
        }
    } else {
        format!("{base}[{}]", serde_json::Value::String(key.to_string()))
    }
}

/// `base[i]`.
pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// `^[A-Za-z_][A-Za-z0-9_]*$` — the pattern of step ids and input/variable/output names.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(field("", "name"), "name");
        assert_eq!(field("steps[0]", "url"), "steps[0].url");
        assert_eq!(
            field("steps[1].headers", "Content-Type"),
            "steps[1].headers[\"Content-Type\"]"
        );
        assert_eq!(field("", "a b"), "[\"a b\"]");
        assert_eq!(index("steps", 3), "steps[3]");
        assert!(is_identifier("_a1") && is_identifier("post"));
        assert!(!is_identifier("1a") && !is_identifier("") && !is_identifier("a-b"));
    }
}
