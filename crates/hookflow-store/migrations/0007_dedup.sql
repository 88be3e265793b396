-- Duplicate detection (SPEC §9). A webhook's `dedup`: the key as configured (a preset name or an
-- expression over the trigger variables) and its window; NULL: no detection.
ALTER TABLE webhooks ADD COLUMN dedup_key TEXT;
ALTER TABLE webhooks ADD COLUMN dedup_window_seconds BIGINT;
-- A duplicate delivery names the delivery that was accepted first with the same key.
ALTER TABLE deliveries ADD COLUMN duplicate_of TEXT;
-- The keys accepted within their window, one row per (webhook, SHA-256 of the key value): the
-- primary key is what makes "the first one wins" exact under concurrency and across nodes. The
-- journal inserts a key in the transaction that records the request, replacing a row whose
-- window has passed; a sweeper deletes passed rows in small batches.
CREATE TABLE dedup_keys (
    webhook_id   TEXT NOT NULL,
    key_hash     BYTEA NOT NULL,
    delivery_id  TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, key_hash)
);
CREATE INDEX dedup_keys_by_expiry ON dedup_keys (expires_at);
