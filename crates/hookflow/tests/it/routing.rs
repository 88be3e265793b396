//! Routing of webhook requests to workflow runs (SPEC §1, §3, §4), through the real server:
//! fan-out to several workflows and triggers, event filters and what the delivery records of
//! them, the reasons a workflow was not started, the trigger variables a run sees for form and
//! XML bodies, cron schedules, a `kill -9` in the middle of runs, and deleting an event.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// A workflow triggered by `events` that completes with the name of the event that started it.
fn echo_event_yaml(name: &str, events: &[&str]) -> String {
    let triggers: String = events.iter().map(|e| format!("  - event: {e}\n")).collect();
    format!(
        r#"name: {name}
outputs: [{{name: event, type: string}}]
triggers:
{triggers}steps:
  - id: done
    type: complete
    outputs: {{event: "{{{{ trigger.event.name }}}}"}}
"#
    )
}

/// Webhook `hook` with event `event` and, on it, workflow `workflow` of [`echo_event_yaml`].
fn echo_scenario<'a>(s: &'a Server, hook: &str, event: &str, workflow: &str) -> Scenario<'a> {
    Scenario::new(s, hook)
        .event(event)
        .workflow(&echo_event_yaml(workflow, &[event]))
}

/// The routing record's event entry named `name`.
fn routed_event<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["routing"]["events"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == json!(name)))
        .unwrap_or_else(|| panic!("routing has no event {name:?}: {}", d["routing"]))
}

/// The `routing.not_started` entry of workflow `workflow`.
fn not_started<'a>(d: &'a Value, workflow: &str) -> &'a Value {
    d["routing"]["not_started"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["workflow"] == json!(workflow)))
        .unwrap_or_else(|| {
            panic!(
                "routing.not_started has no workflow {workflow:?}: {}",
                d["routing"]
            )
        })
}

/// The ids listed by `routing.runs` and by the delivery's `runs` (sorted), which must agree.
fn run_ids(d: &Value) -> Vec<String> {
    let mut routed: Vec<String> = d["routing"]["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("routing without runs: {d}"))
        .iter()
        .map(|r| r["id"].as_str().expect("run id").to_string())
        .collect();
    let mut listed: Vec<String> = d["runs"]
        .as_array()
        .expect("delivery runs")
        .iter()
        .map(|r| r["id"].as_str().expect("run id").to_string())
        .collect();
    routed.sort();
    listed.sort();
    assert_eq!(
        routed, listed,
        "routing.runs and the delivery's runs must name the same runs: {d}"
    );
    listed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_request_fans_out_to_every_trigger() {
    let s = Server::start().await;
    // Two workflows on one event, and one workflow on both events of the webhook.
    let sc = Scenario::new(&s, "fan")
        .event("alerts")
        .event("also")
        .workflow(&echo_event_yaml("fan-a", &["alerts"]))
        .workflow(&echo_event_yaml("fan-b", &["alerts"]))
        .workflow(&echo_event_yaml("fan-c", &["alerts", "also"]))
        .await;
    let [a, b, c] = [0, 1, 2].map(|i| sc.workflows[i].clone());

    let delivery_id = sc.send(&s, &json!({"n": 1})).await;
    let d = finished_delivery(&s, &delivery_id, 4).await;
    assert_eq!(d["status"], json!("accepted"));
    for ev in ["alerts", "also"] {
        let e = routed_event(&d, ev);
        assert_eq!(e["matched"], json!(true), "{e}");
        assert!(e["reason"].is_null(), "a matched event has no reason: {e}");
    }
    assert_eq!(d["routing"]["not_started"], json!([]), "{}", d["routing"]);
    let ids = run_ids(&d);
    assert_eq!(ids.len(), 4);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        4,
        "run ids are distinct"
    );

    let mut started: Vec<(String, String)> = Vec::new();
    for id in &ids {
        let run = get_run(&s, id).await;
        assert_eq!(run["status"], json!("succeeded"), "{run}");
        assert_eq!(run["trigger"]["kind"], json!("webhook"), "{run}");
        assert_eq!(run["trigger"]["delivery_id"], json!(delivery_id), "{run}");
        let wf = run["workflow_id"].as_str().unwrap().to_string();
        let event = run["outputs"]["event"].as_str().unwrap_or("").to_string();
        started.push((wf, event));
    }
    started.sort();
    let mut want = vec![
        (a.clone(), "alerts".to_string()),
        (b.clone(), "alerts".to_string()),
        (c.clone(), "alerts".to_string()),
        (c.clone(), "also".to_string()),
    ];
    want.sort();
    assert_eq!(started, want, "one run per trigger, each seeing its event");

    // The run list filters agree.
    let by_delivery = s
        .api_get(&format!("/api/v1/runs?delivery_id={delivery_id}"))
        .await
        .json();
    assert_eq!(by_delivery["items"].as_array().map(Vec::len), Some(4));
    assert_eq!(runs_of(&s, &c).await.len(), 2);
    assert_eq!(runs_of(&s, &a).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn filters_decide_which_events_match() {
    let s = Server::start().await;
    let sc = Scenario::new(&s, "gh")
        .filtered_event("severe", r#"trigger.body.severity in ["high", "critical"]"#)
        .filtered_event(
            "pushes",
            r#"trigger.headers["x-github-event"] is matches_wildcard("pu*")"#,
        )
        .filtered_event("broken", "trigger.body.missing.deeper == 1")
        .workflow(&echo_event_yaml("on-severe", &["severe"]))
        .workflow(&echo_event_yaml("on-pushes", &["pushes"]))
        .workflow(&echo_event_yaml("on-broken", &["broken"]))
        .await;
    let hook = &sc.hook;
    let [severe, pushes, broken] = [0, 1, 2].map(|i| sc.workflows[i].clone());

    // 1. severity high, a push: two events match; the erroring filter does not, and says why.
    // A GitHub-like request: this severity in the body, this X-GitHub-Event.
    let github = async |severity: &str, event: &str| {
        let body = json!({ "severity": severity });
        send(&s, hook, &body, &[("X-GitHub-Event", event)]).await
    };
    let d1 = github("high", "push").await;
    let d = finished_delivery(&s, &d1, 2).await;
    assert_eq!(routed_event(&d, "severe")["matched"], json!(true));
    assert_eq!(routed_event(&d, "pushes")["matched"], json!(true));
    let e = routed_event(&d, "broken");
    assert_eq!(e["matched"], json!(false), "{e}");
    let reason = e["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("filter failed") && reason.contains("missing"),
        "the reason explains the filter error: {e}"
    );
    let ns = not_started(&d, "on-broken");
    assert_eq!(ns["reason"], e["reason"], "{ns}");
    assert_eq!(ns["event"], json!("broken"));
    let mut wfs: Vec<String> = d["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["workflow_id"].as_str().unwrap().to_string())
        .collect();
    wfs.sort();
    let mut want = vec![severe.clone(), pushes.clone()];
    want.sort();
    assert_eq!(wfs, want, "runs of the matched events' workflows only");
    for r in d["runs"].as_array().unwrap() {
        assert_eq!(r["status"], json!("succeeded"), "{r}");
    }

    // 2. severity low, an issue: nothing matches, nothing starts, every reason recorded.
    let d2 = github("low", "issues").await;
    let d = s.delivery(&d2).await;
    assert_eq!(d["status"], json!("accepted"));
    for ev in ["severe", "pushes", "broken"] {
        let e = routed_event(&d, ev);
        assert_eq!(e["matched"], json!(false), "{e}");
        assert!(e["reason"].is_string(), "{e}");
    }
    assert_eq!(
        routed_event(&d, "severe")["reason"],
        json!("the filter is false")
    );
    assert_eq!(d["routing"]["runs"], json!([]));
    assert_eq!(d["runs"], json!([]));
    for wf in ["on-severe", "on-pushes", "on-broken"] {
        assert!(not_started(&d, wf)["reason"].is_string());
    }

    // 3. critical, a pull request, and the nested field present: all three match.
    let d3 = send(
        &s,
        hook,
        &json!({"severity": "critical", "missing": {"deeper": 1}}),
        &[("X-GitHub-Event", "pull_request")],
    )
    .await;
    let d = finished_delivery(&s, &d3, 3).await;
    for ev in ["severe", "pushes", "broken"] {
        assert_eq!(routed_event(&d, ev)["matched"], json!(true), "{ev}");
    }
    assert_eq!(d["routing"]["not_started"], json!([]));

    // Each workflow ran exactly for the deliveries its event matched.
    assert_eq!(runs_of(&s, &severe).await.len(), 2);
    assert_eq!(runs_of(&s, &pushes).await.len(), 2);
    assert_eq!(runs_of(&s, &broken).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workflows_that_cannot_start_record_why() {
    let s = Server::start().await;
    let sc = echo_scenario(&s, "ops", "ops", "good").await;
    let (hook, good) = (&sc.hook, sc.workflow());
    // Invalid: reads a secret that does not exist.
    let needs_secret = completing_yaml(
        "needs-secret",
        "ops",
        "token",
        "string",
        "{{ secrets.nope }}",
    );
    let invalid = create_workflow(&s, &needs_secret).await;
    assert_eq!(
        invalid["validation"]["status"],
        json!("invalid"),
        "{invalid}"
    );
    assert!(
        invalid["validation"]["errors"].to_string().contains("nope"),
        "the error names the secret: {invalid}"
    );
    let invalid = invalid["id"].as_str().unwrap().to_string();
    // Disabled workflow.
    let disabled = valid_workflow(&s, &echo_event_yaml("switched-off", &["ops"])).await;
    let p = disable_workflow(&s, &disabled).await;
    assert_eq!(p["enabled"], json!(false));
    // A disabled trigger.
    let quiet = valid_workflow(
        &s,
        r#"name: quiet-trigger
steps:
  - {id: done, type: complete}
triggers:
  - event: ops
    disabled: true
"#,
    )
    .await;

    let delivery_id = send(&s, hook, &json!({}), &[]).await;
    let d = finished_delivery(&s, &delivery_id, 1).await;
    assert_eq!(d["runs"][0]["workflow_id"], json!(good));
    assert_eq!(d["runs"][0]["status"], json!("succeeded"));
    assert_eq!(routed_event(&d, "ops")["matched"], json!(true));
    let reasons: Vec<(&str, &str)> = vec![
        ("needs-secret", "invalid"),
        ("switched-off", "disabled"),
        ("quiet-trigger", "trigger"),
    ];
    for (wf, word) in reasons {
        let ns = not_started(&d, wf);
        let reason = ns["reason"].as_str().unwrap_or("");
        assert!(
            reason.contains(word),
            "the reason for {wf} mentions {word:?}: {ns}"
        );
        assert_eq!(ns["event"], json!("ops"), "{ns}");
        assert!(ns["workflow_id"].is_string(), "{ns}");
    }
    assert_eq!(
        d["routing"]["not_started"].as_array().map(Vec::len),
        Some(3),
        "{}",
        d["routing"]
    );
    for wf in [&invalid, &disabled, &quiet] {
        assert_eq!(runs_of(&s, wf).await.len(), 0, "workflow {wf} has no run");
    }

    // Enabled again, it starts.
    set_workflow_enabled(&s, &disabled, true).await;
    let delivery_id = send(&s, hook, &json!({}), &[]).await;
    let d = finished_delivery(&s, &delivery_id, 2).await;
    assert!(
        d["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["workflow_id"] == json!(disabled)),
        "{d}"
    );
}

/// A workflow that completes with every trigger variable it can see.
const TRIGGER_ECHO: &str = r#"name: NAME
outputs: [{name: body, type: object}, {name: raw_body, type: string},
  {name: request_body, type: string}, {name: request_headers, type: array},
  {name: headers, type: object}, {name: query, type: object},
  {name: content_type, type: string}, {name: webhook, type: string},
  {name: webhook_id, type: string}, {name: event, type: string},
  {name: delivery_id, type: string}, {name: received_at, type: string}]
triggers: [{event: EVENT}]
steps:
  - id: done
    type: complete
    outputs:
      body: "{{ trigger.body }}"
      raw_body: "{{ trigger.raw_body }}"
      request_body: "{{ trigger.request_body }}"
      request_headers: "{{ trigger.request_headers }}"
      headers: "{{ trigger.headers }}"
      query: "{{ trigger.query }}"
      content_type: "{{ trigger.content_type }}"
      webhook: "{{ trigger.webhook.name }}"
      webhook_id: "{{ trigger.webhook.id }}"
      event: "{{ trigger.event.name }}"
      delivery_id: "{{ trigger.delivery_id }}"
      received_at: "{{ trigger.received_at }}"
"#;

/// Sends a raw request (mixed-case header names, a query beside the key) and returns the
/// outputs of the one run it starts, with the delivery id.
async fn echo_run(s: &Server, hook: &Value, content_type: &str, body: &str) -> (Value, String) {
    let target = format!(
        "/webhooks/{}?api_key={}&source=ci&tag=x&tag=y",
        hook["id"].as_str().unwrap(),
        pct(hook["api_key"].as_str().unwrap())
    );
    let len = body.len().to_string();
    let bytes = raw_bytes(
        "POST",
        &target,
        &s.addr,
        &[
            ("Accept", "application/json"),
            ("Content-Type", content_type),
            ("Content-Length", &len),
            ("X-Custom-Header", "Hello"),
            ("X-Multi", "a"),
            ("X-Multi", "b"),
        ],
        body.as_bytes(),
    );
    let a = raw_request(&s.addr, &bytes).await;
    let delivery_id = a.accepted_id();
    let d = finished_delivery(s, &delivery_id, 1).await;
    let run = get_run(s, d["runs"][0]["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], json!("succeeded"), "{run}");
    (run["outputs"].clone(), delivery_id)
}

/// What every echo run must show, whatever the body.
fn check_common(out: &Value, s: &Server, hook: &Value, event: &str, body: &str, ct: &str, d: &str) {
    assert_eq!(out["raw_body"], json!(body), "{out}");
    assert_eq!(out["request_body"], json!(body), "{out}");
    assert_eq!(out["content_type"], json!(ct), "{out}");
    assert_eq!(out["webhook"], hook["name"], "{out}");
    assert_eq!(out["webhook_id"], hook["id"], "{out}");
    assert_eq!(out["event"], json!(event), "{out}");
    assert_eq!(
        out["delivery_id"],
        json!(d),
        "trigger.delivery_id is the X-Delivery-Id"
    );
    assert!(
        out["received_at"]
            .as_str()
            .is_some_and(|t| t.len() >= 20 && t.contains('T')),
        "received_at is RFC 3339: {out}"
    );
    // Query without the key; a repeated parameter becomes a list.
    assert_eq!(
        out["query"],
        json!({"source": "ci", "tag": ["x", "y"]}),
        "{out}"
    );
    // Headers: names lower-cased, repeated ones joined.
    let headers = out["headers"].as_object().expect("headers object");
    assert!(
        headers.keys().all(|k| *k == k.to_ascii_lowercase()),
        "header names are lower-cased: {headers:?}"
    );
    assert_eq!(headers["x-custom-header"], json!("Hello"));
    assert_eq!(headers["x-multi"], json!("a, b"));
    assert_eq!(headers["content-type"], json!(ct));
    // request_headers: a list of {name, value}, each repeated header on its own.
    let list = out["request_headers"]
        .as_array()
        .expect("request_headers list");
    assert!(
        list.iter()
            .all(|h| h["name"].is_string() && h["value"].is_string()),
        "{list:?}"
    );
    let find = |name: &str| -> Vec<&Value> {
        list.iter()
            .filter(|h| h["name"].as_str().unwrap().eq_ignore_ascii_case(name))
            .map(|h| &h["value"])
            .collect()
    };
    assert_eq!(find("x-custom-header"), vec![&json!("Hello")]);
    assert_eq!(find("x-multi"), vec![&json!("a"), &json!("b")]);
    // The key never reaches a run.
    let key = hook["api_key"].as_str().unwrap();
    assert!(!out.to_string().contains(key), "the API key leaked: {out}");
    let _ = s;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn form_and_xml_bodies_reach_trigger_variables() {
    let s = Server::start().await;
    let form_ct = "application/x-www-form-urlencoded";
    let form = s.unlimited_webhook("form-source", form_ct).await;
    let xml = s.unlimited_webhook("xml-source", "application/xml").await;
    create_event(&s, json!({"name": "form-in", "webhook_id": form["id"]})).await;
    create_event(&s, json!({"name": "xml-in", "webhook_id": xml["id"]})).await;
    for (name, event) in [("echo-form", "form-in"), ("echo-xml", "xml-in")] {
        let yaml = TRIGGER_ECHO.replace("NAME", name).replace("EVENT", event);
        valid_workflow(&s, &yaml).await;
    }

    // Form: repeated keys become a list, values are decoded strings.
    let body = "title=Disk+full&host=db%2D1&tag=a&tag=b&empty=";
    let (out, d) = echo_run(&s, &form, form_ct, body).await;
    check_common(&out, &s, &form, "form-in", body, form_ct, &d);
    assert_eq!(
        out["body"],
        json!({"title": "Disk full", "host": "db-1", "tag": ["a", "b"], "empty": ""}),
        "{out}"
    );

    // XML: attributes as @name, text beside attributes as #text, repeated elements as a list,
    // leaves as strings.
    let body = r#"<alert id="7"><title lang="en">Disk full</title><severity>3</severity><tag>a</tag><tag>b</tag></alert>"#;
    let (out, d) = echo_run(&s, &xml, "application/xml", body).await;
    check_common(&out, &s, &xml, "xml-in", body, "application/xml", &d);
    assert_eq!(
        out["body"],
        json!({"alert": {
            "@id": "7",
            "title": {"@lang": "en", "#text": "Disk full"},
            "severity": "3",
            "tag": ["a", "b"],
        }}),
        "{out}"
    );
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` and returns (seconds field, fraction digits).
fn seconds_of(ts: &str) -> (String, String) {
    let time = ts
        .split_once('T')
        .unwrap_or_else(|| panic!("not RFC 3339: {ts}"))
        .1;
    let time = time
        .trim_end_matches('Z')
        .trim_end_matches("+00:00")
        .to_string();
    let parts: Vec<&str> = time.split(':').collect();
    assert!(parts.len() >= 3, "not RFC 3339: {ts}");
    let (sec, frac) = parts[2].split_once('.').unwrap_or((parts[2], ""));
    (sec.to_string(), frac.to_string())
}

#[track_caller]
fn assert_minute_boundary(ts: &str) {
    let (sec, frac) = seconds_of(ts);
    assert_eq!(sec, "00", "{ts} is not on a minute boundary");
    assert!(
        frac.chars().all(|c| c == '0'),
        "{ts} is not on a minute boundary"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cron_schedule_fires_once_per_due_time() {
    let s = Server::start().await;
    let ev = create_event(&s, json!({"name": "every-minute", "schedule": "* * * * *"})).await;
    assert_eq!(ev["kind"], json!("schedule"), "{ev}");
    let first_due = ev["next_fire_at"]
        .as_str()
        .expect("next_fire_at")
        .to_string();
    assert_minute_boundary(&first_due);
    let wf = valid_workflow(
        &s,
        r#"name: ticker
outputs: [{name: at, type: string}, {name: event, type: string}]
triggers: [{event: every-minute}]
steps:
  - id: done
    type: complete
    outputs: {at: "{{ trigger.scheduled_at }}", event: "{{ trigger.event.name }}"}
"#,
    )
    .await;

    // While the minute passes: bad schedules are refused, a time zone is accepted.
    for body in [
        json!({"name": "short", "schedule": "* * *"}),
        json!({"name": "bad-field", "schedule": "61 * * * *"}),
        json!({"name": "bad-tz", "schedule": "0 9 * * *", "timezone": "Mars/Olympus"}),
    ] {
        let p = s
            .api_post("/api/v1/events", body.clone())
            .await
            .expect_problem(422);
        assert!(
            p["detail"].as_str().unwrap().len() > 10,
            "{body} is explained: {p}"
        );
    }
    let paris = create_event(
        &s,
        json!({"name": "paris-morning", "schedule": "30 9 * * 1-5", "timezone": "Europe/Paris"}),
    )
    .await;
    assert_eq!(paris["timezone"], json!("Europe/Paris"));
    let paris_due = paris["next_fire_at"].as_str().expect("next_fire_at");
    assert_minute_boundary(paris_due);
    let names: Vec<Value> = s.api_get("/api/v1/events").await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(names.len(), 2, "no refused event was created: {names:?}");

    // Within ~65 s the first due time fires one run, which succeeds.
    let run = eventually(Duration::from_secs(75), || async {
        let runs = runs_of(&s, &wf).await;
        match runs.first() {
            Some(r) if r["status"] == json!("succeeded") => Ok(r.clone()),
            _ => Err(format!("no succeeded schedule run yet: {runs:?}")),
        }
    })
    .await;
    let run = get_run(&s, run["id"].as_str().unwrap()).await;
    assert_eq!(run["trigger"]["kind"], json!("schedule"), "{run}");
    assert_eq!(run["trigger"]["delivery_id"], Value::Null, "{run}");
    let at = run["outputs"]["at"]
        .as_str()
        .expect("outputs.at")
        .to_string();
    assert_minute_boundary(&at);
    assert_eq!(run["trigger"]["scheduled_at"], json!(at), "{run}");
    assert_eq!(run["outputs"]["event"], json!("every-minute"));
    assert_eq!(at, first_due, "the first due time after creation fired");

    // The event moved on past that due time.
    let ev = eventually(Duration::from_secs(10), || async {
        let e = s
            .api_get(&format!("/api/v1/events/{}", ev["id"].as_str().unwrap()))
            .await
            .json();
        match e["next_fire_at"].as_str() {
            Some(n) if n > at.as_str() => Ok(e),
            _ => Err(format!("next_fire_at not advanced past {at}: {e}")),
        }
    })
    .await;
    assert_minute_boundary(ev["next_fire_at"].as_str().unwrap());

    // Exactly one run per due time. The due time moved forward (above) in the same transaction
    // that enqueued its runs, with a compare-and-set: no later run can be for `at`.
    let mut per: HashMap<String, usize> = HashMap::new();
    for r in runs_of(&s, &wf).await {
        let at = r["trigger"]["scheduled_at"].as_str().expect("scheduled_at");
        assert_minute_boundary(at);
        *per.entry(at.to_string()).or_default() += 1;
    }
    assert!(
        per.values().all(|n| *n == 1),
        "one run per scheduled_at: {per:?}"
    );
    assert_eq!(per.get(&at), Some(&1), "{per:?}");
}

/// The steps of a run recorded as succeeded more than once for the same (id, iteration).
fn duplicate_succeeded_steps(run: &Value) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut dups = Vec::new();
    for st in run["steps"].as_array().cloned().unwrap_or_default() {
        if st["status"] == json!("succeeded") {
            let key = format!("{}#{}", st["id"], st["iteration"]);
            if !seen.insert(key.clone()) {
                dups.push(key);
            }
        }
    }
    dups
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_interrupted_by_kill9_finish_after_restart() {
    let flaky = FlakyServer::start(2, Duration::from_millis(500)).await;
    let url = format!("http://{}/b/{{{{ trigger.body.n }}}}", flaky.addr);
    let body = r#"body: {n: "{{ trigger.body.n }}"}"#;
    let call = call_step(
        "POST",
        &url,
        &[body, "retry: {max_attempts: 5, backoff: 1s}"],
    );
    let (nap, n) = (
        "- {id: nap, type: sleep, duration: 3s}",
        ("n", "integer", "{{ trigger.body.n }}"),
    );
    let mut s = Server::start_with(&["--run-lease-seconds", "2"]).await;
    let sc = Scenario::new(&s, "load")
        .event("load")
        .workflow(&triggered_yaml("sleeper", "load", &[nap], n))
        .workflow(&triggered_yaml("caller", "load", &[&call], SINK_PATH))
        .workflow(
            r#"name: setter
variables: [{name: seen, type: integer}]
outputs: [{name: seen, type: integer}]
triggers: [{event: load}]
steps:
  - {id: keep, type: set_variables, values: {seen: "{{ trigger.body.n }}"}}
  - {id: done, type: complete, outputs: {seen: "{{ vars.seen }}"}}
"#,
        )
        .await;
    let hook = &sc.hook;

    const REQUESTS: usize = 30;
    let mut deliveries = Vec::new();
    for n in 0..REQUESTS {
        deliveries.push(send(&s, hook, &json!({"n": n}), &[]).await);
    }

    // Wait for runs caught in the middle: a sleeper with its sleep recorded but not finished,
    // a caller that has tried at least once but not yet succeeded.
    let (sleeping, retrying, running) = eventually(Duration::from_secs(20), || async {
        let mut sleeping = HashSet::new();
        let mut retrying = HashSet::new();
        let mut running = HashSet::new();
        for status in ["queued", "running"] {
            let page = s
                .api_get(&format!("/api/v1/runs?status={status}&limit=500"))
                .await
                .json();
            for r in page["items"].as_array().cloned().unwrap_or_default() {
                let run = get_run(&s, r["id"].as_str().unwrap()).await;
                let steps = run["steps"].as_array().cloned().unwrap_or_default();
                let unfinished = |id: &str| {
                    steps
                        .iter()
                        .any(|st| st["id"] == json!(id) && st["status"] != json!("succeeded"))
                };
                let id = run["id"].as_str().unwrap().to_string();
                if run["status"] == json!("running") {
                    running.insert(id.clone());
                }
                if unfinished("nap") {
                    sleeping.insert(id.clone());
                }
                if unfinished("call") {
                    retrying.insert(id);
                }
            }
        }
        if !sleeping.is_empty() && !retrying.is_empty() {
            Ok((sleeping.len(), retrying.len(), running.len()))
        } else {
            Err(format!(
                "want runs mid-sleep and mid-retry; sleeping {}, retrying {}",
                sleeping.len(),
                retrying.len()
            ))
        }
    })
    .await;

    eprintln!(
        "kill -9 with {sleeping} runs mid-sleep, {retrying} mid-retry, {running} running or waiting"
    );
    s.kill9();
    s.restart().await;

    // Every run of every accepted delivery ends succeeded.
    let mut all_runs: Vec<String> = Vec::new();
    for d in &deliveries {
        let delivery = finished_delivery_within(&s, d, 3, Duration::from_secs(60)).await;
        for r in delivery["runs"].as_array().unwrap() {
            all_runs.push(r["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(all_runs.len(), REQUESTS * 3);
    let mut failures = Vec::new();
    for id in &all_runs {
        let run = get_run(&s, id).await;
        if run["status"] != json!("succeeded") {
            failures.push(format!("{id}: {} {}", run["status"], run["error"]));
            continue;
        }
        let dups = duplicate_succeeded_steps(&run);
        if !dups.is_empty() {
            failures.push(format!("{id}: steps succeeded twice: {dups:?}"));
        }
        match run["workflow"].as_str() {
            Some("caller") => {
                let path = run["outputs"]["path"].as_str().unwrap_or("").to_string();
                if !path.starts_with("/b/") || flaky.count(&path) < 3 {
                    failures.push(format!(
                        "{id}: caller output {path:?}, {} requests",
                        flaky.count(&path)
                    ));
                }
            }
            Some("sleeper") | Some("setter") => {}
            other => failures.push(format!("{id}: unexpected workflow {other:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "runs not right after restart: {failures:#?}"
    );
    // Every caller path was eventually served (and answered 200 at least once).
    for n in 0..REQUESTS {
        assert!(flaky.count(&format!("/b/{n}")) >= 3, "path /b/{n}");
    }
}

/// Like [`finished_delivery`] with its own deadline, and requiring every run to have succeeded.
async fn finished_delivery_within(
    s: &Server,
    delivery_id: &str,
    count: usize,
    deadline: Duration,
) -> Value {
    eventually(deadline, || async {
        let d = s.delivery(delivery_id).await;
        let runs = d["runs"].as_array().cloned().unwrap_or_default();
        if runs.len() == count && runs.iter().all(|r| r["status"] == json!("succeeded")) {
            Ok(d)
        } else {
            Err(format!(
                "delivery {delivery_id}: want {count} succeeded runs, have {:?}",
                runs.iter()
                    .map(|r| (
                        r["workflow"].clone(),
                        r["status"].clone(),
                        r["error"].clone()
                    ))
                    .collect::<Vec<_>>()
            ))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_an_event_stops_routing() {
    let s = Server::start().await;
    let sc = echo_scenario(&s, "src", "src-in", "follows-src").await;
    let (hook, ev, wf) = (&sc.hook, &sc.events[0], sc.workflow());

    let first = sc.send(&s, &json!({"x": 1})).await;
    let d = finished_delivery(&s, &first, 1).await;
    assert_eq!(d["runs"][0]["status"], json!("succeeded"));

    s.api_delete(&format!("/api/v1/events/{}", ev["id"].as_str().unwrap()))
        .await
        .expect_status(204);
    s.api_get(&format!("/api/v1/events/{}", ev["id"].as_str().unwrap()))
        .await
        .expect_problem(404);

    let second = send(&s, hook, &json!({"x": 2}), &[]).await;
    let d = s.delivery(&second).await;
    assert_eq!(d["status"], json!("accepted"));
    assert_eq!(d["http_status"], json!(202));
    assert_eq!(d["routing"]["events"], json!([]), "{}", d["routing"]);
    assert_eq!(d["routing"]["runs"], json!([]));
    assert_eq!(d["runs"], json!([]));
    assert_eq!(runs_of(&s, wf).await.len(), 1, "only the first request ran");

    // The workflow now refers to an event that does not exist: invalid, saying so.
    let w = s.api_get(&format!("/api/v1/workflows/{wf}")).await;
    w.expect_status(200);
    let w = w.json();
    assert_eq!(w["validation"]["status"], json!("invalid"), "{w}");
    let errors = w["validation"]["errors"].to_string();
    assert!(
        errors.contains("src-in"),
        "the error names the missing event: {w}"
    );
}
