//! Tests of [`MemoryKeys`]: the map, its bound, the `dedup_keys` table past it, the sweep and
//! the rebuild, on an in-memory SQLite database.

use super::*;
use crate::journal::Outcome;
use crate::journal::dedup::mark_duplicates;

/// A connection with the deliveries columns the rebuild reads and the `dedup_keys` table,
/// `rows` of (webhook, key byte, delivery, received_at, expires_at) in it, and the keys
/// loaded from it at `now`, at most `cap` in memory.
fn built_capped(
    rows: &[(&str, u8, &str, i64, i64)],
    now: i64,
    cap: usize,
) -> (Connection, MemoryKeys) {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE deliveries (id TEXT PRIMARY KEY, webhook_id TEXT, received_at BIGINT, \
         dedup_key_hash BLOB, dedup_expires_at BIGINT); \
         CREATE TABLE dedup_keys (webhook_id TEXT NOT NULL, key_hash BLOB NOT NULL, \
         delivery_id TEXT NOT NULL, expires_at BIGINT NOT NULL, \
         PRIMARY KEY (webhook_id, key_hash)); \
         CREATE INDEX dedup_keys_by_expiry ON dedup_keys (expires_at);",
    )
    .unwrap();
    for (hook, key, id, received, until) in rows {
        conn.execute(
            "INSERT INTO deliveries VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, hook, received, key_of(*key).to_vec(), until],
        )
        .unwrap();
    }
    let keys = MemoryKeys::load(&conn, now, cap).unwrap();
    (conn, keys)
}

fn built(rows: &[(&str, u8, &str, i64, i64)], now: i64) -> MemoryKeys {
    built_capped(rows, now, usize::MAX).1
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
    let (conn, mut keys) = built_capped(
        &[
            ("w", 1, "held", now - 1_000, now + 1_000),
            ("w", 2, "expired", now - 9_000, now),
        ],
        now - 500, // loaded while key 2 was still in its window
        usize::MAX,
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
    let (holders, won) = keys.claim(&conn, &claims, now).unwrap();
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
    assert!(matches!(&outcomes[3], Outcome::Duplicate { duplicate_of, .. } if duplicate_of == "c"));
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
    let (conn, mut keys) = built_capped(&rows, now, usize::MAX);
    assert_eq!(keys.len(), 250);
    let later = now + 1_000;
    let (mut deleted, mut steps) = (0, 0);
    loop {
        let before = keys.len();
        let (n, done) = keys.sweep(&conn, 40, later).unwrap();
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
    assert_eq!(keys.sweep(&conn, 1_000, later).unwrap(), (0, true));
}

/// The rows of `dedup_keys`, as (key byte, holder) sorted by key byte (`key_of` is
/// one-to-one on bytes).
fn table(conn: &Connection) -> Vec<(u8, String)> {
    let mut stmt = conn
        .prepare("SELECT key_hash, delivery_id FROM dedup_keys")
        .unwrap();
    let mut rows: Vec<(u8, String)> = stmt
        .query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?[1], r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.sort();
    rows
}

fn claim_of(index: usize, key: u8, id: &str, expires_at: i64) -> DedupClaim {
    DedupClaim {
        index,
        webhook_id: "w".into(),
        key_hash: key_of(key),
        delivery_id: id.into(),
        expires_at,
    }
}

/// One committed batch of claims (key byte, delivery) on webhook "w": who holds each key.
fn batch(conn: &Connection, keys: &mut MemoryKeys, now: i64, claims: &[(u8, &str)]) -> Vec<String> {
    let claims: Vec<DedupClaim> = claims
        .iter()
        .enumerate()
        .map(|(i, (k, id))| claim_of(i, *k, id, now + DAY))
        .collect();
    keys.begin();
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate).unwrap();
    let (holders, won) = keys.claim(&tx, &claims, now).unwrap();
    tx.commit().unwrap();
    keys.commit(&won);
    claims
        .iter()
        .map(|c| holders[&(c.webhook_id.clone(), c.key_hash)].clone())
        .collect()
}

#[test]
fn past_the_bound_keys_go_to_the_table_and_decide_as_in_memory() {
    let now = 100 * DAY;
    let (conn, mut keys) = built_capped(&[], now, 2);
    let first = batch(
        &conn,
        &mut keys,
        now,
        &[(1, "a"), (2, "b"), (3, "c"), (4, "d")],
    );
    assert_eq!(first, ["a", "b", "c", "d"], "every new key is won");
    assert_eq!(keys.len(), 2, "the map holds its bound");
    assert_eq!(holder(&keys, "w", 1).as_deref(), Some("a"));
    assert_eq!(table(&conn), [(3, "c".into()), (4, "d".into())]);
    assert_eq!(keys.on_disk(), 2);

    // Repeats are duplicates of the first holder, from the map and from the table alike.
    let again = batch(
        &conn,
        &mut keys,
        now + 1,
        &[(4, "x"), (1, "y"), (3, "z"), (5, "e")],
    );
    assert_eq!(again, ["d", "a", "c", "e"]);
    assert_eq!(
        table(&conn).len(),
        3,
        "a new key past the bound is written too"
    );
    assert_eq!(keys.on_disk(), 3);

    // A row whose window ended is taken over in the table, and counted once.
    conn.execute(
        "UPDATE dedup_keys SET expires_at = ?1 WHERE delivery_id = 'c'",
        [now],
    )
    .unwrap();
    let later = now + 10;
    assert_eq!(batch(&conn, &mut keys, later, &[(3, "c2")]), ["c2"]);
    assert!(table(&conn).contains(&(3, "c2".into())));
    assert_eq!(keys.on_disk(), 3);
    assert_eq!(batch(&conn, &mut keys, later, &[(3, "c3")]), ["c2"]);
}

#[test]
fn a_batch_that_rolls_back_counts_nothing() {
    let now = 100 * DAY;
    let (conn, mut keys) = built_capped(&[], now, 0);
    keys.begin();
    let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate).unwrap();
    let claims = [claim_of(0, 7, "lost", now + DAY)];
    keys.claim(&tx, &claims, now).unwrap();
    tx.rollback().unwrap();
    assert!(table(&conn).is_empty());
    keys.begin();
    keys.commit(&[]);
    assert_eq!(keys.on_disk(), 0, "the rolled back row is not counted");
    assert_eq!(batch(&conn, &mut keys, now, &[(7, "kept")]), ["kept"]);
    assert_eq!(keys.on_disk(), 1);
}

/// Keys bounded to one in memory, after one batch of `claims` at `now` (the first in the map,
/// the others in the table).
fn one_in_memory(now: i64, claims: &[(u8, &str)]) -> (Connection, MemoryKeys) {
    let (conn, mut keys) = built_capped(&[], now, 1);
    batch(&conn, &mut keys, now, claims);
    (conn, keys)
}

#[test]
fn the_sweep_empties_the_table_then_walks_the_map() {
    let now = 100 * DAY;
    // One key in the map, four in the table: three of them end before `later`.
    let claims = [(1, "m"), (2, "a"), (3, "b"), (4, "c"), (5, "long")];
    let (conn, mut keys) = one_in_memory(now, &claims);
    conn.execute(
        "UPDATE dedup_keys SET expires_at = ?1 WHERE delivery_id <> 'long'",
        [now],
    )
    .unwrap();
    conn.execute(
        "UPDATE dedup_keys SET expires_at = ?1 WHERE delivery_id = 'long'",
        [now + 3 * DAY],
    )
    .unwrap();
    let later = now + 2 * DAY; // the map's key (one day) has ended too
    let step = |keys: &mut MemoryKeys| {
        keys.begin();
        let swept = keys.sweep(&conn, 2, later).unwrap();
        keys.commit(&[]);
        swept
    };
    assert_eq!(
        step(&mut keys),
        (2, false),
        "a full statement: more may be left"
    );
    assert_eq!(step(&mut keys), (1, false));
    assert_eq!(keys.on_disk(), 1);
    assert_eq!(table(&conn), [(5, "long".into())]);
    let mut from_map = 0;
    loop {
        let (n, done) = step(&mut keys);
        from_map += n;
        if done {
            break;
        }
    }
    assert_eq!(from_map, 1, "then the map's ended key");
    assert_eq!(keys.len(), 0);
    conn.execute("DELETE FROM dedup_keys", []).unwrap();
    step(&mut keys);
    assert_eq!(keys.on_disk(), 0, "an empty table is seen as empty");
}

/// Rows deleted from `dedup_keys` by another statement (a webhook's delete) are not counted
/// once the sweep's walk has come round.
#[test]
fn the_count_of_the_table_follows_rows_deleted_elsewhere() {
    let now = 100 * DAY;
    let (conn, mut keys) = one_in_memory(now, &[(1, "m"), (2, "a"), (3, "b"), (4, "c")]);
    assert_eq!(keys.on_disk(), 3);
    conn.execute("DELETE FROM dedup_keys WHERE delivery_id <> 'c'", [])
        .unwrap();
    let late = [claim_of(0, 9, "late", now + DAY)];
    let mut walks = 0;
    while walks < 2 {
        keys.begin();
        let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate).unwrap();
        let (_, done) = keys.sweep(&tx, 1_000, now + 1).unwrap();
        // A claim after the sweep in the same batch is counted on top of the table's count.
        let more = if done && walks == 0 {
            keys.claim(&tx, &late, now + 1).unwrap().1
        } else {
            Vec::new()
        };
        tx.commit().unwrap();
        keys.commit(&more);
        if done {
            walks += 1;
            let want = table(&conn).len() as u64;
            assert_eq!(keys.on_disk(), want, "after walk {walks}");
        }
    }
    assert_eq!(keys.on_disk(), 2, "'c' and the late key");
}

#[test]
fn the_rebuild_keeps_the_bound_and_what_the_table_holds() {
    let now = 100 * DAY;
    let rows = [
        ("w", 1, "a", now - 3_000, now + DAY),
        ("w", 2, "b", now - 2_000, now + DAY),
        ("w", 3, "c", now - 1_000, now + DAY),
    ];
    let (conn, keys) = built_capped(&rows, now, 1);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys.on_disk(), 2);
    assert_eq!(
        table(&conn).len(),
        2,
        "what does not fit is written to the table"
    );
    // Loaded again (a restart) with the same bound: the table's keys stay there.
    let mut again = MemoryKeys::load(&conn, now + 1, 1).unwrap();
    assert_eq!((again.len(), again.on_disk()), (1, 2));
    assert_eq!(table(&conn).len(), 2);
    let holders = batch(&conn, &mut again, now + 2, &[(1, "x"), (2, "y"), (3, "z")]);
    assert_eq!(holders, ["a", "b", "c"]);
    // A higher bound does not move them back: the table still decides its keys.
    let roomy = MemoryKeys::load(&conn, now + 3, 10).unwrap();
    assert_eq!((roomy.len(), roomy.on_disk()), (1, 2));
}
