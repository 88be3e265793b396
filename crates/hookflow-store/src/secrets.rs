//! Secrets: named credentials for workflows, sealed with the master key. Their values leave the
//! store only to the engine, never to the API.

use crate::{Result, Store, no_nul, now_ms};

impl Store {
    /// Creates or replaces a secret.
    pub async fn put_secret(&self, name: &str, value: &str) -> Result<()> {
        no_nul("a secret name", name)?;
        let sealed = self.key.seal(value.as_bytes(), &format!("secret:{name}"));
        self.execute(
            "INSERT INTO secrets (name, value_sealed, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO UPDATE SET \
             value_sealed = excluded.value_sealed, updated_at = excluded.updated_at",
            &[name.into(), sealed.as_slice().into(), now_ms().into()],
        )
        .await
        .map(|_| ())
    }

    /// Names with their times, sorted by name.
    pub async fn list_secrets(&self) -> Result<Vec<(String, i64, i64)>> {
        let sql = "SELECT name, created_at, updated_at FROM secrets ORDER BY name";
        self.all(sql, &[]).await
    }

    pub async fn delete_secret(&self, name: &str) -> Result<bool> {
        self.delete_with(name, &["DELETE FROM secrets WHERE name = $1"])
            .await
    }

    /// Every secret, unsealed: for the engine only.
    pub async fn secret_values(&self) -> Result<Vec<(String, String)>> {
        let rows: Vec<(String, Vec<u8>)> = self
            .all("SELECT name, value_sealed FROM secrets", &[])
            .await?;
        rows.into_iter()
            .map(|(name, sealed)| {
                let plain = self.key.open(&sealed, &format!("secret:{name}"))?;
                Ok((name, String::from_utf8_lossy(&plain).into_owned()))
            })
            .collect()
    }
}
