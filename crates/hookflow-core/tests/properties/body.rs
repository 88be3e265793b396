//! Request bodies: any bytes are answered (a value or a `BodyError`, never a panic) and
//! `validate` agrees with `parse`; the depth and node limits hold exactly; JSON, form and XML
//! text round-trip.

use hookflow_core::body::{
    BodyError, BodyFormat, BodyLimits, JSON_MAX_DEPTH, form_to_value, parse, validate,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{json_value, soup};

const FORMATS: [BodyFormat; 4] = [
    BodyFormat::Json,
    BodyFormat::Form,
    BodyFormat::Xml,
    BodyFormat::Text,
];

/// Pieces of JSON, XML and form syntax, with the edge cases each parser special-cases.
const PIECES: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "a",
    "b:c",
    "=",
    "\"",
    "'",
    "&",
    ";",
    "#",
    "x",
    "1",
    "-1.5e3",
    " ",
    "\n",
    "\r",
    "\t",
    "<a>",
    "</a>",
    "<b x='1'>",
    "</b>",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "<!DOCTYPE a [<!ENTITY e \"boom\">]>",
    "&e;",
    "&lt;",
    "&#",
    "&#x41;",
    "&#0;",
    "&#xD800;",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "\\",
    "\\u",
    "d800",
    "null",
    "true",
    "1e400",
    "%",
    "%2",
    "%C3%A9",
    "+",
    "é",
    "\u{feff}",
    "\0",
    "\u{fffd}",
    "\u{10ffff}",
];

fn small() -> BodyLimits {
    BodyLimits {
        max_depth: 4,
        max_nodes: 6,
    }
}

/// Parses with every format and both limits; checks `validate` agrees and errors read as
/// sentences about the body.
fn check_any(body: &[u8]) -> Result<(), TestCaseError> {
    for format in FORMATS {
        for limits in [BodyLimits::default(), small()] {
            let parsed = parse(format, body, &limits);
            let validated = validate(format, body, &limits);
            prop_assert_eq!(parsed.as_ref().map(|_| ()), validated.as_ref().map(|_| ()));
            prop_assert_eq!(parsed.as_ref().err(), validated.as_ref().err());
            if let Err(e) = parsed {
                prop_assert!(e.to_string().starts_with("the body "), "{}", e);
            }
        }
    }
    let _ = form_to_value(&String::from_utf8_lossy(body));
    Ok(())
}

/// Nested arrays and objects, `depth` deep, from `shape` (true: an object level).
fn nested_json(shape: &[bool]) -> String {
    let mut open = String::new();
    let mut close = String::new();
    for &object in shape {
        if object {
            open.push_str("{\"k\":");
            close.insert(0, '}');
        } else {
            open.push('[');
            close.insert(0, ']');
        }
    }
    format!("{open}1{close}")
}

/// What a form pair list reads as: a key seen again becomes a list of its values, in order.
fn form_expected(pairs: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (k, v) in pairs {
        let v = Value::String(v.clone());
        match map.get_mut(k) {
            Some(Value::Array(list)) => list.push(v),
            Some(first) => *first = Value::Array(vec![first.take(), v]),
            None => {
                map.insert(k.clone(), v);
            }
        }
    }
    Value::Object(map)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

proptest! {
    // As many inputs as the hand-written fuzz loop these replace (6,000 rounds, a third of them
    // random bytes), with shrinking.
    #![proptest_config(super::cases(2_000))]

    #[test]
    fn any_bytes_are_answered(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check_any(&body)?;
    }

    #[test]
    fn any_syntax_soup_is_answered(text in soup(PIECES, 48)) {
        check_any(text.as_bytes())?;
    }
}

proptest! {
    #![proptest_config(super::cases(512))]

    /// JSON nested `shape.len()` deep is accepted exactly up to the configured depth (never
    /// above serde_json's own 127), and refused with `TooDeep` naming that limit.
    #[test]
    fn json_depth_limit_holds(
        shape in prop::collection::vec(any::<bool>(), 1..200),
        max_depth in 1usize..200,
    ) {
        let text = nested_json(&shape);
        let limits = BodyLimits { max_depth, max_nodes: 10 };
        let limit = max_depth.min(JSON_MAX_DEPTH);
        let got = parse(BodyFormat::Json, text.as_bytes(), &limits);
        if shape.len() <= limit {
            prop_assert!(got.is_ok(), "{:?}", got);
        } else {
            prop_assert_eq!(got, Err(BodyError::TooDeep { limit }));
        }
    }

    /// XML elements nested `depth` deep (the root is level 1) are accepted exactly up to the
    /// limit.
    #[test]
    fn xml_depth_limit_holds(depth in 1usize..300, max_depth in 1usize..300) {
        let text = format!("{}x{}", "<a>".repeat(depth), "</a>".repeat(depth));
        let limits = BodyLimits { max_depth, max_nodes: 10_000 };
        let got = parse(BodyFormat::Xml, text.as_bytes(), &limits);
        if depth <= max_depth {
            prop_assert!(got.is_ok(), "{:?}", got);
        } else {
            prop_assert_eq!(got, Err(BodyError::TooDeep { limit: max_depth }));
        }
    }

    /// Elements plus attributes are counted exactly against `max_nodes`.
    #[test]
    fn xml_node_limit_holds(
        children in 0usize..40,
        attributes in 0usize..40,
        max_nodes in 1usize..100,
    ) {
        let attrs: String = (0..attributes).map(|i| format!(" a{i}=\"{i}\"")).collect();
        let text = format!("<r{attrs}>{}</r>", "<c/>".repeat(children));
        let limits = BodyLimits { max_depth: 8, max_nodes };
        let got = parse(BodyFormat::Xml, text.as_bytes(), &limits);
        if 1 + children + attributes <= max_nodes {
            prop_assert!(got.is_ok(), "{:?}", got);
        } else {
            prop_assert_eq!(got, Err(BodyError::TooManyNodes { limit: max_nodes }));
        }
    }

    /// Any JSON value, written compact or pretty, parses back to itself.
    #[test]
    fn json_round_trips(value in json_value()) {
        for text in [
            serde_json::to_string(&value).unwrap(),
            serde_json::to_string_pretty(&value).unwrap(),
        ] {
            let back = parse(BodyFormat::Json, text.as_bytes(), &BodyLimits::default());
            prop_assert_eq!(back.as_ref(), Ok(&value), "{}", text);
        }
    }

    /// Form pairs, encoded, read back as the pairs (repeated keys as lists).
    #[test]
    fn form_round_trips(pairs in prop::collection::vec((".{0,6}", ".{0,6}"), 0..8)) {
        let text = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter())
            .finish();
        prop_assert_eq!(form_to_value(&text), form_expected(&pairs));
    }

    /// Text escaped into an element reads back as the text (trimmed, the xmltodict way), and
    /// an attribute value as itself.
    #[test]
    fn xml_text_round_trips(text in "[^\u{0}-\u{1f}\u{7f}\u{fffe}\u{ffff}]{0,24}") {
        let doc = format!("<r v=\"{}\">{}</r>", xml_escape(&text).replace('"', "&quot;"), xml_escape(&text));
        let got = parse(BodyFormat::Xml, doc.as_bytes(), &BodyLimits::default());
        let trimmed = text.trim();
        let expected = if trimmed.is_empty() {
            json!({"r": {"@v": text}})
        } else {
            json!({"r": {"@v": text, "#text": trimmed}})
        };
        prop_assert_eq!(got, Ok(expected), "{}", doc);
    }
}
