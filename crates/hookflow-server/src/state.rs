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
    /// Memory for webhook bodies being read or waiting for the journal, in all, per client
    /// address and per webhook, and for the bodies of refused requests. Past them, 503.
    pub budgets: crate::ingest::BudgetLimits,
    /// Bytes of a refused request's body that are read for its record (the journal's
    /// `rejected_body_max`).
    pub rejected_body_max: usize,
    /// A 401 of the webhook endpoint is answered no earlier than this after the request
    /// arrived, so its timing does not tell a known webhook from an unknown one.
    pub unauthorized_delay: std::time::Duration,
    /// Below this many free bytes on the data directory's filesystem `/healthz` answers 503.
    pub min_free_disk_bytes: u64,
    /// Request content types a webhook may be configured with besides the four of SPEC §2
    /// (`--extra-content-types`, SPEC §9), in canonical form.
    pub extra_content_types: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 1_048_576,
            max_api_body: 2 * 1_048_576,
            budgets: crate::ingest::BudgetLimits::default(),
            rejected_body_max: 64 * 1024,
            unauthorized_delay: std::time::Duration::from_millis(5),
            min_free_disk_bytes: 64 * 1_048_576,
            extra_content_types: Vec::new(),
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
    /// What webhook requests may hold while they are read ([`Limits::budgets`]).
    pub budgets: crate::ingest::IngestBudgets,
    /// Renders `/metrics`.
    pub metrics: Option<PrometheusHandle>,
    /// How long history is kept (`--retain-days`), which list answers and pages say.
    pub retention: crate::retention::Retention,
}

impl App {
    /// Every request content type a webhook may be configured with: the four of SPEC §2, then
    /// the operator's extra ones.
    pub fn content_types(&self) -> Vec<String> {
        hookflow_core::media::WEBHOOK_CONTENT_TYPES
            .iter()
            .map(|t| t.to_string())
            .chain(self.limits.extra_content_types.iter().cloned())
            .collect()
    }

    /// A management request's body (the API's JSON or a document, the UI's form), read up to
    /// `--max-api-body`; 413 past it.
    pub async fn read_body(
        &self,
        req: axum::extract::Request,
    ) -> Result<bytes::Bytes, crate::problem::Problem> {
        use http_body_util::BodyExt;
        let limit = self.limits.max_api_body;
        http_body_util::Limited::new(req.into_body(), limit)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|_| {
                crate::problem::Problem::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {limit} bytes"),
                )
            })
    }
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
