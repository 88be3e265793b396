//! `/api/v1/webhooks`: create, list, show, update, delete, rotate-key (the rules are
//! [`crate::manage::webhooks`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Answer, ApiQuery, Call, JsonBody, PageQuery, created};
use crate::manage::webhooks::{self, CreateWebhook, RotateKey, UpdateWebhook, WebhookView};
use crate::openapi::{BadRequest, Invalid, NotFound, ProblemDocument, TooLarge, WebhookPath};
use crate::problem::ApiResult;
use crate::state::AppState;

super::page!(
    /// One page of webhooks.
    WebhookList of WebhookView
);

/// Create a webhook
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", operation_id = "createWebhook",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Created; `url` is the full Webhook URL with its key.", body = WebhookView),
        BadRequest,
        (status = 409, description = "A webhook with this name exists.", body = ProblemDocument, content_type = "application/problem+json"),
        TooLarge, Invalid,
    ))]
pub async fn create(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<CreateWebhook>,
) -> ApiResult<Response> {
    let w = webhooks::create(&st, body).await?;
    Ok(created(webhooks::json(&st, &w)))
}

/// List webhooks, newest first
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", operation_id = "listWebhooks",
    params(PageQuery),
    responses((status = 200, description = "One page of webhooks.", body = WebhookList),
        BadRequest))]
pub async fn list(State(st): State<AppState>, ApiQuery(q): ApiQuery<PageQuery>) -> Answer {
    Ok(WebhookList::answer(webhooks::list(&st, &q.page()?).await?))
}

/// Show a webhook
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", operation_id = "getWebhook",
    params(WebhookPath),
    responses((status = 200, description = "The webhook.", body = WebhookView), NotFound))]
pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> Answer {
    Ok(Json(webhooks::json(&st, &webhooks::find(&st, &id).await?)))
}

/// Change a webhook
///
/// Only the fields sent change. Unknown fields are refused (400).
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", operation_id = "updateWebhook",
    params(WebhookPath),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The changed webhook.", body = WebhookView),
        BadRequest, NotFound,
        (status = 409, description = "Another webhook has this name.", body = ProblemDocument, content_type = "application/problem+json"),
        TooLarge, Invalid,
    ))]
pub async fn update(Call { st, id, body }: Call<UpdateWebhook>) -> Answer {
    let w = webhooks::update(&st, &id, body).await?;
    Ok(Json(webhooks::json(&st, &w)))
}

super::delete_operation!(
    /// Delete a webhook and its deliveries
    "/webhooks/{id}", "webhooks", "deleteWebhook", WebhookPath, webhooks::delete,
    "Deleted; its URL answers 401 from now on."
);

/// Replace a webhook's key
///
/// The old key stops working at once, unless `grace_seconds` keeps it valid that much longer.
/// The body may be empty.
#[utoipa::path(post, path = "/webhooks/{id}/rotate-key", tag = "webhooks", operation_id = "rotateWebhookKey",
    params(WebhookPath),
    request_body(content = Option<RotateKey>),
    responses(
        (status = 200, description = "The webhook with its new `api_key` and `url`.", body = WebhookView),
        BadRequest, NotFound, Invalid,
    ))]
pub async fn rotate_key(Call { st, id, body }: Call<RotateKey>) -> Answer {
    let w = webhooks::rotate_key(&st, &id, body).await?;
    Ok(Json(webhooks::json(&st, &w)))
}

/// This module's operations, each with its route.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, update, delete))
        .routes(routes!(rotate_key))
}
