-- Webhook ingestion: settings, webhooks, rate windows, the delivery journal.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE webhooks (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL UNIQUE,
    content_type          TEXT NOT NULL,
    rate_limit_per_minute BIGINT NOT NULL,
    rate_limit_per_day    BIGINT NOT NULL,
    key_hash              BYTEA NOT NULL,
    key_sealed            BYTEA NOT NULL,
    prev_key_hash         BYTEA,
    prev_key_expires_at   BIGINT,
    version               BIGINT NOT NULL,
    last_limited_at       BIGINT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

-- One row per webhook and period ('minute' | 'day'): the current fixed window's count.
CREATE TABLE rate_windows (
    webhook_id   TEXT NOT NULL,
    period       TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, period)
);

CREATE TABLE deliveries (
    id             TEXT PRIMARY KEY,
    webhook_id     TEXT NOT NULL,
    received_at    BIGINT NOT NULL,
    status         TEXT NOT NULL,
    http_status    BIGINT NOT NULL,
    reason         TEXT,
    method         TEXT NOT NULL,
    content_type   TEXT,
    headers        TEXT NOT NULL,
    query          TEXT NOT NULL,
    body           BYTEA NOT NULL,
    body_size      BIGINT NOT NULL,
    body_truncated BOOLEAN NOT NULL,
    routing        TEXT
);
CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, id);
CREATE INDEX deliveries_by_status ON deliveries (webhook_id, status, id);
