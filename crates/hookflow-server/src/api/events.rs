//! `/api/v1/events`: webhook events (with an optional filter) and schedule events.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookflow_engine::schedule::Schedule;
use hookflow_store::events::{Event, NewEvent};
use hookflow_store::now_ms;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiQuery, JsonBody, PageQuery, list_answer, rfc3339};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEvent {
    pub name: String,
    pub webhook_id: Option<String>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub filter: Option<String>,
}

/// A PATCH: absent fields stay; `"filter": null` removes the filter.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateEvent {
    name: Option<String>,
    #[serde(default, with = "super::double_option")]
    filter: Option<Option<String>>,
    schedule: Option<String>,
    #[serde(default, with = "super::double_option")]
    timezone: Option<Option<String>>,
}

pub fn event_json(e: &Event) -> Value {
    json!({
        "id": e.id,
        "name": e.name,
        "kind": if e.schedule.is_some() { "schedule" } else { "webhook" },
        "webhook_id": e.webhook_id,
        "schedule": e.schedule,
        "timezone": e.timezone,
        "filter": e.filter,
        "next_fire_at": e.next_fire_at.map(rfc3339),
        "created_at": rfc3339(e.created_at),
        "updated_at": rfc3339(e.updated_at),
    })
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

pub async fn create(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<CreateEvent>,
) -> ApiResult<Response> {
    let e = create_event(&st, body).await?;
    Ok((StatusCode::CREATED, Json(event_json(&e))).into_response())
}

pub async fn list(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    let (items, next) = st
        .store
        .list_events(q.limit()?, q.cursor()?.as_deref())
        .await?;
    Ok(Json(list_answer(
        items.iter().map(event_json).collect(),
        next,
    )))
}

pub(crate) async fn find(st: &AppState, id: &str) -> ApiResult<Event> {
    st.store
        .get_event(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("there is no event with id {id}")))
}

pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(event_json(&find(&st, &id).await?)))
}

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

pub async fn delete(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    delete_event(&st, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
