//! SQLite's WAL checkpoints, off the journal writer's path.
//!
//! A checkpoint copies the pages the WAL holds back into the database file and fsyncs it. Left
//! to SQLite's automatic checkpoint, the writer does it inside the commit that crosses the
//! threshold, and every request of the batches behind it waits: with ~1,000 WAL pages a second
//! at full load, that wait was the ingest latency's tail (BENCHMARKS.md, issue 12).
//!
//! So the writer's connection never checkpoints by itself: a thread of its own with its own
//! connection runs a `PASSIVE` checkpoint every [`EVERY`], which takes no lock the writer needs,
//! so batches keep committing meanwhile. SQLite starts the WAL over at the first write after a
//! checkpoint has copied all of it; under sustained load the writer commits again before the
//! checkpointer catches up, so the WAL could keep growing. It is bounded: past [`WRITER_CATCH_UP`]
//! frames the writer copies the few frames the last checkpoint left itself (a short pause, once
//! per ~[`WRITER_CATCH_UP`] frames), and its next write starts the WAL over.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;

/// How often the checkpointer copies what the WAL has gained.
const EVERY: Duration = Duration::from_millis(100);

/// WAL frames (pages) past which the writer catches the checkpoint up itself (~160 MB of WAL).
const WRITER_CATCH_UP: i64 = 40_000;

/// The writer's side: what the checkpointer last saw, and the line that stops it.
pub(super) struct Checkpoints {
    /// Frames in the WAL at the checkpointer's last look (0 once the writer has caught up).
    wal_frames: Arc<AtomicI64>,
    /// Dropped with the writer: the checkpointer then ends.
    _stop: mpsc::Sender<()>,
}

/// One `PRAGMA wal_checkpoint(PASSIVE)`: (frames in the WAL, frames copied to the database).
fn passive(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

impl Checkpoints {
    /// Starts the checkpointer thread on the database at `path` (already in WAL mode).
    pub(super) fn start(path: &Path) -> rusqlite::Result<Checkpoints> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let wal_frames = Arc::new(AtomicI64::new(0));
        let (stop, stopped) = mpsc::channel::<()>();
        let seen = wal_frames.clone();
        std::thread::Builder::new()
            .name("hookflow-checkpoint".into())
            .spawn(move || {
                // Ends when the writer drops its sender (the journal has shut down).
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    match passive(&conn) {
                        Ok((frames, _)) => seen.store(frames, Ordering::Relaxed),
                        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                    }
                }
            })
            .map_err(|e| {
                rusqlite::Error::ToSqlConversionFailure(format!("checkpoint thread: {e}").into())
            })?;
        Ok(Checkpoints {
            wal_frames,
            _stop: stop,
        })
    }

    /// After the writer's commit on `conn`: past [`WRITER_CATCH_UP`] frames, copy the rest of
    /// the WAL now, so that the next write starts it over.
    pub(super) fn after_commit(&self, conn: &Connection) {
        if self.wal_frames.load(Ordering::Relaxed) <= WRITER_CATCH_UP {
            return;
        }
        // Once until the checkpointer looks again, whatever the outcome (a reader holding an old
        // snapshot can keep a checkpoint from finishing; the next look decides anew).
        self.wal_frames.store(0, Ordering::Relaxed);
        let started = std::time::Instant::now();
        match passive(conn) {
            Ok((frames, copied)) => {
                metrics::histogram!("hookflow_journal_catch_up_checkpoint_seconds")
                    .record(started.elapsed().as_secs_f64());
                tracing::debug!(frames, copied, "the writer caught the WAL checkpoint up");
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A connection like the journal writer's: WAL, never checkpointing by itself.
    fn writer(path: &Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        conn
    }

    fn write_pages(conn: &Connection, n: usize) {
        for _ in 0..n {
            conn.execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                .unwrap();
        }
    }

    fn len(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }

    #[test]
    fn the_checkpointer_copies_what_the_writer_commits_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = writer(&path);
        let _checkpoints = Checkpoints::start(&path).unwrap();
        write_pages(&conn, 200);
        // The writer never checkpoints: only the checkpointer can grow the database file to
        // hold the 200 pages.
        let deadline = Instant::now() + Duration::from_secs(20);
        while len(&path) < 200 * 4096 {
            assert!(
                Instant::now() < deadline,
                "the database file never received the WAL's pages"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn past_the_bound_the_writer_catches_up_and_the_wal_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = writer(&path);
        // No checkpointer thread: what happens is the writer's doing alone.
        let (stop, _) = mpsc::channel();
        let checkpoints = Checkpoints {
            wal_frames: Arc::new(AtomicI64::new(0)),
            _stop: stop,
        };
        let wal = dir.path().join("t.db-wal");
        write_pages(&conn, 50);
        checkpoints.after_commit(&conn);
        assert!(
            len(&path) < 50 * 4096,
            "below the bound the writer does not checkpoint"
        );
        checkpoints
            .wal_frames
            .store(WRITER_CATCH_UP + 1, Ordering::Relaxed);
        checkpoints.after_commit(&conn);
        assert!(
            len(&path) >= 50 * 4096,
            "past the bound the writer copies the WAL into the database file"
        );
        // The next write starts the WAL over: its frame goes to the start of the file, which
        // does not grow (it would by a frame were the WAL appended to).
        let wal_len = len(&wal);
        write_pages(&conn, 1);
        assert_eq!(len(&wal), wal_len, "the WAL did not start over");
        assert_eq!(checkpoints.wal_frames.load(Ordering::Relaxed), 0);
    }
}
