//! Events & Webhooks: the two tabs, a webhook's form and details (Webhook URL, curl example,
//! usage, key rotation, deliveries), one delivery, and the event form.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value as Json, json};

use super::session::{Form, Session, Visit};
use super::{
    CHOICES, Fields, PAGE, UiResult, form, next_page, options, page, page_of, pretty, see_other,
};
use crate::manage::page::PageQuery;
use crate::manage::{ManageError, checklist, deliveries, events, filter_test, to_json, webhooks};
use crate::problem::Problem;
use crate::state::AppState;

/// `GET /ui/events-webhooks[?tab=events]`.
pub async fn index(Visit { st, session, q }: Visit) -> UiResult {
    let asked = page_of(&q)?;
    let mut ctx = json!({"title": "Events & Webhooks", "section": "events-webhooks"});
    if q.get("tab") == Some("events") {
        let events = events::list(&st, &asked).await?;
        let hook_ids: Vec<&str> = events
            .items
            .iter()
            .filter_map(|e| e.webhook_id.as_deref())
            .collect();
        let names = st.store.webhook_names(&hook_ids).await?;
        let rows: Vec<Json> = events
            .items
            .iter()
            .map(|e| {
                let mut v = to_json(e);
                if let Some(w) = &e.webhook_id {
                    v["webhook_name"] = json!(names.get(w).cloned().unwrap_or_else(|| w.clone()));
                }
                v
            })
            .collect();
        ctx["tab"] = json!("events");
        ctx["events"] = json!(rows);
        ctx["next_page"] = json!(next_page("/ui/events-webhooks?tab=events", events.next));
    } else {
        let hooks = webhooks::list(&st, &asked).await?;
        ctx["tab"] = json!("webhooks");
        ctx["webhooks"] = json!(hooks.items.iter().map(to_json).collect::<Vec<_>>());
        ctx["next_page"] = json!(next_page("/ui/events-webhooks", hooks.next));
    }
    Ok(page(
        StatusCode::OK,
        "events_webhooks.html",
        Some(&session),
        ctx,
    ))
}

/// The webhook form, new (`id` = None) or editing, with `values` as entered and an error.
fn webhook_form(
    st: &AppState,
    session: &Session,
    status: StatusCode,
    id: Option<&str>,
    values: Json,
    error: Option<&str>,
) -> Response {
    let (title, action, button) = match id {
        None => (
            "New Webhook".to_string(),
            "/ui/webhooks/new".to_string(),
            "Submit",
        ),
        Some(id) => (
            "Edit webhook".to_string(),
            format!("/ui/webhooks/{id}/edit"),
            "Save",
        ),
    };
    page(
        status,
        "webhook_form.html",
        Some(session),
        json!({
            "title": title, "section": "events-webhooks", "action": action, "button": button,
            "content_types": st.content_types(), "values": values, "error": error,
            "id": id, "schemes": super::verification::SCHEMES,
        }),
    )
}

/// What the webhook form's fields hold, to fill the form again.
fn form_values(f: &Fields) -> Json {
    json!({
        "name": f.get("name").unwrap_or(""),
        "content_type": f.get("content_type").unwrap_or(""),
        "rate_limit_per_minute": f.get("rate_limit_per_minute").unwrap_or(""),
        "rate_limit_per_day": f.get("rate_limit_per_day").unwrap_or(""),
        "dedup_key": f.get("dedup_key").unwrap_or(""),
        "dedup_window_seconds": f.get("dedup_window_seconds").unwrap_or(""),
        "verification": super::verification::values(f),
    })
}

/// The form's duplicate fields as the API's `dedup`: `None` when the key is left empty.
fn form_dedup(f: &Fields) -> Result<Option<webhooks::DedupInput>, Problem> {
    let key = f.get("dedup_key").unwrap_or("").trim();
    let window_seconds = f.number("dedup_window_seconds", "Duplicate window")?;
    Ok((!key.is_empty()).then(|| webhooks::DedupInput {
        key: key.to_string(),
        window_seconds,
    }))
}

pub async fn new_form(Visit { st, session, .. }: Visit) -> Response {
    webhook_form(
        &st,
        &session,
        StatusCode::OK,
        None,
        json!({
            "content_type": "application/json",
            "rate_limit_per_minute": webhooks::DEFAULT_PER_MINUTE,
            "rate_limit_per_day": webhooks::DEFAULT_PER_DAY,
        }),
        None,
    )
}

/// `POST /ui/webhooks/new`: creates it as the API does, then shows it.
pub async fn create(State(st): State<AppState>, form: Form) -> Response {
    let f = &form.fields;
    let result = async {
        let body = webhooks::CreateWebhook {
            name: f.get("name").unwrap_or("").to_string(),
            content_type: f.get("content_type").unwrap_or("").to_string(),
            rate_limit_per_minute: f.number("rate_limit_per_minute", "Rate limit per minute")?,
            rate_limit_per_day: f.number("rate_limit_per_day", "Rate limit per day")?,
            dedup: form_dedup(f)?,
            verification: super::verification::input(f)?,
        };
        Ok::<_, Problem>(webhooks::create(&st, body).await?)
    }
    .await;
    match result {
        Ok(w) => see_other(&format!("/ui/webhooks/{}", w.id)),
        Err(p) => webhook_form(
            &st,
            &form.session,
            p.status,
            None,
            form_values(f),
            Some(&p.detail),
        ),
    }
}

pub async fn edit_form(Visit { st, session, .. }: Visit, Path(id): Path<String>) -> UiResult {
    let w = webhooks::find(&st, &id).await?;
    Ok(webhook_form(
        &st,
        &session,
        StatusCode::OK,
        Some(&w.id),
        {
            let mut values = webhooks::json(&st, &w);
            values["dedup_key"] = json!(w.dedup.as_ref().map(|d| d.key.as_str()));
            values["dedup_window_seconds"] = json!(w.dedup.as_ref().map(|d| d.window_seconds));
            values
        },
        None,
    ))
}

/// `POST /ui/webhooks/{id}/edit`: blank limits stay as they are.
pub async fn update(State(st): State<AppState>, Path(id): Path<String>, form: Form) -> UiResult {
    let w = webhooks::find(&st, &id).await?;
    let f = &form.fields;
    let result = async {
        let body = webhooks::UpdateWebhook {
            name: f.get("name").map(str::to_string),
            content_type: f.get("content_type").map(str::to_string),
            rate_limit_per_minute: f.number("rate_limit_per_minute", "Rate limit per minute")?,
            rate_limit_per_day: f.number("rate_limit_per_day", "Rate limit per day")?,
            // The form always holds the fields: an empty key removes detection.
            dedup: f.get("dedup_key").map(|_| form_dedup(f)).transpose()?,
            // No scheme chosen removes a verification the webhook has.
            verification: match super::verification::input(f)? {
                Some(v) => Some(Some(v)),
                None if w.verification.is_some() => Some(None),
                None => None,
            },
        };
        Ok::<_, Problem>(webhooks::update(&st, &w.id, body).await?)
    }
    .await;
    Ok(match result {
        Ok(w) => see_other(&format!("/ui/webhooks/{}", w.id)),
        Err(p) => webhook_form(
            &st,
            &form.session,
            p.status,
            Some(&w.id),
            form_values(f),
            Some(&p.detail),
        ),
    })
}

/// A sample body of each content type, for the curl example.
fn sample_body(content_type: &str) -> &'static str {
    match content_type {
        "application/x-www-form-urlencoded" => "title=Disk+almost+full&severity=high",
        "application/xml" => {
            "<alert><title>Disk almost full</title><severity>high</severity></alert>"
        }
        _ => r#"{"title": "Disk almost full", "severity": "high"}"#,
    }
}

/// A curl command that posts a sample body to `url` as the webhook expects it.
fn curl_example(url: &str, content_type: &str) -> String {
    format!(
        "curl -X POST '{url}' \\\n  -H 'Accept: application/json' \\\n  \
         -H 'Content-Type: {content_type}' \\\n  --data '{}'",
        sample_body(content_type)
    )
}

/// `GET /ui/webhooks/{id}`: the details and one page of deliveries, newest first.
pub async fn show(Visit { st, session, q }: Visit, Path(id): Path<String>) -> UiResult {
    webhook_page(&st, &session, StatusCode::OK, &id, &q, json!({})).await
}

/// A webhook's page, with `extra` added to what it shows (the bulk replay's count or summary).
pub(super) async fn webhook_page(
    st: &AppState,
    session: &Session,
    status: StatusCode,
    id: &str,
    q: &Fields,
    extra: Json,
) -> UiResult {
    let w = webhooks::find(st, id).await?;
    let asked = PageQuery {
        limit: Some(PAGE),
        cursor: q.get("cursor").map(str::to_string),
    };
    let delivered = deliveries::list(st, &w.id, None, &asked).await?;
    let hook = webhooks::json(st, &w);
    let checklist = checklist::checklist(st, &w).await?;
    let curl = curl_example(hook["url"].as_str().unwrap_or(""), &w.content_type);
    let notice = match q.get("rotated") {
        Some(_) if w.previous_key_expires_at.is_some() => Some(
            "The key was rotated: the Webhook URL below has the new key; the old key works \
             until its grace period ends.",
        ),
        Some(_) => Some("The key was rotated: the Webhook URL below has the new key."),
        None => None,
    };
    let mut ctx = json!({
        "title": w.name, "section": "events-webhooks", "webhook": hook, "curl": curl,
        "notice": notice,
        "checklist": checklist.iter().map(|i| i.to_json()).collect::<Vec<_>>(),
        "deliveries": delivered.items.iter().map(to_json).collect::<Vec<_>>(),
        "next_page": next_page(&format!("/ui/webhooks/{}", w.id), delivered.next),
        "history": st.retention.sentence(),
        "charts": super::pictures::webhook_charts(st, &w.id).await?,
    });
    merge(&mut ctx, extra);
    Ok(page(status, "webhook.html", Some(session), ctx))
}

/// `extra`'s fields put into page context `ctx`.
fn merge(ctx: &mut Json, extra: Json) {
    if let Json::Object(extra) = extra {
        for (k, v) in extra {
            ctx[k] = v;
        }
    }
}

pub async fn rotate_key(
    State(st): State<AppState>,
    Path(id): Path<String>,
    form: Form,
) -> UiResult {
    let grace_seconds = form.fields.number("grace_seconds", "Grace period")?;
    let w = webhooks::rotate_key(&st, &id, webhooks::RotateKey { grace_seconds }).await?;
    Ok(see_other(&format!("/ui/webhooks/{}?rotated=1", w.id)))
}

pub async fn delete(State(st): State<AppState>, Path(id): Path<String>, _: Form) -> UiResult {
    webhooks::delete(&st, &id).await?;
    Ok(see_other("/ui/events-webhooks"))
}

/// `GET /ui/deliveries/{id}`: what arrived, the verdict, what it started and its replays.
pub async fn delivery(Visit { st, session, q }: Visit, Path(id): Path<String>) -> UiResult {
    let notice = q.get("replayed").map(|n| match n {
        "0" => "Replayed: no run started (the reasons are in the delivery's routing now).".into(),
        "1" => "Replayed: 1 run started.".to_string(),
        n => format!("Replayed: {n} runs started."),
    });
    delivery_page(
        &st,
        &session,
        StatusCode::OK,
        &id,
        json!({"notice": notice}),
    )
    .await
}

/// A delivery's page, with `extra` added to what it shows (a dry run's answer, a notice).
pub(super) async fn delivery_page(
    st: &AppState,
    session: &Session,
    status: StatusCode,
    id: &str,
    extra: Json,
) -> UiResult {
    let d = deliveries::find(st, id).await?;
    let mut v = deliveries::json(&d);
    let body = v["body"].as_str().unwrap_or("").to_string();
    if let Ok(parsed) = serde_json::from_str::<Json>(&body) {
        v["body"] = json!(pretty(&parsed));
    }
    let names = st.store.webhook_names(&[d.webhook_id.as_str()]).await?;
    let started = deliveries::started(st, &d.id, PAGE).await?;
    let replays = deliveries::replays(st, &d.id).await?;
    let mut ctx = json!({
        "title": "Delivery", "section": "events-webhooks", "delivery": v,
        "webhook_name": names.get(&d.webhook_id),
        "runs": started, "replays": replays,
    });
    merge(&mut ctx, extra);
    for (name, id, routing) in [
        ("matched_events", "matched-events", "delivery"),
        ("dry_run_events", "dry-run-events", "dry_run"),
    ] {
        let events = ctx[routing]["routing"]["events"].clone();
        ctx[name] = super::piece("routing_events.html", &json!({"id": id, "events": events}));
    }
    Ok(page(status, "delivery.html", Some(session), ctx))
}

/// The event form, with the webhooks to choose from.
async fn event_form(
    st: &AppState,
    session: &Session,
    status: StatusCode,
    values: Json,
    error: Option<&str>,
) -> UiResult {
    let chosen = match values["webhook_id"].as_str() {
        Some(id) => st.store.webhook_names(&[id]).await?.into_iter().next(),
        None => None,
    };
    let hooks = options(st.store.webhook_choices(CHOICES).await?, chosen);
    Ok(page(
        status,
        "event_form.html",
        Some(session),
        json!({
            "title": "New Event", "section": "events-webhooks", "webhooks": hooks,
            "values": values, "error": error,
        }),
    ))
}

pub async fn new_event(Visit { st, session, q }: Visit) -> UiResult {
    event_form(
        &st,
        &session,
        StatusCode::OK,
        json!({"webhook_id": q.get("webhook_id")}),
        None,
    )
    .await
}

/// How many of the webhook's newest accepted deliveries the event form's **Test filter** tries.
const FILTER_TEST_LAST: i64 = 100;

/// `POST /ui/events/new`: blank fields are left out; back to the Events tab. With
/// `action=test`, saves nothing and shows what the filter says of the chosen webhook's newest
/// deliveries.
pub async fn create_event(State(st): State<AppState>, form: Form) -> UiResult {
    let f = &form.fields;
    if f.get("action") == Some("test") {
        let mut values = json!({
            "name": f.get("name"), "webhook_id": f.get("webhook_id"),
            "schedule": f.get("schedule"), "timezone": f.get("timezone"),
            "filter": f.get("filter"),
        });
        let tried = match (f.non_empty("webhook_id"), f.non_empty("filter")) {
            (Some(hook), Some(filter)) => {
                let name = f.get("name").unwrap_or("").trim().to_string();
                filter_test::try_filter(&st, &hook, ("", &name), filter, FILTER_TEST_LAST).await
            }
            _ => Err(ManageError::invalid(
                "choose a webhook and write a filter to test it on the webhook's deliveries",
            )),
        };
        return match tried {
            Ok(t) => {
                values["test"] = to_json(&t);
                event_form(&st, &form.session, StatusCode::OK, values, None).await
            }
            Err(e) => {
                let p = Problem::from(e);
                event_form(&st, &form.session, p.status, values, Some(&p.detail)).await
            }
        };
    }
    let body = events::CreateEvent {
        name: f.get("name").unwrap_or("").to_string(),
        webhook_id: f.non_empty("webhook_id"),
        schedule: f.non_empty("schedule"),
        timezone: f.non_empty("timezone"),
        filter: f.non_empty("filter"),
    };
    match events::create(&st, body).await {
        Ok(_) => Ok(see_other("/ui/events-webhooks?tab=events")),
        Err(e) => {
            let p = Problem::from(e);
            let values = json!({
                "name": f.get("name"), "webhook_id": f.get("webhook_id"),
                "schedule": f.get("schedule"), "timezone": f.get("timezone"),
                "filter": f.get("filter"),
            });
            event_form(&st, &form.session, p.status, values, Some(&p.detail)).await
        }
    }
}

pub async fn delete_event(State(st): State<AppState>, Path(id): Path<String>, _: Form) -> UiResult {
    events::delete(&st, &id).await?;
    Ok(see_other("/ui/events-webhooks?tab=events"))
}

/// This module's pages and forms, each with its route.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/events-webhooks", get(index))
        .route("/webhooks/new", form(new_form, create))
        .route("/webhooks/{id}", get(show))
        .route("/webhooks/{id}/edit", form(edit_form, update))
        .route("/webhooks/{id}/rotate-key", post(rotate_key))
        .route("/webhooks/{id}/delete", post(delete))
        .route("/deliveries/{id}", get(delivery))
        .route("/events/new", form(new_event, create_event))
        .route("/events/{id}/delete", post(delete_event))
}
