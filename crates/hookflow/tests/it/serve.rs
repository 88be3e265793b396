//! `hookflow serve` itself: the admin token bootstrap (SPEC §5), and backpressure — a full
//! journal queue or memory budget answers 503 with `Retry-After` instead of buffering more, and
//! never loses or half-records a request.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// Starts `hookflow serve` without `HOOKFLOW_ADMIN_TOKEN` on `data_dir` (and on `pg`, when the
/// suite runs on PostgreSQL); returns the child, the base URL, and every stdout line before the
/// listening line.
// The child is returned to the caller, which kills and waits for it.
#[allow(clippy::zombie_processes)]
fn spawn_without_token(
    data_dir: &std::path::Path,
    pg: Option<&PgDatabase>,
) -> (std::process::Child, String, Vec<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookflow"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir);
    if let Some(pg) = pg {
        cmd.arg("--database").arg(&pg.url);
    }
    let mut child = cmd
        .env_remove("HOOKFLOW_ADMIN_TOKEN")
        .env_remove("HOOKFLOW_DATABASE_URL")
        .env_remove("HOOKFLOW_MASTER_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hookflow serve");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut before = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve exited before listening; printed: {before:?}");
        }
        if let Some(url) = line.trim().strip_prefix("hookflow listening on ") {
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
            });
            return (child, url.to_string(), before);
        }
        before.push(line.trim().to_string());
    }
}

/// The status `GET {url}/api/v1/webhooks` answers with `token`.
async fn list_status(client: &reqwest::Client, url: &str, token: &str) -> u16 {
    let a = client
        .get(format!("{url}/api/v1/webhooks"))
        .bearer_auth(token)
        .send()
        .await
        .expect("list webhooks");
    a.status().as_u16()
}

#[tokio::test]
async fn generated_admin_token_is_printed_once_and_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = PgDatabase::create_if_configured().await;
    let (mut first, url, printed) = spawn_without_token(dir.path(), pg.as_ref());
    let line = printed
        .iter()
        .find(|l| l.starts_with("hookflow admin token"))
        .unwrap_or_else(|| panic!("no admin token printed on first start: {printed:?}"));
    let token = line.rsplit(' ').next().expect("token").to_string();
    assert!(token.len() >= 32, "token too short: {token}");
    let client = reqwest::Client::new();
    assert_eq!(list_status(&client, &url, &token).await, 200);
    assert_eq!(list_status(&client, &url, &format!("{token}x")).await, 401);
    first.kill().expect("kill");
    first.wait().expect("wait");

    // Second start on the same database: nothing printed, the same token still works.
    let (mut second, url, printed) = spawn_without_token(dir.path(), pg.as_ref());
    assert!(
        printed.iter().all(|l| !l.contains("admin token")),
        "token printed again: {printed:?}"
    );
    assert_eq!(list_status(&client, &url, &token).await, 200);
    second.kill().expect("kill");
    second.wait().expect("wait");
    // And the token is not stored in the clear.
    match &pg {
        None => {
            let db = std::fs::read(dir.path().join("hookflow.db")).expect("read db");
            assert!(
                !db.windows(token.len()).any(|w| w == token.as_bytes()),
                "the admin token is stored in the clear"
            );
        }
        Some(pg) => {
            let dump = pg.dump_text().await;
            // The dump holds the settings row (so it is not empty), without the token.
            assert!(
                dump.contains("admin_token_sha256"),
                "no admin token digest in the database:\n{dump}"
            );
            assert_not_in_dump(&dump, &token, "the admin token");
        }
    }
}

#[tokio::test]
async fn webhook_keys_are_not_stored_in_the_clear() {
    let mut s = Server::start().await;
    let hook = s.json_webhook("sealed").await;
    let key = hook["api_key"].as_str().expect("key").to_string();
    s.stop().await;
    match &s.pg {
        None => {
            for f in ["hookflow.db", "hookflow.db-wal"] {
                if let Ok(bytes) = std::fs::read(s.data_dir.join(f)) {
                    assert!(
                        !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
                        "{f} holds the webhook key in the clear"
                    );
                }
            }
        }
        Some(pg) => {
            // Every row of every table, the webhook's among them, without the key.
            let dump = pg.dump_text().await;
            let id = hook["id"].as_str().expect("id");
            assert!(
                dump.lines()
                    .any(|l| l.starts_with("webhooks: ") && l.contains(id)),
                "the webhook's row is not in the database:\n{dump}"
            );
            assert_not_in_dump(&dump, &key, "the webhook key");
        }
    }
    // Restarted, the details still show the same key (unsealed with the key file).
    s.restart().await;
    let again = s.webhook(hook["id"].as_str().unwrap()).await;
    assert_eq!(again["api_key"], hook["api_key"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_journal_queue_answers_503_and_loses_nothing() {
    let s = Server::start_with(&["--ingest-queue", "1"]).await;
    let hook = s.unlimited_webhook("queue", "application/json").await;
    let url = s.hook_url(&hook);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let (client, url) = (s.client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(&url)
                .header("accept", "application/json")
                .header("content-type", "application/json")
                .body(json!({"i": i}).to_string())
                .send()
                .await
                .expect("POST");
            Answer::from_response(r).await
        }));
    }
    let mut accepted = Vec::new();
    let mut shed = 0;
    for t in tasks {
        let a = t.await.expect("task");
        match a.status {
            202 => accepted.push(a.header("x-delivery-id").expect("id").to_string()),
            503 => {
                a.expect_problem_saying(503, "retry");
                let retry: u64 = a
                    .header("retry-after")
                    .expect("Retry-After")
                    .parse()
                    .unwrap();
                assert!(retry >= 1);
                shed += 1;
            }
            other => panic!("unexpected {other}: {}", a.text()),
        }
    }
    assert!(
        shed > 0,
        "a queue of 1 under 300 concurrent requests never refused one"
    );
    assert!(!accepted.is_empty(), "nothing was accepted");
    // Exactly the 202s are recorded: a 503 leaves nothing behind.
    let recorded = s.deliveries(hook["id"].as_str().unwrap()).await;
    let mut ids: Vec<&str> = recorded.iter().map(|d| d["id"].as_str().unwrap()).collect();
    ids.sort();
    accepted.sort();
    assert_eq!(ids, accepted.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(recorded.iter().all(|d| d["status"] == "accepted"));
}

#[tokio::test]
async fn body_memory_budget_answers_503_instead_of_buffering() {
    // A 2 MiB budget holds two 1,000,000-byte bodies being read; a third must be refused at once.
    let s = Server::start_with(&["--ingest-memory-mb", "2"]).await;
    let hook = s.unlimited_webhook("budget", "application/json").await;
    let target = format!(
        "/webhooks/{}?api_key={}",
        hook["id"].as_str().unwrap(),
        pct(hook["api_key"].as_str().unwrap())
    );
    let body = format!("\"{}\"", "x".repeat(999_998));
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        s.addr,
        body.len()
    );
    // Two slow senders: headers and half the body, then a pause.
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut c = tokio::net::TcpStream::connect(&s.addr)
            .await
            .expect("connect");
        c.write_all(head.as_bytes()).await.unwrap();
        c.write_all(&body.as_bytes()[..500_000]).await.unwrap();
        c.flush().await.unwrap();
        slow.push(c);
    }
    // Once the server holds both bodies' budget (its metrics say so), a third is refused.
    eventually(Duration::from_secs(10), || async {
        let m = s
            .client
            .get(s.url("/metrics"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let text = m.text().await.map_err(|e| e.to_string())?;
        let held: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("hookflow_ingest_buffered_kib "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0);
        check(held >= 2.0 * 977.0, || format!("server holds {held} KiB"))
    })
    .await;
    let third = s
        .post_hook(&hook, "application/json", body.clone().into_bytes())
        .await;
    third.expect_problem(503);
    assert!(third.header("retry-after").is_some());
    // The slow senders finish and are accepted; then there is room again.
    for mut c in slow {
        c.write_all(&body.as_bytes()[500_000..]).await.unwrap();
        let mut buf = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
            .await
            .expect("answer in time")
            .expect("read");
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 202"), "slow sender got: {text}");
    }
    let after = s
        .post_hook(&hook, "application/json", body.into_bytes())
        .await;
    after.expect_status(202);
}
