//! Workflows: the document as the user wrote it, its parsed definition, its validation result,
//! and whether it is enabled. The triggers of a definition are also kept in their own table, so
//! routing a delivery is one indexed read inside the delivery's transaction.

use sqlx::AssertSqlSafe;

use crate::db::on_db;
use crate::query::{Listed, created, found, name_taken};
use crate::versions::{DELETE_UNUSED_VERSIONS_SQL, PRUNE_VERSIONS_SQL, SAVE_VERSION_SQL};
use crate::{Result, Store, StoreError, names_nothing, new_id, no_nul, now_ms, text};

/// A workflow's document as saved: the document as the user wrote it, its parse and its
/// validation. A workflow holds its latest; each save also keeps it as a version.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkflowDocument {
    /// The name the document gives the workflow.
    pub name: String,
    pub source: String,
    /// `yaml` or `json`.
    pub source_format: String,
    /// The parsed definition as JSON (`None` when the document does not parse).
    pub definition: Option<String>,
    /// A workflow is validated again when what it refers to changes; a version keeps the
    /// validation it was saved with.
    pub valid: bool,
    /// JSON array of `{path, message}`.
    pub errors: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkflowRecord {
    pub id: String,
    #[sqlx(flatten)]
    pub document: WorkflowDocument,
    pub enabled: bool,
    /// The number of its latest version: each save of the document makes a new one (enabling,
    /// disabling or re-validating does not).
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What saving a workflow writes (validated by the caller).
#[derive(Debug, Clone)]
pub struct SaveWorkflow {
    pub document: WorkflowDocument,
    /// `(event name or id, disabled)` of each trigger, in order.
    pub triggers: Vec<(String, bool)>,
}

const SELECT: &str = "SELECT id, name, source, source_format, definition, valid, errors, \
    enabled, version, created_at, updated_at FROM workflows";

impl Listed for WorkflowRecord {
    const SELECT: &'static str = SELECT;

    fn id(&self) -> &str {
        &self.id
    }
}

fn not_found(id: &str) -> StoreError {
    crate::query::not_found("workflow", id)
}

impl Store {
    /// Creates a workflow (enabled) with its triggers.
    pub async fn create_workflow(&self, w: SaveWorkflow) -> Result<WorkflowRecord> {
        let id = new_id();
        self.write_workflow(&id, &w, true).await?;
        created(self.get_workflow(&id).await?, "workflow")
    }

    /// Replaces a workflow's document (keeps `enabled`).
    pub async fn replace_workflow(&self, id: &str, w: SaveWorkflow) -> Result<WorkflowRecord> {
        if names_nothing(id) {
            return Err(not_found(id));
        }
        self.write_workflow(id, &w, false).await?;
        self.get_workflow(id).await?.ok_or_else(|| not_found(id))
    }

    async fn write_workflow(&self, id: &str, save: &SaveWorkflow, create: bool) -> Result<()> {
        let w = &save.document;
        no_nul("a workflow name", &w.name)?;
        // The document as written, its parse and its errors are recorded text.
        let source = text(&w.source);
        let definition = w.definition.as_deref().map(text);
        let errors = text(&w.errors);
        let now = now_ms();
        on_db!(&self.db, |p| {
            let mut tx = p.begin_with(self.db.begin_write()).await?;
            let sql = if create {
                "INSERT INTO workflows (id, name, source, source_format, definition, valid, \
                 errors, enabled, version, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, 1, $8, $8)"
            } else {
                "UPDATE workflows SET name = $2, source = $3, source_format = $4, \
                 definition = $5, valid = $6, errors = $7, version = version + 1, \
                 updated_at = $8 WHERE id = $1"
            };
            let n = sqlx::query(sql)
                .bind(id)
                .bind(&w.name)
                .bind(&*source)
                .bind(&w.source_format)
                .bind(definition.as_deref())
                .bind(w.valid)
                .bind(&*errors)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(name_taken("a workflow", &w.name))?
                .rows_affected();
            if n == 0 {
                return Err(not_found(id));
            }
            sqlx::query(SAVE_VERSION_SQL)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(PRUNE_VERSIONS_SQL)
                .bind(id)
                .bind(crate::versions::VERSIONS_KEPT)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM triggers WHERE workflow_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for (i, (event, disabled)) in save.triggers.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO triggers (workflow_id, position, event_ref, disabled) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(i as i64)
                .bind(&*text(event))
                .bind(*disabled)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Stores a new validation result (re-validation without a document change).
    pub async fn set_workflow_validation(&self, id: &str, valid: bool, errors: &str) -> Result<()> {
        if names_nothing(id) {
            return Ok(());
        }
        let sql = "UPDATE workflows SET valid = $2, errors = $3, updated_at = $4 WHERE id = $1";
        let errors = text(errors);
        let args = [id.into(), valid.into(), (&*errors).into(), now_ms().into()];
        self.execute(sql, &args).await.map(|_| ())
    }

    pub async fn set_workflow_enabled(&self, id: &str, enabled: bool) -> Result<WorkflowRecord> {
        if names_nothing(id) {
            return Err(not_found(id));
        }
        let sql = "UPDATE workflows SET enabled = $2, updated_at = $3 WHERE id = $1";
        let n = self
            .execute(sql, &[id.into(), enabled.into(), now_ms().into()])
            .await?;
        found(n, "workflow", id)?;
        self.get_workflow(id).await?.ok_or_else(|| not_found(id))
    }

    /// By id, or by name.
    pub async fn get_workflow(&self, id_or_name: &str) -> Result<Option<WorkflowRecord>> {
        self.named(id_or_name).await
    }

    pub async fn list_workflows(
        &self,
        limit: i64,
        cursor: Option<&str>,
    ) -> Result<(Vec<WorkflowRecord>, Option<String>)> {
        self.newest(limit, cursor).await
    }

    /// Every workflow (for re-validation after events or secrets change).
    pub async fn all_workflows(&self) -> Result<Vec<WorkflowRecord>> {
        let sql = format!("{SELECT} ORDER BY id");
        self.all(AssertSqlSafe(sql), &[]).await
    }

    /// Deletes a workflow, its triggers, and its versions no run refers to (the runs' pages
    /// keep showing the version they ran).
    pub async fn delete_workflow(&self, id: &str) -> Result<bool> {
        let statements = [
            "DELETE FROM workflows WHERE id = $1",
            "DELETE FROM triggers WHERE workflow_id = $1",
            DELETE_UNUSED_VERSIONS_SQL,
        ];
        self.delete_with(id, &statements).await
    }
}
