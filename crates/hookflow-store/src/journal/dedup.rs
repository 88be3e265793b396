//! Duplicate detection in the journal (SPEC §9): which accepted requests of a batch claim a
//! dedup key, the claims written inside the batch's transaction (the first claim of a key wins,
//! on one node or several), and the requests that become duplicates of the key's holder.
//!
//! On SQLite the keys are held in the writer's memory ([`MemoryKeys`]), which is rebuilt from
//! the deliveries that hold a key whenever the writer starts.
//!
//! On PostgreSQL the batch has locked the rate-window rows of every webhook it writes for before
//! it claims keys, so two nodes' batches for one webhook take turns and cannot deadlock on keys.

use std::collections::{HashMap, HashSet};

use hookflow_core::expr::Sandbox;

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

/// SQLite: the keys in their window, in the journal writer's memory. The one writer decides
/// every claim, so a map keyed by (webhook, key hash) is the unique index: a claim is a lookup,
/// a key held by a delivery whose window has not ended makes the request a duplicate of it, and
/// a key whose window ended is taken over. The batch's winning claims enter the map only after
/// its transaction commits ([`MemoryKeys::commit`]), so a batch that rolls back leaves no key
/// behind. The durable record is on the delivery rows (`dedup_key_hash`, `dedup_expires_at`):
/// [`MemoryKeys::load`] rebuilds the map from them when the writer starts, also after a crash.
///
/// About 80 bytes a key (a million keys in a window ≈ 80 MB); the sweeper removes keys once
/// their window ends, one part of the map at a time ([`MemoryKeys::sweep`]).
pub(super) struct MemoryKeys {
    /// Webhook id → the number that stands for it in the keys (a webhook id is stored once).
    hooks: HashMap<String, u32>,
    /// The keys, in [`PARTS`] maps by the key hash's first byte: a sweep step walks whole parts.
    parts: Vec<HashMap<(u32, [u8; 32]), Holder>>,
    /// The part the sweeper's walk looks at next.
    next_part: usize,
}

/// How many maps the keys are split into (by the first byte of their hash).
const PARTS: usize = 256;

/// The delivery that holds a key, and when its window ends.
#[derive(Clone, Debug)]
struct Holder {
    delivery: DeliveryId,
    expires_at: i64,
}

/// A delivery id as the map keeps it: the 16 bytes of a UUID (every id the server makes) or,
/// for any other text, the text.
#[derive(Clone, Debug)]
enum DeliveryId {
    Uuid([u8; 16]),
    Text(Box<str>),
}

impl DeliveryId {
    fn of(id: &str) -> DeliveryId {
        match uuid::Uuid::try_parse(id) {
            // Only where the text is the UUID's own spelling, so that it reads back the same.
            Ok(u) if u.hyphenated().to_string() == id => DeliveryId::Uuid(u.into_bytes()),
            _ => DeliveryId::Text(id.into()),
        }
    }

    fn text(&self) -> String {
        match self {
            DeliveryId::Uuid(b) => uuid::Uuid::from_bytes(*b).hyphenated().to_string(),
            DeliveryId::Text(t) => t.to_string(),
        }
    }
}

impl MemoryKeys {
    pub(super) fn new() -> MemoryKeys {
        MemoryKeys {
            hooks: HashMap::new(),
            parts: vec![HashMap::new(); PARTS],
            next_part: 0,
        }
    }

    /// The keys of the deliveries whose window has not ended at `now`. Where two deliveries
    /// hold one key (the second took it over after the first's window) the later window wins.
    pub(super) fn load(conn: &rusqlite::Connection, now: i64) -> rusqlite::Result<MemoryKeys> {
        let mut keys = MemoryKeys::new();
        // A key's window began when its delivery was received (a batch later at most), so only
        // deliveries of the longest window back can hold one: the received_at index bounds the
        // scan.
        let since = now - hookflow_core::dedup::MAX_WINDOW_SECONDS * 1000 - REBUILD_MARGIN_MS;
        let mut stmt = conn.prepare(
            "SELECT webhook_id, dedup_key_hash, id, dedup_expires_at FROM deliveries \
             WHERE received_at >= ?2 AND dedup_key_hash IS NOT NULL AND dedup_expires_at > ?1",
        )?;
        let mut rows = stmt.query([now, since])?;
        while let Some(r) = rows.next()? {
            let hook: String = r.get(0)?;
            let hash: Vec<u8> = r.get(1)?;
            let Ok(hash) = <[u8; 32]>::try_from(hash) else {
                continue;
            };
            let delivery: String = r.get(2)?;
            let expires_at: i64 = r.get(3)?;
            let hook = keys.hook(&hook);
            let part = &mut keys.parts[usize::from(hash[0])];
            match part.get(&(hook, hash)) {
                Some(h) if h.expires_at >= expires_at => {}
                _ => {
                    part.insert(
                        (hook, hash),
                        Holder {
                            delivery: DeliveryId::of(&delivery),
                            expires_at,
                        },
                    );
                }
            }
        }
        Ok(keys)
    }

    /// How many keys the map holds.
    pub(super) fn len(&self) -> usize {
        self.parts.iter().map(HashMap::len).sum()
    }

    fn hook(&mut self, id: &str) -> u32 {
        if let Some(n) = self.hooks.get(id) {
            return *n;
        }
        let n = self.hooks.len() as u32;
        self.hooks.insert(id.to_string(), n);
        n
    }

    fn holder(&self, hook: &str, hash: &[u8; 32]) -> Option<&Holder> {
        let n = self.hooks.get(hook)?;
        self.parts[usize::from(hash[0])].get(&(*n, *hash))
    }

    /// Decides the batch's claims at `now` without changing the map: who holds each key once
    /// the batch commits, and the claims that win a key (new, or taken over), to hand to
    /// [`MemoryKeys::commit`] after the transaction commits.
    pub(super) fn claim<'c>(
        &self,
        claims: &'c [DedupClaim],
        now: i64,
    ) -> (Holders, Vec<&'c DedupClaim>) {
        let mut holders = Holders::new();
        let mut won = Vec::new();
        for c in first_claims(claims) {
            let who = match self.holder(&c.webhook_id, &c.key_hash) {
                Some(h) if h.expires_at > now => h.delivery.text(),
                _ => {
                    won.push(c);
                    c.delivery_id.clone()
                }
            };
            holders.insert((c.webhook_id.clone(), c.key_hash), who);
        }
        (holders, won)
    }

    /// Enters the claims a committed batch won.
    pub(super) fn commit(&mut self, won: &[&DedupClaim]) {
        for c in won {
            let hook = self.hook(&c.webhook_id);
            self.parts[usize::from(c.key_hash[0])].insert(
                (hook, c.key_hash),
                Holder {
                    delivery: DeliveryId::of(&c.delivery_id),
                    expires_at: c.expires_at,
                },
            );
        }
    }

    /// One step of the sweeper's walk: removes the keys whose window ended at `now` or before
    /// from whole parts of the map, from where the walk stands, until it has looked at `limit`
    /// keys or more or reached the last part. Answers how many it removed and whether the walk
    /// reached the end (it then starts over). A step walks one part at least: with a million
    /// keys a part is ~4,000 of them.
    pub(super) fn sweep(&mut self, limit: i64, now: i64) -> (u64, bool) {
        let (mut seen, mut deleted) = (0i64, 0u64);
        while self.next_part < PARTS && seen < limit {
            let part = &mut self.parts[self.next_part];
            seen += part.len() as i64;
            let before = part.len();
            part.retain(|_, h| h.expires_at > now);
            deleted += (before - part.len()) as u64;
            if part.capacity() > 4 * part.len().max(16) {
                part.shrink_to_fit();
            }
            self.next_part += 1;
        }
        let done = self.next_part == PARTS;
        if done {
            self.next_part = 0;
        }
        (deleted, done)
    }
}

/// How much earlier than the longest window the rebuild looks (a request waits for its batch).
const REBUILD_MARGIN_MS: i64 = 3_600_000;

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
    /// byte, delivery, received_at, expires_at) in it, and the keys loaded from it at `now`.
    fn built(rows: &[(&str, u8, &str, i64, i64)], now: i64) -> MemoryKeys {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE deliveries (id TEXT PRIMARY KEY, webhook_id TEXT, received_at BIGINT, \
             dedup_key_hash BLOB, dedup_expires_at BIGINT)",
        )
        .unwrap();
        for (hook, key, id, received, until) in rows {
            conn.execute(
                "INSERT INTO deliveries VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![id, hook, received, key_of(*key).to_vec(), until],
            )
            .unwrap();
        }
        MemoryKeys::load(&conn, now).unwrap()
    }

    /// A key hash whose parts spread over the map (its first byte picks the part).
    fn key_of(k: u8) -> [u8; 32] {
        let mut h = [k; 32];
        h[0] = k.wrapping_mul(37);
        h
    }

    fn holder(keys: &MemoryKeys, hook: &str, key: u8) -> Option<String> {
        keys.holder(hook, &key_of(key)).map(|h| h.delivery.text())
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn the_rebuild_loads_live_keys_and_the_later_holder_wins() {
        let now = 100 * DAY;
        let keys = built(
            &[
                ("w", 1, "second", now - 4_000, now + 60_000),
                ("w", 1, "first", now - 10_000, now - 5_000), // window ended: taken over
                ("w", 2, "gone", now - 9_000, now - 1),       // window ended
                ("v", 2, "other-hook", now - 1_000, now + 1), // same key, other webhook
                ("w", 3, "ancient", now - 40 * DAY, now + DAY), // older than any window
            ],
            now,
        );
        assert_eq!(keys.len(), 2);
        assert_eq!(holder(&keys, "w", 1).as_deref(), Some("second"));
        assert_eq!(holder(&keys, "w", 2), None);
        assert_eq!(holder(&keys, "v", 2).as_deref(), Some("other-hook"));
        assert_eq!(holder(&keys, "w", 3), None);
    }

    #[test]
    fn delivery_ids_read_back_as_they_were_written() {
        let uuid = uuid::Uuid::now_v7().to_string();
        for id in [
            uuid.as_str(),
            "plain",
            &uuid.to_uppercase(),
            &uuid.replace('-', ""),
        ] {
            assert_eq!(DeliveryId::of(id).text(), id);
        }
        assert!(matches!(DeliveryId::of(&uuid), DeliveryId::Uuid(_)));
    }

    #[test]
    fn a_claim_wins_a_new_or_expired_key_and_loses_a_held_one() {
        let now = 100 * DAY;
        let mut keys = built(
            &[
                ("w", 1, "held", now - 1_000, now + 1_000),
                ("w", 2, "expired", now - 9_000, now),
            ],
            now - 500, // loaded while key 2 was still in its window
        );
        assert_eq!(holder(&keys, "w", 2).as_deref(), Some("expired"));
        let claim = |index: usize, key: u8, id: &str| DedupClaim {
            index,
            webhook_id: "w".into(),
            key_hash: key_of(key),
            delivery_id: id.into(),
            expires_at: now + 5_000,
        };
        let claims = [
            claim(0, 1, "a"),
            claim(1, 2, "b"),
            claim(2, 3, "c"),
            claim(3, 3, "d"),
        ];
        let (holders, won) = keys.claim(&claims, now);
        let of = |key: u8| holders[&("w".to_string(), key_of(key))].as_str();
        assert_eq!(of(1), "held", "a key in its window keeps its holder");
        assert_eq!(of(2), "b", "a key whose window ended is taken over");
        assert_eq!(of(3), "c", "the first claim of a batch wins");
        let won_ids: Vec<&str> = won.iter().map(|c| c.delivery_id.as_str()).collect();
        assert_eq!(won_ids, ["b", "c"]);
        assert_eq!(
            holder(&keys, "w", 3),
            None,
            "nothing enters the keys before the batch commits"
        );
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
        assert_eq!(held[1], Some((key_of(2), now + 5_000)));
        assert_eq!(held[0], None);
        keys.commit(&won);
        assert_eq!(holder(&keys, "w", 2).as_deref(), Some("b"));
        assert_eq!(holder(&keys, "w", 3).as_deref(), Some("c"));
        assert_eq!(holder(&keys, "w", 1).as_deref(), Some("held"));
        assert_eq!(keys.len(), 3);
    }

    #[test]
    fn the_sweep_walks_every_key_in_bounded_steps() {
        let now = 100 * DAY;
        let rows: Vec<(String, u8, String, i64, i64)> = (0..250u8)
            .map(|i| {
                let hook = if i % 2 == 0 { "a" } else { "b" };
                // A hundred keys whose window ends within the next second, the rest later.
                let until = if i < 100 { now + 500 } else { now + DAY };
                (hook.to_string(), i, format!("d{i}"), now - 1_000, until)
            })
            .collect();
        let rows: Vec<(&str, u8, &str, i64, i64)> = rows
            .iter()
            .map(|(h, k, d, r, u)| (h.as_str(), *k, d.as_str(), *r, *u))
            .collect();
        let mut keys = built(&rows, now);
        assert_eq!(keys.len(), 250);
        let later = now + 1_000;
        let (mut deleted, mut steps) = (0, 0);
        loop {
            let before = keys.len();
            let (n, done) = keys.sweep(40, later);
            assert_eq!(keys.len() as u64, before as u64 - n);
            deleted += n;
            steps += 1;
            if done {
                break;
            }
        }
        assert_eq!(deleted, 100);
        // 250 keys in 250 parts: a step of 40 looks at 40 keys, the last at what is left.
        assert_eq!(steps, 7, "250 keys, 40 a step");
        assert_eq!(keys.next_part, 0, "a finished walk starts over");
        assert_eq!(keys.len(), 150);
        assert_eq!(holder(&keys, "a", 100).as_deref(), Some("d100"));
        assert_eq!(holder(&keys, "a", 0), None);
        // Nothing expired: a whole pass deletes nothing and ends.
        assert_eq!(keys.sweep(1_000, later), (0, true));
    }
}
