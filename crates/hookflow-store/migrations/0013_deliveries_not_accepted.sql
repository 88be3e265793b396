-- Accepted deliveries are most of the table and of the journal's writes: each index entry they
-- add costs the ingest path a b-tree insert and WAL pages at every commit (BENCHMARKS.md,
-- "Fewer index entries per accepted delivery"). The index on (webhook_id, status, id) served
-- the lists of rejected and duplicate deliveries and the pruning of rejected ones; accepted ones
-- are read along deliveries_by_webhook. So only the deliveries that are not accepted are indexed
-- by status (queries that use it repeat its condition `status <> 'accepted'`).
DROP INDEX deliveries_by_status;
CREATE INDEX deliveries_not_accepted ON deliveries (webhook_id, status, id)
    WHERE status <> 'accepted';
