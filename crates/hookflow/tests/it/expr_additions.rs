//! SPEC §11's additions for migrated workflows, through the real server: date functions,
//! `fromjson`, JSON held in text for `json_path` and `for_each`, step status and error as data,
//! run metadata, `break`/`continue`, secure strings, step titles — each with a working run and
//! a failing one (a failed run, or a definition refused at save with the error's path).

use serde_json::{Value, json};

use crate::common::*;
use crate::engine_steps::{error_contains, expect_status, records, run_to_end, step};

/// Saves `yaml`, which must be invalid with an error at `path` whose message contains `needle`.
pub(crate) async fn refused(s: &Server, yaml: &str, path: &str, needle: &str) {
    let w = create_workflow(s, yaml).await;
    assert_eq!(w["validation"]["status"], json!("invalid"), "{yaml}\n{w}");
    let errors = w["validation"]["errors"].as_array().expect("errors");
    assert!(
        errors.iter().any(|e| e["path"] == json!(path)
            && e["message"].as_str().is_some_and(|m| m.contains(needle))),
        "expected an error at {path} containing {needle:?}, got {errors:#?}"
    );
}

fn output<'a>(run: &'a Value, name: &str) -> &'a Value {
    &run["outputs"][name]
}

// ---------------------------------------------------------------------------------------------
// Dates

const DATES: &str = r#"
name: dates
inputs:
  - {name: when, type: string}
  - {name: shift, type: integer, default: 90}
variables:
  - {name: at, type: datetime}
outputs:
  - {name: parsed, type: datetime}
  - {name: from_epoch, type: datetime}
  - {name: paris, type: string}
  - {name: later, type: datetime}
  - {name: epoch, type: integer}
  - {name: between, type: number}
  - {name: age, type: number}
  - {name: now, type: datetime}
steps:
  - id: keep
    type: set_variables
    values: {at: "{{ datetime(inputs.when, '%d/%m/%Y %H:%M') }}"}
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
    let s = Server::start().await;
    let wf = valid_workflow(&s, DATES).await;
    let run = run_to_end(&s, &wf, json!({"when": "01/05/2024 12:00"})).await;
    expect_status(&run, "succeeded");
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
    let run = run_to_end(&s, &wf, json!({"when": "2024-05-01 12:00"})).await;
    expect_status(&run, "failed");
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
    let s = Server::start().await;
    let wf = valid_workflow(
        &s,
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
    let run = run_to_end(&s, &wf, json!({"text": text})).await;
    expect_status(&run, "succeeded");
    assert_eq!(run["outputs"], json!({"ids": [7, 8], "first": "disk"}));

    let run = run_to_end(&s, &wf, json!({"text": "{\"alerts\": [1,"})).await;
    expect_status(&run, "failed");
    error_contains(
        step(&run, "done"),
        "fromjson: the text is not JSON: EOF while parsing a value",
    );

    // 1.8 MB of JSON text: refused by the step budget, the server answers on.
    let huge = format!("[{}1]", "1,".repeat(900_000));
    let run = run_to_end(&s, &wf, json!({"text": huge})).await;
    expect_status(&run, "failed");
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
    let s = Server::start().await;
    let wf = valid_workflow(&s, JSON_TEXT).await;
    let text = json!({"alerts": [{"id": 7, "title": "disk"}, {"id": 8, "title": "cpu"}]});
    let run = run_to_end(&s, &wf, json!({"text": text.to_string()})).await;
    expect_status(&run, "succeeded");
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

    let run = run_to_end(&s, &wf, json!({"text": "alerts: none"})).await;
    expect_status(&run, "failed");
    error_contains(
        step(&run, "pick"),
        "input is text that does not hold JSON: expected value at line 1 column 1",
    );
    let run = run_to_end(&s, &wf, json!({"text": "{}", "field": "[["})).await;
    expect_status(&run, "failed");
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
outputs:
  - {name: status, type: string}
  - {name: error, type: string}
  - {name: ok_status, type: string}
  - {name: ok_error, type: string}
  - {name: loop_status, type: string}
  - {name: branch, type: string}
steps:
  - id: parse
    type: json_path
    input: "{{ inputs.text }}"
    query: $.a
    continue_on_error: true
  - id: ok
    type: regex
    input: abc
    pattern: b
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
    let s = Server::start().await;
    let wf = valid_workflow(&s, ERRORS_AS_DATA).await;
    let run = run_to_end(&s, &wf, json!({"text": "not json"})).await;
    expect_status(&run, "succeeded");
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
    let run = run_to_end(&s, &wf, json!({"text": "[1]"})).await;
    expect_status(&run, "succeeded");
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

// ---------------------------------------------------------------------------------------------
// Run metadata, the trigger a run started with, deliveries in /metrics

const METADATA: &str = r#"
name: metadata
triggers: [{event: meta-alerts}]
outputs:
  - {name: started_at, type: datetime}
  - {name: started_by, type: string}
  - {name: version, type: integer}
  - {name: age, type: number}
steps:
  - id: done
    type: complete
    outputs:
      started_at: "{{ run.started_at }}"
      started_by: "{{ run.started_by }}"
      version: "{{ run.workflow_version }}"
      age: "{{ seconds_between(run.started_at, now()) }}"
"#;

/// The finished run a webhook delivery started.
async fn run_of_delivery(s: &Server, delivery_id: &str) -> Value {
    eventually(std::time::Duration::from_secs(30), || async {
        let d = s.delivery(delivery_id).await;
        let id = d["runs"][0]["id"].as_str().map(str::to_string);
        let Some(id) = id else {
            return Err(format!("no run yet: {d}"));
        };
        let run = get_run(s, &id).await;
        if is_final(&run["status"]) {
            Ok(run)
        } else {
            Err(format!("run not finished: {run}"))
        }
    })
    .await
}

/// `run.started_at`, `run.started_by` (`webhook`, `manual`, `workflow`) and
/// `run.workflow_version`; a run's answer holds the trigger variables it started with; an unknown
/// `run` field is refused at save.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_metadata_and_trigger_variables() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("meta-hook", "application/json").await;
    let hook_id = hook["id"].as_str().unwrap();
    let event = create_event(&s, json!({"name": "meta-alerts", "webhook_id": hook_id})).await;
    let w = create_workflow(&s, METADATA).await;
    assert_eq!(w["validation"]["status"], json!("valid"), "{w}");
    let wf = w["id"].as_str().unwrap().to_string();

    let body = json!({"severity": "high", "hosts": ["db-1"]});
    let delivery = send(&s, &hook, &body, &[("x-source", "test")]).await;
    let run = run_of_delivery(&s, &delivery).await;
    expect_status(&run, "succeeded");
    assert_eq!(output(&run, "started_by"), &json!("webhook"));
    let version = output(&run, "version").as_i64().expect("an integer");
    assert!(version >= 1, "{version}");
    assert_eq!(output(&run, "started_at"), &run["started_at"]);
    let age = output(&run, "age").as_f64().unwrap();
    assert!((0.0..60.0).contains(&age), "{age}");
    assert_eq!(run["started_by"], json!("webhook"));

    // The trigger variables (SPEC §3), beside the kind and ids.
    let t = &run["trigger"];
    assert_eq!(t["kind"], json!("webhook"));
    assert_eq!(t["body"], body);
    assert_eq!(t["raw_body"], json!(body.to_string()));
    assert_eq!(t["request_body"], json!(body.to_string()));
    assert_eq!(t["headers"]["x-source"], json!("test"));
    assert!(t["headers"].get("x-api-key").is_none());
    assert!(
        t["request_headers"]
            .as_array()
            .is_some_and(|h| !h.is_empty())
    );
    assert_eq!(t["content_type"], json!("application/json"));
    assert_eq!(t["webhook"], json!({"id": hook_id, "name": "meta-hook"}));
    assert_eq!(
        t["event"],
        json!({"id": event["id"], "name": "meta-alerts"})
    );
    assert_eq!(t["event_id"], event["id"]);
    assert_eq!(t["delivery_id"], json!(delivery));
    assert!(
        t["received_at"].as_str().is_some_and(|r| r.ends_with('Z')),
        "{t}"
    );
    assert!(
        !t.to_string().contains(hook["api_key"].as_str().unwrap()),
        "no key in the trigger"
    );

    // Over 64 KiB the body's text is left out (the delivery has it); the parsed body stays.
    let big = json!({"blob": "x".repeat(70_000)});
    let delivery = send(&s, &hook, &big, &[]).await;
    let run = run_of_delivery(&s, &delivery).await;
    assert_eq!(run["trigger"]["body"], big);
    assert!(
        run["trigger"].get("raw_body").is_none() && run["trigger"].get("request_body").is_none()
    );

    // Started by hand, after a change of the definition (a new version), and as a sub-workflow.
    let changed = METADATA.replace("name: metadata", "name: metadata\ndescription: changed");
    send_workflow(
        &s,
        reqwest::Method::PUT,
        &format!("/api/v1/workflows/{wf}"),
        &changed,
    )
    .await
    .expect_status(200);
    let run = run_to_end(&s, &wf, json!({})).await;
    assert_eq!(output(&run, "started_by"), &json!("manual"));
    assert!(output(&run, "version").as_i64().unwrap() > version, "{run}");
    assert_eq!(
        run["trigger"],
        json!({"kind": "manual", "delivery_id": null, "event_id": null, "scheduled_at": null})
    );
    let parent = valid_workflow(
        &s,
        "name: meta-parent\noutputs: [{name: by, type: string}]\nsteps:\n  - {id: call, type: run_workflow, workflow: metadata}\n  - {id: done, type: complete, outputs: {by: \"{{ steps.call.output.started_by }}\"}}\n",
    )
    .await;
    let run = run_to_end(&s, &parent, json!({})).await;
    expect_status(&run, "succeeded");
    assert_eq!(output(&run, "by"), &json!("workflow"));

    refused(
        &s,
        "name: meta-bad\nsteps:\n  - {id: f, type: fail, message: \"{{ run.started }}\"}\n",
        "steps[0].message",
        "\"run.started\" is not available: run has id, workflow, started_at, started_by and workflow_version",
    )
    .await;
}

/// `hookflow_deliveries_total` counts each webhook's accepted and rejected requests by the
/// webhook's id; no key appears in the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_are_counted_by_webhook_and_status() {
    let s = Server::start().await;
    let a = s.unlimited_webhook("count-a", "application/json").await;
    let b = s.unlimited_webhook("count-b", "application/json").await;
    for _ in 0..3 {
        send(&s, &a, &json!({"n": 1}), &[]).await;
    }
    send(&s, &b, &json!({"n": 1}), &[]).await;
    // Wrong content type (415) and wrong key (401): rejected.
    let wrong_type = s
        .client
        .post(s.hook_url(&a))
        .header("accept", "application/json")
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    let wrong_key = s
        .client
        .post(s.hook_url_with_key(&a, "not-the-key"))
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), 401);

    let m = s.metrics().await;
    let count = |hook: &Value, status: &str| {
        metric_value(
            &m,
            "hookflow_deliveries_total",
            &format!(
                "webhook=\"{}\",status=\"{status}\"",
                hook["id"].as_str().unwrap()
            ),
        )
    };
    assert_eq!(count(&a, "accepted"), 3.0, "{m}");
    assert_eq!(count(&a, "rejected"), 2.0, "{m}");
    assert_eq!(count(&b, "accepted"), 1.0, "{m}");
    assert_eq!(count(&b, "rejected"), 0.0, "{m}");
    assert!(m.contains("# HELP hookflow_deliveries_total"), "{m}");
    for hook in [&a, &b] {
        assert!(
            !m.contains(hook["api_key"].as_str().unwrap()),
            "a key in /metrics"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// break and continue

const LOOP_CONTROL: &str = r#"
name: loop-control
inputs: [{name: nap, type: string, default: 1ms}]
variables: [{name: seen, type: array, default: []}, {name: n, type: integer, default: 0}]
outputs:
  - {name: seen, type: array}
  - {name: each, type: array}
  - {name: n, type: integer}
  - {name: while, type: object}
steps:
  - id: each
    type: for_each
    items: [0, 1, 2, 3, 4, 5]
    steps:
      - id: decide
        type: condition
        branches:
          - when: item == 1
            steps: [{id: skip, type: continue}]
          - when: item == 3
            steps: [{id: stop, type: break}]
      - {id: nap, type: sleep, duration: 300ms}
      - {id: mark, type: set_variables, values: {seen: "{{ vars.seen + [item] }}"}}
  - id: count
    type: while
    when: "true"
    steps:
      - {id: inc, type: set_variables, values: {n: "{{ vars.n + 1 }}"}}
      - id: enough
        type: condition
        branches:
          - when: vars.n >= 4
            steps: [{id: done_counting, type: break}]
      - {id: odd, type: condition, branches: [{when: vars.n % 2 == 1, steps: [{id: next, type: continue}]}]}
      - {id: even, type: set_variables, values: {n: "{{ vars.n }}"}}
  - id: done
    type: complete
    outputs:
      seen: "{{ vars.seen }}"
      each: "{{ steps.each.output }}"
      n: "{{ vars.n }}"
      while: "{{ steps.count.output }}"
"#;

/// `continue` ends an iteration and `break` the loop, from inside a condition in a `for_each`
/// and a `while`; the loop's output and the step records say what ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn break_and_continue_end_iterations_and_loops() {
    let s = Server::start().await;
    let wf = valid_workflow(&s, LOOP_CONTROL).await;
    let run = run_to_end(&s, &wf, json!({})).await;
    check_loop_control(&run);
}

fn check_loop_control(run: &Value) {
    expect_status(run, "succeeded");
    assert_eq!(output(run, "seen"), &json!([0, 2]));
    // one entry per iteration that ran (0–3); iterations 1 and 3 ended in the condition
    let each = output(run, "each").as_array().expect("a list");
    assert_eq!(each.len(), 4, "{each:?}");
    assert_eq!(each[1], json!({"branch": 0}));
    assert_eq!(each[3], json!({"branch": 1}));
    assert_eq!(each[0], json!({"seen": [0]}));
    assert_eq!(output(run, "n"), &json!(4));
    assert_eq!(
        output(run, "while"),
        &json!({"iterations": 4, "broken_by": "done_counting"})
    );
    let iterations = |id: &str| -> Vec<Value> {
        records(run, id)
            .iter()
            .map(|r| r["iteration"].clone())
            .collect()
    };
    assert_eq!(iterations("skip"), [json!(1)]);
    assert_eq!(iterations("stop"), [json!(3)]);
    assert_eq!(iterations("nap"), [json!(0), json!(2)]);
    assert_eq!(iterations("mark"), [json!(0), json!(2)]);
    assert_eq!(iterations("decide").len(), 4);
    assert_eq!(iterations("next"), [json!(0), json!(2)]);
    assert_eq!(iterations("even"), [json!(1)]);
    assert_eq!(iterations("done_counting"), [json!(3)]);
    for id in ["skip", "stop", "next", "done_counting"] {
        for r in records(run, id) {
            assert_eq!(r["status"], json!("succeeded"), "{r}");
            assert_eq!(
                r["type"],
                json!(if id == "skip" || id == "next" {
                    "continue"
                } else {
                    "break"
                })
            );
        }
    }
}

/// A run killed (`kill -9`) while a loop sleeps between a `continue` and a `break` resumes from
/// its records after a restart: the `continue` already taken is replayed, the `break` ends the
/// loop, and every step is recorded once per iteration.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn break_and_continue_survive_a_crash() {
    let mut s = Server::start_with(&["--run-lease-seconds", "2"]).await;
    let wf = valid_workflow(&s, &LOOP_CONTROL.replace("duration: 300ms", "duration: 2s")).await;
    let a = crate::engine_steps::start_run(&s, &wf, json!({}), 0.0).await;
    let id = a.json()["id"].as_str().expect("run id").to_string();
    // Iteration 1 was skipped and iteration 2 sleeps.
    eventually(std::time::Duration::from_secs(30), || async {
        let run = get_run(&s, &id).await;
        if records(&run, "nap")
            .iter()
            .any(|r| r["iteration"] == json!(2))
        {
            Ok(())
        } else {
            Err(format!("not in iteration 2 yet: {run}"))
        }
    })
    .await;
    s.kill9();
    s.restart().await;
    let run =
        crate::engine_steps::wait_run_within(&s, &id, std::time::Duration::from_secs(60)).await;
    check_loop_control(&run);
}

/// `break` and `continue` outside a loop, or reaching a loop from inside a `parallel` branch,
/// are refused at save with the step's path; inside a condition inside a loop they are valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn break_outside_a_loop_is_refused() {
    let s = Server::start().await;
    refused(
        &s,
        "name: lc1\nsteps:\n  - {id: b, type: break}\n",
        "steps[0]",
        "a break step is valid only inside the steps of a for_each or while",
    )
    .await;
    refused(
        &s,
        "name: lc2\nsteps:\n  - id: c\n    type: condition\n    branches: [{when: 'true', steps: [{id: n, type: continue}]}]\n",
        "steps[0].branches[0].steps[0]",
        "a continue step is valid only inside the steps of a for_each or while",
    )
    .await;
    refused(
        &s,
        "name: lc3\nsteps:\n  - id: l\n    type: for_each\n    items: [1]\n    steps:\n      - id: p\n        type: parallel\n        branches: [{steps: [{id: b, type: break}]}]\n",
        "steps[0].steps[0].branches[0].steps[0]",
        "a break step cannot act on loop \"l\" from inside parallel step \"p\"",
    )
    .await;
    refused(
        &s,
        "name: lc4\nsteps:\n  - {id: b, type: break, when: x}\n",
        "steps[0].when",
        "unknown field \"when\"",
    )
    .await;
    // A loop inside a parallel branch is fine.
    valid_workflow(
        &s,
        "name: lc5\nsteps:\n  - id: p\n    type: parallel\n    branches: [{steps: [{id: l, type: while, when: 'true', steps: [{id: b, type: break}]}]}]\n",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// secure_string values

const TOKEN: &str = "T0ken-Value-7781";
const SESSION: &str = "S3ss10n-Abcdef-42";
const KEY: &str = "0utput-Secr3t-99";
const PIN: &str = "P1n-C0de-4242";

const SECURE_CHILD: &str = r#"
name: secure-child
inputs: [{name: pin, type: secure_string}]
outputs: [{name: ok, type: boolean}]
steps:
  - {id: look, type: regex, input: "pin={{ inputs.pin }}", pattern: "pin=(.*)"}
  - {id: done, type: complete, outputs: {ok: "{{ inputs.pin == 'P1n-C0de-4242' }}"}}
"#;

const SECURE: &str = r#"
name: secure
inputs:
  - {name: token, type: secure_string}
variables:
  - {name: session, type: secure_string}
outputs:
  - {name: key, type: secure_string}
  - {name: echo, type: string}
  - {name: matched, type: boolean}
  - {name: child_ok, type: boolean}
steps:
  - {id: auth, type: regex, input: "Bearer {{ inputs.token }}", pattern: "Bearer (.*)"}
  - {id: keep, type: set_variables, values: {session: "{{ 'S3ss10n-' ~ 'Abcdef-42' }}"}}
  - {id: nap, type: sleep, duration: 50ms}
  - {id: show, type: regex, input: "s={{ vars.session | upper }} t={{ inputs.token | urlencode }}", pattern: "s=(\\S+)"}
  - {id: call, type: run_workflow, workflow: secure-child, inputs: {pin: "P1n-C0de-4242"}}
  - id: done
    type: complete
    outputs:
      key: "{{ 'out-' ~ '0utput-' ~ 'Secr3t-99' }}"
      echo: "{{ '0utput-' ~ 'Secr3t-99' }} and {{ inputs.token }}"
      matched: "{{ vars.session == 'S3ss10n-Abcdef-42' and steps.auth.output.groups[1] == inputs.token }}"
      child_ok: "{{ steps.call.output.ok }}"
"#;

/// The values of declared `secure_string` inputs, variables and outputs — and of a sub-run's
/// secure inputs in the step that passes them — are `***` wherever the run is recorded and
/// shown from the moment they are known (inputs, step inputs and outputs, outputs; upper-cased,
/// URL-encoded and sliced forms too, also after the run resumed from a sleep), while the run
/// computes with the real values.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secure_string_values_are_masked_in_records() {
    let s = Server::start().await;
    valid_workflow(&s, SECURE_CHILD).await;
    let wf = valid_workflow(&s, SECURE).await;
    let run = run_to_end(&s, &wf, json!({"token": TOKEN})).await;
    expect_status(&run, "succeeded");
    assert_eq!(
        output(&run, "matched"),
        &json!(true),
        "real values are used"
    );
    assert_eq!(output(&run, "child_ok"), &json!(true));
    assert_eq!(output(&run, "key"), &json!("***"));
    assert_eq!(output(&run, "echo"), &json!("*** and ***"));
    assert_eq!(run["inputs"], json!({"token": "***"}));
    assert_eq!(step(&run, "auth")["output"]["groups"][1], json!("***"));
    assert_eq!(step(&run, "keep")["output"], json!({"session": "***"}));
    assert_eq!(step(&run, "show")["input"]["input"], json!("s=*** t=***"));
    assert_eq!(step(&run, "call")["input"]["inputs"], json!({"pin": "***"}));
    let text = run.to_string();
    for v in [TOKEN, SESSION, KEY, PIN] {
        for form in [v.to_string(), v.to_uppercase(), v.to_lowercase()] {
            assert!(!text.contains(&form), "{form} recorded: {text}");
        }
    }
    // The sub-run shows its secure input masked too.
    let child = &step(&run, "call")["output"];
    assert_eq!(child, &json!({"ok": true}));
    let children = s.all_runs("status=succeeded").await;
    let child = children
        .iter()
        .find(|r| r["workflow"] == json!("secure-child"))
        .expect("the sub-run");
    let child = get_run(&s, child["id"].as_str().unwrap()).await;
    assert_eq!(child["inputs"], json!({"pin": "***"}));
    assert_eq!(step(&child, "look")["output"]["groups"][1], json!("***"));
    assert!(!child.to_string().contains(PIN));

    // A secure_string must be text: a number as its default is refused at save.
    refused(
        &s,
        "name: sec-bad\nvariables: [{name: s, type: secure_string, default: 5}]\nsteps:\n  - {id: x, type: sleep, duration: 1ms}\n",
        "variables[0].default",
        "the default does not fit type secure_string",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Step titles

/// Any step may have a `title`: the run's steps show it (`null` without one); a title that is
/// not text, or too long, is refused at save.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn step_titles_are_shown_and_checked() {
    let s = Server::start().await;
    let wf = valid_workflow(
        &s,
        "name: titled\nsteps:\n  - {id: a, type: regex, input: x, pattern: x, title: Find the x}\n  - {id: b, type: regex, input: x, pattern: x}\n",
    )
    .await;
    let run = run_to_end(&s, &wf, json!({})).await;
    assert_eq!(step(&run, "a")["title"], json!("Find the x"));
    assert_eq!(step(&run, "b")["title"], Value::Null);
    refused(
        &s,
        "name: t1\nsteps:\n  - {id: a, type: regex, input: x, pattern: x, title: [1]}\n",
        "steps[0].title",
        "expected a string, found a list",
    )
    .await;
    refused(
        &s,
        &format!(
            "name: t2\nsteps:\n  - {{id: a, type: regex, input: x, pattern: x, title: {}}}\n",
            "t".repeat(201)
        ),
        "steps[0].title",
        "at most 200 are allowed",
    )
    .await;
}
