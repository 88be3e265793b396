//! Secrets: named credentials for workflows, sealed with the master key. Their values leave the
//! store only to the engine, never to the API.

use crate::db::on_db;
use crate::{Result, Store, names_nothing, no_nul, now_ms};

impl Store {
    /// Creates or replaces a secret.
    pub async fn put_secret(&self, name: &str, value: &str) -> Result<()> {
        no_nul("a secret name", name)?;
        let sealed = self.key.seal(value.as_bytes(), &format!("secret:{name}"));
        let now = now_ms();
        on_db!(&self.db, |p| {
            sqlx::query(
                "INSERT INTO secrets (name, value_sealed, created_at, updated_at) \
                 VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO UPDATE SET \
                 value_sealed = excluded.value_sealed, updated_at = excluded.updated_at",
            )
            .bind(name)
            .bind(sealed)
            .bind(now)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Names with their times, sorted by name.
    pub async fn list_secrets(&self) -> Result<Vec<(String, i64, i64)>> {
        Ok(on_db!(&self.db, |p| {
            sqlx::query_as::<_, (String, i64, i64)>(
                "SELECT name, created_at, updated_at FROM secrets ORDER BY name",
            )
            .fetch_all(p)
            .await
        })?)
    }

    pub async fn delete_secret(&self, name: &str) -> Result<bool> {
        if names_nothing(name) {
            return Ok(false);
        }
        Ok(on_db!(&self.db, |p| {
            sqlx::query("DELETE FROM secrets WHERE name = $1")
                .bind(name)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })? > 0)
    }

    /// Every secret, unsealed: for the engine only.
    pub async fn secret_values(&self) -> Result<Vec<(String, String)>> {
        let rows: Vec<(String, Vec<u8>)> = on_db!(&self.db, |p| {
            sqlx::query_as::<_, (String, Vec<u8>)>("SELECT name, value_sealed FROM secrets")
                .fetch_all(p)
                .await
        })?;
        rows.into_iter()
            .map(|(name, sealed)| {
                let plain = self.key.open(&sealed, &format!("secret:{name}"))?;
                Ok((name, String::from_utf8_lossy(&plain).into_owned()))
            })
            .collect()
    }
}
