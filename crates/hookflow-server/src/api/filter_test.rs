//! `POST /api/v1/events/{id}/test` (SPEC §10, trying a filter): a proposed filter evaluated
//! against the event's webhook's last N accepted deliveries, as routing would evaluate it,
//! without saving anything ([`crate::manage::filter_test`]).

use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Answer, Call};
use crate::manage::filter_test::{self, FilterTest};
use crate::manage::{events, to_json};
use crate::openapi::{BadRequest, EventPath, Invalid, NotFound};
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
    params(EventPath),
    request_body = TestFilter,
    responses(
        (status = 200, description = "Per delivery, matched or not, or why the filter could not \
            be evaluated.", body = FilterTest),
        BadRequest, NotFound, Invalid,
    ))]
pub async fn test(Call { st, id, body }: Call<TestFilter>) -> Answer {
    let event = events::find(&st, &id).await?;
    let answer = filter_test::test(&st, &event, body.filter, body.last).await?;
    Ok(Json(to_json(&answer)))
}

/// This module's operations, each with its route.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(test))
}
