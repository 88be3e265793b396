//! `/api/v1/events`: webhook events (with an optional filter) and schedule events.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookflow_engine::schedule::Schedule;
use hookflow_store::events::{Event, NewEvent};
use hookflow_store::now_ms;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{ApiQuery, JsonBody, PageQuery, encode_cursor, rfc3339, to_json};
use crate::openapi::{BadRequest, Invalid, NameTaken, NotFound};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// A new event: a webhook event (`webhook_id`, optionally `filter`) or a schedule event
/// (`schedule`, optionally `timezone`). Unknown fields are refused (400).
#[derive(Deserialize, ToSchema)]
#[schema(as = EventCreate)]
#[serde(deny_unknown_fields)]
pub struct CreateEvent {
    /// 1 to 200 characters, unique.
    pub name: String,
    /// The webhook whose accepted requests are this event.
    pub webhook_id: Option<String>,
    /// A 5-field cron expression.
    pub schedule: Option<String>,
    /// The schedule's IANA time zone name, default UTC.
    pub timezone: Option<String>,
    /// A bare expression over trigger variables; the event happens when it is true.
    pub filter: Option<String>,
}

/// A change of an event: the fields left out stay; `"filter": null` removes the filter.
#[derive(Deserialize, ToSchema)]
#[schema(as = EventPatch)]
#[serde(deny_unknown_fields)]
pub struct UpdateEvent {
    name: Option<String>,
    /// Webhook events only; `null` removes it.
    #[serde(default, with = "super::double_option")]
    filter: Option<Option<String>>,
    /// Schedule events only.
    schedule: Option<String>,
    /// Schedule events only; `null` is UTC.
    #[serde(default, with = "super::double_option")]
    timezone: Option<Option<String>>,
}

/// Webhook events happen when their webhook accepts a request; schedule events at the times of
/// their cron expression.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Webhook,
    Schedule,
}

/// An event as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventView {
    pub id: String,
    pub name: String,
    pub kind: EventKind,
    #[schema(required = true)]
    pub webhook_id: Option<String>,
    /// A schedule event's 5-field cron expression.
    #[schema(required = true)]
    pub schedule: Option<String>,
    /// A schedule event's IANA time zone (null: UTC).
    #[schema(required = true)]
    pub timezone: Option<String>,
    #[schema(required = true)]
    pub filter: Option<String>,
    /// A schedule event's next due time.
    #[schema(format = DateTime, required = true)]
    pub next_fire_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

super::page!(
    /// One page of events.
    EventList of EventView
);

pub fn event_view(e: &Event) -> EventView {
    EventView {
        id: e.id.clone(),
        name: e.name.clone(),
        kind: if e.schedule.is_some() {
            EventKind::Schedule
        } else {
            EventKind::Webhook
        },
        webhook_id: e.webhook_id.clone(),
        schedule: e.schedule.clone(),
        timezone: e.timezone.clone(),
        filter: e.filter.clone(),
        next_fire_at: e.next_fire_at.map(rfc3339),
        created_at: rfc3339(e.created_at),
        updated_at: rfc3339(e.updated_at),
    }
}

/// [`event_view`] as JSON (the web UI's pages read it).
pub fn event_json(e: &Event) -> Value {
    to_json(&event_view(e))
}

fn valid_name(name: &str) -> ApiResult<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 200 {
        return Err(Problem::unprocessable("name must be 1 to 200 characters"));
    }
    Ok(n.to_string())
}

pub(crate) fn check_filter(st: &AppState, f: &str) -> ApiResult<()> {
    let paths = st
        .engine
        .sandbox
        .check_expression(f)
        .map_err(|e| Problem::unprocessable(format!("filter does not compile: {e}")))?;
    if let Some(bad) = paths
        .iter()
        .find(|p| p.split('.').next() != Some("trigger"))
    {
        return Err(Problem::unprocessable(format!(
            "filter may only read trigger variables (trigger.body, trigger.headers, …), not {bad:?}"
        )));
    }
    Ok(())
}

/// The first due time of a schedule after now.
fn first_due(schedule: &str, tz: Option<&str>) -> ApiResult<i64> {
    Schedule::parse(schedule, tz)
        .and_then(|s| s.next_after(now_ms()))
        .map_err(Problem::unprocessable)
}

/// Creates an event from checked input (the API's and the UI's way).
pub async fn create_event(st: &AppState, body: CreateEvent) -> ApiResult<Event> {
    let name = valid_name(&body.name)?;
    let next_fire_at = match (&body.webhook_id, &body.schedule) {
        (Some(w), None) => {
            if st.store.webhook_auth(w).await?.is_none() {
                return Err(Problem::unprocessable(format!(
                    "webhook_id {w:?} names no webhook"
                )));
            }
            if body.timezone.is_some() {
                return Err(Problem::unprocessable(
                    "timezone applies to schedule events only",
                ));
            }
            None
        }
        (None, Some(s)) => Some(first_due(s, body.timezone.as_deref())?),
        _ => {
            return Err(Problem::unprocessable(
                "an event needs exactly one of webhook_id (a webhook event) or schedule (a \
                 5-field cron expression)",
            ));
        }
    };
    if let Some(f) = &body.filter {
        if body.schedule.is_some() {
            return Err(Problem::unprocessable(
                "filter applies to webhook events only",
            ));
        }
        check_filter(st, f)?;
    }
    let e = st
        .store
        .create_event(NewEvent {
            name,
            webhook_id: body.webhook_id,
            schedule: body.schedule.map(|s| s.trim().to_string()),
            timezone: body.timezone,
            filter: body.filter,
            next_fire_at,
        })
        .await?;
    super::workflows::revalidate_all(st).await;
    Ok(e)
}

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
    let e = create_event(&st, body).await?;
    Ok((StatusCode::CREATED, Json(event_json(&e))).into_response())
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
    let (items, next) = st
        .store
        .list_events(q.limit()?, q.cursor()?.as_deref())
        .await?;
    Ok(Json(to_json(&EventList {
        items: items.iter().map(event_view).collect(),
        next_cursor: encode_cursor(next),
    })))
}

pub(crate) async fn find(st: &AppState, id: &str) -> ApiResult<Event> {
    st.store
        .get_event(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("there is no event with id {id}")))
}

/// Show an event
#[utoipa::path(get, path = "/events/{id}", tag = "events", operation_id = "getEvent",
    params(("id" = String, Path, description = "The event's id or name.")),
    responses(
        (status = 200, description = "The event.", body = EventView),
        (status = 404, response = NotFound),
    ))]
pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(event_json(&find(&st, &id).await?)))
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
    let mut e = find(&st, &id).await?;
    if let Some(n) = body.name {
        e.name = valid_name(&n)?;
    }
    if let Some(f) = body.filter {
        if let Some(f) = &f {
            if e.schedule.is_some() {
                return Err(Problem::unprocessable(
                    "filter applies to webhook events only",
                ));
            }
            check_filter(&st, f)?;
        }
        e.filter = f;
    }
    let mut reschedule = false;
    if let Some(s) = body.schedule {
        if e.schedule.is_none() {
            return Err(Problem::unprocessable(
                "a webhook event cannot become a schedule event; create a new event",
            ));
        }
        e.schedule = Some(s.trim().to_string());
        reschedule = true;
    }
    if let Some(tz) = body.timezone {
        if e.schedule.is_none() {
            return Err(Problem::unprocessable(
                "timezone applies to schedule events only",
            ));
        }
        e.timezone = tz;
        reschedule = true;
    }
    if reschedule && let Some(s) = &e.schedule {
        e.next_fire_at = Some(first_due(s, e.timezone.as_deref())?);
    }
    let renamed = e.name.clone();
    let e = st.store.update_event(&e).await?;
    if renamed != id {
        super::workflows::revalidate_all(&st).await;
    }
    Ok(Json(event_json(&e)))
}

/// Deletes an event (by id or name); 404 if there is none.
pub async fn delete_event(st: &AppState, id: &str) -> ApiResult<()> {
    let e = find(st, id).await?;
    st.store.delete_event(&e.id).await?;
    super::workflows::revalidate_all(st).await;
    Ok(())
}

/// Delete an event
#[utoipa::path(delete, path = "/events/{id}", tag = "events", operation_id = "deleteEvent",
    params(("id" = String, Path, description = "The event's id or name.")),
    responses((status = 204, description = "Deleted."), (status = 404, response = NotFound)))]
pub async fn delete(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    delete_event(&st, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
