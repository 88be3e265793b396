//! Schema migrations: two folders numbered alike (`migrations/sqlite`, `migrations/postgres`),
//! applied in order inside one transaction each and recorded in `schema_migrations`.

use crate::db::{Backend, on_db};
use crate::{Result, StoreError};

struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: include_str!("../migrations/sqlite/0001_ingest.sql"),
        postgres: include_str!("../migrations/postgres/0001_ingest.sql"),
    },
    Migration {
        version: 2,
        sqlite: include_str!("../migrations/sqlite/0002_workflows.sql"),
        postgres: include_str!("../migrations/postgres/0002_workflows.sql"),
    },
    Migration {
        version: 3,
        sqlite: include_str!("../migrations/sqlite/0003_step_replay.sql"),
        postgres: include_str!("../migrations/postgres/0003_step_replay.sql"),
    },
    Migration {
        version: 4,
        sqlite: include_str!("../migrations/sqlite/0004_runs_by_status.sql"),
        postgres: include_str!("../migrations/postgres/0004_runs_by_status.sql"),
    },
    Migration {
        version: 5,
        sqlite: include_str!("../migrations/sqlite/0005_runs_per_root.sql"),
        postgres: include_str!("../migrations/postgres/0005_runs_per_root.sql"),
    },
    Migration {
        version: 6,
        sqlite: include_str!("../migrations/sqlite/0006_workflow_versions.sql"),
        postgres: include_str!("../migrations/postgres/0006_workflow_versions.sql"),
    },
    Migration {
        version: 7,
        sqlite: include_str!("../migrations/sqlite/0007_dedup.sql"),
        postgres: include_str!("../migrations/postgres/0007_dedup.sql"),
    },
    Migration {
        version: 8,
        sqlite: include_str!("../migrations/sqlite/0008_verification.sql"),
        postgres: include_str!("../migrations/postgres/0008_verification.sql"),
    },
    Migration {
        version: 9,
        sqlite: include_str!("../migrations/sqlite/0009_replay.sql"),
        postgres: include_str!("../migrations/postgres/0009_replay.sql"),
    },
    Migration {
        version: 10,
        sqlite: include_str!("../migrations/sqlite/0010_retention.sql"),
        postgres: include_str!("../migrations/postgres/0010_retention.sql"),
    },
    Migration {
        version: 11,
        sqlite: include_str!("../migrations/sqlite/0011_traceparent.sql"),
        postgres: include_str!("../migrations/postgres/0011_traceparent.sql"),
    },
    Migration {
        version: 12,
        sqlite: include_str!("../migrations/sqlite/0012_dedup_on_deliveries.sql"),
        postgres: include_str!("../migrations/postgres/0012_dedup_on_deliveries.sql"),
    },
];

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
            let sql = match db {
                Backend::Sqlite(_) => m.sqlite,
                Backend::Postgres(_) => m.postgres,
            };
            sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(|e| {
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
