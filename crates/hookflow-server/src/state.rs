//! What every handler shares: the store, the delivery journal, and the settings the HTTP layer
//! applies. No routing data lives only here: webhooks are read from the store (through the
//! journal's cache, which the journal re-checks against committed state).

use std::sync::Arc;

use hookflow_store::Store;
use hookflow_store::journal::DeliveryJournal;
use metrics_exporter_prometheus::PrometheusHandle;

/// HTTP-side limits (SPEC §8: configurable).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest webhook body accepted (SPEC §2 check 5).
    pub max_body: u64,
    /// Largest management API request body.
    pub max_api_body: usize,
    /// Bytes of webhook bodies that may be held in memory at once (being read or waiting for
    /// the journal). Past it, new requests get 503 instead of growing memory.
    pub ingest_buffer_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 1_048_576,
            max_api_body: 2 * 1_048_576,
            ingest_buffer_bytes: 256 * 1_048_576,
        }
    }
}

/// The application, shared by every request.
pub struct App {
    /// The database; the only place with state.
    pub store: Store,
    /// Where webhook requests become durable (group commit).
    pub journal: DeliveryJournal,
    /// Runs workflows; its sandbox also checks filters and definitions.
    pub engine: Arc<hookflow_engine::Engine>,
    /// Base of Webhook URLs, without a trailing slash.
    pub public_url: String,
    /// Digest of the admin token stored at bootstrap.
    pub admin_digest: Option<[u8; 32]>,
    /// Digest of `HOOKFLOW_ADMIN_TOKEN`, which is always valid when set.
    pub env_token_digest: Option<[u8; 32]>,
    pub limits: Limits,
    /// Permits of 1 KiB each for webhook bodies held in memory ([`Limits::ingest_buffer_bytes`]).
    pub ingest_buffer: Arc<tokio::sync::Semaphore>,
    /// Renders `/metrics`.
    pub metrics: Option<PrometheusHandle>,
}

/// Cheap to clone: an `Arc` around [`App`].
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}
