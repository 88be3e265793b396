//! Several `hookflow serve` processes on one PostgreSQL database working as one installation
//! (SPEC §6): rate limits exact across nodes, every run executed once, a node killed mid-run,
//! schedules fired once per due time, changes made through one node seen by the other at once.
//!
//! Several nodes need PostgreSQL: these tests run in the suite's PostgreSQL pass
//! (`TEST_DATABASE_URL`, which `.ci/run` always sets) and return at once, saying so, in the
//! SQLite pass.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, Row};

use crate::common::*;

/// Whether the suite runs on PostgreSQL; prints why the test does nothing when it does not.
fn on_postgres(test: &str) -> bool {
    if test_database_url().is_some() {
        return true;
    }
    eprintln!("{test}: several nodes need PostgreSQL; runs in the TEST_DATABASE_URL pass");
    false
}

/// Two nodes on one (fresh) PostgreSQL database; `None` (said on stderr) without PostgreSQL.
async fn two_nodes(test: &str) -> Option<(Server, Server)> {
    if !on_postgres(test) {
        return None;
    }
    let a = Server::start().await;
    let b = a.start_peer(&[]).await;
    Some((a, b))
}

/// POSTs `body` as JSON to `url` with `client`; returns the status and the `X-Delivery-Id`.
async fn post_json(client: &reqwest::Client, url: &str, body: String) -> (u16, Option<String>) {
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST webhook");
    let id = resp
        .headers()
        .get("x-delivery-id")
        .map(|v| v.to_str().unwrap().to_string());
    (resp.status().as_u16(), id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limit_is_exact_across_two_nodes() {
    let Some((a, b)) = two_nodes("a_rate_limit_is_exact_across_two_nodes").await else {
        return;
    };
    let hook = a
        .create_webhook("limited", "application/json", Some(5), Some(0))
        .await;
    // The 20 requests must all fall in one minute window.
    avoid_window_edge(60, 15).await;

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        let (client, url) = (node.client.clone(), node.hook_url(&hook));
        tasks.spawn(async move { post_json(&client, &url, format!("{{\"i\": {i}}}")).await });
    }
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    while let Some(r) = tasks.join_next().await {
        *statuses.entry(r.unwrap().0).or_default() += 1;
    }
    assert_eq!(
        statuses,
        HashMap::from([(202, 5), (429, 15)]),
        "20 concurrent requests over two nodes against 5 per minute"
    );

    // Both nodes see the same record: 5 accepted, 15 rejected with 429.
    for node in [&a, &b] {
        let all = node.deliveries(hook["id"].as_str().unwrap()).await;
        let accepted = all.iter().filter(|d| d["status"] == "accepted").count();
        let limited = all
            .iter()
            .filter(|d| d["status"] == "rejected" && d["http_status"] == json!(429))
            .count();
        assert_eq!((accepted, limited, all.len()), (5, 15, 20), "{all:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_through_one_node_take_effect_on_the_other_at_once() {
    let Some((a, b)) = two_nodes("changes_through_one_node_take_effect_on_the_other_at_once").await
    else {
        return;
    };

    // A webhook created through A takes requests through B (and B warms its cache).
    let hook = a.unlimited_webhook("shared", "application/json").await;
    let (status, _) = post_json(&b.client, &b.hook_url(&hook), "{}".into()).await;
    assert_eq!(status, 202, "a webhook created on A works on B at once");

    // A key rotated through B: the old key stops working on A at once, the new one works.
    let rotated = b.rotate_key(&hook).await;
    let (old, _) = post_json(&a.client, &a.hook_url(&hook), "{}".into()).await;
    assert_eq!(old, 401, "the old key fails on A right after rotation on B");
    let (new, _) = post_json(&a.client, &a.hook_url(&rotated), "{}".into()).await;
    assert_eq!(new, 202, "the new key works on A right after rotation on B");

    // A daily limit set through A applies on B at once; lifted through B, on A at once.
    let hook_path = format!("/api/v1/webhooks/{}", hook["id"].as_str().unwrap());
    a.api_patch(&hook_path, json!({"rate_limit_per_day": 2}))
        .await
        .expect_status(200);
    let (limited, _) = post_json(&b.client, &b.hook_url(&rotated), "{}".into()).await;
    assert_eq!(limited, 429, "two accepted today, the new daily limit is 2");
    b.api_patch(&hook_path, json!({"rate_limit_per_day": 0}))
        .await
        .expect_status(200);

    // An event and a workflow created through B, a secret set through A: a request to A starts
    // the run, which uses the secret (redacted in its record).
    create_event(
        &b,
        json!({"name": "shared-event", "webhook_id": hook["id"]}),
    )
    .await;
    let secret = format!("s3cret-{}", random_hex(12));
    let set = a
        .api(
            reqwest::Method::PUT,
            "/api/v1/secrets/shared_secret",
            Some(json!({"value": secret})),
        )
        .await;
    set.expect_status(200);
    assert!(
        !set.text().contains(&secret),
        "the answer names the secret only"
    );
    let sink = FlakyServer::start(0, Duration::ZERO).await;
    let url = format!("http://{}/{{{{ secrets.shared_secret }}}}", sink.addr);
    let call = call_step("GET", &url, &[]);
    let shared = triggered_yaml("shared-flow", "shared-event", &[&call], SINK_PATH);
    valid_workflow(&b, &shared).await;
    let (status, delivery) = post_json(&a.client, &a.hook_url(&rotated), "{}".into()).await;
    assert_eq!(status, 202);
    let delivery = delivery.expect("X-Delivery-Id");
    let run = eventually(Duration::from_secs(30), || async {
        let d = b.delivery(&delivery).await;
        match d["runs"].as_array().and_then(|r| r.first()) {
            Some(r) if is_final(&r["status"]) => Ok(get_run(&b, r["id"].as_str().unwrap()).await),
            _ => Err(format!("no finished run yet: {}", d["runs"])),
        }
    })
    .await;
    assert_eq!(run["status"], json!("succeeded"), "{run}");
    assert_eq!(sink.count(&format!("/{secret}")), 1, "{:?}", sink.counts());
    assert!(
        !run.to_string().contains(&secret),
        "the secret is redacted in the run record: {run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_deliveries_over_two_nodes_run_once_each() {
    if !on_postgres("a_thousand_deliveries_over_two_nodes_run_once_each") {
        return;
    }
    const N: usize = 1000;
    const CONCURRENCY: usize = 16;
    let sink = FlakyServer::start(0, Duration::ZERO).await;
    let a = Server::start().await;
    let b = a.start_peer(&[]).await;
    let sc = Scenario::new(&a, "many").event("many").await;
    let hook = &sc.hook;
    let url = format!("http://{}/d/{{{{ trigger.delivery_id }}}}", sink.addr);
    let call = call_step("POST", &url, &[r#"body: {n: "{{ trigger.body.n }}"}"#]);
    let n = ("n", "integer", "{{ trigger.body.n }}");
    let wf = valid_workflow(&b, &triggered_yaml("once", "many", &[&call], n)).await;

    // 16 senders, request n to node n % 2.
    let urls = [a.hook_url(hook), b.hook_url(hook)];
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..CONCURRENCY {
        let client = if w % 2 == 0 {
            a.client.clone()
        } else {
            b.client.clone()
        };
        let urls = urls.clone();
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for n in (w..N).step_by(CONCURRENCY) {
                let (status, id) =
                    post_json(&client, &urls[n % 2], format!("{{\"n\": {n}}}")).await;
                assert_eq!(status, 202, "request {n}");
                ids.push(id.expect("X-Delivery-Id"));
            }
            ids
        });
    }
    let mut deliveries = HashSet::new();
    while let Some(ids) = tasks.join_next().await {
        deliveries.extend(ids.unwrap());
    }
    assert_eq!(deliveries.len(), N, "1,000 distinct delivery ids");

    // Every run finishes; the two nodes together finished exactly 1,000, each some of them.
    let per_node = eventually(Duration::from_secs(120), || async {
        let (x, y) = (
            a.runs_finished("succeeded").await,
            b.runs_finished("succeeded").await,
        );
        if x + y >= N as u64 {
            Ok((x, y))
        } else {
            Err(format!("{x} + {y} runs succeeded so far"))
        }
    })
    .await;
    eprintln!("runs finished per node: {per_node:?}");
    assert_eq!(per_node.0 + per_node.1, N as u64, "no run finished twice");
    assert!(
        per_node.0 > 0 && per_node.1 > 0,
        "both nodes executed runs: {per_node:?}"
    );
    for node in [&a, &b] {
        assert_eq!(node.runs_finished("failed").await, 0);
    }

    // The record agrees: 1,000 succeeded runs, one per delivery, each step done once.
    let runs = a
        .all_runs(&format!("workflow_id={wf}&status=succeeded"))
        .await;
    assert_eq!(runs.len(), N);
    let by_delivery: HashSet<String> = runs
        .iter()
        .map(|r| r["trigger"]["delivery_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(by_delivery, deliveries, "one run per accepted delivery");
    // The destination saw each delivery exactly once.
    let counts = sink.counts();
    assert_eq!(counts.len(), N, "one path per delivery");
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c != 1).collect();
    assert!(twice.is_empty(), "called more than once: {twice:?}");
    for id in &deliveries {
        assert_eq!(sink.count(&format!("/d/{id}")), 1, "delivery {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_of_a_killed_node_are_finished_by_the_other() {
    if !on_postgres("runs_of_a_killed_node_are_finished_by_the_other") {
        return;
    }
    const N: usize = 40;
    // Each call is held 1.5 s: runs stay in the middle of a step for a while.
    let sink = FlakyServer::start(0, Duration::from_millis(1500)).await;
    let mut a = Server::start_with(&["--run-lease-seconds", "3", "--workers", "8"]).await;
    let b = a
        .start_peer(&["--run-lease-seconds", "3", "--workers", "8"])
        .await;
    let url = format!("http://{}/k/{{{{ trigger.body.n }}}}", sink.addr);
    let steps = [
        &*call_step("GET", &url, &[]),
        "- {id: nap, type: sleep, duration: 1s}",
    ];
    let sc = Scenario::new(&a, "work")
        .event("work")
        .workflow(&triggered_yaml("slow", "work", &steps, SINK_PATH))
        .await;
    let (hook, wf) = (&sc.hook, sc.workflow());
    for n in 0..N {
        let url = if n % 2 == 0 {
            a.hook_url(hook)
        } else {
            b.hook_url(hook)
        };
        let (status, _) = post_json(&a.client, &url, format!("{{\"n\": {n}}}")).await;
        assert_eq!(status, 202);
    }

    // Wait until both nodes hold runs (two lease owners among running runs), then kill A.
    let db = a.database_url().expect("PostgreSQL database");
    let connect = || async {
        PgConnection::connect(&db)
            .await
            .expect("connect to the test database")
    };
    let held = eventually(Duration::from_secs(20), || async {
        let mut conn = connect().await;
        let rows = sqlx::query(
            "SELECT lease_owner, count(*) FROM runs WHERE status = 'running' \
             AND lease_owner IS NOT NULL GROUP BY lease_owner",
        )
        .fetch_all(&mut conn)
        .await
        .expect("runs by lease owner");
        let owners: Vec<(String, i64)> = rows
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
            .collect();
        if owners.len() == 2 {
            Ok(owners)
        } else {
            Err(format!("want runs held by both nodes: {owners:?}"))
        }
    })
    .await;
    eprintln!("kill -9 of node A while runs are held: {held:?}");
    a.kill9();

    // Every run finishes, through B, keeping its id; no step succeeded twice.
    let runs = eventually(Duration::from_secs(90), || async {
        let runs = b.all_runs(&format!("workflow_id={wf}")).await;
        let done = runs.iter().filter(|r| is_final(&r["status"])).count();
        if runs.len() == N && done == N {
            Ok(runs)
        } else {
            Err(format!("{done} of {} runs finished", runs.len()))
        }
    })
    .await;
    let mut failures = Vec::new();
    for r in &runs {
        let run = get_run(&b, r["id"].as_str().unwrap()).await;
        if run["status"] != json!("succeeded") {
            failures.push(format!("{}: {} {}", run["id"], run["status"], run["error"]));
        }
        let steps: Vec<&Value> = run["steps"].as_array().unwrap().iter().collect();
        for id in ["call", "nap", "done"] {
            let ok = steps
                .iter()
                .filter(|s| s["id"] == json!(id) && s["status"] == json!("succeeded"))
                .count();
            if ok != 1 {
                failures.push(format!("{}: step {id} succeeded {ok} times", run["id"]));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Every destination was reached (a call cut by the kill is made again: at least once).
    for n in 0..N {
        assert!(sink.count(&format!("/k/{n}")) >= 1, "/k/{n} never called");
    }
    // Nothing is left queued or held by the dead node.
    let mut conn = connect().await;
    let stuck: i64 =
        sqlx::query_scalar("SELECT count(*) FROM runs WHERE status IN ('running', 'queued')")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(stuck, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_schedule_fires_once_per_due_time_on_two_nodes() {
    let Some((a, b)) = two_nodes("a_schedule_fires_once_per_due_time_on_two_nodes").await else {
        return;
    };
    let ev = create_event(&b, json!({"name": "tick", "schedule": "* * * * *"})).await;
    let first_due = ev["next_fire_at"].as_str().unwrap().to_string();
    let ticks = completing_yaml(
        "ticks",
        "tick",
        "at",
        "string",
        "{{ trigger.scheduled_at }}",
    );
    let wf = valid_workflow(&a, &ticks).await;

    // Two due times pass with both nodes running their schedulers.
    let runs = eventually(Duration::from_secs(140), || async {
        let runs = a.all_runs(&format!("workflow_id={wf}")).await;
        let finished = runs.iter().filter(|r| is_final(&r["status"])).count();
        let times: HashSet<&str> = runs
            .iter()
            .filter_map(|r| r["trigger"]["scheduled_at"].as_str())
            .collect();
        if times.len() >= 2 && finished == runs.len() {
            Ok(runs.clone())
        } else {
            Err(format!("{} due times fired so far", times.len()))
        }
    })
    .await;
    let mut per: HashMap<String, usize> = HashMap::new();
    for r in &runs {
        assert_eq!(r["status"], json!("succeeded"), "{r}");
        *per.entry(r["trigger"]["scheduled_at"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(
        per.values().all(|n| *n == 1),
        "one run per due time across two nodes: {per:?}"
    );
    assert_eq!(per.get(&first_due), Some(&1), "{per:?}");
    drop(b);
}

/// Each node keeps the secrets unsealed between runs; a secret changed through one node reaches
/// the next runs on both (whichever node claims them), also the node that held the old value.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_changed_through_one_node_reaches_the_runs_of_both() {
    if !on_postgres("a_secret_changed_through_one_node_reaches_the_runs_of_both") {
        return;
    }
    use crate::engine_steps::{SECRET_SEEN, set_tok, tok_seen};
    let a = Server::start().await;
    let b = a.start_peer(&[]).await;
    set_tok(&a, "a").await;
    let wf = valid_workflow(&a, SECRET_SEEN).await;
    for s in [&a, &b, &a, &b] {
        assert_eq!(tok_seen(s, &wf).await, 1);
    }
    set_tok(&b, "bbb").await;
    for s in [&a, &b, &a, &b] {
        assert_eq!(tok_seen(s, &wf).await, 3);
    }
}
