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
    let json: &[&[u8]] = &[b"{\"a\":1}", b"{\"a\":1", b"1e400", b"\"\\ud800\"", b""];
    let xml: &[&[u8]] = &[
        b"<a><b>1</b><b>2</b></a>",
        b"<a><b>1</b><b>2</b>",
        b"<a>&nbsp;</a>",
        b"<a/><b/>",
        b"",
    ];
    let form: &[&[u8]] = &[b"a=1&a=2", b"\xc3"];
    let cases = [
        (BodyFormat::Json, json),
        (BodyFormat::Xml, xml),
        (BodyFormat::Form, form),
    ];
    for (format, bodies) in cases {
        for body in bodies {
            agree(format, body);
        }
    }
}
