//! `/api/v1/events`: webhook events (with an optional filter) and schedule events (the rules
//! are [`crate::manage::events`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::{ApiQuery, JsonBody, PageQuery, created};
use crate::manage::events::{self, CreateEvent, EventView, UpdateEvent};
use crate::openapi::{BadRequest, Invalid, NameTaken, NotFound};
use crate::problem::ApiResult;
use crate::state::AppState;

super::page!(
    /// One page of events.
    EventList of EventView
);

/// Create an event
#[utoipa::path(post, path = "/events", tag = "events", operation_id = "createEvent",
    request_body = CreateEvent,
    responses(
        (status = 201, description = "The event.", body = EventView),
        (status = 400, response = BadRequest), (status = 409, response = NameTaken),
        (status = 422, response = Invalid),
    ))]
pub async fn create(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<CreateEvent>,
) -> ApiResult<Response> {
    Ok(created(events::json(&events::create(&st, body).await?)))
}

/// List events, newest first
#[utoipa::path(get, path = "/events", tag = "events", operation_id = "listEvents",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of events.", body = EventList),
        (status = 400, response = BadRequest),
    ))]
pub async fn list(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    Ok(EventList::answer(events::list(&st, &q.page()?).await?))
}

/// Show an event
#[utoipa::path(get, path = "/events/{id}", tag = "events", operation_id = "getEvent",
    params(("id" = String, Path, description = "The event's id or name.")),
    responses(
        (status = 200, description = "The event.", body = EventView),
        (status = 404, response = NotFound),
    ))]
pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(events::json(&events::find(&st, &id).await?)))
}

/// Change an event
///
/// Only the fields sent change. A webhook event cannot become a schedule event.
#[utoipa::path(patch, path = "/events/{id}", tag = "events", operation_id = "updateEvent",
    params(("id" = String, Path, description = "The event's id or name.")),
    request_body = UpdateEvent,
    responses(
        (status = 200, description = "The event.", body = EventView),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 409, response = NameTaken), (status = 422, response = Invalid),
    ))]
pub async fn update(
    State(st): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateEvent>,
) -> ApiResult<Json<Value>> {
    Ok(Json(events::json(&events::update(&st, &id, body).await?)))
}

/// Delete an event
#[utoipa::path(delete, path = "/events/{id}", tag = "events", operation_id = "deleteEvent",
    params(("id" = String, Path, description = "The event's id or name.")),
    responses((status = 204, description = "Deleted."), (status = 404, response = NotFound)))]
pub async fn delete(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    events::delete(&st, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
