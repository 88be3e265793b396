//! The queue's writes on PostgreSQL, inside the journal writer's transaction. A failed statement
//! aborts a PostgreSQL transaction, so these are written not to fail on expected conditions (ON
//! CONFLICT, guarded UPDATEs); an unexpected error fails the batch, which the writer answers as
//! a whole. Step records and run ends are written for the whole batch at once.

use std::collections::HashSet;

use sqlx::PgConnection;

use super::insert_runs_sqlx;
use super::op::{QueueAnswer, QueueOp, SubRunStart};
use super::sql::{
    CANCEL_END_SQL, CANCEL_FLAG_SQL, CANCEL_STEPS_SQL, CLAIM_POSTGRES, COUNT_STARTED_RUN_SQL,
    GET_RUN_SQL, GIVE_UP_SQL, OnConflict, RELEASE_SQL, RUN_EXISTS_SQL, STEP_INSERT_HEAD,
    STEP_UPSERT_TAIL, WAKE_SQL, renew_sql,
};
use crate::Result;
use crate::db::values_sql;
use crate::query::{Arg, Columns, statement};
use crate::runs::{ClaimedRun, RunRecord};

/// Step records (between [`STEP_INSERT_HEAD`] and [`STEP_UPSERT_TAIL`]): one upsert per chunk of
/// steps with distinct `(run_id, path)` (PostgreSQL cannot update one row twice in a statement;
/// a run awaits each write, so a batch rarely holds the same step twice — then it goes into the
/// next chunk).
const STEP_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/// Rows per statement for steps and run ends (15 parameters each at most).
const STEP_CHUNK: usize = 1000;

/// The batch's queue operations, answered in their order.
pub(crate) async fn apply_all(
    conn: &mut PgConnection,
    ops: &[&QueueOp],
    now: i64,
) -> Result<Vec<QueueAnswer>> {
    let mut answers: Vec<Option<QueueAnswer>> = Vec::with_capacity(ops.len());
    answers.resize_with(ops.len(), || None);
    save_steps(conn, ops, &mut answers).await?;
    finish_runs(conn, ops, &mut answers, now).await?;
    for (op, answer) in ops.iter().zip(answers.iter_mut()) {
        if answer.is_none() {
            *answer = Some(apply(conn, op, now).await?);
        }
    }
    answers
        .into_iter()
        .map(|a| {
            a.ok_or_else(|| crate::StoreError::Internal("a run queue write got no answer".into()))
        })
        .collect()
}

async fn apply(conn: &mut PgConnection, op: &QueueOp, now: i64) -> Result<QueueAnswer> {
    Ok(match op {
        QueueOp::Enqueue(runs) => {
            insert_runs_sqlx!(&mut *conn, now, runs, OnConflict::Fresh);
            QueueAnswer::Enqueued
        }
        QueueOp::EnqueueSubRun { run, max_per_root } => {
            let exists = sqlx::query(RUN_EXISTS_SQL)
                .bind(&run.id)
                .fetch_optional(&mut *conn)
                .await?
                .is_some();
            let root = [(&run.parent_run_id).into(), max_per_root.into()];
            QueueAnswer::SubRun(if exists {
                SubRunStart::Existed
            } else if changed(conn, COUNT_STARTED_RUN_SQL, &root).await? == 0 {
                SubRunStart::LimitReached
            } else {
                let runs = std::slice::from_ref(run);
                match insert_runs_sqlx!(&mut *conn, now, runs, OnConflict::IfAbsent) {
                    1 => SubRunStart::Started,
                    _ => SubRunStart::Existed,
                }
            })
        }
        QueueOp::Claim { node, n, lease_ms } => {
            let runs = sqlx::query_as::<_, RunRecord>(CLAIM_POSTGRES.as_str())
                .bind(node)
                .bind(now + lease_ms)
                .bind(now)
                .bind(n)
                .fetch_all(&mut *conn)
                .await?;
            let claimed = runs
                .into_iter()
                .map(|run| ClaimedRun { run, context: None });
            QueueAnswer::Claimed(claimed.collect())
        }
        // Answered before, for the whole batch at once, by `save_steps` and `finish_runs`.
        QueueOp::SaveStep(_) | QueueOp::Finish { .. } => {
            return Err(crate::StoreError::Internal(
                "step records and run ends are written per batch".into(),
            ));
        }
        QueueOp::Release { id, node, at } | QueueOp::GiveUp { id, node, at } => {
            let sql = match op {
                QueueOp::Release { .. } => RELEASE_SQL,
                _ => GIVE_UP_SQL,
            };
            QueueAnswer::Changed(
                changed(conn, sql, &[id.into(), node.into(), at.into()]).await? > 0,
            )
        }
        QueueOp::Wake { id } => {
            QueueAnswer::Changed(changed(conn, WAKE_SQL, &[id.into(), now.into()]).await? > 0)
        }
        QueueOp::Renew {
            node,
            ids,
            lease_ms,
        } => {
            // Never empty: `RunQueue::renew` answers that itself (`IN ()` is no SQL).
            let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(renew_sql(ids.len())))
                .bind(node)
                .bind(now + lease_ms);
            for id in ids {
                q = q.bind(id);
            }
            QueueAnswer::Held(q.fetch_all(&mut *conn).await?)
        }
        QueueOp::Cancel { id } => {
            changed(conn, CANCEL_FLAG_SQL, &[id.into()]).await?;
            if changed(conn, CANCEL_END_SQL, &[id.into(), now.into()]).await? > 0 {
                changed(conn, CANCEL_STEPS_SQL, &[id.into(), now.into()]).await?;
            }
            let run = sqlx::query_as::<_, RunRecord>(GET_RUN_SQL.as_str())
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            QueueAnswer::Run(run.map(Box::new))
        }
    })
}

/// Runs statement `sql` with `args`: how many rows it changed.
async fn changed(conn: &mut PgConnection, sql: &'static str, args: &[Arg<'_>]) -> Result<u64> {
    Ok(statement(sql, args).execute(conn).await?.rows_affected())
}

/// Writes every `SaveStep` of the batch with as few statements as possible.
async fn save_steps(
    conn: &mut PgConnection,
    ops: &[&QueueOp],
    answers: &mut [Option<QueueAnswer>],
) -> Result<()> {
    let mut pending: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| matches!(op, QueueOp::SaveStep(_)))
        .map(|(i, _)| i)
        .collect();
    while !pending.is_empty() {
        let mut chunk = Vec::new();
        let mut later = Vec::new();
        let mut keys = HashSet::new();
        for i in pending {
            let QueueOp::SaveStep(st) = ops[i] else {
                continue;
            };
            if chunk.len() < STEP_CHUNK && keys.insert((st.run_id.as_str(), st.path.as_str())) {
                chunk.push(i);
            } else {
                later.push(i);
            }
        }
        let sql = values_sql(STEP_INSERT_HEAD, STEP_ROW, 0, chunk.len(), STEP_UPSERT_TAIL);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for &i in &chunk {
            let QueueOp::SaveStep(st) = ops[i] else {
                continue;
            };
            for value in st.values() {
                q = q.bind(value);
            }
        }
        q.execute(&mut *conn).await?;
        for &i in &chunk {
            answers[i] = Some(QueueAnswer::Changed(true));
        }
        pending = later;
    }
    Ok(())
}

/// Ends every run of the batch's `Finish` ops in one statement per chunk, each only if its node
/// still holds it; answers whether it ended.
async fn finish_runs(
    conn: &mut PgConnection,
    ops: &[&QueueOp],
    answers: &mut [Option<QueueAnswer>],
    now: i64,
) -> Result<()> {
    let finishes: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| matches!(op, QueueOp::Finish { .. }))
        .map(|(i, _)| i)
        .collect();
    for chunk in finishes.chunks(STEP_CHUNK) {
        let sql = values_sql(
            "UPDATE runs SET status = v.status, outputs = v.outputs, error = v.error, \
             finished_at = v.at, lease_owner = NULL, lease_expires_at = NULL FROM (VALUES ",
            "(?::TEXT, ?::TEXT, ?::TEXT, ?::TEXT, ?::TEXT, ?::BIGINT)",
            0,
            chunk.len(),
            ") AS v (id, node, status, outputs, error, at) WHERE runs.id = v.id \
             AND runs.lease_owner = v.node AND runs.status = 'running' RETURNING runs.id",
        );
        let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for &i in chunk {
            let QueueOp::Finish {
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
                .bind(*status)
                .bind(outputs)
                .bind(error)
                .bind(now);
        }
        let ended: HashSet<String> = q.fetch_all(&mut *conn).await?.into_iter().collect();
        for &i in chunk {
            if let QueueOp::Finish { id, .. } = ops[i] {
                answers[i] = Some(QueueAnswer::Changed(ended.contains(id)));
            }
        }
    }
    Ok(())
}
