//! Deliveries: `GET /api/v1/webhooks/{id}/deliveries` and `GET /api/v1/deliveries/{id}`
//! ([`crate::manage::deliveries`]).

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Answer, ApiQuery, PageQuery};
use crate::manage::deliveries::{self, DeliveryView};
use crate::manage::to_json;
use crate::openapi::{BadRequest, NotFound, ReceivedPath, WebhookPath};
use crate::retention::RetentionView;
use crate::state::AppState;

/// `?status=` of a webhook's deliveries.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Only `accepted`, only `rejected` or only `duplicate` deliveries.
    status: Option<String>,
}

/// One page of a webhook's deliveries.
#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
    pub retention: RetentionView,
}

/// List a webhook's deliveries, newest first
///
/// Accepted and rejected requests, without bodies (see `GET /api/v1/deliveries/{id}`).
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "deliveries",
    operation_id = "listDeliveries",
    params(WebhookPath, PageQuery, StatusQuery),
    responses((status = 200, description = "One page of deliveries.", body = DeliveryList),
        BadRequest, NotFound))]
pub async fn list(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> Answer {
    let page = deliveries::list(&st, &id, q.status.as_deref(), &page).await?;
    Ok(Json(to_json(&DeliveryList {
        next_cursor: page.next_cursor(),
        items: page.items,
        retention: st.retention.view(),
    })))
}

/// Show one delivery with its body
///
/// With the runs it started and the runs its replays started.
#[utoipa::path(get, path = "/deliveries/{id}", tag = "deliveries", operation_id = "getDelivery",
    params(ReceivedPath),
    responses((status = 200, description = "The delivery, with `body`.", body = DeliveryView),
        NotFound))]
pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> Answer {
    Ok(Json(to_json(&deliveries::show(&st, &id).await?)))
}

/// This module's operations, each with its route.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
}
