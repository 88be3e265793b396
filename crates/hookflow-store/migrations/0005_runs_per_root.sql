-- How many runs a root run (one without a parent) and the runs under it have started: the
-- `--max-runs-per-root` count, kept on the root's row so that every node sees and updates it
-- in the transaction that inserts a sub-run.
ALTER TABLE runs ADD COLUMN started_runs BIGINT NOT NULL DEFAULT 0;
