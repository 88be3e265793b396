//! Trying a filter (SPEC §10): a proposed filter evaluated against a webhook's newest accepted
//! deliveries, as routing would evaluate it, without saving anything — for a stored event (the
//! API) or one not saved yet (the event form's **Test filter**).

use hookflow_store::events::Event;
use serde::Serialize;
use utoipa::ToSchema;

use super::events::check_filter;
use super::{ManageError, ManageResult};
use crate::state::AppState;

/// At most this many deliveries per call (SPEC §10).
const MOST: i64 = 1000;
/// Deliveries read (with their bodies) and evaluated at a time.
const CHUNK: i64 = 100;

/// What a filter made of each delivery.
#[derive(Serialize, ToSchema)]
pub struct FilterTest {
    /// Newest first.
    pub results: Vec<FilterVerdict>,
    /// Deliveries tried.
    pub total: usize,
    /// Deliveries it matched.
    pub matched: usize,
    /// Deliveries it could not be evaluated on.
    pub errors: usize,
}

/// A filter on one delivery.
#[derive(Serialize, ToSchema)]
pub struct FilterVerdict {
    pub delivery_id: String,
    pub matched: bool,
    /// Why the filter could not be evaluated; null when it could.
    #[schema(required = true)]
    pub error: Option<String>,
}

/// Filter `filter` tried on the newest `last` (1 to [`MOST`]) accepted deliveries of stored
/// event `event`'s webhook; 422 for a schedule event (it has no deliveries).
pub async fn test(
    st: &AppState,
    event: &Event,
    filter: String,
    last: Option<i64>,
) -> ManageResult<FilterTest> {
    let Some(webhook_id) = event.spec.webhook_id.clone() else {
        return Err(ManageError::invalid(
            "a schedule event has no deliveries: filters apply to webhook events only",
        ));
    };
    let last = last.unwrap_or(100);
    if !(1..=MOST).contains(&last) {
        return Err(ManageError::Malformed(format!(
            "last must be between 1 and {MOST}, got {last}"
        )));
    }
    try_filter(st, &webhook_id, (&event.id, &event.spec.name), filter, last).await
}

/// Filter `filter` of event `(id, name)` tried on the newest `last` accepted deliveries of
/// webhook `webhook_id` (also the event form's **Test filter**, for an event not saved yet:
/// its id is then empty); 422 if the filter does not compile or reads more than `trigger`.
pub async fn try_filter(
    st: &AppState,
    webhook_id: &str,
    event: (&str, &str),
    filter: String,
    last: i64,
) -> ManageResult<FilterTest> {
    check_filter(st, &filter)?;
    let webhook_name = st
        .store
        .get_webhook(webhook_id)
        .await?
        .ok_or_else(|| ManageError::invalid(format!("there is no webhook with id {webhook_id}")))?
        .name;
    let mut results = Vec::new();
    let (mut matched, mut errors) = (0, 0);
    let mut before: Option<String> = None;
    while (results.len() as i64) < last {
        let want = CHUNK.min(last - results.len() as i64);
        let page = st
            .store
            .accepted_with_bodies(webhook_id, want, before.as_deref())
            .await?;
        let Some(oldest) = page.last() else { break };
        before = Some(oldest.id.clone());
        let short = (page.len() as i64) < want;
        // Evaluation is CPU work: off the async workers.
        let (sandbox, filter_text) = (st.engine.sandbox.clone(), filter.clone());
        let (hook, event_ref) = (
            (webhook_id.to_string(), webhook_name.clone()),
            (event.0.to_string(), event.1.to_string()),
        );
        let verdicts = tokio::task::spawn_blocking(move || {
            page.iter()
                .map(|d| {
                    let v = hookflow_core::filters::test_filter(
                        &sandbox,
                        &d.recorded(&hook.1),
                        (&event_ref.0, &event_ref.1),
                        &filter_text,
                    );
                    (d.id.clone(), v)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| {
            ManageError::Internal(format!("filter test evaluation ended abnormally: {e}"))
        })?;
        for (delivery_id, v) in verdicts {
            let (is_match, error) = match v {
                Ok(m) => (m, None),
                Err(e) => (false, Some(e)),
            };
            matched += usize::from(is_match);
            errors += usize::from(error.is_some());
            results.push(FilterVerdict {
                delivery_id,
                matched: is_match,
                error,
            });
        }
        if short {
            break;
        }
    }
    Ok(FilterTest {
        total: results.len(),
        results,
        matched,
        errors,
    })
}
