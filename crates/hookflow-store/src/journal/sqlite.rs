//! The journal's writer on SQLite: one OS thread with one connection of its own (rusqlite, the
//! same SQLite library sqlx links), doing a whole batch synchronously — no async hop between
//! statements, so a batch costs little more than its fsync. WAL with `synchronous=FULL`: the
//! commit returns only once the WAL is on disk.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use hookflow_core::ingest::WebhookAuth;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use hookflow_core::ingest::rate::RateClock;

use super::batch::{BatchResult, Loaded, decide, distinct_ids, finish, route, rows, split};
use super::cache::refresh_cache;
use super::checkpoint::Checkpoints;
use super::memory_keys::MemoryKeys;
use super::sql::{
    INSERT_COLUMNS, INSERT_WIDTH, LIMITED_SQL, PRUNE_SQL, ROUTES_SQL, RouteRow, TOUCH_RATES_SQL,
    WEBHOOK_SQL, WRITE_RATES_SQL,
};
use super::{IngestRequest, Swept, Work, WriterAnswer, WriterCtx, WriterOp, dedup};
use crate::db::sqlite_text;
use crate::query::Columns;
use crate::run_queue::sql::OnConflict;
use crate::webhooks::AuthColumns;
use crate::{Result, StoreError};

/// Rows per multi-row insert statement.
const CHUNK: usize = 32;

pub(super) fn err(e: rusqlite::Error) -> StoreError {
    StoreError::Internal(format!("sqlite: {e}"))
}

/// Starts the writer thread; fails if the database cannot be opened.
pub(super) fn spawn(
    data_dir: &Path,
    rx: mpsc::Receiver<Work>,
    ctx: WriterCtx,
) -> Result<oneshot::Receiver<()>> {
    let path = data_dir.join("hookflow.db");
    let conn = open(&path).map_err(err)?;
    let checkpoints = Checkpoints::start(&path)?;
    let keys = MemoryKeys::load(&conn, crate::now_ms(), ctx.opts.dedup_memory_keys).map_err(err)?;
    if keys.len() > 0 || keys.on_disk() > 0 {
        tracing::info!(
            keys = keys.len(),
            in_table = keys.on_disk(),
            "dedup keys still in their window loaded"
        );
    }
    keys.publish();
    let (done_tx, done) = oneshot::channel();
    std::thread::Builder::new()
        .name("hookflow-journal".into())
        .spawn(move || {
            writer_loop(conn, keys, checkpoints, rx, ctx);
            let _ = done_tx.send(());
        })
        .map_err(|e| StoreError::Internal(format!("cannot start the journal thread: {e}")))?;
    Ok(done)
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(64);
    // A statement that writes many rows (the batch's inserts, a claim) keeps the pages it changes
    // in a statement journal, so that it can be undone alone; past 64 KiB SQLite spills that
    // journal to a temporary file (a `pwrite` per page: 7 % of the writer's time end to end,
    // BENCHMARKS.md "Statement journals in memory"). In memory it is a copy.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // This connection never checkpoints on its own: the checkpointer thread does, beside it
    // ([`Checkpoints`]).
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// `keys` are the dedup keys in their window ([`MemoryKeys`]): only this thread has them.
fn writer_loop(
    mut conn: Connection,
    mut keys: MemoryKeys,
    checkpoints: Checkpoints,
    mut rx: mpsc::Receiver<Work>,
    ctx: WriterCtx,
) {
    let opts = &ctx.opts;
    let mut batch: Vec<Work> = Vec::with_capacity(opts.max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < opts.max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let (reqs, ops) = split(&batch);
        let result = commit(&mut conn, &reqs, &ops, &ctx, &mut keys);
        finish(&mut batch, result, started, &ctx.last_error);
        checkpoints.after_commit(&conn);
    }
}

/// `keys` decide the batch's dedup claims; the claims it wins enter them once it commits.
fn commit(
    conn: &mut Connection,
    reqs: &[&IngestRequest],
    ops: &[&WriterOp],
    ctx: &WriterCtx,
    keys: &mut MemoryKeys,
) -> BatchResult {
    let opts = &ctx.opts;
    let clock = RateClock::at(crate::now_ms());
    keys.begin();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;

    let ids = distinct_ids(reqs);
    let mut loaded: HashMap<String, Loaded> = HashMap::with_capacity(ids.len());
    {
        let mut hook_stmt = tx.prepare_cached(&sqlite_text(WEBHOOK_SQL)).map_err(err)?;
        let mut touch = tx
            .prepare_cached(&sqlite_text(TOUCH_RATES_SQL))
            .map_err(err)?;
        for id in &ids {
            let columns = hook_stmt
                .query_row([id], AuthColumns::from_sqlite)
                .optional()
                .map_err(err)?;
            let Some(columns) = columns else {
                continue;
            };
            let auth = WebhookAuth::try_from(columns)?;
            let windows = touch
                .query_map(params![id, clock.minute_start, clock.day_start], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(err)?;
            loaded.insert(id.to_string(), Loaded::new(auth, windows));
        }
    }
    refresh_cache(&ctx.cache, &ids, &loaded);
    let mut routes: HashMap<String, Vec<RouteRow>> = HashMap::new();
    {
        let mut stmt = tx.prepare_cached(&sqlite_text(ROUTES_SQL)).map_err(err)?;
        for id in loaded.keys() {
            let rows = stmt
                .query_map([id], |r| Ok(super::route_row!(r, get)))
                .map_err(err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(err)?;
            if !rows.is_empty() {
                routes.insert(id.clone(), rows);
            }
        }
    }

    let mut plan = decide(reqs, &mut loaded, opts, clock);
    let claims = dedup::dedup_claims(reqs, &plan.outcomes, &loaded, &ctx.sandbox, clock.now);
    let mut held = Vec::new();
    let mut won = Vec::new();
    if !claims.is_empty() {
        let holders;
        (holders, won) = keys.claim(&tx, &claims, clock.now).map_err(err)?;
        held = dedup::mark_duplicates(&mut plan.outcomes, &claims, &holders);
    }
    let (mut routing, runs) = route(reqs, &plan.outcomes, &loaded, &routes, &ctx.sandbox);
    {
        let mut write_rates = tx
            .prepare_cached(&sqlite_text(WRITE_RATES_SQL))
            .map_err(err)?;
        for (id, minute, day) in &plan.counts {
            write_rates.execute(params![id, minute, day]).map_err(err)?;
        }
        let mut limited = tx.prepare_cached(&sqlite_text(LIMITED_SQL)).map_err(err)?;
        for id in &plan.limited {
            limited.execute(params![id, clock.now]).map_err(err)?;
        }
        let rows = rows(reqs, &plan.outcomes, &held, &mut routing, opts);
        for chunk in rows.chunks(CHUNK) {
            let mut insert = tx.prepare_cached(&insert_text(chunk.len())).map_err(err)?;
            let bodies: Vec<&[u8]> = chunk.iter().map(|r| &r.body[..]).collect();
            let keys: Vec<Option<&[u8]>> = chunk
                .iter()
                .map(|r| r.dedup_key_hash.as_ref().map(|k| &k[..]))
                .collect();
            let mut values: Vec<&dyn rusqlite::ToSql> =
                Vec::with_capacity(chunk.len() * INSERT_WIDTH);
            for ((row, body), key) in chunk.iter().zip(&bodies).zip(&keys) {
                let rec = &row.req.record;
                values.extend_from_slice(&[
                    &rec.id,
                    &row.req.webhook_id,
                    &rec.received_at,
                    &row.status,
                    &row.http_status,
                    &row.reason,
                    &rec.method,
                    &rec.content_type,
                    &row.headers,
                    &rec.query,
                    body,
                    &rec.body_size,
                    &row.truncated,
                    &row.routing,
                    &row.duplicate_of,
                    &row.verification,
                    &row.traceparent,
                    key,
                    &row.dedup_expires_at,
                ]);
            }
            insert.execute(values.as_slice()).map_err(err)?;
        }
        crate::run_queue::sqlite::insert_runs(&tx, clock.now, &runs, OnConflict::Fresh)
            .map_err(err)?;
        let mut prune = tx.prepare_cached(&sqlite_text(PRUNE_SQL)).map_err(err)?;
        for id in &plan.rejected {
            prune
                .execute(params![id, opts.rejected_keep])
                .map_err(err)?;
        }
    }
    let replies: Vec<Result<WriterAnswer, String>> = ops
        .iter()
        .map(|op| writer_op(&tx, op, clock.now, keys))
        .collect();
    tx.commit().map_err(err)?;
    keys.commit(&won);
    let swept = ops
        .iter()
        .any(|op| matches!(op, WriterOp::SweepDedupKeys { .. }));
    if !claims.is_empty() || swept {
        keys.publish();
    }
    if !runs.is_empty() {
        ctx.runs_ready.notify_one();
    }
    Ok((plan.outcomes, replies))
}

/// One operation besides the deliveries inside the batch's transaction (the run queue's in
/// [`crate::run_queue::sqlite`]). A failing statement does not end an SQLite transaction, so one
/// op's error is that op's answer alone.
fn writer_op(
    tx: &rusqlite::Transaction,
    op: &WriterOp,
    now: i64,
    keys: &mut MemoryKeys,
) -> Result<WriterAnswer, String> {
    match op {
        WriterOp::Queue(op) => crate::run_queue::sqlite::apply(tx, op, now)
            .map(WriterAnswer::Queue)
            .map_err(|e| format!("sqlite: {e}")),
        WriterOp::SweepDedupKeys { limit } => {
            let (deleted, done) = keys
                .sweep(tx, *limit, now)
                .map_err(|e| format!("sqlite: {e}"))?;
            Ok(WriterAnswer::Swept(Swept { deleted, done }))
        }
    }
}

/// A multi-row insert with anonymous parameters (bound in order).
fn insert_text(rows: usize) -> String {
    let one = format!("({})", vec!["?"; INSERT_WIDTH].join(","));
    format!("{INSERT_COLUMNS}{}", vec![one; rows].join(","))
}
