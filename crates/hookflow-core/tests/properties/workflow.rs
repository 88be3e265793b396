//! Workflow documents: any text, any JSON value and any workflow-shaped document are answered
//! with a workflow or a list of errors (never a panic), and a document that parses also
//! validates without a panic.

use hookflow_core::expr::{ExprLimits, Sandbox};
use hookflow_core::workflow::{Catalog, Format, ValidationError, from_value, parse, validate};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::{json_value, soup};

struct Everything;

impl Catalog for Everything {
    fn event_exists(&self, name_or_id: &str) -> bool {
        name_or_id.len().is_multiple_of(2)
    }
    fn workflow_exists(&self, name: &str) -> bool {
        !name.is_empty()
    }
    fn secret_exists(&self, name: &str) -> bool {
        name.starts_with('s')
    }
    fn workflow_calls(&self, name: &str) -> Vec<String> {
        vec![name.to_string()]
    }
}

/// YAML and JSON syntax with the document's own keys and values.
const PIECES: &[&str] = &[
    "name: wf\n",
    "steps:\n",
    "  - ",
    "id: a",
    "type: ",
    "http_request",
    "condition",
    "for_each",
    "while",
    "parallel",
    "sleep",
    "set_variables",
    "run_workflow",
    "json_path",
    "regex",
    "python",
    "break",
    "continue",
    "complete",
    "fail",
    "\n",
    "    ",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    " ",
    "\"",
    "'",
    "{{ ",
    " }}",
    "{% ",
    " %}",
    "trigger.body",
    "steps.a.output",
    "vars.x",
    "when: ",
    "branches: ",
    "items: ",
    "duration: 1s",
    "retry: {max_attempts: 3, backoff: 1s}",
    "url: ",
    "http://x",
    "&a",
    "*a",
    "!!str",
    "<<: ",
    "---\n",
    "...\n",
    "#",
    "|\n",
    ">-\n",
    "-",
    "~",
    "null",
    "1e999",
    "0x1F",
    "inputs: [{name: x, type: string}]",
    "variables: ",
    "as: item",
    "\u{feff}",
    "\t",
    "\r\n",
    "é",
];

fn sandbox() -> Sandbox {
    Sandbox::new(ExprLimits::default())
}

/// Parses `text`, and validates what parses; either way the errors name a place and a reason.
fn check_text(text: &str, sandbox: &Sandbox) -> Result<(), TestCaseError> {
    for format in [Format::Yaml, Format::Json] {
        let errors = match parse(text, format) {
            Ok((wf, _)) => validate(&wf, &Everything, sandbox),
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                errors
            }
        };
        check_errors(&errors)?;
    }
    Ok(())
}

fn check_errors(errors: &[ValidationError]) -> Result<(), TestCaseError> {
    for e in errors {
        prop_assert!(!e.message.is_empty(), "{:?}", e);
    }
    Ok(())
}

/// Expressions and templates that read what a workflow may and may not read.
const EXPRESSIONS: &[&str] = &[
    "true",
    "trigger.body.n > 1",
    "vars.v + 1",
    "inputs.x",
    "steps.a.output.status",
    "steps.b.output",
    "item",
    "loop.index",
    "secrets.s1",
    "secrets.nope",
    "nope.x",
    "x ==",
    "vars.v is eqi(\"A\")",
    "trigger.body.t is matches_regex(\"(\")",
    "range(10) | length",
    "{{ trigger.body }}",
    "{{ steps.a.output.body.id }}",
    "text {{ vars.v }} more",
    "{% for i in range(3) %}{{ i }}{% endfor %}",
    "{{ unclosed",
    "http://x/{{ inputs.x }}",
];

/// A value a step field may hold: mostly the right kind, sometimes anything.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::sample::select(EXPRESSIONS).prop_map(|e| json!(e)),
        1 => json_value(),
        1 => soup(PIECES, 6).prop_map(Value::String),
    ]
}

fn id() -> impl Strategy<Value = String> {
    prop::sample::select(&["a", "b", "c", "item", "a-b", "_x"][..]).prop_map(str::to_string)
}

/// A leaf step of any kind with plausible fields (templates, references, durations).
fn leaf_step() -> BoxedStrategy<Value> {
    let f = field_value;
    prop_oneof![
        (id(), prop::sample::select(&["GET", "POST", "get", "BREW"][..]), f(), prop::option::of(f()))
            .prop_map(|(id, m, url, body)| json!({"id": id, "type": "http_request", "method": m, "url": url, "body": body, "retry": {"max_attempts": 3, "backoff": "1s"}, "timeout": "2s"})),
        (id(), f()).prop_map(|(id, v)| json!({"id": id, "type": "set_variables", "values": {"v": v}})),
        (id(), prop::sample::select(&["1s", "0ms", "8d", "x", "250ms"][..]))
            .prop_map(|(id, d)| json!({"id": id, "type": "sleep", "duration": d})),
        (id(), f(), f()).prop_map(|(id, i, q)| json!({"id": id, "type": "json_path", "input": i, "query": q})),
        (id(), f(), prop::sample::select(&["^a", "(", "(?P<n>x)"][..]))
            .prop_map(|(id, i, p)| json!({"id": id, "type": "regex", "input": i, "pattern": p})),
        (id(), prop::sample::select(&["wf", "child", ""][..]), f())
            .prop_map(|(id, w, x)| json!({"id": id, "type": "run_workflow", "workflow": w, "inputs": {"x": x}})),
        (id(), f()).prop_map(|(id, t)| json!({"id": id, "type": "complete", "outputs": {"t": t}})),
        (id(), f()).prop_map(|(id, m)| json!({"id": id, "type": "fail", "message": m})),
        (id(), f()).prop_map(|(id, a)| json!({"id": id, "type": "python", "script": "x = 1", "args": [a], "variables": [{"name": "x", "type": "integer"}]})),
        id().prop_map(|id| json!({"id": id, "type": "break"})),
        id().prop_map(|id| json!({"id": id, "type": "continue"})),
    ]
    .boxed()
}

/// Steps nested in conditions, loops and parallel branches.
fn step() -> impl Strategy<Value = Value> {
    leaf_step().prop_recursive(4, 24, 3, |inner| {
        let steps = prop::collection::vec(inner, 0..3);
        prop_oneof![
            (id(), field_value(), steps.clone(), steps.clone()).prop_map(|(id, w, s, e)| {
                json!({"id": id, "type": "condition", "branches": [{"when": w, "steps": s}], "else": e})
            }),
            (id(), field_value(), steps.clone(), prop::option::of(0u32..20_000)).prop_map(
                |(id, items, s, max)| {
                    json!({"id": id, "type": "for_each", "items": items, "as": "item", "steps": s, "max_iterations": max})
                }
            ),
            (id(), field_value(), steps.clone()).prop_map(|(id, w, s)| {
                json!({"id": id, "type": "while", "when": w, "steps": s})
            }),
            (id(), steps.clone(), steps).prop_map(|(id, a, b)| {
                json!({"id": id, "type": "parallel", "branches": [{"steps": a}, {"steps": b}]})
            }),
        ]
    })
}

/// A document with the right top-level keys and steps of every kind, nested; sometimes with
/// a stray top-level value.
fn workflow_shaped() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(step(), 0..6),
        prop::option::weighted(0.1, json_value()),
    )
        .prop_map(|(steps, extra)| {
            let mut doc = json!({
                "name": "wf",
                "inputs": [{"name": "x", "type": "string"}],
                "variables": [{"name": "v", "type": "integer"}],
                "outputs": [{"name": "t", "type": "string"}],
                "triggers": [{"event": "ab"}],
                "steps": steps,
            });
            if let Some(extra) = extra {
                doc["outputs"] = extra;
            }
            doc
        })
}

proptest! {
    #![proptest_config(super::cases(256))]

    #[test]
    fn any_text_is_answered(text in ".{0,256}") {
        check_text(&text, &sandbox())?;
    }

    #[test]
    fn any_syntax_soup_is_answered(text in soup(PIECES, 64)) {
        check_text(&text, &sandbox())?;
    }

    /// Any JSON value, as a document's text and as an already-parsed document.
    #[test]
    fn any_json_value_is_answered(value in json_value()) {
        check_text(&value.to_string(), &sandbox())?;
        if let Ok(wf) = from_value(&value) {
            check_errors(&validate(&wf, &Everything, &sandbox()))?;
        }
    }

    /// Documents of the right shape reach the validator's checks of every step kind.
    #[test]
    fn workflow_shaped_documents_are_answered(doc in workflow_shaped()) {
        let sandbox = sandbox();
        match from_value(&doc) {
            Ok(wf) => check_errors(&validate(&wf, &Everything, &sandbox))?,
            Err(errors) => check_errors(&errors)?,
        }
        check_text(&doc.to_string(), &sandbox)?;
    }
}
