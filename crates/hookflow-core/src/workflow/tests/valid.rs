//! Documents that parse and validate clean: the SPEC §4 example, the JSON form and its round
//! trip, defaults and durations in the model, and references that resolve.

use serde_json::json;

use super::*;

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
