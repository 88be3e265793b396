//! The trigger variables of SPEC §3: what a run started by a webhook delivery or a schedule sees
//! under `trigger`. Built from what the journal recorded, so a run resumed on another node after
//! a crash sees exactly the same values.

use serde_json::{Map, Value, json};

use crate::body::{BodyFormat, BodyLimits, parse};
use crate::media::MediaType;

/// A recorded webhook request, as the trigger builder needs it.
pub struct Delivered<'a> {
    pub webhook_id: &'a str,
    pub webhook_name: &'a str,
    pub event_id: &'a str,
    pub event_name: &'a str,
    pub delivery_id: &'a str,
    /// RFC 3339.
    pub received_at: &'a str,
    pub content_type: Option<&'a str>,
    /// `[name, value]` pairs in arrival order.
    pub headers: &'a [(String, String)],
    /// The query string without `api_key`, already decoded to an object.
    pub query: Value,
    pub body: &'a [u8],
    /// Check 5b's verdict `{scheme, verdict, detail}`, on webhooks that verify signatures.
    pub verification: Option<Value>,
}

/// The body parsed as its content type says (`null` for an empty body, or one that is not a
/// format hookflow parses).
pub fn parsed_body(content_type: Option<&str>, body: &[u8]) -> Value {
    let format = content_type
        .and_then(MediaType::parse)
        .and_then(|m| m.body_format());
    match format {
        Some(f) => parse(f, body, &BodyLimits::default()).unwrap_or(Value::Null),
        None if body.is_empty() => Value::Null,
        None => parse(BodyFormat::Json, body, &BodyLimits::default()).unwrap_or(Value::Null),
    }
}

/// Request headers as an object: names lower-cased, repeated headers joined with `, `.
pub fn headers_object(pairs: &[(String, String)]) -> Map<String, Value> {
    let mut out = Map::new();
    for (n, v) in pairs {
        let n = n.to_ascii_lowercase();
        match out.get_mut(&n) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(v);
            }
            _ => {
                out.insert(n, Value::String(v.clone()));
            }
        }
    }
    out
}

/// `trigger` for a run started by a webhook delivery.
pub fn webhook_trigger(d: &Delivered) -> Value {
    webhook_trigger_fields(d, |_| true)
}

/// `trigger` with only the fields `wanted` names (those an expression reads, see
/// [`crate::expr::Sandbox::fields_read`]): the body is parsed and the headers gathered only when
/// asked for.
pub fn webhook_trigger_fields(d: &Delivered, wanted: impl Fn(&str) -> bool) -> Value {
    let mut t = Map::new();
    let mut put = |name: &str, value: &dyn Fn() -> Value| {
        if wanted(name) {
            t.insert(name.to_string(), value());
        }
    };
    let raw = || Value::String(String::from_utf8_lossy(d.body).into_owned());
    put("body", &|| parsed_body(d.content_type, d.body));
    put("raw_body", &raw);
    put("request_body", &raw);
    put("headers", &|| Value::Object(headers_object(d.headers)));
    put("request_headers", &|| {
        let pairs = d
            .headers
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v}));
        Value::Array(pairs.collect())
    });
    put("query", &|| d.query.clone());
    put("content_type", &|| json!(d.content_type));
    put(
        "webhook",
        &|| json!({"id": d.webhook_id, "name": d.webhook_name}),
    );
    put("event", &|| json!({"id": d.event_id, "name": d.event_name}));
    put("delivery_id", &|| json!(d.delivery_id));
    put("received_at", &|| json!(d.received_at));
    if let Some(v) = &d.verification {
        put("verification", &|| v.clone());
    }
    Value::Object(t)
}

/// `trigger` for a run started by a schedule.
pub fn schedule_trigger(event_id: &str, event_name: &str, scheduled_at: &str) -> Value {
    json!({
        "event": {"id": event_id, "name": event_name},
        "scheduled_at": scheduled_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_trigger_has_every_spec_field() {
        let headers = vec![
            ("X-GitHub-Event".to_string(), "push".to_string()),
            ("X-Multi".to_string(), "a".to_string()),
            ("x-multi".to_string(), "b".to_string()),
        ];
        let t = webhook_trigger(&Delivered {
            webhook_id: "w",
            webhook_name: "gh",
            event_id: "e",
            event_name: "pushes",
            delivery_id: "d",
            received_at: "2026-01-01T00:00:00.000Z",
            content_type: Some("application/x-www-form-urlencoded"),
            headers: &headers,
            query: json!({"a": "1"}),
            body: b"k=1&k=2&x=y",
            verification: None,
        });
        assert_eq!(t["body"], json!({"k": ["1", "2"], "x": "y"}));
        assert_eq!(t["raw_body"], "k=1&k=2&x=y");
        assert_eq!(t["request_body"], "k=1&k=2&x=y");
        assert_eq!(t["headers"]["x-github-event"], "push");
        assert_eq!(t["headers"]["x-multi"], "a, b");
        assert_eq!(
            t["request_headers"][0],
            json!({"name": "X-GitHub-Event", "value": "push"})
        );
        assert_eq!(t["webhook"], json!({"id": "w", "name": "gh"}));
        assert_eq!(t["event"], json!({"id": "e", "name": "pushes"}));
        assert_eq!(t["query"], json!({"a": "1"}));
        assert_eq!(t["delivery_id"], "d");
    }

    /// Built with the fields an expression reads, `trigger` holds exactly those, each as the
    /// whole trigger has it; a header preset's key reads no body.
    #[test]
    fn only_the_fields_an_expression_reads_are_built() {
        let sandbox = crate::expr::Sandbox::new(crate::expr::ExprLimits::default());
        let headers = vec![("X-GitHub-Delivery".to_string(), "d-1".to_string())];
        let d = Delivered {
            webhook_id: "w",
            webhook_name: "gh",
            event_id: "",
            event_name: "",
            delivery_id: "d",
            received_at: "2026-01-01T00:00:00.000Z",
            content_type: Some("application/json"),
            headers: &headers,
            query: json!({}),
            body: br#"{"id": "evt_1", "n": 2}"#,
            verification: Some(json!({"verdict": "valid"})),
        };
        let whole = webhook_trigger(&d);
        for (expr, fields) in [
            (r#"trigger.headers["x-github-delivery"]"#, vec!["headers"]),
            (
                "trigger.body.id ~ trigger.delivery_id",
                vec!["body", "delivery_id"],
            ),
            ("1 + 1", vec![]),
        ] {
            let read = sandbox.fields_read(expr, "trigger").unwrap().unwrap();
            assert_eq!(read.iter().collect::<Vec<_>>(), fields, "{expr}");
            let t = webhook_trigger_fields(&d, |f| read.contains(f));
            let Value::Object(t) = t else { panic!() };
            assert_eq!(t.keys().collect::<Vec<_>>(), fields, "{expr}");
            for (k, v) in &t {
                assert_eq!(v, &whole[k], "{expr}: {k}");
            }
        }
        for whole_read in ["trigger", "trigger | tojson", "trigger[trigger.body.n]"] {
            assert_eq!(
                sandbox.fields_read(whole_read, "trigger").unwrap(),
                None,
                "{whole_read}"
            );
        }
        assert_eq!(webhook_trigger_fields(&d, |_| true), whole);
    }

    #[test]
    fn empty_body_is_null() {
        assert_eq!(parsed_body(Some("application/json"), b""), Value::Null);
        assert_eq!(
            parsed_body(Some("application/xml"), b"<a x=\"1\">t</a>"),
            json!({"a": {"@x": "1", "#text": "t"}})
        );
    }
}
