//! What executing a run needs from the store besides its steps, read in one query: the
//! definition of the workflow version it is pinned to, its event, its delivery (webhook and
//! replay runs) with the webhook's name, and the secrets' generation.
//!
//! The query is one text for both backends and every reader. On SQLite the journal's writer
//! reads it for each run it claims, in the claim's transaction: the rows the claim needs were
//! most often written by the same connection moments before and are in its page cache, where a
//! pool connection would read them again from the WAL (its cache is emptied whenever another
//! connection commits). On PostgreSQL the engine reads it through the pool.

use std::sync::LazyLock;

use sqlx::FromRow;

use super::RunRecord;
use crate::db::{on_db, sqlite_text};
use crate::deliveries::Delivery;
use crate::query::{Columns, record};
use crate::{Result, Store};

/// See the module doc.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The definition of the run's version (`None` inside when that version did not parse);
    /// `None` if the workflow was deleted (or the version is gone).
    pub workflow: Option<Option<String>>,
    /// `(id, name)`.
    pub event: Option<(String, String)>,
    pub delivery: Option<Delivery>,
    pub webhook_name: Option<String>,
    /// How many times the secrets were changed (`None`: never since this was counted): the
    /// secrets an engine read at the same generation are still the stored ones.
    pub secrets_generation: Option<String>,
}

/// A run a node claimed, with its context when the claim read it (SQLite; `None`: the engine
/// reads it with [`Store::run_context`]).
#[derive(Debug)]
pub struct ClaimedRun {
    pub run: RunRecord,
    pub context: Option<RunContext>,
}

record! {
    /// [`CONTEXT_SQL`]'s row: every column nullable (each part is a left join).
    struct ContextRow {
        w_version: Option<i64>,
        w_definition: Option<String>,
        e_id: Option<String>,
        e_name: Option<String>,
        d_id: Option<String>,
        d_webhook_id: Option<String>,
        d_received_at: Option<i64>,
        d_status: Option<String>,
        d_http_status: Option<i64>,
        d_reason: Option<String>,
        d_method: Option<String>,
        d_content_type: Option<String>,
        d_headers: Option<String>,
        d_query: Option<String>,
        d_body: Option<Vec<u8>>,
        d_body_size: Option<i64>,
        d_body_truncated: bool,
        d_routing: Option<String>,
        d_duplicate_of: Option<String>,
        d_verification: Option<String>,
        h_name: Option<String>,
        s_generation: Option<String>,
    }
}

/// `$1` workflow id, `$2` event id, `$3` delivery id, `$4` workflow version.
const CONTEXT_SQL: &str = "SELECT v.version AS w_version, v.definition AS w_definition, \
    e.id AS e_id, e.name AS e_name, \
    d.id AS d_id, d.webhook_id AS d_webhook_id, d.received_at AS d_received_at, \
    d.status AS d_status, d.http_status AS d_http_status, d.reason AS d_reason, \
    d.method AS d_method, d.content_type AS d_content_type, d.headers AS d_headers, \
    d.query AS d_query, d.body AS d_body, d.body_size AS d_body_size, \
    COALESCE(d.body_truncated, FALSE) AS d_body_truncated, d.routing AS d_routing, \
    d.duplicate_of AS d_duplicate_of, d.verification AS d_verification, h.name AS h_name, \
    (SELECT value FROM settings WHERE name = 'secrets_generation') AS s_generation \
    FROM (SELECT 1 AS one) AS x \
    LEFT JOIN workflows w ON w.id = $1 \
    LEFT JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = $4 \
    LEFT JOIN events e ON e.id = $2 \
    LEFT JOIN deliveries d ON d.id = $3 \
    LEFT JOIN webhooks h ON h.id = d.webhook_id";

/// [`CONTEXT_SQL`] in SQLite's `?N` form, converted once (it is read for every claimed run).
static CONTEXT_SQLITE: LazyLock<String> = LazyLock::new(|| sqlite_text(CONTEXT_SQL));

impl ContextRow {
    fn into_context(self) -> RunContext {
        let delivery = self.d_id.map(|id| Delivery {
            id,
            webhook_id: self.d_webhook_id.unwrap_or_default(),
            received_at: self.d_received_at.unwrap_or_default(),
            status: self.d_status.unwrap_or_default(),
            http_status: self.d_http_status.unwrap_or_default(),
            reason: self.d_reason,
            method: self.d_method.unwrap_or_default(),
            content_type: self.d_content_type,
            headers: self.d_headers.unwrap_or_default(),
            query: self.d_query.unwrap_or_default(),
            body: self.d_body,
            body_size: self.d_body_size.unwrap_or_default(),
            body_truncated: self.d_body_truncated,
            routing: self.d_routing,
            duplicate_of: self.d_duplicate_of,
            verification: self.d_verification,
        });
        RunContext {
            workflow: self.w_version.map(|_| self.w_definition),
            event: self.e_id.zip(self.e_name),
            delivery,
            webhook_name: self.h_name,
            secrets_generation: self.s_generation,
        }
    }
}

/// [`CONTEXT_SQL`]'s four values for `run`.
fn context_args(run: &RunRecord) -> (&str, &str, &str, i64) {
    (
        &run.workflow_id,
        run.event_id.as_deref().unwrap_or(""),
        run.trigger_delivery_id().unwrap_or(""),
        run.workflow_version,
    )
}

/// `run`'s context, read inside the SQLite writer's transaction `tx`.
pub(crate) fn context_sqlite(
    tx: &rusqlite::Transaction,
    run: &RunRecord,
) -> rusqlite::Result<RunContext> {
    let mut stmt = tx.prepare_cached(&CONTEXT_SQLITE)?;
    let (w, e, d, v) = context_args(run);
    let row = stmt.query_row(rusqlite::params![w, e, d, v], ContextRow::from_sqlite)?;
    Ok(row.into_context())
}

impl Store {
    /// See [`RunContext`].
    pub async fn run_context(&self, run: &RunRecord) -> Result<RunContext> {
        let (w, e, d, v) = context_args(run);
        on_db!(&self.db, |p| {
            let r = sqlx::query(CONTEXT_SQL)
                .bind(w)
                .bind(e)
                .bind(d)
                .bind(v)
                .fetch_one(p)
                .await?;
            Ok(ContextRow::from_row(&r)?.into_context())
        })
    }
}
