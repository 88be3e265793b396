//! The management API (SPEC §5) beyond webhook CRUD: the OpenAPI document against the real
//! router, `/healthz`, `/metrics`, list pagination, input errors, the deliveries filter and
//! `--public-url`.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

const JSON: &str = "application/json";

/// Every (method, path) the router serves. Keep in step with `hookflow_server::router`.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/webhooks/{id}"),
    ("post", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks/{id}"),
    ("patch", "/api/v1/webhooks/{id}"),
    ("delete", "/api/v1/webhooks/{id}"),
    ("post", "/api/v1/webhooks/{id}/rotate-key"),
    ("get", "/api/v1/webhooks/{id}/checklist"),
    ("get", "/api/v1/webhooks/{id}/deliveries"),
    ("post", "/api/v1/webhooks/{id}/replay"),
    ("get", "/api/v1/deliveries/{id}"),
    ("post", "/api/v1/deliveries/{id}/replay"),
    ("post", "/api/v1/events"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/events/{id}"),
    ("patch", "/api/v1/events/{id}"),
    ("delete", "/api/v1/events/{id}"),
    ("post", "/api/v1/events/{id}/test"),
    ("post", "/api/v1/workflows"),
    ("get", "/api/v1/workflows"),
    ("get", "/api/v1/workflows/{id}"),
    ("put", "/api/v1/workflows/{id}"),
    ("patch", "/api/v1/workflows/{id}"),
    ("delete", "/api/v1/workflows/{id}"),
    ("post", "/api/v1/workflows/{id}/validate"),
    ("post", "/api/v1/workflows/{id}/runs"),
    ("get", "/api/v1/workflows/{id}/versions"),
    ("get", "/api/v1/workflows/{id}/versions/{n}"),
    ("get", "/api/v1/runs"),
    ("get", "/api/v1/runs/{id}"),
    ("post", "/api/v1/runs/{id}/cancel"),
    ("get", "/api/v1/secrets"),
    ("put", "/api/v1/secrets/{name}"),
    ("delete", "/api/v1/secrets/{name}"),
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/api/openapi.json"),
];

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn id(v: &Value) -> &str {
    v["id"].as_str().expect("id")
}

async fn get_without_token(s: &Server, path: &str) -> Answer {
    Answer::send(s.client.get(s.url(path))).await
}

/// `GET path` without a token, which must answer 200 with JSON.
async fn json_without_token(s: &Server, path: &str) -> Answer {
    let a = get_without_token(s, path).await;
    a.expect_status(200);
    let ct = a.header("content-type").unwrap_or("");
    assert!(
        ct.starts_with("application/json"),
        "{path}: {:?}",
        a.headers
    );
    a
}

/// Follows every `$ref` in `v` and asserts it resolves inside `doc`.
fn assert_refs_resolve(doc: &Value, v: &Value) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                let pointer = r
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("only local $refs expected, got {r}"));
                assert!(doc.pointer(pointer).is_some(), "$ref {r} does not resolve");
            }
            m.values().for_each(|x| assert_refs_resolve(doc, x));
        }
        Value::Array(a) => a.iter().for_each(|x| assert_refs_resolve(doc, x)),
        _ => {}
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn schema_props(doc: &Value, name: &str) -> BTreeSet<String> {
    keys(&doc["components"]["schemas"][name]["properties"])
}

fn schema_required(doc: &Value, name: &str) -> BTreeSet<String> {
    doc["components"]["schemas"][name]["required"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().expect("required name").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openapi_document_describes_the_router() {
    let s = Server::start().await;
    let a = json_without_token(&s, "/api/openapi.json").await;
    let doc = a.json();
    let version = doc["openapi"].as_str().expect("`openapi` field");
    assert!(version.starts_with("3.1."), "OpenAPI 3.1, got {version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert_refs_resolve(&doc, &doc);
    // Every operation is described: a summary, each parameter and answer (the check itself is
    // shown to fail on an undescribed operation in hookflow-server's `openapi` tests).
    let gaps = hookflow_server::openapi::gaps(&doc);
    assert!(
        gaps.is_empty(),
        "undescribed in the document:\n{}",
        gaps.join("\n")
    );

    // The document and the router name the same operations.
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if HTTP_METHODS.contains(&method.as_str()) {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected, "documented operations vs the router");

    // Bearer security on /api/v1, none elsewhere.
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("securitySchemes");
    let bearer: Vec<&String> = schemes
        .iter()
        .filter(|(_, v)| v["type"] == "http" && v["scheme"] == "bearer")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(bearer.len(), 1, "one bearer scheme: {schemes:?}");
    let bearer = bearer[0];
    for (method, path) in &expected {
        let op = &doc["paths"][path][method];
        let security = op.get("security").or(doc.get("security"));
        let names: Vec<String> = security
            .and_then(Value::as_array)
            .map(|reqs| reqs.iter().flat_map(keys).collect())
            .unwrap_or_default();
        if path.starts_with("/api/v1/") {
            assert_eq!(
                names,
                vec![bearer.clone()],
                "{method} {path} needs the token"
            );
        } else {
            assert!(
                names.is_empty(),
                "{method} {path} needs no token: {names:?}"
            );
        }
    }

    let ingest = &doc["paths"]["/webhooks/{id}"]["post"];
    for code in [
        "202", "400", "401", "405", "406", "413", "415", "429", "503",
    ] {
        assert!(
            ingest["responses"].get(code).is_some(),
            "ingest response {code}"
        );
    }
    assert!(ingest["responses"]["202"]["headers"]["X-Delivery-Id"].is_object());
    let params: Vec<(String, String)> = ingest["parameters"]
        .as_array()
        .expect("ingest parameters")
        .iter()
        .map(|p| {
            (
                p["in"].as_str().unwrap_or("").to_string(),
                p["name"].as_str().unwrap_or("").to_lowercase(),
            )
        })
        .collect();
    for p in [
        ("query", "api_key"),
        ("header", "x-api-key"),
        ("path", "id"),
    ] {
        assert!(
            params.contains(&(p.0.to_string(), p.1.to_string())),
            "ingest parameter {p:?} in {params:?}"
        );
    }
    for name in [
        "Webhook",
        "WebhookCreate",
        "WebhookPatch",
        "WebhookList",
        "Delivery",
        "DeliveryList",
        "Problem",
    ] {
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "schema {name}"
        );
    }
    assert_eq!(
        schema_props(&doc, "WebhookList"),
        ["items", "next_cursor"].map(String::from).into(),
    );
    // The deliveries list also says how far back history goes.
    assert_eq!(
        schema_props(&doc, "DeliveryList"),
        ["items", "next_cursor", "retention"]
            .map(String::from)
            .into(),
    );
    assert_eq!(
        schema_required(&doc, "Problem"),
        ["type", "title", "status", "detail"]
            .map(String::from)
            .into()
    );
    // A run's steps come a page at a time.
    let get_run = &doc["paths"]["/api/v1/runs/{id}"]["get"];
    let params: BTreeSet<String> = get_run["parameters"]
        .as_array()
        .expect("getRun parameters")
        .iter()
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect();
    for p in ["steps_limit", "steps_cursor"] {
        assert!(params.contains(p), "getRun parameter {p}: {params:?}");
    }
    let run_props = schema_props(&doc, "Run");
    for f in ["steps", "steps_total", "steps_next_cursor"] {
        assert!(run_props.contains(f), "Run field {f}: {run_props:?}");
    }
    let fields: BTreeSet<String> = [
        "name",
        "content_type",
        "rate_limit_per_minute",
        "rate_limit_per_day",
        "dedup",
        "verification",
    ]
    .map(String::from)
    .into();
    assert_eq!(schema_props(&doc, "WebhookCreate"), fields);
    assert_eq!(schema_props(&doc, "WebhookPatch"), fields);

    // The schemas name the fields the server really sends.
    let hook = s.unlimited_webhook("documented", JSON).await;
    assert_eq!(schema_props(&doc, "Webhook"), keys(&hook), "Webhook fields");
    assert!(schema_required(&doc, "Webhook").is_subset(&keys(&hook)));
    s.post_empty(&hook).await.expect_status(202);
    let listed = s.deliveries(id(&hook)).await;
    let one = s.delivery(id(&listed[0])).await;
    let props = schema_props(&doc, "Delivery");
    for d in [&listed[0], &one] {
        assert!(
            keys(d).is_subset(&props),
            "undocumented Delivery fields: {:?}",
            keys(d).difference(&props).collect::<Vec<_>>()
        );
        assert!(schema_required(&doc, "Delivery").is_subset(&keys(d)));
    }
    let health = get_without_token(&s, "/healthz").await.json();
    assert!(keys(&health).is_subset(&schema_props(&doc, "Health")));

    // Every documented operation is routed: none gets the router's "no such route" 404 or a 405.
    let api_fallback = s.api_get("/api/v1/no-such-route").await.expect_problem(404);
    let root_fallback = s.api_get("/no-such-route").await.expect_problem(404);
    let unknown = "0190f2a0-0000-7000-8000-000000000000";
    for (method, path) in &expected {
        let concrete = path.replace("{id}", unknown);
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let body = matches!(method.as_str(), "post" | "patch").then(|| json!({}));
        let a = s.api(m, &concrete, body).await;
        assert_ne!(a.status, 405, "{method} {concrete}: {a:?}");
        if a.status == 404 {
            let detail = &a.json()["detail"];
            assert!(
                *detail != api_fallback["detail"] && *detail != root_fallback["detail"],
                "{method} {concrete} is not routed: {detail}"
            );
        }
    }
}

/// A data directory on a filesystem with less free space than `--min-free-disk-mb` makes the
/// server unhealthy, and the answer says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn healthz_is_503_when_the_disk_is_nearly_full() {
    // More megabytes than any test machine's disk has free.
    let s = Server::start_with(&["--min-free-disk-mb", "1000000000000"]).await;
    let a = get_without_token(&s, "/healthz").await;
    a.expect_status(503);
    let h = a.json();
    assert_eq!(h["status"], json!("unavailable"), "{h}");
    let problems = h["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{h}");
    let why = problems[0].as_str().unwrap_or("");
    assert!(
        why.starts_with("low disk space: ")
            && why.contains("less than --min-free-disk-mb 1000000000000"),
        "{h}"
    );
    assert!(h["disk_free_mb"].is_u64(), "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn healthz_answers_json_without_token() {
    let s = Server::start().await;
    let a = json_without_token(&s, "/healthz").await;
    let h = a.json();
    assert_eq!(h["status"], json!("ok"), "{h}");
    assert_eq!(h["database"], json!(backend_name()), "{h}");
    assert!(h["journal_queue_depth"].is_u64(), "{h}");
    assert!(h["disk_free_mb"].as_u64().is_some_and(|mb| mb >= 64), "{h}");
    assert!(h.get("problems").is_none(), "{h}");

    // Wrong method: a problem answer naming what is allowed.
    let a = Answer::send(s.client.post(s.url("/healthz"))).await;
    a.expect_problem(405);
    assert!(a.header("allow").unwrap_or("").contains("GET"), "{a:?}");

    // stderr is a file here, not a terminal: plain text, no colour codes.
    let log = s.log();
    assert!(log.contains("hookflow listening"), "{log}");
    assert!(!log.contains('\x1b'), "colour codes in a log file:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_count_requests_by_status_and_carry_no_keys() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("metered", JSON).await;
    let key = hook["api_key"].as_str().expect("api_key").to_string();
    for _ in 0..2 {
        s.post_accepted(&hook, JSON, b"{\"n\":1}".to_vec()).await;
    }
    s.post_refused(&hook, "text/plain", b"hi".to_vec(), 415)
        .await;
    let wrong = s
        .post_hook_with_key(&hook, "not-the-key", JSON, b"{}")
        .await;
    wrong.expect_problem(401);
    // The key in a header too: it must not reach the metrics either.
    let a = Answer::send(
        s.client
            .post(s.url(&format!("/webhooks/{}", id(&hook))))
            .header("x-api-key", &key)
            .header("accept", JSON)
            .header("content-type", JSON)
            .body("{}"),
    )
    .await;
    a.expect_status(202);

    let text = eventually(Duration::from_secs(10), || async {
        let a = get_without_token(&s, "/metrics").await;
        if a.status != 200 {
            return Err(format!("/metrics answered {}", a.status));
        }
        let text = a.text();
        for line in [
            "hookflow_webhook_requests_total{status=\"202\"} 3",
            "hookflow_webhook_requests_total{status=\"415\"} 1",
            "hookflow_webhook_requests_total{status=\"401\"} 1",
        ] {
            if !text.lines().any(|l| l.trim() == line) {
                return Err(format!("no line {line:?} in:\n{text}"));
            }
        }
        // On SQLite the checkpointer copies the journal's commits into the database file
        // (within 100 ms of a commit), and counts each copy.
        let copies = text
            .lines()
            .find_map(|l| l.strip_prefix("hookflow_journal_checkpoint_seconds_count "))
            .and_then(|n| n.trim().parse::<u64>().ok());
        match (crate::common::backend_name(), copies) {
            ("sqlite", None | Some(0)) => return Err(format!("no WAL copy counted in:\n{text}")),
            ("postgres", Some(_)) => return Err(format!("WAL copies on PostgreSQL:\n{text}")),
            _ => {}
        }
        Ok(text)
    })
    .await;
    assert!(text.contains("# TYPE hookflow_webhook_requests_total counter"));
    for name in [
        "hookflow_journal_batch_size",
        "hookflow_journal_commit_seconds",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} in:\n{text}"
        );
    }
    // The batch size is a count: its buckets are 1, 2, 4, … 4096, not seconds.
    let batch_buckets: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("hookflow_journal_batch_size_bucket{le=\""))
        .filter_map(|l| l.split_once('"').map(|(le, _)| le))
        .collect();
    let counts: Vec<String> = (0..=12).map(|i| (1u32 << i).to_string()).collect();
    let mut want: Vec<&str> = counts.iter().map(String::as_str).collect();
    want.push("+Inf");
    assert_eq!(batch_buckets, want, "batch size buckets in:\n{text}");
    assert!(
        text.contains("hookflow_journal_commit_seconds_bucket{le=\"0.0005\"}"),
        "commit time keeps its seconds buckets:\n{text}"
    );
    for secret in [key.as_str(), &pct(&key), &s.token] {
        assert!(
            !text.contains(secret),
            "metrics leak a key or token:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_list_pages_newest_first() {
    let s = Server::start().await;
    let mut created = Vec::new();
    for i in 0..7 {
        let h = s
            .create_webhook(&format!("page-{i}"), JSON, None, None)
            .await;
        created.push(id(&h).to_string());
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut path = "/api/v1/webhooks?limit=3".to_string();
    loop {
        let a = s.api_get(&path).await;
        a.expect_status(200);
        let page = a.json();
        let items = page["items"].as_array().expect("items");
        sizes.push(items.len());
        seen.extend(items.iter().map(|w| id(w).to_string()));
        match &page["next_cursor"] {
            Value::String(c) => {
                assert!(sizes.len() < 5, "too many pages: {sizes:?}");
                path = format!("/api/v1/webhooks?limit=3&cursor={}", pct(c));
            }
            Value::Null => break,
            other => panic!("next_cursor must be a string or null, got {other}"),
        }
    }
    assert_eq!(sizes, vec![3, 3, 1], "page sizes");
    assert_eq!(seen, newest_first, "every webhook once, newest first");

    // Without limit: one page with everything and no cursor.
    let all = s.api_get("/api/v1/webhooks").await;
    all.expect_status(200);
    let all = all.json();
    assert_eq!(all["next_cursor"], Value::Null);
    let ids: Vec<String> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|w| id(w).to_string())
        .collect();
    assert_eq!(ids, newest_first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_parameters_are_checked() {
    let s = Server::start().await;
    let hook = s.json_webhook("params").await;
    let deliveries = format!("/api/v1/webhooks/{}/deliveries", id(&hook));
    for base in ["/api/v1/webhooks", deliveries.as_str()] {
        for q in ["limit=0", "limit=501", "limit=-1", "limit=ten"] {
            s.api_get(&format!("{base}?{q}"))
                .await
                .expect_problem_saying(400, "limit");
        }
        for q in ["limit=1", "limit=500"] {
            s.api_get(&format!("{base}?{q}")).await.expect_status(200);
        }
        // Not base64, and base64 of something that is no position in a list.
        for cursor in ["not*a*cursor", "aGVsbG8", "%FF"] {
            s.api_get(&format!("{base}?cursor={cursor}"))
                .await
                .expect_problem_saying(400, "cursor");
        }
    }
    s.api_get(&format!("{deliveries}?status=pending"))
        .await
        .expect_problem_saying(400, "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_routes_and_methods_are_problems() {
    let s = Server::start().await;
    for path in [
        "/api/v1/nope",
        "/api/v1/events/x/nope",
        "/api/v2/webhooks",
        "/nope",
    ] {
        let a = s.api_get(path).await;
        a.expect_problem(404);
    }
    // Without the token an unknown API route does not reveal anything either.
    get_without_token(&s, "/api/v1/nope")
        .await
        .expect_problem(401);
    let a = s
        .api(Method::PUT, "/api/v1/webhooks", Some(json!({})))
        .await;
    a.expect_problem(405);
    let allow = a.header("allow").unwrap_or("").to_ascii_uppercase();
    assert!(allow.contains("GET") && allow.contains("POST"), "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_input_errors() {
    let s = Server::start().await;
    let hook = s.create_webhook("inputs", JSON, Some(7), Some(70)).await;
    s.json_webhook("taken").await;
    let path = format!("/api/v1/webhooks/{}", id(&hook));

    let p = s.api_patch(&path, json!({"nmae": "typo"})).await;
    p.expect_problem_saying(400, "nmae");

    let p = s
        .api_patch(&path, json!({"content_type": "text/plain"}))
        .await
        .expect_problem(422);
    let detail = p["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("text/plain") && detail.contains("application/x-www-form-urlencoded"),
        "names the received and the supported types: {p}"
    );
    for field in ["rate_limit_per_minute", "rate_limit_per_day"] {
        s.api_patch(&path, json!({ field: -1 }))
            .await
            .expect_problem_saying(422, field);
        s.post_webhook(json!({"name": format!("neg-{field}"), "content_type": JSON, field: -5}))
            .await
            .expect_problem_saying(422, field);
    }
    s.api_patch(&path, json!({"name": "   "}))
        .await
        .expect_problem(422);
    s.api_patch(&path, json!({"name": "taken"}))
        .await
        .expect_problem(409);
    s.api_patch(&path, json!({"rate_limit_per_minute": "many"}))
        .await
        .expect_problem(400);
    let a = Answer::send(
        s.client
            .patch(s.url(&path))
            .bearer_auth(&s.token)
            .header("content-type", JSON)
            .body("{\"name\": "),
    )
    .await;
    a.expect_problem(400);
    s.patch_webhook(&unknown_id_like(id(&hook)), json!({"name": "ghost"}))
        .await
        .expect_problem(404);
    let rotate = format!("{path}/rotate-key");
    s.api_post(&rotate, json!({"grace_seconds": 99_999_999}))
        .await
        .expect_problem(422);
    s.api_post(&rotate, json!({"grace": 10}))
        .await
        .expect_problem(400);

    // Nothing above changed the webhook.
    let now = s.api_get(&path).await;
    now.expect_status(200);
    assert_eq!(now.json(), hook, "failed calls leave the webhook as it was");

    // A valid patch changes only what it names; content types are stored canonically.
    let a = s
        .api_patch(
            &path,
            json!({"name": "renamed", "content_type": "Application/JSON ; Charset=UTF-8"}),
        )
        .await;
    a.expect_status(200);
    let w = a.json();
    assert_eq!(w["name"], json!("renamed"));
    assert_eq!(w["content_type"], json!("application/json; charset=utf-8"));
    assert_eq!(w["rate_limit_per_minute"], json!(7));
    assert_eq!(w["rate_limit_per_day"], json!(70));
    assert_eq!(w["api_key"], hook["api_key"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_filter_by_status() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("filtered", JSON).await;
    let mut accepted = BTreeSet::new();
    for i in 0..3 {
        let a = s
            .post_hook(&hook, JSON, format!("{{\"i\":{i}}}").into_bytes())
            .await;
        a.expect_status(202);
        accepted.insert(
            a.header("x-delivery-id")
                .expect("X-Delivery-Id")
                .to_string(),
        );
    }
    s.post_refused(&hook, "application/xml", b"<a/>".to_vec(), 415)
        .await;
    s.post_refused(&hook, JSON, b"{oops".to_vec(), 400).await;

    let base = format!("/api/v1/webhooks/{}/deliveries", id(&hook));
    let by = |status: &'static str| {
        let path = format!("{base}?status={status}");
        let s = &s;
        async move {
            let a = s.api_get(&path).await;
            a.expect_status(200);
            a.json()["items"].as_array().expect("items").clone()
        }
    };
    let rejected = eventually(Duration::from_secs(10), || async {
        let items = by("rejected").await;
        if items.len() == 2 {
            Ok(items)
        } else {
            Err(format!("{} rejected deliveries: {items:?}", items.len()))
        }
    })
    .await;
    assert!(rejected.iter().all(|d| d["status"] == "rejected"));
    let codes: Vec<&Value> = rejected.iter().map(|d| &d["http_status"]).collect();
    assert_eq!(codes, vec![&json!(400), &json!(415)], "newest first");
    assert!(
        rejected[1]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("application/xml"),
        "the reason names the received type: {}",
        rejected[1]
    );

    let ok = by("accepted").await;
    let ok_ids: BTreeSet<String> = ok.iter().map(|d| id(d).to_string()).collect();
    assert_eq!(ok_ids, accepted);
    assert!(
        ok.iter()
            .all(|d| d["status"] == "accepted" && d["http_status"] == json!(202))
    );

    let all = s.deliveries(id(&hook)).await;
    assert_eq!(all.len(), 5);
    let a = s.api_get(&format!("{base}?status=rejected&limit=1")).await;
    a.expect_status(200);
    let page = a.json();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    let next = page["next_cursor"].as_str().expect("a second page");
    let a = s
        .api_get(&format!(
            "{base}?status=rejected&limit=1&cursor={}",
            pct(next)
        ))
        .await;
    a.expect_status(200);
    let page = a.json();
    assert_eq!(page["items"][0]["http_status"], json!(415));
    assert_eq!(page["next_cursor"], Value::Null);

    s.api_get(&format!(
        "/api/v1/webhooks/{}/deliveries",
        unknown_id_like(id(&hook))
    ))
    .await
    .expect_problem(404);
    s.api_get(&format!(
        "/api/v1/deliveries/{}",
        unknown_id_like(id(&hook))
    ))
    .await
    .expect_problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn public_url_is_the_base_of_webhook_urls() {
    let public = "https://hooks.example.test/in";
    let s = Server::start_with(&["--public-url", &format!("{public}/")]).await;
    let hook = s.unlimited_webhook("public", JSON).await;
    let key = hook["api_key"].as_str().expect("api_key");
    let want = format!("{public}/webhooks/{}?api_key={}", id(&hook), pct(key));
    assert_eq!(hook["url"], json!(want));
    let shown = s.api_get(&format!("/api/v1/webhooks/{}", id(&hook))).await;
    assert_eq!(shown.json()["url"], json!(want));
    let listed = s.api_get("/api/v1/webhooks").await.json();
    assert_eq!(listed["items"][0]["url"], json!(want));
    let rotated = s.rotate_key(&hook).await;
    assert!(
        rotated["url"]
            .as_str()
            .unwrap_or("")
            .starts_with(&format!("{public}/webhooks/")),
        "{rotated}"
    );
    // The public URL only changes what is shown; the server still listens where it did.
    s.post_empty(&rotated).await.expect_status(202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn empty_public_url_means_the_listen_address() {
    let s = Server::start_with(&["--public-url", ""]).await;
    let hook = s.json_webhook("default-base").await;
    assert_eq!(hook["url"], json!(s.hook_url(&hook)));
}
