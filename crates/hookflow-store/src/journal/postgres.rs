//! The journal's writer on PostgreSQL: a thread with its own single-threaded runtime and a small
//! pool of its own, so its round trips never queue behind HTTP work. Rate-window rows are locked
//! by the batch's upsert until commit, which keeps limits exact when several nodes write.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookflow_core::ingest::WebhookAuth;
use sqlx::Row as _;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::sync::{mpsc, oneshot};

use super::{BatchResult, EngineOp, EngineReply, Work, split};
use super::{
    Clock, INSERT_COLUMNS, INSERT_WIDTH, IngestRequest, LIMITED_SQL, Loaded, PRUNE_SQL, ROUTES_SQL,
    RouteRow, TOUCH_RATES_SQL, WEBHOOK_SQL, WRITE_RATES_SQL, WriterCtx, decide, digest,
    distinct_ids, finish, refresh_cache, route, rows,
};
use crate::runs::{
    FINISH_SQL, INSERT_RUN_IF_ABSENT_SQL, RELEASE_SQL, SAVE_STEP_SQL, WAKE_SQL, claim_sql,
};
use crate::{Result, StoreError};

/// Rows per multi-row insert statement.
const CHUNK: usize = 64;

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
                    let pool = PgPoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(Duration::from_secs(5))
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
        let result = commit(pool, &reqs, &ops, ctx).await;
        finish(&mut batch, result, started);
    }
}

async fn commit(
    pool: &PgPool,
    reqs: &[&IngestRequest],
    ops: &[&EngineOp],
    ctx: &WriterCtx,
) -> BatchResult {
    let opts = &ctx.opts;
    let clock = Clock::now();
    let mut tx = pool.begin().await?;
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
                minute,
                day,
            },
        );
    }
    refresh_cache(&ctx.cache, &ids, &loaded);
    let mut routes: HashMap<String, Vec<RouteRow>> = HashMap::new();
    for id in loaded.keys() {
        let mut rows = Vec::new();
        for r in sqlx::query(ROUTES_SQL).bind(id).fetch_all(&mut *tx).await? {
            let workflow_id: Option<String> = r.try_get("workflow_id")?;
            rows.push(RouteRow {
                event_id: r.try_get("event_id")?,
                event_name: r.try_get("event_name")?,
                filter: r.try_get("filter")?,
                target: match workflow_id {
                    Some(wid) => Some((
                        wid,
                        r.try_get("workflow_name")?,
                        r.try_get("valid")?,
                        r.try_get("enabled")?,
                        r.try_get("disabled")?,
                    )),
                    None => None,
                },
            });
        }
        if !rows.is_empty() {
            routes.insert(id.clone(), rows);
        }
    }

    let plan = decide(reqs, &mut loaded, opts, clock);
    let (mut routing, runs) = route(reqs, &plan.outcomes, &loaded, &routes, &*ctx.filters);
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
    let rows = rows(reqs, &plan.outcomes, &mut routing, opts);
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
                .bind(&rec.headers)
                .bind(&rec.query)
                .bind(row.body.to_vec())
                .bind(rec.body_size)
                .bind(row.truncated)
                .bind(&row.routing);
        }
        q.execute(&mut *tx).await?;
    }
    for r in &runs {
        sqlx::query(crate::runs::INSERT_RUN_SQL)
            .bind(&r.id)
            .bind(&r.workflow_id)
            .bind(&r.workflow_name)
            .bind("webhook")
            .bind(&r.delivery_id)
            .bind(&r.event_id)
            .bind(None::<i64>)
            .bind("{}")
            .bind(None::<String>)
            .bind(0i64)
            .bind(clock.now)
            .execute(&mut *tx)
            .await?;
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
    let mut replies = Vec::with_capacity(ops.len());
    for op in ops {
        replies.push(Ok(engine_op(&mut tx, op, clock.now).await?));
    }
    tx.commit().await?;
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
        EngineOp::SaveStep(s) => EngineReply::Affected(
            sqlx::query(SAVE_STEP_SQL)
                .bind(&s.run_id)
                .bind(&s.path)
                .bind(s.seq)
                .bind(&s.step_id)
                .bind(&s.step_type)
                .bind(&s.status)
                .bind(s.iteration)
                .bind(&s.input)
                .bind(&s.output)
                .bind(&s.error)
                .bind(s.attempts)
                .bind(s.wake_at)
                .bind(s.started_at)
                .bind(s.finished_at)
                .bind(&s.replay)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        ),
        EngineOp::Finish {
            id,
            node,
            status,
            outputs,
            error,
        } => EngineReply::Affected(
            sqlx::query(FINISH_SQL)
                .bind(id)
                .bind(node)
                .bind(status)
                .bind(outputs)
                .bind(error)
                .bind(now)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        ),
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
        EngineOp::InsertRun(r) => EngineReply::Affected(
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
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        ),
    })
}

/// A multi-row insert with numbered parameters.
fn insert_text(rows: usize) -> String {
    let mut sql = String::from(INSERT_COLUMNS);
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        let cols: Vec<String> = (1..=INSERT_WIDTH)
            .map(|c| format!("${}", r * INSERT_WIDTH + c))
            .collect();
        sql.push('(');
        sql.push_str(&cols.join(","));
        sql.push(')');
    }
    sql
}
