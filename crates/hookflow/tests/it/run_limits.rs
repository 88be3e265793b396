//! What one run may record and start (issue 9): workflows calling each other in a cycle are
//! refused at validation, and a root run's tree of sub-workflow runs stops at
//! `--max-runs-per-root`.

use serde_json::{Value, json};

use crate::common::*;
use crate::engine_steps::{error_contains, expect_status, records, run_to_end};

/// The validation of a stored workflow: `(status, errors)`.
async fn validation(s: &Server, id: &str) -> (String, Vec<Value>) {
    let a = s.api_get(&format!("/api/v1/workflows/{id}")).await;
    a.expect_status(200);
    let w = a.json();
    (
        w["validation"]["status"]
            .as_str()
            .unwrap_or("?")
            .to_string(),
        w["validation"]["errors"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    )
}

/// Replaces a workflow's definition (YAML).
async fn replace(s: &Server, id: &str, yaml: &str) {
    let path = format!("/api/v1/workflows/{id}");
    send_workflow(s, reqwest::Method::PUT, &path, yaml)
        .await
        .expect_status(200);
}

fn caller(name: &str, calls: &str) -> String {
    format!("name: {name}\nsteps:\n  - {{id: call, type: run_workflow, workflow: {calls}}}\n")
}

const LEAF: &str = "steps:\n  - {id: noop, type: set_variables, values: {}}\n";

/// A calls B, B calls C, and saving C calling A closes the cycle: every workflow in it turns
/// invalid, with the error at its `run_workflow` step naming the whole cycle. Breaking the cycle
/// makes them valid again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn call_cycles_are_refused_at_validation() {
    let s = Server::start().await;
    let c = valid_workflow(&s, &format!("name: cyc-c\n{LEAF}")).await;
    let b = valid_workflow(&s, &caller("cyc-b", "cyc-c")).await;
    let a = valid_workflow(&s, &caller("cyc-a", "cyc-b")).await;
    replace(&s, &c, &caller("cyc-c", "cyc-a")).await;
    for (id, cycle) in [
        (&a, "cyc-a → cyc-b → cyc-c → cyc-a"),
        (&b, "cyc-b → cyc-c → cyc-a → cyc-b"),
        (&c, "cyc-c → cyc-a → cyc-b → cyc-c"),
    ] {
        let (status, errors) = validation(&s, id).await;
        assert_eq!(status, "invalid", "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e["path"] == json!("steps[0].workflow")
                    && e["message"].as_str().unwrap_or("").contains(cycle)),
            "expected the cycle {cycle} at steps[0].workflow: {errors:?}"
        );
    }
    // An invalid workflow starts no run.
    s.api_post(&format!("/api/v1/workflows/{a}/runs"), json!({}))
        .await
        .expect_problem(409);

    // Two workflows calling each other directly.
    let (status, errors) = {
        let d = valid_workflow(&s, &format!("name: cyc-d\n{LEAF}")).await;
        create_workflow(&s, &caller("cyc-e", "cyc-d")).await;
        replace(&s, &d, &caller("cyc-d", "cyc-e")).await;
        validation(&s, &d).await
    };
    assert_eq!(status, "invalid");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("cyc-d → cyc-e → cyc-d"),
        "{errors:?}"
    );

    // Breaking the cycle re-validates the others.
    replace(&s, &c, &format!("name: cyc-c\n{LEAF}")).await;
    for id in [&a, &b, &c] {
        assert_eq!(validation(&s, id).await.0, "valid");
    }
}

/// A wide fan-out without any cycle: each of the root's iterations starts a sub-run that starts
/// two more. With `--max-runs-per-root 5` the sixth run is refused — counted over the whole tree,
/// not per parent — and the step that asked fails with an error naming the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_per_root_stop_a_fan_out() {
    let s = Server::start_with(&["--max-runs-per-root", "5"]).await;
    valid_workflow(&s, &format!("name: fan-leaf\n{LEAF}")).await;
    valid_workflow(
        &s,
        "name: fan-mid\nsteps:\n  - {id: one, type: run_workflow, workflow: fan-leaf}\n  \
         - {id: two, type: run_workflow, workflow: fan-leaf}\n",
    )
    .await;
    let root = valid_workflow(
        &s,
        "name: fan-root\nsteps:\n  - id: each\n    type: for_each\n    items: [1, 2, 3]\n    \
         steps:\n      - {id: call, type: run_workflow, workflow: fan-mid}\n",
    )
    .await;
    let run = run_to_end(&s, &root, json!({})).await;
    expect_status(&run, "failed");
    let calls = records(&run, "call");
    assert_eq!(calls.len(), 2, "{run}");
    assert_eq!(calls[0]["status"], json!("succeeded"));
    error_contains(calls[1], "failed");
    // The second mid run started one leaf, and its second leaf was refused.
    let mids = s.all_runs("status=failed").await;
    let mid = mids
        .iter()
        .find(|r| r["workflow"] == json!("fan-mid"))
        .expect("a failed fan-mid run");
    let mid = get_run(&s, mid["id"].as_str().unwrap()).await;
    let two = records(&mid, "two");
    error_contains(two[0], "--max-runs-per-root");
    error_contains(two[0], "started 5 runs");
    let all = s.all_runs("").await;
    assert_eq!(all.len(), 6, "the root and 5 runs under it: {all:?}");
}
