//! The queue against a real database: SQLite in a temporary directory, and PostgreSQL too when
//! `TEST_DATABASE_URL` is set (a fresh database, dropped afterwards).

use std::sync::Arc;

use hookflow_core::expr::{ExprLimits, Sandbox};

use super::*;
use crate::journal::{DeliveryJournal, JournalOptions};
use crate::testing::{FreshPg, open_store};
use crate::{Store, new_id, now_ms};
use sqlx::AssertSqlSafe;

const LEASE: i64 = 60_000;

async fn open(data_dir: &std::path::Path, database_url: Option<String>) -> (Store, RunQueue) {
    let store = open_store(data_dir, database_url).await;
    let sandbox = Arc::new(Sandbox::new(ExprLimits::default()));
    let (journal, _done) = DeliveryJournal::start(&store, JournalOptions::default(), sandbox)
        .await
        .unwrap();
    let queue = journal.run_queue();
    (store, queue)
}

fn manual(workflow: &str) -> NewRun {
    NewRun {
        inputs: r#"{"n": 1}"#.into(),
        ..NewRun::new(new_id(), TriggerKind::Manual, workflow.into(), "wf".into())
    }
}

/// The runs of a claim, without their contexts.
fn runs_of(claimed: Vec<ClaimedRun>) -> Vec<RunRecord> {
    claimed.into_iter().map(|c| c.run).collect()
}

fn step(run_id: &str, status: StepStatus) -> StepRecord {
    StepRecord {
        run_id: run_id.into(),
        path: "a".into(),
        seq: 0,
        step_id: "a".into(),
        step_type: "sleep".into(),
        status,
        iteration: None,
        input: Some("{}".into()),
        output: None,
        error: None,
        attempts: 1,
        wake_at: None,
        started_at: now_ms(),
        finished_at: None,
        replay: None,
    }
}

/// Enqueue, claim with a lease, renew, save a step, release, wake, finish, give up, cancel and
/// sub-runs: what each answers and what the table holds after.
async fn lifecycle(store: &Store, queue: &RunQueue) {
    let ready = queue.ready();
    let runs: Vec<NewRun> = (0..3).map(|_| manual("w1")).collect();
    let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    queue.enqueue(runs).await.unwrap();
    // Enqueueing tells this node's workers.
    tokio::time::timeout(std::time::Duration::from_secs(5), ready)
        .await
        .expect("runs ready");
    let queued = store.get_run(&ids[0]).await.unwrap().unwrap();
    assert_eq!(queued.status, RunStatus::Queued);
    assert_eq!(queued.trigger_kind, TriggerKind::Manual);
    assert_eq!(queued.inputs, r#"{"n": 1}"#);
    assert_eq!(queued.workflow_version, 0, "no such workflow: version 0");

    let mut claimed = runs_of(queue.claim("a", 2, LEASE).await.unwrap());
    claimed.extend(runs_of(queue.claim("a", 2, LEASE).await.unwrap()));
    assert!(queue.claim("b", 2, LEASE).await.unwrap().is_empty());
    let mut got: Vec<String> = claimed.iter().map(|r| r.id.clone()).collect();
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want);
    assert!(
        claimed
            .iter()
            .all(|r| r.status == RunStatus::Running && r.claims == 1)
    );

    // Only the holder renews, and only runs it holds.
    let mut held = queue.renew("a", &ids, LEASE).await.unwrap();
    held.sort();
    assert_eq!(held, want);
    assert!(queue.renew("b", &ids, LEASE).await.unwrap().is_empty());

    let (r0, r1, r2) = (&ids[0], &ids[1], &ids[2]);
    queue
        .save_step(step(r0, StepStatus::Waiting))
        .await
        .unwrap();
    queue
        .save_step(step(r0, StepStatus::Succeeded))
        .await
        .unwrap();
    let steps = store.run_steps(r0).await.unwrap();
    assert_eq!(steps.len(), 1, "one step per path");
    assert_eq!(steps[0].status, StepStatus::Succeeded);

    // Released until later: waiting and not claimable; woken: claimable again.
    assert!(!queue.release(r0, "b", now_ms() + LEASE).await.unwrap());
    assert!(queue.release(r0, "a", now_ms() + LEASE).await.unwrap());
    let waiting = store.get_run(r0).await.unwrap().unwrap();
    assert_eq!(waiting.status, RunStatus::Waiting);
    assert!(queue.claim("a", 5, LEASE).await.unwrap().is_empty());
    assert!(queue.wake(r0).await.unwrap());
    assert!(!queue.wake(r1).await.unwrap(), "r1 is not waiting");
    let again = queue.claim("b", 5, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].run.id.as_str(), again[0].run.claims),
        (r0.as_str(), 2)
    );

    // Only the holder finishes.
    assert!(
        !queue
            .finish(r0, "a", RunStatus::Succeeded, Some("{}"), None)
            .await
            .unwrap()
    );
    assert!(
        queue
            .finish(r0, "b", RunStatus::Failed, None, Some("boom\0"))
            .await
            .unwrap()
    );
    let done = store.get_run(r0).await.unwrap().unwrap();
    assert_eq!(done.status, RunStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("boom\u{FFFD}"));
    assert!(done.finished_at.is_some());

    // A lease given up is taken over by another node.
    queue.give_up(r1, "a", now_ms() - 1).await.unwrap();
    let taken = queue.claim("b", 5, LEASE).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].run.id, *r1);
    assert!(
        !queue
            .finish(r1, "a", RunStatus::Succeeded, None, None)
            .await
            .unwrap()
    );

    // Sub-runs: started once, found again, refused past the root's limit.
    let child = NewRun {
        parent_run_id: Some(r2.clone()),
        depth: 1,
        ..NewRun::new(new_id(), TriggerKind::Workflow, "w2".into(), "sub".into())
    };
    let start = |run: NewRun| queue.enqueue_sub_run(run, 1);
    assert_eq!(start(child.clone()).await.unwrap(), SubRunStart::Started);
    assert_eq!(start(child.clone()).await.unwrap(), SubRunStart::Existed);
    let other = NewRun {
        id: new_id(),
        ..child.clone()
    };
    assert_eq!(
        start(other.clone()).await.unwrap(),
        SubRunStart::LimitReached
    );
    assert!(store.get_run(&other.id).await.unwrap().is_none());

    // Cancel: the running root is flagged, its queued sub-run ends at once.
    let cancelled = queue.cancel(r2).await.unwrap().unwrap();
    assert_eq!(cancelled.status, RunStatus::Running);
    assert!(cancelled.cancel_requested);
    let sub = store.get_run(&child.id).await.unwrap().unwrap();
    assert_eq!(sub.status, RunStatus::Cancelled);
    assert_eq!(sub.error.as_deref(), Some("cancelled"));
    assert!(queue.cancel("nothing").await.unwrap().is_none());
    assert!(queue.cancel("no\0thing").await.unwrap().is_none());
}

/// Many runs in one enqueue: several statements (the chunks), every run queued once.
async fn many(store: &Store, queue: &RunQueue) {
    let runs: Vec<NewRun> = (0..75).map(|_| manual("w3")).collect();
    let last = runs[74].id.clone();
    queue.enqueue(runs).await.unwrap();
    assert_eq!(
        store.get_run(&last).await.unwrap().unwrap().status,
        RunStatus::Queued
    );
    let mut claimed = 0;
    loop {
        let got = queue.claim("c", 64, LEASE).await.unwrap();
        if got.is_empty() {
            break;
        }
        claimed += got.iter().filter(|c| c.run.workflow_id == "w3").count();
    }
    assert_eq!(claimed, 75);
}

#[tokio::test]
async fn queue_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (store, queue) = open(dir.path(), None).await;
    lifecycle(&store, &queue).await;
    many(&store, &queue).await;
}

#[tokio::test]
async fn queue_on_postgres() {
    let Some(pg) = FreshPg::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, queue) = open(dir.path(), Some(pg.url.clone())).await;
        lifecycle(&store, &queue).await;
        many(&store, &queue).await;
    }
    pg.drop().await;
}

/// SQLite prepares a statement whose LIMIT is a bound parameter again at every execution (its
/// planner reads the value). The claim writes its limit into its text, so executing it again
/// prepares nothing; the same claim with the limit bound is prepared again each time.
#[tokio::test]
async fn the_sqlite_claim_is_prepared_once() {
    use rusqlite::types::Value;
    let dir = tempfile::tempdir().unwrap();
    let _open = open(dir.path(), None).await;
    let conn = rusqlite::Connection::open(dir.path().join("hookflow.db")).unwrap();
    let prepared_again = |sql: &str, limit: Option<i64>| {
        let mut stmt = conn.prepare(sql).unwrap();
        for now in 0..3i64 {
            let mut params = vec![Value::from("node".to_string()), Value::from(now + LEASE)];
            params.push(Value::from(now));
            params.extend(limit.map(Value::from));
            let mut rows = stmt.query(rusqlite::params_from_iter(params)).unwrap();
            while rows.next().unwrap().is_some() {}
        }
        stmt.get_status(rusqlite::StatementStatus::RePrepare)
    };
    assert_eq!(prepared_again(&sql::claim_sqlite(8), None), 0);
    let bound = crate::db::sqlite_text(&sql::claim_sql("", "$4"));
    assert_eq!(prepared_again(&bound, Some(8)), 3);
}

/// A webhook run's context as a claim reads it (SQLite: in the claim's transaction) and as the
/// pool reads it (`Store::run_context`, what PostgreSQL's engine reads): the same, and what was
/// stored.
async fn claim_context(store: &Store, queue: &RunQueue, sqlite: bool) {
    let (hook, event, wf, delivery) = (new_id(), new_id(), new_id(), new_id());
    let now = now_ms();
    crate::db::on_db!(&store.db, |p| {
        sqlx::query(
            "INSERT INTO webhooks (id, name, content_type, rate_limit_per_minute, \
             rate_limit_per_day, key_hash, key_sealed, version, created_at, updated_at) \
             VALUES ($1, 'the-hook', 'application/json', 0, 0, $2, $2, 1, $3, $3)",
        )
        .bind(&hook)
        .bind(vec![1u8])
        .bind(now)
        .execute(p)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO events (id, name, webhook_id, created_at, updated_at) \
             VALUES ($1, 'the-event', $2, $3, $3)",
        )
        .bind(&event)
        .bind(&hook)
        .bind(now)
        .execute(p)
        .await
        .unwrap();
        for table in ["workflows", "workflow_versions"] {
            let (id_col, extra, extra_value) = match table {
                "workflows" => ("id", ", enabled, updated_at", ", TRUE, $2"),
                _ => ("workflow_id", "", ""),
            };
            let sql = format!(
                "INSERT INTO {table} ({id_col}, name, source, source_format, definition, valid, \
                 errors, version, created_at{extra}) \
                 VALUES ($1, 'the-flow', 'src', 'yaml', '{{\"def\":1}}', TRUE, '[]', 1, $2\
                 {extra_value})"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&wf)
                .bind(now)
                .execute(p)
                .await
                .unwrap();
        }
        sqlx::query(
            "INSERT INTO deliveries (id, webhook_id, received_at, status, http_status, method, \
             content_type, headers, query, body, body_size, body_truncated, routing) \
             VALUES ($1, $2, $3, 'accepted', 202, 'POST', 'application/json', '[]', '{}', $4, \
             9, FALSE, '{}')",
        )
        .bind(&delivery)
        .bind(&hook)
        .bind(now)
        .bind(br#"{"a": 1}"#.to_vec())
        .execute(p)
        .await
        .unwrap();
    });
    let run = NewRun {
        delivery_id: Some(delivery.clone()),
        event_id: Some(event.clone()),
        ..NewRun::new(
            new_id(),
            TriggerKind::Webhook,
            wf.clone(),
            "the-flow".into(),
        )
    };
    queue.enqueue(vec![run]).await.unwrap();
    let mut claimed = queue.claim("ctx", 64, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let ClaimedRun { run, context } = claimed.remove(0);
    assert_eq!(run.workflow_version, 1);
    let pooled = store.run_context(&run).await.unwrap();
    assert_eq!(pooled.workflow, Some(Some(r#"{"def":1}"#.to_string())));
    assert_eq!(pooled.event, Some((event, "the-event".to_string())));
    assert_eq!(pooled.webhook_name.as_deref(), Some("the-hook"));
    let d = pooled.delivery.as_ref().expect("the delivery");
    assert_eq!(
        (
            d.id.as_str(),
            d.webhook_id.as_str(),
            d.received_at,
            d.http_status
        ),
        (delivery.as_str(), hook.as_str(), now, 202)
    );
    assert_eq!(d.body.as_deref(), Some(&br#"{"a": 1}"#[..]));
    assert!(!d.body_truncated);
    match context {
        Some(read) => {
            assert!(sqlite, "only SQLite's claim reads the context");
            assert_eq!(format!("{read:?}"), format!("{pooled:?}"));
        }
        None => assert!(!sqlite, "SQLite's claim reads the context"),
    }
}

#[tokio::test]
async fn a_claim_reads_the_context_the_pool_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (store, queue) = open(dir.path(), None).await;
    claim_context(&store, &queue, true).await;
    let Some(pg) = FreshPg::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, queue) = open(dir.path(), Some(pg.url.clone())).await;
        claim_context(&store, &queue, false).await;
    }
    pg.drop().await;
}

/// The indexes a run writes entries into only while they are read (migration 0014: finished
/// runs leave `runs_ready`; runs without a parent, a replayed delivery or an end have no entry
/// in `runs_by_parent`, `runs_by_replay`, `runs_by_finished`), and what reads them still goes
/// along them on SQLite.
#[tokio::test]
async fn what_reads_the_partial_run_indexes_goes_along_them_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), None).await;
    let plan = |sql: String| {
        let store = store.clone();
        async move { crate::testing::sqlite_plan(&store, &sql).await }
    };
    let claim = plan(sql::claim_sql("", "64")).await;
    assert_eq!(claim.matches("INDEX runs_ready ").count(), 3, "{claim}");
    let candidates = plan(crate::retention::run_candidates_sql()).await;
    for index in ["INDEX runs_by_finished ", "INDEX runs_by_parent "] {
        assert!(candidates.contains(index), "{index}: {candidates}");
    }
    let deliveries = plan(crate::retention::prune_deliveries_sql("")).await;
    for index in ["INDEX runs_by_delivery ", "INDEX runs_by_replay "] {
        assert!(deliveries.contains(index), "{index}: {deliveries}");
    }
    let tree = plan(sql::CANCEL_FLAG_SQL.to_string()).await;
    assert!(tree.contains("INDEX runs_by_parent "), "{tree}");
    let replays = plan("SELECT id FROM runs WHERE replay_of = $1 ORDER BY id DESC".into()).await;
    assert!(replays.contains("INDEX runs_by_replay "), "{replays}");
    for sql in [claim, candidates, deliveries, tree, replays] {
        assert!(
            !sql.contains("SCAN runs\n") && !sql.ends_with("SCAN runs"),
            "{sql}"
        );
    }
}

/// A run is in `runs_ready` until it ends, and in `runs_by_finished` once it has (SQLite, whose
/// `INDEXED BY` reads one index alone).
#[tokio::test]
async fn a_run_leaves_the_claim_index_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (store, queue) = open(dir.path(), None).await;
    let run = manual("wf-partial");
    let id = run.id.clone();
    queue.enqueue(vec![run]).await.unwrap();
    let indexed = |index: &'static str, cond: &'static str| {
        let store = store.clone();
        let id = id.clone();
        async move {
            let sql =
                format!("SELECT COUNT(*) FROM runs INDEXED BY {index} WHERE {cond} AND id = $1");
            let n: Vec<(i64,)> = store
                .all(AssertSqlSafe(sql), &[id.as_str().into()])
                .await
                .unwrap();
            n[0].0
        }
    };
    let ready = "status IN ('queued', 'waiting', 'running') AND status = 'queued'";
    assert_eq!(indexed("runs_ready", ready).await, 1);
    let claimed = runs_of(queue.claim("node", 8, LEASE).await.unwrap());
    assert_eq!(claimed.len(), 1);
    let running = "status IN ('queued', 'waiting', 'running') AND status = 'running'";
    assert_eq!(indexed("runs_ready", running).await, 1);
    queue
        .finish(&id, "node", RunStatus::Succeeded, Some("{}"), None)
        .await
        .unwrap();
    assert_eq!(indexed("runs_by_finished", "finished_at > 0").await, 1);
    let all = "status IN ('queued', 'waiting', 'running')";
    assert_eq!(indexed("runs_ready", all).await, 0);
}
