//! Unit tests of body parsing, one file per content family; this file holds the shared
//! helpers and the table of cases where `validate` must agree with `parse`. Random inputs
//! (never a panic, `validate` agrees) are the property tests in
//! `crates/hookflow-core/tests/properties/body.rs`.

use super::*;

mod form;
mod json;
mod xml;

fn limits() -> BodyLimits {
    BodyLimits::default()
}

fn json(body: &str) -> Result<Value, BodyError> {
    parse(BodyFormat::Json, body.as_bytes(), &limits())
}

fn xml(body: &str) -> Result<Value, BodyError> {
    parse(BodyFormat::Xml, body.as_bytes(), &limits())
}

fn form(body: &str) -> Result<Value, BodyError> {
    parse(BodyFormat::Form, body.as_bytes(), &limits())
}

/// `validate` accepts exactly what `parse` accepts, with the same error.
fn agree(format: BodyFormat, body: &[u8]) {
    let parsed = parse(format, body, &limits()).map(|_| ());
    let validated = validate(format, body, &limits());
    assert_eq!(
        parsed,
        validated,
        "{format:?} {:?}",
        String::from_utf8_lossy(body)
    );
}

fn xml_err(body: &str) -> String {
    match xml(body) {
        Ok(v) => panic!("expected an error for {body:?}, got {v}"),
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.starts_with("the body is not valid XML"),
                "{body:?}: {message}"
            );
            assert_eq!(
                validate(BodyFormat::Xml, body.as_bytes(), &limits()),
                Err(e)
            );
            message
        }
    }
}

#[test]
fn validate_agrees_with_parse() {
    let cases: &[(BodyFormat, &[u8])] = &[
        (BodyFormat::Json, b"{\"a\":1}"),
        (BodyFormat::Json, b"{\"a\":1"),
        (BodyFormat::Json, b"1e400"),
        (BodyFormat::Json, b"\"\\ud800\""),
        (BodyFormat::Json, b""),
        (BodyFormat::Xml, b"<a><b>1</b><b>2</b></a>"),
        (BodyFormat::Xml, b"<a><b>1</b><b>2</b>"),
        (BodyFormat::Xml, b"<a>&nbsp;</a>"),
        (BodyFormat::Xml, b"<a/><b/>"),
        (BodyFormat::Xml, b""),
        (BodyFormat::Form, b"a=1&a=2"),
        (BodyFormat::Form, b"\xc3"),
    ];
    for (format, body) in cases {
        agree(*format, body);
    }
}
