//! Whole-document rules: size and depth limits, YAML 1.2 without duplicate keys, content types,
//! and the literal types of declared values.

use serde_json::json;

use super::*;

#[test]
fn limits() {
    let big = format!(
        "name: x\ndescription: \"{}\"\n",
        "a".repeat(MAX_DOCUMENT_BYTES)
    );
    let e = parse(&big, Format::Yaml).unwrap_err();
    assert_eq!(e[0].path, "");
    assert!(e[0].message.contains("at most 1048576 bytes"), "{e:?}");

    // `n` lists, one inside the other.
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    for (deep, format) in [
        (
            format!("name: x\ndescription: {}\n", nested(70)),
            Format::Yaml,
        ),
        (
            format!("{{\"name\": \"x\", \"description\": {}}}", nested(70)),
            Format::Json,
        ),
        (nested(200), Format::Json),
    ] {
        let e = parse(&deep, format).unwrap_err();
        assert!(e[0].message.contains("nested too deeply"), "{e:?}");
    }

    let many: Vec<serde_json::Value> = (0..=MAX_STEPS)
        .map(|i| json!({"id": format!("s{i}"), "type": "sleep", "duration": "1s"}))
        .collect();
    let text = json!({"name": "x", "steps": many}).to_string();
    let e = parse(&text, Format::Json).unwrap_err();
    assert_eq!(e.len(), 1, "{:?}", &e[..e.len().min(3)]);
    assert_eq!(e[0].path, "steps");
    assert!(e[0].message.contains("at most 10000"), "{e:?}");
}

#[test]
fn yaml_1_2_and_no_duplicate_keys() {
    // `no` stays a string (no YAML 1.1 booleans); duplicate keys are refused.
    let (wf, _) = parse("name: no\n", Format::Yaml).unwrap();
    assert_eq!(wf.name, "no");
    let e = parse("name: a\nname: b\n", Format::Yaml).unwrap_err();
    assert!(e[0].message.contains("duplicate"), "{e:?}");
    let e = parse("{\"name\": \"a\",\n \"name\": \"b\"}", Format::Json).unwrap_err();
    assert!(
        e[0].message.contains("duplicate key \"name\" at line 2"),
        "{e:?}"
    );
}

#[test]
fn content_types() {
    assert_eq!(
        Format::from_content_type("application/json; charset=utf-8"),
        Some(Format::Json)
    );
    assert_eq!(
        Format::from_content_type("application/x-yaml"),
        Some(Format::Yaml)
    );
    assert_eq!(Format::from_content_type("text/yaml"), Some(Format::Yaml));
    assert_eq!(Format::from_content_type("text/plain"), None);
}

#[test]
fn literal_types() {
    use super::super::literal::{fits, is_rfc3339};
    assert!(fits(VarType::Integer, &json!(3)).is_ok());
    assert!(fits(VarType::Integer, &json!(3.0)).is_err());
    assert!(fits(VarType::Number, &json!(3.5)).is_ok());
    assert!(fits(VarType::SecureString, &json!(1)).is_err());
    assert!(fits(VarType::Boolean, &json!(null)).is_ok());
    assert!(fits(VarType::Array, &json!({})).is_err());
    for ok in [
        "2024-05-01T12:00:00Z",
        "2024-02-29t00:00:00.123456+05:30",
        "2024-05-01 12:00:00-00:00",
    ] {
        assert!(is_rfc3339(ok), "{ok}");
    }
    for bad in [
        "2024-05-01",
        "2023-02-29T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:00:00",
        "2024-05-01T12:00:00+0100",
        "2024-05-01T12:00:00.Z",
        "2024-13-01T12:00:00Z",
    ] {
        assert!(!is_rfc3339(bad), "{bad}");
    }
}

/// There is one `fits` (the engine's `set_variables` and `python` steps use it too). The engine
/// had its own, checking date-times with chrono's RFC 3339 parser, which also takes a U+2212
/// MINUS SIGN before the offset: a value validation refused was accepted at run time. RFC 3339
/// (SPEC §3: `datetime` is an RFC 3339 date-time) allows only `+` and `-` there.
#[test]
fn a_datetime_offset_takes_the_ascii_minus_only() {
    use super::super::literal::fits;
    let ascii = json!("2024-05-01T12:00:00-05:00");
    let unicode = json!("2024-05-01T12:00:00\u{2212}05:00");
    assert!(fits(VarType::Datetime, &ascii).is_ok());
    assert!(fits(VarType::Datetime, &unicode).is_err());
    // The disagreement the engine's copy had.
    assert!(chrono::DateTime::parse_from_rfc3339(unicode.as_str().unwrap()).is_ok());
}
