//! YAML output that reads back as exactly the value written.

use serde_json::Value;

/// `v` as YAML. Block style for readability (scripts as literal blocks); if the YAML would not
/// read back as `v` exactly, the JSON form is written instead (JSON is YAML too).
pub fn to_yaml(v: &Value) -> String {
    if let Ok(text) = serde_saphyr::to_string(v)
        && serde_saphyr::from_str::<Value>(&text).is_ok_and(|back| back == *v)
    {
        return text;
    }
    let mut text = serde_json::to_string_pretty(v).expect("a JSON value serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_back_as_written() {
        let v = json!({
            "name": "x: y",
            "script": "import sys\n\tprint('a')  \n\n",
            "n": 1, "b": true, "s": "true", "e": "", "z": null, "t": "{{ vars.a }}",
            "l": [{"a": "  leading"}, "#hash", "- dash", "0123"]
        });
        let y = to_yaml(&v);
        assert_eq!(serde_saphyr::from_str::<Value>(&y).unwrap(), v, "{y}");
    }
}
