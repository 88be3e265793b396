//! Atomic calls (present, absent → stub), embedded sub-workflows, caller-supplied targets
//! (tests/fixtures/calls), and triggers: webhook + event, schedule (tests/fixtures/triggers).

use hookflow_import::report::ActivityStatus;
use serde_json::json;

use crate::*;

#[test]
fn a_present_atomic_is_called_with_its_inputs_and_the_callers_target() {
    let imp = import(&["calls"], None);
    let atomic = doc(&imp, "Reputation - Look Up");
    assert_eq!(
        atomic["inputs"],
        json!([
            {"name": "address", "type": "string", "default": ""},
            {"name": "limit", "type": "integer", "default": 1},
            {"name": "target", "type": "string", "default": ""}
        ])
    );
    // without targets.yaml the request fails naming the target it was given
    let ask = typed_step(atomic, "ask_the_api", "fail");
    assert_eq!(
        render(
            &ask["message"],
            json!({"inputs": {"target": "Reputation API"}})
        )
        .as_str()
        .map(|m| m.contains("\"Reputation API\"")),
        Some(true)
    );
    let caller = doc(&imp, "Fixture - Caller");
    let call = typed_step(caller, "look_up_the_address", "run_workflow");
    assert_eq!(call["workflow"], "Reputation - Look Up");
    assert_eq!(
        call["inputs"],
        json!({"address": "{{ inputs.ip }}", "limit": 5, "target": "Reputation API"})
    );
    let keep = step(caller, "keep_verdict");
    assert_eq!(
        render(
            &keep["values"]["verdict"],
            json!({"steps": {"look_up_the_address": {"output": {"verdict": "bad"}}}})
        ),
        json!("bad")
    );
    assert_valid(&imp);
}

#[test]
fn a_target_chosen_at_run_time_is_looked_up_case_insensitively() {
    let file = targets(&[
        ("reputation api", "http://rep.test/", ""),
        ("Ticketing", "http://tickets.test", ""),
    ]);
    let imp = import(&["calls"], Some(&file));
    let ask = typed_step(
        doc(&imp, "Reputation - Look Up"),
        "ask_the_api",
        "http_request",
    );
    let url = render(
        &ask["url"],
        json!({"inputs": {"target": "Reputation API", "address": "192.0.2.1", "limit": 5}}),
    );
    assert_eq!(url, json!("http://rep.test/ip/192.0.2.1?limit=5"));
    let unknown = render(
        &ask["url"],
        json!({"inputs": {"target": "Other", "address": "a", "limit": 1}}),
    );
    assert!(
        unknown
            .as_str()
            .unwrap()
            .contains("target-not-in-targets-file:Other"),
        "{unknown}"
    );
    assert_valid(&imp);
}

#[test]
fn an_absent_atomic_becomes_a_stub_that_says_what_to_provide() {
    let imp = import(&["calls"], None);
    let stub = doc(&imp, "Ticketing - Create Ticket");
    fail_mentions(
        &stub["steps"][0],
        &["definition_workflow_ABSENT", "variable_workflow_b_title"],
    );
    assert_eq!(
        stub["outputs"],
        json!([{"name": "variable_workflow_b_id", "type": "string"}])
    );
    let call = step(doc(&imp, "Fixture - Caller"), "open_a_ticket");
    assert_eq!(call["workflow"], "Ticketing - Create Ticket");
    assert_eq!(
        call["inputs"],
        json!({"variable_workflow_b_title": "Bad address {{ inputs.ip }}", "target": "Ticketing"})
    );
    let a = activity(&imp, "definition_activity_CALL_B");
    assert_eq!(a.status, ActivityStatus::TranslatedWithGaps);
    assert_eq!(a.gaps[0].category, "missing_atomic");
    let w = imp
        .report
        .workflows
        .iter()
        .find(|w| w.name == "Ticketing - Create Ticket")
        .unwrap();
    assert_eq!(w.kind, "stub");
    assert!(!w.clean);
    assert_valid(&imp);
}

#[test]
fn embedded_sub_workflows_and_apply_order() {
    let imp = import(&["calls"], None);
    let notify = step(doc(&imp, "Fixture - Caller"), "notify");
    assert_eq!(notify["workflow"], "Fixture - Notify");
    assert_eq!(
        notify["inputs"],
        json!({"message": "verdict {{ vars.verdict }}"})
    );
    let kind = |n: &str| {
        imp.report
            .workflows
            .iter()
            .find(|w| w.name == n)
            .unwrap()
            .kind
            .clone()
    };
    assert_eq!(kind("Fixture - Notify"), "subworkflow");
    assert_eq!(kind("Reputation - Look Up"), "atomic");
    // callees come before their callers, and the files say so
    let pos = |n: &str| imp.workflows.iter().position(|d| d.name == n).unwrap();
    for callee in [
        "Fixture - Notify",
        "Reputation - Look Up",
        "Ticketing - Create Ticket",
    ] {
        assert!(pos(callee) < pos("Fixture - Caller"), "{callee}");
    }
    let files: Vec<&str> = imp.workflows.iter().map(|d| d.file.as_str()).collect();
    assert!(
        files
            .iter()
            .enumerate()
            .all(|(i, f)| f.starts_with(&format!("workflows/{:02}-", i + 1))),
        "{files:?}"
    );
}

#[test]
fn webhook_event_and_trigger() {
    let imp = import(&["triggers/webhook.json"], None);
    assert_eq!(imp.webhooks.len(), 1);
    assert_eq!(imp.webhooks[0].name, "Fixture alerts");
    assert_eq!(imp.webhooks[0].content_type, "application/json");
    assert_eq!(imp.events[0].name, "Fixture alerts event");
    assert_eq!(imp.events[0].webhook.as_deref(), Some("Fixture alerts"));
    let d = doc(&imp, "Fixture - Webhook");
    assert_eq!(d["triggers"], json!([{"event": "Fixture alerts event"}]));
    assert_eq!(
        step(d, "read_the_alert")["input"],
        "{{ trigger.request_body }}"
    );
    assert_clean(&imp);
    assert_valid(&imp);
}

#[test]
fn schedule_event_and_disabled_trigger() {
    let imp = import(&["triggers/schedule.json"], None);
    let e = &imp.events[0];
    assert_eq!(e.name, "Fixture twice a day");
    assert_eq!(e.schedule.as_deref(), Some("30 6,18 * * *"));
    assert_eq!(e.timezone.as_deref(), Some("Europe/Paris"));
    assert!(imp.webhooks.is_empty());
    let d = doc(&imp, "Fixture - Schedule");
    assert_eq!(
        d["triggers"],
        json!([{"event": "Fixture twice a day", "disabled": true}])
    );
    assert_valid(&imp);
}
