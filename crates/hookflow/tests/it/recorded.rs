//! What a delivery records of a request's headers and query: credentials are never stored in
//! clear (accepted or rejected), and a rejected request's headers are cut to
//! `--rejected-header-bytes`, so wrong-key traffic with big headers cannot fill the disk.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

const JSON: &str = "application/json";
/// The name of the pair that says a rejected delivery's headers were cut.
const CUT_MARKER: &str = ":hookflow-headers-cut";

fn id(hook: &Value) -> &str {
    hook["id"].as_str().expect("webhook id")
}

/// A delivery's `request_headers` as `(name, value)` pairs.
fn header_pairs(d: &Value) -> Vec<(String, String)> {
    d["request_headers"]
        .as_array()
        .unwrap_or_else(|| panic!("request_headers: {d}"))
        .iter()
        .map(|h| {
            (
                h["name"].as_str().expect("name").to_string(),
                h["value"].as_str().expect("value").to_string(),
            )
        })
        .collect()
}

/// A rejected delivery's headers, which must end with the entry saying they were cut to
/// `budget` bytes: the headers kept and their bytes of names and values.
fn cut_headers(d: &Value, budget: usize) -> (Vec<(String, String)>, usize) {
    let mut pairs = header_pairs(d);
    let shown = truncate(&format!("{pairs:?}"), 600);
    let (name, note) = pairs.pop().expect("headers");
    assert_eq!(
        name, CUT_MARKER,
        "the record says headers were cut: {shown}"
    );
    let limit = format!("at most {budget} bytes of headers (--rejected-header-bytes)");
    assert!(note.contains(&limit), "the cut names its limit: {note}");
    let bytes = pairs.iter().map(|(n, v)| n.len() + v.len()).sum();
    (pairs, bytes)
}

/// A wrong-key POST carrying `first` as header `x-first`, then `big` headers `x-pad-N` of `size`
/// bytes each.
async fn wrong_key_with_big_headers(
    s: &Server,
    hook: &Value,
    first: &str,
    big: usize,
    size: usize,
) -> Answer {
    let url = s.hook_url_with_key(hook, &format!("{}wrongwrongw", random_hex(33)));
    let mut req = reqwest::Client::new()
        .post(url)
        .header("accept", JSON)
        .header("content-type", JSON)
        .header("x-first", first);
    let pad = "p".repeat(size);
    for i in 0..big {
        req = req.header(format!("x-pad-{i}"), &pad);
    }
    Answer::send(req.body("{}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejected_headers_are_cut_to_the_budget_and_the_record_says_so() {
    let s = Server::start_with(&words(
        "--rejected-header-bytes 2048 --rejected-keep 40 --rejected-records-per-second 0",
    ))
    .await;
    let hook = s.json_webhook("big-headers").await;
    // 12 KB of headers each (under the HTTP layer's header limit), 60 requests: without the cap
    // the 40 kept deliveries would hold 480 KB of headers.
    for _ in 0..60 {
        wrong_key_with_big_headers(&s, &hook, "kept", 12, 1000)
            .await
            .expect_problem(401);
    }
    // Rejections are recorded after they are answered, in arrival order: once a last marked one
    // is the newest record, the 60 before it are written and the oldest were pruned.
    wrong_key_with_big_headers(&s, &hook, "last", 12, 1000)
        .await
        .expect_problem(401);
    let all = eventually(Duration::from_secs(20), || async {
        let all = s.deliveries(id(&hook)).await;
        let Some(newest) = all.first() else {
            return Err("no rejected delivery yet".to_string());
        };
        let d = s.delivery(newest["id"].as_str().expect("id")).await;
        let last = header_pairs(&d)
            .iter()
            .any(|(n, v)| n == "x-first" && v == "last");
        if last && all.len() == 40 {
            Ok(all)
        } else {
            Err(format!(
                "40 rejected deliveries, the marked one newest, expected; have {} (marked newest: {last})",
                all.len()
            ))
        }
    })
    .await;
    let all = &all[1..];
    let mut stored = 0;
    for item in all {
        let d = s.delivery(item["id"].as_str().expect("id")).await;
        let (kept, kept_bytes) = cut_headers(&d, 2048);
        assert!(kept_bytes <= 2048, "{kept_bytes} bytes of headers kept");
        // In arrival order: the small headers before the padding, then the first pads.
        assert!(
            kept.iter().any(|(n, v)| n == "x-first" && v == "kept"),
            "{kept:?}"
        );
        assert!(kept.iter().any(|(n, _)| n == "x-pad-0"), "{kept:?}");
        assert!(!kept.iter().any(|(n, _)| n == "x-pad-11"), "{kept:?}");
        stored += d["request_headers"].to_string().len();
    }
    assert!(
        stored <= 40 * 2600,
        "the webhook's rejected deliveries hold {stored} bytes of headers"
    );

    // An accepted request keeps all its headers (the HTTP layer bounds them).
    let mut req = s
        .client
        .post(s.hook_url(&hook))
        .header("accept", JSON)
        .header("content-type", JSON);
    for i in 0..12 {
        req = req.header(format!("x-pad-{i}"), "q".repeat(1000));
    }
    let a = Answer::send(req.body("{}")).await;
    let d = s.delivery(&a.accepted_id()).await;
    let pairs = header_pairs(&d);
    assert!(pairs.iter().any(|(n, _)| n == "x-pad-11"), "{pairs:?}");
    assert!(!pairs.iter().any(|(n, _)| n == CUT_MARKER), "{pairs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejected_headers_default_budget_is_8_kib() {
    let s = Server::start().await;
    let hook = s.json_webhook("default-cut").await;
    let a = wrong_key_with_big_headers(&s, &hook, "kept", 12, 1000).await;
    a.expect_problem(401);
    let d = s.expect_rejection_recorded(id(&hook), &a).await;
    let (_, kept_bytes) = cut_headers(&d, 8192);
    assert!((7000..=8192).contains(&kept_bytes), "{kept_bytes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credentials_are_never_recorded_in_clear() {
    let mut s = Server::start().await;
    let hook = s.unlimited_webhook("creds", JSON).await;
    let bearer = format!("bearer-{}", random_hex(24));
    let cookie = format!("cookie-{}", random_hex(24));
    let proxy = format!("proxy-{}", random_hex(24));
    let upper_key = format!("upperkey{}", random_hex(24));
    let header_key = format!("headerkey{}", random_hex(24));
    let secrets = [&bearer, &cookie, &proxy, &upper_key, &header_key];
    let send = |url: String| {
        s.client
            .post(url)
            .header("accept", JSON)
            .header("content-type", JSON)
            .header("authorization", format!("Bearer {bearer}"))
            .header("proxy-authorization", format!("Basic {proxy}"))
            .header("cookie", format!("session={cookie}"))
            .header("x-api-key", &header_key)
            .body("{}")
            .send()
    };
    // Rejected: the key in the query under another case (not a key the check takes) and in
    // another header; accepted: the real key, with the same credential headers.
    let base = s.url(&format!("/webhooks/{}", id(&hook)));
    let rejected = Answer::from_response(
        send(format!(
            "{base}?API_KEY={upper_key}&Api%5FKey={upper_key}&x=1"
        ))
        .await
        .expect("send"),
    )
    .await;
    rejected.expect_problem(401);
    let accepted = Answer::from_response(
        send(format!("{}&API_KEY={upper_key}&x=1", s.hook_url(&hook)))
            .await
            .expect("send"),
    )
    .await;
    accepted.expect_status(202);

    let r = s.expect_rejection_recorded(id(&hook), &rejected).await;
    let a = s
        .delivery(accepted.header("x-delivery-id").expect("X-Delivery-Id"))
        .await;
    for d in [&r, &a] {
        let text = d.to_string();
        for secret in secrets {
            assert!(!text.contains(secret.as_str()), "recorded in clear: {text}");
        }
        assert_eq!(d["query"], json!({"x": "1"}), "{d}");
        let h = &d["headers"];
        assert_eq!(h["authorization"], json!("Bearer [redacted]"), "{h}");
        assert_eq!(h["proxy-authorization"], json!("Basic [redacted]"), "{h}");
        assert_eq!(h["cookie"], json!("[redacted]"), "{h}");
        assert_eq!(h["x-api-key"], json!("[redacted]"), "{h}");
    }
    // Nor in the database itself.
    s.stop().await;
    match &s.pg {
        None => {
            for f in ["hookflow.db", "hookflow.db-wal"] {
                if let Ok(bytes) = std::fs::read(s.data_dir.join(f)) {
                    for secret in secrets {
                        assert!(
                            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                            "{f} holds a credential in the clear"
                        );
                    }
                }
            }
        }
        Some(pg) => {
            let dump = pg.dump_text().await;
            for secret in secrets {
                assert_not_in_dump(&dump, secret, "a credential");
            }
        }
    }
}
