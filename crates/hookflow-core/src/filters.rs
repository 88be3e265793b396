//! What routing and duplicate detection evaluate on a request: event filters and dedup keys,
//! over the request's `trigger` variables (SPEC §3, §9). The delivery journal evaluates them
//! inside the transaction that records the request (so routing is decided on committed events
//! and workflows), replay and the filter test on a stored delivery — the same variables, built
//! here once, whoever calls.

use serde_json::{Value, json};

use crate::expr::Sandbox;
use crate::trigger::{Delivered, webhook_trigger_fields};

/// A request as it is recorded: what its trigger variables are built from.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    /// The webhook's id and name.
    pub webhook: (&'a str, &'a str),
    pub delivery_id: &'a str,
    /// Unix ms.
    pub received_at: i64,
    pub content_type: Option<&'a str>,
    /// The headers as recorded: a JSON array of `[name, value]` pairs.
    pub headers: &'a str,
    /// The query as recorded: a JSON object (without `api_key`).
    pub query: &'a str,
    pub body: &'a [u8],
    /// Check 5b's verdict as JSON text, on webhooks that verify signatures.
    pub verification: Option<&'a str>,
}

/// RFC 3339 of unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

impl Recorded<'_> {
    /// The `trigger` variables of the request for event `(id, name)`, with only the fields
    /// `wanted` names built (the others empty).
    fn trigger_fields(&self, event: (&str, &str), wanted: impl Fn(&str) -> bool) -> Value {
        let headers: Vec<(String, String)> = if wanted("headers") || wanted("request_headers") {
            serde_json::from_str(self.headers).unwrap_or_default()
        } else {
            Vec::new()
        };
        let query = if wanted("query") {
            serde_json::from_str(self.query).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let received = if wanted("received_at") {
            rfc3339(self.received_at)
        } else {
            String::new()
        };
        let verification = if wanted("verification") {
            self.verification.and_then(|v| serde_json::from_str(v).ok())
        } else {
            None
        };
        let d = Delivered {
            webhook_id: self.webhook.0,
            webhook_name: self.webhook.1,
            event_id: event.0,
            event_name: event.1,
            delivery_id: self.delivery_id,
            received_at: &received,
            content_type: self.content_type,
            headers: &headers,
            query,
            body: self.body,
            verification,
        };
        webhook_trigger_fields(&d, wanted)
    }

    /// The `trigger` variables the request's runs of event `(id, name)` see, and what its
    /// filters are evaluated on.
    pub fn trigger(&self, event: (&str, &str)) -> Value {
        self.trigger_fields(event, |_| true)
    }
}

/// For each `(event id, event name, filter)`: does the request pass it? `Err` explains a
/// filter that could not be evaluated (the event then does not match).
pub fn evaluate(
    sandbox: &Sandbox,
    req: &Recorded,
    filters: &[(&str, &str, &str)],
) -> Vec<Result<bool, String>> {
    let Some((first, _)) = filters.split_first() else {
        return Vec::new();
    };
    let mut ctx = json!({ "trigger": req.trigger((first.0, first.1)) });
    filters
        .iter()
        .map(|(id, name, filter)| {
            ctx["trigger"]["event"] = json!({ "id": id, "name": name });
            sandbox.eval_bool(filter, &ctx).map_err(|e| e.to_string())
        })
        .collect()
}

/// A request's duplicate-detection key by `expression` (SPEC §9), as
/// [`crate::dedup::key_text`] gives it: `None` when the expression gives no value or fails —
/// such a request is processed normally. Only the trigger fields the expression reads are
/// built (a header preset parses no body): this runs for every request of a deduplicating
/// webhook. The key sees no event and no verification (a failed signature claims no key).
pub fn dedup_key(sandbox: &Sandbox, req: &Recorded, expression: &str) -> Option<String> {
    match header_named(expression) {
        Some(name) => header_key(req, name),
        None => evaluated_key(sandbox, req, expression),
    }
}

/// The header an expression of the form `trigger.headers["name"]` reads (the `github` and
/// `standard_webhooks` presets), when `name` is lower case: such a key is the header's value,
/// read without building the trigger variables or evaluating anything ([`header_key`] gives
/// what the expression gives; a unit test holds them to it).
fn header_named(expression: &str) -> Option<&str> {
    let name = expression
        .strip_prefix("trigger.headers[\"")?
        .strip_suffix("\"]")?;
    let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c);
    (!name.is_empty() && name.chars().all(plain)).then_some(name)
}

/// Header `name`'s value as `trigger.headers` has it (every value under that name, in order,
/// joined by `, `), as a key.
fn header_key(req: &Recorded, name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_json::from_str(req.headers).unwrap_or_default();
    let mut value: Option<String> = None;
    for (_, v) in pairs.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
        match &mut value {
            Some(prev) => {
                prev.push_str(", ");
                prev.push_str(v);
            }
            None => value = Some(v.clone()),
        }
    }
    value.filter(|v| !v.is_empty())
}

/// A key by evaluating `expression` on the trigger fields it reads.
fn evaluated_key(sandbox: &Sandbox, req: &Recorded, expression: &str) -> Option<String> {
    let fields = sandbox.fields_read(expression, "trigger").ok()?;
    let wanted =
        |name: &str| name != "verification" && fields.as_ref().is_none_or(|f| f.contains(name));
    let trigger = req.trigger_fields(("", ""), wanted);
    sandbox
        .eval(expression, &json!({ "trigger": trigger }))
        .ok()
        .and_then(|v| crate::dedup::key_text(&v))
}

/// What event `(id, name)`'s `filter` says of a recorded request — the same trigger variables
/// and evaluation as routing gives it (SPEC §10, trying a filter): matched, or why it could not
/// be evaluated.
pub fn test_filter(
    sandbox: &Sandbox,
    req: &Recorded,
    event: (&str, &str),
    filter: &str,
) -> Result<bool, String> {
    sandbox
        .eval_bool(filter, &json!({ "trigger": req.trigger(event) }))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(headers: &str) -> Recorded<'_> {
        Recorded {
            webhook: ("w", "hook"),
            delivery_id: "d",
            received_at: 0,
            content_type: Some("application/json"),
            headers,
            query: "{}",
            body: b"{\"id\": 1}",
            verification: None,
        }
    }

    /// A header preset's key, read straight from the recorded headers, is what evaluating the
    /// preset's expression gives: missing, empty, one value, repeated values, names in any case.
    #[test]
    fn a_header_key_is_what_the_expression_gives() {
        let sandbox = Sandbox::new(crate::expr::ExprLimits::default());
        let headers = [
            r#"[]"#,
            r#"[["X-GitHub-Delivery", "abc"]]"#,
            r#"[["x-github-delivery", ""]]"#,
            r#"[["X-Github-Delivery", "a"], ["Accept", "*/*"], ["x-github-delivery", "b"]]"#,
            r#"[["webhook-id", "msg_1"], ["X-GitHub-Delivery", " spaced "]]"#,
            r#"[["X-GitHub-Delivery", "", ], ["x-github-delivery", "x"]]"#,
            r#"not json"#,
        ];
        for expression in [
            r#"trigger.headers["x-github-delivery"]"#,
            r#"trigger.headers["webhook-id"]"#,
        ] {
            assert!(header_named(expression).is_some());
            for h in headers {
                let req = recorded(h);
                assert_eq!(
                    header_key(&req, header_named(expression).unwrap()),
                    evaluated_key(&sandbox, &req, expression),
                    "{expression} on {h}"
                );
            }
        }
        let req = recorded(r#"[["X-Github-Delivery", "a"], ["x-github-delivery", "b"]]"#);
        assert_eq!(
            dedup_key(&sandbox, &req, r#"trigger.headers["x-github-delivery"]"#).as_deref(),
            Some("a, b")
        );
    }

    #[test]
    fn only_the_plain_header_form_reads_a_header_directly() {
        for other in [
            r#"trigger.headers["X-GitHub-Delivery"]"#,
            r#"trigger.headers["a"] ~ "b""#,
            r#"trigger.headers['a']"#,
            r#"trigger.headers[""]"#,
            "trigger.body.id",
        ] {
            assert_eq!(header_named(other), None, "{other}");
        }
        // Those are evaluated: an upper-case name finds nothing (the names are lower case).
        let req = recorded(r#"[["X-GitHub-Delivery", "abc"]]"#);
        let sandbox = Sandbox::new(crate::expr::ExprLimits::default());
        assert_eq!(
            dedup_key(&sandbox, &req, r#"trigger.headers["X-GitHub-Delivery"]"#),
            None
        );
        assert_eq!(
            dedup_key(&sandbox, &req, "trigger.body.id").as_deref(),
            Some("1")
        );
    }
}
