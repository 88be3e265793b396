//! Workflow versions (SPEC §10): every save of a workflow's document is kept as an immutable
//! version, and a run executes the version it started on. Written inside the save's transaction
//! (see `workflows.rs`); this module reads them and says what is kept.
//!
//! Retention: a workflow keeps its newest [`VERSIONS_KEPT`] versions and every version a run
//! refers to (runs are never deleted, so a version a run started on stays). Deleting a workflow
//! deletes its versions no run refers to.

use sqlx::AssertSqlSafe;

use crate::workflows::WorkflowDocument;
use crate::{Result, Store};

/// How many of a workflow's newest versions are kept whether or not a run refers to them.
pub const VERSIONS_KEPT: i64 = 50;

/// Copies workflow `$1` as it now is into a new version (its `version` was just set).
pub(crate) const SAVE_VERSION_SQL: &str = "INSERT INTO workflow_versions (workflow_id, version, \
    name, source, source_format, definition, valid, errors, created_at) \
    SELECT id, version, name, source, source_format, definition, valid, errors, updated_at \
    FROM workflows WHERE id = $1";

/// Deletes the versions of workflow `$1` older than its newest `$2` that no run refers to.
pub(crate) const PRUNE_VERSIONS_SQL: &str = "DELETE FROM workflow_versions \
    WHERE workflow_id = $1 \
    AND version <= (SELECT version FROM workflows WHERE id = $1) - $2 \
    AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.workflow_id = $1 \
    AND r.workflow_version = workflow_versions.version)";

/// Deletes the versions of (deleted) workflow `$1` that no run refers to.
pub(crate) const DELETE_UNUSED_VERSIONS_SQL: &str = "DELETE FROM workflow_versions \
    WHERE workflow_id = $1 \
    AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.workflow_id = $1 \
    AND r.workflow_version = workflow_versions.version)";

/// One saved version of a workflow's document.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkflowVersion {
    pub workflow_id: String,
    pub version: i64,
    /// The document as it was saved (its name the workflow's then, its validation as saved).
    #[sqlx(flatten)]
    pub document: WorkflowDocument,
    pub created_at: i64,
}

const COLUMNS: &str = "workflow_id, version, name, source, source_format, definition, valid, \
    errors, created_at";

impl Store {
    /// The versions of workflow `workflow_id`, newest first: up to `limit` older than `before`
    /// (all when `None`), and the version to pass as `before` for the next page.
    pub async fn list_workflow_versions(
        &self,
        workflow_id: &str,
        limit: i64,
        before: Option<i64>,
    ) -> Result<(Vec<WorkflowVersion>, Option<i64>)> {
        let sql = format!(
            "SELECT {COLUMNS} FROM workflow_versions WHERE workflow_id = $1 AND version < $2 \
             ORDER BY version DESC LIMIT $3"
        );
        let args = [workflow_id.into(), before.unwrap_or(i64::MAX).into()];
        let key = |v: &WorkflowVersion| v.version;
        self.page(AssertSqlSafe(sql), &args, limit, key).await
    }

    /// Version `version` of workflow `workflow_id`, if it is kept.
    pub async fn get_workflow_version(
        &self,
        workflow_id: &str,
        version: i64,
    ) -> Result<Option<WorkflowVersion>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM workflow_versions WHERE workflow_id = $1 AND version = $2"
        );
        let args = [workflow_id.into(), version.into()];
        self.one(AssertSqlSafe(sql), &args).await
    }
}
