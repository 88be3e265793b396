//! `/api/v1/webhooks`: create, list, show, update, delete, rotate-key (the rules are
//! [`crate::manage::webhooks`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::{ApiQuery, JsonBody, PageQuery, created};
use crate::manage::webhooks::{self, CreateWebhook, RotateKey, UpdateWebhook, WebhookView};
use crate::openapi::{BadRequest, Invalid, NotFound, ProblemDocument, TooLarge};
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
        (status = 400, response = BadRequest),
        (status = 409, description = "A webhook with this name exists.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = TooLarge), (status = 422, response = Invalid),
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
    responses(
        (status = 200, description = "One page of webhooks.", body = WebhookList),
        (status = 400, response = BadRequest),
    ))]
pub async fn list(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    Ok(WebhookList::answer(webhooks::list(&st, &q.page()?).await?))
}

/// Show a webhook
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", operation_id = "getWebhook",
    params(("id" = String, Path, description = "The webhook's id.")),
    responses(
        (status = 200, description = "The webhook.", body = WebhookView),
        (status = 404, response = NotFound),
    ))]
pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(webhooks::json(&st, &webhooks::find(&st, &id).await?)))
}

/// Change a webhook
///
/// Only the fields sent change. Unknown fields are refused (400).
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", operation_id = "updateWebhook",
    params(("id" = String, Path, description = "The webhook's id.")),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The changed webhook.", body = WebhookView),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 409, description = "Another webhook has this name.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = TooLarge), (status = 422, response = Invalid),
    ))]
pub async fn update(
    State(st): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateWebhook>,
) -> ApiResult<Json<Value>> {
    let w = webhooks::update(&st, &id, body).await?;
    Ok(Json(webhooks::json(&st, &w)))
}

/// Delete a webhook and its deliveries
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", operation_id = "deleteWebhook",
    params(("id" = String, Path, description = "The webhook's id.")),
    responses(
        (status = 204, description = "Deleted; its URL answers 401 from now on."),
        (status = 404, response = NotFound),
    ))]
pub async fn delete(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    webhooks::delete(&st, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a webhook's key
///
/// The old key stops working at once, unless `grace_seconds` keeps it valid that much longer.
/// The body may be empty.
#[utoipa::path(post, path = "/webhooks/{id}/rotate-key", tag = "webhooks", operation_id = "rotateWebhookKey",
    params(("id" = String, Path, description = "The webhook's id.")),
    request_body(content = Option<RotateKey>),
    responses(
        (status = 200, description = "The webhook with its new `api_key` and `url`.", body = WebhookView),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 422, response = Invalid),
    ))]
pub async fn rotate_key(
    State(st): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RotateKey>,
) -> ApiResult<Json<Value>> {
    let w = webhooks::rotate_key(&st, &id, body).await?;
    Ok(Json(webhooks::json(&st, &w)))
}
