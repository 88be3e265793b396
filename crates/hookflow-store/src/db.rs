//! The two pools behind one [`Store`], and [`on_db!`], which runs one query text on either.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::crypto::MasterKey;
use crate::{Result, StoreError};

/// Runs `$body` with `$p` bound to the concrete pool (or connection) of either backend. The body
/// is compiled once per backend, so one query text and one decoding serve both.
macro_rules! on_db {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::db::Backend::Sqlite($p) => $body,
            $crate::db::Backend::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_db;

/// Which database holds the installation.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Backend {
    /// The statement that opens a write transaction: SQLite must take the write lock up front
    /// (a deferred transaction that later writes can fail with SQLITE_BUSY_SNAPSHOT).
    pub(crate) fn begin_write(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "BEGIN IMMEDIATE",
            Backend::Postgres(_) => "BEGIN",
        }
    }
}

/// How to open the store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Directory for the SQLite database and the master key file.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL instead of SQLite.
    pub database_url: Option<String>,
    /// Base64 master key (`HOOKFLOW_MASTER_KEY`); else a key file in `data_dir`.
    pub master_key: Option<String>,
    /// Connections in the read/write pool (PostgreSQL; SQLite uses a few readers).
    pub max_connections: u32,
}

/// The installation's database and the key that seals what it stores.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Backend,
    pub(crate) key: Arc<MasterKey>,
    pub(crate) data_dir: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database and runs the migrations.
    pub async fn open(opts: &StoreOptions) -> Result<Store> {
        std::fs::create_dir_all(&opts.data_dir).map_err(|e| {
            StoreError::Internal(format!(
                "cannot create data directory {}: {e}",
                opts.data_dir.display()
            ))
        })?;
        #[cfg(unix)]
        {
            // The directory holds delivery bodies and the master key: owner only.
            use std::os::unix::fs::PermissionsExt;
            let _ =
                std::fs::set_permissions(&opts.data_dir, std::fs::Permissions::from_mode(0o700));
        }
        let key = MasterKey::load_or_create(&opts.data_dir, opts.master_key.as_deref())?;
        let db = match &opts.database_url {
            Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
                let options = PgConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Invalid(format!("bad database URL: {e}")))?;
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections.max(2))
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await
                    .map_err(StoreError::Unavailable)?;
                Backend::Postgres(pool)
            }
            Some(url) => {
                return Err(StoreError::Invalid(format!(
                    "unsupported database URL {url:?}: use postgres://… (or nothing for the \
                     embedded SQLite database)"
                )));
            }
            None => Backend::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(opts.max_connections.clamp(2, 8))
                    .connect_with(sqlite_options(&opts.data_dir))
                    .await
                    .map_err(StoreError::Unavailable)?,
            ),
        };
        crate::migrate::run(&db).await?;
        Ok(Store {
            db,
            key: Arc::new(key),
            data_dir: opts.data_dir.clone(),
        })
    }

    /// The backend in use, for logs and health answers.
    pub fn backend_name(&self) -> &'static str {
        match self.db {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The data directory (on PostgreSQL too: the master key file lives there).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// A cheap round trip, for `/healthz`.
    pub async fn ping(&self) -> Result<()> {
        on_db!(&self.db, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Closes the pools (after the journal has drained).
    pub async fn close(&self) {
        on_db!(&self.db, |p| p.close().await);
    }
}

/// SQLite as hookflow needs it: WAL, fsync on every commit (`synchronous=FULL`), a busy timeout
/// so API writes wait for the journal's transaction instead of failing.
pub(crate) fn sqlite_options(data_dir: &std::path::Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(data_dir.join("hookflow.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        .statement_cache_capacity(256)
}

/// SQLite's explicit-index form of a `$N` query text (`?N`), for the writer's own rusqlite
/// connection, so parameters bind by number even where they appear out of order or twice.
pub(crate) fn sqlite_text(sql: &str) -> String {
    sql.replace('$', "?")
}

/// `head`, then `row` `rows` times separated by commas, then `tail`: one statement for many
/// rows. In `row`, each `?` becomes the row's next parameter and `@k` its `k`-th one again;
/// the rows' parameters are numbered after the `shared` ones (`$1`…, written as they are).
pub(crate) fn values_sql(head: &str, row: &str, shared: usize, rows: usize, tail: &str) -> String {
    let width = row.matches('?').count();
    let mut sql = String::with_capacity(head.len() + rows * (row.len() + 16) + tail.len());
    sql.push_str(head);
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        let base = shared + r * width;
        let mut next = 0;
        let mut chars = row.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '?' => {
                    next += 1;
                    sql.push('$');
                    sql.push_str(&(base + next).to_string());
                }
                '@' => {
                    let mut k = 0;
                    while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                        k = k * 10 + d as usize;
                        chars.next();
                    }
                    sql.push('$');
                    sql.push_str(&(base + k).to_string());
                }
                c => sql.push(c),
            }
        }
    }
    sql.push_str(tail);
    sql
}
