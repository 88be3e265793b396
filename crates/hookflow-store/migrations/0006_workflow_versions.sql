-- Every save of a workflow's definition is kept as an immutable version (SPEC §10), and a run
-- records the version it started on and always executes that one. `workflows.version` is the
-- number of the latest version (it no longer counts enable/disable or re-validation).
CREATE TABLE workflow_versions (
    workflow_id   TEXT NOT NULL,
    version       BIGINT NOT NULL,
    name          TEXT NOT NULL,
    source        TEXT NOT NULL,
    source_format TEXT NOT NULL,
    definition    TEXT,
    valid         BOOLEAN NOT NULL,
    errors        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

-- 0: the workflow was gone when the run was enqueued (it then fails like a deleted workflow's).
ALTER TABLE runs ADD COLUMN workflow_version BIGINT NOT NULL DEFAULT 0;
-- Which versions runs refer to (retention keeps those), and a workflow's runs of one version.
CREATE INDEX runs_by_workflow_version ON runs (workflow_id, workflow_version);

-- What exists becomes version 1 of each workflow, and every run so far is pinned to it (they
-- ran on the current definition until now).
UPDATE workflows SET version = 1;
INSERT INTO workflow_versions (workflow_id, version, name, source, source_format, definition,
    valid, errors, created_at)
    SELECT id, 1, name, source, source_format, definition, valid, errors, updated_at
    FROM workflows;
UPDATE runs SET workflow_version = 1 WHERE workflow_id IN (SELECT id FROM workflows);
