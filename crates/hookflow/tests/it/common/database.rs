//! The database under a test server: which backend this run uses (`TEST_DATABASE_URL`), a fresh
//! PostgreSQL database per server, and direct SQL on a server's database for what the
//! interfaces cannot arrange or show.

use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

use super::fixtures::random_hex;
use super::server::Server;

/// The PostgreSQL server the suite runs on (`TEST_DATABASE_URL`, any database of it), or `None`
/// for the default embedded SQLite database.
pub fn test_database_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
}

/// The backend every [`Server`] of this run uses, as `/healthz` names it.
pub fn backend_name() -> &'static str {
    if test_database_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    }
}

/// `url` with its database (the path) replaced by `database`; user, host, port and query kept.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = base[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A fresh, empty PostgreSQL database `hf_it_<hex>` on the `TEST_DATABASE_URL` server, dropped
/// (`WITH (FORCE)`, best effort) when this value is dropped.
pub struct PgDatabase {
    /// `postgres://…/hf_it_<hex>`, for `serve --database`.
    pub url: String,
    pub name: String,
    /// The URL the database was created through (and is dropped through).
    admin_url: String,
}

impl PgDatabase {
    /// A fresh database when `TEST_DATABASE_URL` is set, else `None`.
    pub async fn create_if_configured() -> Option<PgDatabase> {
        match test_database_url() {
            Some(url) => Some(PgDatabase::create(&url).await),
            None => None,
        }
    }

    /// Creates a fresh database on the server of `admin_url`.
    pub async fn create(admin_url: &str) -> PgDatabase {
        let name = format!("hf_it_{}", random_hex(24));
        let mut conn = PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("TEST_DATABASE_URL {admin_url}: cannot connect: {e}"));
        // The name is ours: hf_it_ and hex digits.
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {admin_url}: {e}"));
        let _ = conn.close().await;
        PgDatabase {
            url: with_database(admin_url, &name),
            name,
            admin_url: admin_url.to_string(),
        }
    }

    /// A connection to this database.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url))
    }

    /// The names of the tables in the `public` schema, sorted.
    pub async fn tables(&self) -> Vec<String> {
        let mut conn = self.connect().await;
        let rows = sqlx::query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list tables");
        let _ = conn.close().await;
        rows.iter().map(|r| r.get::<String, _>(0)).collect()
    }

    /// Every row of every table, one text line per row (PostgreSQL's row-to-text form, in which
    /// `BYTEA` values are `\x` and hex digits): what the SQLite tests read from the database file.
    pub async fn dump_text(&self) -> String {
        let tables = self.tables().await;
        let mut conn = self.connect().await;
        let mut out = String::new();
        for t in tables {
            let rows = sqlx::query(AssertSqlSafe(format!("SELECT t::text FROM \"{t}\" t")))
                .fetch_all(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("dump {t}: {e}"));
            for r in rows {
                out.push_str(&t);
                out.push_str(": ");
                out.push_str(&r.get::<String, _>(0));
                out.push('\n');
            }
        }
        let _ = conn.close().await;
        out
    }
}

/// Asserts that `secret` appears nowhere in `dump` (a [`PgDatabase::dump_text`]): neither as
/// text nor as the hex digits `BYTEA` values are dumped as.
#[track_caller]
pub fn assert_not_in_dump(dump: &str, secret: &str, what: &str) {
    assert!(
        !dump.contains(secret),
        "the database holds {what} in the clear"
    );
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(
        !dump.to_ascii_lowercase().contains(&hex),
        "the database holds {what} in the clear (as bytes)"
    );
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop may run inside the test's runtime, which must not be blocked on: a thread with
        // its own runtime drops the database, and the test waits for it (10 s at most).
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let worker = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let drop = async {
                    let mut conn = PgConnection::connect(&admin_url).await.ok()?;
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let r = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await;
                    if let Err(e) = r {
                        eprintln!("could not drop test database {name}: {e}");
                    }
                    let _ = conn.close().await;
                    Some(())
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), drop).await;
            });
        });
        let _ = worker.join();
    }
}

impl Server {
    /// Runs `sql` with `$1` = `bind` directly on this server's database (its SQLite file or
    /// PostgreSQL database), to arrange or observe what the interface cannot; answers the rows
    /// it changed.
    pub async fn db_execute(&self, sql: &str, bind: &str) -> u64 {
        match self.database_url() {
            Some(url) => {
                let pool = sqlx::PgPool::connect(&url).await.expect("connect pg");
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(bind)
                    .execute(&pool)
                    .await;
                done.expect("execute").rows_affected()
            }
            None => {
                let pool = self.sqlite_pool().await;
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(bind)
                    .execute(&pool)
                    .await;
                done.expect("execute").rows_affected()
            }
        }
    }

    /// The BIGINT that `sql` (with `$1` = `bind`) answers on this server's database.
    pub async fn db_scalar(&self, sql: &str, bind: &str) -> i64 {
        match self.database_url() {
            Some(url) => {
                let pool = sqlx::PgPool::connect(&url).await.expect("connect pg");
                let q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(bind);
                q.fetch_one(&pool).await.expect("query")
            }
            None => {
                let pool = self.sqlite_pool().await;
                let q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(bind);
                q.fetch_one(&pool).await.expect("query")
            }
        }
    }

    async fn sqlite_pool(&self) -> sqlx::SqlitePool {
        let url = format!("sqlite://{}", self.data_dir.join("hookflow.db").display());
        sqlx::SqlitePool::connect(&url)
            .await
            .expect("connect sqlite")
    }
}
