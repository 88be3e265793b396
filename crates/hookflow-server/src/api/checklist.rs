//! `GET /api/v1/webhooks/{id}/checklist` (SPEC §9): the webhook's troubleshooting checklist
//! ([`crate::manage::checklist`]).

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Answer;
use crate::manage::checklist::{self, Checklist};
use crate::manage::to_json;
use crate::openapi::{NotFound, WebhookPath};
use crate::state::AppState;

/// Why is nothing running? The webhook's troubleshooting checklist
///
/// Answered from the data, in the order a person would check: whether requests arrive (last
/// accepted and last refused), the commonest refusals of the last 24 hours with counts, the rate
/// limits, the events bound to the webhook, for each event the workflows it triggers and for
/// each whether it is valid, enabled, its trigger enabled and how its last run ended, and what
/// the last accepted request started. Each item links to the UI page where it is fixed.
#[utoipa::path(get, path = "/webhooks/{id}/checklist", tag = "webhooks",
    operation_id = "getWebhookChecklist",
    params(WebhookPath),
    responses((status = 200, description = "The checklist.", body = Checklist), NotFound))]
pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> Answer {
    Ok(Json(to_json(&checklist::of(&st, &id).await?)))
}

/// This module's operations, each with its route.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show))
}
