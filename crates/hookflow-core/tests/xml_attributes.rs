//! Many attributes on one XML element (issue 9, item 8): the duplicate-attribute check is a hash
//! set, so the work grows linearly with the attribute count. The behaviour is tested here; the
//! timings (an `#[ignore]`d test that prints them, recorded in BENCHMARKS.md) show the growth.

use std::time::Instant;

use hookflow_core::body::{BodyError, BodyFormat, BodyLimits, parse, validate};

/// `<r a0="0" a1="1" … a10="0" …/>` with `n` attributes, the first `dup` of them repeated at the
/// end (90,000 attributes fit in 1 MiB, the default body limit).
fn element(n: usize, dup: usize) -> String {
    let mut s = String::from("<r");
    for i in (0..n).chain(0..dup) {
        s.push_str(&format!(" a{i}=\"{}\"", i % 10));
    }
    s.push_str("/>");
    s
}

#[test]
fn ninety_thousand_attributes_parse_each_once() {
    let body = element(90_000, 0);
    assert!((900_000..1_048_576).contains(&body.len()), "{}", body.len());
    validate(BodyFormat::Xml, body.as_bytes(), &BodyLimits::default()).expect("valid");
    let value = parse(BodyFormat::Xml, body.as_bytes(), &BodyLimits::default()).expect("parse");
    let r = value["r"].as_object().expect("object");
    assert_eq!(r.len(), 90_000);
    assert_eq!(r["@a0"], "0");
    assert_eq!(r["@a89999"], "9");
}

#[test]
fn a_repeated_attribute_is_refused_wherever_it_is() {
    for (n, body) in [
        (2, "<r x=\"1\" x=\"2\"/>".to_string()),
        (90_000, element(90_000, 1)),
    ] {
        let err = validate(BodyFormat::Xml, body.as_bytes(), &BodyLimits::default())
            .expect_err("duplicate attribute");
        let text = err.to_string();
        assert!(
            matches!(err, BodyError::Xml { .. }) && text.contains("appears twice in <r>"),
            "{n} attributes: {text}"
        );
        assert_eq!(
            parse(BodyFormat::Xml, body.as_bytes(), &BodyLimits::default()),
            Err(err)
        );
    }
    // The same name in two elements is fine.
    validate(
        BodyFormat::Xml,
        b"<r x=\"1\"><c x=\"2\"/></r>",
        &BodyLimits::default(),
    )
    .expect("valid");
}

/// `cargo test --release -p hookflow-core --test xml_attributes -- --ignored --nocapture`
#[test]
#[ignore = "prints timings for BENCHMARKS.md"]
fn attribute_count_timings() {
    for n in [10_000, 20_000, 40_000, 90_000] {
        let body = element(n, 0);
        let started = Instant::now();
        validate(BodyFormat::Xml, body.as_bytes(), &BodyLimits::default()).expect("valid");
        let checked = started.elapsed();
        let started = Instant::now();
        parse(BodyFormat::Xml, body.as_bytes(), &BodyLimits::default()).expect("parse");
        let parsed = started.elapsed();
        println!(
            "{n:>6} attributes, {:>7} bytes: validate {:>8.2} ms, parse {:>8.2} ms",
            body.len(),
            checked.as_secs_f64() * 1000.0,
            parsed.as_secs_f64() * 1000.0
        );
    }
}
