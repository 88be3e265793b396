//! A webhook's signature verification at rest (SPEC §9): its settings as JSON in the clear, its
//! secrets sealed with the master key (bound to the webhook's id, apart from its key). The
//! ingest path gets both through [`WebhookAuth`](hookflow_core::ingest::WebhookAuth) and opens
//! the seal once per webhook version ([`Store::open_verification`]).

use std::sync::Arc;

use hookflow_core::verify::{Secrets, Settings, Spec};

use crate::query::{found, not_found};
use crate::webhooks::Webhook;
use crate::{Result, Store, StoreError, names_nothing, now_ms};

/// The sealing context of a webhook's verification secrets.
fn context(id: &str) -> String {
    format!("{id}/verification")
}

/// The ingest view of the `verification` and `verification_sealed` columns.
pub(crate) fn spec(
    settings: Option<String>,
    sealed: Option<Vec<u8>>,
) -> Result<Option<Arc<Spec>>, sqlx::Error> {
    match (settings, sealed) {
        (Some(s), Some(sealed)) => {
            let settings: Settings = serde_json::from_str(&s)
                .map_err(|e| sqlx::Error::Decode(format!("webhook verification: {e}").into()))?;
            Ok(Some(Arc::new(Spec::new(settings, sealed))))
        }
        _ => Ok(None),
    }
}

impl Store {
    /// Opens a webhook's sealed verification secrets (`None` if they cannot be opened: another
    /// master key).
    pub fn open_verification(&self, webhook_id: &str, sealed: &[u8]) -> Option<Secrets> {
        let plain = self.key.open(sealed, &context(webhook_id)).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    /// A webhook's verification with its secrets opened: what a change starts from.
    pub async fn webhook_verification(&self, id: &str) -> Result<Option<(Settings, Secrets)>> {
        let sql = "SELECT verification, verification_sealed FROM webhooks WHERE id = $1";
        let row: Option<(Option<String>, Option<Vec<u8>>)> = self.one(sql, &[id.into()]).await?;
        let Some((Some(settings), Some(sealed))) = row else {
            return Ok(None);
        };
        let settings: Settings = serde_json::from_str(&settings)
            .map_err(|e| StoreError::Internal(format!("webhook verification unreadable: {e}")))?;
        let plain = self.key.open(&sealed, &context(id))?;
        let secrets: Secrets = serde_json::from_slice(&plain)
            .map_err(|_| StoreError::Internal("webhook verification secrets unreadable".into()))?;
        Ok(Some((settings, secrets)))
    }

    /// Sets (`Some`) or removes (`None`) a webhook's verification; `NotFound` if there is no
    /// such webhook.
    pub async fn set_verification(
        &self,
        id: &str,
        v: Option<(&Settings, &Secrets)>,
    ) -> Result<Webhook> {
        if names_nothing(id) {
            return Err(not_found("webhook", id));
        }
        let (settings, sealed) = match v {
            Some((s, secrets)) => {
                let text = serde_json::to_string(s)
                    .map_err(|e| StoreError::Internal(format!("verification settings: {e}")))?;
                let plain = serde_json::to_vec(secrets)
                    .map_err(|_| StoreError::Internal("verification secrets".into()))?;
                (Some(text), Some(self.key.seal(&plain, &context(id))))
            }
            None => (None, None),
        };
        let n = self
            .execute(
                "UPDATE webhooks SET verification = $2, verification_sealed = $3, \
                 version = version + 1, updated_at = $4 WHERE id = $1",
                &[
                    id.into(),
                    settings.as_deref().into(),
                    sealed.as_deref().into(),
                    now_ms().into(),
                ],
            )
            .await?;
        found(n, "webhook", id)?;
        self.get_webhook(id)
            .await?
            .ok_or_else(|| not_found("webhook", id))
    }
}
