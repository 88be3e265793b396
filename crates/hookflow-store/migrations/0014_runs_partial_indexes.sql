-- Each run wrote an entry into nine indexes when it was queued, and moved entries in three of
-- them each time its status changed. Four of them hold entries nothing looks up: the run's
-- parent, its replayed delivery and its finish time are empty for most runs until they end (or
-- for good), and the claim's index kept every finished run. Each entry is a b-tree write and WAL
-- pages in the writer's commits (BENCHMARKS.md, "Fewer index entries per run"). So these four
-- index only the runs they are read for. Every query that reads them still goes along them:
-- SQLite uses a partial index when the query says its condition, which `x = ...` and `x < ...`
-- do for `x IS NOT NULL`; the claim repeats `status IN ('queued', 'waiting', 'running')`.
DROP INDEX runs_ready;
CREATE INDEX runs_ready ON runs (status, available_at)
    WHERE status IN ('queued', 'waiting', 'running');
DROP INDEX runs_by_parent;
CREATE INDEX runs_by_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
DROP INDEX runs_by_replay;
CREATE INDEX runs_by_replay ON runs (replay_of) WHERE replay_of IS NOT NULL;
DROP INDEX runs_by_finished;
CREATE INDEX runs_by_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;
