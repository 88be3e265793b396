-- Duplicate detection, recorded on the delivery row too (issue 13): the delivery that holds a
-- dedup key records the key's hash and when its window ends. On PostgreSQL the keys stay in
-- dedup_keys (several nodes claim through its primary key); the columns let retention keep a
-- delivery while it holds a key, the same rule as on SQLite.
ALTER TABLE deliveries ADD COLUMN dedup_key_hash BYTEA;
ALTER TABLE deliveries ADD COLUMN dedup_expires_at BIGINT;
UPDATE deliveries d SET dedup_key_hash = k.key_hash, dedup_expires_at = k.expires_at
    FROM dedup_keys k WHERE k.delivery_id = d.id;
