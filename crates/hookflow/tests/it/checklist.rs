//! "Why is nothing running?" (SPEC §9): `GET /api/v1/webhooks/{id}/checklist` and the Checklist
//! panel of the webhook's page, for a webhook with no event, an event without a workflow, an
//! invalid workflow, a disabled workflow, a disabled trigger, refused requests, a reached rate
//! limit, and a healthy chain — each from the data the server recorded.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;
use crate::ui_http::Ui;

const JSON: &str = "application/json";

/// The checklist's items.
async fn checklist(s: &Server, hook: &Value) -> Vec<Value> {
    let a = s
        .api_get(&format!(
            "/api/v1/webhooks/{}/checklist",
            hook["id"].as_str().unwrap()
        ))
        .await;
    a.expect_status(200);
    let body = a.json();
    assert_eq!(body["webhook_id"], hook["id"]);
    body["items"].as_array().cloned().expect("items")
}

/// The item `check` (about `workflow`, when given).
fn item<'a>(items: &'a [Value], check: &str, workflow: Option<&str>) -> &'a Value {
    items
        .iter()
        .find(|i| i["check"] == check && workflow.is_none_or(|w| i["workflow"] == w))
        .unwrap_or_else(|| panic!("no {check} item ({workflow:?}) in {items:#?}"))
}

fn detail(i: &Value) -> &str {
    i["detail"].as_str().unwrap_or_default()
}

/// Asserts that the item's detail says each of `parts`; returns the detail.
#[track_caller]
fn detail_says<'a>(i: &'a Value, parts: &[&str]) -> &'a str {
    let d = detail(i);
    for part in parts {
        assert!(d.contains(part), "{part:?} not in {d:?}");
    }
    d
}

fn checks(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| i["check"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_with_no_event_and_refused_requests() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("lonely", JSON).await;
    let hook_id = hook["id"].as_str().unwrap();

    let items = checklist(&s, &hook).await;
    assert_eq!(
        checks(&items),
        [
            "requests_arrive",
            "rejections",
            "verification",
            "rate_limits",
            "event_bound"
        ],
        "{items:#?}"
    );
    let arrive = item(&items, "requests_arrive", None);
    assert_eq!(arrive["ok"], false);
    assert!(
        detail(arrive).contains("nothing has arrived yet"),
        "{arrive}"
    );
    assert_eq!(item(&items, "rejections", None)["ok"], true);
    let rate = item(&items, "rate_limits", None);
    assert_eq!(rate["ok"], true);
    assert!(detail(rate).contains("no limit"), "{rate}");
    let bound = item(&items, "event_bound", None);
    assert_eq!(bound["ok"], false);
    assert_eq!(
        bound["link"],
        json!(format!("/ui/events/new?webhook_id={hook_id}"))
    );

    // Two wrong keys and a GET: refused, counted by kind, commonest first.
    for _ in 0..2 {
        let a = s
            .client
            .post(s.hook_url_with_key(&hook, "wrong"))
            .header("content-type", JSON)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), 401);
    }
    let got = s.client.get(s.hook_url(&hook)).send().await.unwrap();
    assert_eq!(got.status(), 405);
    // Refusals are recorded without waiting for the disk: poll until all three are, in both
    // the counts and the last refusal (read by separate queries, so one answer may see the 405
    // in one and not yet in the other).
    let items = eventually(Duration::from_secs(10), || async {
        let items = checklist(&s, &hook).await;
        let d = detail(item(&items, "rejections", None)).to_string();
        let last = detail(item(&items, "requests_arrive", None)).to_string();
        if d.contains("2 × 401") && d.contains("1 × 405") && last.contains("405") {
            Ok(items)
        } else {
            Err(format!("{d} / {last}"))
        }
    })
    .await;
    let rej = item(&items, "rejections", None);
    assert_eq!(rej["ok"], false);
    let d = detail(rej);
    assert!(
        d.find("2 × 401") < d.find("1 × 405"),
        "commonest first: {d}"
    );
    assert!(d.contains("wrong API key"), "{d}");
    assert!(
        rej["link"].as_str().unwrap().starts_with("/ui/deliveries/"),
        "{rej}"
    );
    let arrive = item(&items, "requests_arrive", None);
    assert_eq!(arrive["ok"], false);
    assert!(detail(arrive).contains("refused"), "{arrive}");
    assert!(detail(arrive).contains("405"), "the last refusal: {arrive}");

    // Accepted, but nothing listens: the last request started no run.
    let delivery = send(&s, &hook, &json!({"n": 1}), &[]).await;
    let items = checklist(&s, &hook).await;
    let arrive = item(&items, "requests_arrive", None);
    assert_eq!(arrive["ok"], true);
    assert!(detail(arrive).contains(&delivery), "{arrive}");
    let last = item(&items, "last_request_started_runs", None);
    assert_eq!(last["ok"], false);
    assert!(detail(last).contains("started 0 runs"), "{last}");
    assert_eq!(last["link"], json!(format!("/ui/deliveries/{delivery}")));

    // The webhook's page shows the same checklist, with links to fix what fails.
    let ui = Ui::signed_in(&s).await;
    let page = ui.page(&format!("/ui/webhooks/{hook_id}")).await;
    let panel = crate::ui_http::element(&page, "checklist", "section");
    assert!(panel.contains("<h2>Checklist</h2>"), "{panel}");
    assert!(panel.contains("no event uses this webhook"), "{panel}");
    // (minijinja writes `/` in attributes as `&#x2f;`)
    let fix = format!("/ui/events/new?webhook_id={hook_id}").replace('/', "&#x2f;");
    assert!(
        panel.contains(&format!("href=\"{fix}\">Fix</a>")),
        "{panel}"
    );
    assert!(panel.contains("data-check=\"rejections\""), "{panel}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_link_of_the_chain_is_checked() {
    let s = Server::start().await;
    let sc = Scenario::new(&s, "chain").event("chain-ops").await;
    let (hook, hook_id) = (&sc.hook, sc.hook_id.as_str());
    create_event(
        &s,
        json!({"name": "chain-idle", "webhook_id": hook_id, "filter": "trigger.body.alert == 2"}),
    )
    .await;

    let healthy = valid_workflow(
        &s,
        "name: healthy\ntriggers:\n  - event: chain-ops\nsteps:\n  - id: done\n    type: complete\n",
    )
    .await;
    // Invalid: reads a secret that does not exist.
    let invalid = create_workflow(
        &s,
        "name: broken\noutputs:\n  - {name: t, type: string}\ntriggers:\n  - event: chain-ops\n\
         steps:\n  - id: done\n    type: complete\n    outputs: {t: \"{{ secrets.nope }}\"}\n",
    )
    .await;
    assert_eq!(invalid["validation"]["status"], "invalid");
    let off = valid_workflow(
        &s,
        "name: switched-off\ntriggers:\n  - event: chain-ops\nsteps:\n  - id: done\n    type: complete\n",
    )
    .await;
    disable_workflow(&s, &off).await;
    valid_workflow(
        &s,
        "name: quiet\ntriggers:\n  - event: chain-ops\n    disabled: true\nsteps:\n  - id: done\n    type: complete\n",
    )
    .await;

    let delivery = send(&s, hook, &json!({"alert": 1}), &[]).await;
    eventually(Duration::from_secs(20), || async {
        match runs_of(&s, &healthy).await.first() {
            Some(r) if r["status"] == "succeeded" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    let items = checklist(&s, hook).await;
    assert_eq!(item(&items, "requests_arrive", None)["ok"], true);
    let bound = item(&items, "event_bound", None);
    assert_eq!(bound["ok"], true);
    assert!(detail(bound).contains("2 events"), "{bound}");
    // An event that triggers nothing.
    let idle = items
        .iter()
        .find(|i| i["check"] == "event_triggers_workflow" && i["event"] == "chain-idle")
        .expect("chain-idle item");
    assert_eq!(idle["ok"], false, "{idle}");
    assert!(detail(idle).contains("triggers no workflow"), "{idle}");
    assert!(
        detail(idle).contains("trigger.body.alert == 2"),
        "the filter is shown: {idle}"
    );
    let ops = items
        .iter()
        .find(|i| i["check"] == "event_triggers_workflow" && i["event"] == "chain-ops")
        .expect("chain-ops item");
    assert_eq!(ops["ok"], true, "{ops}");

    // The healthy chain: every check passes, and its last run is linked.
    for check in [
        "workflow_valid",
        "workflow_enabled",
        "trigger_enabled",
        "last_run",
    ] {
        let i = item(&items, check, Some("healthy"));
        assert_eq!(i["ok"], true, "{i}");
        assert_eq!(i["event"], "chain-ops");
    }
    let last = item(&items, "last_run", Some("healthy"));
    assert!(detail(last).contains("succeeded"), "{last}");
    assert!(
        last["link"].as_str().unwrap().starts_with("/ui/runs/"),
        "{last}"
    );
    // Each broken link fails exactly its own check.
    let failing = |wf: &str| -> Vec<&str> {
        items
            .iter()
            .filter(|i| i["workflow"] == wf && i["ok"] == false)
            .map(|i| i["check"].as_str().unwrap())
            .collect()
    };
    assert_eq!(failing("broken"), ["workflow_valid", "last_run"]);
    assert_eq!(failing("switched-off"), ["workflow_enabled", "last_run"]);
    assert_eq!(failing("quiet"), ["trigger_enabled", "last_run"]);
    assert_eq!(
        item(&items, "workflow_valid", Some("broken"))["link"],
        json!(format!("/ui/workflows/{}", invalid["id"].as_str().unwrap()))
    );
    assert!(detail(item(&items, "last_run", Some("quiet"))).contains("has not run yet"));

    // What the last request did, with the reasons the delivery recorded.
    let last = item(&items, "last_request_started_runs", None);
    assert_eq!(last["ok"], true, "{last}");
    detail_says(
        last,
        &[
            "started 1 run",
            "event chain-idle did not match: the filter is false",
            "workflow broken did not start: the workflow is invalid",
            "workflow switched-off did not start: the workflow is disabled",
            "workflow quiet did not start",
        ],
    );
    assert_eq!(last["link"], json!(format!("/ui/deliveries/{delivery}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reached_rate_limit_is_a_failed_check() {
    let s = Server::start().await;
    let hook = s.create_webhook("limited", JSON, Some(1), Some(0)).await;
    avoid_window_edge(60, 10).await;
    send(&s, &hook, &json!({}), &[]).await;
    let items = checklist(&s, &hook).await;
    let rate = item(&items, "rate_limits", None);
    assert_eq!(rate["ok"], false, "{rate}");
    assert!(detail(rate).contains("1 of 1 this minute"), "{rate}");
    assert!(detail(rate).contains("never limited"), "{rate}");
    let a = s.post_empty(&hook).await;
    a.expect_status(429);
    let items = eventually(Duration::from_secs(10), || async {
        let items = checklist(&s, &hook).await;
        let d = detail(item(&items, "rate_limits", None)).to_string();
        if d.contains("last limited") {
            Ok(items)
        } else {
            Err(d)
        }
    })
    .await;
    let rate = item(&items, "rate_limits", None);
    assert!(detail(rate).contains("429"), "{rate}");
    assert_eq!(
        rate["link"],
        json!(format!(
            "/ui/webhooks/{}/edit",
            hook["id"].as_str().unwrap()
        ))
    );
    let rej = item(&items, "rejections", None);
    assert!(detail(rej).contains("1 × 429"), "{rej}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_webhook_has_no_checklist_and_the_token_is_needed() {
    let s = Server::start().await;
    s.api_get("/api/v1/webhooks/nope/checklist")
        .await
        .expect_problem(404);
    let hook = s.unlimited_webhook("guarded", JSON).await;
    let a = s
        .client
        .get(s.url(&format!(
            "/api/v1/webhooks/{}/checklist",
            hook["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signature_verdicts_are_counted_and_log_only_failures_show() {
    use crate::verification::{hex, mac};
    let s = Server::start().await;
    let hook = s.unlimited_webhook("signed", JSON).await;
    let hook_id = hook["id"].as_str().unwrap();
    let v = item(&checklist(&s, &hook).await, "verification", None).clone();
    assert_eq!(v["ok"], true, "{v}");
    assert!(detail(&v).contains("no signature verification"), "{v}");

    let log_only = json!({"scheme": "github", "secret": "gh-secret", "mode": "log_only"});
    s.patch_webhook(hook_id, json!({ "verification": log_only }))
        .await
        .expect_status(200);
    let body = br#"{"action": "opened"}"#;
    let good = format!("sha256={}", hex(&mac("sha256", b"gh-secret", body)));
    for sig in [good.as_str(), good.as_str(), "sha256=00"] {
        let a = s
            .client
            .post(s.hook_url(&hook))
            .header("content-type", JSON)
            .header("x-hub-signature-256", sig)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), 202, "log_only accepts");
    }
    let items = checklist(&s, &hook).await;
    let v = item(&items, "verification", None);
    assert_eq!(v["ok"], false, "{v}");
    let d = detail_says(
        v,
        &[
            "3 verified requests, 2 valid, 1 invalid, 0 without",
            "before enforcing",
        ],
    );
    assert!(d.starts_with("github in log_only mode"), "{d}");
    assert_eq!(v["link"], json!(format!("/ui/webhooks/{hook_id}/edit")));
    // In the order a person checks: after the refusals, before the rate limits.
    let order = checks(&items);
    let at = |c: &str| order.iter().position(|x| *x == c).unwrap();
    assert!(at("rejections") < at("verification") && at("verification") < at("rate_limits"));
}
