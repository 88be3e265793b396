//! Form-urlencoded bodies and query strings: repeated keys, decoding, empty text, UTF-8.

use serde_json::json;

use super::*;

#[test]
fn form_repeated_keys_and_decoding() {
    assert_eq!(
        form("a=1&b=hello+world&a=2&c=x%20y%2Bz&a=3").unwrap(),
        json!({"a": ["1", "2", "3"], "b": "hello world", "c": "x y+z"})
    );
    assert_eq!(form("flag&x=").unwrap(), json!({"flag": "", "x": ""}));
    assert_eq!(
        form("%C3%A9t%C3%A9=%E2%9C%93").unwrap(),
        json!({"été": "✓"})
    );
    agree(BodyFormat::Form, b"a=1&a=2");
}

#[test]
fn form_empty() {
    assert_eq!(form("").unwrap(), Value::Null);
    assert_eq!(form_to_value(""), json!({}));
    assert_eq!(form_to_value("&&"), json!({}));
    assert_eq!(validate(BodyFormat::Form, b"", &limits()), Ok(()));
}

#[test]
fn form_not_utf8() {
    assert_eq!(
        parse(BodyFormat::Form, b"a=\xe9", &limits()),
        Err(BodyError::NotUtf8 { offset: 2 })
    );
    agree(BodyFormat::Form, b"a=\xe9");
    // Percent-encoded non-UTF-8 is decoded lossily, not refused.
    assert_eq!(form("a=%FF").unwrap(), json!({"a": "\u{fffd}"}));
}

#[test]
fn query_string() {
    assert_eq!(
        form_to_value("q=a+b&tag=x&tag=y"),
        json!({"q": "a b", "tag": ["x", "y"]})
    );
}
