//! `POST /api/v1/events/{id}/test` (SPEC §10, trying a filter): a proposed filter evaluated
//! against the event's webhook's last N accepted deliveries, as routing would evaluate it,
//! without saving anything ([`crate::manage::filter_test`]).

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::JsonBody;
use crate::manage::filter_test::{self, FilterTest};
use crate::manage::{events, to_json};
use crate::openapi::{BadRequest, Invalid, NotFound};
use crate::problem::ApiResult;
use crate::state::AppState;

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
    let event = events::find(&st, &id).await?;
    let answer = filter_test::test(&st, &event, body.filter, body.last).await?;
    Ok(Json(to_json(&answer)))
}
