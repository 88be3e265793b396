//! Unit tests of body parsing, one file per content family; this file holds the shared
//! helpers and the tests that cross families (`validate` agrees with `parse`, and random
//! inputs never panic).

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

/// xorshift64*: a tiny deterministic PRNG for the fuzz-ish loop.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_inputs_never_panic_and_validate_agrees() {
    const PIECES: &[&str] = &[
        "<",
        ">",
        "/",
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
        " ",
        "\n",
        "\r",
        "<a>",
        "</a>",
        "<b/>",
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
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "\\",
        "null",
        "true",
        "-",
        "e",
        "+",
        "%",
        "%2",
        "%C3%A9",
        "é",
        "\u{feff}",
        "\0",
        "\u{fffd}",
    ];
    let formats = [BodyFormat::Json, BodyFormat::Form, BodyFormat::Xml];
    let small = BodyLimits {
        max_depth: 4,
        max_nodes: 6,
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..6_000 {
        let mut body = Vec::new();
        let len = rng.below(24);
        for _ in 0..len {
            if round % 3 == 0 {
                body.push(rng.next() as u8);
            } else {
                body.extend_from_slice(PIECES[rng.below(PIECES.len())].as_bytes());
            }
        }
        for format in formats {
            for limits in [BodyLimits::default(), small] {
                let parsed = parse(format, &body, &limits).map(|_| ());
                let validated = validate(format, &body, &limits);
                assert_eq!(parsed, validated, "{format:?} {body:?}");
                if let Err(e) = parsed {
                    assert!(e.to_string().starts_with("the body "), "{e}");
                }
            }
        }
        let _ = form_to_value(&String::from_utf8_lossy(&body));
    }
}
