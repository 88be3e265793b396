//! `POST /api/v1/events/{id}/test` (SPEC §10, trying a filter): a proposed filter evaluated
//! against the event's webhook's last N accepted deliveries, as routing would evaluate it,
//! without saving anything.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::events::{check_filter, find};
use super::{JsonBody, to_json};
use crate::openapi::{BadRequest, Invalid, NotFound};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// At most this many deliveries per call (SPEC §10).
const MOST: i64 = 1000;
/// Deliveries read (with their bodies) and evaluated at a time.
const CHUNK: i64 = 100;

/// A filter to try.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestFilter {
    /// A bare expression over trigger variables.
    filter: String,
    /// How many of the newest accepted deliveries (default 100).
    #[schema(minimum = 1, maximum = 1000, default = 100)]
    last: Option<i64>,
}

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

/// Try a filter on the event's webhook's last accepted deliveries, without saving it
///
/// Evaluates `filter` (as routing would: only `trigger` variables, the event's own
/// `trigger.event`) against the newest `last` (default 100, at most 1,000) accepted deliveries of
/// the event's webhook, newest first. Nothing is saved.
#[utoipa::path(post, path = "/events/{id}/test", tag = "events", operation_id = "testEventFilter",
    params(("id" = String, Path, description = "The event's id or name.")),
    request_body = TestFilter,
    responses(
        (status = 200, description = "Per delivery, matched or not, or why the filter could not \
            be evaluated.", body = FilterTest),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 422, response = Invalid),
    ))]
pub async fn test(
    State(st): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TestFilter>,
) -> ApiResult<Json<Value>> {
    let event = find(&st, &id).await?;
    let Some(webhook_id) = event.webhook_id.clone() else {
        return Err(Problem::unprocessable(
            "a schedule event has no deliveries: filters apply to webhook events only",
        ));
    };
    let last = body.last.unwrap_or(100);
    if !(1..=MOST).contains(&last) {
        return Err(Problem::bad_request(format!(
            "last must be between 1 and {MOST}, got {last}"
        )));
    }
    let answer = try_filter(
        &st,
        &webhook_id,
        (&event.id, &event.name),
        body.filter,
        last,
    )
    .await?;
    Ok(Json(answer))
}

/// Filter `filter` of event `(id, name)` tried on the newest `last` accepted deliveries of
/// webhook `webhook_id` (also the event form's **Test filter**, for an event not saved yet:
/// its id is then empty); 422 if the filter does not compile or reads more than `trigger`.
pub(crate) async fn try_filter(
    st: &AppState,
    webhook_id: &str,
    event: (&str, &str),
    filter: String,
    last: i64,
) -> ApiResult<Value> {
    check_filter(st, &filter)?;
    let webhook_name = st
        .store
        .get_webhook(webhook_id)
        .await?
        .ok_or_else(|| Problem::unprocessable(format!("there is no webhook with id {webhook_id}")))?
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
            tracing::error!(error = %e, "filter test evaluation ended abnormally");
            Problem::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; the server log has the cause",
            )
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
    Ok(to_json(&FilterTest {
        total: results.len(),
        results,
        matched,
        errors,
    }))
}
