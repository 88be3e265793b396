//! The ingest path's cache of webhooks' check data: a hint for checks 1–5 before the journal,
//! brought in line with what each batch's transaction read.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hookflow_core::ingest::WebhookAuth;

use super::DeliveryJournal;
use super::batch::Loaded;

/// The webhooks the ingest path has seen, by id. Only a hint for the first checks: every decision
/// is re-made inside the journal's transaction when the committed row's `version` differs.
pub type AuthCache = Arc<RwLock<HashMap<String, Arc<WebhookAuth>>>>;

impl DeliveryJournal {
    /// The cached check data of a webhook.
    pub fn cached(&self, id: &str) -> Option<Arc<WebhookAuth>> {
        self.cache.read().ok()?.get(id).cloned()
    }

    /// Remembers (or refreshes) a webhook's check data.
    pub fn remember(&self, auth: WebhookAuth) -> Arc<WebhookAuth> {
        let auth = Arc::new(auth);
        if let Ok(mut c) = self.cache.write() {
            c.insert(auth.id.clone(), auth.clone());
        }
        auth
    }

    /// Forgets a webhook (deleted).
    pub fn forget(&self, id: &str) {
        if let Ok(mut c) = self.cache.write() {
            c.remove(id);
        }
    }
}

/// Brings the ingest cache in line with what a transaction read.
pub(crate) fn refresh_cache(cache: &AuthCache, ids: &[&str], loaded: &HashMap<String, Loaded>) {
    let stale = {
        let Ok(c) = cache.read() else { return };
        ids.iter().any(|id| match (c.get(*id), loaded.get(*id)) {
            (Some(a), Some(h)) => a.version != h.auth.version,
            (None, None) => false,
            _ => true,
        })
    };
    if stale && let Ok(mut c) = cache.write() {
        for id in ids {
            match loaded.get(*id) {
                Some(h) => {
                    c.insert(id.to_string(), h.auth.clone());
                }
                None => {
                    c.remove(*id);
                }
            }
        }
    }
}
