//! The keys of duplicate detection (SPEC §9): one row per (webhook, SHA-256 of the key value)
//! accepted within its window. The journal claims keys inside the transaction that records the
//! requests ([`CLAIM_SQL`]): the primary key makes the first claim win, also when several nodes
//! write at once, and a row whose window has passed is taken over. [`Store::sweep_dedup_keys`]
//! deletes passed rows in small batches, off the journal's writer.

use crate::db::{Backend, on_db};
use crate::{Result, Store};

/// Claims key `$2` of webhook `$1` for delivery `$3` until `$4`, unless a claim that has not
/// expired at `$5` holds it. Answers a row (the claiming delivery) only when the claim is new.
/// On PostgreSQL the insert waits for another transaction that inserted the same key to end,
/// then sees its row: exactly one of them wins.
pub(crate) const CLAIM_SQL: &str = "INSERT INTO dedup_keys \
    (webhook_id, key_hash, delivery_id, expires_at) VALUES ($1, $2, $3, $4) \
    ON CONFLICT (webhook_id, key_hash) DO UPDATE SET delivery_id = excluded.delivery_id, \
    expires_at = excluded.expires_at WHERE dedup_keys.expires_at <= $5 \
    RETURNING delivery_id";

/// The delivery that holds key `$2` of webhook `$1`.
pub(crate) const HOLDER_SQL: &str =
    "SELECT delivery_id FROM dedup_keys WHERE webhook_id = $1 AND key_hash = $2";

impl Store {
    /// Deletes at most `limit` keys whose window ended before `now` (unix ms); answers how many.
    /// Small bounded statements, each its own transaction: on PostgreSQL rows that ingest holds
    /// are skipped, not waited for.
    pub async fn sweep_dedup_keys(&self, now: i64, limit: i64) -> Result<u64> {
        let lock = match &self.db {
            Backend::Sqlite(_) => "",
            Backend::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "DELETE FROM dedup_keys WHERE (webhook_id, key_hash) IN (SELECT webhook_id, key_hash \
             FROM dedup_keys WHERE expires_at <= $1 LIMIT $2{lock})"
        );
        on_db!(&self.db, |p| {
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(limit)
                .execute(p)
                .await?
                .rows_affected())
        })
    }
}
