//! Traces (README, "Traces"): `hookflow serve --otlp-endpoint` pointed at an OTLP/HTTP receiver
//! this test starts on 127.0.0.1, which decodes the protobuf `ExportTraceServiceRequest`s it
//! gets. A webhook request with a `traceparent` yields spans for the request, the delivery, the
//! routing, the run and each step, all in the caller's trace and linked parent to child; the
//! `http_request` step sends a `traceparent` of the same trace onwards. Requests without one,
//! or with a malformed one, start a new trace (and are still accepted).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{any, post};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::{Value, json};

use crate::common::*;

/// How long runs may take and spans may take to arrive (exported every 100 ms here).
const DEADLINE: Duration = Duration::from_secs(30);

/// One span the receiver got (ids in lower-case hex; no parent: empty).
#[derive(Debug, Clone)]
struct Got {
    trace: String,
    id: String,
    parent: String,
    name: String,
    attributes: HashMap<String, String>,
}

impl Got {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

type Spans = Arc<Mutex<Vec<Got>>>;

/// The OTLP/HTTP receiver: `POST /v1/traces` with a protobuf body.
async fn collector() -> (LocalServer, Spans) {
    let spans: Spans = Arc::default();
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(spans.clone());
    (LocalServer::start(app).await, spans)
}

async fn receive(State(spans): State<Spans>, headers: HeaderMap, body: Bytes) -> &'static str {
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/x-protobuf"),
        "OTLP/HTTP with protobuf"
    );
    let req = ExportTraceServiceRequest::decode(body).expect("an ExportTraceServiceRequest");
    let mut got = spans.lock().unwrap();
    for rs in req.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?));
        assert_eq!(service.as_deref(), Some("hookflow"), "service.name");
        for ss in rs.scope_spans {
            for s in ss.spans {
                got.push(Got {
                    trace: hex(&s.trace_id),
                    id: hex(&s.span_id),
                    parent: hex(&s.parent_span_id),
                    name: s.name,
                    attributes: s
                        .attributes
                        .into_iter()
                        .filter_map(|kv| {
                            let v = text(kv.value.as_ref()?.value.as_ref()?)?;
                            Some((kv.key, v))
                        })
                        .collect(),
                });
            }
        }
    }
    ""
}

fn text(v: &AnyValue) -> Option<String> {
    match v {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        AnyValue::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The destination of the `http_request` step: records each request's `traceparent`.
async fn destination() -> (LocalServer, Arc<Mutex<Vec<Option<String>>>>) {
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let app = Router::new()
        .route(
            "/{*path}",
            any(
                |State(seen): State<Arc<Mutex<Vec<Option<String>>>>>, headers: HeaderMap| async move {
                    let tp = headers
                        .get("traceparent")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    seen.lock().unwrap().push(tp);
                    axum::Json(json!({"ok": true}))
                },
            ),
        )
        .with_state(seen.clone());
    (LocalServer::start(app).await, seen)
}

/// A server exporting its spans to `collector` every 100 ms.
async fn exporting_server(collector: &LocalServer) -> Server {
    let endpoint = collector.base.clone();
    Server::start_with(&[
        "--otlp-endpoint",
        &endpoint,
        "--otlp-export-interval-ms",
        "100",
    ])
    .await
}

/// A server exporting to `collector`, with a webhook whose event starts a workflow of several
/// steps: a variable, a condition holding an `http_request` to `dest`, and `complete`.
async fn traced_server(collector: &LocalServer, dest: &LocalServer) -> (Server, Value) {
    let s = exporting_server(collector).await;
    let hook = s.unlimited_webhook("traced", "application/json").await;
    create_event(
        &s,
        json!({"name": "traced", "webhook_id": hook["id"].as_str().unwrap()}),
    )
    .await;
    valid_workflow(
        &s,
        &format!(
            r#"name: traced-flow
variables: [{{name: n, type: integer}}]
triggers: [{{event: traced}}]
steps:
  - {{id: count, type: set_variables, values: {{n: 1}}}}
  - id: check
    type: condition
    branches:
      - when: vars.n == 1
        steps:
          - {{id: call, type: http_request, method: post, url: "{}/hook", body: {{n: 1}}}}
  - {{id: done, type: complete, outputs: {{}}}}
"#,
            dest.base
        ),
    )
    .await;
    (s, hook)
}

/// The delivery's single run, once finished and succeeded; returns its id.
async fn finished_run(s: &Server, delivery_id: &str) -> String {
    let d = eventually(DEADLINE, || async {
        let d = s.delivery(delivery_id).await;
        let runs = d["runs"].as_array().cloned().unwrap_or_default();
        match runs.as_slice() {
            [r] if is_final(&r["status"]) => Ok(d),
            _ => Err(format!("delivery {delivery_id}: runs {runs:?}")),
        }
    })
    .await;
    let run = &d["runs"][0];
    assert_eq!(run["status"], json!("succeeded"), "{d}");
    run["id"].as_str().expect("run id").to_string()
}

/// The spans of trace `trace` once every name in `names` is among them.
async fn spans_of(spans: &Spans, trace: &str, names: &[&str]) -> Vec<Got> {
    eventually(DEADLINE, || async {
        let got: Vec<Got> = (spans.lock().unwrap().iter())
            .filter(|s| s.trace == trace)
            .cloned()
            .collect();
        let missing: Vec<&&str> = names
            .iter()
            .filter(|n| !got.iter().any(|s| s.name == **n))
            .collect();
        if missing.is_empty() {
            Ok(got)
        } else {
            Err(format!("trace {trace} lacks {missing:?}; has {got:#?}"))
        }
    })
    .await
}

/// The one span named `name`.
fn one<'a>(spans: &'a [Got], name: &str) -> &'a Got {
    let found: Vec<&Got> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one span {name:?}: {spans:#?}");
    found[0]
}

const SPAN_NAMES: [&str; 8] = [
    "POST /webhooks/{id}",
    "delivery",
    "route",
    "run traced-flow",
    "step count",
    "step check",
    "step call",
    "step done",
];

/// Asserts the parent links request → delivery → route → run → steps (`call` inside `check`)
/// and the ids the spans carry; returns the request span.
fn assert_linked(spans: &[Got], delivery_id: &str, run_id: &str) -> Got {
    let request = one(spans, "POST /webhooks/{id}");
    let delivery = one(spans, "delivery");
    let route = one(spans, "route");
    let run = one(spans, "run traced-flow");
    assert_eq!(delivery.parent, request.id, "delivery under the request");
    assert_eq!(route.parent, delivery.id, "routing under the delivery");
    assert_eq!(run.parent, route.id, "run under the routing");
    for id in ["count", "check", "done"] {
        let step = one(spans, &format!("step {id}"));
        assert_eq!(step.parent, run.id, "step {id} under the run");
        assert_eq!(step.attr("hookflow.step.id"), Some(id));
        assert_eq!(step.attr("hookflow.run.id"), Some(run_id));
        assert_eq!(step.attr("hookflow.step.status"), Some("succeeded"));
    }
    let call = one(spans, "step call");
    assert_eq!(
        call.parent,
        one(spans, "step check").id,
        "call inside check"
    );
    assert_eq!(call.attr("http.request.method"), Some("POST"));
    assert_eq!(request.attr("http.request.method"), Some("POST"));
    assert_eq!(request.attr("http.response.status_code"), Some("202"));
    assert_eq!(delivery.attr("hookflow.delivery.id"), Some(delivery_id));
    assert_eq!(delivery.attr("hookflow.delivery.status"), Some("accepted"));
    assert_eq!(run.attr("hookflow.run.id"), Some(run_id));
    assert_eq!(run.attr("hookflow.workflow.name"), Some("traced-flow"));
    assert_eq!(run.attr("hookflow.delivery.id"), Some(delivery_id));
    assert_eq!(run.attr("hookflow.run.status"), Some("succeeded"));
    request.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_with_traceparent_is_traced_to_every_step_and_onwards() {
    let (collector, spans) = collector().await;
    let (dest, seen) = destination().await;
    let (s, hook) = traced_server(&collector, &dest).await;

    let trace = random_hex(32);
    let caller = random_hex(16);
    let tp = format!("00-{trace}-{caller}-01");
    let delivery_id = send(
        &s,
        &hook,
        &json!({"x": 1}),
        &[("traceparent", &tp), ("tracestate", "vendor=abc")],
    )
    .await;
    let run_id = finished_run(&s, &delivery_id).await;

    let got = spans_of(&spans, &trace, &SPAN_NAMES).await;
    let request = assert_linked(&got, &delivery_id, &run_id);
    assert_eq!(
        request.parent, caller,
        "the request under the caller's span"
    );

    // The http_request step sent the trace onwards, with its own span as the parent.
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "one call: {sent:?}");
    let onwards = sent[0].clone().expect("the call carries traceparent");
    let call = one(&got, "step call");
    assert_eq!(onwards, format!("00-{trace}-{}-01", call.id));

    // The trace context is kept with the delivery and the run (it survives the journal).
    let stored = |table: &str| {
        format!("SELECT COUNT(*) FROM {table} WHERE id = $1 AND traceparent LIKE '00-{trace}-%'")
    };
    assert_eq!(s.db_scalar(&stored("deliveries"), &delivery_id).await, 1);
    assert_eq!(s.db_scalar(&stored("runs"), &run_id).await, 1);

    // Nothing secret in any attribute: no API key, no header value, no body.
    let key = hook["api_key"].as_str().expect("api key");
    for span in &got {
        for (k, v) in &span.attributes {
            assert!(!v.contains(key), "{k} holds the API key");
            assert!(
                !v.contains("vendor=abc") && !v.contains("\"x\""),
                "{k} = {v}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_or_with_a_malformed_traceparent_a_request_starts_a_new_trace() {
    let (collector, spans) = collector().await;
    let (dest, seen) = destination().await;
    let (s, hook) = traced_server(&collector, &dest).await;

    let bad_trace = random_hex(32).to_uppercase();
    let malformed = format!("00-{bad_trace}-{}-01", random_hex(16));
    for headers in [vec![], vec![("traceparent", malformed.as_str())]] {
        // `send` asserts the 202.
        let delivery_id = send(&s, &hook, &json!({"x": 2}), &headers).await;
        let run_id = finished_run(&s, &delivery_id).await;
        let trace = eventually(DEADLINE, || async {
            (spans.lock().unwrap().iter())
                .find(|g| {
                    g.name == "delivery" && g.attr("hookflow.delivery.id") == Some(&delivery_id)
                })
                .map(|g| g.trace.clone())
                .ok_or_else(|| format!("no delivery span for {delivery_id}"))
        })
        .await;
        assert_ne!(
            trace,
            bad_trace.to_lowercase(),
            "the malformed trace id is not used"
        );
        let got = spans_of(&spans, &trace, &SPAN_NAMES).await;
        let request = assert_linked(&got, &delivery_id, &run_id);
        assert_eq!(
            request.parent, "",
            "a new trace: the request span is its root"
        );
    }
    // Each request's call carried its own new trace onwards.
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().all(|t| t.is_some()), "{sent:?}");
    assert_ne!(sent[0], sent[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_resumed_by_a_new_process_joins_its_request_trace() {
    let (collector, spans) = collector().await;
    let mut s = exporting_server(&collector).await;
    let sc = Scenario::new(&s, "slept")
        .event("slept")
        .workflow("name: slept-flow\ntriggers:\n  - event: slept\nsteps:\n  \
         - {id: nap, type: sleep, duration: 2s}\n  - {id: after, type: set_variables, values: {}}\n")
        .await;
    let hook = &sc.hook;
    let trace = random_hex(32);
    let tp = format!("00-{trace}-{}-01", random_hex(16));
    let delivery_id = send(&s, hook, &json!({}), &[("traceparent", &tp)]).await;
    // The first process exported its spans up to the sleep; then it dies without a word.
    spans_of(&spans, &trace, &["route", "run slept-flow", "step nap"]).await;
    s.kill9();
    s.restart().await;
    let run_id = finished_run(&s, &delivery_id).await;

    // The second execution's run span ends after its last step: it may be exported in a later
    // batch than "step after".
    let got = eventually(DEADLINE, || async {
        let got = spans_of(&spans, &trace, &["step after"]).await;
        let runs = got.iter().filter(|g| g.name == "run slept-flow").count();
        if runs >= 2 {
            Ok(got)
        } else {
            Err(format!("{runs} run span(s) so far"))
        }
    })
    .await;
    let route = one(&got, "route");
    let runs: Vec<&Got> = got.iter().filter(|g| g.name == "run slept-flow").collect();
    assert_eq!(runs.len(), 2, "one run span per execution: {got:#?}");
    for r in &runs {
        assert_eq!(r.parent, route.id, "each execution under the routing span");
        assert_eq!(r.attr("hookflow.run.id"), Some(run_id.as_str()));
    }
    let with_status = |status: &str| {
        (runs.iter())
            .find(|r| r.attr("hookflow.run.status") == Some(status))
            .unwrap_or_else(|| panic!("an execution that ended {status}: {runs:#?}"))
    };
    with_status("waiting");
    let resumed = with_status("succeeded");
    assert_eq!(one(&got, "step after").parent, resumed.id);
    // The sleep has a span in each execution: waiting, then done.
    let naps: Vec<&Got> = got.iter().filter(|g| g.name == "step nap").collect();
    assert_eq!(naps.len(), 2, "{naps:#?}");
}
