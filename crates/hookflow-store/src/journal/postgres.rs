//! The journal's writer on PostgreSQL: a thread with its own single-threaded runtime and a small
//! pool of its own, so its round trips never queue behind HTTP work. Rate-window rows are locked
//! by the batch's upsert until commit, which keeps limits exact when several nodes write.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookflow_core::ingest::WebhookAuth;
use hookflow_core::ingest::rate::{RateClock, Windows};
use sqlx::Row as _;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::sync::{mpsc, oneshot};

use super::batch::{BatchResult, Loaded, decide, distinct_ids, finish, route, rows, split};
use super::cache::refresh_cache;
use super::sql::{
    INSERT_COLUMNS, INSERT_WIDTH, LIMITED_SQL, PRUNE_SQL, ROUTES_SQL, RouteRow, TOUCH_RATES_SQL,
    WEBHOOK_SQL, WRITE_RATES_SQL, digest,
};
use super::{EngineOp, EngineReply, IngestRequest, Work, WriterCtx, dedup, oldest};
use crate::runs::{
    COUNT_STARTED_RUN_SQL, INSERT_RUN_IF_ABSENT_SQL, RELEASE_SQL, RUN_EXISTS_SQL, RUN_INSERT_HEAD,
    STEP_INSERT_HEAD, STEP_UPSERT_TAIL, WAKE_SQL, claim_sql,
};
use crate::{Result, StoreError};

/// Rows per multi-row insert statement.
const CHUNK: usize = 64;
/// How long a batch waits for a connection of the journal's own pool, at most.
const JOURNAL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// While the database cannot be reached, a batch gives up waiting for a connection this long
/// after its oldest job was queued, so a webhook request gets its 503 within 2 s (the answer
/// also waits for the batch before it)…
const ANSWER_WITHIN: Duration = Duration::from_millis(1500);
/// …but a batch whose jobs waited that long behind a slow one still gets this long to connect.
const MIN_ACQUIRE: Duration = Duration::from_millis(250);

/// Starts the writer thread. Its pool connects lazily, so a database that is down at start (or
/// later) only turns batches into 503 answers until it is back.
pub(super) fn spawn(
    pool: &PgPool,
    rx: mpsc::Receiver<Work>,
    ctx: WriterCtx,
) -> Result<oneshot::Receiver<()>> {
    let options = pool.connect_options().as_ref().clone();
    let (done_tx, done) = oneshot::channel();
    std::thread::Builder::new()
        .name("hookflow-journal".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(async move {
                    // Only this thread uses the pool, so waiting for a connection means the
                    // database cannot be reached: answer 503 within 2 s (see ANSWER_WITHIN)
                    // rather than hold every sender longer.
                    let pool = PgPoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(JOURNAL_ACQUIRE_TIMEOUT)
                        .connect_lazy_with(options);
                    writer_loop(&pool, rx, &ctx).await;
                    pool.close().await;
                }),
                Err(e) => tracing::error!(error = %e, "cannot start the journal's runtime"),
            }
            let _ = done_tx.send(());
        })
        .map_err(|e| StoreError::Internal(format!("cannot start the journal thread: {e}")))?;
    Ok(done)
}

async fn writer_loop(pool: &PgPool, mut rx: mpsc::Receiver<Work>, ctx: &WriterCtx) {
    let opts = &ctx.opts;
    let mut batch: Vec<Work> = Vec::with_capacity(opts.max_batch);
    while rx.recv_many(&mut batch, opts.max_batch).await > 0 {
        let started = Instant::now();
        let (reqs, ops) = split(&batch);
        let connect_within = oldest(&batch)
            .map(|t| (t + ANSWER_WITHIN).saturating_duration_since(started))
            .unwrap_or(ANSWER_WITHIN)
            .max(MIN_ACQUIRE);
        let result = commit(pool, &reqs, &ops, ctx, connect_within).await;
        finish(&mut batch, result, started, &ctx.last_error);
    }
}

async fn commit(
    pool: &PgPool,
    reqs: &[&IngestRequest],
    ops: &[&EngineOp],
    ctx: &WriterCtx,
    connect_within: Duration,
) -> BatchResult {
    let opts = &ctx.opts;
    let clock = RateClock::at(crate::now_ms());
    let mut tx = tokio::time::timeout(connect_within, pool.begin())
        .await
        .map_err(|_| StoreError::Unavailable(sqlx::Error::PoolTimedOut))??;
    let ids = distinct_ids(reqs);
    let mut loaded: HashMap<String, Loaded> = HashMap::with_capacity(ids.len());
    for id in &ids {
        let Some(r) = sqlx::query(WEBHOOK_SQL)
            .bind(*id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            continue;
        };
        let auth = WebhookAuth {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            version: r.try_get("version")?,
            content_type: r.try_get("content_type")?,
            key_hash: digest(r.try_get("key_hash")?)?,
            prev_key_hash: r
                .try_get::<Option<Vec<u8>>, _>("prev_key_hash")?
                .map(digest)
                .transpose()?,
            prev_key_expires_at: r.try_get("prev_key_expires_at")?,
            rate_limit_per_minute: r.try_get("rate_limit_per_minute")?,
            rate_limit_per_day: r.try_get("rate_limit_per_day")?,
            dedup: crate::webhooks::dedup_of(
                r.try_get("dedup_key")?,
                r.try_get("dedup_window_seconds")?,
            ),
            verification: crate::verification::spec(
                r.try_get("verification")?,
                r.try_get("verification_sealed")?,
            )?,
        };
        let (mut minute, mut day) = (0, 0);
        for r in sqlx::query(TOUCH_RATES_SQL)
            .bind(*id)
            .bind(clock.minute_start)
            .bind(clock.day_start)
            .fetch_all(&mut *tx)
            .await?
        {
            let period: String = r.try_get(0)?;
            let count: i64 = r.try_get(1)?;
            if period == "minute" {
                minute = count;
            } else {
                day = count;
            }
        }
        loaded.insert(
            id.to_string(),
            Loaded {
                auth: Arc::new(auth),
                windows: Windows { minute, day },
            },
        );
    }
    refresh_cache(&ctx.cache, &ids, &loaded);
    let mut routes: HashMap<String, Vec<RouteRow>> = HashMap::new();
    for id in loaded.keys() {
        let mut rows = Vec::new();
        for r in sqlx::query(ROUTES_SQL).bind(id).fetch_all(&mut *tx).await? {
            rows.push(super::route_row!(&r, try_get));
        }
        if !rows.is_empty() {
            routes.insert(id.clone(), rows);
        }
    }

    let mut plan = decide(reqs, &mut loaded, opts, clock);
    let claims = dedup::dedup_claims(reqs, &plan.outcomes, &loaded, &ctx.sandbox, clock.now);
    let mut held = Vec::new();
    if !claims.is_empty() {
        let holders = dedup::claim_postgres(&mut tx, &claims, clock.now).await?;
        held = dedup::mark_duplicates(&mut plan.outcomes, &claims, &holders);
    }
    let (mut routing, runs) = route(reqs, &plan.outcomes, &loaded, &routes, &ctx.sandbox);
    for (id, minute, day) in &plan.counts {
        sqlx::query(WRITE_RATES_SQL)
            .bind(id)
            .bind(minute)
            .bind(day)
            .execute(&mut *tx)
            .await?;
    }
    for id in &plan.limited {
        sqlx::query(LIMITED_SQL)
            .bind(id)
            .bind(clock.now)
            .execute(&mut *tx)
            .await?;
    }
    let rows = rows(reqs, &plan.outcomes, &held, &mut routing, opts);
    for chunk in rows.chunks(CHUNK) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(insert_text(chunk.len())));
        for row in chunk {
            let rec = &row.req.record;
            q = q
                .bind(&rec.id)
                .bind(&row.req.webhook_id)
                .bind(rec.received_at)
                .bind(row.status)
                .bind(row.http_status)
                .bind(row.reason.as_deref())
                .bind(&rec.method)
                .bind(&rec.content_type)
                .bind(row.headers.as_ref())
                .bind(&rec.query)
                .bind(row.body.to_vec())
                .bind(rec.body_size)
                .bind(row.truncated)
                .bind(&row.routing)
                .bind(row.duplicate_of)
                .bind(&row.verification)
                .bind(row.traceparent)
                .bind(row.dedup_key_hash.map(|k| k.to_vec()))
                .bind(row.dedup_expires_at);
        }
        q.execute(&mut *tx).await?;
    }
    for chunk in runs.chunks(RUN_CHUNK) {
        let sql = values_sql(RUN_INSERT_HEAD, RUN_ROW, chunk.len(), "");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            q = q
                .bind(&r.id)
                .bind(&r.workflow_id)
                .bind(&r.workflow_name)
                .bind(&r.delivery_id)
                .bind(&r.event_id)
                .bind(clock.now)
                .bind(clock.now)
                .bind(&r.workflow_id)
                .bind(&r.traceparent);
        }
        q.execute(&mut *tx).await?;
    }
    for id in &plan.rejected {
        sqlx::query(PRUNE_SQL)
            .bind(id)
            .bind(opts.rejected_keep)
            .execute(&mut *tx)
            .await?;
    }
    // Engine writes. On PostgreSQL a failed statement aborts the transaction, so these are
    // written not to fail on expected conditions (ON CONFLICT, guarded UPDATEs); an unexpected
    // error fails the batch, which the writer answers as a whole.
    let mut replies: Vec<Option<EngineReply>> = Vec::with_capacity(ops.len());
    replies.resize_with(ops.len(), || None);
    save_steps(&mut tx, ops, &mut replies).await?;
    finish_runs(&mut tx, ops, &mut replies, clock.now).await?;
    for (op, reply) in ops.iter().zip(replies.iter_mut()) {
        if reply.is_none() {
            *reply = Some(engine_op(&mut tx, op, clock.now).await?);
        }
    }
    tx.commit().await?;
    let replies = replies
        .into_iter()
        .map(|r| r.ok_or_else(|| "an engine write got no answer".to_string()))
        .collect();
    if !runs.is_empty() {
        ctx.runs_ready.notify_one();
    }
    Ok((plan.outcomes, replies))
}

async fn engine_op(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    op: &EngineOp,
    now: i64,
) -> Result<EngineReply> {
    Ok(match op {
        EngineOp::Claim { node, n, lease_ms } => {
            let sql = claim_sql(" FOR UPDATE SKIP LOCKED");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(node)
                .bind(now + lease_ms)
                .bind(now)
                .bind(n)
                .fetch_all(&mut **tx)
                .await?;
            let mut runs = Vec::with_capacity(rows.len());
            for r in &rows {
                runs.push(crate::runs::run_from_pg(r)?);
            }
            EngineReply::Runs(runs)
        }
        // Answered before, for the whole batch at once, by `save_steps` and `finish_runs`.
        EngineOp::SaveStep(_) | EngineOp::Finish { .. } => {
            return Err(StoreError::Internal(
                "step records and run ends are written per batch".into(),
            ));
        }
        EngineOp::Release { id, node, at } => EngineReply::Affected(
            sqlx::query(RELEASE_SQL)
                .bind(id)
                .bind(node)
                .bind(at)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        ),
        EngineOp::Wake { id } => EngineReply::Affected(
            sqlx::query(WAKE_SQL)
                .bind(id)
                .bind(now)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        ),
        EngineOp::SweepDedupKeys { limit } => {
            let deleted = sqlx::query(crate::dedup::SWEEP_SQL)
                .bind(now)
                .bind(limit)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            EngineReply::Swept {
                deleted,
                done: deleted < *limit as u64,
            }
        }
        EngineOp::InsertSubRun {
            run: r,
            max_per_root,
        } => {
            let exists = sqlx::query(RUN_EXISTS_SQL)
                .bind(&r.id)
                .fetch_optional(&mut **tx)
                .await?
                .is_some();
            if exists {
                EngineReply::Affected(0)
            } else if sqlx::query(COUNT_STARTED_RUN_SQL)
                .bind(&r.parent_run_id)
                .bind(max_per_root)
                .execute(&mut **tx)
                .await?
                .rows_affected()
                == 0
            {
                EngineReply::LimitReached
            } else {
                EngineReply::Affected(
                    sqlx::query(INSERT_RUN_IF_ABSENT_SQL)
                        .bind(&r.id)
                        .bind(&r.workflow_id)
                        .bind(&r.workflow_name)
                        .bind(&r.trigger_kind)
                        .bind(&r.delivery_id)
                        .bind(&r.event_id)
                        .bind(r.scheduled_at)
                        .bind(&r.inputs)
                        .bind(&r.parent_run_id)
                        .bind(r.depth)
                        .bind(now)
                        .bind(&r.replay_of)
                        .bind(&r.traceparent)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected(),
                )
            }
        }
    })
}

/// A multi-row insert of deliveries with numbered parameters.
fn insert_text(rows: usize) -> String {
    let row = format!("({})", vec!["?"; INSERT_WIDTH].join(","));
    values_sql(INSERT_COLUMNS, &row, rows, "")
}

/// `head`, then `row` `rows` times separated by commas, then `tail`; every `?` in the rows
/// becomes the next numbered parameter (`$1`, `$2`, …) — one statement for many rows.
fn values_sql(head: &str, row: &str, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + rows * (row.len() + 16) + tail.len());
    sql.push_str(head);
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        for c in row.chars() {
            if c == '?' {
                n += 1;
                sql.push('$');
                sql.push_str(&n.to_string());
            } else {
                sql.push(c);
            }
        }
    }
    sql.push_str(tail);
    sql
}

/// A run a delivery starts (after [`RUN_INSERT_HEAD`]): queued now, with no inputs.
const RUN_ROW: &str = concat!(
    "(?, ?, ?, 'queued', 'webhook', ?, ?, NULL, '{}', NULL, 0, FALSE, ?, 0, ?, ",
    "COALESCE((SELECT version FROM workflows WHERE id = ?), 0), NULL, ?)"
);
/// Rows per statement for runs (9 parameters each).
const RUN_CHUNK: usize = 1000;

/// Step records (between [`STEP_INSERT_HEAD`] and [`STEP_UPSERT_TAIL`]): one upsert per chunk of
/// steps with distinct `(run_id, path)` (PostgreSQL cannot update one row twice in a statement;
/// a run awaits each write, so a batch rarely holds the same step twice — then it goes into the
/// next chunk).
const STEP_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/// Rows per statement for steps (15 parameters each; PostgreSQL allows 65,535).
const STEP_CHUNK: usize = 1000;

/// Writes every `SaveStep` of the batch with as few statements as possible.
async fn save_steps(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ops: &[&EngineOp],
    replies: &mut [Option<EngineReply>],
) -> Result<()> {
    let mut pending: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| matches!(op, EngineOp::SaveStep(_)))
        .map(|(i, _)| i)
        .collect();
    while !pending.is_empty() {
        let mut chunk = Vec::new();
        let mut later = Vec::new();
        let mut keys = std::collections::HashSet::new();
        for i in pending {
            let EngineOp::SaveStep(st) = ops[i] else {
                continue;
            };
            if chunk.len() < STEP_CHUNK && keys.insert((st.run_id.as_str(), st.path.as_str())) {
                chunk.push(i);
            } else {
                later.push(i);
            }
        }
        let sql = values_sql(STEP_INSERT_HEAD, STEP_ROW, chunk.len(), STEP_UPSERT_TAIL);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for &i in &chunk {
            let EngineOp::SaveStep(st) = ops[i] else {
                continue;
            };
            q = q
                .bind(&st.run_id)
                .bind(&st.path)
                .bind(st.seq)
                .bind(&st.step_id)
                .bind(&st.step_type)
                .bind(&st.status)
                .bind(st.iteration)
                .bind(&st.input)
                .bind(&st.output)
                .bind(&st.error)
                .bind(st.attempts)
                .bind(st.wake_at)
                .bind(st.started_at)
                .bind(st.finished_at)
                .bind(&st.replay);
        }
        q.execute(&mut **tx).await?;
        for &i in &chunk {
            replies[i] = Some(EngineReply::Affected(1));
        }
        pending = later;
    }
    Ok(())
}

/// Ends every run of the batch's `Finish` ops in one statement per chunk, each only if `node`
/// still holds it; answers 1 for the runs it ended, 0 for the others.
async fn finish_runs(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ops: &[&EngineOp],
    replies: &mut [Option<EngineReply>],
    now: i64,
) -> Result<()> {
    let finishes: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| matches!(op, EngineOp::Finish { .. }))
        .map(|(i, _)| i)
        .collect();
    for chunk in finishes.chunks(STEP_CHUNK) {
        let sql = values_sql(
            "UPDATE runs SET status = v.status, outputs = v.outputs, error = v.error, \
             finished_at = v.at, lease_owner = NULL, lease_expires_at = NULL FROM (VALUES ",
            "(?::TEXT, ?::TEXT, ?::TEXT, ?::TEXT, ?::TEXT, ?::BIGINT)",
            chunk.len(),
            ") AS v (id, node, status, outputs, error, at) WHERE runs.id = v.id \
             AND runs.lease_owner = v.node AND runs.status = 'running' RETURNING runs.id",
        );
        let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for &i in chunk {
            let EngineOp::Finish {
                id,
                node,
                status,
                outputs,
                error,
            } = ops[i]
            else {
                continue;
            };
            q = q
                .bind(id)
                .bind(node)
                .bind(status)
                .bind(outputs)
                .bind(error)
                .bind(now);
        }
        let ended: std::collections::HashSet<String> =
            q.fetch_all(&mut **tx).await?.into_iter().collect();
        for &i in chunk {
            if let EngineOp::Finish { id, .. } = ops[i] {
                replies[i] = Some(EngineReply::Affected(u64::from(ended.contains(id))));
            }
        }
    }
    Ok(())
}
