//! hookflow's storage: the only crate that knows SQL. Everything hookflow must not lose or must
//! agree on across nodes lives here — webhooks and their keys, rate windows, the delivery journal
//! — behind [`Store`], on SQLite (one node, the default) or PostgreSQL (several nodes).
//!
//! Each query is written once, with `$N` parameters that both dialects accept, and run on either
//! pool through the shapes of `query.rs` (one row, every row, a page, a statement, a delete) or,
//! for a transaction, [`on_db!`]. Integers are `BIGINT`, times are unix milliseconds, JSON is
//! `TEXT`, so rows decode the same way on both: one `#[derive(sqlx::FromRow)]` per row type.
//! Nothing above this crate sees a pool or a dialect.
#![forbid(unsafe_code)]

pub mod backup;
pub mod charts;
pub mod checklist;
pub mod crypto;
mod db;
pub mod dedup;
pub mod deliveries;
pub mod events;
pub mod journal;
mod migrate;
mod query;
pub mod replay;
pub mod retention;
pub mod run_queue;
pub mod runs;
pub mod secrets;
pub mod settings;
#[cfg(test)]
mod testing;
pub mod ui;
pub mod verification;
pub mod versions;
pub mod webhooks;
pub mod workflows;

pub use db::{Backend, Store, StoreOptions};

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

/// The store's one error type. `Conflict` and `NotFound` are the caller's fault; `Unavailable`
/// means the database could not be reached or written (answer 503, retry); `Internal` is a bug or
/// corruption.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => StoreError::Unavailable(e),
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(d.message().to_string())
            }
            sqlx::Error::Database(d)
                if matches!(
                    d.code().as_deref(),
                    // SQLite: SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_FULL, SQLITE_IOERR.
                    // PostgreSQL: shutting down / not accepting connections yet, too many
                    // connections, connection exceptions (class 08).
                    Some("5" | "517" | "13" | "10" | "57P01" | "57P02" | "57P03" | "53300")
                ) || d.code().is_some_and(|c| c.starts_with("08")) =>
            {
                StoreError::Unavailable(e)
            }
            _ => StoreError::Database(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

// PostgreSQL's TEXT cannot hold U+0000 (SQLite's can): a statement that binds one fails, and in
// the journal's shared transaction that would fail a whole batch (and leave a run retrying
// forever). So that both backends store and answer alike, no text column ever holds a NUL:
// - a key holding one (an id, a name, a filter value, a cursor) names nothing: lookups answer
//   "none" without a query (`names_nothing`);
// - a name or definition the user chooses (webhook, event, workflow, secret) is refused
//   (`no_nul`, `StoreError::Invalid`);
// - text recorded from requests and runs (reasons, errors, rendered step data, documents) has
//   each NUL replaced with U+FFFD (`text`).

/// Whether a lookup key cannot name any stored row (it holds a NUL, which no text column holds).
pub(crate) fn names_nothing(key: &str) -> bool {
    key.contains('\0')
}

/// Refuses a user-chosen value holding a NUL.
pub(crate) fn no_nul(what: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(StoreError::Invalid(format!(
            "{what} must not contain NUL characters"
        )));
    }
    Ok(())
}

/// Recorded text as stored: each NUL replaced with U+FFFD.
pub(crate) fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// [`text`] in place.
pub(crate) fn clean(s: &mut String) {
    if s.contains('\0') {
        *s = s.replace('\0', "\u{FFFD}");
    }
}

/// [`clean`] of an optional value.
pub(crate) fn clean_opt(s: &mut Option<String>) {
    if let Some(s) = s {
        clean(s);
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new time-ordered id (UUID v7): sorting ids sorts by creation time, which makes
/// "newest first" lists and their cursors a primary-key range scan.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The smallest id [`new_id`] can make at or after `ms` (unix milliseconds; clamped to what a
/// UUID v7 holds): ids sort as text by the millisecond they were made in, so `id >= v7_floor(t)`
/// turns a time range into a range of an `(owner, id)` index.
pub(crate) fn v7_floor(ms: i64) -> String {
    let ms = ms.clamp(0, (1 << 48) - 1) as u64;
    format!(
        "{:08x}-{:04x}-0000-0000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn v7_floor_sorts_below_every_id_made_from_that_millisecond() {
        let before = crate::now_ms();
        let id = crate::new_id();
        let after = crate::now_ms();
        assert!(super::v7_floor(before).as_str() <= id.as_str(), "{id}");
        assert!(super::v7_floor(after + 1).as_str() > id.as_str(), "{id}");
        // The id's own millisecond is the exact boundary.
        let ms = i64::from_str_radix(&id[..8], 16).unwrap() << 16
            | i64::from_str_radix(&id[9..13], 16).unwrap();
        assert!(super::v7_floor(ms).as_str() <= id.as_str());
        assert!(super::v7_floor(ms + 1).as_str() > id.as_str());
        assert_eq!(super::v7_floor(-5), "00000000-0000-0000-0000-000000000000");
        assert_eq!(
            super::v7_floor(i64::MAX),
            "ffffffff-ffff-0000-0000-000000000000"
        );
    }
}
