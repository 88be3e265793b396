//! SQLite's WAL checkpoints, off the journal writer's path.
//!
//! A checkpoint copies the pages the WAL holds back into the database file and fsyncs it. Left
//! to SQLite's automatic checkpoint, the writer does it inside the commit that crosses the
//! threshold, and every request of the batches behind it waits: with ~1,000 WAL pages a second
//! at full load, that wait was the ingest latency's tail (BENCHMARKS.md, issue 12).
//!
//! So the writer's connection never checkpoints by itself: a thread of its own with its own
//! connection runs `PASSIVE` checkpoints, which take no lock the writer needs, so batches keep
//! committing meanwhile. It looks every [`EVERY`] and copies when the writer committed
//! [`BUSY_COMMITS`] times since the last copy, or at all and the last copy is [`QUIET_EVERY`]
//! old, or its last checkpoint did not copy the whole WAL; an idle server runs none. SQLite
//! starts the WAL over at the first write after a checkpoint has copied all of it; under
//! sustained load the writer commits again before the checkpointer catches up, so the WAL could
//! keep growing. It is bounded: past [`WRITER_CATCH_UP`]
//! frames the writer copies the few frames the last checkpoint left itself (a short pause, once
//! per ~[`WRITER_CATCH_UP`] frames), and its next write starts the WAL over. That pause is short
//! because the checkpointer looks every [`CLOSE_EVERY`] instead of every [`EVERY`] once the WAL
//! is past [`CLOSE_TO_CATCH_UP`]: the writer then finds a few milliseconds of frames left to copy
//! rather than up to [`EVERY`]'s (with 100 ms, 14-25 ms of copying and syncing at full load,
//! once a second: most of ingest's p99, BENCHMARKS.md "The checkpoint catch-up").

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::sqlite::err;
use crate::{Result, StoreError};

/// How often the checkpointer looks whether to copy what the WAL has gained. Each copy ends with
/// a sync of the database file, which the writer's next WAL sync waits behind at the disk: under
/// full load, copies of 20 ms of frames keep those waits short (ingest's p99 ~5 ms against 9-13
/// ms with 100 ms, BENCHMARKS.md "The checkpoint catch-up").
const EVERY: Duration = Duration::from_millis(20);

/// A look copies when the writer committed at least this many times since the last copy...
const BUSY_COMMITS: u64 = 32;

/// ...or when the last copy is this old (and the writer committed since): at lower rates a copy
/// every 100 ms at most, so a server that commits a few hundred times a second or less does not
/// sync its database file more often than that.
const QUIET_EVERY: Duration = Duration::from_millis(100);

/// How often it copies once the writer's catch-up is close ([`CLOSE_TO_CATCH_UP`]).
const CLOSE_EVERY: Duration = Duration::from_millis(5);

/// WAL frames (pages) past which the writer catches the checkpoint up itself (~160 MB of WAL).
const WRITER_CATCH_UP: i64 = 40_000;

/// WAL frames past which the checkpointer looks every [`CLOSE_EVERY`].
const CLOSE_TO_CATCH_UP: i64 = WRITER_CATCH_UP / 10 * 9;

/// When the checkpointer looks ([`EVERY`], [`CLOSE_EVERY`] past [`CLOSE_TO_CATCH_UP`] WAL
/// frames) and copies ([`BUSY_COMMITS`], [`QUIET_EVERY`]), and when the writer catches up
/// ([`WRITER_CATCH_UP`]); other values in tests.
#[derive(Debug, Clone, Copy)]
struct Policy {
    every: Duration,
    close_every: Duration,
    busy_commits: u64,
    quiet_every: Duration,
    close: i64,
    catch_up: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            every: EVERY,
            close_every: CLOSE_EVERY,
            busy_commits: BUSY_COMMITS,
            quiet_every: QUIET_EVERY,
            close: CLOSE_TO_CATCH_UP,
            catch_up: WRITER_CATCH_UP,
        }
    }
}

/// The writer's side: what it shares with the checkpointer, and the line that stops it.
pub(super) struct Checkpoints {
    shared: Arc<Shared>,
    /// Dropped with the writer: the checkpointer then ends.
    _stop: mpsc::Sender<()>,
}

/// What the writer and the checkpointer tell each other.
#[derive(Default)]
struct Shared {
    /// Frames in the WAL at the checkpointer's last checkpoint (0 once the writer has caught up).
    wal_frames: AtomicI64,
    /// The writer's commits since the checkpointer's last look.
    commits: AtomicU64,
    /// The checkpointer's looks, and the checkpoints it ran at them.
    looks: AtomicU64,
    checkpoints: AtomicU64,
    policy: Policy,
}

impl Shared {
    /// Whether the WAL is close to the writer's catch-up.
    fn close(&self) -> bool {
        self.wal_frames.load(Ordering::Relaxed) > self.policy.close
    }

    /// How long the checkpointer waits before its next look.
    fn wait(&self) -> Duration {
        match self.close() {
            true => self.policy.close_every,
            false => self.policy.every,
        }
    }

    /// Whether a look copies now, `pending` commits and `since` after the last copy.
    fn copy_now(&self, pending: u64, since: Duration) -> bool {
        let p = &self.policy;
        pending > 0 && (pending >= p.busy_commits || since >= p.quiet_every || self.close())
    }
}

/// One `PRAGMA wal_checkpoint(PASSIVE)`: (whether another connection's checkpoint held it off,
/// frames in the WAL, frames copied to the database; both -1 when it could not run).
fn passive(conn: &Connection) -> rusqlite::Result<(bool, i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(0)? != 0, r.get(1)?, r.get(2)?))
    })
}

impl Checkpoints {
    /// Starts the checkpointer thread on the database at `path` (already in WAL mode).
    pub(super) fn start(path: &Path) -> Result<Checkpoints> {
        Self::start_with(path, Policy::default())
    }

    fn start_with(path: &Path, policy: Policy) -> Result<Checkpoints> {
        let conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        let shared = Arc::new(Shared {
            policy,
            ..Shared::default()
        });
        let (stop, stopped) = mpsc::channel::<()>();
        let seen = shared.clone();
        std::thread::Builder::new()
            .name("hookflow-checkpoint".into())
            .spawn(move || {
                // The WAL may hold writes from before the writer started: the first look copies
                // them.
                let mut behind = true;
                // Commits since the last copy, and when it ran.
                let (mut pending, mut last) = (0, Instant::now());
                // Ends when the writer drops its sender (the journal has shut down).
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(seen.wait()) {
                    pending += seen.commits.swap(0, Ordering::Relaxed);
                    if behind || seen.copy_now(pending, last.elapsed()) {
                        (pending, last) = (0, Instant::now());
                        seen.checkpoints.fetch_add(1, Ordering::Relaxed);
                        let result = passive(&conn);
                        metrics::histogram!("hookflow_journal_checkpoint_seconds")
                            .record(last.elapsed().as_secs_f64());
                        match result {
                            Ok((busy, frames, copied)) => {
                                if frames >= 0 {
                                    seen.wal_frames.store(frames, Ordering::Relaxed);
                                }
                                // Held off by another connection's checkpoint (the writer's
                                // catch-up, a pool's automatic one): not done, look again.
                                behind = busy || frames < 0 || copied < frames;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "WAL checkpoint failed");
                                // Tried again at the next look.
                                behind = true;
                            }
                        }
                    }
                    seen.looks.fetch_add(1, Ordering::Relaxed);
                }
            })
            .map_err(|e| {
                StoreError::Internal(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(Checkpoints {
            shared,
            _stop: stop,
        })
    }

    /// After the writer's commit on `conn`: tells the checkpointer there is something to copy;
    /// past [`WRITER_CATCH_UP`] frames, copies the rest of the WAL now, so that the next write
    /// starts it over.
    pub(super) fn after_commit(&self, conn: &Connection) {
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        if self.shared.wal_frames.load(Ordering::Relaxed) <= self.shared.policy.catch_up {
            return;
        }
        // Once until the checkpointer looks again, whatever the outcome (a reader holding an old
        // snapshot can keep a checkpoint from finishing; the next look decides anew).
        self.shared.wal_frames.store(0, Ordering::Relaxed);
        let started = std::time::Instant::now();
        match passive(conn) {
            Ok((busy, frames, copied)) => {
                metrics::histogram!("hookflow_journal_catch_up_checkpoint_seconds")
                    .record(started.elapsed().as_secs_f64());
                tracing::debug!(
                    busy,
                    frames,
                    copied,
                    "the writer caught the WAL checkpoint up"
                );
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Shared {
        /// The checkpointer's looks so far.
        fn looks_now(&self) -> u64 {
            self.looks.load(Ordering::Relaxed)
        }

        /// The checkpoints it ran so far.
        fn ran(&self) -> u64 {
            self.checkpoints.load(Ordering::Relaxed)
        }

        /// Waits until it has looked `n` times in all.
        fn looked_to(&self, n: u64) {
            until("the checkpointer stopped looking", || self.looks_now() >= n)
        }
    }

    /// A database `t.db` in a new directory (kept while the first value lives), its path, and a
    /// connection to it like the journal writer's: WAL, never checkpointing by itself.
    fn writer() -> (tempfile::TempDir, std::path::PathBuf, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        (dir, path, conn)
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

    /// Waits until `done` holds (20 s at most).
    fn until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn the_checkpointer_copies_what_the_writer_commits_into_the_database_file() {
        let (_dir, path, conn) = writer();
        let checkpoints = Checkpoints::start(&path).unwrap();
        write_pages(&conn, 200);
        checkpoints.after_commit(&conn);
        // The writer never checkpoints: only the checkpointer can grow the database file to
        // hold the 200 pages.
        until("the database file never received the WAL's pages", || {
            len(&path) >= 200 * 4096
        });
    }

    #[test]
    fn an_idle_checkpointer_runs_no_checkpoint() {
        let (_dir, path, conn) = writer();
        let checkpoints = Checkpoints::start(&path).unwrap();
        let shared = &checkpoints.shared;
        write_pages(&conn, 10);
        checkpoints.after_commit(&conn);
        // One commit: copied once the last copy is `QUIET_EVERY` old.
        until("the commit was not checkpointed", || {
            len(&path) >= 10 * 4096
        });
        shared.looked_to(shared.looks_now() + 1);
        let ran = shared.ran();
        // Nothing committed since: looks, but no checkpoint.
        shared.looked_to(shared.looks_now() + 5);
        assert_eq!(shared.ran(), ran, "an idle checkpointer ran checkpoints");
        // The next commit is checkpointed again.
        write_pages(&conn, 1);
        checkpoints.after_commit(&conn);
        until("the next commit was not checkpointed", || {
            shared.ran() > ran
        });
    }

    #[test]
    fn a_few_commits_wait_for_the_quiet_period_and_many_are_copied_at_the_next_look() {
        let (_dir, path, conn) = writer();
        let policy = Policy {
            every: Duration::from_millis(5),
            busy_commits: 3,
            quiet_every: Duration::from_secs(3600),
            ..Policy::default()
        };
        let checkpoints = Checkpoints::start_with(&path, policy).unwrap();
        let shared = &checkpoints.shared;
        // The first look copies whatever the WAL holds; then two commits are fewer than
        // `busy_commits`, and the last copy is far younger than `quiet_every`.
        shared.looked_to(1);
        let (ran, copied) = (shared.ran(), len(&path));
        for _ in 0..2 {
            write_pages(&conn, 1);
            checkpoints.after_commit(&conn);
        }
        shared.looked_to(shared.looks_now() + 20);
        assert_eq!(shared.ran(), ran, "2 commits were copied");
        assert_eq!(len(&path), copied, "the database file got the pages");
        // The third is `busy_commits`: the next look copies all three.
        write_pages(&conn, 1);
        checkpoints.after_commit(&conn);
        until("3 commits were not copied", || shared.ran() > ran);
        until("the database file did not get the pages", || {
            len(&path) > copied
        });
    }

    #[test]
    fn close_to_the_writers_catch_up_the_checkpointer_looks_more_often() {
        let (_dir, path, conn) = writer();
        let policy = Policy {
            every: Duration::from_millis(200),
            close_every: Duration::from_millis(5),
            busy_commits: 1,
            quiet_every: Duration::ZERO,
            close: 100,
            catch_up: 1_000_000,
        };
        let checkpoints = Checkpoints::start_with(&path, policy).unwrap();
        let shared = &checkpoints.shared;
        // Commits `pages` more pages, waits until the checkpointer has seen the WAL hold
        // `frames`, and answers how long its next `n` looks take.
        let looks_after = |pages: usize, frames: i64, n: u64| {
            write_pages(&conn, pages);
            checkpoints.after_commit(&conn);
            until("the checkpointer did not see the WAL's frames", || {
                shared.wal_frames.load(Ordering::Relaxed) >= frames
            });
            let (started, from) = (Instant::now(), shared.looks_now());
            shared.looked_to(from + n);
            started.elapsed()
        };
        // Below `close`: a look every `every` (a wait is never shorter than asked).
        let took = looks_after(30, 30, 3);
        assert!(
            took >= policy.every * 2,
            "3 looks in {took:?} below the bound"
        );
        // Past it (the WAL is not started over: nothing is written after the copy). 20 looks
        // take 100 ms every 5 ms, at least 3.8 s every 200 ms.
        let took = looks_after(100, 130, 20);
        assert!(
            took < policy.every * 10,
            "20 looks took {took:?} close to the catch-up"
        );
    }

    #[test]
    fn past_the_bound_the_writer_catches_up_and_the_wal_starts_over() {
        let (_dir, path, conn) = writer();
        // No checkpointer thread: what happens is the writer's doing alone.
        let (stop, _) = mpsc::channel();
        let checkpoints = Checkpoints {
            shared: Arc::new(Shared::default()),
            _stop: stop,
        };
        let wal = path.with_extension("db-wal");
        write_pages(&conn, 50);
        checkpoints.after_commit(&conn);
        assert!(
            len(&path) < 50 * 4096,
            "below the bound the writer does not checkpoint"
        );
        checkpoints
            .shared
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
        assert_eq!(checkpoints.shared.wal_frames.load(Ordering::Relaxed), 0);
    }
}
