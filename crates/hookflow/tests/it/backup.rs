//! `hookflow backup` (SQLite): a copy taken while many clients post to the server passes
//! `PRAGMA integrity_check` and, restored into a fresh data directory with its key file, starts
//! a server that holds every delivery answered 202 before the backup began and still opens what
//! the master key sealed (a webhook's key, its signature secret, a workflow's secret). The
//! command never overwrites a file, and on PostgreSQL it says to use pg_dump.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

use crate::common::*;
use crate::retention::until_succeeded;
use crate::verification::post_signed;
use crate::versions::start_run;

const FORM: &str = "application/x-www-form-urlencoded";
/// GitHub's documented example ("Validating webhook deliveries").
const GH_SECRET: &str = "It's a Secret to Everybody";
const GH_BODY: &[u8] = b"Hello, World!";
const GH_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

const USES_SECRET: &str = "name: uses-secret\noutputs:\n  - {name: m, type: string}\nsteps:\n  \
    - id: done\n    type: complete\n    \
    outputs: {m: \"{{ 'yes' if secrets.tok == 'sekret-value-123' else 'no' }}\"}\n";

/// `hookflow backup ARGS` with none of the server's variables set.
fn backup(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .arg("backup")
        .args(args)
        .env_remove("HOOKFLOW_MASTER_KEY")
        .env_remove("HOOKFLOW_DATABASE_URL")
        .env_remove("HOOKFLOW_DATA_DIR")
        .output()
        .expect("run hookflow backup")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts that `hookflow backup` failed, saying `needle` on stderr.
#[track_caller]
fn failed_saying(out: &Output, needle: &str) {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "backup succeeded: {err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
}

/// `PRAGMA integrity_check` of the SQLite database `file`.
async fn integrity(file: &Path) -> Vec<String> {
    let opts = SqliteConnectOptions::new().filename(file);
    let mut c = SqliteConnection::connect_with(&opts).await.expect("open");
    let v = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut c)
        .await
        .expect("integrity_check");
    let _ = c.close().await;
    v
}

/// Waits until `accepted` counts `at_least`.
async fn until_accepted(accepted: &AtomicUsize, at_least: usize) {
    eventually(Duration::from_secs(60), || async {
        match accepted.load(Ordering::Relaxed) {
            n if n >= at_least => Ok(()),
            n => Err(format!("{n} of {at_least} accepted")),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_load_restores_every_delivery_accepted_before_it() {
    let s = Server::start_sqlite().await;
    let hook = s.unlimited_webhook("load", "application/json").await;
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let signed = s
        .create_webhook_from(json!({"name": "gh", "content_type": FORM,
                   "verification": {"scheme": "github", "secret": GH_SECRET}}))
        .await;
    s.set_secret("tok", "sekret-value-123").await;
    let wf = valid_workflow(&s, USES_SECRET).await;

    // 32 clients post as fast as they are answered; each notes when each 202 arrived.
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..32 {
        let (client, url) = (s.client.clone(), s.hook_url(&hook));
        let (stop, accepted) = (stop.clone(), accepted.clone());
        clients.spawn(async move {
            let mut got = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let body = format!("{{\"c\": {c}, \"i\": {i}}}");
                let r = post_to(&client, &url, "application/json", body.into_bytes()).await;
                i += 1;
                if r.status == 202 {
                    got.push((Instant::now(), r.accepted_id()));
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
            }
            got
        });
    }
    until_accepted(&accepted, 1000).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hookflow-backup.db");
    let key = dir.path().join("hookflow-backup.db.key");
    let args: Vec<String> = ["--data-dir", s.data_dir.to_str().unwrap()]
        .into_iter()
        .chain(["--to", file.to_str().unwrap()])
        .map(str::to_string)
        .collect();
    let began = Instant::now();
    let at_start = accepted.load(Ordering::Relaxed);
    let out = tokio::task::spawn_blocking(move || {
        backup(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .expect("backup thread");
    let during = accepted.load(Ordering::Relaxed) - at_start;
    assert!(out.status.success(), "backup failed: {}", text(&out.stderr));
    // Ingest went on after the copy, too.
    until_accepted(&accepted, at_start + during + 200).await;
    stop.store(true, Ordering::Relaxed);
    let mut before = Vec::new();
    while let Some(got) = clients.join_next().await {
        for (at, id) in got.expect("client") {
            if at < began {
                before.push(id);
            }
        }
    }
    eprintln!(
        "{} accepted before the backup began, {during} while it ran: {}",
        before.len(),
        text(&out.stdout).trim()
    );
    assert!(text(&out.stdout).contains("integrity_check ok"));
    assert_eq!(integrity(&file).await, ["ok"]);
    #[cfg(unix)]
    for f in [&file, &key] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(f)
            .expect("backup file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{} is owner-only", f.display());
    }
    // Never over an existing file.
    let size = std::fs::metadata(&file).unwrap().len();
    let again = backup(&[
        "--data-dir",
        s.data_dir.to_str().unwrap(),
        "--to",
        file.to_str().unwrap(),
    ]);
    failed_saying(&again, "exists");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), size);

    // Restore: the copy and its key into a fresh data directory, and start on it.
    let r = Server::start_sqlite_on(|data| {
        std::fs::copy(&file, data.join("hookflow.db")).expect("restore the database");
        std::fs::copy(&key, data.join("master.key")).expect("restore the key");
    })
    .await;
    let restored: std::collections::HashSet<String> = r
        .deliveries(&hook_id)
        .await
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<&String> = before.iter().filter(|id| !restored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} deliveries answered 202 before the backup are missing, e.g. {:?}",
        missing.len(),
        before.len(),
        missing.first()
    );
    // What the master key sealed still opens: the webhook's key, its signature secret, a secret.
    let shown = r
        .api_get(&format!("/api/v1/webhooks/{hook_id}"))
        .await
        .json();
    assert_eq!(shown["api_key"], hook["api_key"]);
    let sig = vec![("X-Hub-Signature-256".to_string(), GH_SIG.to_string())];
    post_signed(&r, &signed, FORM, GH_BODY, &sig, true)
        .await
        .expect_status(202);
    post_signed(&r, &signed, FORM, b"Hello, World?", &sig, true)
        .await
        .expect_problem(401);
    let run = start_run(&r, &wf).await;
    until_succeeded(&r, &run).await;
    assert_eq!(get_run(&r, &run).await["outputs"]["m"], json!("yes"));
}

#[tokio::test]
async fn on_postgres_backup_says_to_use_pg_dump() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("b.db");
    let out = backup(&[
        "--database",
        "postgres://hookflow@127.0.0.1:1/hookflow",
        "--to",
        file.to_str().unwrap(),
    ]);
    failed_saying(&out, "pg_dump");
    assert!(!file.exists());
    // And with nothing to back up, it says so.
    let out = backup(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--to",
        file.to_str().unwrap(),
    ]);
    failed_saying(&out, "master.key");
    assert!(!file.exists());
}
