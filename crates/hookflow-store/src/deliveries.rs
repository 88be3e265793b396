//! Deliveries as the management API reads them: every request a known webhook received,
//! accepted, rejected or duplicate, newest first.

use sqlx::AssertSqlSafe;

use crate::query::Arg;
use crate::{Result, Store};

/// One recorded request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: String,
    pub webhook_id: String,
    pub received_at: i64,
    /// `accepted`, `rejected` or `duplicate` (SPEC §9).
    pub status: String,
    pub http_status: i64,
    pub reason: Option<String>,
    pub method: String,
    pub content_type: Option<String>,
    /// JSON array of `[name, value]` pairs, in arrival order (key headers masked).
    pub headers: String,
    /// JSON object of the query parameters without `api_key`.
    pub query: String,
    /// The body (cut to the retention limit for rejected requests); only on single reads.
    #[sqlx(default)]
    pub body: Option<Vec<u8>>,
    pub body_size: i64,
    pub body_truncated: bool,
    /// JSON: what the delivery started (events matched, runs), once routing exists.
    pub routing: Option<String>,
    /// A duplicate's first delivery with the same key (SPEC §9).
    pub duplicate_of: Option<String>,
    /// JSON `{scheme, verdict, detail}`: check 5b's verdict, on webhooks that verify signatures.
    pub verification: Option<String>,
}

impl Delivery {
    /// The request as recorded, for evaluating filters and keys on it and for the trigger
    /// variables of its runs ([`hookflow_core::filters`]); `webhook_name` is its webhook's.
    pub fn recorded<'a>(&'a self, webhook_name: &'a str) -> hookflow_core::filters::Recorded<'a> {
        hookflow_core::filters::Recorded {
            webhook: (&self.webhook_id, webhook_name),
            delivery_id: &self.id,
            received_at: self.received_at,
            content_type: self.content_type.as_deref(),
            headers: &self.headers,
            query: &self.query,
            body: self.body.as_deref().unwrap_or_default(),
            verification: self.verification.as_deref(),
        }
    }
}

const LIST_COLUMNS: &str = "id, webhook_id, received_at, status, http_status, reason, method, \
    content_type, headers, query, body_size, body_truncated, routing, duplicate_of, \
    verification";

/// The deliveries of webhook `$1` that match `cond`, newest first: below id `$2` if `before`,
/// and `LIMIT` the last parameter. Two texts rather than `($2 = '' OR id < $2)`, so both planners
/// use the index range.
fn newest_first(columns: &str, cond: &str, before: bool) -> String {
    let (below, limit) = if before {
        (" AND id < $2", "$3")
    } else {
        ("", "$2")
    };
    format!(
        "SELECT {columns} FROM deliveries WHERE webhook_id = $1{cond}{below} \
         ORDER BY id DESC LIMIT {limit}"
    )
}

/// Which deliveries of a webhook to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    All,
    Accepted,
    Rejected,
    Duplicate,
}

impl StatusFilter {
    /// The filter as a condition to append to a `WHERE`. Deliveries that are not accepted are read
    /// along the partial index `deliveries_not_accepted`, which the condition names by repeating
    /// its `status <> 'accepted'` (SQLite uses a partial index only for a query that says so).
    fn condition(self) -> &'static str {
        match self {
            StatusFilter::All => "",
            StatusFilter::Accepted => " AND status = 'accepted'",
            StatusFilter::Rejected => " AND status <> 'accepted' AND status = 'rejected'",
            StatusFilter::Duplicate => " AND status <> 'accepted' AND status = 'duplicate'",
        }
    }
}

impl Store {
    /// A webhook's deliveries, newest first, without bodies.
    pub async fn list_deliveries(
        &self,
        webhook_id: &str,
        filter: StatusFilter,
        limit: i64,
        cursor: Option<&str>,
    ) -> Result<(Vec<Delivery>, Option<String>)> {
        let sql = newest_first(LIST_COLUMNS, filter.condition(), cursor.is_some());
        let args: Vec<Arg> = [Some(webhook_id), cursor]
            .into_iter()
            .flatten()
            .map(Arg::from)
            .collect();
        let key = |d: &Delivery| d.id.clone();
        self.page(AssertSqlSafe(sql), &args, limit, key).await
    }

    /// A webhook's accepted deliveries with their bodies, newest first: up to `limit` older than
    /// delivery `before` (the newest when `None`). Read a page at a time (bodies can be large).
    pub async fn accepted_with_bodies(
        &self,
        webhook_id: &str,
        limit: i64,
        before: Option<&str>,
    ) -> Result<Vec<Delivery>> {
        let columns = format!("{LIST_COLUMNS}, body");
        let sql = newest_first(&columns, " AND status = 'accepted'", before.is_some());
        let mut args: Vec<Arg> = [Some(webhook_id), before]
            .into_iter()
            .flatten()
            .map(Arg::from)
            .collect();
        args.push(limit.into());
        self.all(AssertSqlSafe(sql), &args).await
    }

    /// How many accepted deliveries webhook `webhook_id` received from `from` (included) to `to`
    /// (excluded), unix milliseconds.
    pub async fn count_accepted_between(
        &self,
        webhook_id: &str,
        from: i64,
        to: i64,
    ) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM deliveries WHERE webhook_id = $1 AND status = 'accepted' \
            AND id >= $2 AND received_at >= $3 AND received_at < $4";
        // Ids are made after the request's `received_at` was taken.
        let floor = crate::v7_floor(from);
        let args = [webhook_id.into(), (&floor).into(), from.into(), to.into()];
        let n: Option<(i64,)> = self.one(sql, &args).await?;
        Ok(n.map_or(0, |(n,)| n))
    }

    /// Up to `limit` accepted deliveries of webhook `webhook_id` received from `from` (included)
    /// to `to` (excluded), with their bodies, oldest first, after delivery `after` (from the
    /// start when `None`).
    pub async fn accepted_between(
        &self,
        webhook_id: &str,
        (from, to): (i64, i64),
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {LIST_COLUMNS}, body FROM deliveries WHERE webhook_id = $1 \
             AND status = 'accepted' AND id > $2 AND received_at >= $3 AND received_at < $4 \
             ORDER BY id LIMIT $5"
        );
        // Just below the first id a delivery of `from` can have.
        let start = after.map(str::to_string).unwrap_or_else(|| {
            let mut floor = crate::v7_floor(from);
            floor.pop();
            floor
        });
        let args = [
            webhook_id.into(),
            (&start).into(),
            from.into(),
            to.into(),
            limit.into(),
        ];
        self.all(AssertSqlSafe(sql), &args).await
    }

    /// One delivery with its body.
    pub async fn get_delivery(&self, id: &str) -> Result<Option<Delivery>> {
        let sql = format!("SELECT {LIST_COLUMNS}, body FROM deliveries WHERE id = $1");
        self.one(AssertSqlSafe(sql), &[id.into()]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{open_store, sqlite_plan as plan};

    /// Accepted deliveries have no entry in a status index (ingest writes two index entries
    /// fewer per request); what reads deliveries by status still goes along an index.
    #[tokio::test]
    async fn status_reads_go_along_an_index_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path(), None).await;
        for (filter, index) in [
            (StatusFilter::All, "deliveries_by_webhook"),
            (StatusFilter::Accepted, "deliveries_by_webhook"),
            (StatusFilter::Rejected, "deliveries_not_accepted"),
            (StatusFilter::Duplicate, "deliveries_not_accepted"),
        ] {
            for before in [false, true] {
                let sql = newest_first(LIST_COLUMNS, filter.condition(), before);
                let plan = plan(&store, &sql).await;
                assert!(
                    plan.contains(&format!("INDEX {index} ")),
                    "{filter:?}: {plan}"
                );
            }
        }
        let prune = plan(&store, crate::journal::PRUNE_SQL).await;
        assert_eq!(
            prune.matches("INDEX deliveries_not_accepted ").count(),
            2,
            "{prune}"
        );
        let rejections = plan(&store, crate::checklist::REJECTIONS_SQL).await;
        assert!(
            rejections.contains("INDEX deliveries_not_accepted "),
            "{rejections}"
        );
        let indexes: Vec<(String,)> = store
            .all(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deliveries' \
                 AND sql IS NOT NULL ORDER BY name",
                &[],
            )
            .await
            .unwrap();
        let names: Vec<&str> = indexes.iter().map(|(n,)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "deliveries_by_received",
                "deliveries_by_webhook",
                "deliveries_not_accepted"
            ]
        );
    }
}
