//! Retention (`serve --retain-days`): deliveries and finished runs older than the cutoff are
//! deleted with their steps and the workflow versions only they referred to, while a run that
//! has not finished keeps its delivery, its parent and child runs and its version; the API, the
//! health answer and the web UI say how far back history goes; two PostgreSQL nodes prune one
//! backlog together without deleting or counting anything twice. Old history is arranged by
//! moving the test database's timestamps back (`TestDb::backdate`).

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};

use crate::common::*;
use crate::ui_http::Ui;
use crate::versions::{start_run, until_sleeping};

const DAY_MS: i64 = 86_400_000;

/// A connection to a test server's database, whichever the backend, for arranging state and
/// counting rows.
pub(crate) enum TestDb {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

impl TestDb {
    pub(crate) async fn of(s: &Server) -> TestDb {
        match s.database_url() {
            Some(url) => TestDb::Pg(PgConnection::connect(&url).await.expect("connect")),
            None => {
                let opts = SqliteConnectOptions::new()
                    .filename(s.data_dir.join("hookflow.db"))
                    .busy_timeout(Duration::from_secs(10));
                TestDb::Sqlite(SqliteConnection::connect_with(&opts).await.expect("open"))
            }
        }
    }

    /// Runs `sql` with `$1` bound to `n`; answers the rows changed.
    pub(crate) async fn exec(&mut self, sql: &str, n: i64) -> u64 {
        macro_rules! q {
            () => {
                sqlx::query(AssertSqlSafe(sql.to_string())).bind(n)
            };
        }
        match self {
            TestDb::Sqlite(c) => q!().execute(c).await.map(|r| r.rows_affected()),
            TestDb::Pg(c) => q!().execute(c).await.map(|r| r.rows_affected()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The one number `sql` answers.
    pub(crate) async fn count(&mut self, sql: &str) -> i64 {
        macro_rules! q {
            () => {
                sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_string()))
            };
        }
        match self {
            TestDb::Sqlite(c) => q!().fetch_one(c).await,
            TestDb::Pg(c) => q!().fetch_one(c).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Moves every delivery's, run's and step's times `days` back (not when a waiting run is
    /// due: a sleep stays a sleep).
    pub(crate) async fn backdate(&mut self, days: i64) {
        let by = days * DAY_MS;
        self.exec("UPDATE deliveries SET received_at = received_at - $1", by)
            .await;
        self.exec(
            "UPDATE runs SET created_at = created_at - $1, started_at = started_at - $1, \
             finished_at = finished_at - $1",
            by,
        )
        .await;
        self.exec(
            "UPDATE run_steps SET started_at = started_at - $1, finished_at = finished_at - $1",
            by,
        )
        .await;
    }
}

/// Rows of `table` this node pruned (`hookflow_retention_pruned_total`).
async fn pruned(s: &Server, table: &str) -> u64 {
    metric_value(
        &s.metrics().await,
        "hookflow_retention_pruned_total",
        &format!("table=\"{table}\""),
    ) as u64
}

/// Waits until run `id` ended; asserts it succeeded.
pub(crate) async fn until_succeeded(s: &Server, id: &str) {
    let run = wait_run_within(s, id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], json!("succeeded"), "{run}");
}

/// The status `GET path` answers.
async fn status_of(s: &Server, path: String) -> u16 {
    s.api_get(&path).await.status
}

const QUICK: &str = "name: ret-quick\ntriggers:\n  - event: ret-ev\nsteps:\n  \
    - {id: one, type: set_variables, values: {}}\n  - {id: done, type: complete}\n";
const SLEEPER: &str = "name: ret-sleeper\ntriggers:\n  - event: ret-slow\nsteps:\n  \
    - {id: nap, type: sleep, duration: 1h}\n";
const CHILD: &str = "name: ret-child\nsteps:\n  - {id: done, type: complete}\n";
const PARENT: &str = "name: ret-parent\nsteps:\n  \
    - {id: call, type: run_workflow, workflow: ret-child}\n  \
    - {id: nap, type: sleep, duration: 1h}\n";

fn versioned(n: usize) -> String {
    format!("name: ret-versioned\nsteps:\n  - {{id: v{n}, type: complete}}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_history_goes_and_what_unfinished_runs_need_stays() {
    // No pass deletes anything while the history is arranged; the restart below prunes.
    let mut s = Server::start_with(&["--retain-days", "0"]).await;
    let hook = s.unlimited_webhook("ret-hook", "application/json").await;
    let slow_hook = s.unlimited_webhook("ret-slow", "application/json").await;
    let hook_id = hook["id"].as_str().unwrap().to_string();
    create_event(&s, json!({"name": "ret-ev", "webhook_id": hook_id})).await;
    create_event(
        &s,
        json!({"name": "ret-slow", "webhook_id": slow_hook["id"]}),
    )
    .await;
    let quick = valid_workflow(&s, QUICK).await;
    valid_workflow(&s, SLEEPER).await;
    let child_wf = valid_workflow(&s, CHILD).await;
    let parent_wf = valid_workflow(&s, PARENT).await;
    let versioned_wf = valid_workflow(&s, &versioned(1)).await;

    // Old history: 20 accepted deliveries, each with a finished run, one rejected delivery, a
    // finished run of version 1 of a workflow saved 51 times since.
    let mut old = Vec::new();
    for i in 0..20 {
        old.push(send(&s, &hook, &json!({"i": i}), &[]).await);
    }
    let wrong = s
        .post_hook_with_key(&hook, "not-the-key", "application/json", b"{}")
        .await;
    assert_eq!(wrong.status, 401);
    let old_version_run = start_run(&s, &versioned_wf).await;
    until_succeeded(&s, &old_version_run).await;
    for n in 2..=52 {
        let path = format!("/api/v1/workflows/{versioned_wf}");
        send_workflow(&s, reqwest::Method::PUT, &path, &versioned(n))
            .await
            .expect_status(200);
    }
    // Old and unfinished: a webhook run asleep, and a manual run asleep after its sub-run ended.
    let slow_delivery = send(&s, &slow_hook, &json!({}), &[]).await;
    let parent = start_run(&s, &parent_wf).await;
    let old_runs = eventually(Duration::from_secs(30), || async {
        let runs = runs_of(&s, &quick).await;
        if runs.len() == 20 && runs.iter().all(|r| r["status"] == json!("succeeded")) {
            Ok(runs)
        } else {
            Err(format!("{} quick runs, not all succeeded", runs.len()))
        }
    })
    .await;
    let sleeper = first_run_id(&s, &slow_delivery).await;
    until_sleeping(&s, &sleeper).await;
    until_sleeping(&s, &parent).await;
    let child = runs_of(&s, &child_wf).await[0]["id"]
        .as_str()
        .expect("the sub-run")
        .to_string();
    assert_eq!(get_run(&s, &child).await["parent_run_id"], json!(parent));

    let mut db = TestDb::of(&s).await;
    db.backdate(10).await;
    let old_ids: Vec<String> = old_runs
        .iter()
        .map(|r| format!("'{}'", r["id"].as_str().unwrap()))
        .chain([format!("'{old_version_run}'")])
        .collect();
    let old_steps = db
        .count(&format!(
            "SELECT COUNT(*) FROM run_steps WHERE run_id IN ({})",
            old_ids.join(", ")
        ))
        .await;
    assert!(old_steps >= 41, "{old_steps} steps of the old runs");

    // Recent history, then a start: its first pass prunes.
    let mut recent = Vec::new();
    for i in 0..3 {
        recent.push(send(&s, &hook, &json!({"recent": i}), &[]).await);
    }
    eventually(Duration::from_secs(30), || async {
        let n = s
            .all_runs(&format!("workflow_id={quick}&status=succeeded"))
            .await
            .len();
        check(n == 23, || format!("{n} of 23 quick runs succeeded"))
    })
    .await;
    s.set_args(&["--retain-days", "5"]);
    s.restart().await;
    let kept = eventually(Duration::from_secs(30), || async {
        let kept = s.delivery_ids(&hook_id).await;
        if kept.len() == 3 {
            Ok(kept)
        } else {
            Err(format!("{} deliveries left", kept.len()))
        }
    })
    .await;
    let mut want = recent.clone();
    want.reverse();
    assert_eq!(kept, want, "the three recent deliveries, newest first");
    eventually(Duration::from_secs(30), || async {
        match status_of(&s, format!("/api/v1/workflows/{versioned_wf}/versions/1")).await {
            404 => Ok(()),
            other => Err(format!("version 1 answers {other}")),
        }
    })
    .await;

    // Gone: the old runs (and their steps), the old deliveries, version 1.
    for r in &old_runs {
        let id = r["id"].as_str().unwrap();
        assert_eq!(status_of(&s, format!("/api/v1/runs/{id}")).await, 404);
    }
    for d in &old {
        assert_eq!(status_of(&s, format!("/api/v1/deliveries/{d}")).await, 404);
    }
    assert_eq!(
        status_of(&s, format!("/api/v1/runs/{old_version_run}")).await,
        404
    );
    let orphans = "SELECT COUNT(*) FROM run_steps WHERE run_id NOT IN (SELECT id FROM runs)";
    assert_eq!(
        db.count(orphans).await,
        0,
        "steps of deleted runs are deleted"
    );
    assert_eq!(
        status_of(&s, format!("/api/v1/workflows/{versioned_wf}/versions/52")).await,
        200
    );
    assert_eq!(
        status_of(&s, format!("/api/v1/workflows/{versioned_wf}/versions/3")).await,
        200,
        "the newest 50 versions stay"
    );

    // Kept: the sleeping runs, the sleeper's delivery, the ended sub-run of a sleeping run.
    assert_eq!(get_run(&s, &sleeper).await["status"], json!("running"));
    assert_eq!(get_run(&s, &parent).await["status"], json!("running"));
    assert_eq!(get_run(&s, &child).await["status"], json!("succeeded"));
    assert_eq!(
        s.delivery(&slow_delivery).await["runs"][0]["id"],
        json!(sleeper)
    );

    // Counted once each: 20 accepted and 1 rejected delivery, 21 runs with their steps.
    assert_eq!(pruned(&s, "deliveries").await, 21);
    assert_eq!(pruned(&s, "runs").await, 21);
    assert_eq!(pruned(&s, "run_steps").await, old_steps as u64);
    assert_eq!(pruned(&s, "workflow_versions").await, 1);

    // How far back history goes: list answers, /healthz, the web UI.
    let list = s.api_get("/api/v1/runs").await.json();
    assert_retention(&list["retention"], 5);
    let list = s
        .api_get(&format!("/api/v1/webhooks/{hook_id}/deliveries"))
        .await
        .json();
    assert_retention(&list["retention"], 5);
    assert_retention(&s.healthz().await.json()["retention"], 5);
    let ui = Ui::signed_in(&s).await;
    for page in ["/ui/runs".to_string(), format!("/ui/webhooks/{hook_id}")] {
        let html = ui.get(&page).await.text();
        assert!(
            html.contains("History is kept for 5 days"),
            "{page} says how long history is kept"
        );
    }
}

/// `retention` says `days` and a `kept_since` that many days back (within a minute).
#[track_caller]
fn assert_retention(r: &Value, days: i64) {
    assert_eq!(r["retain_days"], json!(days), "{r}");
    let since = r["kept_since"].as_str().expect("kept_since");
    let since_ms = chrono_ms(since);
    let want = (unix_now() * 1000.0) as i64 - days * DAY_MS;
    assert!((since_ms - want).abs() < 60_000, "kept_since {since}");
}

/// Unix ms of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn chrono_ms(t: &str) -> i64 {
    let n = |a: usize, b: usize| t[a..b].parse::<i64>().expect("a number");
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Days since 1970-01-01 (civil-from-days, inverted).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * DAY_MS + n(11, 13) * 3_600_000 + n(14, 16) * 60_000 + n(17, 19) * 1000 + n(20, 23)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_days_0_keeps_everything() {
    let mut s = Server::start_with(&["--retain-days", "0", "--retain-every-seconds", "1"]).await;
    let hook = s.unlimited_webhook("ret-forever", "application/json").await;
    let hook_id = hook["id"].as_str().unwrap().to_string();
    for i in 0..3 {
        send(&s, &hook, &json!({"i": i}), &[]).await;
    }
    TestDb::of(&s).await.backdate(3650).await;
    s.restart().await;
    let health = s.healthz().await.json();
    assert_eq!(health["retention"]["retain_days"], json!(0));
    assert_eq!(health["retention"]["kept_since"], Value::Null);
    // Passes would come every second; none deletes anything.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s.deliveries(&hook_id).await.len(), 3);
    let html = Ui::signed_in(&s).await.get("/ui/runs").await.text();
    assert!(html.contains("History is kept forever"), "{html}");
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .args(["serve", "--help"])
        .output()
        .expect("serve --help");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    assert!(help.contains("--retain-days"), "{help}");
    assert!(help.contains("HOOKFLOW_RETAIN_DAYS"), "{help}");
    assert!(help.contains("0 keeps everything forever"), "{help}");
}

/// A delivery that holds a dedup key still in its window is kept past the cutoff (its row is the
/// key's durable record), so a repeat names a delivery that is there; one without a key goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_holding_a_live_dedup_key_is_kept() {
    let mut s = Server::start_with(&["--retain-days", "0"]).await;
    let a = s
        .post_webhook(json!({
            "name": "ret-dedup", "content_type": "application/json",
            "rate_limit_per_minute": 0, "rate_limit_per_day": 0,
            "dedup": {"key": "trigger.body.id", "window_seconds": 30 * 86_400},
        }))
        .await;
    a.expect_status(201);
    let hook = a.json();
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let holder = send(&s, &hook, &json!({"id": "k"}), &[]).await;
    let keyless = send(&s, &hook, &json!({"other": 1}), &[]).await;
    assert_ne!(holder, keyless);
    // Ten days back: both past a 5-day cutoff, the key's 30-day window still 20 days to go.
    let mut db = TestDb::of(&s).await;
    db.backdate(10).await;
    db.exec(
        "UPDATE deliveries SET dedup_expires_at = dedup_expires_at - $1 \
         WHERE dedup_expires_at IS NOT NULL",
        10 * DAY_MS,
    )
    .await;
    s.set_args(&["--retain-days", "5", "--retain-every-seconds", "1"]);
    s.restart().await;
    eventually(Duration::from_secs(30), || async {
        let left = s.delivery_ids(&hook_id).await;
        check(left == [holder.clone()], || {
            format!("deliveries left: {left:?}")
        })
    })
    .await;
    let again = s
        .post_hook(&hook, "application/json", br#"{"id":"k"}"#.to_vec())
        .await;
    assert_eq!(again.duplicate_of(), Some(holder.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_prune_one_backlog_once() {
    if test_database_url().is_none() {
        eprintln!("two nodes need PostgreSQL; runs in the TEST_DATABASE_URL pass");
        return;
    }
    let args = ["--retain-days", "1", "--retain-every-seconds", "1"];
    let a = Server::start_with(&args).await;
    let b = a.start_peer(&args).await;
    let hook = a.unlimited_webhook("ret-nodes", "application/json").await;
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let n = 3000;
    let url = a.hook_url(&hook);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..50 {
        let (client, url) = (a.client.clone(), url.clone());
        tasks.spawn(async move {
            for i in 0..n / 50 {
                let body = format!("{{\"w\": {w}, \"i\": {i}}}");
                post_to(&client, &url, "application/json", body.into_bytes())
                    .await
                    .expect_status(202);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("sender");
    }
    // Both nodes pass every second: once the backlog is old, both prune it at once.
    TestDb::of(&a).await.backdate(2).await;
    eventually(Duration::from_secs(60), || async {
        let left = TestDb::of(&a)
            .await
            .count("SELECT COUNT(*) FROM deliveries")
            .await;
        check(left == 0, || format!("{left} deliveries left"))
    })
    .await;
    let (by_a, by_b) = (
        pruned(&a, "deliveries").await,
        pruned(&b, "deliveries").await,
    );
    eprintln!("node a pruned {by_a}, node b {by_b}");
    assert_eq!(
        by_a + by_b,
        n as u64,
        "every delivery deleted and counted once"
    );
    assert!(a.deliveries(&hook_id).await.is_empty());
    drop(b);
}
