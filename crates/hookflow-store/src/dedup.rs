//! The keys of duplicate detection (SPEC §9): one row per (webhook, SHA-256 of the key value)
//! accepted within its window. The journal claims keys inside the transaction that records the
//! requests ([`CLAIM_SQL`]): the primary key makes the first claim win, also when several nodes
//! write at once, and a row whose window has passed is taken over. The delivery that holds a key
//! records its hash and the end of its window too (`deliveries.dedup_key_hash`,
//! `dedup_expires_at`): the durable record of the key.
//!
//! Where the keys are kept depends on the backend:
//! - PostgreSQL: the `dedup_keys` table, which every node's writer claims through.
//! - SQLite: one node, one writer. The keys live in the writer's memory: a map keyed by
//!   (webhook, key hash), which is the unique index since that writer decides every claim,
//!   rebuilt from the deliveries' columns when the writer starts (see `journal/dedup.rs`). A
//!   batch's winning claims enter it only once the batch's transaction has committed. A claim
//!   costs no random page write in the WAL (a hashed key lands on a random index page, and
//!   writing that 4 KB page per request halved SQLite's ingest) and no B-tree insert
//!   (BENCHMARKS.md, "Duplicate detection"). The map holds at most `--dedup-memory-keys` keys;
//!   past that, keys are written to `dedup_keys` and claims the map does not decide look there
//!   (`journal/memory_keys.rs`).
//!
//! The sweeper deletes passed keys in small bounded steps through the journal's writer
//! ([`DeliveryJournal::sweep_dedup_keys`](crate::journal::DeliveryJournal::sweep_dedup_keys):
//! [`SWEEP_SQL`] on PostgreSQL, a walk over the map's parts on
//! SQLite).

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

/// PostgreSQL: deletes at most `$2` keys whose window ended at `$1` or before, in one small
/// statement; two nodes sweep at once, and rows that ingest holds are skipped, not waited for.
pub(crate) const SWEEP_SQL: &str = "DELETE FROM dedup_keys WHERE (webhook_id, key_hash) IN \
    (SELECT webhook_id, key_hash FROM dedup_keys WHERE expires_at <= $1 LIMIT $2 \
    FOR UPDATE SKIP LOCKED)";
