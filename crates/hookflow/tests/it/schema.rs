//! The migrations (`crates/hookflow-store/migrations`: shared texts, and a folder of its own texts
//! for each backend) must describe one schema: the same tables with the same columns, each nullable on both or on neither, since
//! every query is written once for both backends.
//!
//! With `TEST_DATABASE_URL` set, a server migrates a SQLite data directory and another a fresh
//! PostgreSQL database, and the two live schemas are compared. Without it, the live SQLite schema
//! is compared with the tables the PostgreSQL migrations declare (read from their text).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row, SqliteConnection};

use crate::common::*;

/// Tables every migrated database has.
const CORE_TABLES: [&str; 6] = [
    "schema_migrations",
    "webhooks",
    "deliveries",
    "workflows",
    "runs",
    "run_steps",
];

/// Table → column → nullable.
type Schema = BTreeMap<String, BTreeMap<String, bool>>;

/// The schema of a migrated SQLite data directory (`sqlite_master`, `PRAGMA table_info`). A
/// primary-key column counts as not nullable, as it is on PostgreSQL.
async fn sqlite_schema(data_dir: &Path) -> Schema {
    let opts = SqliteConnectOptions::new().filename(data_dir.join("hookflow.db"));
    let mut conn = SqliteConnection::connect_with(&opts)
        .await
        .expect("open the SQLite database");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .expect("list SQLite tables");
    let mut schema = Schema::new();
    for t in tables {
        let columns: Vec<(String, i64, i64)> =
            sqlx::query_as(r#"SELECT name, "notnull", pk FROM pragma_table_info(?1)"#)
                .bind(&t)
                .fetch_all(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("table_info({t}): {e}"));
        let columns = columns
            .into_iter()
            .map(|(name, notnull, pk)| (name, notnull == 0 && pk == 0))
            .collect();
        schema.insert(t, columns);
    }
    let _ = conn.close().await;
    schema
}

/// The schema of a migrated PostgreSQL database (`information_schema.columns`, schema `public`).
async fn pg_schema(pg: &PgDatabase) -> Schema {
    let mut schema: Schema = pg
        .tables()
        .await
        .into_iter()
        .map(|t| (t, BTreeMap::new()))
        .collect();
    let mut conn = pg.connect().await;
    let rows = sqlx::query(
        "SELECT table_name::text, column_name::text, is_nullable::text \
         FROM information_schema.columns WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("information_schema.columns");
    let _ = conn.close().await;
    for r in rows {
        let table: String = r.get(0);
        // Views have columns too; only tables count.
        if let Some(columns) = schema.get_mut(&table) {
            columns.insert(r.get(1), r.get::<String, _>(2) == "YES");
        }
    }
    schema
}

fn migrations_dir(backend: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../hookflow-store/migrations")
        .join(backend)
}

/// The tables the migration files of `backend` (the shared ones and its own) declare: `CREATE
/// TABLE` statements and `ALTER TABLE … ADD [COLUMN]`, applied in file-name order.
/// (`schema_migrations` is created by the store's code, not by a file.)
fn declared_schema(backend: &str) -> Schema {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [migrations_dir(""), migrations_dir(backend)] {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"));
        files.extend(entries);
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    assert!(!files.is_empty(), "no migrations for {backend}");
    let mut schema = Schema::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read migration");
        let text: String = text
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        for stmt in text.split(';') {
            let words: Vec<&str> = stmt.split_whitespace().collect();
            let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
            let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
            match upper.as_slice() {
                ["CREATE", "TABLE", ..] => {
                    let open = stmt.find('(').expect("CREATE TABLE without (");
                    let close = stmt.rfind(')').expect("CREATE TABLE without )");
                    let head: Vec<&str> = stmt[..open].split_whitespace().collect();
                    let name = head.last().expect("table name").trim_matches('"');
                    let mut columns = BTreeMap::new();
                    for item in split_top_level(&stmt[open + 1..close]) {
                        let item_upper = item.to_ascii_uppercase();
                        let first = item_upper.split_whitespace().next().unwrap_or("");
                        if ["PRIMARY", "UNIQUE", "CONSTRAINT", "FOREIGN", "CHECK", ""]
                            .contains(&first)
                        {
                            continue;
                        }
                        let col = item.split_whitespace().next().unwrap().trim_matches('"');
                        let nullable =
                            !item_upper.contains("NOT NULL") && !item_upper.contains("PRIMARY KEY");
                        columns.insert(col.to_string(), nullable);
                    }
                    schema.insert(name.to_string(), columns);
                }
                ["ALTER", "TABLE", ..] => {
                    let table = words[2].trim_matches('"');
                    let at = upper.iter().position(|w| *w == "ADD").unwrap_or_else(|| {
                        panic!("unsupported statement in {}: {stmt}", f.display())
                    });
                    let at = if upper.get(at + 1) == Some(&"COLUMN") {
                        at + 2
                    } else {
                        at + 1
                    };
                    let col = words[at].trim_matches('"');
                    let rest = upper[at..].join(" ");
                    schema
                        .get_mut(table)
                        .unwrap_or_else(|| panic!("ALTER TABLE of unknown table {table}"))
                        .insert(
                            col.to_string(),
                            !rest.contains("NOT NULL") && !rest.contains("PRIMARY KEY"),
                        );
                }
                ["DROP", "TABLE", ..] => {
                    schema.remove(words.last().unwrap().trim_matches('"'));
                }
                _ => {}
            }
        }
    }
    schema
}

/// Splits a column list at the commas outside parentheses.
fn split_top_level(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0);
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur.trim().to_string());
    out
}

/// Asserts two schemas are equal, naming every difference.
#[track_caller]
fn assert_same(left_name: &str, left: &Schema, right_name: &str, right: &Schema) {
    let mut diffs = Vec::new();
    for t in left.keys().chain(right.keys()) {
        match (left.get(t), right.get(t)) {
            (Some(_), None) => diffs.push(format!("table {t}: only on {left_name}")),
            (None, Some(_)) => diffs.push(format!("table {t}: only on {right_name}")),
            (Some(l), Some(r)) => {
                for c in l.keys().chain(r.keys()) {
                    match (l.get(c), r.get(c)) {
                        (Some(_), None) => diffs.push(format!("{t}.{c}: only on {left_name}")),
                        (None, Some(_)) => diffs.push(format!("{t}.{c}: only on {right_name}")),
                        (Some(a), Some(b)) if a != b => diffs.push(format!(
                            "{t}.{c}: nullable {a} on {left_name}, {b} on {right_name}"
                        )),
                        _ => {}
                    }
                }
            }
            (None, None) => unreachable!(),
        }
    }
    diffs.sort();
    diffs.dedup();
    assert!(
        diffs.is_empty(),
        "the {left_name} and {right_name} schemas differ:\n  {}",
        diffs.join("\n  ")
    );
}

#[tokio::test]
async fn store_schemas_agree() {
    // SQLite, migrated by a server.
    let mut lite = Server::start_sqlite().await;
    lite.stop().await;
    let sqlite = sqlite_schema(&lite.data_dir).await;
    for t in CORE_TABLES {
        assert!(sqlite.contains_key(t), "no table {t} on SQLite: {sqlite:?}");
    }
    assert!(
        sqlite.values().all(|columns| !columns.is_empty()),
        "a SQLite table without columns: {sqlite:?}"
    );

    match test_database_url() {
        Some(_) => {
            // PostgreSQL, migrated by a server on a fresh database.
            let mut pg_server = Server::start().await;
            pg_server.stop().await;
            let pg = pg_server
                .pg
                .as_ref()
                .expect("TEST_DATABASE_URL set: a PostgreSQL server");
            let postgres = pg_schema(pg).await;
            assert_same("SQLite", &sqlite, "PostgreSQL", &postgres);
        }
        None => {
            println!(
                "store_schemas_agree: TEST_DATABASE_URL is not set; comparing the SQLite \
                 schema with the PostgreSQL migration files instead of a live database"
            );
            let mut declared = declared_schema("postgres");
            // Created by the store's migration code (one text for both backends).
            declared.insert(
                "schema_migrations".into(),
                sqlite["schema_migrations"].clone(),
            );
            assert_same("SQLite", &sqlite, "PostgreSQL migration files", &declared);
        }
    }
}
