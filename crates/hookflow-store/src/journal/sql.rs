//! The journal's SQL, the same text on both backends (`$N` parameters; the SQLite writer turns
//! them into `?N`).

pub use hookflow_core::routing::RouteRow;

/// A [`RouteRow`] from a row of [`ROUTES_SQL`], read with `$get` (sqlx's `try_get`, rusqlite's
/// `get`).
macro_rules! route_row {
    ($r:expr, $get:ident) => {{
        let r = $r;
        let workflow_id: Option<String> = r.$get("workflow_id")?;
        $crate::journal::RouteRow {
            event_id: r.$get("event_id")?,
            event_name: r.$get("event_name")?,
            filter: r.$get("filter")?,
            target: match workflow_id {
                Some(wid) => Some((
                    wid,
                    r.$get("workflow_name")?,
                    r.$get("valid")?,
                    r.$get("enabled")?,
                    r.$get("disabled")?,
                )),
                None => None,
            },
        }
    }};
}
pub(crate) use route_row;

/// The [`RouteRow`]s of webhook `$id` ([`ROUTES_SQL`]) through sqlx executor `$e` (a pool,
/// connection or transaction of either backend).
macro_rules! route_rows {
    ($e:expr, $id:expr) => {{
        use sqlx::Row as _;
        let mut rows: Vec<$crate::journal::RouteRow> = Vec::new();
        let sql = $crate::journal::ROUTES_SQL;
        for r in sqlx::query(sql).bind($id).fetch_all($e).await? {
            rows.push($crate::journal::route_row!(&r, try_get));
        }
        rows
    }};
}
pub(crate) use route_rows;

/// The SQL that keeps only the newest `$2` rejected deliveries of webhook `$1`.
/// (`status <> 'accepted'` names the partial index deliveries_not_accepted.)
pub(crate) const PRUNE_SQL: &str = "DELETE FROM deliveries WHERE webhook_id = $1 \
    AND status <> 'accepted' AND status = 'rejected' AND id <= (SELECT id FROM deliveries \
    WHERE webhook_id = $1 AND status <> 'accepted' AND status = 'rejected' \
    ORDER BY id DESC LIMIT 1 OFFSET $2)";

/// Creates both rate windows of `$1` if missing and resets a window that has passed; returns
/// `(period, count)` of the current windows. On PostgreSQL it also locks both rows until commit,
/// which is what keeps limits exact across nodes.
pub(crate) const TOUCH_RATES_SQL: &str = "INSERT INTO rate_windows \
    (webhook_id, period, window_start, count) VALUES ($1, 'minute', $2, 0), ($1, 'day', $3, 0) \
    ON CONFLICT (webhook_id, period) DO UPDATE SET \
    count = CASE WHEN rate_windows.window_start = excluded.window_start \
    THEN rate_windows.count ELSE 0 END, window_start = excluded.window_start \
    RETURNING period, count";

pub(crate) const WRITE_RATES_SQL: &str = "UPDATE rate_windows SET count = CASE \
    WHEN period = 'minute' THEN $2 ELSE $3 END WHERE webhook_id = $1";

pub(crate) const LIMITED_SQL: &str = "UPDATE webhooks SET last_limited_at = $2 WHERE id = $1";

/// The webhook columns the journal checks against.
pub(crate) const WEBHOOK_SQL: &str = "SELECT id, name, content_type, rate_limit_per_minute, \
    rate_limit_per_day, key_hash, prev_key_hash, prev_key_expires_at, version, \
    dedup_key, dedup_window_seconds, verification, verification_sealed FROM webhooks WHERE id = $1";

/// The columns of a delivery row, in the order [`Row`]s are bound.
pub(crate) const INSERT_COLUMNS: &str = "INSERT INTO deliveries (id, webhook_id, received_at, \
    status, http_status, reason, method, content_type, headers, query, body, body_size, \
    body_truncated, routing, duplicate_of, verification, traceparent, dedup_key_hash, \
    dedup_expires_at) VALUES ";
pub(crate) const INSERT_WIDTH: usize = 19;

/// The events bound to a webhook and, for each, the workflows whose triggers name it.
pub(crate) const ROUTES_SQL: &str = "SELECT e.id AS event_id, e.name AS event_name, e.filter, \
    w.id AS workflow_id, w.name AS workflow_name, w.valid, w.enabled, t.disabled \
    FROM events e LEFT JOIN triggers t ON (t.event_ref = e.id OR t.event_ref = e.name) \
    LEFT JOIN workflows w ON w.id = t.workflow_id WHERE e.webhook_id = $1 \
    ORDER BY e.id, t.workflow_id, t.position";
