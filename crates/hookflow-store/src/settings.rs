//! Installation-wide settings: today, the admin token's digest.

use crate::crypto::{digest, new_token};
use crate::{Result, Store};

const ADMIN_TOKEN: &str = "admin_token_sha256";

impl Store {
    /// Makes sure the installation has an admin token. On an empty database it records the
    /// digest of `configured` (`HOOKFLOW_ADMIN_TOKEN`) or of a new random token; the new token is
    /// returned so the caller can print it — the only time it is ever shown. Safe when several
    /// nodes start at once: the first insert wins.
    pub async fn bootstrap_admin_token(&self, configured: Option<&str>) -> Result<Option<String>> {
        if self.admin_token_digest().await?.is_some() {
            return Ok(None);
        }
        let generated = configured.is_none().then(new_token);
        let token = configured.map(str::to_string).or(generated.clone());
        let hex = hex(&digest(token.as_deref().unwrap_or_default()));
        let sql =
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
        let inserted = self
            .execute(sql, &[ADMIN_TOKEN.into(), (&hex).into()])
            .await?;
        Ok(if inserted == 1 { generated } else { None })
    }

    /// The stored digest of the admin token, if any.
    pub async fn admin_token_digest(&self) -> Result<Option<[u8; 32]>> {
        let sql = "SELECT value FROM settings WHERE name = $1";
        let v: Option<(String,)> = self.one(sql, &[ADMIN_TOKEN.into()]).await?;
        Ok(v.and_then(|(h,)| unhex(&h)))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
