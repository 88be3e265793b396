//! Workflow versions (SPEC §10): every save makes a version; a run executes the version it
//! started on — after a sleep, after a `kill -9` during the sleep, and when another PostgreSQL
//! node takes it over — and the versions API lists and shows them.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, Row};

use crate::common::*;
use crate::ui_http::{Ui, element, unescape};

/// A workflow named `name` that runs `first` (if any), sleeps `sleep`, then completes with
/// `{said, version}`; its steps after the sleep are named after `said`, with a title.
fn version_yaml(name: &str, said: &str, first: &str, sleep: &str) -> String {
    format!(
        r#"name: {name}
outputs:
  - {{name: said, type: string}}
  - {{name: version, type: integer}}
steps:
{first}  - id: nap
    type: sleep
    duration: {sleep}
  - id: after_{said}
    title: Said {said}
    type: set_variables
    values: {{}}
  - id: done
    type: complete
    outputs: {{said: "{said}", version: "{{{{ run.workflow_version }}}}"}}
"#
    )
}

/// Starts a manual run of `wf`; returns its id.
pub(crate) async fn start_run(s: &Server, wf: &str) -> String {
    let a = s
        .api_post(&format!("/api/v1/workflows/{wf}/runs"), json!({}))
        .await;
    a.expect_status(202);
    a.json()["id"].as_str().expect("run id").to_string()
}

/// A server with workflow `name` (its first version) and a run of it that has ended: the server,
/// the workflow's id and the run's.
async fn one_ended_run(name: &str) -> (Server, String, String) {
    let (s, wf) = server_with_workflow(&version_yaml(name, "one", "", "1ms")).await;
    let run = run_ended(&s, &wf).await;
    (s, wf, run)
}

/// Starts a run of `wf` and waits (30 s at most) until it has ended: its id.
async fn run_ended(s: &Server, wf: &str) -> String {
    let run = start_run(s, wf).await;
    wait_run_within(s, &run, Duration::from_secs(30)).await;
    run
}

/// Waits until run `id` sleeps in its `nap` step.
pub(crate) async fn until_sleeping(s: &Server, id: &str) {
    eventually(Duration::from_secs(20), || async {
        let run = get_run(s, id).await;
        let napping = run["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|st| st["id"] == json!("nap") && st["status"] == json!("waiting"));
        check(napping, || format!("not sleeping yet: {run}"))
    })
    .await
}

/// The run went through version 1's steps and none of version 2's, with version 1's titles.
fn assert_ran_version_1(run: &Value) {
    assert_eq!(run["status"], json!("succeeded"), "{run}");
    assert_eq!(run["workflow_version"], json!(1), "{run}");
    assert_eq!(
        run["outputs"],
        json!({"said": "one", "version": 1}),
        "{run}"
    );
    let steps: Vec<(&str, &Value)> = run["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| (s["id"].as_str().unwrap_or(""), &s["title"]))
        .collect();
    assert!(
        steps.contains(&("after_one", &json!("Said one"))),
        "version 1's step (with its title) missing: {steps:?}"
    );
    assert!(
        !steps.iter().any(|(id, _)| *id == "after_two"),
        "a step of version 2 ran: {steps:?}"
    );
}

/// Saves version 2 of workflow `wf` (PUT); it says "two".
async fn save_version_2(s: &Server, wf: &str, name: &str, sleep: &str) {
    let a = send_workflow(
        s,
        Method::PUT,
        &format!("/api/v1/workflows/{wf}"),
        &version_yaml(name, "two", "", sleep),
    )
    .await;
    a.expect_status(200);
    assert_eq!(a.json()["version"], json!(2), "{}", a.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_run_finishes_with_the_version_it_started_on() {
    let s = Server::start().await;
    let w = create_workflow(&s, &version_yaml("pinned", "one", "", "2s")).await;
    assert_eq!(w["version"], json!(1));
    let wf = w["id"].as_str().unwrap().to_string();
    let run = start_run(&s, &wf).await;
    until_sleeping(&s, &run).await;
    save_version_2(&s, &wf, "pinned", "1ms").await;
    // A run started now is on version 2.
    let second = start_run(&s, &wf).await;

    assert_ran_version_1(&wait_run_within(&s, &run, Duration::from_secs(30)).await);
    let second = wait_run_within(&s, &second, Duration::from_secs(30)).await;
    assert_eq!(second["workflow_version"], json!(2), "{second}");
    assert_eq!(second["outputs"], json!({"said": "two", "version": 2}));
    // Enabling, disabling and validating again make no version.
    disable_workflow(&s, &wf).await;
    s.api_post(&format!("/api/v1/workflows/{wf}/validate"), json!({}))
        .await
        .expect_status(200);
    let w = s.api_get(&format!("/api/v1/workflows/{wf}")).await.json();
    assert_eq!(w["version"], json!(2), "{w}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_resumed_after_kill_9_during_its_sleep_keeps_its_version() {
    let mut s = Server::start().await;
    let wf = valid_workflow(&s, &version_yaml("crashed", "one", "", "3s")).await;
    let run = start_run(&s, &wf).await;
    until_sleeping(&s, &run).await;
    save_version_2(&s, &wf, "crashed", "1ms").await;
    s.kill9();
    // A new process: nothing of version 1 is left in memory.
    s.restart().await;
    assert_ran_version_1(&wait_run_within(&s, &run, Duration::from_secs(30)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_taken_over_by_another_node_keeps_its_version() {
    if test_database_url().is_none() {
        eprintln!("several nodes need PostgreSQL; runs in the TEST_DATABASE_URL pass");
        return;
    }
    // The call is held 4 s: node A is in the middle of it, holding the run's lease, when it dies.
    let sink = FlakyServer::start(0, Duration::from_secs(4)).await;
    let lease = ["--run-lease-seconds", "3"];
    let mut a = Server::start_with(&lease).await;
    let call = format!(
        "  - id: call\n    type: http_request\n    method: GET\n    url: \"http://{}/v\"\n",
        sink.addr
    );
    let wf = valid_workflow(&a, &version_yaml("taken", "one", &call, "1s")).await;
    let run = start_run(&a, &wf).await;
    let db = a.database_url().expect("PostgreSQL database");
    let mut conn = PgConnection::connect(&db).await.expect("connect");
    eventually(Duration::from_secs(20), || async {
        let r = sqlx::query("SELECT status, lease_owner FROM runs WHERE id = $1")
            .bind(&run)
            .fetch_one(&mut PgConnection::connect(&db).await.expect("connect"))
            .await
            .expect("run row");
        let (status, owner): (String, Option<String>) = (r.get(0), r.get(1));
        check(
            status == "running" && owner.is_some() && sink.count("/v") == 1,
            || format!("run {status} held by {owner:?}, {} calls", sink.count("/v")),
        )
    })
    .await;
    let b = a.start_peer(&lease).await;
    save_version_2(&b, &wf, "taken", "1ms").await;
    a.kill9();

    let done = wait_run_within(&b, &run, Duration::from_secs(60)).await;
    assert_ran_version_1(&done);
    let claims: i64 = sqlx::query_scalar("SELECT claims FROM runs WHERE id = $1")
        .bind(&run)
        .fetch_one(&mut conn)
        .await
        .expect("claims");
    assert!(
        claims >= 2,
        "node B never took the run over ({claims} claims)"
    );
    assert!(sink.count("/v") >= 2, "node B did not call again");
    let _ = conn.close().await;
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_listed_newest_first_and_shown_one_by_one() {
    let s = Server::start().await;
    let w = create_workflow(&s, &version_yaml("listed", "one", "", "1ms")).await;
    let wf = w["id"].as_str().unwrap().to_string();
    for n in 2..=5 {
        let said = format!("n{n}");
        send_workflow(
            &s,
            Method::PUT,
            &format!("/api/v1/workflows/{wf}"),
            &version_yaml("listed", &said, "", "1ms"),
        )
        .await
        .expect_status(200);
    }
    // Paged like other lists: 2, 2, 1.
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/workflows/{wf}/versions?limit=2");
    loop {
        let a = s.api_get(&path).await;
        a.expect_status(200);
        let page = a.json();
        for v in page["items"].as_array().unwrap() {
            assert!(
                v.get("source").is_none(),
                "a list carries no documents: {v}"
            );
            assert_eq!(v["name"], json!("listed"));
            assert_eq!(v["validation"]["status"], json!("valid"));
            seen.push(v["version"].as_i64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/workflows/{wf}/versions?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![5, 4, 3, 2, 1]);
    // By name too; one version with its document.
    let a = s.api_get("/api/v1/workflows/listed/versions/3").await;
    a.expect_status(200);
    let v3 = a.json();
    assert_eq!(v3["version"], json!(3));
    assert_eq!(v3["workflow_id"], json!(wf));
    assert_eq!(v3["source"], json!(version_yaml("listed", "n3", "", "1ms")));
    assert_eq!(v3["definition"]["steps"][1]["id"], json!("after_n3"));
    // Errors.
    s.api_get(&format!("/api/v1/workflows/{wf}/versions/6"))
        .await
        .expect_problem(404);
    s.api_get(&format!("/api/v1/workflows/{wf}/versions/zero"))
        .await
        .expect_problem(400);
    s.api_get(&format!("/api/v1/workflows/{wf}/versions?cursor=nope"))
        .await
        .expect_problem(400);
    s.api_get("/api/v1/workflows/nothing-here/versions")
        .await
        .expect_problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_workflow_keeps_the_versions_its_runs_ran() {
    let (s, wf, run) = one_ended_run("gone").await;
    // Version 2 no run refers to.
    save_version_2(&s, &wf, "gone", "1ms").await;
    s.api_delete(&format!("/api/v1/workflows/{wf}"))
        .await
        .expect_status(204);
    let a = s.api_get(&format!("/api/v1/workflows/{wf}/versions")).await;
    a.expect_status(200);
    let kept: Vec<Value> = a.json()["items"].as_array().unwrap().clone();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["version"], json!(1));
    // The run still shows version 1's titles.
    let shown = get_run(&s, &run).await;
    assert_ran_version_1(&shown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_shows_a_runs_version_and_diffs_an_old_version_with_the_current() {
    let s = Server::start().await;
    let ui = Ui::signed_in(&s).await;
    // Version 1 and version 2, both saved with the editor.
    let a = ui
        .workflow_form("new", &version_yaml("edited", "one", "", "1ms"), "save")
        .await;
    assert_eq!(a.status, 303, "{}", a.text());
    let page_of = a.header("location").expect("Location").to_string();
    let wf = page_of.trim_start_matches("/ui/workflows/").to_string();
    let run = run_ended(&s, &wf).await;
    let a = ui
        .post(
            &page_of,
            &[
                ("definition", &version_yaml("edited", "two", "", "1ms")),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.text());

    // The run page names version 1 and links to it.
    let html = ui.page(&format!("/ui/runs/{run}")).await;
    let link = element(&html, "run-version", "a");
    assert!(
        link.contains(&format!("href=\"/ui/workflows/{wf}/versions/1\""))
            && link.ends_with(">version 1"),
        "{link}"
    );
    // The workflow's page lists both, the current one marked.
    let html = ui.page(&page_of).await;
    let table = unescape(&element(&html, "versions", "table"));
    let v2 = table
        .find("version 2</a> (current)")
        .expect("version 2 current");
    let v1 = table.find("version 1</a>").expect("version 1 listed");
    assert!(v2 < v1, "newest first: {table}");
    // Version 1: its document, and what changed to reach version 2.
    let html = ui.page(&format!("/ui/workflows/{wf}/versions/1")).await;
    let source = unescape(&element(&html, "version-source", "pre"));
    assert!(
        source.ends_with(&version_yaml("edited", "one", "", "1ms")),
        "{source}"
    );
    assert_eq!(
        unescape(&element(&html, "diff-summary", "p")),
        "id=\"diff-summary\">3 lines added, 3 lines removed."
    );
    let diff = unescape(&element(&html, "diff", "table"));
    for line in [
        "<tr class=\"diff-del\"><td class=\"ln\">9</td><td class=\"ln\"></td><td><code>-   - id: after_one</code>",
        "<tr class=\"diff-add\"><td class=\"ln\"></td><td class=\"ln\">9</td><td><code>+   - id: after_two</code>",
        "<tr class=\"diff-same\"><td class=\"ln\">1</td><td class=\"ln\">1</td><td><code>  name: edited</code>",
    ] {
        assert!(diff.contains(line), "{line} not in\n{diff}");
    }
    // The current version has nothing to compare; unknown versions are 404.
    let html = ui.page(&format!("/ui/workflows/{wf}/versions/2")).await;
    assert!(!html.contains("id=\"diff\""), "{html}");
    assert!(html.contains("this is the current version"), "{html}");
    assert_eq!(
        ui.get(&format!("/ui/workflows/{wf}/versions/3"))
            .await
            .status,
        404
    );
    assert_eq!(
        ui.get(&format!("/ui/workflows/{wf}/versions/x"))
            .await
            .status,
        400
    );
    // The paged list.
    let html = ui.page(&format!("/ui/workflows/{wf}/versions")).await;
    assert!(unescape(&element(&html, "versions", "table")).contains("version 1</a>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_versions_and_prints_one() {
    let (s, wf) = server_with_workflow(&version_yaml("cli-versions", "one", "", "1ms")).await;
    save_version_2(&s, &wf, "cli-versions", "1ms").await;
    let r = client(&s, &["workflow", "versions", "cli-versions"]).await;
    r.ok();
    assert!(r.stdout.starts_with("VERSION"), "{}", r.stdout);
    assert!(
        r.row("cli-versions").starts_with("2 "),
        "newest first: {}",
        r.stdout
    );
    let rows: Vec<&str> = r.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{}", r.stdout);
    assert!(
        rows[1].starts_with("1 ") && rows[1].contains("valid"),
        "{rows:?}"
    );
    let r = client(&s, &["workflow", "versions", &wf, "--json"]).await;
    r.ok();
    assert_eq!(r.json()[1]["version"], json!(1));
    // One version's document, as written.
    let r = client(&s, &["workflow", "version", "cli-versions", "1"]).await;
    r.ok();
    assert_eq!(r.stdout, version_yaml("cli-versions", "one", "", "1ms"));
    let r = client(&s, &["workflow", "version", "cli-versions", "1", "--json"]).await;
    r.ok();
    assert_eq!(r.json()["definition"]["steps"][1]["id"], json!("after_one"));
    client(&s, &["workflow", "version", "cli-versions", "9"])
        .await
        .fails(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_newest_fifty_and_every_version_a_run_refers_to() {
    let (s, wf, run) = one_ended_run("kept").await;
    for n in 2..=53 {
        send_workflow(
            &s,
            Method::PUT,
            &format!("/api/v1/workflows/{wf}"),
            &version_yaml("kept", &format!("n{n}"), "", "1ms"),
        )
        .await
        .expect_status(200);
    }
    let kept: Vec<i64> = s
        .all_pages(&format!("/api/v1/workflows/{wf}/versions?limit=20"))
        .await
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    // 53 down to 4 (the newest 50), and 1, which the run ran; 2 and 3 are gone.
    let mut want: Vec<i64> = (4..=53).rev().collect();
    want.push(1);
    assert_eq!(kept, want);
    s.api_get(&format!("/api/v1/workflows/{wf}/versions/2"))
        .await
        .expect_problem(404);
    assert_ran_version_1(&get_run(&s, &run).await);
}
