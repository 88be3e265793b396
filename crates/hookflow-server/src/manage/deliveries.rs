//! Deliveries: what each webhook received, accepted, rejected (with why) or a duplicate, as an
//! operator sees it (credentials redacted, the body as text or base64), with the runs it and its
//! replays started.

use base64::Engine;
use hookflow_core::verify::RecordedVerdict;
use hookflow_store::deliveries::{Delivery, StatusFilter};
use hookflow_store::runs::{RunFilter, RunRecord};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::page::{Page, PageQuery};
use super::runs::runs_json;
use super::{Found, ManageError, ManageResult, rfc3339, to_json};
use crate::state::AppState;

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

/// A delivery as the API shows it, with its body (text, or base64 if not UTF-8) when `d` has it.
pub fn view(d: &Delivery) -> DeliveryView {
    let pairs: Vec<(String, String)> = serde_json::from_str(&d.headers).unwrap_or_default();
    let headers = hookflow_core::trigger::headers_object(&pairs);
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

/// [`view`] as JSON (the web UI's pages read it).
pub fn json(d: &Delivery) -> Value {
    to_json(&view(d))
}

/// Delivery `id`, with its body; 404 if there is none.
pub async fn find(st: &AppState, id: &str) -> ManageResult<Delivery> {
    st.store.get_delivery(id).await?.found("delivery", id)
}

/// A page of webhook `id`'s deliveries, newest first, without bodies: all of them, or only
/// those of `status` (`accepted`, `rejected` or `duplicate`). Checked in this order: the
/// webhook (404), the status, the page (400).
pub async fn list(
    st: &AppState,
    id: &str,
    status: Option<&str>,
    page: &PageQuery,
) -> ManageResult<Page<DeliveryView>> {
    if st.store.webhook_auth(id).await?.is_none() {
        return Err(ManageError::no("webhook", id));
    }
    let filter = match status {
        None | Some("") => StatusFilter::All,
        Some("accepted") => StatusFilter::Accepted,
        Some("rejected") => StatusFilter::Rejected,
        Some("duplicate") => StatusFilter::Duplicate,
        Some(other) => {
            return Err(ManageError::Malformed(format!(
                "status must be accepted, rejected or duplicate, got {other:?}"
            )));
        }
    };
    let page = page.page()?;
    let rows = st
        .store
        .list_deliveries(id, filter, page.limit, page.after.as_deref())
        .await?;
    Ok(Page::of(rows, view))
}

/// The (newest `most`) runs delivery `id` started, as [`runs_json`] shows them.
pub async fn started(st: &AppState, id: &str, most: i64) -> ManageResult<Vec<Value>> {
    let filter = RunFilter {
        delivery_id: Some(id.to_string()),
        ..Default::default()
    };
    let (runs, _) = st.store.list_runs(&filter, most, None).await?;
    runs_json(st, &runs, None).await
}

/// The runs replays of delivery `id` started, newest first.
pub async fn replays_of(st: &AppState, id: &str) -> ManageResult<Vec<RunRecord>> {
    let filter = RunFilter {
        replay_of: Some(id.to_string()),
        ..Default::default()
    };
    Ok(st.store.list_runs(&filter, 500, None).await?.0)
}

/// [`replays_of`] as [`runs_json`] shows them.
pub async fn replays(st: &AppState, id: &str) -> ManageResult<Vec<Value>> {
    runs_json(st, &replays_of(st, id).await?, None).await
}

/// Delivery `id` with its body, the runs it started and the runs its replays started.
pub async fn show(st: &AppState, id: &str) -> ManageResult<DeliveryView> {
    let d = find(st, id).await?;
    let mut out = view(&d);
    out.runs = Some(started(st, &d.id, 500).await?);
    out.replays = Some(replays(st, &d.id).await?);
    Ok(out)
}
