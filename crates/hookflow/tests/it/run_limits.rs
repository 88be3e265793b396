//! What one run may record and start (issue 9): step records cut at `--max-step-record-bytes`
//! and a run's records at `--max-run-record-bytes`, each cut saying so; a run's steps shown a
//! page at a time; workflows calling each other in a cycle refused at validation; a root run's
//! tree of sub-workflow runs stopped at `--max-runs-per-root`.

use serde_json::{Value, json};

use crate::common::*;

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
    let (s, c) = server_with_workflow(&format!("name: cyc-c\n{LEAF}")).await;
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
    let run = run_expecting(&s, &root, json!({}), "failed").await;
    let calls = records(&run, "call");
    assert_eq!(calls.len(), 2, "{run}");
    assert_eq!(calls[0]["status"], json!("succeeded"));
    error_contains(calls[1], "failed");
    // The second mid run started one leaf, and its second leaf was refused.
    let mid = listed_run(&s, "status=failed", "fan-mid").await;
    let mid = get_run(&s, mid["id"].as_str().unwrap()).await;
    let two = records(&mid, "two");
    error_contains(two[0], "--max-runs-per-root");
    error_contains(two[0], "started 5 runs");
    let all = s.all_runs("").await;
    assert_eq!(all.len(), 6, "the root and 5 runs under it: {all:?}");
}

/// Record limits small enough for a fast test: 64 KiB per step record field, 1 MiB per run.
const SMALL_RECORDS: [&str; 4] = [
    "--max-step-record-bytes",
    "65536",
    "--max-run-record-bytes",
    "1048576",
];

/// The bytes of step input, output, error and replay copies the database holds for a run.
async fn stored_step_bytes(s: &Server, run_id: &str) -> i64 {
    let sql = "SELECT CAST(COALESCE(SUM(COALESCE(LENGTH(input), 0) + COALESCE(LENGTH(output), 0) \
               + COALESCE(LENGTH(error), 0) + COALESCE(LENGTH(replay), 0)), 0) AS BIGINT) \
               FROM run_steps WHERE run_id = $1";
    s.db_scalar(sql, run_id).await
}

/// A cut value: the marker naming `limit`, with the size of what was cut.
#[track_caller]
fn expect_cut(v: &Value, limit: &str, at_least: u64) {
    assert_eq!(
        v["truncated"],
        json!(true),
        "not cut: {}",
        truncate(&v.to_string(), 300)
    );
    assert_eq!(v["limit"], json!(limit), "{v}");
    assert!(v["bytes"].as_u64().unwrap_or(0) >= at_least, "{v}");
}

/// Runs a [`growing_workflow`] to success; the run used the real values, whatever its records
/// hold (its output is the length of the last, `size` + 2 bytes).
async fn grown_run(s: &Server, name: &str, size: usize) -> Value {
    let wf = growing_workflow(s, name, size).await;
    let run = run_expecting(s, &wf, json!({}), "succeeded").await;
    let len = run["outputs"]["len"].clone();
    assert_eq!(len, json!(size + 2), "the run used the real value");
    run
}

/// A workflow whose `for_each` over 50 items sets a variable of `size` bytes in each.
async fn growing_workflow(s: &Server, name: &str, size: usize) -> String {
    let items: Vec<usize> = (0..50).collect();
    valid_workflow(
        s,
        &format!(
            "name: {name}\nvariables: [{{name: blob, type: string}}]\n\
             outputs: [{{name: len, type: integer}}]\nsteps:\n  - id: each\n    \
             type: for_each\n    items: {items:?}\n    steps:\n      \
             - {{id: grow, type: set_variables, values: {{blob: \"{{{{ 'x' * {size} }}}}{{{{ item }}}}\"}}}}\n  \
             - {{id: done, type: complete, outputs: {{len: \"{{{{ vars.blob | length }}}}\"}}}}\n"
        ),
    )
    .await
}

/// The reported case, scaled down: a `for_each` over 50 items each setting a 600 KB variable.
/// Each step record is cut at the step limit, with a preview; then 50 × 40 KB values, which
/// each fit the step limit but not all together: once the run has recorded its 1 MiB, the rest
/// are bare markers naming the run limit. The database and the API answers stay near 1 MiB
/// where 60 MB and 4 MB would be recorded whole. The runs themselves use the real values.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn big_step_records_are_cut() {
    let s = Server::start_with(&SMALL_RECORDS).await;
    let run = grown_run(&s, "big-vars", 600_000).await;
    let grows = records(&run, "grow");
    assert_eq!(grows.len(), 50);
    for g in &grows {
        expect_cut(&g["output"], "max_step_record_bytes", 600_000);
        expect_cut(&g["input"], "max_step_record_bytes", 600_000);
        let preview = g["output"]["preview"].as_str().unwrap_or("");
        assert!(
            preview.starts_with("{\"blob\":\"xxx") && preview.len() <= 1024,
            "{}",
            g["output"]
        );
    }
    // The loop's output (a list of 50 × 600 KB) is cut too.
    expect_cut(
        &step(&run, "each")["output"],
        "max_step_record_bytes",
        600_000,
    );
    let id = run["id"].as_str().unwrap();
    let stored = stored_step_bytes(&s, id).await;
    assert!(stored < 1_300_000, "the run's records hold {stored} bytes");

    let run = grown_run(&s, "mid-vars", 40_000).await;
    let grows = records(&run, "grow");
    assert_eq!(
        grows[0]["output"]["blob"].as_str().map(str::len),
        Some(40_001)
    );
    expect_cut(&grows[49]["output"], "max_run_record_bytes", 40_000);
    assert!(grows[49]["output"].get("preview").is_none());
    let whole = grows
        .iter()
        .filter(|g| g["output"]["blob"].is_string())
        .count();
    assert!((5..=13).contains(&whole), "{whole} outputs recorded whole");
    let id = run["id"].as_str().unwrap();
    let stored = stored_step_bytes(&s, id).await;
    assert!(stored < 1_300_000, "the run's records hold {stored} bytes");
    let answer = s.api_get(&format!("/api/v1/runs/{id}")).await;
    answer.expect_status(200);
    let size = answer.text().len();
    assert!(size < 1_400_000, "the run's API answer is {size} bytes");
}

/// `json_path` `$..*` repeats each part of a deep value once per level above it: over a
/// 200 KB value 25 levels deep, the result list would be megabytes. What the step holds is
/// bounded by the run limit (later items are markers), and its record is cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_path_descendants_are_bounded() {
    let s = Server::start_with(&SMALL_RECORDS).await;
    let mut doc = json!({"leaf": "y".repeat(200)});
    for i in 0..25 {
        doc = json!({ "pad": "z".repeat(8000), "level": i, "next": doc });
    }
    let wf = valid_workflow(
        &s,
        "name: descend\ninputs: [{name: doc, type: object}]\nsteps:\n  \
         - {id: all, type: json_path, input: \"{{ inputs.doc }}\", query: \"$..*\"}\n",
    )
    .await;
    let run = run_expecting(&s, &wf, json!({ "doc": doc }), "succeeded").await;
    let out = &step(&run, "all")["output"];
    expect_cut(out, "max_step_record_bytes", 65_536);
    let held = out["bytes"].as_u64().unwrap();
    // Whole, the list would be about 25 levels × 100 KB on average.
    assert!(held < 1_200_000, "the step held {held} bytes of results");
    assert!(
        out["preview"]
            .as_str()
            .unwrap_or("")
            .starts_with("{\"value\":")
            || out["preview"]
                .as_str()
                .unwrap_or("")
                .starts_with("{\"values\":"),
        "{out}"
    );
}

/// A run's steps come a page at a time: `steps_limit` and `steps_cursor`, with `steps_total`;
/// following the cursors lists every step once, in order. Bad values are problems.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_steps_are_paged() {
    let (s, wf) = server_with_workflow(&many_steps_yaml("many-steps", 30)).await;
    let run = run_expecting(&s, &wf, json!({}), "succeeded").await;
    let id = run["id"].as_str().unwrap();
    // By default every step of a run this size, as before.
    assert_eq!(run["steps"].as_array().unwrap().len(), 31);
    assert_eq!(run["steps_total"], json!(31));
    assert_eq!(run["steps_next_cursor"], Value::Null);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/runs/{id}?steps_limit=8&steps_cursor={c}"),
            None => format!("/api/v1/runs/{id}?steps_limit=8"),
        };
        let a = s.api_get(&path).await;
        a.expect_status(200);
        let page = a.json();
        assert_eq!(page["steps_total"], json!(31));
        let steps = page["steps"].as_array().unwrap();
        assert!(steps.len() <= 8);
        seen.extend(steps.iter().cloned());
        pages += 1;
        match page["steps_next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen, run["steps"].as_array().unwrap().clone());

    for bad in ["steps_limit=0", "steps_limit=5001", "steps_cursor=abc"] {
        s.api_get(&format!("/api/v1/runs/{id}?{bad}"))
            .await
            .expect_problem_saying(400, "steps_");
    }
}

/// A run resumed after a sleep replays the real values of outputs recorded cut: from the sealed
/// copy while the run's budget allowed one, else by executing the step again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cut_outputs_replay_real_values() {
    let s = Server::start_with(&SMALL_RECORDS).await;
    let wf = valid_workflow(
        &s,
        "name: cut-replay\nvariables: [{name: a, type: string}, {name: b, type: string}]\n\
         outputs: [{name: len, type: integer}]\nsteps:\n  \
         - {id: first, type: set_variables, values: {a: \"{{ 'a' * 600000 }}\"}}\n  \
         - {id: second, type: set_variables, values: {b: \"{{ 'b' * 600000 }}\"}}\n  \
         - {id: nap, type: sleep, duration: 50ms}\n  \
         - {id: done, type: complete, outputs: {len: \"{{ (vars.a ~ vars.b) | length }}\"}}\n",
    )
    .await;
    let run = run_expecting(&s, &wf, json!({}), "succeeded").await;
    assert_eq!(
        run["outputs"]["len"],
        json!(1_200_000),
        "{}",
        run["outputs"]
    );
    // The second output had no room left for a sealed copy: it was executed again on resume.
    expect_cut(
        &step(&run, "second")["output"],
        "max_step_record_bytes",
        600_000,
    );
    assert_eq!(step(&run, "second")["attempts"], json!(1));
}

/// A sub-run keeps its inputs whole (it runs on them), up to what one run may record; shown in
/// the API, inputs over the step limit are cut like any recorded value.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sub_run_inputs_are_bounded() {
    let s = Server::start_with(&SMALL_RECORDS).await;
    valid_workflow(
        &s,
        "name: measure\ninputs: [{name: a, type: string}, {name: b, type: string}]\n\
         outputs: [{name: len, type: integer}]\nsteps:\n  \
         - {id: done, type: complete, outputs: {len: \"{{ (inputs.a ~ inputs.b) | length }}\"}}\n",
    )
    .await;
    let call = |name: &str, b: usize| {
        format!(
            "name: {name}\noutputs: [{{name: len, type: integer}}]\nsteps:\n  \
             - {{id: call, type: run_workflow, workflow: measure, inputs: \
             {{a: \"{{{{ 'a' * 600000 }}}}\", b: \"{{{{ 'b' * {b} }}}}\"}}}}\n  \
             - {{id: done, type: complete, outputs: {{len: \"{{{{ steps.call.output.len }}}}\"}}}}\n"
        )
    };
    let fits = valid_workflow(&s, &call("fits", 100_000)).await;
    let run = run_expecting(&s, &fits, json!({}), "succeeded").await;
    assert_eq!(run["outputs"]["len"], json!(700_000));
    let child = listed_run(&s, "status=succeeded", "measure").await;
    expect_cut(&child["inputs"], "max_step_record_bytes", 700_000);

    let too_big = valid_workflow(&s, &call("too-big", 600_000)).await;
    let run = run_expecting(&s, &too_big, json!({}), "failed").await;
    error_contains(step(&run, "call"), "--max-run-record-bytes");
}
