//! JSON bodies: values, blank text, malformed text, UTF-8, and the depth limits.

use serde_json::json;

use super::*;

#[test]
fn json_ok() {
    assert_eq!(
        json(r#"{"a": [1, "x", null, true], "b": {"c": 1.5}}"#).unwrap(),
        json!({"a": [1, "x", null, true], "b": {"c": 1.5}})
    );
    assert_eq!(json("42").unwrap(), json!(42));
    assert_eq!(json("\u{feff}[1]").unwrap(), json!([1]));
    assert_eq!(validate(BodyFormat::Json, br#"{"a":1}"#, &limits()), Ok(()));
}

#[test]
fn json_empty_is_null() {
    assert_eq!(json("").unwrap(), Value::Null);
    assert_eq!(json(" \r\n\t ").unwrap(), Value::Null);
    assert_eq!(validate(BodyFormat::Json, b"", &limits()), Ok(()));
    assert_eq!(validate(BodyFormat::Json, b"  \n", &limits()), Ok(()));
}

#[test]
fn json_malformed() {
    let err = json(r#"{"a": }"#).unwrap_err();
    assert!(matches!(err, BodyError::Json { .. }));
    assert_eq!(
        err.to_string(),
        "the body is not valid JSON: expected value at line 1 column 7"
    );
    assert!(json("{} {}").is_err());
    assert!(json("[1,]").is_err());
    assert!(json("nul").is_err());
    agree(BodyFormat::Json, br#"{"a": }"#);
    agree(BodyFormat::Json, b"[1, 2");
}

#[test]
fn json_not_utf8() {
    let err = parse(BodyFormat::Json, b"\"\xff\"", &limits()).unwrap_err();
    assert_eq!(err, BodyError::NotUtf8 { offset: 1 });
    assert_eq!(
        err.to_string(),
        "the body is not valid UTF-8 (invalid byte sequence at byte offset 1)"
    );
    agree(BodyFormat::Json, b"\"\xff\"");
}

#[test]
fn json_deep_errors_quickly() {
    let body = "[".repeat(100_000);
    let started = std::time::Instant::now();
    let err = json(&body).unwrap_err();
    assert_eq!(
        err,
        BodyError::TooDeep {
            limit: JSON_MAX_DEPTH
        }
    );
    assert_eq!(err.to_string(), "the body nests deeper than 127 levels");
    assert_eq!(
        validate(BodyFormat::Json, body.as_bytes(), &limits()),
        Err(err)
    );
    let closed = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(json(&closed), Err(BodyError::TooDeep { .. })));
    let objects = r#"{"a":"#.repeat(100_000);
    assert!(matches!(json(&objects), Err(BodyError::TooDeep { .. })));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn json_depth_limits() {
    let at_limit = format!("{}{}", "[".repeat(127), "]".repeat(127));
    assert!(json(&at_limit).is_ok());
    agree(BodyFormat::Json, at_limit.as_bytes());
    let over = format!("{}{}", "[".repeat(128), "]".repeat(128));
    assert_eq!(json(&over), Err(BodyError::TooDeep { limit: 127 }));
    agree(BodyFormat::Json, over.as_bytes());

    let small = BodyLimits {
        max_depth: 2,
        max_nodes: 10,
    };
    assert!(parse(BodyFormat::Json, b"[[1]]", &small).is_ok());
    assert_eq!(
        parse(BodyFormat::Json, b"[[[1]]]", &small),
        Err(BodyError::TooDeep { limit: 2 })
    );
    assert_eq!(
        validate(BodyFormat::Json, b"[[[1]]]", &small),
        Err(BodyError::TooDeep { limit: 2 })
    );
    // Brackets inside strings do not count.
    assert_eq!(
        parse(BodyFormat::Json, br#"["[[[\"[[[", {"{{{": "]]]"}]"#, &small).unwrap(),
        json!(["[[[\"[[[", {"{{{": "]]]"}])
    );
}

/// A float reads back as the number that was sent (serde_json's `float_roundtrip`; without it
/// the last digit could change: found by the property tests).
#[test]
fn json_floats_are_exact() {
    // (as sent, as serde_json writes it back)
    for (text, written) in [
        ("7.415261720151724e-90", "7.415261720151724e-90"),
        ("0.30000000000000004", "0.30000000000000004"),
        ("2.2250738585072014e-308", "2.2250738585072014e-308"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("5e-324", "5e-324"),
    ] {
        let expected: f64 = text.parse().unwrap();
        let got = json(&format!("[{text}]")).unwrap();
        assert_eq!(got[0].as_f64(), Some(expected), "{text}");
        assert_eq!(got[0].to_string(), written);
    }
}
