//! `/api/v1/events`: webhook events (with an optional filter) and schedule events (the rules
//! are [`crate::manage::events`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Answer, ApiQuery, Call, JsonBody, PageQuery, created};
use crate::manage::events::{self, CreateEvent, EventView, UpdateEvent};
use crate::openapi::{BadRequest, EventPath, Invalid, NameTaken, NotFound};
use crate::problem::ApiResult;
use crate::state::AppState;

super::page!(
    /// One page of events.
    EventList of EventView
);

/// Create an event
#[utoipa::path(post, path = "/events", tag = "events", operation_id = "createEvent",
    request_body = CreateEvent,
    responses((status = 201, description = "The event.", body = EventView),
        BadRequest, NameTaken, Invalid))]
pub async fn create(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<CreateEvent>,
) -> ApiResult<Response> {
    Ok(created(events::json(&events::create(&st, body).await?)))
}

/// List events, newest first
#[utoipa::path(get, path = "/events", tag = "events", operation_id = "listEvents",
    params(PageQuery),
    responses((status = 200, description = "A page of events.", body = EventList), BadRequest))]
pub async fn list(State(st): State<AppState>, ApiQuery(q): ApiQuery<PageQuery>) -> Answer {
    Ok(EventList::answer(events::list(&st, &q.page()?).await?))
}

/// Show an event
#[utoipa::path(get, path = "/events/{id}", tag = "events", operation_id = "getEvent",
    params(EventPath),
    responses((status = 200, description = "The event.", body = EventView), NotFound))]
pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> Answer {
    Ok(Json(events::json(&events::find(&st, &id).await?)))
}

/// Change an event
///
/// Only the fields sent change. A webhook event cannot become a schedule event.
#[utoipa::path(patch, path = "/events/{id}", tag = "events", operation_id = "updateEvent",
    params(EventPath),
    request_body = UpdateEvent,
    responses((status = 200, description = "The event.", body = EventView),
        BadRequest, NotFound, NameTaken, Invalid))]
pub async fn update(Call { st, id, body }: Call<UpdateEvent>) -> Answer {
    Ok(Json(events::json(&events::update(&st, &id, body).await?)))
}

super::delete_operation!(
    /// Delete an event
    "/events/{id}", "events", "deleteEvent", EventPath, events::delete
);

/// This module's operations, each with its route.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, update, delete))
}
