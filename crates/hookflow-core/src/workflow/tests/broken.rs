//! Broken definitions: a table of documents, each with the exact path and a distinctive part of
//! the error message, and a document whose errors are all collected.

use super::*;

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
