//! SPEC §11's additions to expressions, through the real server: date functions, `fromjson`,
//! JSON held in text for `json_path` and `for_each`, step status and error as data — each with a
//! working run and a failing one (a failed run, or a definition refused at save with the
//! error's path). `run_additions` has the rest of §11.

use serde_json::{Value, json};

use crate::common::*;

pub(crate) fn output<'a>(run: &'a Value, name: &str) -> &'a Value {
    &run["outputs"][name]
}

// ---------------------------------------------------------------------------------------------
// Dates

const DATES: &str = r#"
name: dates
inputs: [{name: when, type: string}, {name: shift, type: integer, default: 90}]
variables: [{name: at, type: datetime}]
outputs: [{name: parsed, type: datetime}, {name: from_epoch, type: datetime},
  {name: paris, type: string}, {name: later, type: datetime}, {name: epoch, type: integer},
  {name: between, type: number}, {name: age, type: number}, {name: now, type: datetime}]
steps:
  - {id: keep, type: set_variables, values: {at: "{{ datetime(inputs.when, '%d/%m/%Y %H:%M') }}"}}
  - id: done
    type: complete
    outputs:
      parsed: "{{ vars.at }}"
      from_epoch: "{{ datetime(1714564800) }}"
      paris: "{{ vars.at | strftime('%A %d %B %Y, %H:%M %Z', tz='Europe/Paris') }}"
      later: "{{ vars.at | add_seconds(inputs.shift) }}"
      epoch: "{{ vars.at | epoch }}"
      between: "{{ seconds_between('2024-05-01T11:00:00', vars.at) }}"
      age: "{{ seconds_between(vars.at, now()) }}"
      now: "{{ now() }}"
"#;

/// `datetime` with a format, from epoch seconds; `strftime` in a time zone; `add_seconds`,
/// `epoch`, `seconds_between` (a time without a zone is UTC), `now()` — and a value the format
/// does not read fails the step saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dates_parse_format_add_and_compare() {
    let (s, wf) = server_with_workflow(DATES).await;
    let run = run_expecting(&s, &wf, json!({"when": "01/05/2024 12:00"}), "succeeded").await;
    assert_eq!(output(&run, "parsed"), &json!("2024-05-01T12:00:00Z"));
    assert_eq!(output(&run, "from_epoch"), &json!("2024-05-01T12:00:00Z"));
    assert_eq!(
        output(&run, "paris"),
        &json!("Wednesday 01 May 2024, 14:00 CEST")
    );
    assert_eq!(output(&run, "later"), &json!("2024-05-01T12:01:30Z"));
    assert_eq!(output(&run, "epoch"), &json!(1714564800));
    assert_eq!(output(&run, "between"), &json!(3600));
    let age = output(&run, "age").as_f64().expect("a number");
    assert!(age > 5e7, "now() is long after May 2024: {age}");
    let now = output(&run, "now").as_str().expect("text");
    assert!(now.ends_with('Z') && now.len() >= 20, "{now}");

    // A value the format cannot read: the step fails with the value, the format and why.
    let run = run_expecting(&s, &wf, json!({"when": "2024-05-01 12:00"}), "failed").await;
    let keep = step(&run, "keep");
    assert_eq!(keep["status"], json!("failed"));
    error_contains(
        keep,
        "cannot read \"2024-05-01 12:00\" with format \"%d/%m/%Y %H:%M\"",
    );
}

/// What saving finds in date calls: a bad format, an unknown time zone, a literal that is no
/// date, a wrong number of arguments, seconds that are text, a variable of the wrong type, a
/// result that cannot fit its variable — each at its path.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn date_mistakes_are_refused_at_save() {
    let s = Server::start().await;
    let head = "inputs: [{name: flag, type: boolean, default: false}, {name: when, type: datetime, default: null}]\nvariables: [{name: n, type: integer}]\noutputs: [{name: o, type: string}]\nsteps:\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "  - {id: s, type: complete, outputs: {o: \"{{ inputs.when | strftime('%Y-%Q') }}\"}}\n",
            "steps[0].outputs.o",
            "invalid format \"%Y-%Q\"",
        ),
        (
            "  - {id: s, type: complete, outputs: {o: \"{{ inputs.when | strftime('%H', tz='Europe/Pariss') }}\"}}\n",
            "steps[0].outputs.o",
            "unknown time zone \"Europe/Pariss\"",
        ),
        (
            "  - {id: s, type: complete, outputs: {o: \"{{ datetime('31/12/2024') }}\"}}\n",
            "steps[0].outputs.o",
            "cannot read \"31/12/2024\" as a date-time",
        ),
        (
            "  - {id: s, type: complete, outputs: {o: \"{{ inputs.when | strftime }}\"}}\n",
            "steps[0].outputs.o",
            "`strftime` needs its fmt",
        ),
        (
            "  - {id: s, type: complete, outputs: {o: \"{{ seconds_between(inputs.when) }}\"}}\n",
            "steps[0].outputs.o",
            "seconds_between() needs its b",
        ),
        (
            "  - {id: s, type: complete, outputs: {o: \"{{ inputs.when | add_seconds('60') }}\"}}\n",
            "steps[0].outputs.o",
            "must be a number, not string",
        ),
        (
            "  - {id: s, type: complete, outputs: {o: \"{{ inputs.flag | strftime('%Y') }}\"}}\n",
            "steps[0].outputs.o",
            "the value of `strftime` must be a date-time (RFC 3339 text or epoch seconds), but inputs.flag is declared boolean",
        ),
        (
            "  - {id: s, type: set_variables, values: {n: \"{{ now() }}\"}}\n",
            "steps[0].values.n",
            "variable \"n\" is integer, but the template gives a date-time",
        ),
        (
            "  - {id: s, type: set_variables, values: {n: \"{{ inputs.flag }}\"}}\n",
            "steps[0].values.n",
            "variable \"n\" is integer, but inputs.flag is declared boolean",
        ),
    ];
    for (i, (steps, path, needle)) in cases.iter().enumerate() {
        refused(&s, &format!("name: d{i}\n{head}{steps}"), path, needle).await;
    }
}

// ---------------------------------------------------------------------------------------------
// fromjson

/// `fromjson` reads JSON held in text (a field of a webhook body that is itself JSON); text that
/// is not JSON fails the step with the parser's message; a huge text runs out of the evaluation
/// budget instead of building a huge value.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fromjson_reads_json_held_in_text() {
    let (s, wf) = server_with_workflow(
        r#"
name: from-json
inputs: [{name: text, type: string}]
outputs: [{name: ids, type: array}, {name: first, type: string}]
steps:
  - id: done
    type: complete
    outputs:
      ids: "{{ (inputs.text | fromjson).alerts | map(attribute='id') | list }}"
      first: "{{ (inputs.text | fromjson)['alerts'][0].title }}"
"#,
    )
    .await;
    let text = json!({"alerts": [{"id": 7, "title": "disk"}, {"id": 8}]}).to_string();
    let run = run_expecting(&s, &wf, json!({"text": text}), "succeeded").await;
    assert_eq!(run["outputs"], json!({"ids": [7, 8], "first": "disk"}));

    let run = run_expecting(&s, &wf, json!({"text": "{\"alerts\": [1,"}), "failed").await;
    error_contains(
        step(&run, "done"),
        "fromjson: the text is not JSON: EOF while parsing a value",
    );

    // 1.8 MB of JSON text: refused by the step budget, the server answers on.
    let huge = format!("[{}1]", "1,".repeat(900_000));
    let run = run_expecting(&s, &wf, json!({"text": huge}), "failed").await;
    error_contains(step(&run, "done"), "ran out of fuel");
    s.api_get("/healthz").await.expect_status(200);

    refused(
        &s,
        "name: fj\nsteps:\n  - {id: s, type: fail, message: \"{{ 'x' | from_json }}\"}\n",
        "steps[0].message",
        "unknown filter \"from_json\" (did you mean \"fromjson\"?",
    )
    .await;
    refused(
        &s,
        "name: fj2\ninputs: [{name: n, type: integer, default: 1}]\nsteps:\n  - {id: s, type: fail, message: \"{{ inputs.n | fromjson }}\"}\n",
        "steps[0].message",
        "the value of `fromjson` must be a string, but inputs.n is declared integer",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// JSON held in text for json_path and for_each; a templated query

const JSON_TEXT: &str = r#"
name: json-text
inputs: [{name: text, type: string}, {name: field, type: string, default: id}]
outputs: [{name: ids, type: array}, {name: each, type: array}, {name: literal, type: array}]
steps:
  - id: pick
    type: json_path
    input: "{{ inputs.text }}"
    query: "$.alerts[*].{{ inputs.field }}"
  - id: each
    type: for_each
    items: "{{ (inputs.text | fromjson).alerts | tojson }}"
    steps:
      - {id: title, type: json_path, input: "{{ item }}", query: "$.title"}
  - id: literal
    type: for_each
    items: '[{"n": 1}, {"n": 2}]'
    as: x
    steps:
      - {id: n, type: json_path, input: "{{ x }}", query: $.n}
  - id: done
    type: complete
    outputs:
      ids: "{{ steps.pick.output.values }}"
      each: "{{ steps.each.output | map(attribute='value') | list }}"
      literal: "{{ steps.literal.output | map(attribute='value') | list }}"
"#;

/// `json_path.input` and `for_each.items` given text holding JSON parse it first;
/// `json_path.query` is rendered from a template. Text that is not JSON, and a rendered query
/// that is not JSONPath, fail the step; a literal that is not a JSON list is refused at save.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_text_in_json_path_and_for_each() {
    let (s, wf) = server_with_workflow(JSON_TEXT).await;
    let text = json!({"alerts": [{"id": 7, "title": "disk"}, {"id": 8, "title": "cpu"}]});
    let run = run_expecting(&s, &wf, json!({"text": text.to_string()}), "succeeded").await;
    assert_eq!(
        run["outputs"],
        json!({"ids": [7, 8], "each": ["disk", "cpu"], "literal": [1, 2]})
    );
    assert_eq!(
        step(&run, "pick")["input"]["query"],
        json!("$.alerts[*].id"),
        "the rendered query is recorded"
    );
    let run = run_to_end(&s, &wf, json!({"text": text.to_string(), "field": "title"})).await;
    assert_eq!(run["outputs"]["ids"], json!(["disk", "cpu"]));

    let run = run_expecting(&s, &wf, json!({"text": "alerts: none"}), "failed").await;
    error_contains(
        step(&run, "pick"),
        "input is text that does not hold JSON: expected value at line 1 column 1",
    );
    let run = run_expecting(&s, &wf, json!({"text": "{}", "field": "[["}), "failed").await;
    error_contains(step(&run, "pick"), "bad JSONPath \"$.alerts[*].[[\"");

    refused(
        &s,
        "name: jt1\nsteps:\n  - {id: l, type: for_each, items: '{\"a\": 1}', steps: [{id: s, type: sleep, duration: 1s}]}\n",
        "steps[0].items",
        "the text holds JSON that is not a list: an object",
    )
    .await;
    refused(
        &s,
        "name: jt2\nsteps:\n  - {id: l, type: for_each, items: 'a, b', steps: [{id: s, type: sleep, duration: 1s}]}\n",
        "steps[0].items",
        "this text is not JSON",
    )
    .await;
    refused(
        &s,
        "name: jt3\nsteps:\n  - {id: p, type: json_path, input: {}, query: \"$.{{ vars.nope }}\"}\n",
        "steps[0].query",
        "\"vars.nope\" is not a declared variable",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Errors as data

const ERRORS_AS_DATA: &str = r#"
name: errors-as-data
inputs: [{name: text, type: string}]
outputs: [{name: status, type: string}, {name: error, type: string},
  {name: ok_status, type: string}, {name: ok_error, type: string},
  {name: loop_status, type: string}, {name: branch, type: string}]
steps:
  - id: parse
    type: json_path
    input: "{{ inputs.text }}"
    query: $.a
    continue_on_error: true
  - {id: ok, type: regex, input: abc, pattern: b}
  - id: loop
    type: for_each
    items: "{{ inputs.text }}"
    continue_on_error: true
    steps:
      - {id: inner, type: regex, input: x, pattern: x}
  - id: check
    type: condition
    branches:
      - when: steps.parse.status == "failed"
        steps: [{id: bad, type: regex, input: "{{ steps.parse.error }}", pattern: "JSON"}]
    else: [{id: good, type: regex, input: ok, pattern: ok}]
  - id: done
    type: complete
    outputs:
      status: "{{ steps.parse.status }}"
      error: "{{ steps.parse.error }}"
      ok_status: "{{ steps.ok.status }}"
      ok_error: "{{ steps.ok.error }}"
      loop_status: "{{ steps.loop.status }}"
      branch: "{{ steps.check.output.branch }}"
"#;

/// After a step that failed with `continue_on_error`, `steps.<id>.status` is `failed` and
/// `steps.<id>.error` its recorded message (also for a control step); for a step that succeeded
/// they are `succeeded` and `null`. A condition can branch on them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_step_status_and_error_are_readable() {
    let (s, wf) = server_with_workflow(ERRORS_AS_DATA).await;
    let run = run_expecting(&s, &wf, json!({"text": "not json"}), "succeeded").await;
    let recorded = step(&run, "parse")["error"].as_str().expect("an error");
    assert!(recorded.contains("does not hold JSON"), "{recorded}");
    assert_eq!(output(&run, "status"), &json!("failed"));
    assert_eq!(output(&run, "error"), &json!(recorded));
    assert_eq!(output(&run, "ok_status"), &json!("succeeded"));
    assert_eq!(output(&run, "ok_error"), &Value::Null);
    assert_eq!(output(&run, "loop_status"), &json!("failed"));
    assert_eq!(output(&run, "branch"), &json!(0));
    assert_eq!(step(&run, "bad")["output"]["matched"], json!(true));

    // Both succeed: status `succeeded`, error null, the else branch.
    let run = run_expecting(&s, &wf, json!({"text": "[1]"}), "succeeded").await;
    assert_eq!(output(&run, "status"), &json!("succeeded"));
    assert_eq!(output(&run, "error"), &Value::Null);
    assert_eq!(output(&run, "loop_status"), &json!("succeeded"));
    assert_eq!(output(&run, "branch"), &json!("else"));

    refused(
        &s,
        "name: ead\nsteps:\n  - {id: a, type: regex, input: x, pattern: x}\n  - {id: b, type: fail, message: \"{{ steps.a.message }}\"}\n",
        "steps[1].message",
        "\"steps.a.message\" is not available: a step has output, status and error",
    )
    .await;
}
