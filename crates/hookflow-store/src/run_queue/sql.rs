//! The queue's statements, the same text on both backends (`$N` parameters; the SQLite writer
//! reads them as `?N`): enqueue (many rows in one statement, the one way a run starts), claim
//! with a lease, save a step, finish, release until later, wake, renew and give up leases,
//! cancel a run's tree, and count a sub-run against its root's limit.

use std::sync::LazyLock;

use crate::db::values_sql;
use crate::query::Columns;
use crate::runs::NewRun;

/// The columns of a run as read ([`super::RunRecord`]'s fields).
pub(crate) const RUN_COLUMNS: &str = <super::RunRecord as Columns>::COLUMNS;

/// The head of every insert into `runs`: [`insert_runs_sql`] writes it with one or many rows.
const RUN_INSERT_HEAD: &str = "INSERT INTO runs (id, workflow_id, workflow_name, status, \
    trigger_kind, delivery_id, event_id, scheduled_at, inputs, parent_run_id, depth, \
    cancel_requested, available_at, claims, created_at, workflow_version, replay_of, \
    traceparent) VALUES ";

/// One run enqueued, after [`RUN_INSERT_HEAD`]: `queued`, due and created at `$1` (the
/// statement's one shared parameter), then [`RUN_WIDTH`] parameters of its own in
/// [`NewRun`](super::NewRun)'s order — id, workflow_id, workflow_name, trigger_kind,
/// delivery_id, event_id, scheduled_at, inputs, parent_run_id, depth, replay_of, traceparent.
/// `@2` is the row's workflow id again: the run is pinned to the workflow's latest version, read
/// in the statement that enqueues it (SPEC §10; 0 if the workflow is gone).
const RUN_ROW: &str = "(?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, FALSE, $1, 0, $1, \
    COALESCE((SELECT version FROM workflows WHERE id = @2), 0), ?, ?)";

/// Parameters of each row of [`insert_runs_sql`] (besides the shared `$1`): a [`NewRun`]'s
/// fields.
pub(crate) const RUN_WIDTH: usize = <NewRun as Columns>::WIDTH;

/// What an insert does with a run whose id exists: fail (`Fresh`: ids are new), or skip it
/// (`IfAbsent`: a sub-run's id derives from its parent's step, so a replayed step finds the run
/// it started before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnConflict {
    Fresh,
    IfAbsent,
}

/// The statement enqueuing `rows` runs: `$1` the time, then [`RUN_WIDTH`] parameters per run.
pub(crate) fn insert_runs_sql(rows: usize, on_conflict: OnConflict) -> String {
    let tail = match on_conflict {
        OnConflict::Fresh => "",
        OnConflict::IfAbsent => " ON CONFLICT (id) DO NOTHING",
    };
    values_sql(RUN_INSERT_HEAD, RUN_ROW, 1, rows, tail)
}

/// Most runs per insert statement through sqlx (12 parameters each; PostgreSQL allows 65,535,
/// SQLite 32,766).
pub(crate) const SQLX_RUN_CHUNK: usize = 1000;

/// How to split `n` rows into statements of at most `max` rows. `fixed`: the remainder is cut
/// into powers of two, so that a backend caching statements by text (the SQLite writer) sees at
/// most a handful of texts; otherwise it is one statement.
pub(crate) fn chunk_sizes(n: usize, max: usize, fixed: bool) -> impl Iterator<Item = usize> {
    let full = n / max;
    let rest = n % max;
    let rest: Vec<usize> = match (rest, fixed) {
        (0, _) => Vec::new(),
        (r, false) => vec![r],
        (r, true) => (0..usize::BITS)
            .rev()
            .map(|b| 1usize << b)
            .filter(|bit| r & bit != 0)
            .collect(),
    };
    std::iter::repeat_n(max, full).chain(rest)
}

/// The condition of the partial index `runs_ready` (migration 0014): the runs that have not
/// ended. A query that reads it says this condition too (SQLite uses a partial index only then).
const UNFINISHED: &str = "status IN ('queued', 'waiting', 'running')";

/// Claims ready or abandoned runs: `$1` node, `$2` lease end, `$3` now, `$4` how many; `{lock}` is
/// ` FOR UPDATE SKIP LOCKED` on PostgreSQL. Each kind of candidate (queued, waiting and due,
/// running with an expired lease) is read by its own ordered range scan of `runs_ready` with a
/// limit, then the oldest `$4` of them are taken: no `OR`, so PostgreSQL never has to read every
/// index entry of a status (the dead ones of finished runs included) to sort them.
pub(super) fn claim_sql(lock: &str, limit: &str) -> String {
    let pick = |cond: &str| {
        format!(
            "SELECT id, available_at FROM runs WHERE {UNFINISHED} AND {cond} \
             ORDER BY available_at LIMIT {limit}{lock}"
        )
    };
    format!(
        "WITH queued AS ({}), waiting AS ({}), abandoned AS ({}) \
         UPDATE runs SET status = 'running', lease_owner = $1, lease_expires_at = $2, \
         claims = claims + 1, started_at = COALESCE(started_at, $3) \
         WHERE id IN (SELECT id FROM (SELECT id, available_at FROM queued UNION ALL \
         SELECT id, available_at FROM waiting UNION ALL SELECT id, available_at FROM abandoned) \
         AS c ORDER BY available_at LIMIT {limit}) RETURNING {RUN_COLUMNS}",
        pick("status = 'queued' AND available_at <= $3"),
        pick("status = 'waiting' AND available_at <= $3"),
        pick("status = 'running' AND lease_expires_at < $3"),
    )
}

/// [`claim_sql`] for SQLite (no row locks: one writer) claiming up to `n` runs, in SQLite's `?N`
/// form (parameters 1–3). The limit is written into the text: SQLite prepares a statement whose
/// LIMIT is a bound parameter again at every execution (its planner reads the value), which took
/// ~15 % of the writer's time in the end-to-end benchmark. The engine asks for powers of two,
/// so a few texts stay in the writer's statement cache.
pub(crate) fn claim_sqlite(n: i64) -> String {
    crate::db::sqlite_text(&claim_sql("", &n.max(0).to_string()))
}
/// [`claim_sql`] for PostgreSQL: nodes skip the candidates another node is claiming.
pub(crate) static CLAIM_POSTGRES: LazyLock<String> =
    LazyLock::new(|| claim_sql(" FOR UPDATE SKIP LOCKED", "$4"));

/// `INSERT INTO run_steps (…) VALUES ` — the head of [`SAVE_STEP_SQL`], also written with many
/// rows at once by the PostgreSQL writer.
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

/// Ends run `$1` if node `$2` still holds it: status `$3`, outputs `$4`, error `$5` at `$6`.
pub(crate) const FINISH_SQL: &str = "UPDATE runs SET status = $3, outputs = $4, error = $5, \
    finished_at = $6, lease_owner = NULL, lease_expires_at = NULL \
    WHERE id = $1 AND lease_owner = $2 AND status = 'running'";

/// Puts run `$1` that node `$2` holds back to wait until `$3`.
pub(crate) const RELEASE_SQL: &str = "UPDATE runs SET status = 'waiting', available_at = $3, \
    lease_owner = NULL, lease_expires_at = NULL \
    WHERE id = $1 AND lease_owner = $2 AND status = 'running'";

/// Makes waiting run `$1` due at `$2`.
pub(crate) const WAKE_SQL: &str =
    "UPDATE runs SET available_at = $2 WHERE id = $1 AND status = 'waiting'";

/// Extends to `$2` the leases node `$1` holds on the running runs among `ids` (parameters from
/// `$3`); returns the ids renewed.
pub(crate) fn renew_sql(ids: usize) -> String {
    let list: Vec<String> = (3..ids + 3).map(|i| format!("${i}")).collect();
    format!(
        "UPDATE runs SET lease_expires_at = $2 WHERE lease_owner = $1 AND status = 'running' \
         AND id IN ({}) RETURNING id",
        list.join(", ")
    )
}

/// Lets the lease node `$2` holds on run `$1` run out at `$3`.
pub(crate) const GIVE_UP_SQL: &str = "UPDATE runs SET lease_expires_at = $3 \
    WHERE id = $1 AND lease_owner = $2 AND status = 'running'";

/// `tree`: run `$1` and every run started under it (sub-workflow runs, recursively; the depth is
/// capped by the sub-workflow depth limit). Prefix of a statement that reads `tree`.
macro_rules! run_tree {
    () => {
        "WITH RECURSIVE tree (id) AS (SELECT CAST($1 AS TEXT) UNION ALL \
         SELECT r.id FROM runs r JOIN tree t ON r.parent_run_id = t.id) "
    };
}

/// Cancel, first: flags run `$1` and its tree (a running run stops at its next step).
pub(crate) const CANCEL_FLAG_SQL: &str = concat!(
    run_tree!(),
    "UPDATE runs SET cancel_requested = TRUE \
     WHERE id IN (SELECT id FROM tree) AND status IN ('queued', 'waiting', 'running')"
);
/// Cancel, then: ends at `$2` the runs of the tree that are not running.
pub(crate) const CANCEL_END_SQL: &str = concat!(
    run_tree!(),
    "UPDATE runs SET status = 'cancelled', finished_at = $2, \
     error = 'cancelled', lease_owner = NULL, lease_expires_at = NULL \
     WHERE id IN (SELECT id FROM tree) AND status IN ('queued', 'waiting')"
);
/// Cancel, last (when it ended runs): their waiting or running steps end as cancelled at `$2`.
pub(crate) const CANCEL_STEPS_SQL: &str = concat!(
    run_tree!(),
    "UPDATE run_steps SET status = 'cancelled', finished_at = $2, \
     error = 'cancelled' WHERE run_id IN (SELECT id FROM tree) \
     AND status IN ('waiting', 'running') \
     AND run_id IN (SELECT id FROM runs WHERE status = 'cancelled')"
);

/// Run `$1` as it is.
pub(crate) static GET_RUN_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"));

/// Whether a run with id `$1` exists.
pub(crate) const RUN_EXISTS_SQL: &str = "SELECT 1 FROM runs WHERE id = $1";

/// Counts one more run started under the root of run `$1` (found by following parents up), unless
/// the root's tree has started `$2` already: one row changed, or none at the limit.
pub(crate) const COUNT_STARTED_RUN_SQL: &str = "WITH RECURSIVE up (id, parent) AS (\
    SELECT id, parent_run_id FROM runs WHERE id = $1 UNION ALL \
    SELECT r.id, r.parent_run_id FROM runs r JOIN up u ON r.id = u.parent) \
    UPDATE runs SET started_runs = started_runs + 1 \
    WHERE id IN (SELECT id FROM up WHERE parent IS NULL) AND started_runs < $2";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_statement_text_for_one_or_many_runs() {
        let one = insert_runs_sql(1, OnConflict::Fresh);
        assert!(one.ends_with(
            "($2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10, $11, FALSE, $1, 0, $1, \
             COALESCE((SELECT version FROM workflows WHERE id = $3), 0), $12, $13)"
        ));
        let two = insert_runs_sql(2, OnConflict::IfAbsent);
        assert!(two.contains("$13),($14, $15, $16, 'queued'"), "{two}");
        assert!(two.contains("WHERE id = $15), 0), $24, $25) ON CONFLICT (id) DO NOTHING"));
    }

    /// The names in a parenthesised, comma-separated list (commas inside nested parentheses
    /// belong to their item).
    fn items(list: &str) -> Vec<String> {
        let inner = &list[list.find('(').unwrap() + 1..list.rfind(')').unwrap()];
        let (mut out, mut depth, mut item) = (Vec::new(), 0, String::new());
        for c in inner.chars() {
            match c {
                ',' if depth == 0 => out.push(std::mem::take(&mut item).trim().to_string()),
                '(' | ')' => {
                    depth += if c == '(' { 1 } else { -1 };
                    item.push(c);
                }
                c => item.push(c),
            }
        }
        out.push(item.trim().to_string());
        out
    }

    /// The insert statements bind a record's values in field order: the columns their `?`s stand
    /// for must be the record's fields, in the same order.
    #[test]
    fn inserts_bind_the_records_fields_in_order() {
        use crate::runs::StepRecord;
        let fields = |c: &str| c.split(", ").map(str::to_string).collect::<Vec<_>>();
        let head = items(RUN_INSERT_HEAD.trim_end_matches(" VALUES "));
        let row = items(RUN_ROW);
        assert_eq!(head.len(), row.len());
        let bound: Vec<String> = head
            .into_iter()
            .zip(&row)
            .filter(|(_, v)| v.as_str() == "?")
            .map(|(c, _)| c)
            .collect();
        assert_eq!(bound, fields(<NewRun as Columns>::COLUMNS));
        let steps = items(STEP_INSERT_HEAD.trim_end_matches(" VALUES "));
        assert_eq!(steps, fields(<StepRecord as Columns>::COLUMNS));
        assert_eq!(steps.len(), SAVE_STEP_SQL.matches('$').count());
    }

    #[test]
    fn chunks() {
        let sizes = |n, max, fixed| chunk_sizes(n, max, fixed).collect::<Vec<_>>();
        assert_eq!(sizes(0, 32, true), Vec::<usize>::new());
        assert_eq!(sizes(75, 32, true), [32, 32, 8, 2, 1]);
        assert_eq!(sizes(75, 32, false), [32, 32, 11]);
        assert_eq!(sizes(5, 1000, false), [5]);
        for n in 0..200 {
            assert_eq!(sizes(n, 32, true).iter().sum::<usize>(), n);
        }
    }
}
