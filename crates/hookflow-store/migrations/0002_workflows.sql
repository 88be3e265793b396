-- Events, workflows (with their triggers), secrets, runs and their steps.
CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    webhook_id   TEXT,
    schedule     TEXT,
    timezone     TEXT,
    filter       TEXT,
    next_fire_at BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX events_by_webhook ON events (webhook_id);
CREATE INDEX events_due ON events (next_fire_at);

CREATE TABLE workflows (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    source        TEXT NOT NULL,
    source_format TEXT NOT NULL,
    definition    TEXT,
    valid         BOOLEAN NOT NULL,
    errors        TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- The triggers of each workflow's definition, kept beside it so routing is one indexed read.
CREATE TABLE triggers (
    workflow_id TEXT NOT NULL,
    position    BIGINT NOT NULL,
    event_ref   TEXT NOT NULL,
    disabled    BOOLEAN NOT NULL,
    PRIMARY KEY (workflow_id, position)
);
CREATE INDEX triggers_by_event ON triggers (event_ref);

CREATE TABLE secrets (
    name         TEXT PRIMARY KEY,
    value_sealed BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE runs (
    id               TEXT PRIMARY KEY,
    workflow_id      TEXT NOT NULL,
    workflow_name    TEXT NOT NULL,
    status           TEXT NOT NULL,
    trigger_kind     TEXT NOT NULL,
    delivery_id      TEXT,
    event_id         TEXT,
    scheduled_at     BIGINT,
    inputs           TEXT NOT NULL,
    outputs          TEXT,
    error            TEXT,
    parent_run_id    TEXT,
    depth            BIGINT NOT NULL,
    cancel_requested BOOLEAN NOT NULL,
    available_at     BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    claims           BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT
);
CREATE INDEX runs_ready ON runs (status, available_at);
CREATE INDEX runs_by_workflow ON runs (workflow_id, id);
CREATE INDEX runs_by_delivery ON runs (delivery_id);
CREATE INDEX runs_by_parent ON runs (parent_run_id);

CREATE TABLE run_steps (
    run_id      TEXT NOT NULL,
    path        TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    step_id     TEXT NOT NULL,
    step_type   TEXT NOT NULL,
    status      TEXT NOT NULL,
    iteration   BIGINT,
    input       TEXT,
    output      TEXT,
    error       TEXT,
    attempts    BIGINT NOT NULL,
    wake_at     BIGINT,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    PRIMARY KEY (run_id, path)
);
