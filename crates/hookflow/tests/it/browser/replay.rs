//! Replay in the browser (SPEC §10): **Dry run** and **Replay** on a delivery's page, and the
//! bulk replay form on a webhook's page, clicked as a user would, checked against the API.

use std::time::Duration;

use serde_json::json;

use super::{Browser, sign_in};
use crate::common::*;

#[tokio::test]
async fn replay_and_dry_run_from_the_delivery_and_webhook_pages() {
    let s = Server::start().await;
    let sc = Scenario::new(&s, "ui-replay")
        .event("ui-in")
        .workflow(
            "name: ui-wf\ntriggers:\n  - event: ui-in\nsteps:\n  - {id: done, type: complete}\n",
        )
        .workflow(
            "name: ui-off\ntriggers:\n  - event: ui-in\nsteps:\n  - {id: done, type: complete}\n",
        )
        .await;
    let (hook, hook_id, wf, off) = (
        &sc.hook,
        sc.hook_id.clone(),
        sc.workflows[0].as_str(),
        sc.workflows[1].as_str(),
    );
    disable_workflow(&s, off).await;
    let from = chrono::Utc::now() - chrono::Duration::seconds(1);
    let first = send(&s, hook, &json!({"n": 1}), &[]).await;
    let second = send(&s, hook, &json!({"n": 2}), &[]).await;
    let runs_before = runs_of(&s, wf).await.len();
    assert_eq!(runs_before, 2);

    let b = Browser::start(&s.url("")).await;
    sign_in(&b, &s.token).await;

    // Dry run: the reasons and the would-be run's trigger variables; nothing starts.
    b.open(&format!("/ui/deliveries/{first}")).await;
    b.click_button("Dry run").await;
    let not_started = b.text_of("#dry-run-not-started").await;
    assert!(
        not_started.contains("ui-off") && not_started.contains("the workflow is disabled"),
        "{not_started}"
    );
    let trigger = b.text_of(".dry-run-run[data-workflow='ui-wf'] pre").await;
    assert!(
        trigger.contains(&first),
        "the trigger is the delivery's: {trigger}"
    );
    assert!(trigger.contains("\"n\": 1"), "{trigger}");
    b.screenshot("delivery-dry-run").await;
    assert_eq!(
        runs_of(&s, wf).await.len(),
        runs_before,
        "a dry run starts nothing"
    );

    // Replay: the new run is listed under Replays and its page says what it replays.
    b.click_button("Replay").await;
    b.wait_path("the delivery page after the replay", |p| {
        p.starts_with(&format!("/ui/deliveries/{first}?replayed=1"))
    })
    .await;
    let row = b.row_containing(Some("replay-runs"), "ui-wf").await;
    let replays = s
        .api_get(&format!("/api/v1/runs?replay_of={first}"))
        .await
        .json();
    let run_id = replays["items"][0]["id"]
        .as_str()
        .expect("a replay run")
        .to_string();
    assert!(row.contains(&run_id), "{row}");
    b.click_link(&run_id).await;
    b.wait_path("the run's page", |p| p == format!("/ui/runs/{run_id}"))
        .await;
    assert!(b.text_of("#run-replay-of").await.contains(&first));
    b.reload_until("#run-status", Duration::from_secs(30), |t| {
        (t == "succeeded").then_some(()).ok_or(t.to_string())
    })
    .await;

    // Bulk: the count first, then, confirmed, the summary.
    b.open(&format!("/ui/webhooks/{hook_id}")).await;
    b.fill("From", &from.to_rfc3339()).await;
    b.fill(
        "To",
        &(chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339(),
    )
    .await;
    b.click_button("Count deliveries").await;
    let count = b.text_of("#replay-count").await;
    assert!(
        count.starts_with("2 accepted deliveries") && count.contains("2 runs: 2 of ui-wf"),
        "{count}"
    );
    assert_eq!(
        runs_of(&s, wf).await.len(),
        runs_before + 1,
        "counting starts nothing"
    );
    b.screenshot("webhook-bulk-replay-count").await;
    b.click_button("Replay 2 deliveries").await;
    let summary = b.text_of("#replay-summary").await;
    assert_eq!(
        summary,
        "Replayed 2 deliveries: 2 runs started: 2 of ui-wf."
    );
    let runs = runs_of(&s, wf).await;
    assert_eq!(runs.len(), runs_before + 3);
    for id in [&first, &second] {
        let n = runs.iter().filter(|r| r["replay_of"] == json!(id)).count();
        assert_eq!(n, if *id == first { 2 } else { 1 }, "replays of {id}");
    }
    b.close().await;
}
