//! Replay and dry runs (SPEC §10): `POST /api/v1/deliveries/{id}/replay` routes one stored
//! accepted delivery again through today's events, filters and workflows; `POST
//! /api/v1/webhooks/{id}/replay` does it for a time range, in bounded batches (the rules are
//! [`crate::manage::replay`]).

use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Call, ok_or_created};
use crate::manage::replay::{self, Replay, ReplaySummary};
use crate::openapi::{BadRequest, DeliveryPath, Invalid, NotFound, ProblemDocument, WebhookPath};
use crate::problem::ApiResult;
use crate::state::AppState;

/// A replay of one delivery.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayOne {
    /// Only these workflows (names) start; the others are reported in `routing.not_started`
    /// with the reason `the replay names other workflows`. An unknown name is 422.
    #[schema(min_items = 1)]
    workflows: Option<Vec<String>>,
    /// Start nothing and record nothing: answer what would start.
    #[serde(default)]
    dry_run: bool,
}

/// A replay of the accepted deliveries of a time range.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRange {
    /// The first instant of the range (RFC 3339, included).
    #[schema(format = DateTime)]
    from: String,
    /// The end of the range (RFC 3339, excluded).
    #[schema(format = DateTime)]
    to: String,
    /// Only these workflows (names) start; the others are reported in `routing.not_started`
    /// with the reason `the replay names other workflows`. An unknown name is 422.
    #[schema(min_items = 1)]
    workflows: Option<Vec<String>>,
    /// Start nothing and record nothing: answer what would start.
    #[serde(default)]
    dry_run: bool,
}

/// Replay a stored accepted delivery through today's events, filters and workflows
///
/// Routes the delivery again exactly as routing does on arrival (events and their filters,
/// valid, enabled workflows with enabled triggers, as they are now) and starts the runs that
/// gives, in one transaction. Each new run has `started_by` `replay` and `replay_of` the
/// delivery's id; its `trigger` variables are those of the original request
/// (`trigger.delivery_id` is the original delivery). The delivery and its own runs are not
/// changed. With `dry_run` nothing starts and nothing is recorded: the answer (200) has the same
/// `routing` and, in `runs`, each run that would start with the trigger variables it would see.
#[utoipa::path(post, path = "/deliveries/{id}/replay", tag = "deliveries",
    operation_id = "replayDelivery",
    params(DeliveryPath),
    request_body(content = Option<ReplayOne>),
    responses(
        (status = 200, description = "Dry run: what a replay would start.", body = Replay),
        (status = 201, description = "Replayed: the routing and the runs started.", body = Replay),
        BadRequest, NotFound,
        (status = 409, description = "The delivery cannot be replayed: it is a duplicate \
            (duplicates are never replayed), it was rejected (only accepted deliveries are \
            replayed), or its webhook is gone.", body = ProblemDocument,
            content_type = "application/problem+json"),
        Invalid,
    ))]
pub async fn one(Call { st, id, body }: Call<ReplayOne>) -> ApiResult<Response> {
    let answer = replay::replay_delivery(&st, &id, body.workflows.as_deref(), body.dry_run).await?;
    Ok(ok_or_created(body.dry_run, answer))
}

/// Replay a webhook's accepted deliveries of a time range
///
/// Replays (as `POST /api/v1/deliveries/{id}/replay` does) every accepted delivery the webhook
/// received from `from` (included) to `to` (excluded), oldest first, 100 per transaction.
/// Duplicates and rejected deliveries are skipped. At most 10,000 deliveries per call: a range
/// holding more is 422 saying how many. With `dry_run` nothing starts: the counts are what
/// would.
#[utoipa::path(post, path = "/webhooks/{id}/replay", tag = "webhooks",
    operation_id = "replayWebhookDeliveries",
    params(WebhookPath),
    request_body = ReplayRange,
    responses(
        (status = 200, description = "Dry run: what the replay would start.", body = ReplaySummary),
        (status = 201, description = "Replayed.", body = ReplaySummary),
        BadRequest, NotFound, Invalid,
    ))]
pub async fn range(Call { st, id, body }: Call<ReplayRange>) -> ApiResult<Response> {
    let from = replay::instant("from", &body.from)?;
    let to = replay::instant("to", &body.to)?;
    let answer = replay::replay_range(
        &st,
        &id,
        (from, to),
        body.workflows.as_deref(),
        body.dry_run,
    )
    .await?;
    Ok(ok_or_created(body.dry_run, answer))
}

/// This module's operations, each with its route.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(range))
        .routes(routes!(one))
}
