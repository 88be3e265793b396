//! SQLite: the dedup keys in their window (SPEC §9), held by the journal's one writer. The one
//! writer decides every claim, so a map keyed by (webhook, key hash) is the unique index: a
//! claim is a lookup, a key held by a delivery whose window has not ended makes the request a
//! duplicate of it, and a key whose window ended is taken over. The batch's winning claims enter
//! the map only after its transaction commits ([`MemoryKeys::commit`]), so a batch that rolls
//! back leaves no key behind. The durable record is on the delivery rows (`dedup_key_hash`,
//! `dedup_expires_at`): [`MemoryKeys::load`] rebuilds the map from them when the writer starts,
//! also after a crash.
//!
//! Memory is bounded: the map holds at most `--dedup-memory-keys` keys (about 160 bytes each).
//! A key won while the map is full goes to the database's `dedup_keys` table instead, inside the
//! batch's transaction, and a claim the map does not decide looks there (a primary-key read)
//! whenever the table holds keys. So past the bound each such claim costs a b-tree write, and the
//! decision stays the same. The sweeper removes keys once their window ends, from the table in
//! bounded statements and from the map one part at a time ([`MemoryKeys::sweep`]).

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::dedup::{DedupClaim, Holders, first_claims};

/// How many maps the keys are split into (by the first byte of their hash).
const PARTS: usize = 256;

/// How much earlier than the longest window the rebuild looks (a request waits for its batch).
const REBUILD_MARGIN_MS: i64 = 3_600_000;

/// A key's row in `dedup_keys`: its holder and when its window ends.
const DISK_HOLDER_SQL: &str =
    "SELECT delivery_id, expires_at FROM dedup_keys WHERE webhook_id = ?1 AND key_hash = ?2";
/// Writes a key won while the map is full (a row whose window ended is taken over); at a
/// rebuild a row with a later window is kept.
const SPILL_SQL: &str = "INSERT INTO dedup_keys (webhook_id, key_hash, delivery_id, \
    expires_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (webhook_id, key_hash) DO UPDATE SET \
    delivery_id = excluded.delivery_id, expires_at = excluded.expires_at \
    WHERE excluded.expires_at > dedup_keys.expires_at";
/// Deletes at most `?2` keys of the table whose window ended at `?1` or before.
const SWEEP_DISK_SQL: &str = "DELETE FROM dedup_keys WHERE rowid IN \
    (SELECT rowid FROM dedup_keys WHERE expires_at <= ?1 LIMIT ?2)";

pub(super) struct MemoryKeys {
    /// Webhook id → the number that stands for it in the keys (a webhook id is stored once).
    hooks: HashMap<String, u32>,
    /// The keys, in [`PARTS`] maps by the key hash's first byte: a sweep step walks whole parts.
    parts: Vec<HashMap<(u32, [u8; 32]), Holder>>,
    /// The part the sweeper's walk looks at next.
    next_part: usize,
    /// Most keys the map holds (`--dedup-memory-keys`).
    cap: usize,
    /// Rows of `dedup_keys` as far as this writer knows; 0: claims do not look there. It may
    /// count rows that deleting a webhook removed (a few lookups more), never too few.
    on_disk: u64,
    /// The change to `on_disk` by the batch being written, applied once it commits.
    pending_disk: i64,
}

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

/// What `dedup_keys` says of a key.
enum OnDisk {
    Absent,
    /// A row whose window has ended.
    Ended,
    /// The delivery holding it.
    Held(String),
}

impl MemoryKeys {
    fn new(cap: usize) -> MemoryKeys {
        MemoryKeys {
            hooks: HashMap::new(),
            parts: vec![HashMap::new(); PARTS],
            next_part: 0,
            cap,
            on_disk: 0,
            pending_disk: 0,
        }
    }

    /// The keys of the deliveries whose window has not ended at `now`, at most `cap` of them in
    /// memory: one that does not fit (the bound was lowered) is written to `dedup_keys`, and one
    /// already there stays there. Where two deliveries hold one key (the second took it over
    /// after the first's window) the later window wins.
    pub(super) fn load(conn: &Connection, now: i64, cap: usize) -> rusqlite::Result<MemoryKeys> {
        let mut keys = MemoryKeys::new(cap);
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let rows: i64 = tx.query_row("SELECT COUNT(*) FROM dedup_keys", [], |r| r.get(0))?;
        keys.on_disk = rows.max(0) as u64;
        // A key's window began when its delivery was received (a batch later at most), so only
        // deliveries of the longest window back can hold one: the received_at index bounds the
        // scan.
        let since = now - hookflow_core::dedup::MAX_WINDOW_SECONDS * 1000 - REBUILD_MARGIN_MS;
        let mut stmt = tx.prepare(
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
            let in_table = if keys.on_disk > 0 {
                disk(&tx, &hook, &hash, now)?
            } else {
                OnDisk::Absent
            };
            if matches!(in_table, OnDisk::Held(_)) {
                continue;
            }
            let n = keys.hook(&hook);
            let fits = keys.len() < cap;
            let part = &mut keys.parts[usize::from(hash[0])];
            match part.get(&(n, hash)) {
                Some(h) if h.expires_at >= expires_at => {}
                Some(_) => {
                    part.insert((n, hash), Holder::of(&delivery, expires_at));
                }
                None if fits => {
                    part.insert((n, hash), Holder::of(&delivery, expires_at));
                }
                None => {
                    tx.execute(SPILL_SQL, params![hook, &hash[..], delivery, expires_at])?;
                    if matches!(in_table, OnDisk::Absent) {
                        keys.on_disk += 1;
                    }
                }
            }
        }
        drop(rows);
        drop(stmt);
        tx.commit()?;
        Ok(keys)
    }

    /// How many keys the map holds.
    pub(super) fn len(&self) -> usize {
        self.parts.iter().map(HashMap::len).sum()
    }

    /// How many keys `dedup_keys` holds, as far as this writer knows.
    pub(super) fn on_disk(&self) -> u64 {
        self.on_disk
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

    /// Starts a batch: what the last one changed in `dedup_keys` without committing is forgotten.
    pub(super) fn begin(&mut self) {
        self.pending_disk = 0;
    }

    /// Decides the batch's claims at `now`, inside its transaction `tx`: who holds each key once
    /// the batch commits, and the claims that win a key in the map (new, or taken over), to hand
    /// to [`MemoryKeys::commit`] after the transaction commits. A key the map does not hold is
    /// looked up in `dedup_keys` when that holds keys; a key won while the map is full is written
    /// there.
    pub(super) fn claim<'c>(
        &mut self,
        tx: &Connection,
        claims: &'c [DedupClaim],
        now: i64,
    ) -> rusqlite::Result<(Holders, Vec<&'c DedupClaim>)> {
        let mut holders = Holders::new();
        let mut won = Vec::new();
        let mut room = self.cap.saturating_sub(self.len());
        for c in first_claims(claims) {
            let who = match self.holder(&c.webhook_id, &c.key_hash) {
                Some(h) if h.expires_at > now => h.delivery.text(),
                // Its window ended: taken over in its place in the map.
                Some(_) => {
                    won.push(c);
                    c.delivery_id.clone()
                }
                None => {
                    let found = if self.on_disk > 0 {
                        disk(tx, &c.webhook_id, &c.key_hash, now)?
                    } else {
                        OnDisk::Absent
                    };
                    match found {
                        OnDisk::Held(holder) => holder,
                        OnDisk::Absent if room > 0 => {
                            room -= 1;
                            won.push(c);
                            c.delivery_id.clone()
                        }
                        found => {
                            tx.prepare_cached(SPILL_SQL)?.execute(params![
                                c.webhook_id,
                                &c.key_hash[..],
                                c.delivery_id,
                                c.expires_at
                            ])?;
                            if matches!(found, OnDisk::Absent) {
                                self.pending_disk += 1;
                            }
                            c.delivery_id.clone()
                        }
                    }
                }
            };
            holders.insert((c.webhook_id.clone(), c.key_hash), who);
        }
        Ok((holders, won))
    }

    /// After the batch committed: enters the claims it won in the map, and counts what it wrote
    /// to or deleted from `dedup_keys`.
    pub(super) fn commit(&mut self, won: &[&DedupClaim]) {
        for c in won {
            let hook = self.hook(&c.webhook_id);
            self.parts[usize::from(c.key_hash[0])]
                .insert((hook, c.key_hash), Holder::of(&c.delivery_id, c.expires_at));
        }
        self.on_disk = self.on_disk.saturating_add_signed(self.pending_disk);
        self.pending_disk = 0;
    }

    /// One step of the sweeper's walk, inside the batch's transaction `tx`: first the keys of
    /// `dedup_keys` whose window ended at `now` or before, at most `limit` in one statement;
    /// once none is left there, the map's, from whole parts from where the walk stands, until
    /// it has looked at `limit` keys or more or reached the last part. Answers how many it
    /// removed and whether the walk reached the end (it then starts over, and the count of the
    /// table's keys is read again). A step walks one part at least: with a million keys a part
    /// is ~4,000 of them.
    pub(super) fn sweep(
        &mut self,
        tx: &Connection,
        limit: i64,
        now: i64,
    ) -> rusqlite::Result<(u64, bool)> {
        if self.on_disk > 0 {
            let deleted = tx.execute(SWEEP_DISK_SQL, params![now, limit])? as u64;
            self.pending_disk -= deleted as i64;
            if deleted as i64 >= limit {
                return Ok((deleted, false));
            }
            let any: bool =
                tx.query_row("SELECT EXISTS (SELECT 1 FROM dedup_keys)", [], |r| r.get(0))?;
            if !any {
                // Whatever this writer counted, the table is empty once the batch commits.
                self.pending_disk = -(self.on_disk as i64);
            }
            if deleted > 0 {
                return Ok((deleted, false));
            }
        }
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
            if self.on_disk > 0 {
                // Once a walk: rows can leave the table behind this writer's back (a webhook's
                // delete takes its keys with it), so the count is set to what the table holds.
                let held: i64 =
                    tx.query_row("SELECT COUNT(*) FROM dedup_keys", [], |r| r.get(0))?;
                self.pending_disk = held - self.on_disk as i64;
            }
        }
        Ok((deleted, done))
    }

    /// Publishes how many keys are held, in memory and in `dedup_keys`.
    pub(super) fn publish(&self) {
        metrics::gauge!("hookflow_dedup_keys", "place" => "memory").set(self.len() as f64);
        metrics::gauge!("hookflow_dedup_keys", "place" => "disk").set(self.on_disk as f64);
    }
}

impl Holder {
    fn of(delivery: &str, expires_at: i64) -> Holder {
        Holder {
            delivery: DeliveryId::of(delivery),
            expires_at,
        }
    }
}

/// What `dedup_keys` says of key `hash` of webhook `hook` at `now`.
fn disk(db: &Connection, hook: &str, hash: &[u8; 32], now: i64) -> rusqlite::Result<OnDisk> {
    let row: Option<(String, i64)> = db
        .prepare_cached(DISK_HOLDER_SQL)?
        .query_row(params![hook, &hash[..]], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        None => OnDisk::Absent,
        Some((_, until)) if until <= now => OnDisk::Ended,
        Some((holder, _)) => OnDisk::Held(holder),
    })
}

#[cfg(test)]
mod tests;
