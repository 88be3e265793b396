//! Replay and dry runs (SPEC §10) through the API: a stored accepted delivery routed again
//! starts new runs marked `replay_of` and leaves the delivery's own runs alone; replays to named
//! workflows; duplicates and rejected deliveries refused; a dry run gives exactly the reasons the
//! delivery recorded and writes nothing; 1,000 deliveries replayed in bulk while webhook requests
//! keep arriving get one run each; retention keeps a delivery an unfinished replay needs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// A workflow on `event` that completes with what it saw of its trigger and of itself.
fn echo_yaml(name: &str, event: &str) -> String {
    format!(
        r#"name: {name}
outputs: [{{name: delivery, type: string}}, {{name: by, type: string}},
  {{name: n, type: integer}}]
triggers: [{{event: {event}}}]
steps:
  - id: done
    type: complete
    outputs:
      delivery: "{{{{ trigger.delivery_id }}}}"
      by: "{{{{ run.started_by }}}}"
      n: "{{{{ trigger.body.n }}}}"
"#
    )
}

/// The webhook `name` with its event `name-in` and, on it, the workflow `workflow` of
/// [`echo_yaml`]; more may be added before it is built.
fn echo_scenario<'a>(s: &'a Server, name: &str, workflow: &str) -> Scenario<'a> {
    let event = format!("{name}-in");
    Scenario::new(s, name)
        .event(&event)
        .workflow(&echo_yaml(workflow, &event))
}

/// Waits until run `id` has finished; returns it (with steps).
async fn finished_run(s: &Server, id: &str) -> Value {
    wait_run_within(s, id, RUN_DEADLINE).await
}

/// `POST /api/v1/deliveries/{id}/replay`.
async fn replay(s: &Server, delivery_id: &str, body: Value) -> Answer {
    s.api_post(&format!("/api/v1/deliveries/{delivery_id}/replay"), body)
        .await
}

/// Every run of the installation (all pages).
async fn all_runs(s: &Server) -> Vec<Value> {
    s.all_pages("/api/v1/runs?limit=500").await
}

/// A delivery's routing without the run ids (a replay's runs are new ones).
fn without_run_ids(routing: &Value) -> Value {
    let mut r = routing.clone();
    for run in r["runs"].as_array_mut().into_iter().flatten() {
        run["id"] = Value::Null;
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_delivery_starts_a_new_run_and_leaves_its_own_alone() {
    let s = Server::start().await;
    let sc = echo_scenario(&s, "again", "again-wf").await;
    let (hook, wf) = (&sc.hook, sc.workflow());
    let delivery_id = sc.send(&s, &json!({"n": 7})).await;
    let original_id = first_run_id(&s, &delivery_id).await;
    let original = finished_run(&s, &original_id).await;
    assert_eq!(original["outputs"]["by"], json!("webhook"), "{original}");
    let before = s.delivery(&delivery_id).await;

    let a = replay(&s, &delivery_id, json!({})).await;
    a.expect_status(201);
    let answer = a.json();
    assert_eq!(
        without_run_ids(&answer["routing"]),
        without_run_ids(&before["routing"]),
        "the replay routes as the delivery did"
    );
    let runs = answer["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1, "{answer}");
    let new_id = runs[0]["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, original_id);
    assert_eq!(answer["routing"]["runs"][0]["id"], json!(new_id));
    assert_eq!(runs[0]["replay_of"], json!(delivery_id));
    assert_eq!(runs[0]["started_by"], json!("replay"));
    assert_eq!(runs[0]["workflow_id"], json!(wf));

    let replayed = finished_run(&s, &new_id).await;
    assert_eq!(replayed["status"], json!("succeeded"), "{replayed}");
    // Its trigger is the original request; run.started_by says it is a replay.
    assert_eq!(
        replayed["outputs"],
        json!({"delivery": delivery_id, "by": "replay", "n": 7})
    );
    assert_eq!(replayed["replay_of"], json!(delivery_id));
    assert_eq!(replayed["trigger"]["kind"], json!("webhook"));
    assert_eq!(replayed["trigger"]["delivery_id"], json!(delivery_id));
    assert_eq!(replayed["trigger"]["body"], json!({"n": 7}));

    // The delivery's own run is untouched, and still its only one; the replay is listed apart.
    let after = s.delivery(&delivery_id).await;
    assert_eq!(after["runs"], before["runs"]);
    assert_eq!(after["routing"], before["routing"]);
    assert_eq!(get_run(&s, &original_id).await, original);
    assert_eq!(after["replays"][0]["id"], json!(new_id), "{after}");
    let by_filter = s
        .api_get(&format!("/api/v1/runs?replay_of={delivery_id}"))
        .await;
    by_filter.expect_status(200);
    let listed: Vec<Value> = by_filter.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(listed, vec![json!(new_id)]);
    let delivery_filter = s
        .api_get(&format!("/api/v1/runs?delivery_id={delivery_id}"))
        .await;
    assert_eq!(
        delivery_filter.json()["items"].as_array().map(Vec::len),
        Some(1)
    );

    // Refusals: unknown delivery, unknown workflow, a body that is not a replay request.
    replay(&s, &unknown_id_like(&delivery_id), json!({}))
        .await
        .expect_problem(404);
    replay(
        &s,
        &delivery_id,
        json!({"workflows": ["again-wf", "nope-wf"]}),
    )
    .await
    .expect_problem_saying(422, "nope-wf");
    replay(&s, &delivery_id, json!({"workflow": "again-wf"}))
        .await
        .expect_problem(400);
    // A rejected delivery is not replayed.
    let wrong = s
        .post_hook_with_key(hook, "not-the-key", "application/json", b"{\"n\": 1}")
        .await;
    let rejected = s
        .expect_rejection_recorded(hook["id"].as_str().unwrap(), &wrong)
        .await;
    replay(&s, rejected["id"].as_str().unwrap(), json!({}))
        .await
        .expect_problem_saying(409, "rejected");
    assert_eq!(
        runs_of(&s, wf).await.len(),
        2,
        "one original run, one replay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_to_a_named_workflow_starts_only_that_one() {
    let s = Server::start().await;
    let sc = echo_scenario(&s, "fan", "fan-a")
        .workflow(&echo_yaml("fan-b", "fan-in"))
        .await;
    let (a, b) = (&sc.workflows[0], &sc.workflows[1]);
    let delivery_id = sc.send(&s, &json!({"n": 1})).await;
    eventually(RUN_DEADLINE, || async {
        let d = s.delivery(&delivery_id).await;
        match d["runs"].as_array().map(Vec::len) {
            Some(2) => Ok(()),
            _ => Err(format!("the delivery has not started both runs: {d}")),
        }
    })
    .await;

    let r = replay(&s, &delivery_id, json!({"workflows": ["fan-b"]})).await;
    r.expect_status(201);
    let answer = r.json();
    let runs = answer["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{answer}");
    assert_eq!(runs[0]["workflow_id"], json!(b));
    let skipped = &answer["routing"]["not_started"];
    assert_eq!(
        skipped,
        &json!([{"workflow_id": a, "workflow": "fan-a", "event": "fan-in",
                 "reason": "the replay names other workflows"}])
    );
    finished_run(&s, runs[0]["id"].as_str().unwrap()).await;
    assert_eq!(
        runs_of(&s, a).await.len(),
        1,
        "fan-a: its original run only"
    );
    assert_eq!(runs_of(&s, b).await.len(), 2, "fan-b: original and replay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_is_never_replayed() {
    let s = Server::start().await;
    let sc = Scenario::new(&s, "twice")
        .webhook(json!({
            "dedup": {"key": "trigger.headers['x-event-id']", "window_seconds": 3600},
        }))
        .event("twice-in")
        .workflow(&echo_yaml("twice-wf", "twice-in"))
        .await;
    let (hook, wf) = (&sc.hook, sc.workflow());
    let from = chrono::Utc::now() - chrono::Duration::seconds(1);
    let first = send(&s, hook, &json!({"n": 1}), &[("X-Event-Id", "e-1")]).await;
    let second = send(&s, hook, &json!({"n": 1}), &[("X-Event-Id", "e-1")]).await;
    let dup = s.delivery(&second).await;
    assert_eq!(dup["status"], json!("duplicate"), "{dup}");
    assert_eq!(dup["duplicate_of"], json!(first));

    replay(&s, &second, json!({}))
        .await
        .expect_problem_saying(409, "duplicate");
    replay(&s, &second, json!({"dry_run": true}))
        .await
        .expect_problem(409);
    // A bulk replay over both replays the accepted one only.
    let to = chrono::Utc::now() + chrono::Duration::seconds(1);
    let bulk = s
        .api_post(
            &format!("/api/v1/webhooks/{}/replay", hook["id"].as_str().unwrap()),
            json!({"from": from.to_rfc3339(), "to": to.to_rfc3339()}),
        )
        .await;
    bulk.expect_status(201);
    assert_eq!(
        bulk.json(),
        json!({"deliveries": 1, "runs_started": 1, "workflows": {"twice-wf": 1}, "dry_run": false})
    );
    let runs = runs_of(&s, wf).await;
    assert_eq!(runs.len(), 2, "the original run and one replay: {runs:?}");
    assert!(
        runs.iter().all(|r| r["replay_of"] != json!(second)),
        "{runs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_gives_the_reasons_the_delivery_recorded_and_writes_nothing() {
    let s = Server::start().await;
    let sc = Scenario::new(&s, "dry")
        .filtered_event("dry-off", "trigger.body.n > 100")
        .filtered_event("dry-on", "trigger.body.n == 5")
        .workflow(&echo_yaml("dry-filtered", "dry-off"))
        .workflow(&echo_yaml("dry-match", "dry-on"))
        .workflow(&echo_yaml("dry-disabled", "dry-on"))
        .await;
    let (hook, hook_id) = (&sc.hook, sc.hook_id.as_str());
    let (matching, disabled) = (&sc.workflows[1], &sc.workflows[2]);
    disable_workflow(&s, disabled).await;
    let invalid = create_workflow(
        &s,
        "name: dry-invalid\ntriggers:\n  - event: dry-on\nsteps:\n  - {id: done, type: complete, outputs: {x: \"{{ secrets.nope }}\"}}\n",
    )
    .await;
    assert_eq!(
        invalid["validation"]["status"],
        json!("invalid"),
        "{invalid}"
    );

    let delivery_id = send(&s, hook, &json!({"n": 5}), &[("X-Kind", "dry")]).await;
    let d = s.delivery(&delivery_id).await;
    let original_id = d["routing"]["runs"][0]["id"].as_str().unwrap().to_string();
    let original = finished_run(&s, &original_id).await;
    let runs_before = all_runs(&s).await.len();
    let deliveries_before = s.deliveries(hook_id).await.len();

    let a = replay(&s, &delivery_id, json!({"dry_run": true})).await;
    a.expect_status(200);
    let dry = a.json();
    assert_eq!(dry["dry_run"], json!(true));
    // Exactly the delivery's own reasons: each event matched or not and why, each workflow not
    // started and why (filter false, disabled, invalid), the one that would start.
    assert_eq!(dry["routing"]["events"], d["routing"]["events"]);
    assert_eq!(dry["routing"]["not_started"], d["routing"]["not_started"]);
    assert_eq!(
        dry["routing"]["not_started"].as_array().map(Vec::len),
        Some(3),
        "{}",
        d["routing"]
    );
    assert_eq!(dry["routing"], without_run_ids(&d["routing"]));
    let would = dry["runs"].as_array().unwrap();
    assert_eq!(would.len(), 1, "{dry}");
    assert_eq!(would[0]["workflow"], json!("dry-match"));
    assert_eq!(would[0]["workflow_id"], json!(matching));
    // The trigger variables it would see are those the delivery's own run saw.
    let seen = &original["trigger"];
    for key in [
        "body",
        "headers",
        "request_headers",
        "query",
        "raw_body",
        "content_type",
        "webhook",
        "event",
        "delivery_id",
        "received_at",
    ] {
        assert_eq!(would[0]["trigger"][key], seen[key], "trigger.{key}");
    }
    assert_eq!(would[0]["trigger"]["headers"]["x-kind"], json!("dry"));

    // A bulk dry run counts the same, and starts nothing either.
    let bulk = s
        .api_post(
            &format!("/api/v1/webhooks/{hook_id}/replay"),
            json!({"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z", "dry_run": true}),
        )
        .await;
    bulk.expect_status(200);
    assert_eq!(
        bulk.json(),
        json!({"deliveries": 1, "runs_started": 1, "workflows": {"dry-match": 1}, "dry_run": true})
    );
    assert_eq!(all_runs(&s).await.len(), runs_before, "no run appeared");
    assert_eq!(
        s.deliveries(hook_id).await.len(),
        deliveries_before,
        "no delivery appeared"
    );
    assert_eq!(s.delivery(&delivery_id).await["replays"], json!([]));

    // Input errors of the bulk call.
    let path = format!("/api/v1/webhooks/{hook_id}/replay");
    s.api_post(
        &path,
        json!({"from": "yesterday", "to": "2100-01-01T00:00:00Z"}),
    )
    .await
    .expect_problem(400);
    s.api_post(
        &path,
        json!({"from": "2100-01-01T00:00:00Z", "to": "2000-01-01T00:00:00Z"}),
    )
    .await
    .expect_problem(400);
    s.api_post(&path, json!({"from": "2000-01-01T00:00:00Z"}))
        .await
        .expect_problem(400);
    s.api_post(
        &format!("/api/v1/webhooks/{}/replay", unknown_id_like(hook_id)),
        json!({"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}),
    )
    .await
    .expect_problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_deliveries_replayed_while_webhooks_keep_arriving() {
    const N: usize = 1000;
    let s = Server::start().await;
    let sc = echo_scenario(&s, "bulk", "bulk-wf").await;
    let (hook, hook_id, wf) = (&sc.hook, sc.hook_id.clone(), sc.workflow());
    let from = chrono::Utc::now() - chrono::Duration::seconds(1);
    let ids = send_numbered(&s, hook, N, 25).await;
    // Every delivery received before `to`; the requests sent during the replay come after it.
    let to = chrono::Utc::now() + chrono::Duration::milliseconds(5);
    // `to` must have passed before the first request sent during the replay is received.
    tokio::time::sleep(Duration::from_millis(10)).await;

    let replaying = {
        let (client, url, token) = (
            s.client.clone(),
            s.url(&format!("/api/v1/webhooks/{hook_id}/replay")),
            s.token.clone(),
        );
        let body = json!({"from": from.to_rfc3339(), "to": to.to_rfc3339()});
        tokio::spawn(async move {
            let started = Instant::now();
            let a = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("replay");
            (Answer::from_response(a).await, started.elapsed())
        })
    };
    // Webhook requests keep arriving, one after another, until the replay has answered.
    let mut during: Vec<(u16, Duration)> = Vec::new();
    while !replaying.is_finished() {
        let started = Instant::now();
        let a = s
            .client
            .post(s.hook_url(hook))
            .header("content-type", "application/json")
            .body(json!({"n": -1}).to_string())
            .send()
            .await
            .expect("send during replay");
        during.push((a.status().as_u16(), started.elapsed()));
    }
    let (answer, took) = replaying.await.unwrap();
    answer.expect_status(201);
    assert_eq!(
        answer.json(),
        json!({"deliveries": N, "runs_started": N, "workflows": {"bulk-wf": N}, "dry_run": false})
    );
    assert!(!during.is_empty(), "no request was sent during the replay");
    assert!(
        during.iter().all(|(code, _)| *code == 202),
        "ingest answered other than 202 during the replay: {:?}",
        during.iter().filter(|(c, _)| *c != 202).collect::<Vec<_>>()
    );
    let mut lat: Vec<Duration> = during.iter().map(|(_, d)| *d).collect();
    lat.sort();
    eprintln!(
        "bulk replay of {N} deliveries took {took:?}; {} webhook requests meanwhile, \
         p50 {:?}, max {:?} ({})",
        lat.len(),
        lat[lat.len() / 2],
        lat[lat.len() - 1],
        backend_name()
    );

    // Exactly one new run per replayed delivery, none for anything else.
    let runs = s
        .all_pages(&format!("/api/v1/runs?workflow_id={wf}&limit=500"))
        .await;
    let mut per_delivery: HashMap<String, usize> = HashMap::new();
    for r in &runs {
        if let Some(of) = r["replay_of"].as_str() {
            assert_eq!(r["started_by"], json!("replay"), "{r}");
            *per_delivery.entry(of.to_string()).or_default() += 1;
        }
    }
    assert_eq!(per_delivery.len(), N, "replayed deliveries");
    for id in &ids {
        assert_eq!(per_delivery.get(id), Some(&1), "runs replaying {id}");
    }
}

/// Retention (`--retain-days`) keeps an old delivery while a replay of it has not finished, even
/// once the delivery's own runs are gone; an old delivery nothing needs is pruned meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_delivery_an_unfinished_replay_needs() {
    let mut s = Server::start_with(&["--retain-days", "0"]).await;
    let sc = echo_scenario(&s, "keep", "keep-quick").await;
    let (hook, quick) = (&sc.hook, sc.workflow());
    let replayed = send(&s, hook, &json!({"n": 1}), &[]).await;
    let pruned = send(&s, hook, &json!({"n": 2}), &[]).await;
    eventually(RUN_DEADLINE, || async {
        let runs = runs_of(&s, quick).await;
        check(
            runs.len() == 2 && runs.iter().all(|r| r["status"] == json!("succeeded")),
            || format!("{} runs, not all succeeded", runs.len()),
        )
    })
    .await;
    // A workflow saved after the delivery arrived; its replay run sleeps.
    valid_workflow(
        &s,
        "name: keep-sleeper\ntriggers:\n  - event: keep-in\nsteps:\n  - {id: nap, type: sleep, duration: 1h}\n",
    )
    .await;
    let a = replay(&s, &replayed, json!({"workflows": ["keep-sleeper"]})).await;
    a.expect_status(201);
    let sleeper = a.json()["runs"][0]["id"].as_str().unwrap().to_string();
    crate::versions::until_sleeping(&s, &sleeper).await;

    crate::retention::TestDb::of(&s).await.backdate(10).await;
    s.set_args(&["--retain-days", "5"]);
    s.restart().await;
    eventually(RUN_DEADLINE, || async {
        match s
            .api_get(&format!("/api/v1/deliveries/{pruned}"))
            .await
            .status
        {
            404 => Ok(()),
            other => Err(format!("the unneeded old delivery answers {other}")),
        }
    })
    .await;
    let d = s.delivery(&replayed).await;
    assert_eq!(d["runs"], json!([]), "its own finished run was pruned: {d}");
    assert_eq!(d["replays"][0]["id"], json!(sleeper), "{d}");
    assert_eq!(get_run(&s, &sleeper).await["status"], json!("running"));
}

/// Sends `{"n": 0}` … `{"n": count - 1}` to `hook`, `at_once` requests at a time, each answered
/// 202; answers the delivery ids in order of `n`.
async fn send_numbered(s: &Server, hook: &Value, count: usize, at_once: usize) -> Vec<String> {
    let url = s.hook_url(hook);
    let mut ids = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(at_once) {
        let sends: Vec<_> = chunk
            .iter()
            .map(|&n| {
                let (client, url) = (s.client.clone(), url.clone());
                tokio::spawn(async move {
                    let a = client
                        .post(url)
                        .header("content-type", "application/json")
                        .body(json!({"n": n}).to_string())
                        .send()
                        .await
                        .expect("send");
                    let a = Answer::from_response(a).await;
                    a.expect_status(202);
                    a.header("x-delivery-id").unwrap().to_string()
                })
            })
            .collect();
        for h in sends {
            ids.push(h.await.unwrap());
        }
    }
    ids
}

/// A bulk replay takes at most 10,000 deliveries per call (SPEC §10): a range holding 10,001 is
/// refused with 422 saying how many it holds, as a dry run too, and starts nothing.
#[tokio::test]
async fn a_range_of_more_than_ten_thousand_deliveries_is_refused() {
    const N: usize = 10_001;
    let s = Server::start().await;
    let sc = echo_scenario(&s, "over", "over-wf").await;
    let (hook, hook_id) = (&sc.hook, sc.hook_id.clone());
    let from = chrono::Utc::now() - chrono::Duration::seconds(1);
    send_numbered(&s, hook, N, 100).await;
    let to = chrono::Utc::now() + chrono::Duration::seconds(1);
    let path = format!("/api/v1/webhooks/{hook_id}/replay");
    for dry_run in [false, true] {
        let body = json!({"from": from.to_rfc3339(), "to": to.to_rfc3339(), "dry_run": dry_run});
        let p = s.api_post(&path, body).await.expect_problem(422);
        let detail = p["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("10001") && detail.contains("10000"), "{p}");
    }
    let replays: Vec<Value> = all_runs(&s)
        .await
        .into_iter()
        .filter(|r| !r["replay_of"].is_null())
        .collect();
    assert!(replays.is_empty(), "nothing replayed: {replays:?}");
}
