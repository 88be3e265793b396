//! Deliveries: `GET /api/v1/webhooks/{id}/deliveries` and `GET /api/v1/deliveries/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use base64::Engine;
use hookflow_core::verify::RecordedVerdict;
use hookflow_store::deliveries::{Delivery, StatusFilter};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::{ApiQuery, PageQuery, encode_cursor, rfc3339, to_json};
use crate::openapi::{BadRequest, NotFound};
use crate::problem::{ApiResult, Problem};
use crate::retention::RetentionView;
use crate::state::AppState;

/// `?status=` of a webhook's deliveries.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Only `accepted`, only `rejected` or only `duplicate` deliveries.
    status: Option<String>,
}

/// A request a webhook received: accepted, rejected (with why) or a duplicate.
#[derive(Serialize, ToSchema)]
#[schema(as = Delivery)]
pub struct DeliveryView {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(format = "uuid")]
    pub webhook_id: String,
    /// When the request arrived.
    #[schema(format = DateTime)]
    pub received_at: String,
    /// `accepted`, `rejected` or `duplicate`.
    pub status: String,
    /// The status the sender was answered with.
    pub http_status: i64,
    /// Why it was rejected: the answer's `detail`.
    #[schema(required = true)]
    pub reason: Option<String>,
    pub method: String,
    /// The request's `Content-Type`, as sent.
    #[schema(required = true)]
    pub content_type: Option<String>,
    /// Request headers by lower-cased name; repeated headers joined with `, `. Credentials are
    /// redacted: `Authorization` and `Proxy-Authorization` as `<scheme> [redacted]`, `Cookie`
    /// and `X-Api-Key` as `[redacted]`.
    #[schema(value_type = HashMap<String, String>)]
    pub headers: Map<String, Value>,
    /// Request headers in arrival order, credentials redacted. A rejected request keeps only its
    /// first `--rejected-header-bytes` (default 8192) of names and values; then a last entry
    /// named `:hookflow-headers-cut` says how many headers were cut.
    pub request_headers: Vec<RequestHeader>,
    /// Query parameters, without `api_key`.
    #[schema(value_type = Option<Object>, required = true)]
    pub query: Value,
    /// Size of the body received (or declared), in bytes.
    pub body_size: i64,
    /// The stored body was cut (rejected requests keep at most 64 KiB by default).
    pub body_truncated: bool,
    /// Events matched, runs started, workflows not started with the reason: `events` [{id,
    /// name, matched, reason}], `runs` [{id, workflow_id, workflow, event}], `not_started`
    /// [{workflow_id, workflow, event, reason}].
    #[schema(value_type = Option<Object>, required = true)]
    pub routing: Option<Value>,
    /// A duplicate's first delivery with the same dedup key (SPEC §9); null otherwise.
    #[schema(format = "uuid", required = true)]
    pub duplicate_of: Option<String>,
    /// On webhooks with verification: the verdict (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RecordedVerdict>)]
    pub verification: Option<Value>,
    /// The body as stored; only in `GET /api/v1/deliveries/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// How `body` is written: `utf-8` text, or `base64` when not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_encoding: Option<&'static str>,
    /// The workflow runs the delivery started; only in `GET /api/v1/deliveries/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<super::runs::RunView>>)]
    pub runs: Option<Vec<Value>>,
    /// The runs replays of the delivery started (newest first); only in
    /// `GET /api/v1/deliveries/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<super::runs::RunView>>)]
    pub replays: Option<Vec<Value>>,
}

/// One request header as it arrived.
#[derive(Serialize, ToSchema)]
pub struct RequestHeader {
    pub name: String,
    pub value: String,
}

/// One page of a webhook's deliveries.
#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
    pub retention: RetentionView,
}

/// A delivery as the API shows it, with its body (text, or base64 if not UTF-8) when `d` has it.
pub fn delivery_view(d: &Delivery) -> DeliveryView {
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
    let body = d.body.as_ref().map(|body| match std::str::from_utf8(body) {
        Ok(t) => (t.to_string(), "utf-8"),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(body),
            "base64",
        ),
    });
    let (body, body_encoding) = body.unzip();
    DeliveryView {
        id: d.id.clone(),
        webhook_id: d.webhook_id.clone(),
        received_at: rfc3339(d.received_at),
        status: d.status.clone(),
        http_status: d.http_status,
        reason: d.reason.clone(),
        method: d.method.clone(),
        content_type: d.content_type.clone(),
        headers,
        request_headers: pairs
            .into_iter()
            .map(|(name, value)| RequestHeader { name, value })
            .collect(),
        query: serde_json::from_str::<Value>(&d.query).unwrap_or(Value::Null),
        body_size: d.body_size,
        body_truncated: d.body_truncated,
        routing: d
            .routing
            .as_deref()
            .and_then(|r| serde_json::from_str::<Value>(r).ok()),
        duplicate_of: d.duplicate_of.clone(),
        verification: d
            .verification
            .as_deref()
            .map(|v| serde_json::from_str::<Value>(v).unwrap_or(Value::Null)),
        body,
        body_encoding,
        runs: None,
        replays: None,
    }
}

/// [`delivery_view`] as JSON (the web UI's pages read it).
pub fn delivery_json(d: &Delivery) -> Value {
    to_json(&delivery_view(d))
}

/// List a webhook's deliveries, newest first
///
/// Accepted and rejected requests, without bodies (see `GET /api/v1/deliveries/{id}`).
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "deliveries",
    operation_id = "listDeliveries",
    params(("id" = String, Path, description = "The webhook's id."), PageQuery, StatusQuery),
    responses(
        (status = 200, description = "One page of deliveries.", body = DeliveryList),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
    ))]
pub async fn list(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiQuery(q): ApiQuery<StatusQuery>,
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
    let (items, next) = st
        .store
        .list_deliveries(&id, filter, page.limit()?, page.cursor()?.as_deref())
        .await?;
    Ok(Json(to_json(&DeliveryList {
        items: items.iter().map(delivery_view).collect(),
        next_cursor: encode_cursor(next),
        retention: st.retention.view(),
    })))
}

/// Show one delivery with its body
///
/// With the runs it started and the runs its replays started.
#[utoipa::path(get, path = "/deliveries/{id}", tag = "deliveries", operation_id = "getDelivery",
    params(("id" = String, Path,
        description = "The delivery id (the `X-Delivery-Id` of the 202).")),
    responses(
        (status = 200, description = "The delivery, with `body`.", body = DeliveryView),
        (status = 404, response = NotFound),
    ))]
pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let Some(d) = st.store.get_delivery(&id).await? else {
        return Err(Problem::not_found(format!(
            "there is no delivery with id {id}"
        )));
    };
    let mut out = delivery_view(&d);
    let filter = hookflow_store::runs::RunFilter {
        delivery_id: Some(d.id.clone()),
        ..Default::default()
    };
    let (runs, _) = st.store.list_runs(&filter, 500, None).await?;
    out.runs = Some(super::runs::runs_json(&st, &runs, None).await?);
    let replays = super::replay::replays_of(&st, &d.id).await?;
    out.replays = Some(super::runs::runs_json(&st, &replays, None).await?);
    Ok(Json(to_json(&out)))
}
