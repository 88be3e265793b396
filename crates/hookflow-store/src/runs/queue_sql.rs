//! The statements that move runs through the queue, written by the journal's writer inside its
//! batches (both backends): enqueue (one row, or many on PostgreSQL), claim with a lease, save a
//! step, finish, release until later, wake, and count a sub-run against its root's limit.

use super::RUN_COLUMNS;

/// `INSERT INTO runs (…) VALUES ` — the head of [`INSERT_RUN_SQL`], also written with many rows
/// at once by the PostgreSQL journal.
macro_rules! run_insert_head {
    () => {
        "INSERT INTO runs (id, workflow_id, workflow_name, status, trigger_kind, delivery_id, \
         event_id, scheduled_at, inputs, parent_run_id, depth, cancel_requested, available_at, \
         claims, created_at, workflow_version, replay_of, traceparent) VALUES "
    };
}
/// The value of `runs.workflow_version` for a run of workflow `$2`: its latest version, read in
/// the statement that enqueues the run, which pins it (SPEC §10). The PostgreSQL journal's
/// many-row insert writes the same with a `?`.
macro_rules! pinned_version {
    ($id:literal) => {
        concat!(
            "COALESCE((SELECT version FROM workflows WHERE id = ",
            $id,
            "), 0)"
        )
    };
}
pub(crate) const RUN_INSERT_HEAD: &str = run_insert_head!();
/// The SQL that enqueues a run (used by the delivery journal too, inside its transaction).
pub(crate) const INSERT_RUN_SQL: &str = concat!(
    run_insert_head!(),
    "($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10, FALSE, $11, 0, $11, ",
    pinned_version!("$2"),
    ", $12, $13)"
);

/// Claims ready or abandoned runs: `$1` node, `$2` lease end, `$3` now, `$4` how many; `{lock}` is
/// ` FOR UPDATE SKIP LOCKED` on PostgreSQL. Each kind of candidate (queued, waiting and due,
/// running with an expired lease) is read by its own ordered range scan of `runs_ready` with a
/// limit, then the oldest `$4` of them are taken: no `OR`, so PostgreSQL never has to read every
/// index entry of a status (the dead ones of finished runs included) to sort them.
pub(crate) fn claim_sql(lock: &str) -> String {
    let pick = |cond: &str| {
        format!(
            "SELECT id, available_at FROM runs WHERE {cond} ORDER BY available_at LIMIT $4{lock}"
        )
    };
    format!(
        "WITH queued AS ({}), waiting AS ({}), abandoned AS ({}) \
         UPDATE runs SET status = 'running', lease_owner = $1, lease_expires_at = $2, \
         claims = claims + 1, started_at = COALESCE(started_at, $3) \
         WHERE id IN (SELECT id FROM (SELECT id, available_at FROM queued UNION ALL \
         SELECT id, available_at FROM waiting UNION ALL SELECT id, available_at FROM abandoned) \
         AS c ORDER BY available_at LIMIT $4) RETURNING {RUN_COLUMNS}",
        pick("status = 'queued' AND available_at <= $3"),
        pick("status = 'waiting' AND available_at <= $3"),
        pick("status = 'running' AND lease_expires_at < $3"),
    )
}

/// `INSERT INTO run_steps (…) VALUES ` — the head of [`SAVE_STEP_SQL`], also written with many
/// rows at once by the PostgreSQL journal.
macro_rules! step_insert_head {
    () => {
        "INSERT INTO run_steps (run_id, path, seq, step_id, step_type, status, iteration, \
         input, output, error, attempts, wake_at, started_at, finished_at, replay) VALUES "
    };
}
/// What a step write does to a step already recorded: the tail of [`SAVE_STEP_SQL`]. A write
/// without an input (a resumed run finishing a step it started before: it holds no rendered
/// inputs) keeps the one recorded.
macro_rules! step_upsert_tail {
    () => {
        " ON CONFLICT (run_id, path) DO UPDATE SET status = excluded.status, \
         input = COALESCE(excluded.input, run_steps.input), output = excluded.output, \
         error = excluded.error, \
         attempts = excluded.attempts, wake_at = excluded.wake_at, \
         finished_at = excluded.finished_at, replay = excluded.replay"
    };
}
pub(crate) const STEP_INSERT_HEAD: &str = step_insert_head!();
pub(crate) const STEP_UPSERT_TAIL: &str = step_upsert_tail!();
pub(crate) const SAVE_STEP_SQL: &str = concat!(
    step_insert_head!(),
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    step_upsert_tail!()
);

pub(crate) const FINISH_SQL: &str = "UPDATE runs SET status = $3, outputs = $4, error = $5, \
    finished_at = $6, lease_owner = NULL, lease_expires_at = NULL \
    WHERE id = $1 AND lease_owner = $2 AND status = 'running'";

pub(crate) const RELEASE_SQL: &str = "UPDATE runs SET status = 'waiting', available_at = $3, \
    lease_owner = NULL, lease_expires_at = NULL \
    WHERE id = $1 AND lease_owner = $2 AND status = 'running'";

pub(crate) const WAKE_SQL: &str =
    "UPDATE runs SET available_at = $2 WHERE id = $1 AND status = 'waiting'";

/// Enqueue a run unless one with its id exists (sub-runs derive their ids, so a replay finds
/// the same child).
pub(crate) const INSERT_RUN_IF_ABSENT_SQL: &str = concat!(
    run_insert_head!(),
    "($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10, FALSE, $11, 0, $11, ",
    pinned_version!("$2"),
    ", $12, $13) ON CONFLICT (id) DO NOTHING"
);

/// Whether a run with id `$1` exists.
pub(crate) const RUN_EXISTS_SQL: &str = "SELECT 1 FROM runs WHERE id = $1";

/// Counts one more run started under the root of run `$1` (found by following parents up), unless
/// the root's tree has started `$2` already: one row changed, or none at the limit.
pub(crate) const COUNT_STARTED_RUN_SQL: &str = "WITH RECURSIVE up (id, parent) AS (\
    SELECT id, parent_run_id FROM runs WHERE id = $1 UNION ALL \
    SELECT r.id, r.parent_run_id FROM runs r JOIN up u ON r.id = u.parent) \
    UPDATE runs SET started_runs = started_runs + 1 \
    WHERE id IN (SELECT id FROM up WHERE parent IS NULL) AND started_runs < $2";
