//! The journal's writer on PostgreSQL: a thread with its own single-threaded runtime and a small
//! pool of its own, so its round trips never queue behind HTTP work. Rate-window rows are locked
//! by the batch's upsert until commit, which keeps limits exact when several nodes write.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hookflow_core::ingest::WebhookAuth;
use hookflow_core::ingest::rate::RateClock;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::sync::{mpsc, oneshot};

use super::batch::{BatchResult, Loaded, decide, distinct_ids, finish, route, rows, split};
use super::cache::refresh_cache;
use super::sql::{
    INSERT_COLUMNS, INSERT_WIDTH, LIMITED_SQL, PRUNE_SQL, RouteRow, TOUCH_RATES_SQL, WEBHOOK_SQL,
    WRITE_RATES_SQL,
};
use super::{IngestRequest, Swept, Work, WriterAnswer, WriterCtx, WriterOp, dedup, oldest};
use crate::db::values_sql;
use crate::query::statement;
use crate::run_queue::sql::OnConflict;
use crate::run_queue::{QueueOp, insert_runs_sqlx};
use crate::webhooks::AuthColumns;
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
    ops: &[&WriterOp],
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
        let Some(columns) = sqlx::query_as::<_, AuthColumns>(WEBHOOK_SQL)
            .bind(*id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            continue;
        };
        let auth = WebhookAuth::try_from(columns)?;
        let windows = sqlx::query_as::<_, (String, i64)>(TOUCH_RATES_SQL)
            .bind(*id)
            .bind(clock.minute_start)
            .bind(clock.day_start)
            .fetch_all(&mut *tx)
            .await?;
        loaded.insert(id.to_string(), Loaded::new(auth, windows));
    }
    refresh_cache(&ctx.cache, &ids, &loaded);
    let mut routes: HashMap<String, Vec<RouteRow>> = HashMap::new();
    for id in loaded.keys() {
        let rows = super::route_rows!(&mut *tx, id);
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
        let args = [id.into(), minute.into(), day.into()];
        statement(WRITE_RATES_SQL, &args).execute(&mut *tx).await?;
    }
    for id in &plan.limited {
        let args = [id.into(), clock.now.into()];
        statement(LIMITED_SQL, &args).execute(&mut *tx).await?;
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
    insert_runs_sqlx!(&mut *tx, clock.now, &runs, OnConflict::Fresh);
    for id in &plan.rejected {
        let args = [id.into(), opts.rejected_keep.into()];
        statement(PRUNE_SQL, &args).execute(&mut *tx).await?;
    }
    // The other operations. On PostgreSQL a failed statement aborts the transaction, so these
    // are written not to fail on expected conditions (ON CONFLICT, guarded UPDATEs); an
    // unexpected error fails the batch, which the writer answers as a whole.
    let queue_ops: Vec<&QueueOp> = ops
        .iter()
        .filter_map(|op| match op {
            WriterOp::Queue(q) => Some(q),
            WriterOp::SweepDedupKeys { .. } => None,
        })
        .collect();
    let mut answers = crate::run_queue::postgres::apply_all(&mut tx, &queue_ops, clock.now)
        .await?
        .into_iter();
    let mut replies = Vec::with_capacity(ops.len());
    for op in ops {
        replies.push(match op {
            WriterOp::Queue(_) => answers
                .next()
                .map(WriterAnswer::Queue)
                .ok_or_else(|| "a run queue write got no answer".to_string()),
            WriterOp::SweepDedupKeys { limit } => {
                let deleted = sqlx::query(crate::dedup::SWEEP_SQL)
                    .bind(clock.now)
                    .bind(limit)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let done = deleted < *limit as u64;
                Ok(WriterAnswer::Swept(Swept { deleted, done }))
            }
        });
    }
    tx.commit().await?;
    if !runs.is_empty() {
        ctx.runs_ready.notify_one();
    }
    Ok((plan.outcomes, replies))
}

/// A multi-row insert of deliveries with numbered parameters.
fn insert_text(rows: usize) -> String {
    let row = format!("({})", vec!["?"; INSERT_WIDTH].join(","));
    values_sql(INSERT_COLUMNS, &row, 0, rows, "")
}
