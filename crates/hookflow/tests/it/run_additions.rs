//! SPEC §11's additions to runs, through the real server: run metadata and the trigger a run
//! started with (and deliveries counted in `/metrics`), `break`/`continue`, secure strings, step
//! titles — each with a working run and a failing one.

use serde_json::{Value, json};

use crate::common::*;
use crate::expr_additions::output;

// ---------------------------------------------------------------------------------------------
// Run metadata, the trigger a run started with, deliveries in /metrics

const METADATA: &str = r#"
name: metadata
triggers: [{event: meta-alerts}]
outputs: [{name: started_at, type: datetime}, {name: started_by, type: string},
  {name: version, type: integer}, {name: age, type: number}]
steps:
  - id: done
    type: complete
    outputs:
      started_at: "{{ run.started_at }}"
      started_by: "{{ run.started_by }}"
      version: "{{ run.workflow_version }}"
      age: "{{ seconds_between(run.started_at, now()) }}"
"#;

/// `run.started_at`, `run.started_by` (`webhook`, `manual`, `workflow`) and
/// `run.workflow_version`; a run's answer holds the trigger variables it started with; an unknown
/// `run` field is refused at save.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_metadata_and_trigger_variables() {
    let s = Server::start().await;
    let sc = Scenario::new(&s, "meta-hook").event("meta-alerts").await;
    let (hook, hook_id, event) = (&sc.hook, sc.hook_id.as_str(), &sc.events[0]);
    let w = create_workflow(&s, METADATA).await;
    assert_eq!(w["validation"]["status"], json!("valid"), "{w}");
    let wf = w["id"].as_str().unwrap().to_string();

    let body = json!({"severity": "high", "hosts": ["db-1"]});
    let delivery = send(&s, hook, &body, &[("x-source", "test")]).await;
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
    let delivery = send(&s, hook, &big, &[]).await;
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
    let run = run_expecting(&s, &parent, json!({}), "succeeded").await;
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
        .post_hook_with_key(&a, "not-the-key", "application/json", b"{}")
        .await;
    assert_eq!(wrong_key.status, 401);

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
outputs: [{name: seen, type: array}, {name: each, type: array}, {name: n, type: integer},
  {name: while, type: object}]
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
    let (s, wf) = server_with_workflow(LOOP_CONTROL).await;
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
    let a = start_run(&s, &wf, json!({}), 0.0).await;
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
    let run = wait_run_within(&s, &id, std::time::Duration::from_secs(60)).await;
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
inputs: [{name: token, type: secure_string}]
variables: [{name: session, type: secure_string}]
outputs: [{name: key, type: secure_string}, {name: echo, type: string},
  {name: matched, type: boolean}, {name: child_ok, type: boolean}]
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
    let run = run_expecting(&s, &wf, json!({"token": TOKEN}), "succeeded").await;
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
    let child = listed_run(&s, "status=succeeded", "secure-child").await;
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
    let (s, wf) = server_with_workflow(
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
