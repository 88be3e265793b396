//! Secrets: named credentials for workflows, sealed with the master key. Their values leave the
//! store only to the engine, never to the API. Every change also counts one more generation of
//! them (the `secrets_generation` setting), so that the engine may keep them unsealed between
//! runs and read them again only after a change.

use crate::{Result, Store, names_nothing, no_nul, now_ms};

/// Counts one more change of the secrets in the `secrets_generation` setting, in the transaction
/// of the change: what an engine compares to know that the secrets it holds unsealed are still
/// the stored ones ([`crate::runs::RunContext::secrets_generation`]), on one node or several.
const BUMP_GENERATION_SQL: &str = "INSERT INTO settings (name, value) \
    VALUES ('secrets_generation', '1') ON CONFLICT (name) \
    DO UPDATE SET value = CAST(CAST(settings.value AS BIGINT) + 1 AS TEXT)";

impl Store {
    /// Creates or replaces a secret.
    pub async fn put_secret(&self, name: &str, value: &str) -> Result<()> {
        no_nul("a secret name", name)?;
        let sealed = self.key.seal(value.as_bytes(), &format!("secret:{name}"));
        let put = "INSERT INTO secrets (name, value_sealed, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO UPDATE SET \
             value_sealed = excluded.value_sealed, updated_at = excluded.updated_at";
        let args = [name.into(), sealed.as_slice().into(), now_ms().into()];
        self.write_all(&[(put, &args), (BUMP_GENERATION_SQL, &[])])
            .await
            .map(|_| ())
    }

    /// Names with their times, sorted by name.
    pub async fn list_secrets(&self) -> Result<Vec<(String, i64, i64)>> {
        let sql = "SELECT name, created_at, updated_at FROM secrets ORDER BY name";
        self.all(sql, &[]).await
    }

    pub async fn delete_secret(&self, name: &str) -> Result<bool> {
        if names_nothing(name) {
            return Ok(false);
        }
        let delete = "DELETE FROM secrets WHERE name = $1";
        let changed = self
            .write_all(&[(delete, &[name.into()]), (BUMP_GENERATION_SQL, &[])])
            .await?;
        Ok(changed[0] > 0)
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
