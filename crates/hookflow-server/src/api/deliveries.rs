//! Deliveries: `GET /api/v1/webhooks/{id}/deliveries` and `GET /api/v1/deliveries/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use base64::Engine;
use hookflow_store::deliveries::{Delivery, StatusFilter};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ApiQuery, PageQuery, list_answer, rfc3339};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
    cursor: Option<String>,
    status: Option<String>,
}

/// A delivery as the API shows it. `with_body` adds the body (text, or base64 if not UTF-8).
pub fn delivery_json(d: &Delivery) -> Value {
    let pairs: Vec<(String, String)> = serde_json::from_str(&d.headers).unwrap_or_default();
    let mut headers = Map::new();
    for (n, v) in &pairs {
        let n = n.to_ascii_lowercase();
        match headers.get_mut(&n) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(v);
            }
            _ => {
                headers.insert(n, Value::String(v.clone()));
            }
        }
    }
    let mut out = json!({
        "id": d.id,
        "webhook_id": d.webhook_id,
        "received_at": rfc3339(d.received_at),
        "status": d.status,
        "http_status": d.http_status,
        "reason": d.reason,
        "method": d.method,
        "content_type": d.content_type,
        "headers": headers,
        "request_headers": pairs.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
        "query": serde_json::from_str::<Value>(&d.query).unwrap_or(Value::Null),
        "body_size": d.body_size,
        "body_truncated": d.body_truncated,
        "routing": d.routing.as_deref().and_then(|r| serde_json::from_str::<Value>(r).ok()),
        "duplicate_of": d.duplicate_of,
    });
    if let Some(v) = d.verification.as_deref() {
        out["verification"] = serde_json::from_str::<Value>(v).unwrap_or(Value::Null);
    }
    if let Some(body) = &d.body {
        let (text, encoding) = match std::str::from_utf8(body) {
            Ok(t) => (t.to_string(), "utf-8"),
            Err(_) => (
                base64::engine::general_purpose::STANDARD.encode(body),
                "base64",
            ),
        };
        out["body"] = Value::String(text);
        out["body_encoding"] = Value::String(encoding.into());
    }
    out
}

pub async fn list(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    if st.store.webhook_auth(&id).await?.is_none() {
        return Err(Problem::not_found(format!(
            "there is no webhook with id {id}"
        )));
    }
    let filter = match q.status.as_deref() {
        None | Some("") => StatusFilter::All,
        Some("accepted") => StatusFilter::Accepted,
        Some("rejected") => StatusFilter::Rejected,
        Some("duplicate") => StatusFilter::Duplicate,
        Some(other) => {
            return Err(Problem::bad_request(format!(
                "status must be accepted, rejected or duplicate, got {other:?}"
            )));
        }
    };
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let (items, next) = st
        .store
        .list_deliveries(&id, filter, page.limit()?, page.cursor()?.as_deref())
        .await?;
    let mut out = list_answer(items.iter().map(delivery_json).collect(), next);
    out["retention"] = st.retention.to_json();
    Ok(Json(out))
}

pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let Some(d) = st.store.get_delivery(&id).await? else {
        return Err(Problem::not_found(format!(
            "there is no delivery with id {id}"
        )));
    };
    let mut out = delivery_json(&d);
    let filter = hookflow_store::runs::RunFilter {
        delivery_id: Some(d.id.clone()),
        ..Default::default()
    };
    let (runs, _) = st.store.list_runs(&filter, 500, None).await?;
    out["runs"] = Value::Array(super::runs::runs_json(&st, &runs, None).await?);
    let replays = super::replay::replays_of(&st, &d.id).await?;
    out["replays"] = Value::Array(super::runs::runs_json(&st, &replays, None).await?);
    Ok(Json(out))
}
