//! Replay in the UI (SPEC §10): **Replay** and **Dry run** on a delivery's page, and the bulk
//! replay form on a webhook's page (first the count of deliveries it would replay, then, once
//! confirmed, the summary). The work is [`crate::manage::replay`]'s.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::json;

use super::session::Form;
use super::webhooks::{delivery_page, webhook_page};
use super::{Fields, UiResult, see_other};
use crate::manage::replay::{instant, replay_delivery, replay_range};
use crate::manage::{ManageError, ManageResult};
use crate::problem::Problem;
use crate::state::AppState;

/// `POST /ui/deliveries/{id}/replay`: `action=replay` starts the runs and goes back to the page
/// (which lists them under Replays); `action=dry_run` shows what would start, and why not.
pub async fn delivery(State(st): State<AppState>, Path(id): Path<String>, form: Form) -> UiResult {
    let dry_run = form.fields.get("action") == Some("dry_run");
    match replay_delivery(&st, &id, None, dry_run).await {
        Ok(answer) if dry_run => {
            delivery_page(
                &st,
                &form.session,
                StatusCode::OK,
                &id,
                json!({"dry_run": answer}),
            )
            .await
        }
        Ok(answer) => {
            let started = answer["runs"].as_array().map_or(0, Vec::len);
            Ok(see_other(&format!(
                "/ui/deliveries/{id}?replayed={started}#replays"
            )))
        }
        Err(e @ ManageError::NotFound(_)) => Err(e.into()),
        Err(e) => {
            let p = Problem::from(e);
            delivery_page(
                &st,
                &form.session,
                p.status,
                &id,
                json!({"replay_error": p.detail}),
            )
            .await
        }
    }
}

/// A time of the bulk form: RFC 3339, or a `datetime-local` value (`2026-01-31T12:00`) in UTC.
fn form_instant(field: &str, text: &str) -> ManageResult<i64> {
    let t = text.trim();
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(local) = chrono::NaiveDateTime::parse_from_str(t, format) {
            return Ok(local.and_utc().timestamp_millis());
        }
    }
    instant(field, t)
}

/// `POST /ui/webhooks/{id}/replay` (`from`, `to`): `action=count` answers how many deliveries
/// the range holds and what would start, asking to confirm; `action=replay` replays them and
/// shows the summary.
pub async fn webhook(State(st): State<AppState>, Path(id): Path<String>, form: Form) -> UiResult {
    let f = &form.fields;
    let (from_text, to_text) = (f.get("from").unwrap_or(""), f.get("to").unwrap_or(""));
    let confirmed = f.get("action") == Some("replay");
    let answer = match (form_instant("from", from_text), form_instant("to", to_text)) {
        (Ok(from), Ok(to)) => replay_range(&st, &id, (from, to), None, !confirmed).await,
        (Err(p), _) | (_, Err(p)) => Err(p),
    };
    let mut replay = json!({"from": from_text, "to": to_text});
    let status = match answer {
        Ok(a) => {
            replay[if confirmed { "done" } else { "count" }] = a;
            StatusCode::OK
        }
        Err(e @ ManageError::NotFound(_)) => return Err(e.into()),
        Err(e) => {
            let p = Problem::from(e);
            replay["error"] = json!(p.detail);
            p.status
        }
    };
    webhook_page(
        &st,
        &form.session,
        status,
        &id,
        &Fields::default(),
        json!({ "replay": replay }),
    )
    .await
}

/// This module's pages and forms, each with its route.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/{id}/replay", post(webhook))
        .route("/deliveries/{id}/replay", post(delivery))
}
