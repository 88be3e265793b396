//! Events: webhook events (a webhook's accepted requests, optionally filtered) and schedule
//! events (a cron expression in a time zone); create, change, delete, and the view an operator
//! sees. A change of an event's name re-validates the workflows (their triggers name events).

use hookflow_core::schedule::Schedule;
use hookflow_store::events::{Event, EventSpec};
use hookflow_store::now_ms;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::page::{Page, PageRequest};
use super::{Found, ManageError, ManageResult, catalog, rfc3339, to_json};
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
    #[serde(default, with = "crate::manage::double_option")]
    filter: Option<Option<String>>,
    /// Schedule events only.
    schedule: Option<String>,
    /// Schedule events only; `null` is UTC.
    #[serde(default, with = "crate::manage::double_option")]
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

pub fn view(e: &Event) -> EventView {
    EventView {
        id: e.id.clone(),
        name: e.spec.name.clone(),
        kind: if e.spec.schedule.is_some() {
            EventKind::Schedule
        } else {
            EventKind::Webhook
        },
        webhook_id: e.spec.webhook_id.clone(),
        schedule: e.spec.schedule.clone(),
        timezone: e.spec.timezone.clone(),
        filter: e.spec.filter.clone(),
        next_fire_at: e.spec.next_fire_at.map(rfc3339),
        created_at: rfc3339(e.created_at),
        updated_at: rfc3339(e.updated_at),
    }
}

/// [`view`] as JSON (the web UI's pages read it).
pub fn json(e: &Event) -> Value {
    to_json(&view(e))
}

fn valid_name(name: &str) -> ManageResult<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 200 {
        return Err(ManageError::invalid("name must be 1 to 200 characters"));
    }
    Ok(n.to_string())
}

/// Checks a filter (422 when wrong): it compiles and reads only trigger variables.
pub fn check_filter(st: &AppState, f: &str) -> ManageResult<()> {
    let paths = st
        .engine
        .sandbox
        .check_expression(f)
        .map_err(|e| ManageError::invalid(format!("filter does not compile: {e}")))?;
    if let Some(bad) = paths
        .iter()
        .find(|p| p.split('.').next() != Some("trigger"))
    {
        return Err(ManageError::invalid(format!(
            "filter may only read trigger variables (trigger.body, trigger.headers, …), not {bad:?}"
        )));
    }
    Ok(())
}

/// The first due time of a schedule after now.
fn first_due(schedule: &str, tz: Option<&str>) -> ManageResult<i64> {
    Schedule::parse(schedule, tz)
        .and_then(|s| s.next_after(now_ms()))
        .map_err(ManageError::invalid)
}

/// Creates an event from checked input.
pub async fn create(st: &AppState, body: CreateEvent) -> ManageResult<Event> {
    let name = valid_name(&body.name)?;
    let next_fire_at = match (&body.webhook_id, &body.schedule) {
        (Some(w), None) => {
            if st.store.webhook_auth(w).await?.is_none() {
                return Err(ManageError::invalid(format!(
                    "webhook_id {w:?} names no webhook"
                )));
            }
            if body.timezone.is_some() {
                return Err(ManageError::invalid(
                    "timezone applies to schedule events only",
                ));
            }
            None
        }
        (None, Some(s)) => Some(first_due(s, body.timezone.as_deref())?),
        _ => {
            return Err(ManageError::invalid(
                "an event needs exactly one of webhook_id (a webhook event) or schedule (a \
                 5-field cron expression)",
            ));
        }
    };
    if let Some(f) = &body.filter {
        if body.schedule.is_some() {
            return Err(ManageError::invalid(
                "filter applies to webhook events only",
            ));
        }
        check_filter(st, f)?;
    }
    let e = st
        .store
        .create_event(EventSpec {
            name,
            webhook_id: body.webhook_id,
            schedule: body.schedule.map(|s| s.trim().to_string()),
            timezone: body.timezone,
            filter: body.filter,
            next_fire_at,
        })
        .await?;
    catalog::revalidate_all(st).await;
    Ok(e)
}

/// A page of events, newest first.
pub async fn list(st: &AppState, page: &PageRequest) -> ManageResult<Page<EventView>> {
    let rows = st
        .store
        .list_events(page.limit, page.after.as_deref())
        .await?;
    Ok(Page::of(rows, view))
}

/// Event `id` (an id or a name); 404 if there is none.
pub async fn find(st: &AppState, id: &str) -> ManageResult<Event> {
    st.store.get_event(id).await?.found("event", id)
}

/// Applies a checked change to event `id` (an id or a name).
pub async fn update(st: &AppState, id: &str, body: UpdateEvent) -> ManageResult<Event> {
    let mut e = find(st, id).await?;
    if let Some(n) = body.name {
        e.spec.name = valid_name(&n)?;
    }
    if let Some(f) = body.filter {
        if let Some(f) = &f {
            if e.spec.schedule.is_some() {
                return Err(ManageError::invalid(
                    "filter applies to webhook events only",
                ));
            }
            check_filter(st, f)?;
        }
        e.spec.filter = f;
    }
    let mut reschedule = false;
    if let Some(s) = body.schedule {
        if e.spec.schedule.is_none() {
            return Err(ManageError::invalid(
                "a webhook event cannot become a schedule event; create a new event",
            ));
        }
        e.spec.schedule = Some(s.trim().to_string());
        reschedule = true;
    }
    if let Some(tz) = body.timezone {
        if e.spec.schedule.is_none() {
            return Err(ManageError::invalid(
                "timezone applies to schedule events only",
            ));
        }
        e.spec.timezone = tz;
        reschedule = true;
    }
    if reschedule && let Some(s) = &e.spec.schedule {
        e.spec.next_fire_at = Some(first_due(s, e.spec.timezone.as_deref())?);
    }
    let renamed = e.spec.name.clone();
    let e = st.store.update_event(&e).await?;
    if renamed != id {
        catalog::revalidate_all(st).await;
    }
    Ok(e)
}

/// Deletes an event (by id or name); 404 if there is none.
pub async fn delete(st: &AppState, id: &str) -> ManageResult<()> {
    let e = find(st, id).await?;
    st.store.delete_event(&e.id).await?;
    catalog::revalidate_all(st).await;
    Ok(())
}
