//! The `python` step (SPEC §11) through the real server: arguments and typed variables (from a
//! webhook too; secure_string variables masked; the run page); a non-zero exit, a timeout, a
//! 1 GiB allocation, a fork bomb and an output flood, each failing clearly (or contained) with
//! the server healthy afterwards; a `kill -9` mid-script. The isolation is in `python_sandbox`.
//! Servers get `--python /usr/bin/python3` from the harness (`common`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// A workflow of one python step `py` (with `extra` fields, indented 4) and nothing else.
pub(crate) fn one_step(name: &str, script: &str, extra: &str) -> String {
    let script: String = script.lines().map(|l| format!("      {l}\n")).collect();
    format!("name: {name}\nsteps:\n  - id: py\n    type: python\n    script: |\n{script}{extra}")
}

const TYPED: &str = r#"name: py-typed
inputs: [{name: alert, type: object}, {name: who, type: string, default: world}]
outputs: [{name: count, type: integer}, {name: summary, type: string}]
steps:
  - id: summarise
    type: python
    title: Format the alert
    script: |
      import sys, json, datetime
      alert = json.loads(sys.argv[1])
      summary = alert["title"].upper() + " for " + sys.argv[2]
      count = len(alert["hosts"])
      ratio = count / 4
      ok = count > 1
      when = datetime.datetime(2026, 12, 6, 10, 30, 0)
      info = {"hosts": alert["hosts"], "n": int(sys.argv[3])}
      hosts = tuple(alert["hosts"])
      print("formatted", count, len(sys.argv))
      print("a warning", file=sys.stderr)
    args: ["{{ inputs.alert | tojson }}", "{{ inputs.who }}", 7]
    variables: [{name: summary, type: string}, {name: count, type: integer},
      {name: ratio, type: number}, {name: ok, type: boolean}, {name: when, type: datetime},
      {name: info, type: object}, {name: hosts, type: array}]
  - id: done
    type: complete
    outputs:
      count: "{{ steps.summarise.output.variables.count }}"
      summary: "{{ steps.summarise.output.variables.summary }}"
"#;

/// The typed workflow runs and answers as expected (used again after each hostile script);
/// the run's id.
async fn typed_run_works(s: &Server, wf: &str) -> String {
    let run = run_to_end(
        s,
        wf,
        json!({"alert": {"title": "disk full", "hosts": ["a", "b", "c"]}, "who": "ops"}),
    )
    .await;
    expect_status(&run, "succeeded");
    let out = &step(&run, "summarise")["output"];
    assert_eq!(out["exit_code"], json!(0), "{out}");
    assert_eq!(out["stdout"], json!("formatted 3 4\n"));
    assert_eq!(out["stderr"], json!("a warning\n"));
    assert_eq!(
        out["variables"],
        json!({
            "summary": "DISK FULL for ops",
            "count": 3,
            "ratio": 0.75,
            "ok": true,
            "when": "2026-12-06T10:30:00+00:00",
            "info": {"hosts": ["a", "b", "c"], "n": 7},
            "hosts": ["a", "b", "c"],
        })
    );
    assert_eq!(
        run["outputs"],
        json!({"count": 3, "summary": "DISK FULL for ops"})
    );
    assert_eq!(
        s.healthz().await.status,
        200,
        "the server is healthy after a python step"
    );
    run["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn args_and_typed_variables_from_a_webhook() {
    let (s, wf) = server_with_workflow(TYPED).await;
    let id = typed_run_works(&s, &wf).await;

    // The run page shows the script, stdout and stderr as text blocks.
    let ui = crate::ui_http::Ui::signed_in(&s).await;
    let steps =
        crate::ui_http::element(&ui.page(&format!("/ui/runs/{id}")).await, "steps", "table");
    for needle in [
        "<span class=\"step-title\">Format the alert</span>",
        "<pre class=\"step-stdout\">formatted 3 4\n</pre>",
        "<pre class=\"step-stderr\">a warning\n</pre>",
        "<pre class=\"step-script\">import sys, json, datetime\nalert = json.loads(sys.argv[1])",
    ] {
        assert!(steps.contains(needle), "{needle} in {steps}");
    }

    // Fed by a webhook: the body reaches the script through a template.
    let sc = Scenario::new(&s, "alerts")
        .event("alerts")
        .workflow(&format!(
            "{}triggers: [{{event: alerts}}]\n",
            one_step(
                "py-hook",
                "import sys, json\nbody = json.loads(sys.argv[1])\nseverity = body['severity']",
                "    args: [\"{{ trigger.body | tojson }}\"]\n    variables: [{name: severity, type: string}]\n",
            )
        ))
        .await;
    let hook = &sc.hook;
    let delivery = send(&s, hook, &json!({"severity": "high"}), &[]).await;
    let run_id = first_run_id(&s, &delivery).await;
    let run = wait_run_within(&s, &run_id, Duration::from_secs(30)).await;
    expect_status(&run, "succeeded");
    assert_eq!(
        step(&run, "py")["output"]["variables"]["severity"],
        json!("high")
    );

    // A variable declared secure_string is masked in every record from then on; later steps
    // still get the real value.
    let wf = valid_workflow(
        &s,
        "name: py-secure\nsteps:\n  - id: py\n    type: python\n    script: \"token = 'tok-' + 'abcdefgh12345'\\nprint('made', token)\"\n    variables: [{name: token, type: secure_string}]\n  - id: use\n    type: python\n    script: \"import sys\\nprint('got', sys.argv[1])\\nlength = len(sys.argv[1])\"\n    args: [\"{{ steps.py.output.variables.token }}\"]\n    variables: [{name: length, type: integer}]\n",
    )
    .await;
    let run = run_expecting(&s, &wf, json!({}), "succeeded").await;
    assert_eq!(
        step(&run, "py")["output"]["variables"]["token"],
        json!("***")
    );
    assert_eq!(step(&run, "py")["output"]["stdout"], json!("made ***\n"));
    assert_eq!(step(&run, "use")["input"]["args"][0], json!("***"));
    assert_eq!(step(&run, "use")["output"]["stdout"], json!("got ***\n"));
    assert_eq!(
        step(&run, "use")["output"]["variables"]["length"],
        json!(17)
    );
    assert!(!run.to_string().contains("abcdefgh12345"), "{run}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_clear_and_the_server_stays_healthy() {
    // Large records kept whole, to see the output cut by the step itself.
    let s = Server::start_with(&["--max-step-record-bytes", "4194304"]).await;
    let typed = valid_workflow(&s, TYPED).await;
    let marker = format!("forkbomb-{}", random_hex(8));
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "exit",
            one_step(
                "py-exit",
                "import sys\nprint('before')\nraise ValueError('boom in the script')",
                "",
            ),
            "the script exited with code 1; the end of its stderr: ",
        ),
        (
            "exit3",
            one_step("py-exit3", "import sys\nsys.exit(3)", ""),
            "the script exited with code 3",
        ),
        (
            "missing",
            one_step(
                "py-missing",
                "x = 1",
                "    variables: [{name: y, type: integer}]\n",
            ),
            "the script did not set the variable \"y\" (declared integer) at module level",
        ),
        (
            "wrongtype",
            one_step(
                "py-wrong",
                "y = 'three'",
                "    variables: [{name: y, type: integer}]\n",
            ),
            "the variable \"y\" is declared integer but the script left a Python str",
        ),
        (
            "busy",
            one_step("py-busy", "while True:\n    pass", "    timeout: 2s\n"),
            "the script did not end within 2 s and was killed",
        ),
        (
            "asleep",
            one_step(
                "py-asleep",
                "import time\ntime.sleep(600)",
                "    timeout: 1s\n",
            ),
            "the script did not end within 1 s and was killed",
        ),
        (
            "memory",
            one_step("py-memory", "b = bytearray(1024 ** 3)\nprint(len(b))", ""),
            "after hitting the memory limit (256 MiB",
        ),
    ];
    for (what, yaml, want) in &cases {
        let wf = valid_workflow(&s, yaml).await;
        let started = std::time::Instant::now();
        let run = run_expecting(&s, &wf, json!({}), "failed").await;
        error_contains(step(&run, "py"), want);
        if *what == "exit" {
            error_contains(step(&run, "py"), "ValueError: boom in the script");
        }
        if *what == "busy" || *what == "asleep" {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{what}: killed at its timeout"
            );
        }
        assert_eq!(s.healthz().await.status, 200, "healthy after {what}");
    }

    // A fork bomb: refused at the process limit; the step ends by itself and leaves nothing.
    let bomb = valid_workflow(
        &s,
        &one_step(
            "py-bomb",
            "import os, sys, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            time.sleep(3600)\n            os._exit(0)\n        n += 1\nexcept OSError as e:\n    print('refused after', n, type(e).__name__)",
            &format!(
                "    args: [\"{marker}\"]\n    variables: [{{name: n, type: integer}}]\n    timeout: 30s\n"
            ),
        ),
    )
    .await;
    let run = run_expecting(&s, &bomb, json!({}), "succeeded").await;
    let out = &step(&run, "py")["output"];
    let n = out["variables"]["n"].as_i64().expect("n");
    assert!((1..32).contains(&n), "forks before the limit: {out}");
    assert!(
        out["stdout"].as_str().unwrap().contains("BlockingIOError"),
        "{out}"
    );
    eventually(Duration::from_secs(10), || async {
        match processes_with(&marker) {
            0 => Ok(()),
            k => Err(format!("{k} processes of the fork bomb left")),
        }
    })
    .await;

    // A flood of output: cut at 1 MiB per stream, with a note; the script is not blocked.
    let flood = valid_workflow(
        &s,
        &one_step(
            "py-flood",
            "import sys\nfor i in range(64):\n    sys.stdout.write('o' * 65536)\n    sys.stderr.write('e' * 65536)\nprint('never kept')",
            "    timeout: 30s\n",
        ),
    )
    .await;
    let run = run_expecting(&s, &flood, json!({}), "succeeded").await;
    let out = &step(&run, "py")["output"];
    for (name, c) in [("stdout", 'o'), ("stderr", 'e')] {
        let text = out[name].as_str().expect(name);
        let kept = 1024 * 1024;
        assert!(text[..kept].chars().all(|x| x == c), "{name} starts whole");
        assert!(
            text[kept..].starts_with(&format!(
                "\n[hookflow: {name} cut here: {} more bytes were not kept ({name} is capped at 1024 KiB)]",
                64 * 65536 - kept + if name == "stdout" { 11 } else { 0 }
            )),
            "{name} ends with the cut note: {:?}",
            &text[kept..]
        );
    }

    let ui = crate::ui_http::Ui::signed_in(&s).await;
    let page = ui
        .page(&format!("/ui/runs/{}", run["id"].as_str().unwrap()))
        .await;
    let steps = crate::ui_http::element(&page, "steps", "table");
    assert!(
        steps.contains("stdout — cut at 1 MiB") && steps.contains("stderr — cut at 1 MiB"),
        "{}",
        &steps[..2000.min(steps.len())]
    );

    // After all that, the server and a normal python step still work.
    typed_run_works(&s, &typed).await;
}

/// Processes whose command line holds `marker`.
pub(crate) fn processes_with(marker: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_script_resumes_and_records_each_step_once() {
    const RUNS: usize = 4;
    let marker = format!("crash-{}", random_hex(8));
    let mut s = Server::start_with(&["--run-lease-seconds", "2"]).await;
    let sc = Scenario::new(&s, "py")
        .event("py")
        .workflow(&format!(
            "{}  - id: done\n    type: complete\n    outputs: {{n: \"{{{{ steps.py.output.variables.n }}}}\"}}\noutputs: [{{name: n, type: integer}}]\ntriggers: [{{event: py}}]\n",
            one_step(
                "py-slow",
                "import sys, time\ntime.sleep(3)\nn = int(sys.argv[1]) * 2",
                &format!(
                    "    args: [\"{{{{ trigger.body.n }}}}\", \"{marker}\"]\n    variables: [{{name: n, type: integer}}]\n"
                ),
            )
        ))
        .await;
    let hook = &sc.hook;
    let mut deliveries = Vec::new();
    for n in 0..RUNS {
        deliveries.push(send(&s, hook, &json!({"n": n}), &[]).await);
    }
    // Every script is running (seen as processes) when the server is killed.
    eventually(Duration::from_secs(30), || async {
        match processes_with(&marker) {
            k if k >= RUNS => Ok(()),
            k => Err(format!("{k} scripts running")),
        }
    })
    .await;
    s.kill9();
    // The scripts die with the server (parent-death signal), not at their end.
    eventually(Duration::from_secs(2), || async {
        match processes_with(&marker) {
            0 => Ok(()),
            k => Err(format!("{k} script processes outlived the server")),
        }
    })
    .await;
    s.restart().await;
    for (n, d) in deliveries.iter().enumerate() {
        let run = eventually(Duration::from_secs(60), || async {
            let del = s.delivery(d).await;
            let Some(id) = del["runs"][0]["id"].as_str() else {
                return Err(format!("no run: {del}"));
            };
            let run = get_run(&s, id).await;
            if is_final(&run["status"]) {
                Ok(run)
            } else {
                Err(format!("run not finished: {}", run["status"]))
            }
        })
        .await;
        expect_status(&run, "succeeded");
        let recs: Vec<&Value> = records(&run, "py");
        assert_eq!(recs.len(), 1, "one record of the python step: {run}");
        assert_eq!(recs[0]["status"], json!("succeeded"));
        assert_eq!(run["outputs"]["n"], json!(n * 2));
    }
}
