//! Duplicate detection in the journal (SPEC §9): which accepted requests of a batch claim a
//! dedup key, the claims written inside the batch's transaction (the first claim of a key wins,
//! on one node or several), and the requests that become duplicates of the key's holder.
//!
//! On SQLite the keys are held in the writer connection's TEMP schema ([`keys_in_temp`]), which
//! is rebuilt from the deliveries that hold a key whenever the writer starts.
//!
//! On PostgreSQL the batch has locked the rate-window rows of every webhook it writes for before
//! it claims keys, so two nodes' batches for one webhook take turns and cannot deadlock on keys.

use std::collections::{HashMap, HashSet};

use hookflow_core::expr::Sandbox;
use rusqlite::OptionalExtension;

use super::batch::Loaded;
use super::{IngestRequest, Outcome};
use crate::dedup::{CLAIM_SQL, HOLDER_SQL};

/// An accepted request with a dedup key: the key it claims for its delivery.
pub(super) struct DedupClaim {
    /// Index of the request in the batch.
    pub index: usize,
    pub webhook_id: String,
    pub key_hash: [u8; 32],
    pub delivery_id: String,
    pub expires_at: i64,
}

/// The claims of a batch's accepted requests whose committed webhook has `dedup` and which have
/// a key, in arrival order.
pub(super) fn dedup_claims(
    reqs: &[&IngestRequest],
    outcomes: &[Outcome],
    loaded: &HashMap<String, Loaded>,
    sandbox: &Sandbox,
    now: i64,
) -> Vec<DedupClaim> {
    let mut claims = Vec::new();
    for (index, (req, outcome)) in reqs.iter().zip(outcomes).enumerate() {
        let Outcome::Accepted { delivery_id } = outcome else {
            continue;
        };
        let Some(hook) = loaded.get(&req.webhook_id) else {
            continue;
        };
        let Some(dedup) = &hook.auth.dedup else {
            continue;
        };
        // A request whose signature failed (accepted in log_only mode) neither claims a key nor
        // is a duplicate: else a forged request could make the genuine one a "duplicate".
        if req
            .verification
            .as_ref()
            .is_some_and(|v| v.verdict != hookflow_core::verify::VerdictKind::Valid)
        {
            continue;
        }
        let expression = dedup.expression();
        let key = match &req.dedup {
            Some(k) if k.expression == expression => k.key.clone(),
            // The webhook's dedup changed since the HTTP layer looked: the committed one decides.
            _ => hookflow_core::filters::dedup_key(
                sandbox,
                &req.recorded(&hook.auth.name, None),
                expression,
            ),
        };
        let Some(key) = key else { continue };
        claims.push(DedupClaim {
            index,
            webhook_id: req.webhook_id.clone(),
            key_hash: crate::crypto::digest(&key),
            delivery_id: delivery_id.clone(),
            expires_at: now.saturating_add(dedup.window_ms()),
        });
    }
    claims
}

/// The claims to write: the first of each (webhook, key) of the batch, in order.
pub(super) fn first_claims(claims: &[DedupClaim]) -> Vec<&DedupClaim> {
    let mut seen = HashSet::new();
    claims
        .iter()
        .filter(|c| seen.insert((c.webhook_id.as_str(), c.key_hash)))
        .collect()
}

/// The key a request of the batch holds once the batch commits: its hash and when its window
/// ends, recorded on the request's delivery row (the key's durable record).
pub(crate) type HeldKey = ([u8; 32], i64);

/// Turns every claimed request whose key another delivery holds into a duplicate of it, and
/// answers the key each request holds, by index in the batch (`None`: it holds none).
/// `holders` maps (webhook, key) to the delivery that holds the key after this batch's claims.
pub(super) fn mark_duplicates(
    outcomes: &mut [Outcome],
    claims: &[DedupClaim],
    holders: &Holders,
) -> Vec<Option<HeldKey>> {
    let mut held = vec![None; outcomes.len()];
    for c in claims {
        let Some(holder) = holders.get(&(c.webhook_id.clone(), c.key_hash)) else {
            continue;
        };
        if *holder == c.delivery_id {
            held[c.index] = Some((c.key_hash, c.expires_at));
        } else {
            outcomes[c.index] = Outcome::Duplicate {
                delivery_id: c.delivery_id.clone(),
                duplicate_of: holder.clone(),
            };
        }
    }
    held
}

/// Who holds each key of a batch.
pub(super) type Holders = HashMap<(String, [u8; 32]), String>;

/// SQLite: creates the writer connection's TEMP `dedup_keys` table (it shadows the main
/// schema's table for this connection) and fills it with the keys of the deliveries whose window
/// has not ended at `now`. Where two deliveries hold one key (the second took it over after the
/// first's window) the later window wins. Answers how many keys were loaded.
///
/// The table is in memory (`temp_store=MEMORY`): about 150 bytes a key, so its size is the
/// traffic of the longest window (a million keys ≈ 150 MB); the sweeper removes keys once their
/// window ends. It has no index on the expiry: each claim would pay for it, and the sweeper
/// walks the primary key instead ([`sweep_sqlite`]).
pub(super) fn keys_in_temp(conn: &rusqlite::Connection, now: i64) -> rusqlite::Result<usize> {
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.execute_batch(
        "CREATE TEMP TABLE dedup_keys (
            webhook_id   TEXT NOT NULL,
            key_hash     BLOB NOT NULL,
            delivery_id  TEXT NOT NULL,
            expires_at   INTEGER NOT NULL,
            PRIMARY KEY (webhook_id, key_hash)
        ) WITHOUT ROWID;",
    )?;
    // A key's window began when its delivery was received (a batch later at most), so only
    // deliveries of the longest window back can hold one: the received_at index bounds the scan.
    let since = now - hookflow_core::dedup::MAX_WINDOW_SECONDS * 1000 - REBUILD_MARGIN_MS;
    conn.execute(
        "INSERT INTO temp.dedup_keys (webhook_id, key_hash, delivery_id, expires_at) \
         SELECT webhook_id, dedup_key_hash, id, dedup_expires_at FROM main.deliveries \
         WHERE received_at >= ?2 AND dedup_key_hash IS NOT NULL AND dedup_expires_at > ?1 \
         ORDER BY dedup_expires_at \
         ON CONFLICT (webhook_id, key_hash) DO UPDATE SET delivery_id = excluded.delivery_id, \
         expires_at = excluded.expires_at",
        [now, since],
    )
}

/// How much earlier than the longest window the rebuild looks (a request waits for its batch).
const REBUILD_MARGIN_MS: i64 = 3_600_000;

/// Writes the batch's claims on SQLite. The one writer: no other transaction can interleave, so
/// a lookup and then a plain insert or update decide exactly what [`CLAIM_SQL`]'s upsert does
/// on PostgreSQL, for less (no statement journal, no RETURNING).
pub(super) fn claim_sqlite(
    tx: &rusqlite::Transaction,
    claims: &[DedupClaim],
    now: i64,
) -> rusqlite::Result<Holders> {
    let mut holders = Holders::new();
    let mut lookup = tx.prepare_cached(
        "SELECT delivery_id, expires_at FROM dedup_keys WHERE webhook_id = ?1 AND key_hash = ?2",
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO dedup_keys (webhook_id, key_hash, delivery_id, expires_at) \
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut take_over = tx.prepare_cached(
        "UPDATE dedup_keys SET delivery_id = ?3, expires_at = ?4 \
         WHERE webhook_id = ?1 AND key_hash = ?2",
    )?;
    for c in first_claims(claims) {
        let key = &c.key_hash[..];
        let held: Option<(String, i64)> = lookup
            .query_row(rusqlite::params![c.webhook_id, key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let params = rusqlite::params![c.webhook_id, key, c.delivery_id, c.expires_at];
        let who = match held {
            Some((holder, until)) if until > now => holder,
            Some(_) => {
                take_over.execute(params)?;
                c.delivery_id.clone()
            }
            None => {
                insert.execute(params)?;
                c.delivery_id.clone()
            }
        };
        holders.insert((c.webhook_id.clone(), c.key_hash), who);
    }
    Ok(holders)
}

/// Where the SQLite sweeper's walk over the keys stands: the last key it looked at.
pub(super) type SweepCursor = Option<(String, Vec<u8>)>;

/// One step of the SQLite sweeper's walk: looks at the next `limit` keys in primary-key order
/// after `cursor`, deletes those whose window ended at `now` or before, and moves the cursor.
/// Answers how many it deleted and whether the walk reached the end (the cursor then starts
/// over). Each step is bounded by `limit` whatever the table holds.
pub(super) fn sweep_sqlite(
    tx: &rusqlite::Transaction,
    cursor: &mut SweepCursor,
    limit: i64,
    now: i64,
) -> rusqlite::Result<(u64, bool)> {
    let (after_id, after_key) = cursor.clone().unwrap_or_default();
    let mut next = tx.prepare_cached(
        "SELECT webhook_id, key_hash, expires_at FROM dedup_keys \
         WHERE (webhook_id, key_hash) > (?1, ?2) ORDER BY webhook_id, key_hash LIMIT ?3",
    )?;
    let mut seen: Vec<(String, Vec<u8>, i64)> = next
        .query_map(rusqlite::params![after_id, after_key, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut delete =
        tx.prepare_cached("DELETE FROM dedup_keys WHERE webhook_id = ?1 AND key_hash = ?2")?;
    let mut deleted = 0;
    for (id, key, until) in &seen {
        if *until <= now {
            deleted += delete.execute(rusqlite::params![id, key])? as u64;
        }
    }
    let done = (seen.len() as i64) < limit;
    *cursor = if done {
        None
    } else {
        seen.pop().map(|(id, key, _)| (id, key))
    };
    Ok((deleted, done))
}

/// Writes the batch's claims on PostgreSQL.
pub(super) async fn claim_postgres(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    claims: &[DedupClaim],
    now: i64,
) -> Result<Holders, sqlx::Error> {
    let mut holders = Holders::new();
    for c in first_claims(claims) {
        let won: Option<String> = sqlx::query_scalar(CLAIM_SQL)
            .bind(&c.webhook_id)
            .bind(&c.key_hash[..])
            .bind(&c.delivery_id)
            .bind(c.expires_at)
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?;
        let who = match won {
            Some(w) => w,
            None => {
                sqlx::query_scalar(HOLDER_SQL)
                    .bind(&c.webhook_id)
                    .bind(&c.key_hash[..])
                    .fetch_one(&mut **tx)
                    .await?
            }
        };
        holders.insert((c.webhook_id.clone(), c.key_hash), who);
    }
    Ok(holders)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection with the deliveries columns the rebuild reads, `rows` of (webhook, key
    /// byte, delivery, received_at, expires_at) in it, and the TEMP key table built at `now`.
    fn built(rows: &[(&str, u8, &str, i64, i64)], now: i64) -> (rusqlite::Connection, usize) {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE deliveries (id TEXT PRIMARY KEY, webhook_id TEXT, received_at BIGINT, \
             dedup_key_hash BLOB, dedup_expires_at BIGINT)",
        )
        .unwrap();
        for (hook, key, id, received, until) in rows {
            conn.execute(
                "INSERT INTO deliveries VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![id, hook, received, vec![*key; 32], until],
            )
            .unwrap();
        }
        let loaded = keys_in_temp(&conn, now).unwrap();
        (conn, loaded)
    }

    fn holder(conn: &rusqlite::Connection, hook: &str, key: u8) -> Option<String> {
        conn.query_row(
            "SELECT delivery_id FROM temp.dedup_keys WHERE webhook_id = ?1 AND key_hash = ?2",
            rusqlite::params![hook, vec![key; 32]],
            |r| r.get(0),
        )
        .ok()
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn the_rebuild_loads_live_keys_and_the_later_holder_wins() {
        let now = 100 * DAY;
        let (conn, loaded) = built(
            &[
                ("w", 1, "first", now - 10_000, now - 5_000), // window ended: taken over
                ("w", 1, "second", now - 4_000, now + 60_000),
                ("w", 2, "gone", now - 9_000, now - 1), // window ended
                ("v", 2, "other-hook", now - 1_000, now + 1), // same key, other webhook
                ("w", 3, "ancient", now - 40 * DAY, now + DAY), // older than any window
            ],
            now,
        );
        assert_eq!(loaded, 2);
        assert_eq!(holder(&conn, "w", 1).as_deref(), Some("second"));
        assert_eq!(holder(&conn, "w", 2), None);
        assert_eq!(holder(&conn, "v", 2).as_deref(), Some("other-hook"));
        assert_eq!(holder(&conn, "w", 3), None);
    }

    #[test]
    fn a_claim_wins_a_new_or_expired_key_and_loses_a_held_one() {
        let now = 100 * DAY;
        let (mut conn, _) = built(
            &[
                ("w", 1, "held", now - 1_000, now + 1_000),
                ("w", 2, "expired", now - 9_000, now),
            ],
            now,
        );
        let claim = |index: usize, key: u8, id: &str| DedupClaim {
            index,
            webhook_id: "w".into(),
            key_hash: [key; 32],
            delivery_id: id.into(),
            expires_at: now + 5_000,
        };
        let claims = [
            claim(0, 1, "a"),
            claim(1, 2, "b"),
            claim(2, 3, "c"),
            claim(3, 3, "d"),
        ];
        let tx = conn.transaction().unwrap();
        let holders = claim_sqlite(&tx, &claims, now).unwrap();
        tx.commit().unwrap();
        let of = |key: u8| holders[&("w".to_string(), [key; 32])].as_str();
        assert_eq!(of(1), "held", "a key in its window keeps its holder");
        assert_eq!(of(2), "b", "a key whose window ended is taken over");
        assert_eq!(of(3), "c", "the first claim of a batch wins");
        let mut outcomes: Vec<Outcome> = ["a", "b", "c", "d"]
            .iter()
            .map(|id| Outcome::Accepted {
                delivery_id: id.to_string(),
            })
            .collect();
        let held = mark_duplicates(&mut outcomes, &claims, &holders);
        assert!(
            matches!(&outcomes[0], Outcome::Duplicate { duplicate_of, .. } if duplicate_of == "held")
        );
        assert!(
            matches!(&outcomes[3], Outcome::Duplicate { duplicate_of, .. } if duplicate_of == "c")
        );
        assert_eq!(held[1], Some(([2; 32], now + 5_000)));
        assert_eq!(held[0], None);
        assert_eq!(holder(&conn, "w", 2).as_deref(), Some("b"));
    }

    #[test]
    fn the_sweep_walks_every_key_in_bounded_steps() {
        let now = 100 * DAY;
        let rows: Vec<(String, u8, String, i64, i64)> = (0..25u8)
            .map(|i| {
                let hook = if i % 2 == 0 { "a" } else { "b" };
                // Ten keys whose window ends within the next second, fifteen later.
                let until = if i < 10 { now + 500 } else { now + DAY };
                (hook.to_string(), i, format!("d{i}"), now - 1_000, until)
            })
            .collect();
        let rows: Vec<(&str, u8, &str, i64, i64)> = rows
            .iter()
            .map(|(h, k, d, r, u)| (h.as_str(), *k, d.as_str(), *r, *u))
            .collect();
        let (mut conn, loaded) = built(&rows, now);
        assert_eq!(loaded, 25);
        let later = now + 1_000;
        let mut cursor: SweepCursor = None;
        let (mut deleted, mut steps) = (0, 0);
        loop {
            let tx = conn.transaction().unwrap();
            let (n, done) = sweep_sqlite(&tx, &mut cursor, 4, later).unwrap();
            tx.commit().unwrap();
            deleted += n;
            steps += 1;
            assert!(n <= 4, "a step deletes at most what it looks at");
            if done {
                break;
            }
        }
        assert_eq!(deleted, 10);
        assert_eq!(steps, 7, "25 keys, 4 a step");
        assert_eq!(cursor, None, "a finished walk starts over");
        let left: i64 = conn
            .query_row("SELECT COUNT(*) FROM temp.dedup_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 15);
    }
}
