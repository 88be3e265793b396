//! What the web UI needs beyond the management API's reads: sealing its stateless session
//! cookies with the master key (so every node of an installation accepts them), and small
//! index-backed lookups of names for links and choices. No page reads a whole table.

use std::collections::HashMap;

use sqlx::AssertSqlSafe;

use crate::query::Arg;
use crate::{Result, Store, names_nothing};

/// What a session cookie is bound to, so a sealed value cannot be used as anything else.
const SESSION_CONTEXT: &str = "hookflow-ui-session-v1";

impl Store {
    /// Seals a UI session's contents with the master key.
    pub fn seal_session(&self, plain: &[u8]) -> Vec<u8> {
        self.key.seal(plain, SESSION_CONTEXT)
    }

    /// Opens what [`seal_session`](Self::seal_session) sealed; `None` for anything else
    /// (forged, cut, sealed by another installation's key).
    pub fn open_session(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        self.key.open(sealed, SESSION_CONTEXT).ok()
    }

    /// The names of the webhooks among `ids` (primary-key lookups; unknown ids are left out).
    pub async fn webhook_names(&self, ids: &[&str]) -> Result<HashMap<String, String>> {
        let ids: Vec<&str> = ids.iter().copied().filter(|i| !names_nothing(i)).collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let marks: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT id, name FROM webhooks WHERE id IN ({})",
            marks.join(", ")
        );
        let args: Vec<Arg> = ids.into_iter().map(Arg::from).collect();
        let names: Vec<(String, String)> = self.all(AssertSqlSafe(sql), &args).await?;
        Ok(names.into_iter().collect())
    }

    /// `(id, name)` of at most `limit` webhooks by name (the unique index on names), for a
    /// form's choice of webhook.
    pub async fn webhook_choices(&self, limit: i64) -> Result<Vec<(String, String)>> {
        self.choices(
            "SELECT id, name FROM webhooks ORDER BY name LIMIT $1",
            limit,
        )
        .await
    }

    /// `(id, name)` of at most `limit` workflows by name, for the runs filter.
    pub async fn workflow_choices(&self, limit: i64) -> Result<Vec<(String, String)>> {
        self.choices(
            "SELECT id, name FROM workflows ORDER BY name LIMIT $1",
            limit,
        )
        .await
    }

    async fn choices(&self, sql: &'static str, limit: i64) -> Result<Vec<(String, String)>> {
        self.all(sql, &[limit.into()]).await
    }
}
