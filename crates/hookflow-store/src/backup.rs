//! Online backups of the embedded SQLite database (`hookflow backup`): `VACUUM INTO` a new file
//! from a connection of its own to the data directory's database. The copy is one read
//! transaction, so it is consistent (every transaction committed before it began, none after)
//! and, the database being in WAL mode, the server goes on committing while it is taken. The
//! copy is checked (`PRAGMA integrity_check`), flushed to disk, and only then given its name —
//! never over an existing file. PostgreSQL is backed up with its own tools (pg_dump, WAL
//! archiving), not here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, SqliteConnection};

use crate::{Result, StoreError};

/// The database file in a data directory.
pub const DB_FILE: &str = "hookflow.db";

fn failed(what: &str, path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("{what} {}: {e}", path.display()))
}

/// Copies the database of `data_dir` to a new file `to` (which must not exist) while the server
/// may be running; answers the copy's size in bytes.
pub async fn backup_sqlite(data_dir: &Path, to: &Path) -> Result<u64> {
    let db = data_dir.join(DB_FILE);
    if !db.is_file() {
        return Err(StoreError::Invalid(format!(
            "there is no hookflow database in {} (no {DB_FILE})",
            data_dir.display()
        )));
    }
    if to.exists() {
        return Err(StoreError::Conflict(format!(
            "{} exists: a backup never replaces a file",
            to.display()
        )));
    }
    let name = to
        .file_name()
        .ok_or_else(|| StoreError::Invalid(format!("{} names no file", to.display())))?;
    let partial: PathBuf = to.with_file_name(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&partial);
    let result = copy_checked(&db, &partial).await.and_then(|()| {
        // A hard link names the copy only if the name is free (no replacing a file that
        // appeared meanwhile); the partial name then goes.
        std::fs::hard_link(&partial, to).map_err(|e| failed("cannot name the backup", to, e))?;
        let _ = std::fs::remove_file(&partial);
        if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        std::fs::metadata(to)
            .map(|m| m.len())
            .map_err(|e| failed("cannot read", to, e))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// `VACUUM INTO` `out`, then checks and flushes `out`.
async fn copy_checked(db: &Path, out: &Path) -> Result<()> {
    let source = SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(30));
    let mut conn = SqliteConnection::connect_with(&source)
        .await
        .map_err(|e| failed("cannot open", db, e))?;
    // Owner only, like the data directory: the copy holds delivery bodies and sealed keys.
    // (`VACUUM INTO` writes into an empty file.)
    private_empty_file(out).map_err(|e| failed("cannot create", out, e))?;
    let copied = sqlx::query("VACUUM INTO $1")
        .bind(out.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await
        .map_err(|e| failed("cannot copy the database to", out, e));
    let _ = conn.close().await;
    copied?;
    let copy = SqliteConnectOptions::new()
        .filename(out)
        .create_if_missing(false);
    let mut conn = SqliteConnection::connect_with(&copy)
        .await
        .map_err(|e| failed("cannot open the copy", out, e))?;
    let verdict: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| failed("cannot check the copy", out, e))?;
    let _ = conn.close().await;
    if verdict != ["ok"] {
        return Err(failed(
            "the copy does not pass PRAGMA integrity_check:",
            out,
            verdict.join("; "),
        ));
    }
    std::fs::File::open(out)
        .and_then(|f| f.sync_all())
        .map_err(|e| failed("cannot flush", out, e))
}

fn private_empty_file(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map(|_| ())
}
