//! `hookflow import securex` end to end (SPEC §12): a hand-written export with a webhook
//! trigger, JSONPath over the request body, a Python script and an HTTP request to a target is
//! imported and applied through the real CLI; a POST to the new Webhook URL then makes the run
//! call a local server (the target's base URL from targets.yaml) with the values the old
//! workflow would have sent. Also: applying again changes nothing (create or replace by name).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use serde_json::{Value, json};

use crate::common::*;

/// The export: "when an alert arrives, read host and severity from the body, let a script
/// write the summary, post a ticket to the Ticket API target".
const EXPORT: &str = r#"{
  "workflow": {
    "unique_name": "definition_workflow_E2E",
    "name": "E2E - Alert to ticket",
    "type": "generic.workflow",
    "variables": [
      {"unique_name": "variable_workflow_E2E_PRIO", "properties": {"scope": "local", "name": "Priority", "type": "datatype.string", "value": "P3"}}
    ],
    "properties": {"atomic": {"is_atomic": false},
      "target": {"execute_on_target_group": true, "target_group": {"target_group_id": "target_group_E2E",
        "use_criteria": {"conditions": [{"operator": "eqi", "left_operand": "$targetgroup.web-service endpoint.input.display_name$", "right_operand": "Ticket API"}]}}}},
    "actions": [
      {"unique_name": "definition_activity_E2E_JP", "type": "corejava.jsonpathquery", "title": "Read the alert",
       "properties": {"input_json": "$trigger.triggerevent_E2E.output.request_body$", "jsonpath_queries": [
         {"jsonpath_query": "$.alert.host", "jsonpath_query_name": "host", "jsonpath_query_type": "string"},
         {"jsonpath_query": "$.alert.severity", "jsonpath_query_name": "severity", "jsonpath_query_type": "string"}]}},
      {"unique_name": "definition_activity_E2E_PY", "type": "python3.script", "title": "Write the summary",
       "properties": {"script": "import sys\nhost, severity = sys.argv[1], sys.argv[2]\nsummary = host + ' is ' + severity.upper()\n",
         "script_arguments": ["$activity.definition_activity_E2E_JP.output.jsonpath_queries.host$", "$activity.definition_activity_E2E_JP.output.jsonpath_queries.severity$"],
         "script_queries": [{"script_query": "summary", "script_query_name": "summary", "script_query_type": "string"}], "action_timeout": 30}},
      {"unique_name": "definition_activity_E2E_IF", "type": "logic.if_else", "title": "High?", "properties": {},
       "blocks": [{"unique_name": "definition_activity_E2E_IF_HIGH", "type": "logic.condition_block", "title": "high",
         "properties": {"condition": {"left_operand": "$activity.definition_activity_E2E_JP.output.jsonpath_queries.severity$", "operator": "eqi", "right_operand": "HIGH"}},
         "actions": [{"unique_name": "definition_activity_E2E_SET", "type": "core.set_multiple_variables", "title": "Raise priority",
           "properties": {"variables_to_update": [{"variable_to_update": "$workflow.definition_workflow_E2E.local.variable_workflow_E2E_PRIO$", "variable_value_new": "P1"}]}}]}]},
      {"unique_name": "definition_activity_E2E_POST", "type": "web-service.http_request", "title": "Open a ticket",
       "properties": {"method": "POST", "relative_url": "/tickets?host=$activity.definition_activity_E2E_JP.output.jsonpath_queries.host$",
         "content_type": "application/json", "action_timeout": 30,
         "custom_headers": [{"name": "X-Priority", "value": "$workflow.definition_workflow_E2E.local.variable_workflow_E2E_PRIO$"}],
         "body": "{\"summary\": \"$activity.definition_activity_E2E_PY.output.script_queries.summary$\", \"priority\": \"$workflow.definition_workflow_E2E.local.variable_workflow_E2E_PRIO$\"}",
         "target": {"use_workflow_target_group": true}}}
    ]
  },
  "triggers": {"triggerevent_E2E": {"workflow_id": "definition_workflow_E2E", "name": "Webhook Trigger", "type": "event", "ref_id": "event_webhook_E2E", "disabled": false, "unique_name": "triggerevent_E2E"}},
  "events": {"event_webhook_E2E": {"name": "E2E alerts", "type": "webhook.event", "webhook_id": "webhook_E2E", "unique_name": "event_webhook_E2E"}},
  "webhooks": {"webhook_E2E": {"name": "E2E alert source", "type": "generic.webhook", "unique_name": "webhook_E2E",
    "properties": {"display_name": "E2E alert source", "request_content_type": "application/json"}}},
  "target_groups": {"target_group_E2E": {"unique_name": "target_group_E2E", "name": "Ticketing"}}
}"#;

/// One request the ticket API received: path with query, headers, body.
type Received = Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>;

async fn ticket_api() -> (LocalServer, Received) {
    let got: Received = Arc::new(Mutex::new(Vec::new()));
    async fn handle(
        State(got): State<Received>,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> &'static str {
        got.lock().unwrap().push((uri.to_string(), headers, body));
        "{\"id\": 7}"
    }
    let app = Router::new().fallback(handle).with_state(got.clone());
    (LocalServer::start(app).await, got)
}

/// The imported workflow "E2E - Alert to ticket" as the API lists it.
async fn imported_workflow(s: &Server) -> Value {
    let wfs = s.api_get("/api/v1/workflows").await.json();
    wfs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "E2E - Alert to ticket")
        .cloned()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn import_apply_and_receive_a_webhook() {
    let s = Server::start().await;
    let (api, got) = ticket_api().await;
    let api_base = api.base.clone();
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    std::fs::write(&export, EXPORT).unwrap();
    let targets = dir.path().join("targets.yaml");
    // the name in a different case: targets are matched case-insensitively
    std::fs::write(
        &targets,
        format!("targets:\n- name: ticket api\n  base_url: {api_base}/api\n  auth_secret: ticket_token\n"),
    )
    .unwrap();
    s.set_secret("ticket_token", "Bearer e2e-secret").await;
    let out = dir.path().join("out");
    let out_s = out.display().to_string();
    let args = [
        "import",
        "securex",
        "--out",
        &out_s,
        "--targets",
        targets.to_str().unwrap(),
        "--apply",
        "--enable-clean",
        export.to_str().unwrap(),
    ];
    let first = client(&s, &args).await;
    assert_eq!(
        first.code,
        Some(0),
        "clean import and apply: {}\n{}",
        first.stdout,
        first.stderr
    );
    assert!(
        first.stdout.contains("workflow E2E - Alert to ticket ("),
        "{}",
        first.stdout
    );
    assert!(first.stdout.contains("): valid"), "{}", first.stdout);
    let url = first
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("webhook E2E alert source: "))
        .unwrap_or_else(|| panic!("no Webhook URL printed: {}", first.stdout))
        .trim()
        .to_string();
    assert!(out.join("import-report.json").is_file() && out.join("workflows").is_dir());

    let wf = imported_workflow(&s).await;
    assert_eq!(
        wf["enabled"], true,
        "a clean workflow is enabled with --enable-clean"
    );

    let sent = s
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(json!({"alert": {"host": "web-1", "severity": "high"}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);

    let (path, headers, body) = eventually(Duration::from_secs(60), || {
        let got = got.clone();
        async move {
            got.lock()
                .unwrap()
                .first()
                .cloned()
                .ok_or_else(|| "no request yet".to_string())
        }
    })
    .await;
    assert_eq!(path, "/api/tickets?host=web-1");
    assert_eq!(headers.get("x-priority").unwrap(), "P1");
    assert_eq!(headers.get("authorization").unwrap(), "Bearer e2e-secret");
    assert_eq!(headers.get("content-type").unwrap(), "application/json");
    let body: Value = serde_json::from_slice(&body).expect("JSON body");
    assert_eq!(body, json!({"summary": "web-1 is HIGH", "priority": "P1"}));

    // again: nothing new is created, the workflow is replaced by name
    let again = client(&s, &args).await;
    assert_eq!(again.code, Some(0), "{}\n{}", again.stdout, again.stderr);
    assert!(
        again.stderr.contains("webhook E2E alert source exists"),
        "{}",
        again.stderr
    );
    assert!(
        again
            .stderr
            .contains("updated workflow E2E - Alert to ticket"),
        "{}",
        again.stderr
    );
    let hooks = s.api_get("/api/v1/webhooks").await.json();
    assert_eq!(hooks["items"].as_array().unwrap().len(), 1);
    let events = s.api_get("/api/v1/events").await.json();
    assert_eq!(events["items"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_targets_the_workflow_is_applied_disabled_and_says_what_is_missing() {
    let s = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.json");
    // the same export without its script: nothing here needs an addition still in progress
    let mut doc: Value = serde_json::from_str(EXPORT).unwrap();
    let acts = doc["workflow"]["actions"].as_array_mut().unwrap();
    acts.retain(|a| a["type"] != "python3.script");
    acts[2]["properties"]["body"] =
        json!("{\"host\": \"$activity.definition_activity_E2E_JP.output.jsonpath_queries.host$\"}");
    std::fs::write(&export, doc.to_string()).unwrap();
    let out = dir.path().join("out");
    let r = client(
        &s,
        &[
            "import",
            "securex",
            "--out",
            out.to_str().unwrap(),
            "--apply",
            "--enable-clean",
            export.to_str().unwrap(),
        ],
    )
    .await;
    assert!(matches!(r.code, Some(0 | 2)), "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("targets without a base URL") && r.stderr.contains("Ticket API"),
        "{}",
        r.stderr
    );
    let wf = imported_workflow(&s).await;
    assert_eq!(
        wf["enabled"], false,
        "its HTTP step cannot run yet, so it is not enabled"
    );
    let targets = std::fs::read_to_string(out.join("targets.yaml")).unwrap();
    assert!(targets.contains("Ticket API"), "{targets}");
}
