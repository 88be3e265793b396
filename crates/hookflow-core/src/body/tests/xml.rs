//! XML bodies by the xmltodict convention: attributes, text, CDATA, entities, limits, errors.

use serde_json::json;

use super::*;

#[test]
fn xml_attributes_and_text() {
    assert_eq!(
        xml(r#"<alert id="7" level='high'>Disk full</alert>"#).unwrap(),
        json!({"alert": {"@id": "7", "@level": "high", "#text": "Disk full"}})
    );
    assert_eq!(xml(r#"<a x="1"/>"#).unwrap(), json!({"a": {"@x": "1"}}));
    assert_eq!(
        xml("<a>  padded text \n </a>").unwrap(),
        json!({"a": "padded text"})
    );
    // Text beside children is concatenated and stripped, like xmltodict.
    assert_eq!(
        xml("<a>\n  head <b>1</b> tail\n</a>").unwrap(),
        json!({"a": {"b": "1", "#text": "head  tail"}})
    );
    // Attribute whitespace normalization; character references survive it.
    assert_eq!(
        xml("<a v=\"x\ty\r\nz&#10;\"/>").unwrap(),
        json!({"a": {"@v": "x y z\n"}})
    );
}

#[test]
fn xml_nested_and_repeated() {
    let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<event>
  <severity>high</severity>
  <tags><tag>a</tag><tag>b</tag><other/><tag>c</tag></tags>
  <host name="web1"><ip>10.0.0.1</ip></host>
  <count>3</count>
  <?pi ignored?>
</event>
"#;
    assert_eq!(
        xml(body).unwrap(),
        json!({"event": {
            "severity": "high",
            "tags": {"tag": ["a", "b", "c"], "other": null},
            "host": {"@name": "web1", "ip": "10.0.0.1"},
            "count": "3"
        }})
    );
    agree(BodyFormat::Xml, body.as_bytes());
    assert_eq!(
        xml("<r><i>1</i><i><j>2</j></i><i/></r>").unwrap(),
        json!({"r": {"i": ["1", {"j": "2"}, null]}})
    );
}

#[test]
fn xml_empty_element_is_null() {
    assert_eq!(xml("<a/>").unwrap(), json!({"a": null}));
    assert_eq!(xml("<a></a>").unwrap(), json!({"a": null}));
    assert_eq!(xml("<a>   </a>").unwrap(), json!({"a": null}));
    assert_eq!(xml("<a><b/></a>").unwrap(), json!({"a": {"b": null}}));
}

#[test]
fn xml_empty_body_is_null() {
    assert_eq!(xml("").unwrap(), Value::Null);
    assert_eq!(xml(" \n\t").unwrap(), Value::Null);
    assert_eq!(validate(BodyFormat::Xml, b"  ", &limits()), Ok(()));
}

#[test]
fn xml_cdata() {
    assert_eq!(
        xml("<a><![CDATA[<b>not a tag</b> & stuff]]></a>").unwrap(),
        json!({"a": "<b>not a tag</b> & stuff"})
    );
    assert_eq!(
        xml("<a>x <![CDATA[y]]> z</a>").unwrap(),
        json!({"a": "x y z"})
    );
}

#[test]
fn xml_predefined_entities_and_char_refs() {
    assert_eq!(
        xml(r#"<a t="&lt;&amp;&quot;&#x41;">&lt;&gt;&amp;&apos;&quot; &#65;&#x263A;&#128512;</a>"#)
            .unwrap(),
        json!({"a": {"@t": "<&\"A", "#text": "<>&'\" A☺😀"}})
    );
    assert!(matches!(xml("<a>&#0;</a>"), Err(BodyError::Xml { .. })));
    assert!(matches!(xml("<a>&#xD800;</a>"), Err(BodyError::Xml { .. })));
    assert!(matches!(xml("<a>&#xZZ;</a>"), Err(BodyError::Xml { .. })));
    agree(BodyFormat::Xml, b"<a>&#0;</a>");
}

#[test]
fn xml_doctype_entity_not_expanded() {
    let body = r#"<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>"#;
    let err = xml(body).unwrap_err();
    assert_eq!(err, BodyError::UnknownEntity { name: "e".into() });
    assert!(err.to_string().contains("`&e;`"), "{err}");
    assert!(!err.to_string().contains("boom"));
    agree(BodyFormat::Xml, body.as_bytes());

    // In an attribute too.
    let body = r#"<!DOCTYPE x [<!ENTITY e "boom">]><x a="&e;"/>"#;
    assert_eq!(
        xml(body),
        Err(BodyError::UnknownEntity { name: "e".into() })
    );
    agree(BodyFormat::Xml, body.as_bytes());

    // External entities are refused the same way.
    let body = r#"<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>"#;
    assert_eq!(
        xml(body),
        Err(BodyError::UnknownEntity { name: "xxe".into() })
    );

    // A DOCTYPE whose entities are not used is ignored.
    assert_eq!(
        xml(r#"<!DOCTYPE x [<!ENTITY e "boom">]><x>ok</x>"#).unwrap(),
        json!({"x": "ok"})
    );
    assert_eq!(
        xml(r#"<?xml version="1.0"?><!DOCTYPE x SYSTEM "x.dtd"><x/>"#).unwrap(),
        json!({"x": null})
    );
    xml_err("<x/><!DOCTYPE x>");
    xml_err("<!DOCTYPE x><!DOCTYPE x><x/>");
}

#[test]
fn xml_deep_errors_quickly() {
    let started = std::time::Instant::now();
    let body = "<a>".repeat(100_000);
    let err = xml(&body).unwrap_err();
    assert_eq!(err, BodyError::TooDeep { limit: 128 });
    assert_eq!(err.to_string(), "the body nests deeper than 128 levels");
    assert_eq!(
        validate(BodyFormat::Xml, body.as_bytes(), &limits()),
        Err(err)
    );
    let closed = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
    assert_eq!(xml(&closed), Err(BodyError::TooDeep { limit: 128 }));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    let at_limit = format!("{}{}", "<a>".repeat(128), "</a>".repeat(128));
    assert!(xml(&at_limit).is_ok());
    let over = format!("{}{}", "<a>".repeat(129), "</a>".repeat(129));
    assert_eq!(xml(&over), Err(BodyError::TooDeep { limit: 128 }));
}

#[test]
fn xml_max_nodes() {
    let small = BodyLimits {
        max_depth: 10,
        max_nodes: 3,
    };
    assert!(parse(BodyFormat::Xml, br#"<a x="1"><b/></a>"#, &small).is_ok());
    let err = parse(BodyFormat::Xml, br#"<a x="1" y="2"><b/></a>"#, &small).unwrap_err();
    assert_eq!(err, BodyError::TooManyNodes { limit: 3 });
    assert_eq!(
        validate(BodyFormat::Xml, br#"<a x="1" y="2"><b/></a>"#, &small),
        Err(err)
    );
    let wide = format!("<r>{}</r>", "<i/>".repeat(300_000));
    assert_eq!(xml(&wide), Err(BodyError::TooManyNodes { limit: 200_000 }));
}

#[test]
fn xml_malformed() {
    let message = xml_err("<a><b></a>");
    assert!(message.contains("`</b>`"), "{message}");
    assert!(message.contains("line 1 column 7"), "{message}");
    let message = xml_err("<a/>\n<b/>");
    assert!(message.contains("more than one root element"), "{message}");
    assert!(message.contains("line 2 column 1"), "{message}");
    xml_err("<a></b>");
    xml_err("<a>");
    xml_err("<a><b>text</b>");
    xml_err("<a></a></a>");
    xml_err("</a>");
    xml_err("<a/><b/>");
    xml_err("<a></a><a></a>");
    xml_err("<a/>trailing");
    xml_err("leading<a/>");
    xml_err("<a/><![CDATA[x]]>");
    xml_err("<a/>&amp;");
    xml_err("<a");
    xml_err("<a x=1/>");
    xml_err(r#"<a x="1" x="2"/>"#);
    xml_err(r#"<a x="<"/>"#);
    xml_err("<a>&amp</a>");
    let message = xml_err("<a>a & b</a>");
    assert!(message.contains("write `&amp;`"), "{message}");
    let message = xml_err("<a b='&'/>");
    assert!(message.contains("write `&amp;`"), "{message}");
    xml_err("<1a/>");
    xml_err("<!-- only a comment -->");
    xml_err("just text");
    xml_err("<a/><?xml version=\"1.0\"?>");
    xml_err("<a><!-- bad -- comment --></a>");
    let message = xml_err("<a>\n<b>\n</c></a>");
    assert!(message.contains("line 3"), "{message}");
    assert_eq!(
        parse(BodyFormat::Xml, b"<a>\xff</a>", &limits()),
        Err(BodyError::NotUtf8 { offset: 3 })
    );
}

#[test]
fn xml_trailing_whitespace_and_misc_ok() {
    assert_eq!(
        xml("\u{feff}<?xml version=\"1.0\"?>\n<a>1</a>\n<!-- c -->\n<?pi x?>\n").unwrap(),
        json!({"a": "1"})
    );
}

#[test]
fn xml_namespaced_names() {
    let body = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body><m:Alert xmlns:m="urn:x" m:level="2">up</m:Alert></soap:Body>
</soap:Envelope>"#;
    assert_eq!(
        xml(body).unwrap(),
        json!({"soap:Envelope": {
            "@xmlns:soap": "http://schemas.xmlsoap.org/soap/envelope/",
            "soap:Body": {"m:Alert": {"@xmlns:m": "urn:x", "@m:level": "2", "#text": "up"}}
        }})
    );
    agree(BodyFormat::Xml, body.as_bytes());
}
