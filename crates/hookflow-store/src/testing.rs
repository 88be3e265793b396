//! What the store's own tests open: a store on SQLite in a temporary directory, and on a fresh
//! PostgreSQL database when `TEST_DATABASE_URL` is set (created for the test, dropped after).

use sqlx::Connection as _;

use sqlx::AssertSqlSafe;

use crate::query::Arg;
use crate::{Store, StoreOptions, new_id};

/// Opens (and migrates) a store with its data directory `data_dir`, on `database_url` if given.
pub(crate) async fn open_store(data_dir: &std::path::Path, database_url: Option<String>) -> Store {
    Store::open(&StoreOptions {
        data_dir: data_dir.to_path_buf(),
        database_url,
        master_key: None,
        max_connections: 4,
    })
    .await
    .unwrap()
}

/// A fresh PostgreSQL database on the server of `TEST_DATABASE_URL`.
pub(crate) struct FreshPg {
    admin: sqlx::PgConnection,
    name: String,
    /// Its URL.
    pub(crate) url: String,
}

impl FreshPg {
    /// `None` without `TEST_DATABASE_URL` (the PostgreSQL half of a test is then skipped).
    pub(crate) async fn create() -> Option<FreshPg> {
        let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
        let name = format!("hf_st_{}", new_id().replace('-', ""));
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let (base, query) = match admin_url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin_url.as_str(), String::new()),
        };
        let url = format!("{}/{name}{query}", &base[..base.rfind('/').unwrap()]);
        Some(FreshPg { admin, name, url })
    }

    /// Drops the database (after the stores on it are gone).
    pub(crate) async fn drop(mut self) {
        let sql = format!("DROP DATABASE {} WITH (FORCE)", self.name);
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut self.admin)
            .await;
    }
}

/// SQLite's plan for `sql` (its `detail` column, one step a line); every `$` parameter is bound
/// to a number.
pub(crate) async fn sqlite_plan(store: &Store, sql: &str) -> String {
    let sql = format!("EXPLAIN QUERY PLAN {sql}");
    let params = sql.matches('$').count();
    let args: Vec<Arg> = (0..params).map(|i| (i as i64).into()).collect();
    let rows: Vec<(i64, i64, i64, String)> = store.all(AssertSqlSafe(sql), &args).await.unwrap();
    rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
}
