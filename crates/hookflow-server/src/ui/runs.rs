//! Runs: the filtered list and one run with its steps' input, output, status, attempts and
//! timing (200 steps a page) — redacted exactly as the API shows them (no secret value ever
//! reaches a page).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use hookflow_store::runs::{RunFilter, RunStatus};
use serde_json::{Value as Json, json};

use super::session::{Form, Visit};
use super::{CHOICES, UiResult, duration, next_page, options, page, page_of, pretty, see_other};
use crate::manage::rfc3339;
use crate::manage::runs;
use crate::problem::Problem;
use crate::state::AppState;

/// A run as the API shows it, with its duration.
fn with_duration(mut r: Json) -> Json {
    let end = if r["finished_at"].is_null() {
        json!(rfc3339(hookflow_store::now_ms()))
    } else {
        r["finished_at"].clone()
    };
    r["duration"] = json!(duration(&r["started_at"], &end));
    r
}

/// `GET /ui/runs[?status=&workflow_id=]`.
pub async fn index(Visit { st, session, q }: Visit) -> UiResult {
    let status = match q.non_empty("status") {
        None => None,
        Some(s) => Some(
            RunStatus::parse_public(&s)
                .ok_or_else(|| Problem::bad_request(format!("there is no run status {s:?}")))?,
        ),
    };
    let filter = RunFilter {
        workflow_id: q.non_empty("workflow_id"),
        status,
        ..Default::default()
    };
    let listed = runs::list(&st, &filter, &page_of(&q)?).await?;
    let rows: Vec<Json> = listed.items.into_iter().map(with_duration).collect();
    let chosen = match &filter.workflow_id {
        Some(id) => st.store.get_workflow(id).await?.filter(|w| w.id == *id),
        None => None,
    };
    let workflows = options(
        st.store.workflow_choices(CHOICES).await?,
        chosen.map(|w| (w.id, w.document.name)),
    );
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("status", filter.status.map(RunStatus::as_str)),
        ("workflow_id", filter.workflow_id.as_deref()),
    ] {
        if let Some(v) = v {
            query.append_pair(k, v);
        }
    }
    let base = match query.finish() {
        q if q.is_empty() => "/ui/runs".to_string(),
        q => format!("/ui/runs?{q}"),
    };
    Ok(page(
        StatusCode::OK,
        "runs.html",
        Some(&session),
        json!({
            "title": "Runs", "section": "runs", "runs": rows, "statuses": RunStatus::PUBLIC,
            "workflows": workflows, "status": filter.status, "workflow_id": filter.workflow_id,
            "next_page": next_page(&base, listed.next), "history": st.retention.sentence(),
        }),
    ))
}

/// Steps on one run page.
const STEPS_PER_PAGE: i64 = 200;

/// `GET /ui/runs/{id}[?steps_cursor=]`: the run with a page of its steps, and a link to the next.
pub async fn show(Visit { st, session, q }: Visit, Path(id): Path<String>) -> UiResult {
    let run = runs::find(&st, &id).await?;
    let page_of = runs::StepsQuery {
        steps_limit: Some(STEPS_PER_PAGE),
        steps_cursor: q.non_empty("steps_cursor"),
    };
    let mut v = runs::run_with_steps(&st, &run, &page_of).await?;
    if let Some(next) = v["steps_next_cursor"].as_str() {
        v["steps_next_page"] = json!(format!("/ui/runs/{}?steps_cursor={next}", run.id));
    }
    v["steps_first"] = json!(page_of.steps_cursor.is_some());
    let steps: Vec<Json> = v["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut s| {
            s["duration"] = json!(duration(&s["started_at"], &s["finished_at"]));
            s["input_text"] = json!(pretty(&s["input"]));
            s["output_text"] = json!(pretty(&s["output"]));
            python_view(&mut s);
            s
        })
        .collect();
    v["steps"] = json!(steps);
    v["inputs_text"] = json!(pretty(&v["inputs"]));
    v["outputs_text"] = json!(pretty(&v["outputs"]));
    let event = match &run.event_id {
        Some(e) => st.store.get_event(e).await?.map(|e| e.spec.name),
        None => None,
    };
    let active = !run.status.is_finished();
    let diagram = super::pictures::run_diagram(&st, &run).await?;
    Ok(page(
        StatusCode::OK,
        "run.html",
        Some(&session),
        json!({
            "title": format!("Run of {}", run.workflow_name), "section": "runs",
            "run": with_duration(v), "event_name": event, "can_cancel": active,
            "diagram": diagram,
        }),
    ))
}

pub async fn cancel(State(st): State<AppState>, Path(id): Path<String>, _: Form) -> UiResult {
    runs::cancel(&st, &id).await?;
    Ok(see_other(&format!("/ui/runs/{id}")))
}

/// A python step shown readably: its script, stdout and stderr as text in blocks of their own
/// (with whether the step cut them at 1 MiB), the rest of its input and output as JSON.
fn python_view(s: &mut Json) {
    if s["type"] != "python" {
        return;
    }
    let mut view = json!({});
    if let Some(script) = s["input"]["script"].as_str() {
        view["script"] = json!(script);
        let mut rest = s["input"].clone();
        if let Some(m) = rest.as_object_mut() {
            m.remove("script");
        }
        s["input_text"] = json!(pretty(&rest));
    }
    if let (Some(out), Some(err)) = (
        s["output"]["stdout"].as_str(),
        s["output"]["stderr"].as_str(),
    ) {
        let cut = |t: &str| {
            t.contains("[hookflow: stdout cut here") || t.contains("[hookflow: stderr cut here")
        };
        view["stdout"] = json!(out);
        view["stderr"] = json!(err);
        view["stdout_cut"] = json!(cut(out));
        view["stderr_cut"] = json!(cut(err));
        let mut rest = s["output"].clone();
        if let Some(m) = rest.as_object_mut() {
            m.remove("stdout");
            m.remove("stderr");
        }
        s["output_text"] = json!(pretty(&rest));
    }
    s["python"] = view;
}

/// This module's pages and forms, each with its route.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/runs", get(index))
        .route("/runs/{id}", get(show))
        .route("/runs/{id}/cancel", post(cancel))
}
