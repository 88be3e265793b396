//! `hookflow delivery replay` and `hookflow webhook replay` (SPEC §10) against a running server:
//! what they print, and what the server then holds.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// A webhook whose event starts workflows `cli-a` and `cli-b`, and one delivery that started
/// both; returns the webhook and the delivery's id.
async fn fanned_out_delivery(s: &Server) -> (Value, String) {
    let hook = s.unlimited_webhook("cli-replay", "application/json").await;
    create_event(s, json!({"name": "cli-in", "webhook_id": hook["id"]})).await;
    for name in ["cli-a", "cli-b"] {
        valid_workflow(
            s,
            &format!(
                "name: {name}\ntriggers:\n  - event: cli-in\nsteps:\n  - {{id: done, type: complete}}\n"
            ),
        )
        .await;
    }
    let delivery = send(s, &hook, &json!({"n": 1}), &[]).await;
    eventually(Duration::from_secs(30), || async {
        let d = s.delivery(&delivery).await;
        match d["runs"].as_array().map(Vec::len) {
            Some(2) => Ok(()),
            _ => Err(format!("not both runs yet: {d}")),
        }
    })
    .await;
    (hook, delivery)
}

async fn run_count(s: &Server) -> usize {
    s.all_pages("/api/v1/runs?limit=500").await.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_replay_through_the_cli() {
    let s = Server::start().await;
    let (_, delivery) = fanned_out_delivery(&s).await;

    // Dry run: what would start, nothing recorded.
    let before = run_count(&s).await;
    let r = client(
        &s,
        &["delivery", "replay", &delivery, "--dry-run", "--json"],
    )
    .await;
    let dry = r.ok().json();
    assert_eq!(dry["dry_run"], json!(true));
    assert_eq!(dry["runs"].as_array().map(Vec::len), Some(2), "{dry}");
    assert_eq!(dry["runs"][0]["trigger"]["body"], json!({"n": 1}));
    let r = client(&s, &["delivery", "replay", &delivery, "--dry-run"]).await;
    r.ok();
    assert!(r.stdout.contains("event cli-in: matched"), "{r:#?}");
    assert!(r.row("cli-a").contains("would start"), "{r:#?}");
    assert_eq!(run_count(&s).await, before, "a dry run starts nothing");

    // To one named workflow: it starts, the other is reported not started.
    let r = client(
        &s,
        &["delivery", "replay", &delivery, "--workflow", "cli-b"],
    )
    .await;
    r.ok();
    let started = r.row("cli-b");
    assert!(started.contains("started"), "{r:#?}");
    let run_id = started
        .split_whitespace()
        .last()
        .expect("the run's id")
        .to_string();
    assert!(
        r.row("cli-a")
            .contains("not started  the replay names other workflows"),
        "{r:#?}"
    );
    let run = get_run(&s, &run_id).await;
    assert_eq!(run["replay_of"], json!(delivery));
    assert_eq!(run["workflow"], json!("cli-b"));
    assert_eq!(run_count(&s).await, before + 1);

    // Refusals are explained.
    client(&s, &["delivery", "replay", &unknown_id_like(&delivery)])
        .await
        .fails(1);
    let r = client(&s, &["delivery", "replay", &delivery, "--workflow", "nope"]).await;
    r.fails(1);
    assert!(format!("{r:?}").contains("nope"), "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_replay_through_the_cli() {
    let s = Server::start().await;
    let (hook, _) = fanned_out_delivery(&s).await;
    let id = hook["id"].as_str().unwrap();
    let range = [
        "--from",
        "2000-01-01T00:00:00Z",
        "--to",
        "2100-01-01T00:00:00Z",
    ];
    let before = run_count(&s).await;

    let mut args = vec!["webhook", "replay", id, "--dry-run"];
    args.extend(range);
    let r = client(&s, &args).await;
    r.ok();
    assert!(r.row("cli-a").ends_with('1'), "{r:#?}");
    assert_eq!(run_count(&s).await, before, "a dry run starts nothing");

    let mut args = vec!["webhook", "replay", id, "--json"];
    args.extend(range);
    let r = client(&s, &args).await;
    assert_eq!(
        r.ok().json(),
        json!({"deliveries": 1, "runs_started": 2, "workflows": {"cli-a": 1, "cli-b": 1},
               "dry_run": false})
    );
    assert_eq!(run_count(&s).await, before + 2);

    let r = client(
        &s,
        &[
            "webhook",
            "replay",
            id,
            "--from",
            "yesterday",
            "--to",
            "2100-01-01T00:00:00Z",
        ],
    )
    .await;
    r.fails(1);
    assert!(format!("{r:?}").contains("400"), "{r:#?}");
}
