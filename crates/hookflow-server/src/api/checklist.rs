//! `GET /api/v1/webhooks/{id}/checklist` (SPEC §9): the webhook's troubleshooting checklist.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::to_json;
use crate::checklist::Item;
use crate::openapi::NotFound;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// A webhook's troubleshooting checklist.
#[derive(Serialize, ToSchema)]
pub struct Checklist {
    pub webhook_id: String,
    pub items: Vec<Item>,
}

/// Why is nothing running? The webhook's troubleshooting checklist
///
/// Answered from the data, in the order a person would check: whether requests arrive (last
/// accepted and last refused), the commonest refusals of the last 24 hours with counts, the rate
/// limits, the events bound to the webhook, for each event the workflows it triggers and for
/// each whether it is valid, enabled, its trigger enabled and how its last run ended, and what
/// the last accepted request started. Each item links to the UI page where it is fixed.
#[utoipa::path(get, path = "/webhooks/{id}/checklist", tag = "webhooks",
    operation_id = "getWebhookChecklist",
    params(("id" = String, Path, description = "The webhook's id.")),
    responses(
        (status = 200, description = "The checklist.", body = Checklist),
        (status = 404, response = NotFound),
    ))]
pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let w = st
        .store
        .get_webhook(&id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("there is no webhook with id {id}")))?;
    let items = crate::checklist::checklist(&st, &w).await?;
    Ok(Json(to_json(&Checklist {
        webhook_id: w.id,
        items,
    })))
}
