//! SPEC §9 "More content types": `--extra-content-types` lets webhooks be configured with more
//! request content types; `application/*+json` bodies reach runs parsed as JSON, `text/*` bodies
//! as a string, and a type the operator did not allow is still refused.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

const EXTRA: &str = "text/plain,application/cloudevents+json";

/// A workflow on `event` whose outputs are the body it saw, declared as `body_type`.
fn echo_body(name: &str, event: &str, body_type: &str) -> String {
    format!(
        r#"name: {name}
outputs: [{{name: body, type: {body_type}}}, {{name: raw_body, type: string}}]
triggers: [{{event: {event}}}]
steps:
  - id: done
    type: complete
    outputs:
      body: "{{{{ trigger.body }}}}"
      raw_body: "{{{{ trigger.raw_body }}}}"
"#
    )
}

/// Posts `body` as `content_type` (202 expected) and returns the outputs of the one run it
/// starts, once it succeeded.
async fn run_outputs(s: &Server, hook: &Value, content_type: &str, body: &str) -> Value {
    let a = s
        .post_hook(hook, content_type, body.as_bytes().to_vec())
        .await;
    let run_id = first_run_id(s, &a.accepted_id()).await;
    let run = wait_run_within(s, &run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], json!("succeeded"), "{run}");
    run["outputs"].clone()
}

#[tokio::test]
async fn extra_content_types_are_configurable_and_parsed() {
    let s = Server::start_with(&["--extra-content-types", EXTRA]).await;

    // Configurable through the API (case and spaces normalised), refused when not allowed.
    let events = s
        .unlimited_webhook("cloudevents", "Application/CloudEvents+JSON")
        .await;
    assert_eq!(
        events["content_type"],
        json!("application/cloudevents+json")
    );
    let text = s.unlimited_webhook("plain", "text/plain").await;
    let refused = s
        .post_webhook(json!({"name": "ndjson", "content_type": "application/x-ndjson"}))
        .await;
    let p = refused.expect_problem(422);
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("text/plain") && detail.contains("application/cloudevents+json"),
        "the refusal lists the allowed types, extra ones included: {detail}"
    );

    // The UI's Request Content Type list shows the extra types.
    let ui = crate::ui_http::Ui::signed_in(&s).await;
    let form = ui.page("/ui/webhooks/new").await.replace("&#x2f;", "/");
    for t in [
        "application/xml",
        "text/plain",
        "application/cloudevents+json",
    ] {
        assert!(
            form.contains(&format!("<option value=\"{t}\"")),
            "the form offers {t}: {form}"
        );
    }

    create_event(&s, json!({"name": "ce", "webhook_id": events["id"]})).await;
    create_event(&s, json!({"name": "txt", "webhook_id": text["id"]})).await;
    valid_workflow(&s, &echo_body("echo-ce", "ce", "object")).await;
    valid_workflow(&s, &echo_body("echo-txt", "txt", "string")).await;

    // application/cloudevents+json: parsed as JSON.
    let ce = r#"{"specversion": "1.0", "id": "e-1", "data": {"n": 2}}"#;
    let out = run_outputs(&s, &events, "application/cloudevents+json", ce).await;
    assert_eq!(
        out["body"],
        json!({"specversion": "1.0", "id": "e-1", "data": {"n": 2}})
    );
    // …and refused (400) when it is not JSON.
    let bad = s
        .post_hook(&events, "application/cloudevents+json", b"{nope".to_vec())
        .await;
    bad.expect_problem(400);

    // text/plain: a string, even when it looks like JSON.
    let out = run_outputs(&s, &text, "text/plain", "{\"a\": 1}\nsecond line").await;
    assert_eq!(out["body"], json!("{\"a\": 1}\nsecond line"));
    assert_eq!(out["raw_body"], json!("{\"a\": 1}\nsecond line"));

    // Another type than the configured one is still 415 (check 4 is unchanged).
    let wrong = s.post_hook(&text, "text/csv", b"a,b".to_vec()).await;
    wrong.expect_problem_saying(415, "text/plain");
}

#[tokio::test]
async fn without_the_flag_extra_types_are_refused() {
    let s = Server::start().await;
    let a = s
        .post_webhook(json!({"name": "plain", "content_type": "text/plain"}))
        .await;
    a.expect_problem(422);
}

/// A JSON body's numbers reach the run exactly as sent: a float whose last digit serde_json
/// used to get wrong (7.415261720151724e-90 read as …725e-90, found by the body property
/// tests) comes back out of the run's outputs as the same number and the same text.
#[tokio::test]
async fn json_body_floats_reach_runs_exactly() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("floats", "application/json").await;
    create_event(&s, json!({"name": "floats", "webhook_id": hook["id"]})).await;
    valid_workflow(&s, &echo_body("echo-floats", "floats", "object")).await;
    let sent = "7.415261720151724e-90";
    let out = run_outputs(&s, &hook, "application/json", &format!("{{\"f\": {sent}}}")).await;
    assert_eq!(
        out["body"]["f"].as_f64(),
        Some(7.415261720151724e-90),
        "{out}"
    );
    assert_eq!(out["body"]["f"].to_string(), sent);
}
