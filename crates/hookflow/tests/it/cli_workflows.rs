//! The `hookflow` binary as a client of the workflow API (SPEC §6): `event create|list|show|
//! delete`, `workflow apply|list|show|run|enable|disable|delete`, `run list|show|cancel` and
//! `secret set|list|delete`, each checked against what the server then holds (`workflow
//! versions|version` are in `versions`).

use std::time::Duration;

use serde_json::json;

use crate::common::*;

/// `hookflow KIND delete ID` succeeds, and the API no longer has it.
async fn deleted_through_the_cli(s: &Server, kind: &str, id: &str) {
    client(s, &[kind, "delete", id]).await.ok();
    s.api_get(&format!("/api/v1/{kind}s/{id}"))
        .await
        .expect_problem(404);
}

/// The workflow of these tests: greets `inputs.who` through a variable and an output.
fn demo_yaml(default_who: &str) -> String {
    format!(
        r#"name: cli-demo
description: greets someone
inputs: [{{name: who, type: string, default: {default_who}}}]
variables: [{{name: greeting, type: string}}]
outputs: [{{name: greeting, type: string}}]
steps:
  - id: greet
    type: set_variables
    values: {{greeting: "hello {{{{ inputs.who }}}}"}}
  - id: done
    type: complete
    outputs: {{greeting: "{{{{ vars.greeting }}}}"}}
"#
    )
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write workflow file");
    path.to_str().expect("UTF-8 path").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_through_the_cli() {
    let s = Server::start().await;
    let hook = s.json_webhook("gh").await;
    let hook_id = hook["id"].as_str().expect("id");

    // A webhook event with a filter: stdout is exactly its id.
    let filter = r#"trigger.body.severity in ["high", "critical"]"#;
    let r = client(
        &s,
        &[
            "event",
            "create",
            "--name",
            "alerts",
            "--webhook",
            hook_id,
            "--filter",
            filter,
        ],
    )
    .await;
    r.ok();
    let alerts = r.stdout.trim().to_string();
    assert_eq!(r.stdout, format!("{alerts}\n"), "stdout is the id: {r:?}");
    assert!(r.stderr.contains("alerts"), "a human line on stderr: {r:?}");
    let e = s.api_get(&format!("/api/v1/events/{alerts}")).await;
    e.expect_status(200);
    let e = e.json();
    assert_eq!(e["name"], json!("alerts"));
    assert_eq!(e["kind"], json!("webhook"));
    assert_eq!(e["webhook_id"], json!(hook_id));
    assert_eq!(e["filter"], json!(filter));

    // A schedule event in a time zone.
    let r = client(
        &s,
        &[
            "event",
            "create",
            "--name",
            "nightly",
            "--schedule",
            "30 2 * * *",
            "--timezone",
            "Europe/Paris",
        ],
    )
    .await;
    r.ok();
    let nightly = r.stdout.trim().to_string();
    let e = s.api_get(&format!("/api/v1/events/{nightly}")).await.json();
    assert_eq!(e["kind"], json!("schedule"));
    assert_eq!(e["schedule"], json!("30 2 * * *"));
    assert_eq!(e["timezone"], json!("Europe/Paris"));
    assert!(e["next_fire_at"].is_string(), "{e}");

    // A bad cron expression: the server's explanation, nothing created.
    let body = json!({"name": "broken", "schedule": "every tuesday"});
    let detail = s.api_post("/api/v1/events", body).await.expect_problem(422)["detail"]
        .as_str()
        .expect("detail")
        .to_string();
    let r = client(
        &s,
        &[
            "event",
            "create",
            "--name",
            "broken",
            "--schedule",
            "every tuesday",
        ],
    )
    .await;
    r.fails(1);
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(
        r.stderr.contains("422") && r.stderr.contains(&detail),
        "the server's detail {detail:?} is shown: {r:?}"
    );
    // Neither or both of --webhook and --schedule: refused before any request.
    let r = client(&s, &["event", "create", "--name", "nothing"]).await;
    r.fails(2);
    let r = client(
        &s,
        &[
            "event",
            "create",
            "--name",
            "both",
            "--webhook",
            hook_id,
            "--schedule",
            "* * * * *",
        ],
    )
    .await;
    r.fails(2);

    // list: a table with both, or JSON.
    let r = client(&s, &["event", "list"]).await;
    r.ok();
    let header = r.stdout.lines().next().expect("header");
    for col in ["ID", "NAME", "KIND", "WEBHOOK/SCHEDULE", "FILTER"] {
        assert!(header.contains(col), "column {col}: {header}");
    }
    let row = r.row(&alerts);
    assert!(
        row.contains("alerts") && row.contains("webhook") && row.contains(hook_id),
        "{row}"
    );
    assert!(row.contains(filter), "{row}");
    let row = r.row(&nightly);
    assert!(
        row.contains("schedule") && row.contains("30 2 * * *") && row.contains("Europe/Paris"),
        "{row}"
    );
    assert_eq!(
        header.find("KIND"),
        row.find("schedule"),
        "aligned:\n{}",
        r.stdout
    );
    assert!(!r.stdout.contains("broken"), "{}", r.stdout);
    let r = client(&s, &["event", "list", "--json"]).await;
    r.ok();
    let items = r.json();
    let mut names = texts_of(&items, "name");
    names.sort();
    assert_eq!(names, ["alerts", "nightly"]);

    // show: by id and by name.
    let r = client(&s, &["event", "show", &alerts]).await;
    r.ok();
    assert_eq!(r.json()["id"], json!(alerts));
    let r = client(&s, &["event", "show", "nightly"]).await;
    r.ok();
    assert_eq!(r.json()["id"], json!(nightly));

    // delete: gone, and a second delete says so.
    deleted_through_the_cli(&s, "event", &alerts).await;
    let r = client(&s, &["event", "delete", &alerts]).await;
    r.fails_saying(1, "404");
    let r = client(&s, &["event", "show", &alerts]).await;
    r.fails(1);
    assert!(r.stdout.is_empty(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workflow_apply_run_and_inspect() {
    let s = Server::start().await;
    let dir = tempfile::tempdir().expect("temp dir");

    // apply creates: exit 0, "valid".
    let file = write(&dir, "demo.yaml", &demo_yaml("world"));
    let r = client(&s, &["workflow", "apply", "-f", &file]).await;
    r.ok();
    let line = r.stdout.lines().next().expect("a result line");
    let id = line
        .strip_prefix("workflow cli-demo (")
        .and_then(|rest| rest.strip_suffix("): valid"))
        .unwrap_or_else(|| panic!("`workflow cli-demo (ID): valid` expected: {r:?}"))
        .to_string();
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
    assert!(r.stderr.contains("created"), "{r:?}");
    let w = s.api_get(&format!("/api/v1/workflows/{id}")).await;
    w.expect_status(200);
    let w = w.json();
    assert_eq!(w["name"], json!("cli-demo"));
    assert_eq!(w["validation"]["status"], json!("valid"));
    assert_eq!(w["source_format"], json!("yaml"), "sent as YAML: {w}");

    // apply again with a change: same id, updated.
    std::fs::write(&file, demo_yaml("everyone")).expect("rewrite");
    let r = client(&s, &["workflow", "apply", "-f", &file]).await;
    r.ok();
    assert_eq!(
        r.stdout,
        format!("workflow cli-demo ({id}): valid\n"),
        "{r:?}"
    );
    assert!(r.stderr.contains("updated"), "{r:?}");
    let w = s.api_get(&format!("/api/v1/workflows/{id}")).await.json();
    assert_eq!(
        w["definition"]["inputs"][0]["default"],
        json!("everyone"),
        "{w}"
    );
    let all = s.api_get("/api/v1/workflows").await.json();
    assert_eq!(
        all["items"].as_array().map(Vec::len),
        Some(1),
        "updated in place: {all}"
    );

    // run with --input and --wait: the finished run, succeeded, with its outputs.
    let r = client(
        &s,
        &[
            "workflow", "run", "cli-demo", "--input", "who=cli", "--wait", "30",
        ],
    )
    .await;
    r.ok();
    let run = r.json();
    assert_eq!(run["status"], json!("succeeded"), "{run}");
    assert_eq!(run["workflow_id"], json!(id));
    assert_eq!(run["inputs"]["who"], json!("cli"), "{run}");
    assert_eq!(run["outputs"]["greeting"], json!("hello cli"), "{run}");
    let run_id = run["id"].as_str().expect("run id").to_string();

    // --inputs-json, and the default when no input is given.
    let r = client(
        &s,
        &[
            "workflow",
            "run",
            &id,
            "--inputs-json",
            r#"{"who": "json"}"#,
            "--wait",
            "30",
        ],
    )
    .await;
    r.ok();
    assert_eq!(r.json()["outputs"]["greeting"], json!("hello json"));
    let r = client(&s, &["workflow", "run", &id, "--wait", "30"]).await;
    r.ok();
    assert_eq!(r.json()["outputs"]["greeting"], json!("hello everyone"));
    // A malformed --input is refused before any request.
    let r = client(&s, &["workflow", "run", &id, "--input", "no-equals-sign"]).await;
    r.fails_saying(1, "NAME=VALUE");

    // run list: a table, filtered by workflow (id or name) and status, or JSON.
    let r = client(&s, &["run", "list", "--workflow", "cli-demo"]).await;
    r.ok();
    let header = r.stdout.lines().next().expect("header");
    for col in ["ID", "WORKFLOW", "STATUS", "CREATED"] {
        assert!(header.contains(col), "column {col}: {header}");
    }
    assert_eq!(r.stdout.lines().count(), 4, "3 runs: {}", r.stdout);
    let row = r.row(&run_id);
    assert!(
        row.contains("cli-demo") && row.contains("succeeded"),
        "{row}"
    );
    let r = client(
        &s,
        &[
            "run",
            "list",
            "--workflow",
            &id,
            "--status",
            "failed",
            "--json",
        ],
    )
    .await;
    r.ok();
    assert_eq!(r.json(), json!([]), "no failed runs");
    let r = client(&s, &["run", "list", "--status", "succeeded", "--json"]).await;
    r.ok();
    assert_eq!(r.json().as_array().map(Vec::len), Some(3), "{r:?}");
    let r = client(&s, &["run", "list", "--status", "bogus"]).await;
    r.fails_saying(1, "400");

    // run show: with its steps.
    let r = client(&s, &["run", "show", &run_id]).await;
    r.ok();
    let shown = r.json();
    assert_eq!(shown["id"], json!(run_id));
    let steps = texts_of(&shown["steps"], "id");
    assert_eq!(steps, ["greet", "done"], "{shown}");

    // workflow list / show.
    let r = client(&s, &["workflow", "list"]).await;
    r.ok();
    let header = r.stdout.lines().next().expect("header");
    for col in ["ID", "NAME", "ENABLED", "VALIDATION"] {
        assert!(header.contains(col), "column {col}: {header}");
    }
    let row = r.row(&id);
    assert!(
        row.contains("cli-demo") && row.contains("yes") && row.contains("valid"),
        "{row}"
    );
    let r = client(&s, &["workflow", "list", "--json"]).await;
    r.ok();
    assert_eq!(r.json()[0]["id"], json!(id));
    let r = client(&s, &["workflow", "show", "cli-demo"]).await;
    r.ok();
    assert_eq!(r.json()["id"], json!(id));

    // disable: a manual run is refused with the server's reason; enable again.
    client(&s, &["workflow", "disable", &id]).await.ok();
    let w = s.api_get(&format!("/api/v1/workflows/{id}")).await.json();
    assert_eq!(w["enabled"], json!(false));
    let r = client(&s, &["workflow", "run", &id, "--wait", "5"]).await;
    r.fails_saying(1, "409");
    client(&s, &["workflow", "enable", &id]).await.ok();
    let w = s.api_get(&format!("/api/v1/workflows/{id}")).await.json();
    assert_eq!(w["enabled"], json!(true));

    // delete.
    deleted_through_the_cli(&s, "workflow", &id).await;
    let r = client(&s, &["workflow", "show", &id]).await;
    r.fails_saying(1, "404");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workflow_apply_reports_invalid_and_unreadable_documents() {
    let s = Server::start().await;
    let dir = tempfile::tempdir().expect("temp dir");

    // Saved but invalid: exit 2, "invalid", then each error as `  PATH: MESSAGE`.
    let invalid = r#"name: cli-broken
variables: [{name: greeting, type: string}]
triggers: [{event: no-such-event}]
steps:
  - {id: greet, type: set_variables, values: {greeting: "hello {{ inputs.nobody }}"}}
  - {id: greet, type: complete}
"#;
    let file = write(&dir, "broken.yml", invalid);
    let r = client(&s, &["workflow", "apply", "-f", &file]).await;
    assert_eq!(r.code, Some(2), "saved but invalid exits 2: {r:?}");
    let mut lines = r.stdout.lines();
    let first = lines.next().expect("a result line");
    assert!(
        first.starts_with("workflow cli-broken (") && first.ends_with("): invalid"),
        "{r:?}"
    );
    let id = first["workflow cli-broken (".len()..first.len() - "): invalid".len()].to_string();
    let w = s.api_get(&format!("/api/v1/workflows/{id}")).await;
    w.expect_status(200);
    let w = w.json();
    assert_eq!(w["validation"]["status"], json!("invalid"));
    let errors = w["validation"]["errors"].as_array().expect("errors");
    assert!(errors.len() >= 3, "three mistakes: {w}");
    let printed: Vec<&str> = lines.collect();
    let expected: Vec<String> = errors
        .iter()
        .map(|e| {
            format!(
                "  {}: {}",
                e["path"].as_str().expect("path"),
                e["message"].as_str().expect("message")
            )
        })
        .collect();
    assert_eq!(printed, expected, "one line per error with its path");
    assert!(
        printed.iter().any(|l| l.trim_start().starts_with("steps")),
        "paths point into the document: {printed:?}"
    );
    let r = client(&s, &["workflow", "list"]).await;
    r.ok();
    assert!(r.row(&id).contains("invalid"), "{}", r.stdout);
    // An invalid workflow cannot be run.
    let r = client(&s, &["workflow", "run", &id]).await;
    r.fails_saying(1, "409");

    // Fixed, as JSON on standard input: the same workflow becomes valid.
    let fixed = json!({
        "name": "cli-broken",
        "variables": [{"name": "greeting", "type": "string"}],
        "steps": [
            {"id": "greet", "type": "set_variables", "values": {"greeting": "hi"}},
            {"id": "done", "type": "complete"}
        ]
    });
    let r = client_with_stdin(
        &s,
        &["workflow", "apply", "-f", "-"],
        Some(&fixed.to_string()),
    )
    .await;
    r.ok();
    assert_eq!(
        r.stdout,
        format!("workflow cli-broken ({id}): valid\n"),
        "{r:?}"
    );
    let w = s.api_get(&format!("/api/v1/workflows/{id}")).await.json();
    assert_eq!(w["source_format"], json!("json"), "sniffed as JSON: {w}");

    // A document that cannot be read at all: exit 1 with the server's errors, nothing saved.
    let file = write(&dir, "unreadable.yaml", "name: [unclosed\nsteps: {");
    let r = client(&s, &["workflow", "apply", "-f", &file]).await;
    r.fails(1);
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(r.stderr.contains("422"), "{r:?}");
    let file = write(&dir, "nameless.json", r#"{"steps": []}"#);
    let r = client(&s, &["workflow", "apply", "-f", &file]).await;
    r.fails_saying(1, "name");
    let r = client(&s, &["workflow", "apply", "-f", "/no/such/file.yaml"]).await;
    r.fails_saying(1, "/no/such/file.yaml");
    let all = s.api_get("/api/v1/workflows").await.json();
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workflow_run_failure_wait_and_cancel() {
    let s = Server::start().await;
    let dir = tempfile::tempdir().expect("temp dir");

    // A run that fails: exit 1, the failed run on stdout.
    let failing = "name: cli-fails\nsteps:\n  - {id: boom, type: fail, message: on purpose}\n";
    let file = write(&dir, "fails.yaml", failing);
    client(&s, &["workflow", "apply", "-f", &file]).await.ok();
    let r = client(&s, &["workflow", "run", "cli-fails", "--wait", "30"]).await;
    assert_eq!(r.code, Some(1), "a failed run exits 1: {r:?}");
    let run = r.json();
    assert_eq!(run["status"], json!("failed"), "{run}");
    assert!(r.stderr.contains("failed"), "{r:?}");

    // A slow run: without --wait it is started (exit 0); with a short --wait it is not done
    // (exit 1); cancel stops it.
    let slow = "name: cli-slow\nsteps:\n  - {id: nap, type: sleep, duration: 30s}\n";
    let file = write(&dir, "slow.yaml", slow);
    client(&s, &["workflow", "apply", "-f", &file]).await.ok();
    let r = client(&s, &["workflow", "run", "cli-slow"]).await;
    r.ok();
    let run = r.json();
    assert!(
        matches!(run["status"].as_str(), Some("queued" | "running")),
        "{run}"
    );
    let run_id = run["id"].as_str().expect("id").to_string();
    let r = client(&s, &["workflow", "run", "cli-slow", "--wait", "0.5"]).await;
    r.fails(1);
    assert!(r.stderr.contains("still"), "says it did not finish: {r:?}");

    client(&s, &["run", "cancel", &run_id]).await.ok();
    eventually(Duration::from_secs(20), || async {
        let run = s.api_get(&format!("/api/v1/runs/{run_id}")).await.json();
        check(run["status"] == json!("cancelled"), || {
            format!("not cancelled yet: {run}")
        })
    })
    .await;
    let r = client(&s, &["run", "show", &run_id]).await;
    r.ok();
    assert_eq!(r.json()["status"], json!("cancelled"));
    let r = client(
        &s,
        &["run", "cancel", "0190c0de-0000-7000-8000-000000000000"],
    )
    .await;
    r.fails_saying(1, "404");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_through_the_cli() {
    let s = Server::start().await;
    let value = format!("s3cr3t-{}", random_hex(16));

    // From standard input (one line; the newline is not part of the value).
    let r = client_with_stdin(
        &s,
        &["secret", "set", "api_token"],
        Some(&format!("{value}\n")),
    )
    .await;
    r.ok();
    assert!(
        !r.stdout.contains(&value) && !r.stderr.contains(&value),
        "{r:?}"
    );
    // --from-stdin takes all of it (a multi-line value), --value takes the argument.
    let pem = "-----BEGIN KEY-----\nabc\n-----END KEY-----";
    client_with_stdin(
        &s,
        &["secret", "set", "pem_key", "--from-stdin"],
        Some(&format!("{pem}\n")),
    )
    .await
    .ok();
    client(&s, &["secret", "set", "inline", "--value", "v-inline"])
        .await
        .ok();
    // No value at all: refused.
    let r = client_with_stdin(&s, &["secret", "set", "empty"], Some("")).await;
    r.fails(1);
    let r = client(&s, &["secret", "set", "bad name", "--value", "x"]).await;
    r.fails_saying(1, "422");

    // list: names only.
    let r = client(&s, &["secret", "list"]).await;
    r.ok();
    for name in ["api_token", "pem_key", "inline"] {
        r.row(name);
    }
    assert!(!r.stdout.contains("empty"), "{r:?}");
    for v in [value.as_str(), "abc", "v-inline"] {
        assert!(!r.stdout.contains(v), "a value is never listed: {r:?}");
    }
    let r = client(&s, &["secret", "list", "--json"]).await;
    r.ok();
    let items = r.json();
    assert_eq!(items.as_array().map(Vec::len), Some(3), "{items}");
    assert!(!r.stdout.contains(&value), "{r:?}");

    // The stored values are exactly what was given: a workflow measures them.
    let measure = r#"name: measure
outputs: [{name: token_len, type: integer}, {name: pem_len, type: integer}]
steps:
  - id: done
    type: complete
    outputs:
      token_len: "{{ secrets.api_token | length }}"
      pem_len: "{{ secrets.pem_key | length }}"
"#;
    let r = client_with_stdin(&s, &["workflow", "apply", "-f", "-"], Some(measure)).await;
    r.ok();
    let r = client(&s, &["workflow", "run", "measure", "--wait", "30"]).await;
    r.ok();
    let run = r.json();
    assert_eq!(
        run["outputs"],
        json!({"token_len": value.len(), "pem_len": pem.len()}),
        "{run}"
    );

    // delete.
    client(&s, &["secret", "delete", "inline"]).await.ok();
    let r = client(&s, &["secret", "list", "--json"]).await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(2), "{r:?}");
    let r = client(&s, &["secret", "delete", "inline"]).await;
    r.fails_saying(1, "404");
}
