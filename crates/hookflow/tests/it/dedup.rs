//! SPEC §9 "Duplicates": a webhook's `dedup` {key, window_seconds}. A request whose key equals
//! that of a request accepted by the same webhook within the window is answered 202 with
//! `X-Duplicate-Of`, recorded as `duplicate`, and starts no run — exactly, under concurrency and
//! across two nodes on PostgreSQL. After the window the key is accepted again; a request without
//! a key is processed normally; duplicates count against the rate limits; the API refuses a bad
//! key or window at save.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

const RUNS_DEADLINE: Duration = Duration::from_secs(30);

/// A webhook with no rate limits and `dedup`, an event on it and a workflow on the event;
/// returns the webhook and the workflow's id.
/// A [`deduplicating_hook`] whose key is `trigger.body.id`, for `window_seconds`.
async fn id_keyed_hook(s: &Server, name: &str, window_seconds: u64) -> (Value, String) {
    let dedup = json!({"key": "trigger.body.id", "window_seconds": window_seconds});
    deduplicating_hook(s, name, dedup).await
}

async fn deduplicating_hook(s: &Server, name: &str, dedup: Value) -> (Value, String) {
    let hook = s
        .create_webhook_from(json!({
            "name": name, "content_type": "application/json",
            "rate_limit_per_minute": 0, "rate_limit_per_day": 0, "dedup": dedup,
        }))
        .await;
    assert_eq!(hook["dedup"]["key"], dedup["key"], "{hook}");
    create_event(
        s,
        json!({"name": format!("{name}-in"), "webhook_id": hook["id"]}),
    )
    .await;
    let wf = valid_workflow(
        s,
        &format!(
            "name: {name}-wf\ntriggers:\n  - event: {name}-in\nsteps:\n  - {{id: done, type: complete}}\n"
        ),
    )
    .await;
    (hook, wf)
}

/// POSTs `body` with `headers` to `url` (the Webhook URL of any node).
pub(crate) async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = client
        .post(url)
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .body(body.to_string());
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    Answer::from_response(req.send().await.expect("POST webhook")).await
}

/// POSTs `{"id": id}` to the webhook.
async fn post_id(s: &Server, hook: &Value, id: Value) -> Answer {
    post(&s.client, &s.hook_url(hook), &json!({ "id": id }), &[]).await
}

/// Sends 20 requests with the same key at once, spread over `urls`, and checks: all 202, exactly
/// one accepted, 19 duplicates naming it (header and record), one run.
async fn twenty_at_once(s: &Server, hook: &Value, wf: &str, urls: &[String]) {
    let client = s.client.clone();
    let sends = (0..20).map(|i| {
        let (client, url) = (client.clone(), urls[i % urls.len()].clone());
        tokio::spawn(async move {
            post(&client, &url, &json!({"n": i}), &[("X-Event-Id", "evt-42")]).await
        })
    });
    let answers: Vec<Answer> = futures_join(sends).await;
    let mut accepted = Vec::new();
    let mut duplicates = Vec::new();
    for a in &answers {
        let id = a.accepted_id();
        match a.header("x-duplicate-of") {
            None => accepted.push(id),
            Some(of) => duplicates.push((id, of.to_string())),
        }
    }
    assert_eq!(
        accepted.len(),
        1,
        "exactly one accepted: {accepted:?} {duplicates:?}"
    );
    assert_eq!(duplicates.len(), 19);
    let first = &accepted[0];
    assert!(
        duplicates.iter().all(|(_, of)| of == first),
        "every duplicate names {first}: {duplicates:?}"
    );

    let hook_id = hook["id"].as_str().unwrap();
    let all = s.deliveries(hook_id).await;
    assert_eq!(all.len(), 20);
    let dups: Vec<&Value> = all.iter().filter(|d| d["status"] == "duplicate").collect();
    assert_eq!(dups.len(), 19, "{all:?}");
    for d in &dups {
        assert_eq!(d["duplicate_of"], json!(first), "{d}");
        assert_eq!(d["http_status"], json!(202), "{d}");
    }
    let listed = s
        .all_pages(&format!(
            "/api/v1/webhooks/{hook_id}/deliveries?status=duplicate&limit=500"
        ))
        .await;
    assert_eq!(
        listed
            .iter()
            .map(|d| d["id"].clone())
            .collect::<HashSet<_>>(),
        dups.iter().map(|d| d["id"].clone()).collect::<HashSet<_>>(),
        "?status=duplicate lists the duplicates"
    );
    let one = s.delivery(first).await;
    assert_eq!(one["status"], json!("accepted"));
    assert!(one["duplicate_of"].is_null());
    let dup = s.delivery(&duplicates[0].0).await;
    assert_eq!(dup["runs"], json!([]), "a duplicate starts no run: {dup}");

    // One run, finished; none more come.
    eventually(RUNS_DEADLINE, || async {
        let runs = runs_of(s, wf).await;
        match runs.as_slice() {
            [r] if is_final(&r["status"]) => Ok(()),
            _ => Err(format!("want one finished run, have {runs:?}")),
        }
    })
    .await;
    assert_eq!(
        runs_of(s, wf).await[0]["trigger"]["delivery_id"],
        json!(first)
    );
}

async fn futures_join(
    handles: impl Iterator<Item = tokio::task::JoinHandle<Answer>>,
) -> Vec<Answer> {
    let handles: Vec<_> = handles.collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("send task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_requests_with_one_key_give_one_run() {
    let s = Server::start().await;
    let (hook, wf) = deduplicating_hook(
        &s,
        "dedup-once",
        json!({"key": "trigger.headers[\"x-event-id\"]", "window_seconds": 3600}),
    )
    .await;
    twenty_at_once(&s, &hook, &wf, &[s.hook_url(&hook)]).await;

    let m = s.metrics().await;
    let labels = |st: &str| {
        format!(
            "webhook=\"{}\",status=\"{st}\"",
            hook["id"].as_str().unwrap()
        )
    };
    assert_eq!(
        metric_value(&m, "hookflow_deliveries_total", &labels("duplicate")),
        19.0,
        "{m}"
    );
    assert_eq!(
        metric_value(&m, "hookflow_deliveries_total", &labels("accepted")),
        1.0,
        "{m}"
    );

    // The UI's delivery list shows them.
    let ui = crate::ui_http::Ui::signed_in(&s).await;
    let page = ui
        .page(&format!("/ui/webhooks/{}", hook["id"].as_str().unwrap()))
        .await;
    assert!(page.contains("badge duplicate"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_requests_over_two_nodes_give_one_run() {
    if test_database_url().is_none() {
        eprintln!("two nodes need PostgreSQL; runs in the TEST_DATABASE_URL pass");
        return;
    }
    let a = Server::start().await;
    let b = a.start_peer(&[]).await;
    let (hook, wf) = deduplicating_hook(
        &a,
        "dedup-nodes",
        json!({"key": "trigger.headers[\"x-event-id\"]"}),
    )
    .await;
    // Node b learns of the webhook from the database on its first request.
    twenty_at_once(&a, &hook, &wf, &[a.hook_url(&hook), b.hook_url(&hook)]).await;
    drop(b);
}

/// The sweeper deletes the keys whose window has passed (`--dedup-sweep-seconds`), counts them
/// in `hookflow_dedup_keys_expired_total`, and leaves the keys still in their window. On
/// PostgreSQL the keys are rows of `dedup_keys`, counted directly; on SQLite they live in the
/// journal writer's own connection, so the count of swept keys and the keys' effect tell.
#[tokio::test]
async fn expired_keys_are_swept_and_live_ones_kept() {
    let s = Server::start_with(&["--dedup-sweep-seconds", "1"]).await;
    let (short, _) = id_keyed_hook(&s, "dedup-sweep-short", 1).await;
    let (long, _) = id_keyed_hook(&s, "dedup-sweep-long", 3600).await;
    for i in 0..3 {
        for hook in [&short, &long] {
            let a = post_id(&s, hook, json!(i)).await;
            assert!(a.duplicate_of().is_none());
        }
    }
    let keys = "SELECT COUNT(*) FROM dedup_keys WHERE webhook_id = $1";
    let short_id = short["id"].as_str().unwrap();
    let long_id = long["id"].as_str().unwrap();
    let on_postgres = backend_name() == "postgres";
    eventually(Duration::from_secs(20), || async {
        let left = if on_postgres {
            s.db_scalar(keys, short_id).await
        } else {
            0
        };
        let swept = metric_value(&s.metrics().await, "hookflow_dedup_keys_expired_total", "");
        check(left == 0 && swept == 3.0, || {
            format!("{left} expired keys left, {swept} counted swept")
        })
    })
    .await;
    if on_postgres {
        assert_eq!(
            s.db_scalar(keys, long_id).await,
            3,
            "keys in their window stay"
        );
    }
    // The kept keys still decide: a repeat on the long window is a duplicate, of the first.
    for i in 0..3 {
        let a = post_id(&s, &long, json!(i)).await;
        assert!(a.header("x-duplicate-of").is_some(), "{}", a.text());
    }
    // And nothing but the three expired keys was swept.
    assert_eq!(
        metric_value(&s.metrics().await, "hookflow_dedup_keys_expired_total", ""),
        3.0
    );
}

/// The keys in their window outlive a crash: after `kill -9` and a restart a repeat is still a
/// duplicate of the delivery that holds its key — also when that delivery took the key over
/// from an earlier one whose window had ended — and other keys are accepted.
#[tokio::test]
async fn keys_in_their_window_outlive_a_crash() {
    let mut s = Server::start().await;
    let (long, _) = id_keyed_hook(&s, "dedup-crash-long", 3600).await;
    let (short, _) = id_keyed_hook(&s, "dedup-crash-short", 10).await;
    let first = post_id(&s, &long, json!("k")).await;
    first.expect_status(202);
    let long_holder = first.header("x-delivery-id").unwrap().to_string();
    // On the short window: a first holder, then (once its window ended) a second one.
    let earlier = post_id(&s, &short, json!("k")).await;
    earlier.expect_status(202);
    let earlier_id = earlier.header("x-delivery-id").unwrap().to_string();
    let short_url = s.hook_url(&short);
    let short_holder = eventually(Duration::from_secs(30), || async {
        let a = post(&s.client, &short_url, &json!({"id": "k"}), &[]).await;
        a.expect_status(202);
        match a.header("x-duplicate-of") {
            None => Ok(a.header("x-delivery-id").unwrap().to_string()),
            Some(_) => Err("still a duplicate".to_string()),
        }
    })
    .await;
    assert_ne!(short_holder, earlier_id);
    if backend_name() == "sqlite" {
        // On SQLite the keys live in the journal writer's connection, rebuilt from the
        // deliveries on start: nothing is written to the database's own key table.
        assert_eq!(
            s.db_scalar("SELECT COUNT(*) FROM dedup_keys WHERE webhook_id <> $1", "")
                .await,
            0
        );
    }
    // The restart must come well within the new holder's 10 s window.
    s.kill9();
    s.restart().await;

    // The later holder's window decides on the short one.
    for (hook, holder) in [(&long, &long_holder), (&short, &short_holder)] {
        let again = post_id(&s, hook, json!("k")).await;
        assert_eq!(
            again.duplicate_of(),
            Some(holder.as_str()),
            "{}",
            again.text()
        );
    }
    let other = post_id(&s, &long, json!("other")).await;
    assert!(other.duplicate_of().is_none());
}

#[tokio::test]
async fn after_the_window_the_key_is_accepted_again() {
    let s = Server::start().await;
    let (hook, wf) = id_keyed_hook(&s, "dedup-window", 2).await;
    let url = s.hook_url(&hook);
    let first = post(&s.client, &url, &json!({"id": "a-1"}), &[]).await;
    first.expect_status(202);
    let first_id = first.header("x-delivery-id").unwrap().to_string();
    assert!(first.header("x-duplicate-of").is_none());
    let again = post(&s.client, &url, &json!({"id": "a-1"}), &[]).await;
    assert_eq!(again.duplicate_of(), Some(first_id.as_str()));

    // Once the window has passed, the same key is accepted and starts a run again.
    let second_id = eventually(Duration::from_secs(15), || async {
        let a = post(&s.client, &url, &json!({"id": "a-1"}), &[]).await;
        a.expect_status(202);
        match a.header("x-duplicate-of") {
            None => Ok(a.header("x-delivery-id").unwrap().to_string()),
            Some(of) => {
                assert_eq!(of, first_id, "within the window it names the first");
                Err("still a duplicate".to_string())
            }
        }
    })
    .await;
    eventually(RUNS_DEADLINE, || async {
        let runs = runs_of(&s, &wf).await;
        let ids: HashSet<&str> = runs
            .iter()
            .filter_map(|r| r["trigger"]["delivery_id"].as_str())
            .collect();
        check(
            ids == HashSet::from([first_id.as_str(), second_id.as_str()]) && runs.len() == 2,
            || format!("want runs of {first_id} and {second_id}: {runs:?}"),
        )
    })
    .await;
    // A repeat of the new acceptance is its duplicate.
    let third = post(&s.client, &url, &json!({"id": "a-1"}), &[]).await;
    assert_eq!(third.header("x-duplicate-of"), Some(second_id.as_str()));
}

#[tokio::test]
async fn a_request_without_a_key_is_processed_normally() {
    let s = Server::start().await;
    let (hook, wf) = deduplicating_hook(&s, "dedup-nokey", json!({"key": "trigger.body.id"})).await;
    let url = s.hook_url(&hook);
    // No id, a null id, an empty id, an empty body: no key, each accepted with its run.
    let mut ids = Vec::new();
    for body in [
        json!({"other": 1}),
        json!({"id": null}),
        json!({"id": ""}),
        json!({"other": 1}),
    ] {
        let a = post(&s.client, &url, &body, &[]).await;
        assert!(a.duplicate_of().is_none(), "{body}");
        ids.push(a.header("x-delivery-id").unwrap().to_string());
    }
    let a = s
        .client
        .post(&url)
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    let a = Answer::from_response(a).await;
    assert!(a.duplicate_of().is_none());
    eventually(RUNS_DEADLINE, || async {
        let n = runs_of(&s, &wf).await.len();
        check(n == 5, || format!("{n} runs of 5"))
    })
    .await;
    for d in s.deliveries(hook["id"].as_str().unwrap()).await {
        assert_eq!(d["status"], json!("accepted"), "{d}");
    }
}

#[tokio::test]
async fn presets_rate_limits_and_saving() {
    let s = Server::start().await;
    // The github preset reads X-GitHub-Delivery; duplicates count against the rate limits.
    let hook = s
        .create_webhook_from(json!({"name": "gh", "content_type": "application/json",
                   "rate_limit_per_minute": 0, "rate_limit_per_day": 2,
                   "dedup": {"key": "github"}}))
        .await;
    assert_eq!(
        hook["dedup"],
        json!({"key": "github", "window_seconds": 86400})
    );
    let url = s.hook_url(&hook);
    let gh = [("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")];
    let first = post(&s.client, &url, &json!({}), &gh).await;
    assert!(first.duplicate_of().is_none());
    let dup = post(&s.client, &url, &json!({}), &gh).await;
    assert_eq!(dup.duplicate_of(), first.header("x-delivery-id"));
    let limited = post(
        &s.client,
        &url,
        &json!({}),
        &[("X-GitHub-Delivery", "other")],
    )
    .await;
    limited.expect_problem(429);

    // Bad keys and windows are refused at save, with what is wrong.
    let id = hook["id"].as_str().unwrap();
    for (dedup, says) in [
        (json!({"key": "trigger.body.id +"}), "does not compile"),
        (
            json!({"key": "secrets.token"}),
            "may only read trigger variables",
        ),
        (json!({"key": "githubb"}), "preset"),
        (json!({"key": "  "}), "1 to 1000 characters"),
        (
            json!({"key": "github", "window_seconds": 0}),
            "window_seconds",
        ),
        (
            json!({"key": "github", "window_seconds": 2_592_001}),
            "30 days",
        ),
    ] {
        let a = s
            .api_patch(&format!("/api/v1/webhooks/{id}"), json!({"dedup": dedup}))
            .await;
        a.expect_problem_saying(400, says);
    }
    let a = s
        .post_webhook(
            json!({"name": "bad", "content_type": "application/json", "dedup": {"key": "("}}),
        )
        .await;
    a.expect_problem(400);

    // PATCH changes it and `null` removes it.
    let dedup = json!({"dedup": {"key": "stripe", "window_seconds": 2_592_000}});
    let a = s.patch_webhook(id, dedup).await;
    a.expect_status(200);
    assert_eq!(
        a.json()["dedup"],
        json!({"key": "stripe", "window_seconds": 2_592_000})
    );
    let a = s.patch_webhook(id, json!({"name": "gh2"})).await;
    assert_eq!(
        a.json()["dedup"]["key"],
        json!("stripe"),
        "absent: unchanged"
    );
    let a = s.patch_webhook(id, json!({"dedup": null})).await;
    a.expect_status(200);
    assert!(a.json()["dedup"].is_null());
    assert!(s.webhook(id).await["dedup"].is_null());
}

/// In log_only mode a request whose signature fails is accepted, but it takes no part in
/// duplicate detection: a forged request sent first with a genuine delivery id does not make
/// the genuine request a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_failing_verification_claims_no_key() {
    use crate::verification::{hex, mac};
    let s = Server::start().await;
    let (hook, wf) = deduplicating_hook(&s, "signed-dedup", json!({"key": "github"})).await;
    let log_only = json!({"scheme": "github", "secret": "gh-secret", "mode": "log_only"});
    s.patch_webhook(
        hook["id"].as_str().unwrap(),
        json!({ "verification": log_only }),
    )
    .await
    .expect_status(200);
    let url = s.hook_url(&hook);
    let body = json!({"action": "opened"});
    let good = format!(
        "sha256={}",
        hex(&mac("sha256", b"gh-secret", body.to_string().as_bytes()))
    );
    let id = ("X-GitHub-Delivery", "b3f1c0de-0000-4000-8000-000000000001");
    let (client, url, body) = (&s.client, &url, &body);
    let signed = |sig: String| async move {
        post(client, url, body, &[id, ("X-Hub-Signature-256", &sig)]).await
    };
    let forged = signed("sha256=00".into()).await;
    assert!(forged.duplicate_of().is_none());
    let genuine = signed(good.clone()).await;
    assert!(
        genuine.duplicate_of().is_none(),
        "the forged request must not hold the key"
    );
    let repeat = signed(good).await;
    assert_eq!(
        repeat.duplicate_of(),
        genuine.header("x-delivery-id"),
        "the genuine request holds it"
    );
    let d = s.delivery(forged.header("x-delivery-id").unwrap()).await;
    assert_eq!(d["verification"]["verdict"], "invalid", "{d}");
    assert_eq!(d["status"], "accepted", "{d}");
    // the forged (log_only) and the genuine request each started a run; the repeat none
    eventually(RUNS_DEADLINE, || async {
        match runs_of(&s, &wf).await.len() {
            2 => Ok(()),
            n => Err(format!("{n} runs")),
        }
    })
    .await;
}

/// `hookflow_dedup_keys{place}` as a number (0 when absent).
fn keys_held(metrics: &str, place: &str) -> f64 {
    metric_value(
        metrics,
        "hookflow_dedup_keys",
        &format!("place=\"{place}\""),
    )
}

/// Past `--dedup-memory-keys` (SQLite) the keys go to the `dedup_keys` table and decide the
/// same: with a bound of 2, six keys are accepted and every repeat — one at a time, three at
/// once, after `kill -9` and a restart — is a duplicate of its first delivery, while memory holds
/// 2 keys; the sweeper removes the table's keys once their window ends. On PostgreSQL (every key
/// in the table) the same requests get the same answers.
#[tokio::test]
async fn keys_past_the_memory_bound_decide_the_same() {
    let mut s =
        Server::start_with(&["--dedup-memory-keys", "2", "--dedup-sweep-seconds", "1"]).await;
    let on_sqlite = backend_name() == "sqlite";
    let (hook, _) = id_keyed_hook(&s, "dedup-bound", 3600).await;
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let mut firsts = Vec::new();
    for i in 0..6 {
        let a = post_id(&s, &hook, json!(format!("k{i}"))).await;
        assert!(a.duplicate_of().is_none(), "{}", a.text());
        firsts.push(a.header("x-delivery-id").unwrap().to_string());
    }
    let in_table = "SELECT COUNT(*) FROM dedup_keys WHERE webhook_id = $1";
    if on_sqlite {
        let m = s.metrics().await;
        assert_eq!(keys_held(&m, "memory"), 2.0);
        assert_eq!(keys_held(&m, "disk"), 4.0);
        assert_eq!(s.db_scalar(in_table, &hook_id).await, 4);
    }
    let repeats_name_their_first = |s: &Server| {
        let (client, url, firsts) = (s.client.clone(), s.hook_url(&hook), firsts.clone());
        async move {
            let sends = (0..18).map(|n| {
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move {
                    post(&client, &url, &json!({"id": format!("k{}", n % 6)}), &[]).await
                })
            });
            for (n, a) in futures_join(sends).await.iter().enumerate() {
                assert_eq!(
                    a.duplicate_of(),
                    Some(firsts[n % 6].as_str()),
                    "{}",
                    a.text()
                );
            }
        }
    };
    for (i, first) in firsts.iter().enumerate() {
        let again = post_id(&s, &hook, json!(format!("k{i}"))).await;
        assert_eq!(
            again.duplicate_of(),
            Some(first.as_str()),
            "{}",
            again.text()
        );
    }
    repeats_name_their_first(&s).await;

    s.kill9();
    s.restart().await;
    if on_sqlite {
        let m = s.metrics().await;
        assert_eq!(keys_held(&m, "memory"), 2.0, "rebuilt within the bound");
        assert_eq!(keys_held(&m, "disk"), 4.0);
    }
    repeats_name_their_first(&s).await;
    let new = post_id(&s, &hook, json!("k-new")).await;
    assert!(new.duplicate_of().is_none(), "{}", new.text());
    if on_sqlite {
        let m = s.metrics().await;
        assert_eq!(
            keys_held(&m, "memory"),
            2.0,
            "the bound holds after a restart"
        );
        assert_eq!(keys_held(&m, "disk"), 5.0);
    }

    // Keys past the bound whose window ends are swept from the table; the others stay.
    let (short, _) = id_keyed_hook(&s, "dedup-bound-short", 1).await;
    for i in 0..3 {
        let a = post_id(&s, &short, json!(i)).await;
        assert!(a.duplicate_of().is_none(), "{}", a.text());
    }
    let short_id = short["id"].as_str().unwrap().to_string();
    eventually(Duration::from_secs(20), || async {
        let left = s.db_scalar(in_table, &short_id).await;
        let swept = metric_value(&s.metrics().await, "hookflow_dedup_keys_expired_total", "");
        check(left == 0 && swept == 3.0, || {
            format!("{left} ended keys left, {swept} counted swept")
        })
    })
    .await;
    assert_eq!(
        s.db_scalar(in_table, &hook_id).await,
        if on_sqlite { 5 } else { 7 }
    );
    if on_sqlite {
        assert_eq!(keys_held(&s.metrics().await, "disk"), 5.0);
    }
    repeats_name_their_first(&s).await;

    // A deleted webhook's keys leave the table with it, and the count of the table's keys
    // follows once the sweeper has walked the keys (another webhook's keys keep it non-empty).
    let (other, _) = id_keyed_hook(&s, "dedup-bound-other", 3600).await;
    for i in 0..2 {
        let a = post_id(&s, &other, json!(i)).await;
        assert!(a.duplicate_of().is_none(), "{}", a.text());
    }
    let gone = s.api_delete(&format!("/api/v1/webhooks/{hook_id}")).await;
    assert_eq!(gone.status, 204, "{}", gone.text());
    assert_eq!(s.db_scalar(in_table, &hook_id).await, 0);
    let other_id = other["id"].as_str().unwrap().to_string();
    let others = s.db_scalar(in_table, &other_id).await;
    assert_eq!(others, 2);
    if on_sqlite {
        eventually(Duration::from_secs(20), || async {
            let disk = keys_held(&s.metrics().await, "disk");
            check(disk == 2.0, || {
                format!("{disk} keys counted in the table, 2 there")
            })
        })
        .await;
    }
}
