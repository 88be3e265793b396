//! SPEC §2 (receiving a webhook), row by row of its table, and the management API's token check
//! (§5). Every error answer is checked as problem+json; every rejection of a known webhook is
//! looked up in its delivery list.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

const JSON: &str = "application/json";
const JSON_UTF8: &str = "application/json; charset=utf-8";
const FORM: &str = "application/x-www-form-urlencoded";
const XML: &str = "application/xml";
const MIB: usize = 1_048_576;

fn id(hook: &Value) -> &str {
    hook["id"].as_str().expect("webhook id")
}

fn key(hook: &Value) -> &str {
    hook["api_key"].as_str().expect("webhook api_key")
}

fn count(items: &[Value], f: impl Fn(&Value) -> bool) -> usize {
    items.iter().filter(|d| f(d)).count()
}

fn is_accepted(d: &Value) -> bool {
    d["status"] == "accepted"
}

fn is_rejected_with(status: u16) -> impl Fn(&Value) -> bool {
    move |d: &Value| d["status"] == "rejected" && d["http_status"] == json!(status)
}

/// A JSON string literal of exactly `len` bytes (`len` ≥ 2).
fn json_string_of_len(len: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(len);
    b.push(b'"');
    b.resize(len - 1, b'a');
    b.push(b'"');
    b
}

fn retry_after(a: &Answer) -> u64 {
    let v = a
        .header("retry-after")
        .unwrap_or_else(|| panic!("a 429 must carry Retry-After: {:?}", a.headers));
    v.trim()
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After must be whole seconds, got {v:?}"))
}

/// Sends the same kind of request `n` times, `parallel` at a time; returns the answers.
async fn post_many(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    n: usize,
    parallel: usize,
) -> Vec<Answer> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..parallel {
        let next = next.clone();
        let client = client.clone();
        let url = url.to_string();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let body = body.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while next.fetch_add(1, Ordering::SeqCst) < n {
                let mut req = client.post(&url).body(body.clone());
                for (h, v) in &headers {
                    req = req.header(h.as_str(), v.as_str());
                }
                let resp = req.send().await.expect("POST webhook");
                out.push(Answer::from_response(resp).await);
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all
}

/// One POST on a client of its own (no pooled connection shared with later requests).
async fn post_once(url: &str, content_type: &str, body: Vec<u8>) -> Answer {
    post_to(&reqwest::Client::new(), url, content_type, body).await
}

// ---------------------------------------------------------------------------------------------
// Check 1: method.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_method_is_405_with_allow_post_and_recorded() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("m405", JSON).await;

    for method in [Method::GET, Method::PUT] {
        let resp = s
            .client
            .request(method.clone(), s.hook_url(&hook))
            .header("accept", JSON)
            .header("content-type", JSON)
            .body(if method == Method::GET { "" } else { "{}" })
            .send()
            .await
            .expect("send");
        let a = Answer::from_response(resp).await;
        a.expect_problem(405);
        assert_eq!(
            a.header("allow").map(str::trim),
            Some("POST"),
            "405 must carry Allow: POST"
        );
        let d = s.expect_rejection_recorded(id(&hook), &a).await;
        assert_eq!(d["method"], json!(method.as_str()), "recorded method: {d}");
    }

    // Check 1 comes before the key check: a GET without any key is still a 405.
    let a = get_json(&s, &format!("/webhooks/{}", id(&hook))).await;
    a.expect_problem(405);
    assert_eq!(a.header("allow").map(str::trim), Some("POST"));

    // An unknown id: 405 as well, and nothing recorded on the known webhook.
    let unknown = unknown_id_like(id(&hook));
    let a = get_json(
        &s,
        &format!("/webhooks/{unknown}?api_key={}", pct(key(&hook))),
    )
    .await;
    a.expect_problem(405);
    assert_eq!(a.header("allow").map(str::trim), Some("POST"));

    let all = eventually(Duration::from_secs(10), || async {
        let all = s.deliveries(id(&hook)).await;
        if all.len() >= 3 {
            Ok(all)
        } else {
            Err(format!(
                "3 rejected deliveries expected, have {}",
                all.len()
            ))
        }
    })
    .await;
    assert_eq!(
        all.len(),
        3,
        "GET with key, PUT, GET without key are recorded; the unknown id is not: {all:?}"
    );
    assert_eq!(count(&all, is_rejected_with(405)), 3);
}

// ---------------------------------------------------------------------------------------------
// Check 2: webhook exists and the key matches.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_key_and_unknown_webhook_get_the_same_401() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("k401", JSON).await;
    let real = key(&hook).to_string();
    // 44 characters in the base64 alphabet, like a real key.
    let wrong = format!("{}Wr0ng+Key/", random_hex(33));
    let wrong_header = format!("{}Hdr+Key/", random_hex(36));

    let a_wrong = s
        .post_hook_with_key(&hook, &wrong, JSON, b"{\"x\":1}")
        .await;
    let p_wrong = a_wrong.expect_problem(401);

    let unknown = unknown_id_like(id(&hook));
    let a_unknown = s
        .post_hook(
            &json!({"id": unknown, "api_key": real}),
            JSON,
            b"{\"x\":1}".to_vec(),
        )
        .await;
    let p_unknown = a_unknown.expect_problem(401);
    assert_eq!(p_wrong["type"], p_unknown["type"]);
    assert_eq!(p_wrong["title"], p_unknown["title"]);
    assert_eq!(
        p_wrong["detail"], p_unknown["detail"],
        "an unknown webhook and a wrong key must get the same answer"
    );

    // A wrong key in the X-Api-Key header: the same answer.
    let a_header = post_key_header(&s, &hook, &wrong_header, "{\"x\":2}").await;
    let p_header = a_header.expect_problem(401);
    assert_eq!(p_header["detail"], p_wrong["detail"]);

    // Both wrong-key requests are recorded, the unknown-id one is not.
    let all = eventually(Duration::from_secs(10), || async {
        let all = s.deliveries(id(&hook)).await;
        if count(&all, is_rejected_with(401)) >= 2 {
            Ok(all)
        } else {
            Err(format!("2 rejected 401 deliveries expected: {all:?}"))
        }
    })
    .await;
    assert_eq!(all.len(), 2, "only the two wrong-key requests: {all:?}");
    let secrets = [
        real.clone(),
        pct(&real),
        wrong.clone(),
        pct(&wrong),
        wrong_header.clone(),
        pct(&wrong_header),
    ];
    let mut saw_header_variant = false;
    for item in &all {
        assert_eq!(item["reason"], p_wrong["detail"], "reason = detail: {item}");
        let d = s.delivery(item["id"].as_str().expect("id")).await;
        let text = d.to_string();
        for k in &secrets {
            assert!(
                !text.contains(k.as_str()),
                "a key value was recorded in delivery {text}"
            );
        }
        assert!(
            d["query"].get("api_key").is_none(),
            "api_key must not be among the recorded query parameters: {d}"
        );
        if let Some(h) = d["headers"].get("x-api-key") {
            saw_header_variant = true;
            assert_ne!(h, &json!(wrong_header), "X-Api-Key must be masked");
        }
    }
    assert!(
        saw_header_variant,
        "the X-Api-Key request should be recorded with its header present (masked): {all:?}"
    );

    // Metrics carry no keys either.
    let text = s.metrics().await;
    for k in &secrets {
        assert!(!text.contains(k.as_str()), "a key appears in /metrics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_key_works_raw_percent_encoded_and_in_header() {
    let s = Server::start().await;
    let mut hook = s.unlimited_webhook("keys", JSON).await;
    // Keys are random: rotate until one holds a `+` (each 44-char key has one with p ≈ 0.5).
    let mut rotations = 0;
    while !key(&hook).contains('+') && rotations < 50 {
        hook = s.rotate_key(&hook).await;
        rotations += 1;
    }
    let k = key(&hook).to_string();
    assert!(k.contains('+'), "no key with a '+' after 50 rotations");
    assert_eq!(k.len(), 44, "api_key is 44 characters: {k}");
    assert!(
        k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
        "api_key is standard base64 without padding: {k}"
    );
    assert_eq!(
        hook["url"],
        json!(s.hook_url(&hook)),
        "url is the full Webhook URL with the percent-encoded key"
    );

    // Percent-encoded (%2B, and %2F if the key has a '/'): the `url` as given.
    let resp = s
        .client
        .post(hook["url"].as_str().expect("url"))
        .header("accept", JSON)
        .header("content-type", JSON)
        .body("{\"via\":\"encoded\"}")
        .send()
        .await
        .expect("send");
    Answer::from_response(resp).await.expect_status(202);

    // Raw: `+` and `/` unencoded in the query string.
    let target = format!("/webhooks/{}?api_key={k}", id(&hook));
    let body = b"{\"via\":\"raw\"}";
    let len = body.len().to_string();
    let a = raw_json_post(&s, &target, ("Content-Length", &len), body).await;
    a.expect_status(202);

    // In the X-Api-Key header.
    let a = post_key_header(&s, &hook, &k, "{\"via\":\"header\"}").await;
    let d = s.delivery(&a.accepted_id()).await;
    let h = d["headers"]
        .get("x-api-key")
        .expect("x-api-key header recorded (masked)");
    assert_ne!(h, &json!(k), "X-Api-Key must be masked in the record");
    assert!(!d.to_string().contains(&k), "key recorded: {d}");

    // A `+` is a plus: the key with a space in its place is a different key.
    let spaced = k.replace('+', " ");
    let a = s.post_hook_with_key(&hook, &spaced, JSON, b"{}").await;
    a.expect_problem(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotate_key_revokes_old_key_unless_grace() {
    let s = Server::start().await;
    let first = s.unlimited_webhook("rotate", JSON).await;
    let path = format!("/api/v1/webhooks/{}/rotate-key", id(&first));

    let a = s.api_post(&path, json!({})).await;
    a.expect_status(200);
    let second = a.json();
    assert_eq!(second["id"], first["id"]);
    assert_ne!(key(&second), key(&first), "rotation changes the key");
    assert_ne!(second["url"], first["url"]);
    s.post_empty(&first).await.expect_problem(401);
    s.post_empty(&second).await.expect_status(202);

    let a = s.api_post(&path, json!({"grace_seconds": 120})).await;
    a.expect_status(200);
    let third = a.json();
    s.post_empty(&second).await.expect_status(202);
    s.post_empty(&third).await.expect_status(202);
    s.post_empty(&first).await.expect_problem(401);
}

// ---------------------------------------------------------------------------------------------
// Check 3: Accept.

/// A raw JSON POST to `target` (`Accept` and `Content-Type` JSON) framed by the header `framing`
/// (its `Content-Length` or `Transfer-Encoding`).
async fn raw_json_post(s: &Server, target: &str, framing: (&str, &str), body: &[u8]) -> Answer {
    let headers = [("Accept", JSON), ("Content-Type", JSON), framing];
    s.raw("POST", target, &headers, body).await
}

/// The bytes of a JSON POST to `target` that announces a 2,000,000-byte body and sends none.
fn announcing_two_million(s: &Server, target: &str) -> Vec<u8> {
    let headers = [
        ("Accept", JSON),
        ("Content-Type", JSON),
        ("Content-Length", "2000000"),
    ];
    raw_bytes("POST", target, &s.addr, &headers, b"")
}

/// `GET path` asking for JSON.
async fn get_json(s: &Server, path: &str) -> Answer {
    Answer::send(s.client.get(s.url(path)).header("accept", JSON)).await
}

/// POSTs `body` as JSON to `hook` with `key` in the `X-Api-Key` header (none in the URL).
async fn post_key_header(s: &Server, hook: &Value, key: &str, body: &'static str) -> Answer {
    let url = s.url(&format!("/webhooks/{}", id(hook)));
    let req = s
        .client
        .post(url)
        .header("accept", JSON)
        .header("content-type", JSON);
    Answer::send(req.header("x-api-key", key).body(body)).await
}

/// POSTs `{}` as JSON to `hook` with this `Accept`.
async fn post_accepting(s: &Server, hook: &Value, accept: &str) -> Answer {
    let req = s.client.post(s.hook_url(hook)).header("accept", accept);
    let resp = req.header("content-type", JSON).body("{}").send().await;
    Answer::from_response(resp.expect("send")).await
}

/// A server with one unlimited JSON webhook `name`: the server, the webhook and its raw target.
async fn raw_target(name: &str) -> (Server, Value, String) {
    let s = Server::start().await;
    let hook = s.unlimited_webhook(name, JSON).await;
    let target = Server::hook_target(&hook, key(&hook));
    (s, hook, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accept_must_admit_json_406() {
    let (s, hook, target) = raw_target("acc").await;

    // No Accept header at all (reqwest would add `*/*`).
    let headers = [("Content-Type", JSON), ("Content-Length", "2")];
    let a = s.raw("POST", &target, &headers, b"{}").await;
    s.expect_refused(&hook, &a, 406).await;

    let a = post_accepting(&s, &hook, "text/html").await;
    let (p, _) = s.expect_refused(&hook, &a, 406).await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or("")
            .contains("application/json"),
        "406 detail should say what is expected: {p}"
    );

    for accept in [
        "*/*",
        "application/*",
        "application/json",
        "text/html, application/json;q=0.9",
    ] {
        let a = post_accepting(&s, &hook, accept).await;
        assert_eq!(a.status, 202, "Accept: {accept} must be admitted: {a:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Check 4: Content-Type.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn content_type_must_match_415() {
    let (s, hook, target) = raw_target("ct-json").await;

    // Missing, with an empty body.
    let headers = [("Accept", JSON), ("Content-Length", "0")];
    let a = s.raw("POST", &target, &headers, b"").await;
    a.expect_problem_saying(415, "application/json");
    s.expect_rejection_recorded(id(&hook), &a).await;

    // text/plain.
    let a = s.post_hook(&hook, "text/plain", b"hello".to_vec()).await;
    let p = a.expect_problem(415);
    let detail = p["detail"].as_str().unwrap_or("").to_ascii_lowercase();
    assert!(
        detail.contains("text/plain") && detail.contains("application/json"),
        "415 detail names the received and the expected type: {p}"
    );
    let d = s.expect_rejection_recorded(id(&hook), &a).await;
    assert_eq!(d["content_type"], json!("text/plain"), "recorded type: {d}");

    // Strict: an `application/json` webhook refuses a charset parameter.
    let a = s.post_hook(&hook, JSON_UTF8, b"{}".to_vec()).await;
    let p = a.expect_problem(415);
    let detail = p["detail"].as_str().unwrap_or("").to_ascii_lowercase();
    assert!(
        detail.contains("charset=utf-8") && detail.contains("application/json"),
        "415 detail names both types: {p}"
    );
    s.expect_rejection_recorded(id(&hook), &a).await;
    s.post_empty(&hook).await.expect_status(202);

    // `application/json; charset=utf-8`: case and whitespace do not matter, the parameter does.
    let utf8 = s.unlimited_webhook("ct-utf8", JSON_UTF8).await;
    for ct in [
        "application/json;charset=UTF-8",
        "application/json; charset=utf-8",
        "Application/JSON ;  Charset=utf-8",
    ] {
        let a = s.post_hook(&utf8, ct, b"{\"a\":1}".to_vec()).await;
        assert_eq!(a.status, 202, "{ct} matches {JSON_UTF8}: {a:?}");
    }
    s.post_empty(&utf8).await.expect_problem(415);

    // The two other configurable types.
    let form = s.unlimited_webhook("ct-form", FORM).await;
    s.post_accepted(&form, FORM, b"a=1&b=two&b=three".to_vec())
        .await;
    s.post_empty(&form).await.expect_problem(415);
    let xml = s.unlimited_webhook("ct-xml", XML).await;
    s.post_accepted(&xml, XML, b"<a><b>1</b></a>".to_vec())
        .await;
    s.post_refused(&xml, "text/plain", b"<a/>".to_vec(), 415)
        .await;
}

// ---------------------------------------------------------------------------------------------
// Check 5: body size.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn body_over_1_mib_is_413() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("size", JSON).await;

    // Exactly 1 MiB: accepted, and stored whole (the 64 KiB cut is for rejected bodies).
    let a = s.post_hook(&hook, JSON, json_string_of_len(MIB)).await;
    let d = s.delivery(&a.accepted_id()).await;
    assert_eq!(d["body_size"], json!(MIB));
    assert_eq!(d["body_truncated"], json!(false));
    assert_eq!(d["body"].as_str().map(str::len), Some(MIB));

    // One byte more. (A one-off client: whether the connection is reusable afterwards is
    // `oversized_body_answer_closes_the_connection`'s business.)
    let a = post_once(&s.hook_url(&hook), JSON, json_string_of_len(MIB + 1)).await;
    s.expect_refused(&hook, &a, 413).await;

    // A declared Content-Length over the limit is refused without the body being sent.
    let target = Server::hook_target(&hook, key(&hook));
    let started = Instant::now();
    let a = raw_request_within(
        &s.addr,
        &announcing_two_million(&s, &target),
        Duration::from_secs(10),
    )
    .await;
    let elapsed = started.elapsed();
    a.expect_problem(413);
    assert!(
        elapsed < Duration::from_secs(5),
        "413 must come without waiting for the body, took {elapsed:?}"
    );
    s.expect_rejection_recorded(id(&hook), &a).await;

    // Chunked (no Content-Length) and over the limit.
    let mut chunked = Vec::new();
    let piece = vec![b'a'; 64 * 1024];
    chunked.extend_from_slice(format!("{:x}\r\n\"", 1).as_bytes());
    chunked.extend_from_slice(b"\r\n");
    for _ in 0..17 {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(&piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"1\r\n\"\r\n0\r\n\r\n");
    let a = raw_json_post(&s, &target, ("Transfer-Encoding", "chunked"), &chunked).await;
    a.expect_problem(413);

    // The server is fine afterwards.
    s.post_empty(&hook).await.expect_status(202);
}

/// An answer to a request the server refuses without reading its whole body must say
/// `Connection: close` (RFC 9112 §9.6) when the server then closes the connection; otherwise a
/// sender's keep-alive pool reuses a dead connection and its next request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_body_answer_closes_the_connection() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("size-close", JSON).await;

    // A keep-alive request declaring 2,000,000 bytes and sending none: the server cannot go on
    // reading requests from this connection, so its answer must announce the close.
    let target = Server::hook_target(&hook, key(&hook));
    let a = raw_request(&s.addr, &keep_alive(announcing_two_million(&s, &target))).await;
    a.expect_problem(413);
    assert!(
        a.header("connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("close")),
        "a 413 refusing an unread body must carry `Connection: close`, headers: {:?}",
        a.headers
    );

    // A sender's client (and its pool) goes on sending after an oversized body.
    let client = reqwest::Client::new();
    let a = post_to(
        &client,
        &s.hook_url(&hook),
        JSON,
        json_string_of_len(MIB + 1),
    )
    .await;
    a.expect_problem(413);
    // The same client (and pool) goes on sending.
    for i in 0..3 {
        let next = client
            .post(s.hook_url(&hook))
            .header("accept", JSON)
            .header("content-type", JSON)
            .body("{}")
            .send()
            .await;
        match next {
            Ok(r) => assert_eq!(r.status().as_u16(), 202, "request {i} after the 413"),
            Err(e) => panic!(
                "request {i} after the 413 failed on the reused connection ({e:?}); the 413 \
                 answer's headers were {:?} (no `Connection: close` although the connection \
                 was closed)",
                a.headers
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Check 6: rate limits.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_minute_limit_is_exact_under_concurrency() {
    let s = Server::start().await;
    let hook = s.create_webhook("rate-min", JSON, Some(5), Some(0)).await;
    assert_eq!(hook["rate_limit_per_minute"], json!(5));
    assert_eq!(hook["rate_limit_per_day"], json!(0));
    let url = s.hook_url(&hook);
    // All 20 requests must fall into one UTC minute.
    avoid_window_edge(60, 15).await;

    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = s.client.clone();
        let url = url.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let resp = client
                .post(&url)
                .header("accept", JSON)
                .header("content-type", JSON)
                .body(format!("{{\"i\":{i}}}"))
                .send()
                .await
                .expect("send");
            Answer::from_response(resp).await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("task"));
    }
    let ok = answers.iter().filter(|a| a.status == 202).count();
    let limited: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!(
        (ok, limited.len()),
        (5, 15),
        "exactly 5 accepted and 15 refused; statuses: {:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for a in &limited {
        a.expect_problem(429);
        let secs = retry_after(a);
        assert!(
            (1..=60).contains(&secs),
            "Retry-After for a minute window is 1..=60, got {secs}"
        );
    }

    let all = eventually(Duration::from_secs(10), || async {
        let all = s.deliveries(id(&hook)).await;
        if count(&all, is_rejected_with(429)) >= 15 {
            Ok(all)
        } else {
            Err(format!(
                "15 rejected 429s expected: {} deliveries",
                all.len()
            ))
        }
    })
    .await;
    assert_eq!(count(&all, is_accepted), 5, "5 accepted deliveries");
    assert_eq!(count(&all, is_rejected_with(429)), 15);

    let w = s.api_get(&format!("/api/v1/webhooks/{}", id(&hook))).await;
    w.expect_status(200);
    let w = w.json();
    assert_eq!(w["usage"]["minute"], json!(5), "usage: {w}");
    assert!(
        w["usage"]["last_limited_at"].is_string(),
        "last_limited_at is set once a limit was hit: {w}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_day_limit_survives_restart() {
    // Not within 2 minutes of UTC midnight.
    avoid_window_edge(86_400, 120).await;
    let mut s = Server::start().await;
    let hook = s.create_webhook("rate-day", JSON, Some(0), Some(3)).await;
    for i in 0..3 {
        s.post_accepted(&hook, JSON, format!("{{\"i\":{i}}}").into_bytes())
            .await;
    }
    let a = s.post_hook(&hook, JSON, b"{\"i\":3}".to_vec()).await;
    a.expect_problem(429);
    let secs = retry_after(&a);
    let left = 86_400.0 - unix_now() % 86_400.0;
    assert!(
        (secs as f64) <= left + 2.0 && (secs as f64) >= left - 10.0,
        "Retry-After {secs} should be the seconds until UTC midnight (~{left:.0})"
    );

    s.restart().await;
    let a = s.post_hook(&hook, JSON, b"{\"i\":4}".to_vec()).await;
    a.expect_problem(429);
    let w = s.api_get(&format!("/api/v1/webhooks/{}", id(&hook))).await;
    w.expect_status(200);
    let w = w.json();
    assert_eq!(
        w["usage"]["day"],
        json!(3),
        "day count survives restart: {w}"
    );
    let all = s.deliveries(id(&hook)).await;
    assert_eq!(count(&all, is_accepted), 3);
    assert_eq!(count(&all, is_rejected_with(429)), 2);
}

// ---------------------------------------------------------------------------------------------
// Check 7: the body parses.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn body_must_parse_400() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("parse-json", JSON).await;
    for bad in [&b"{\"a\":"[..], b"{} x", b"\xff\xfe", b"{'a': 1}"] {
        let a = s.post_hook(&hook, JSON, bad.to_vec()).await;
        s.expect_refused(&hook, &a, 400).await;
    }
    // An empty body is allowed and means no data.
    let a = s.post_hook(&hook, JSON, Vec::new()).await;
    let d = s.delivery(&a.accepted_id()).await;
    assert_eq!(d["body_size"], json!(0));
    s.post_accepted(&hook, JSON, b"null".to_vec()).await;

    let xml = s.unlimited_webhook("parse-xml", XML).await;
    let a = s.post_hook(&xml, XML, b"<a><b></a>".to_vec()).await;
    a.expect_problem(400);
    s.expect_rejection_recorded(id(&xml), &a).await;
    s.post_accepted(&xml, XML, Vec::new()).await;
    s.post_accepted(&xml, XML, b"<x a=\"1\">&amp;&lt;</x>".to_vec())
        .await;
    // Custom entities are refused (no expansion, no billion laughs, no external files).
    for doc in [
        &b"<!DOCTYPE x [<!ENTITY e \"boom\">]><x>&e;</x>"[..],
        b"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>",
    ] {
        let a = s.post_hook(&xml, XML, doc.to_vec()).await;
        a.expect_problem(400);
    }

    let form = s.unlimited_webhook("parse-form", FORM).await;
    s.post_accepted(&form, FORM, Vec::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deeply_nested_bodies_are_refused_and_server_survives() {
    let s = Server::start().await;
    let json_hook = s.unlimited_webhook("deep-json", JSON).await;
    let xml_hook = s.unlimited_webhook("deep-xml", XML).await;
    let n = 100_000;

    let mut deep_json = "[".repeat(n).into_bytes();
    deep_json.extend_from_slice("]".repeat(n).as_bytes());
    let a = s.post_hook(&json_hook, JSON, deep_json).await;
    a.expect_problem(400);
    s.expect_rejection_recorded(id(&json_hook), &a).await;

    let mut deep_xml = "<a>".repeat(n).into_bytes();
    deep_xml.extend_from_slice("</a>".repeat(n).as_bytes());
    let a = s.post_hook(&xml_hook, XML, deep_xml).await;
    a.expect_problem(400);
    s.expect_rejection_recorded(id(&xml_hook), &a).await;

    let h = s.healthz().await;
    h.expect_status(200);
    h.json();
    s.post_accepted(&json_hook, JSON, b"[[[1]]]".to_vec()).await;
    s.post_accepted(&xml_hook, XML, b"<a><a><a>1</a></a></a>".to_vec())
        .await;
}

/// One element with 90,000 attributes (990 KB): checked in linear time (it took 17 s of CPU
/// when every attribute was compared with every earlier one), so the answer comes well within
/// the client's deadline; a repeated attribute at the end is still found.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_xml_attributes_on_one_element_are_checked_in_linear_time() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("wide-xml", XML).await;
    let element = |dup: bool| {
        let mut body = String::from("<r");
        for i in (0..90_000).chain(dup.then_some(7)) {
            body.push_str(&format!(" a{i}=\"{}\"", i % 10));
        }
        body.push_str("/>");
        body.into_bytes()
    };
    let post = |body: Vec<u8>| {
        let req = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client")
            .post(s.hook_url(&hook))
            .header("accept", JSON)
            .header("content-type", XML)
            .body(body);
        async move { Answer::from_response(req.send().await.expect("an answer in time")).await }
    };
    post(element(false)).await.expect_status(202);
    let a = post(element(true)).await;
    let p = a.expect_problem(400);
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("attribute `a7` appears twice in <r>")),
        "{p}"
    );
}

// ---------------------------------------------------------------------------------------------
// The 202 answer and the record.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accepted_is_202_empty_and_recorded_with_request_data() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("accepted", JSON).await;
    let body = "{\"hello\":\"world\",\"n\":[1,2]}";
    let resp = s
        .client
        .post(format!("{}&foo=bar&x=1", s.hook_url(&hook)))
        .header("accept", JSON)
        .header("content-type", JSON)
        .header("X-Custom-Thing", "Value1")
        .header("X-GitHub-Event", "push")
        .body(body)
        .send()
        .await
        .expect("send");
    let a = Answer::from_response(resp).await;
    a.expect_status(202);
    assert!(a.body.is_empty(), "202 has an empty body: {:?}", a.text());
    assert_eq!(a.header("content-length"), Some("0"));
    let delivery_id = a
        .header("x-delivery-id")
        .expect("X-Delivery-Id")
        .to_string();

    let d = s.delivery(&delivery_id).await;
    assert_eq!(d["id"], json!(delivery_id));
    assert_eq!(d["webhook_id"], hook["id"]);
    assert_eq!(d["status"], json!("accepted"));
    assert_eq!(d["http_status"], json!(202));
    assert_eq!(d["reason"], Value::Null);
    assert_eq!(d["method"], json!("POST"));
    assert_eq!(d["content_type"], json!(JSON));
    assert_eq!(d["body"], json!(body));
    assert_eq!(d["body_size"], json!(body.len()));
    assert_eq!(d["body_truncated"], json!(false));
    assert_eq!(d["runs"], json!([]));
    assert_eq!(
        d["query"],
        json!({"foo": "bar", "x": "1"}),
        "query without api_key"
    );
    let headers = d["headers"].as_object().expect("headers object");
    assert_eq!(headers.get("x-custom-thing"), Some(&json!("Value1")));
    assert_eq!(headers.get("x-github-event"), Some(&json!("push")));
    assert!(
        headers.keys().all(|k| *k == k.to_ascii_lowercase()),
        "header names are lower-cased: {headers:?}"
    );
    let received = d["received_at"].as_str().expect("received_at");
    assert!(
        received.len() >= 20
            && received.as_bytes()[4] == b'-'
            && received.as_bytes()[10] == b'T'
            && (received.ends_with('Z') || received[19..].contains(['+', '-'])),
        "received_at is RFC 3339: {received}"
    );
    assert!(!d.to_string().contains(key(&hook)), "key recorded: {d}");

    // The list shows it first, without the body.
    let list = s.deliveries(id(&hook)).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], json!(delivery_id));
    assert_eq!(list[0]["status"], json!("accepted"));
    assert_eq!(list[0]["body_size"], json!(body.len()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checks_run_in_spec_order() {
    let s = Server::start().await;
    let hook = s.create_webhook("order", JSON, Some(1), Some(0)).await;
    let wrong = json!({"id": id(&hook), "api_key": format!("{}AAAAAAAAAAA", random_hex(33))});
    // A client per request: oversized bodies may leave a connection unusable.
    let post = |h: &Value, accept: &str, ct: &str, body: Vec<u8>| {
        let req = reqwest::Client::new()
            .post(s.hook_url(h))
            .header("accept", accept)
            .header("content-type", ct)
            .body(body);
        async move { Answer::send(req).await }
    };
    // 401 before 406.
    post(&wrong, "text/html", "text/plain", b"{".to_vec())
        .await
        .expect_problem(401);
    // 406 before 415.
    post(&hook, "text/html", "text/plain", b"{".to_vec())
        .await
        .expect_problem(406);
    // 415 before 413.
    post(&hook, JSON, "text/plain", json_string_of_len(MIB + 10))
        .await
        .expect_problem(415);
    // Use up the minute (limit 1).
    avoid_window_edge(60, 15).await;
    post(&hook, JSON, JSON, b"{}".to_vec())
        .await
        .expect_status(202);
    // 413 before 429.
    post(&hook, JSON, JSON, json_string_of_len(MIB + 10))
        .await
        .expect_problem(413);
    // 429 before 400.
    post(&hook, JSON, JSON, b"{".to_vec())
        .await
        .expect_problem(429);
}

// ---------------------------------------------------------------------------------------------
// Retention of rejected deliveries.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejected_retention_keeps_newest_1000() {
    // Every refusal recorded (the default records at most 100 a second per webhook).
    let s = Server::start_with(&["--rejected-records-per-second", "0"]).await;
    let hook = s.json_webhook("retention").await;
    let url = s.hook_url_with_key(&hook, &format!("{}wrongwrongw", random_hex(33)));
    let answers = post_many(
        &s.client,
        &url,
        &[("accept", JSON), ("content-type", JSON)],
        b"{}",
        1010,
        32,
    )
    .await;
    assert_eq!(answers.len(), 1010);
    assert!(answers.iter().all(|a| a.status == 401));

    // One accepted request on top: accepted deliveries are not subject to that bound.
    s.post_empty(&hook).await.expect_status(202);

    let all = eventually(Duration::from_secs(30), || async {
        let all = s.deliveries(id(&hook)).await;
        let rejected = count(&all, |d| d["status"] == "rejected");
        if rejected == 1000 {
            Ok(all)
        } else {
            Err(format!(
                "1000 rejected deliveries expected, have {rejected}"
            ))
        }
    })
    .await;
    assert_eq!(count(&all, is_rejected_with(401)), 1000);
    assert_eq!(count(&all, is_accepted), 1);
    let mut ids: Vec<&str> = all.iter().filter_map(|d| d["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "paging returns each delivery once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejected_body_is_cut_to_64_kib() {
    let s = Server::start().await;
    let hook = s.unlimited_webhook("cut", XML).await;
    let body = vec![b'a'; 100 * 1024];
    let a = s.post_hook(&hook, JSON, body).await;
    a.expect_problem(415);
    let d = s.expect_rejection_recorded(id(&hook), &a).await;
    assert_eq!(
        d["body_truncated"],
        json!(true),
        "{}",
        truncate(&d.to_string(), 500)
    );
    assert_eq!(d["body_size"], json!(102_400));
    assert_eq!(d["body"].as_str().map(str::len), Some(65_536));
}

// ---------------------------------------------------------------------------------------------
// Management API (§5).

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn management_api_requires_the_admin_token() {
    let s = Server::start().await;
    let list = s.url("/api/v1/webhooks");

    let a = Answer::send(s.client.get(&list)).await;
    a.expect_problem(401);
    let a = Answer::send(s.client.get(&list).bearer_auth("not-the-token")).await;
    a.expect_problem(401);
    let a = Answer::send(
        s.client
            .post(&list)
            .json(&json!({"name": "nope", "content_type": JSON})),
    )
    .await;
    a.expect_problem(401);
    let a = Answer::send(s.client.get(s.url("/api/v1/deliveries/whatever"))).await;
    a.expect_problem(401);

    let a = s.api_get("/api/v1/webhooks").await;
    a.expect_status(200);
    assert_eq!(
        a.json()["items"],
        json!([]),
        "nothing was created without the token"
    );

    // No token needed for health and metrics.
    let h = s.healthz().await;
    h.expect_status(200);
    h.json();
    s.metrics().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_resource_crud() {
    let s = Server::start().await;
    let hook = s.create_webhook("crud", JSON_UTF8, None, None).await;
    for field in [
        "id",
        "name",
        "content_type",
        "url",
        "api_key",
        "rate_limit_per_minute",
        "rate_limit_per_day",
        "usage",
        "created_at",
        "updated_at",
    ] {
        assert!(hook.get(field).is_some(), "webhook without {field}: {hook}");
    }
    assert_eq!(hook["name"], json!("crud"));
    assert_eq!(hook["content_type"], json!(JSON_UTF8));
    assert_eq!(
        hook["rate_limit_per_minute"],
        json!(5),
        "default per minute"
    );
    assert_eq!(hook["rate_limit_per_day"], json!(5000), "default per day");
    assert_eq!(hook["usage"]["minute"], json!(0));
    assert_eq!(hook["usage"]["day"], json!(0));
    assert_eq!(hook["usage"]["last_limited_at"], Value::Null);
    assert_eq!(hook["url"], json!(s.hook_url(&hook)));

    // Duplicate name → 409; unsupported content type → a 4xx problem.
    s.post_webhook(json!({"name": "crud", "content_type": JSON}))
        .await
        .expect_problem(409);
    let a = s
        .post_webhook(json!({"name": "bad-ct", "content_type": "text/plain"}))
        .await;
    assert!((400..500).contains(&a.status), "text/plain webhook: {a:?}");
    a.expect_problem(a.status);

    let path = format!("/api/v1/webhooks/{}", id(&hook));
    let got = s.api_get(&path).await;
    got.expect_status(200);
    assert_eq!(got.json()["id"], hook["id"]);

    let a = s
        .api_patch(&path, json!({"rate_limit_per_minute": 0}))
        .await;
    a.expect_status(200);
    assert_eq!(a.json()["rate_limit_per_minute"], json!(0));

    let list = s.api_get("/api/v1/webhooks").await;
    list.expect_status(200);
    let list = list.json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert!(list.get("next_cursor").is_some());

    let a = s.api_delete(&path).await;
    assert!(
        a.status == 204 || a.status == 200,
        "delete answers 204/200: {a:?}"
    );
    s.api_get(&path).await.expect_problem(404);
    // Its URL no longer takes requests.
    s.post_refused(&hook, JSON_UTF8, b"{}".to_vec(), 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_restart_keeps_webhooks_keys_and_deliveries() {
    let mut s = Server::start().await;
    let hook = s.unlimited_webhook("keep", JSON).await;
    let a = s.post_hook(&hook, JSON, b"{\"kept\":true}".to_vec()).await;
    let delivery_id = a.accepted_id();

    s.restart().await;
    assert!(
        s.data_dir.join("master.key").exists(),
        "the key file lives in the data dir"
    );
    let d = s.delivery(&delivery_id).await;
    assert_eq!(d["status"], json!("accepted"));
    assert_eq!(d["body"], json!("{\"kept\":true}"));
    let w = s.api_get(&format!("/api/v1/webhooks/{}", id(&hook))).await;
    w.expect_status(200);
    let w = w.json();
    assert_eq!(w["api_key"], hook["api_key"], "the key survives a restart");
    assert_eq!(w["url"], json!(s.hook_url(&hook)), "url names the new port");
    s.post_empty(&hook).await.expect_status(202);
}
