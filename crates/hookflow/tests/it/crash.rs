//! SPEC §2: "A 202 means the runs will happen, even if the server crashes right after
//! answering." The server is killed with SIGKILL while requests are in flight; after a restart on
//! the same data directory every delivery that was answered 202 must be there.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;

const WRITERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn kill_9_loses_no_accepted_delivery() {
    let mut s = Server::start().await;
    let hook = s
        .create_webhook("crash", "application/json", Some(0), Some(0))
        .await;
    let hook_id = hook["id"].as_str().expect("id").to_string();
    let url = s.hook_url(&hook);

    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let problems: Arc<Mutex<Vec<String>>> = Arc::default();
    let killed = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (client, url) = (client.clone(), url.clone());
        let (accepted, problems, killed) = (accepted.clone(), problems.clone(), killed.clone());
        writers.push(tokio::spawn(async move {
            for seq in 0u64.. {
                let sent = client
                    .post(&url)
                    .header("accept", "application/json")
                    .header("content-type", "application/json")
                    .body(json!({"writer": w, "seq": seq}).to_string())
                    .send()
                    .await;
                let resp = match sent {
                    Ok(r) => r,
                    Err(e) => {
                        if !killed.load(Ordering::SeqCst) {
                            problems
                                .lock()
                                .unwrap()
                                .push(format!("writer {w}: transport error before kill: {e}"));
                        }
                        return;
                    }
                };
                let status = resp.status().as_u16();
                let id = resp
                    .headers()
                    .get("x-delivery-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                // The answer counts once its head arrived; a body error after the kill is fine.
                let _ = resp.bytes().await;
                match (status, id) {
                    (202, Some(id)) => accepted.lock().unwrap().push(id),
                    (202, None) => {
                        problems
                            .lock()
                            .unwrap()
                            .push("a 202 without X-Delivery-Id".to_string());
                        return;
                    }
                    // Load shedding (503 + Retry-After) is allowed; back off a little.
                    (503, _) => tokio::time::sleep(Duration::from_millis(20)).await,
                    (other, _) => {
                        problems
                            .lock()
                            .unwrap()
                            .push(format!("writer {w}: unexpected HTTP {other}"));
                        return;
                    }
                }
            }
        }));
    }

    // Kill once ≥ 500 were accepted, or after 1.5 s with at least some accepted.
    let started = Instant::now();
    loop {
        let n = accepted.lock().unwrap().len();
        let elapsed = started.elapsed();
        if n >= 500 || (elapsed >= Duration::from_millis(1500) && n >= 20) {
            break;
        }
        let p = problems.lock().unwrap().clone();
        assert!(p.is_empty(), "writers failed before the kill: {p:?}");
        assert!(
            elapsed < Duration::from_secs(60),
            "only {n} requests accepted in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    killed.store(true, Ordering::SeqCst);
    s.kill9();

    for w in writers {
        tokio::time::timeout(Duration::from_secs(30), w)
            .await
            .expect("writer stops after the kill")
            .expect("writer task");
    }
    let p = problems.lock().unwrap().clone();
    assert!(p.is_empty(), "writers failed: {p:?}");
    let ids = accepted.lock().unwrap().clone();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "delivery ids are unique");
    eprintln!("{} requests answered 202 before kill -9", ids.len());

    s.restart().await;

    let mut missing = Vec::new();
    for id in &ids {
        let a = s.api_get(&format!("/api/v1/deliveries/{}", pct(id))).await;
        if a.status != 200 {
            missing.push(format!("{id}: HTTP {}", a.status));
            continue;
        }
        let d = a.json();
        if d["status"] != "accepted" || d["webhook_id"] != json!(hook_id) {
            missing.push(format!(
                "{id}: status {} webhook {}",
                d["status"], d["webhook_id"]
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} deliveries answered 202 are lost or wrong after kill -9: {:?}",
        missing.len(),
        ids.len(),
        &missing[..missing.len().min(20)]
    );

    let all = s.deliveries(&hook_id).await;
    let accepted_after = all.iter().filter(|d| d["status"] == "accepted").count();
    assert!(
        accepted_after >= ids.len(),
        "{accepted_after} accepted deliveries listed, {} were answered 202",
        ids.len()
    );

    // And the restarted server takes requests again.
    s.post_accepted(&hook, "application/json", b"{}".to_vec())
        .await;
}
