-- Retention (`serve --retain-days`): the pruner finds the deliveries received, and the runs
-- finished, before its cutoff by a range scan of these, oldest first.
CREATE INDEX deliveries_by_received ON deliveries (received_at);
CREATE INDEX runs_by_finished ON runs (finished_at);
