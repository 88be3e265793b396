//! Parser and validator tests: a table of broken definitions, each with the exact path and a
//! distinctive part of the message, plus the SPEC §4 example and round trips.

use serde_json::json;

use super::*;
use crate::expr::{ExprLimits, Sandbox};

struct TestCatalog;

impl Catalog for TestCatalog {
    fn event_exists(&self, name_or_id: &str) -> bool {
        matches!(name_or_id, "alerts" | "evt_0001" | "pushes")
    }
    fn workflow_exists(&self, name: &str) -> bool {
        matches!(name, "child" | "notify-on-alert")
    }
    fn secret_exists(&self, name: &str) -> bool {
        name == "chat_token"
    }
}

const SPEC_EXAMPLE: &str = r#"
name: notify-on-alert          # unique
description: Tell the on-call channel about high alerts
inputs:                        # for manual runs and sub-workflow calls
  - {name: severity, type: string, default: low}
variables:                     # local variables
  - {name: ticket, type: string}
outputs:
  - {name: ticket, type: string}
triggers:
  - event: alerts              # an event's name or id
steps:
  - id: only_high
    type: condition
    branches:
      - when: trigger.body.severity == "high"
        steps:
          - id: post
            type: http_request
            method: POST
            url: http://127.0.0.1:9000/notify
            headers: {Authorization: "Bearer {{ secrets.chat_token }}"}
            body: {text: "Alert {{ trigger.body.title }}"}
            retry: {max_attempts: 3, backoff: 1s}
          - id: keep
            type: set_variables
            values: {ticket: "{{ steps.post.output.body.id }}"}
    else: []
  - id: done
    type: complete
    outputs: {ticket: "{{ vars.ticket }}"}
"#;

fn sandbox() -> Sandbox {
    Sandbox::new(ExprLimits::default())
}

/// Parse errors if the document does not parse, else validation errors.
fn errors_of(text: &str, format: Format) -> Vec<ValidationError> {
    match parse(text, format) {
        Ok((wf, _)) => validate(&wf, &TestCatalog, &sandbox()),
        Err(errors) => errors,
    }
}

/// A document with a fixed header (inputs `severity`; variables `a` string, `b` integer,
/// `when` datetime; output `ticket`; trigger `alerts`) and the given steps.
fn doc(steps: &str) -> String {
    format!(
        "name: wf\n\
         inputs: [{{name: severity, type: string, default: low}}]\n\
         variables: [{{name: a, type: string}}, {{name: b, type: integer}}, {{name: at, type: datetime}}]\n\
         outputs: [{{name: ticket, type: string}}]\n\
         triggers: [{{event: alerts}}]\n\
         steps:\n{steps}"
    )
}

#[test]
fn spec_example_parses_and_validates_clean() {
    let (wf, doc) = parse(SPEC_EXAMPLE, Format::Yaml).expect("parses");
    assert_eq!(wf.name, "notify-on-alert");
    assert_eq!(doc["steps"][0]["id"], "only_high");
    assert_eq!(wf.inputs[0].default, Some(json!("low")));
    assert!(!wf.inputs[0].required);
    assert!(!wf.variables[0].required);
    assert_eq!(wf.triggers[0].event, "alerts");
    let StepKind::Condition {
        branches,
        else_steps,
    } = &wf.steps[0].kind
    else {
        panic!("condition expected, got {:?}", wf.steps[0].kind);
    };
    assert!(else_steps.is_empty());
    assert_eq!(branches[0].when, "trigger.body.severity == \"high\"");
    let post = &branches[0].steps[0];
    assert_eq!(
        post.retry,
        Some(Retry {
            max_attempts: 3,
            backoff_ms: 1000
        })
    );
    let StepKind::HttpRequest {
        method,
        fail_on_status,
        ..
    } = &post.kind
    else {
        panic!("http_request expected");
    };
    assert_eq!(method, "POST");
    assert!(fail_on_status);
    assert_eq!(
        wf.all_steps()
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        ["only_high", "post", "keep", "done"]
    );
    let errors = validate(&wf, &TestCatalog, &sandbox());
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn json_form_parses_to_the_same_model_and_round_trips() {
    let (from_yaml, document) = parse(SPEC_EXAMPLE, Format::Yaml).unwrap();
    let text = serde_json::to_string_pretty(&document).unwrap();
    let (from_json, doc2) = parse(&text, Format::Json).unwrap();
    assert_eq!(from_yaml, from_json);
    assert_eq!(document, doc2);

    // model → JSON → model
    let stored = serde_json::to_value(&from_yaml).unwrap();
    let back: Workflow = serde_json::from_value(stored.clone()).unwrap();
    assert_eq!(back, from_yaml);
    assert_eq!(stored["steps"][0]["kind"]["type"], "condition");

    // every step type survives the round trip
    let all = doc(r#"
  - id: h
    type: http_request
    url: "https://example.com/{{ inputs.severity }}"
    query: {q: x}
    timeout: 30s
    continue_on_error: true
  - id: c
    type: condition
    branches: [{when: "true", steps: [{id: s1, type: sleep, duration: 250ms}]}]
    else: [{id: s2, type: sleep, duration: 1}]
  - id: fe
    type: for_each
    items: [1, 2]
    as: n
    max_iterations: 10
    steps: [{id: s3, type: set_variables, values: {b: "{{ n }}"}}, {id: nx, type: continue}]
  - id: wh
    type: while
    when: "loop.index < 3"
    steps: [{id: s4, type: fail, message: stop}, {id: br, type: break}]
  - id: par
    type: parallel
    branches: [{steps: [{id: s5, type: sleep, duration: 1m}]}, {steps: []}]
  - id: jp
    type: json_path
    input: "{{ trigger.body }}"
    query: $.items[*].id
  - id: re
    type: regex
    input: "{{ trigger.raw_body }}"
    pattern: "^CVE-(?P<n>\\d+)"
  - id: sub
    type: run_workflow
    workflow: child
    inputs: {x: 1}
  - id: py
    type: python
    script: "n = 1"
    args: ["{{ trigger.body | tojson }}", 2]
    variables: [{name: n, type: integer}]
  - id: done
    type: complete
    outputs: {ticket: "t"}
"#);
    let (wf, _) = parse(&all, Format::Yaml).unwrap();
    let back: Workflow = serde_json::from_str(&serde_json::to_string(&wf).unwrap()).unwrap();
    assert_eq!(back, wf);
    let types: Vec<&str> = wf.all_steps().iter().map(|s| s.type_name()).collect();
    for t in STEP_TYPES {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
}

#[test]
fn defaults_and_durations_in_the_model() {
    let text = doc(r#"
  - id: s
    type: sleep
    duration: 1h30m
    timeout: 2h
    retry: {max_attempts: 2}
  - id: g
    type: http_request
    url: http://x/
    method: post
  - id: f
    type: for_each
    items: "{{ trigger.body.list }}"
    steps: [{id: inner, type: fail, message: "{{ item.x }} {{ loop.index }}"}]
"#);
    let (wf, _) = parse(&text, Format::Yaml).unwrap();
    assert_eq!(
        wf.steps[0].kind,
        StepKind::Sleep {
            duration_ms: 5_400_000
        }
    );
    assert_eq!(wf.steps[0].timeout_ms, Some(7_200_000));
    assert_eq!(
        wf.steps[0].retry,
        Some(Retry {
            max_attempts: 2,
            backoff_ms: 1000
        })
    );
    let StepKind::HttpRequest { method, .. } = &wf.steps[1].kind else {
        panic!()
    };
    assert_eq!(method, "POST");
    let StepKind::ForEach { as_name, .. } = &wf.steps[2].kind else {
        panic!()
    };
    assert_eq!(as_name, "item");
    assert!(validate(&wf, &TestCatalog, &sandbox()).is_empty());

    let (wf, _) = parse(
        "name: x\ninputs: [{name: a, type: integer}, {name: b, type: integer, default: 1, required: true}, {name: c, type: object, default: null}]",
        Format::Yaml,
    )
    .unwrap();
    assert!(wf.inputs[0].required);
    assert!(wf.inputs[1].required);
    assert!(!wf.inputs[2].required);
    assert_eq!(wf.inputs[2].default, Some(json!(null)));
    assert!(wf.triggers.is_empty() && wf.steps.is_empty());
    assert!(validate(&wf, &TestCatalog, &sandbox()).is_empty());
}

#[test]
fn valid_references() {
    let text = doc(r#"
  - id: first
    type: http_request
    url: "{{ trigger.body.url }}"
    headers: {X-Event: "{{ trigger.event.name }} {{ trigger.headers['x-github-event'] }}"}
  - id: pick
    type: condition
    branches:
      - when: steps.first.output.status == 200 and inputs.severity is eqi("HIGH")
        steps: [{id: in_branch, type: set_variables, values: {a: "{{ run.id }} {{ run.workflow }}"}}]
    else:
      - {id: in_else, type: set_variables, values: {b: 5, at: "2024-02-29T23:59:60.5+01:00"}}
  - id: after
    type: fail
    message: "{{ steps.in_branch.output }} {{ steps.in_else.output }} {{ vars.a }} {{ trigger.received_at }}"
  - id: pages
    type: while
    when: loop.index == 0 or steps.fetch.output.body.next
    max_iterations: 50
    steps:
      - {id: fetch, type: http_request, url: "https://api.example.com/{{ loop.index }}"}
      - {id: each, type: for_each, items: "{{ steps.fetch.output.body.items }}", as: row,
         steps: [{id: use_row, type: set_variables, values: {a: "{{ row.name }} {{ loop.index }} {{ steps.fetch.output.body }}"}}]}
  - id: both
    type: parallel
    branches:
      - steps: [{id: p1, type: sleep, duration: 1s}, {id: p2, type: fail, message: "{{ steps.p1.output }}"}]
      - steps: [{id: q1, type: fail, message: "{{ steps.after.output }}"}]
  - id: done
    type: complete
    outputs: {ticket: "{{ steps.p2.output }}{{ steps.q1.output }}"}
"#);
    let errors = errors_of(&text, Format::Yaml);
    assert!(errors.is_empty(), "{errors:#?}");
}

/// (what, document, format, expected path, distinctive part of the message)
type Row = (&'static str, String, Format, &'static str, &'static str);

fn broken() -> Vec<Row> {
    let y = Format::Yaml;
    let sleep = |id: &str| format!("  - {{id: {id}, type: sleep, duration: 1s}}\n");
    vec![
        (
            "duplicate step id",
            doc(&format!("{}{}", sleep("post"), sleep("post"))),
            y,
            "steps[1].id",
            "duplicate step id \"post\" (first at steps[0])",
        ),
        (
            "duplicate step id in else",
            doc(r#"
  - id: c
    type: condition
    branches: [{when: "true", steps: [{id: post, type: sleep, duration: 1s}]}]
    else: [{id: post, type: sleep, duration: 1s}]
"#),
            y,
            "steps[0].else[0].id",
            "duplicate step id \"post\" (first at steps[0].branches[0].steps[0])",
        ),
        (
            "bad step id",
            doc(&sleep("my-step")),
            y,
            "steps[0].id",
            "invalid step id \"my-step\"",
        ),
        (
            "unknown step type",
            doc("  - {id: s, type: http_requst, url: http://x}\n"),
            y,
            "steps[0].type",
            "unknown step type \"http_requst\" (did you mean \"http_request\"?",
        ),
        (
            "missing step type",
            doc("  - {id: s, url: http://x}\n"),
            y,
            "steps[0].type",
            "missing required field \"type\"",
        ),
        (
            "unknown field",
            doc("  - {id: s, type: sleep, duration: 1s, retyr: {max_attempts: 2}}\n"),
            y,
            "steps[0].retyr",
            "unknown field \"retyr\" in a step of type sleep (did you mean \"retry\"?",
        ),
        (
            "unknown top-level field",
            format!("enabled: true\n{}", doc(&sleep("s"))),
            y,
            "enabled",
            "unknown field \"enabled\" in the workflow",
        ),
        (
            "missing url",
            doc("  - {id: s, type: http_request, method: GET}\n"),
            y,
            "steps[0].url",
            "missing required field \"url\"",
        ),
        (
            "unknown event",
            doc(&sleep("s")).replace("{event: alerts}", "{event: alerts}, {event: nope}"),
            y,
            "triggers[1].event",
            "event \"nope\" does not exist",
        ),
        (
            "unknown secret",
            doc(
                "  - {id: s, type: http_request, url: http://x, headers: {Authorization: \"Bearer {{ secrets.chat_tokn }}\"}}\n",
            ),
            y,
            "steps[0].headers.Authorization",
            "secret \"chat_tokn\" does not exist",
        ),
        (
            "undeclared variable read",
            doc("  - {id: s, type: set_variables, values: {a: \"{{ vars.ticket }}\"}}\n"),
            y,
            "steps[0].values.a",
            "\"vars.ticket\" is not a declared variable (declared: a, b, at)",
        ),
        (
            "undeclared input read",
            doc("  - {id: s, type: fail, message: \"{{ inputs.sev }}\"}\n"),
            y,
            "steps[0].message",
            "\"inputs.sev\" is not a declared input (declared: severity)",
        ),
        (
            "later step referenced",
            doc(&format!(
                "  - {{id: s, type: fail, message: \"{{{{ steps.later.output }}}}\"}}\n{}",
                sleep("later")
            )),
            y,
            "steps[0].message",
            "step \"later\" comes after this one",
        ),
        (
            "unknown step referenced",
            doc(&format!(
                "{}{}  - {{id: s, type: fail, message: \"{{{{ steps.post2.output }}}}\"}}\n",
                sleep("post"),
                sleep("keep")
            )),
            y,
            "steps[2].message",
            "unknown step \"post2\": expressions may refer to steps that come before this one (known: post, keep)",
        ),
        (
            "self-referenced step",
            doc("  - {id: s, type: http_request, url: \"{{ steps.s.output.body.next }}\"}\n"),
            y,
            "steps[0].url",
            "step \"s\" cannot refer to its own output",
        ),
        (
            "steps.x.state",
            doc(&format!(
                "{}  - {{id: s, type: fail, message: \"{{{{ steps.first.state }}}}\"}}\n",
                sleep("first")
            )),
            y,
            "steps[1].message",
            "\"steps.first.state\" is not available: a step has output, status and error",
        ),
        (
            "enclosing step referenced",
            doc(r#"
  - id: each
    type: for_each
    items: [1]
    steps: [{id: s, type: fail, message: "{{ steps.each.output }}"}]
"#),
            y,
            "steps[0].steps[0].message",
            "step \"each\" contains this step",
        ),
        (
            "loop var outside loop",
            doc("  - {id: s, type: fail, message: \"n={{ loop.index }}\"}\n"),
            y,
            "steps[0].message",
            "\"loop.index\" is only available inside the steps of a for_each or while",
        ),
        (
            "item var outside for_each",
            doc(r#"
  - {id: each, type: for_each, items: [1], as: alert, steps: [{id: x, type: fail, message: "{{ alert }}"}]}
  - {id: s, type: fail, message: "{{ alert.id }}"}
"#),
            y,
            "steps[1].message",
            "\"alert\" is only available inside the steps of for_each \"each\"",
        ),
        (
            "unknown root name",
            doc("  - {id: s, type: fail, message: \"{{ trigger_body.x }}\"}\n"),
            y,
            "steps[0].message",
            "unknown name \"trigger_body\"",
        ),
        (
            "unknown trigger field",
            doc("  - {id: s, type: fail, message: \"{{ trigger.bdy.x }}\"}\n"),
            y,
            "steps[0].message",
            "\"trigger.bdy\" is not a trigger field",
        ),
        (
            "parallel sibling reference",
            doc(r#"
  - id: par
    type: parallel
    branches:
      - steps: [{id: a1, type: sleep, duration: 1s}]
      - steps: [{id: b1, type: fail, message: "{{ steps.a1.output }}"}]
"#),
            y,
            "steps[0].branches[1].steps[0].message",
            "step \"a1\" is in another branch of parallel step \"par\"",
        ),
        (
            "condition sibling reference",
            doc(r#"
  - id: c
    type: condition
    branches: [{when: "true", steps: [{id: a1, type: sleep, duration: 1s}]}]
    else: [{id: b1, type: fail, message: "{{ steps.a1.output }}"}]
"#),
            y,
            "steps[0].else[0].message",
            "another branch of condition \"c\"",
        ),
        (
            "set_variables undeclared",
            doc("  - {id: s, type: set_variables, values: {ticket: x}}\n"),
            y,
            "steps[0].values.ticket",
            "\"ticket\" is not a declared variable (declared: a, b, at)",
        ),
        (
            "set_variables on an input",
            doc("  - {id: s, type: set_variables, values: {severity: x}}\n"),
            y,
            "steps[0].values.severity",
            "\"severity\" is an input, and inputs cannot be set",
        ),
        (
            "wrong literal type",
            doc("  - {id: s, type: set_variables, values: {b: \"ten\"}}\n"),
            y,
            "steps[0].values.b",
            "variable \"b\" is integer: expected an integer, found a string (\"ten\")",
        ),
        (
            "bad datetime literal",
            doc("  - {id: s, type: set_variables, values: {at: \"2023-02-29T10:00:00Z\"}}\n"),
            y,
            "steps[0].values.at",
            "expected an RFC 3339 date-time",
        ),
        (
            "complete undeclared output",
            doc("  - {id: s, type: complete, outputs: {tickt: x}}\n"),
            y,
            "steps[0].outputs.tickt",
            "\"tickt\" is not a declared output (declared: ticket)",
        ),
        (
            "bad default type",
            "name: x\ninputs: [{name: n, type: integer, default: abc}]\n".to_string(),
            y,
            "inputs[0].default",
            "the default does not fit type integer: expected an integer",
        ),
        (
            "float default for integer",
            "name: x\nvariables: [{name: n, type: integer, default: 1.5}]\n".to_string(),
            y,
            "variables[0].default",
            "found a number (1.5)",
        ),
        (
            "unknown variable type",
            "name: x\nvariables: [{name: n, type: int}]\n".to_string(),
            y,
            "variables[0].type",
            "unknown type \"int\"",
        ),
        (
            "duplicate input",
            "name: x\ninputs: [{name: n, type: string}, {name: n, type: string}]\n".to_string(),
            y,
            "inputs[1].name",
            "duplicate input \"n\" (first at inputs[0])",
        ),
        (
            "required on a variable",
            "name: x\nvariables: [{name: n, type: string, required: true}]\n".to_string(),
            y,
            "variables[0].required",
            "unknown field \"required\" in a variable",
        ),
        (
            "bad duration",
            doc("  - {id: s, type: sleep, duration: 5x}\n"),
            y,
            "steps[0].duration",
            "invalid duration \"5x\"",
        ),
        (
            "bad timeout",
            doc("  - {id: s, type: sleep, duration: 1s, timeout: 10}\n").replace("10}", "\"10\"}"),
            y,
            "steps[0].timeout",
            "the unit is missing",
        ),
        (
            "sleep too long",
            doc("  - {id: s, type: sleep, duration: 8d}\n"),
            y,
            "steps[0].duration",
            "at most 7d, found 8d",
        ),
        (
            "bad regex",
            doc("  - {id: s, type: regex, input: x, pattern: \"(unclosed\"}\n"),
            y,
            "steps[0].pattern",
            "invalid regular expression: unclosed group",
        ),
        (
            "bad JSONPath",
            doc("  - {id: s, type: json_path, input: {a: 1}, query: \"a.b\"}\n"),
            y,
            "steps[0].query",
            "invalid JSONPath query \"a.b\"",
        ),
        (
            "invalid expression syntax in when",
            doc(
                "  - {id: c, type: condition, branches: [{when: \"trigger.body.x ==\", steps: []}]}\n",
            ),
            y,
            "steps[0].branches[0].when",
            "invalid expression",
        ),
        (
            "template braces in when",
            doc("  - {id: w, type: while, when: \"{{ loop.index < 3 }}\", steps: []}\n"),
            y,
            "steps[0].when",
            "this field is a bare expression: write it without {{ }} (as: loop.index < 3)",
        ),
        (
            "template syntax error in header",
            doc(
                "  - {id: s, type: http_request, url: http://x, headers: {X-Test: \"{{ trigger.body. }}\"}}\n",
            ),
            y,
            "steps[0].headers[\"X-Test\"]",
            "invalid template",
        ),
        (
            "bad method",
            doc("  - {id: s, type: http_request, method: FETCH, url: http://x}\n"),
            y,
            "steps[0].method",
            "unknown HTTP method \"FETCH\"",
        ),
        (
            "relative url",
            doc("  - {id: s, type: http_request, url: /notify}\n"),
            y,
            "steps[0].url",
            "expected an absolute http:// or https:// URL or a template",
        ),
        (
            "run_workflow to unknown",
            doc("  - {id: s, type: run_workflow, workflow: ghost}\n"),
            y,
            "steps[0].workflow",
            "workflow \"ghost\" does not exist",
        ),
        (
            "run_workflow to itself",
            doc("  - {id: s, type: run_workflow, workflow: wf}\n"),
            y,
            "steps[0].workflow",
            "a workflow cannot run itself (\"wf\")",
        ),
        (
            "max_attempts out of range",
            doc("  - {id: s, type: sleep, duration: 1s, retry: {max_attempts: 25, backoff: 2s}}\n"),
            y,
            "steps[0].retry.max_attempts",
            "max_attempts must be from 1 to 20",
        ),
        (
            "max_iterations out of range",
            doc("  - {id: s, type: for_each, items: [], max_iterations: 0, steps: []}\n"),
            y,
            "steps[0].max_iterations",
            "max_iterations must be from 1 to 10000",
        ),
        (
            "reserved item name",
            doc("  - {id: s, type: for_each, items: [], as: steps, steps: []}\n"),
            y,
            "steps[0].as",
            "\"steps\" is a reserved name",
        ),
        (
            "items not a list",
            doc("  - {id: s, type: for_each, items: 5, steps: []}\n"),
            y,
            "steps[0].items",
            "expected a list or a template that yields one",
        ),
        (
            "parallel without branches",
            doc("  - {id: s, type: parallel, branches: []}\n"),
            y,
            "steps[0].branches",
            "at least one branch",
        ),
        (
            "condition without branches",
            doc("  - {id: s, type: condition, branches: []}\n"),
            y,
            "steps[0].branches",
            "a condition needs at least one branch",
        ),
        (
            "empty name",
            "name: \"  \"\n".to_string(),
            y,
            "name",
            "the workflow needs a name",
        ),
        (
            "missing name",
            "steps: []\n".to_string(),
            y,
            "name",
            "missing required field \"name\"",
        ),
        (
            "wrong value kind",
            doc("  - {id: s, type: sleep, duration: 1s, continue_on_error: \"yes\"}\n"),
            y,
            "steps[0].continue_on_error",
            "expected true or false, found a string (\"yes\")",
        ),
        (
            "YAML syntax error with line number",
            "name: x\nsteps:\n  - id: a\n   type: sleep\n".to_string(),
            y,
            "",
            "line 4",
        ),
        (
            "YAML unclosed flow",
            "name: x\nsteps: [\n".to_string(),
            y,
            "",
            "invalid YAML",
        ),
        (
            "JSON syntax error with line number",
            "{\n  \"name\": \"x\",\n  \"steps\": [,]\n}".to_string(),
            Format::Json,
            "",
            "invalid JSON: expected value at line 3",
        ),
        (
            "nested url path",
            doc(r#"
  - id: c
    type: condition
    branches:
      - when: "true"
        steps:
          - {id: a, type: sleep, duration: 1s}
          - {id: b, type: http_request, url: "ftp://x"}
"#),
            y,
            "steps[0].branches[0].steps[1].url",
            "expected an absolute http:// or https:// URL",
        ),
        (
            "parallel branch step not an object",
            doc("  - {id: p, type: parallel, branches: [{steps: []}, {steps: [oops]}]}\n"),
            y,
            "steps[0].branches[1].steps[0]",
            "expected a step (an object with id and type), found a string (\"oops\")",
        ),
        (
            "for_each body set_variables path",
            doc(
                "  - {id: f, type: for_each, items: [1], steps: [{id: a, type: sleep, duration: 1s}, {id: b, type: sleep, duration: 1s}, {id: s, type: set_variables, values: {ticket: 1}}]}\n",
            ),
            y,
            "steps[0].steps[2].values.ticket",
            "\"ticket\" is not a declared variable",
        ),
        (
            "headers literal string",
            doc("  - {id: s, type: http_request, url: http://x, headers: \"X-A: 1\"}\n"),
            y,
            "steps[0].headers",
            "expected an object of name: value pairs or a template that yields one",
        ),
        (
            "duplicate trigger",
            doc(&sleep("s")).replace("{event: alerts}", "{event: alerts}, {event: alerts}"),
            y,
            "triggers[1].event",
            "duplicate trigger for event \"alerts\" (first at triggers[0])",
        ),
        (
            "root not an object",
            "- a\n- b\n".to_string(),
            y,
            "",
            "a workflow document must be an object",
        ),
    ]
}

#[test]
fn broken_definitions() {
    let rows = broken();
    assert!(rows.len() >= 25);
    let mut failures = Vec::new();
    for (what, text, format, path, needle) in rows {
        let errors = errors_of(&text, format);
        let hit = errors
            .iter()
            .any(|e| e.path == path && e.message.contains(needle));
        if !hit {
            failures.push(format!(
                "{what}: expected path {path:?} with {needle:?}, got {errors:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn all_errors_are_collected() {
    let text = doc(r#"
  - {id: a, type: sleep, duration: 5x, bogus: 1}
  - {id: b, type: http_request}
  - {id: c, type: nope}
"#);
    let errors = parse(&text, Format::Yaml).unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "steps[0].bogus",
            "steps[0].duration",
            "steps[1].url",
            "steps[2].type"
        ],
        "{errors:#?}"
    );

    let text = doc(r#"
  - {id: a, type: fail, message: "{{ vars.x }} {{ secrets.y }}"}
  - {id: a, type: sleep, duration: 0s}
"#)
    .replace("{event: alerts}", "{event: nope}");
    let errors = errors_of(&text, Format::Yaml);
    assert_eq!(errors.len(), 5, "{errors:#?}");
}

#[test]
fn limits() {
    let big = format!(
        "name: x\ndescription: \"{}\"\n",
        "a".repeat(MAX_DOCUMENT_BYTES)
    );
    let e = parse(&big, Format::Yaml).unwrap_err();
    assert_eq!(e[0].path, "");
    assert!(e[0].message.contains("at most 1048576 bytes"), "{e:?}");

    let deep_yaml = format!(
        "name: x\ndescription: {}{}\n",
        "[".repeat(70),
        "]".repeat(70)
    );
    let e = parse(&deep_yaml, Format::Yaml).unwrap_err();
    assert!(e[0].message.contains("nested too deeply"), "{e:?}");
    let deep_json = format!(
        "{{\"name\": \"x\", \"description\": {}{}}}",
        "[".repeat(70),
        "]".repeat(70)
    );
    let e = parse(&deep_json, Format::Json).unwrap_err();
    assert!(e[0].message.contains("nested too deeply"), "{e:?}");
    let deeper_json = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let e = parse(&deeper_json, Format::Json).unwrap_err();
    assert!(e[0].message.contains("nested too deeply"), "{e:?}");

    let many: Vec<serde_json::Value> = (0..=MAX_STEPS)
        .map(|i| json!({"id": format!("s{i}"), "type": "sleep", "duration": "1s"}))
        .collect();
    let text = json!({"name": "x", "steps": many}).to_string();
    let e = parse(&text, Format::Json).unwrap_err();
    assert_eq!(e.len(), 1, "{:?}", &e[..e.len().min(3)]);
    assert_eq!(e[0].path, "steps");
    assert!(e[0].message.contains("at most 10000"), "{e:?}");
}

#[test]
fn yaml_1_2_and_no_duplicate_keys() {
    // `no` stays a string (no YAML 1.1 booleans); duplicate keys are refused.
    let (wf, _) = parse("name: no\n", Format::Yaml).unwrap();
    assert_eq!(wf.name, "no");
    let e = parse("name: a\nname: b\n", Format::Yaml).unwrap_err();
    assert!(e[0].message.contains("duplicate"), "{e:?}");
    let e = parse("{\"name\": \"a\",\n \"name\": \"b\"}", Format::Json).unwrap_err();
    assert!(
        e[0].message.contains("duplicate key \"name\" at line 2"),
        "{e:?}"
    );
}

#[test]
fn content_types() {
    assert_eq!(
        Format::from_content_type("application/json; charset=utf-8"),
        Some(Format::Json)
    );
    assert_eq!(
        Format::from_content_type("application/x-yaml"),
        Some(Format::Yaml)
    );
    assert_eq!(Format::from_content_type("text/yaml"), Some(Format::Yaml));
    assert_eq!(Format::from_content_type("text/plain"), None);
}

#[test]
fn literal_types() {
    use super::literal::{fits, is_rfc3339};
    assert!(fits(VarType::Integer, &json!(3)).is_ok());
    assert!(fits(VarType::Integer, &json!(3.0)).is_err());
    assert!(fits(VarType::Number, &json!(3.5)).is_ok());
    assert!(fits(VarType::SecureString, &json!(1)).is_err());
    assert!(fits(VarType::Boolean, &json!(null)).is_ok());
    assert!(fits(VarType::Array, &json!({})).is_err());
    for ok in [
        "2024-05-01T12:00:00Z",
        "2024-02-29t00:00:00.123456+05:30",
        "2024-05-01 12:00:00-00:00",
    ] {
        assert!(is_rfc3339(ok), "{ok}");
    }
    for bad in [
        "2024-05-01",
        "2023-02-29T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:00:00",
        "2024-05-01T12:00:00+0100",
        "2024-05-01T12:00:00.Z",
        "2024-13-01T12:00:00Z",
    ] {
        assert!(!is_rfc3339(bad), "{bad}");
    }
}
