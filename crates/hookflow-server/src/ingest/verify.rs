//! Check 5b (SPEC §9): a webhook's signature verification, after the body is read and before
//! the rate limits, so that forged requests spend no quota. The verdict goes to the journal,
//! which refuses an enforced failure and records every verdict on the delivery.

use std::sync::Arc;

use axum::http::HeaderMap;
use hookflow_core::ingest::WebhookAuth;
use hookflow_core::verify::{HeaderSource, Spec, Verdict, VerdictKind, Verifier};
use hookflow_store::now_ms;
use tokio::time::Instant;

use crate::state::AppState;

/// The request's headers as check 5b reads them (no copy).
struct Headers<'a>(&'a HeaderMap);

impl HeaderSource for Headers<'_> {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        self.0.get_all(name).iter().map(|v| v.as_bytes())
    }
}

/// The verdict on a request of `hook`, if it verifies signatures. A failure is checked once more
/// against the committed webhook when the cached view may be older than a secret changed on
/// another node (at most once per webhook every few seconds, like a refused key).
pub async fn verdict(
    st: &AppState,
    hook: &WebhookAuth,
    headers: &HeaderMap,
    body: &[u8],
    received: Instant,
) -> Option<Verdict> {
    let spec = hook.verification.as_ref()?;
    let mut v = judge(st, &hook.id, spec, headers, body);
    if v.verdict != VerdictKind::Valid
        && st.budgets.may_recheck(&hook.id, received.into_std())
        && let Ok(Ok(Some(fresh))) =
            tokio::time::timeout(super::LOOKUP_TIMEOUT, st.store.webhook_auth(&hook.id)).await
        && fresh.version != hook.version
    {
        let fresh = st.journal.remember(fresh);
        v = match &fresh.verification {
            Some(spec) => judge(st, &fresh.id, spec, headers, body),
            // Verification was removed meanwhile: the journal decides on the committed row.
            None => return None,
        };
    }
    metrics::counter!(
        "hookflow_verifications_total",
        "webhook" => hook.id.clone(),
        "verdict" => v.verdict.as_str()
    )
    .increment(1);
    Some(v)
}

fn judge(st: &AppState, id: &str, spec: &Arc<Spec>, headers: &HeaderMap, body: &[u8]) -> Verdict {
    // Unsealed once per webhook version (and logged once if it cannot be), not per request.
    let verifier = spec.verifier(|sealed| {
        let secrets = st.store.open_verification(id, sealed);
        if secrets.is_none() {
            tracing::error!(
                webhook = %id,
                "webhook verification secret cannot be opened (another master key?); every \
                 request fails verification"
            );
        }
        secrets
    });
    match verifier {
        Some(verifier) => verifier.verify(&Headers(headers), body, now_ms()),
        None => Verifier::unusable(&spec.settings),
    }
}
