//! The queue's writes on SQLite, inside the journal writer's transaction (rusqlite, the writer's
//! own connection). A failing statement does not end an SQLite transaction, so one operation's
//! error is that operation's answer alone.

use rusqlite::{Params, Transaction, params, params_from_iter};

use super::op::{QueueAnswer, QueueOp, SubRunStart};
use super::sql::{
    CANCEL_END_SQL, CANCEL_FLAG_SQL, CANCEL_STEPS_SQL, COUNT_STARTED_RUN_SQL, FINISH_SQL,
    GET_RUN_SQL, GIVE_UP_SQL, OnConflict, RELEASE_SQL, RUN_EXISTS_SQL, RUN_WIDTH, SAVE_STEP_SQL,
    WAKE_SQL, chunk_sizes, claim_sqlite, insert_runs_sql, renew_sql,
};
use super::{NewRun, RunRecord};
use crate::db::sqlite_text;
use crate::query::{Arg, Columns};
use crate::runs::{ClaimedRun, context_sqlite};

/// Most runs per insert statement (12 parameters each). Statements are cached by text, and
/// [`chunk_sizes`] keeps the texts to a handful.
const RUN_CHUNK: usize = 32;

/// Enqueues `runs` at `now`; returns how many rows were inserted (with
/// [`OnConflict::IfAbsent`], a run whose id exists is not).
pub(crate) fn insert_runs(
    tx: &Transaction,
    now: i64,
    runs: &[NewRun],
    on_conflict: OnConflict,
) -> rusqlite::Result<usize> {
    let mut inserted = 0;
    let mut rest = runs;
    for size in chunk_sizes(runs.len(), RUN_CHUNK, true) {
        let (chunk, later) = rest.split_at(size);
        rest = later;
        let mut stmt = tx.prepare_cached(&sqlite_text(&insert_runs_sql(size, on_conflict)))?;
        let mut values: Vec<Arg> = Vec::with_capacity(1 + size * RUN_WIDTH);
        values.push(now.into());
        values.extend(chunk.iter().flat_map(Columns::values));
        inserted += stmt.execute(params_from_iter(values))?;
    }
    Ok(inserted)
}

/// Runs statement `sql` with `values`: whether it changed a row.
fn changed(tx: &Transaction, sql: &str, values: impl Params) -> rusqlite::Result<QueueAnswer> {
    let mut stmt = tx.prepare_cached(&sqlite_text(sql))?;
    Ok(QueueAnswer::Changed(stmt.execute(values)? > 0))
}

/// One queue operation inside the batch's transaction.
pub(crate) fn apply(tx: &Transaction, op: &QueueOp, now: i64) -> rusqlite::Result<QueueAnswer> {
    match op {
        QueueOp::Enqueue(runs) => {
            insert_runs(tx, now, runs, OnConflict::Fresh)?;
            Ok(QueueAnswer::Enqueued)
        }
        QueueOp::EnqueueSubRun { run, max_per_root } => {
            let start = if tx
                .prepare_cached(&sqlite_text(RUN_EXISTS_SQL))?
                .exists(params![run.id])?
            {
                SubRunStart::Existed
            } else if tx
                .prepare_cached(&sqlite_text(COUNT_STARTED_RUN_SQL))?
                .execute(params![run.parent_run_id, max_per_root])?
                == 0
            {
                SubRunStart::LimitReached
            } else if insert_runs(tx, now, std::slice::from_ref(run), OnConflict::IfAbsent)? == 1 {
                SubRunStart::Started
            } else {
                SubRunStart::Existed
            };
            Ok(QueueAnswer::SubRun(start))
        }
        QueueOp::Claim { node, n, lease_ms } => {
            let mut stmt = tx.prepare_cached(&claim_sqlite(*n))?;
            let runs = stmt
                .query_map(params![node, now + lease_ms, now], RunRecord::from_sqlite)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            // Read here, where the rows are in the cache (`runs::context`). A read that fails
            // leaves it to the engine: the claim itself stands.
            let claimed = runs
                .into_iter()
                .map(|run| ClaimedRun {
                    context: context_sqlite(tx, &run).ok(),
                    run,
                })
                .collect();
            Ok(QueueAnswer::Claimed(claimed))
        }
        QueueOp::SaveStep(s) => changed(tx, SAVE_STEP_SQL, params_from_iter(s.values())),
        QueueOp::Finish {
            id,
            node,
            status,
            outputs,
            error,
        } => changed(
            tx,
            FINISH_SQL,
            params![id, node, status, outputs, error, now],
        ),
        QueueOp::Release { id, node, at } => changed(tx, RELEASE_SQL, params![id, node, at]),
        QueueOp::Wake { id } => changed(tx, WAKE_SQL, params![id, now]),
        QueueOp::GiveUp { id, node, at } => changed(tx, GIVE_UP_SQL, params![id, node, at]),
        QueueOp::Renew {
            node,
            ids,
            lease_ms,
        } => {
            // Never empty: `RunQueue::renew` answers that itself (`IN ()` is no SQL).
            // Not cached: the text varies with the number of runs, and it runs every few
            // seconds at most.
            let mut stmt = tx.prepare(&sqlite_text(&renew_sql(ids.len())))?;
            let until = now + lease_ms;
            let head: [&dyn rusqlite::ToSql; 2] = [node, &until];
            let values = head
                .into_iter()
                .chain(ids.iter().map(|id| id as &dyn rusqlite::ToSql));
            let held = stmt
                .query_map(params_from_iter(values), |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(QueueAnswer::Held(held))
        }
        QueueOp::Cancel { id } => {
            tx.prepare_cached(&sqlite_text(CANCEL_FLAG_SQL))?
                .execute(params![id])?;
            let ended = tx
                .prepare_cached(&sqlite_text(CANCEL_END_SQL))?
                .execute(params![id, now])?;
            if ended > 0 {
                tx.prepare_cached(&sqlite_text(CANCEL_STEPS_SQL))?
                    .execute(params![id, now])?;
            }
            let mut stmt = tx.prepare_cached(&sqlite_text(&GET_RUN_SQL))?;
            let run = stmt
                .query_map(params![id], RunRecord::from_sqlite)?
                .next()
                .transpose()?;
            Ok(QueueAnswer::Run(run.map(Box::new)))
        }
    }
}
