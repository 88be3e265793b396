//! Pictures in the browser (issue 15): a webhook's delivery charts, a workflow's run charts and
//! diagram, and a run's diagram coloured by step status — read back from the rendered SVG
//! (segments' `data-` counts and `<title>`s, boxes and frames) in Chromium. With
//! `HOOKFLOW_SCREENSHOTS=1` the pictures are saved to `docs/screenshots/` for the README.

use std::collections::BTreeMap;
use std::path::Path;

use fantoccini::Locator;
use serde_json::{Value, json};

use super::{Browser, sign_in};
use crate::common::*;

/// Each series' count summed over the chart `#id`'s segments, and the segments' hover texts.
async fn chart_counts(b: &Browser, id: &str) -> (BTreeMap<String, i64>, Vec<String>) {
    b.find(&format!("svg#{id}")).await;
    let got = b
        .client
        .execute(
            "const svg = document.getElementById(arguments[0]); const counts = {}; \
             const titles = []; \
             svg.querySelectorAll('rect.seg').forEach(r => { \
               const s = r.getAttribute('data-series'); \
               counts[s] = (counts[s] || 0) + Number(r.getAttribute('data-count')); \
               titles.push(r.querySelector('title').textContent); }); \
             return [counts, titles];",
            vec![json!(id)],
        )
        .await
        .expect("read the chart");
    let counts = got[0]
        .as_object()
        .expect("counts")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_i64().expect("count")))
        .collect();
    let titles = got[1]
        .as_array()
        .expect("titles")
        .iter()
        .map(|t| t.as_str().unwrap_or("").to_string())
        .collect();
    (counts, titles)
}

/// Saves a PNG of the element `css` as `docs/screenshots/<name>.png` when `HOOKFLOW_SCREENSHOTS`
/// is set (the README shows them).
async fn picture(b: &Browser, css: &str, name: &str) {
    if std::env::var_os("HOOKFLOW_SCREENSHOTS").is_none() {
        return;
    }
    // A window as tall as the page, so the whole element is in view.
    let (_, _, width, height) = b.client.get_window_rect().await.expect("window size");
    b.client
        .set_window_size(width as u32, 3000)
        .await
        .expect("make the window tall");
    let el = b.find(css).await;
    let png = el.screenshot().await.expect("element screenshot");
    b.client
        .set_window_size(width as u32, height as u32)
        .await
        .expect("set the window size back");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&dir).expect("create docs/screenshots");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[tokio::test]
async fn a_webhooks_charts_count_accepted_rejected_by_reason_and_duplicates() {
    let s = Server::start().await;
    let hook = s
        .create_webhook_from(json!({
            "name": "charted", "content_type": "application/json",
            "rate_limit_per_minute": 0, "rate_limit_per_day": 0,
            "dedup": {"key": "trigger.headers[\"x-event-id\"]", "window_seconds": 3600},
        }))
        .await;
    let hook_id = hook["id"].as_str().unwrap().to_string();
    for i in 0..3 {
        send(
            &s,
            &hook,
            &json!({"n": i}),
            &[("X-Event-Id", &format!("e{i}"))],
        )
        .await;
    }
    for _ in 0..2 {
        let dup = send(&s, &hook, &json!({"n": 0}), &[("X-Event-Id", "e0")]).await;
        assert_eq!(s.delivery(&dup).await["status"], "duplicate");
    }
    // Two reasons: a body of another type (once) and a body that is not JSON (twice).
    let wrong_type = s.post_hook(&hook, "text/plain", b"hi".to_vec()).await;
    let wrong_type = s.expect_rejection_recorded(&hook_id, &wrong_type).await;
    let mut not_json = Value::Null;
    for _ in 0..2 {
        let a = s
            .post_hook(&hook, "application/json", b"{not json".to_vec())
            .await;
        not_json = s.expect_rejection_recorded(&hook_id, &a).await;
    }
    let reason = |d: &Value| format!("rejected: {}", d["reason"].as_str().expect("reason"));
    let (type_reason, json_reason) = (reason(&wrong_type), reason(&not_json));
    assert_ne!(type_reason, json_reason);
    let want: BTreeMap<String, i64> = [
        ("accepted".to_string(), 3),
        ("duplicate".to_string(), 2),
        (type_reason.clone(), 1),
        (json_reason.clone(), 2),
    ]
    .into_iter()
    .collect();

    let b = Browser::start(&s.url("")).await;
    sign_in(&b, &s.token).await;
    b.open(&format!("/ui/webhooks/{hook_id}")).await;
    for chart in ["deliveries-hourly", "deliveries-daily"] {
        let (counts, titles) = chart_counts(&b, chart).await;
        assert_eq!(counts, want, "{chart}: {titles:?}");
        assert!(
            titles.iter().any(|t| t.ends_with(": 3 accepted")),
            "{chart}: {titles:?}"
        );
        // The legend names each series with its total, the most frequent reason first.
        let legend = b
            .client
            .find_all(Locator::Css(&format!("#{chart} .legend-item")))
            .await
            .expect("legend");
        let mut names = Vec::new();
        for item in legend {
            names.push(item.attr("data-series").await.unwrap().unwrap_or_default());
        }
        assert_eq!(
            names,
            [
                "accepted",
                json_reason.as_str(),
                type_reason.as_str(),
                "duplicate"
            ],
            "{chart}"
        );
    }
    let text = |css: &'static str| {
        let b = &b;
        async move {
            let el = b.find(css).await;
            el.prop("textContent").await.unwrap().unwrap_or_default()
        }
    };
    let title = text("#deliveries-hourly-title").await;
    assert_eq!(title, "Deliveries per hour, last 24 hours");
    let desc = text("#deliveries-daily-desc").await;
    assert!(
        desc.contains("accepted 3") && desc.contains("duplicate 2"),
        "{desc}"
    );
    picture(&b, "#traffic", "webhook-charts").await;
    b.close().await;
}

const CALLED: &str = "name: pictured-child\ninputs:\n  - {name: n, type: integer, default: 0}\n\
                      steps:\n  - {id: child_done, type: complete}\n";

const PICTURED: &str = r#"name: pictured
description: A condition, a loop, parallel lanes, a python step and a sub-workflow call
steps:
  - id: route
    type: condition
    branches:
      - when: "1 > 2"
        steps:
          - {id: never, type: set_variables, values: {}}
    else:
      - {id: always, type: sleep, duration: 1ms}
  - id: each
    type: for_each
    items: "{{ [1, 2, 3] }}"
    steps:
      - id: square
        type: python
        script: |
          import sys
          print(int(sys.argv[1]) ** 2)
        args: ["{{ item }}"]
  - id: fan
    type: parallel
    branches:
      - steps:
          - {id: call, type: run_workflow, workflow: pictured-child}
      - steps:
          - id: broken
            type: fail
            message: on purpose
            continue_on_error: true
  - {id: done, type: complete}
"#;

#[tokio::test]
async fn a_workflows_diagram_runs_chart_and_a_runs_coloured_diagram() {
    let s = Server::start().await;
    valid_workflow(&s, CALLED).await;
    let wf = valid_workflow(&s, PICTURED).await;
    let run = run_to_end(&s, &wf, json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let run_id = run["id"].as_str().unwrap().to_string();

    let b = Browser::start(&s.url("")).await;
    sign_in(&b, &s.token).await;
    b.open(&format!("/ui/workflows/{wf}")).await;
    // The shape: branches side by side, the loop and the lanes framed, the marks.
    b.find("#workflow-diagram svg.diagram").await;
    let shape = |css: &'static str| {
        let b = &b;
        async move {
            let found = b
                .client
                .find_all(Locator::Css(css))
                .await
                .expect("find in the diagram");
            let mut out = Vec::new();
            for el in found {
                let step = el.attr("data-step").await.unwrap().unwrap_or_default();
                let lanes = el.attr("data-lanes").await.unwrap().unwrap_or_default();
                out.push(format!("{step}:{lanes}"));
            }
            out
        }
    };
    assert_eq!(
        shape("#workflow-diagram g.group.branches").await,
        ["route:2"]
    );
    assert_eq!(shape("#workflow-diagram g.group.loop").await, ["each:1"]);
    assert_eq!(shape("#workflow-diagram g.group.parallel").await, ["fan:2"]);
    assert_eq!(shape("#workflow-diagram g.step.python").await, ["square:"]);
    assert_eq!(
        shape("#workflow-diagram g.step.sub-workflow").await,
        ["call:"]
    );
    let boxes = shape("#workflow-diagram g.step").await;
    assert_eq!(boxes.len(), 9, "every step a box: {boxes:?}");
    // The loop's body is inside its frame, each lane inside the parallel frame.
    assert!(
        b.has("#workflow-diagram g.loop[data-step='each'] g.step[data-step='square']")
            .await
    );
    assert!(
        b.has("#workflow-diagram g.parallel[data-step='fan'] g.lane g.step[data-step='broken']")
            .await
    );
    assert!(b.has("#workflow-diagram g.branches[data-step='route'] g.lane[data-label='else'] g.step[data-step='always']").await);
    // The runs chart and the percentiles of the one finished run.
    let (counts, _) = chart_counts(&b, "runs-daily").await;
    assert_eq!(counts, [("succeeded".to_string(), 1)].into_iter().collect());
    let cells = b.text_of("#run-percentiles").await;
    assert!(cells.contains("p50") && cells.contains("1 runs"), "{cells}");
    picture(&b, "#workflow-diagram", "workflow-diagram").await;
    picture(&b, "#run-charts", "workflow-runs-chart").await;

    // The run's page: each box coloured by its step's status; the branch not taken not run.
    b.open(&format!("/ui/runs/{run_id}")).await;
    b.find("#run-diagram svg.diagram").await;
    let mut statuses = BTreeMap::new();
    for el in b
        .client
        .find_all(Locator::Css("#run-diagram g.step"))
        .await
        .expect("boxes")
    {
        statuses.insert(
            el.attr("data-step").await.unwrap().unwrap_or_default(),
            el.attr("data-status").await.unwrap().unwrap_or_default(),
        );
    }
    let want: BTreeMap<String, String> = [
        ("route", "succeeded"),
        ("never", "not_run"),
        ("always", "succeeded"),
        ("each", "succeeded"),
        ("square", "succeeded"),
        ("fan", "succeeded"),
        ("call", "succeeded"),
        ("broken", "failed"),
        ("done", "succeeded"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(statuses, want);
    let fill = b
        .find("#run-diagram g.step[data-step='broken'] rect")
        .await
        .attr("fill")
        .await
        .unwrap();
    assert_eq!(fill.as_deref(), Some("#ffcdd2"), "failed is red");
    assert!(
        b.has("#run-diagram .legend-item[data-status='not_run']")
            .await
    );
    picture(&b, "#run-diagram", "run-diagram").await;
    b.close().await;
}
