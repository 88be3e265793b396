-- Duplicate detection, durable on the delivery row (issue 13). The delivery that holds a dedup
-- key records the key's hash and when its window ends; that row is the durable record of the
-- key. On SQLite the journal's writer keeps the window's keys in a table of its connection's
-- TEMP schema (same primary key, so "the first one wins" is still decided by a unique index
-- inside the transaction that records the request), rebuilt from these columns when it starts
-- (the deliveries_by_received index bounds that scan to the longest window): a claim then costs
-- no random write to the WAL (BENCHMARKS.md, "Duplicate detection").
ALTER TABLE deliveries ADD COLUMN dedup_key_hash BLOB;
ALTER TABLE deliveries ADD COLUMN dedup_expires_at BIGINT;
UPDATE deliveries SET
    dedup_key_hash = (SELECT k.key_hash FROM dedup_keys k WHERE k.delivery_id = deliveries.id),
    dedup_expires_at = (SELECT k.expires_at FROM dedup_keys k WHERE k.delivery_id = deliveries.id)
WHERE id IN (SELECT delivery_id FROM dedup_keys);
-- The keys live in the writer's TEMP table from now on.
DELETE FROM dedup_keys;
