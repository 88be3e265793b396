//! Workflows: the document as the user wrote it, its parsed definition, its validation result,
//! and whether it is enabled. The triggers of a definition are also kept in their own table, so
//! routing a delivery is one indexed read inside the delivery's transaction.

use sqlx::Row;

use crate::db::on_db;
use crate::webhooks::page;
use crate::{Result, Store, StoreError, names_nothing, new_id, no_nul, now_ms, text};

#[derive(Debug, Clone)]
pub struct WorkflowRecord {
    pub id: String,
    pub name: String,
    pub source: String,
    /// `yaml` or `json`.
    pub source_format: String,
    /// The parsed definition as JSON (`None` when the document does not parse).
    pub definition: Option<String>,
    pub valid: bool,
    /// JSON array of `{path, message}`.
    pub errors: String,
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
    pub name: String,
    pub source: String,
    pub source_format: String,
    pub definition: Option<String>,
    pub valid: bool,
    pub errors: String,
    /// `(event name or id, disabled)` of each trigger, in order.
    pub triggers: Vec<(String, bool)>,
}

const COLUMNS: &str = "id, name, source, source_format, definition, valid, errors, enabled, \
    version, created_at, updated_at";

macro_rules! workflow_from_row {
    ($r:expr) => {{
        let r = $r;
        WorkflowRecord {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            source: r.try_get("source")?,
            source_format: r.try_get("source_format")?,
            definition: r.try_get("definition")?,
            valid: r.try_get("valid")?,
            errors: r.try_get("errors")?,
            enabled: r.try_get("enabled")?,
            version: r.try_get("version")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        }
    }};
}

fn conflict(e: sqlx::Error, name: &str) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => {
            StoreError::Conflict(format!("a workflow named {name:?} already exists"))
        }
        other => other,
    }
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("there is no workflow with id {id}"))
}

impl Store {
    /// Creates a workflow (enabled) with its triggers.
    pub async fn create_workflow(&self, w: SaveWorkflow) -> Result<WorkflowRecord> {
        let id = new_id();
        self.write_workflow(&id, &w, true).await?;
        self.get_workflow(&id)
            .await?
            .ok_or_else(|| StoreError::Internal("created workflow vanished".into()))
    }

    /// Replaces a workflow's document (keeps `enabled`).
    pub async fn replace_workflow(&self, id: &str, w: SaveWorkflow) -> Result<WorkflowRecord> {
        if names_nothing(id) {
            return Err(not_found(id));
        }
        self.write_workflow(id, &w, false).await?;
        self.get_workflow(id).await?.ok_or_else(|| not_found(id))
    }

    async fn write_workflow(&self, id: &str, w: &SaveWorkflow, create: bool) -> Result<()> {
        no_nul("a workflow name", &w.name)?;
        // The document as written, its parse and its errors are recorded text.
        let source = text(&w.source);
        let definition = w.definition.as_deref().map(text);
        let errors = text(&w.errors);
        let now = now_ms();
        on_db!(&self.db, |p| {
            let mut tx = p.begin_with(self.db.begin_write()).await?;
            let n = if create {
                sqlx::query(
                    "INSERT INTO workflows (id, name, source, source_format, definition, valid, \
                     errors, enabled, version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, 1, $8, $8)",
                )
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
            } else {
                sqlx::query(
                    "UPDATE workflows SET name = $2, source = $3, source_format = $4, \
                     definition = $5, valid = $6, errors = $7, version = version + 1, \
                     updated_at = $8 WHERE id = $1",
                )
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
            }
            .map_err(|e| conflict(e, &w.name))?
            .rows_affected();
            if n == 0 {
                return Err(not_found(id));
            }
            sqlx::query(crate::versions::SAVE_VERSION_SQL)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(crate::versions::PRUNE_VERSIONS_SQL)
                .bind(id)
                .bind(crate::versions::VERSIONS_KEPT)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM triggers WHERE workflow_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for (i, (event, disabled)) in w.triggers.iter().enumerate() {
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
        on_db!(&self.db, |p| {
            sqlx::query(
                "UPDATE workflows SET valid = $2, errors = $3, updated_at = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(valid)
            .bind(&*text(errors))
            .bind(now_ms())
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn set_workflow_enabled(&self, id: &str, enabled: bool) -> Result<WorkflowRecord> {
        if names_nothing(id) {
            return Err(not_found(id));
        }
        let n = on_db!(&self.db, |p| {
            sqlx::query("UPDATE workflows SET enabled = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(enabled)
                .bind(now_ms())
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        if n == 0 {
            return Err(not_found(id));
        }
        self.get_workflow(id).await?.ok_or_else(|| not_found(id))
    }

    /// By id, or by name.
    pub async fn get_workflow(&self, id_or_name: &str) -> Result<Option<WorkflowRecord>> {
        if names_nothing(id_or_name) {
            return Ok(None);
        }
        let sql = format!("SELECT {COLUMNS} FROM workflows WHERE id = $1 OR name = $1");
        on_db!(&self.db, |p| {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id_or_name)
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => Some(workflow_from_row!(&r)),
                None => None,
            })
        })
    }

    pub async fn list_workflows(
        &self,
        limit: i64,
        cursor: Option<&str>,
    ) -> Result<(Vec<WorkflowRecord>, Option<String>)> {
        if cursor.is_some_and(names_nothing) {
            return Ok((Vec::new(), None));
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM workflows WHERE ($1 = '' OR id < $1) ORDER BY id DESC LIMIT $2"
        );
        let items: Vec<WorkflowRecord> = on_db!(&self.db, |p| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(cursor.unwrap_or(""))
                .bind(limit + 1)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| Ok(workflow_from_row!(r)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
        })?;
        page(items, limit, |w| w.id.clone()).map_items(Ok)
    }

    /// Every workflow (for re-validation after events or secrets change).
    pub async fn all_workflows(&self) -> Result<Vec<WorkflowRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM workflows ORDER BY id");
        on_db!(&self.db, |p| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?;
            rows.iter()
                .map(|r| Ok(workflow_from_row!(r)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// Deletes a workflow, its triggers, and its versions no run refers to (the runs' pages
    /// keep showing the version they ran).
    pub async fn delete_workflow(&self, id: &str) -> Result<bool> {
        if names_nothing(id) {
            return Ok(false);
        }
        on_db!(&self.db, |p| {
            let mut tx = p.begin_with(self.db.begin_write()).await?;
            let n = sqlx::query("DELETE FROM workflows WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM triggers WHERE workflow_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(crate::versions::DELETE_UNUSED_VERSIONS_SQL)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(n > 0)
        })
    }
}
