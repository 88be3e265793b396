//! `GET /api/v1/webhooks/{id}/checklist` (SPEC §9): the webhook's troubleshooting checklist.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let w = st
        .store
        .get_webhook(&id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("there is no webhook with id {id}")))?;
    let items = crate::checklist::checklist(&st, &w).await?;
    Ok(Json(json!({
        "webhook_id": w.id,
        "items": items.iter().map(|i| i.to_json()).collect::<Vec<_>>(),
    })))
}
