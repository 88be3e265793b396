//! Schema migrations, applied in order inside one transaction each and recorded by version in
//! `schema_migrations` (only the version and when: no checksum, so a migration's text may be
//! stored differently as long as what each backend runs stays the same).
//!
//! One text per migration in `migrations/`, written for PostgreSQL: SQLite runs the same text
//! with each `BYTEA` read as `BLOB` ([`sqlite_text`]). A migration whose SQL really differs
//! between the two has a file of each in `migrations/sqlite` and `migrations/postgres`.

use std::borrow::Cow;

use crate::db::{Backend, on_db};
use crate::{Result, StoreError};

/// One migration's SQL: shared (`Both`, PostgreSQL's spelling) or one text per backend.
enum Text {
    Both(&'static str),
    Each {
        sqlite: &'static str,
        postgres: &'static str,
    },
}

struct Migration {
    version: i64,
    text: Text,
}

/// A migration both backends run as one text.
macro_rules! both {
    ($version:literal, $file:literal) => {
        Migration {
            version: $version,
            text: Text::Both(include_str!(concat!("../migrations/", $file))),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    both!(1, "0001_ingest.sql"),
    both!(2, "0002_workflows.sql"),
    both!(3, "0003_step_replay.sql"),
    both!(4, "0004_runs_by_status.sql"),
    both!(5, "0005_runs_per_root.sql"),
    both!(6, "0006_workflow_versions.sql"),
    both!(7, "0007_dedup.sql"),
    both!(8, "0008_verification.sql"),
    both!(9, "0009_replay.sql"),
    both!(10, "0010_retention.sql"),
    both!(11, "0011_traceparent.sql"),
    // SQLite moves the keys into the deliveries and empties dedup_keys; PostgreSQL keeps them.
    Migration {
        version: 12,
        text: Text::Each {
            sqlite: include_str!("../migrations/sqlite/0012_dedup_on_deliveries.sql"),
            postgres: include_str!("../migrations/postgres/0012_dedup_on_deliveries.sql"),
        },
    },
    both!(13, "0013_deliveries_not_accepted.sql"),
    both!(14, "0014_runs_partial_indexes.sql"),
];

/// A shared migration text as SQLite runs it: PostgreSQL's `BYTEA` is SQLite's `BLOB`.
fn sqlite_text(sql: &str) -> String {
    sql.replace("BYTEA", "BLOB")
}

impl Migration {
    /// The SQL `db` runs.
    fn sql(&self, db: &Backend) -> Cow<'static, str> {
        match (&self.text, db) {
            (Text::Both(sql), Backend::Sqlite(_)) => Cow::Owned(sqlite_text(sql)),
            (Text::Both(sql), Backend::Postgres(_)) => Cow::Borrowed(sql),
            (Text::Each { sqlite, .. }, Backend::Sqlite(_)) => Cow::Borrowed(sqlite),
            (Text::Each { postgres, .. }, Backend::Postgres(_)) => Cow::Borrowed(postgres),
        }
    }
}

pub(crate) async fn run(db: &Backend) -> Result<()> {
    on_db!(db, |p| {
        let mut tx = p.begin_with(db.begin_write()).await?;
        if let Backend::Postgres(_) = db {
            // Nodes starting together on an empty database migrate one at a time.
            sqlx::query("SELECT pg_advisory_xact_lock(7201)")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        let done: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
            .fetch_all(&mut *tx)
            .await?;
        for m in MIGRATIONS {
            if done.contains(&m.version) {
                continue;
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(m.sql(db)))
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    StoreError::Internal(format!("migration {} failed: {e}", m.version))
                })?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(m.version)
                .bind(crate::now_ms())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok::<(), StoreError>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// SHA-256 of what SQLite and PostgreSQL ran for each migration (1–12 from when the two
    /// backends still had a file each; each later one as it was added). Databases of every
    /// installation hold these versions as applied: what each backend runs must stay exactly
    /// that text.
    const APPLIED: [(i64, &str, &str); 13] = [
        (
            1,
            "e88862444dfa4d9270ee5e8e78dee759febb04d82adc4b861b58edee4899beb5",
            "1602d9e3302710ab193343095ca2974b05bfd7f6e6aeda2b37c81e15728582df",
        ),
        (
            2,
            "53ad46bd8e2d404f3dfa2083123b0073494a987215a7eb198ee49a6d65a0ad8a",
            "989f1353e8dac5df96cdc0c3f27f13dcdc880ef8efc2c4ae79d26b83dbecbc0a",
        ),
        (
            3,
            "84f007b2554ac0b7366dfa5b64cae1cdb44917fbd8f51da3ff5201adad19220c",
            "4bb01867510cb2da0f197828f1dc10ad7d744ceac6c9298455bbca92cb27763c",
        ),
        (
            4,
            "47b2d787bbda22f8b9c27ed4bbab3e29bca8d18e8a3cb63db6eeb5bd7448c11a",
            "47b2d787bbda22f8b9c27ed4bbab3e29bca8d18e8a3cb63db6eeb5bd7448c11a",
        ),
        (
            5,
            "7e62a561b1079d214396bac52090abffc8099dbb30022c0a2d67f070f822e4aa",
            "7e62a561b1079d214396bac52090abffc8099dbb30022c0a2d67f070f822e4aa",
        ),
        (
            6,
            "695c56e1996caf986d618048cecfaf01a5aa200e7d8e4a2fa181b2bc702b8b66",
            "695c56e1996caf986d618048cecfaf01a5aa200e7d8e4a2fa181b2bc702b8b66",
        ),
        (
            7,
            "c4556fb4757afcf51121db6d39fe25051f20454442f3329bd1e0822126ce75d2",
            "5674c136154526801e6443eebc7dc7adfb8ea864b6dd9120a7654d70c940dc9c",
        ),
        (
            8,
            "4525e61ccc69ae08b816c753b94c8be7a388ef71a5dd70e569a43da81fb0904c",
            "c9a53bd4ee9e2b6ff17aa4247a6f4b75c5f58b87b11de7439e91b03ae6c1d531",
        ),
        (
            9,
            "1a26e6021c9aede6d17ddb8c9bd2eb1e45fc74d64646990a6ed3a758bd07b1d0",
            "1a26e6021c9aede6d17ddb8c9bd2eb1e45fc74d64646990a6ed3a758bd07b1d0",
        ),
        (
            10,
            "8f32ff8ef414be52d524d5459842f42b25181d27e85836176435fd7d8c478664",
            "8f32ff8ef414be52d524d5459842f42b25181d27e85836176435fd7d8c478664",
        ),
        (
            11,
            "74e7a1e1febb1615909a17842306735a8315a903547355696ad2c071dc5b502c",
            "74e7a1e1febb1615909a17842306735a8315a903547355696ad2c071dc5b502c",
        ),
        (
            12,
            "c2bc805ac3cef0e3134021c69dec308bef288993f4732d8ca4d805f6c4c7f087",
            "1042a5668ee46f63250061915c536d1d2976253107b05b9c882f12b8e37af356",
        ),
        (
            13,
            "5d44346b97aefc13474d05d9179b2b5cea589ca588cb28735c812ae05546a035",
            "5d44346b97aefc13474d05d9179b2b5cea589ca588cb28735c812ae05546a035",
        ),
    ];

    fn sha256(text: &str) -> String {
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The two backends' texts without a pool.
    fn texts(m: &Migration) -> (Cow<'static, str>, Cow<'static, str>) {
        match m.text {
            Text::Both(sql) => (Cow::Owned(sqlite_text(sql)), Cow::Borrowed(sql)),
            Text::Each { sqlite, postgres } => (Cow::Borrowed(sqlite), Cow::Borrowed(postgres)),
        }
    }

    #[test]
    fn each_backend_runs_the_text_it_always_ran() {
        let versions: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(versions, (1..=MIGRATIONS.len() as i64).collect::<Vec<_>>());
        for (version, sqlite, postgres) in APPLIED {
            let m = &MIGRATIONS[version as usize - 1];
            let (lite, pg) = texts(m);
            assert_eq!(sha256(&lite), sqlite, "SQLite text of migration {version}");
            assert_eq!(
                sha256(&pg),
                postgres,
                "PostgreSQL text of migration {version}"
            );
        }
    }
}
