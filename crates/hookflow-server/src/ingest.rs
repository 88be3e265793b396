//! `POST /webhooks/{id}` (SPEC §2): checks 1–5 and 7 here, check 6 and the durable record in the
//! delivery journal. Every request to a known webhook is handed to the journal — accepted ones
//! to be stored with a 202, rejected ones to be recorded with their reason — and answered only
//! with the journal's committed decision.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hookflow_core::body::{BodyLimits, validate};
use hookflow_core::ingest::{Rejection, RequestFacts, WebhookAuth, check_request};
use hookflow_core::media::MediaType;
use hookflow_core::{query, recorded};
use hookflow_store::journal::{DeliveryRecord, IngestRequest, Outcome};
use hookflow_store::{crypto, new_id, now_ms};
use http_body_util::{BodyExt, Limited};
use std::sync::Arc;

use crate::problem::Problem;
use crate::state::AppState;

/// The header that may carry the key instead of the query string.
const API_KEY_HEADER: &str = "x-api-key";
/// Bodies larger than this are checked on a blocking thread, off the async workers.
const INLINE_PARSE_MAX: usize = 64 * 1024;

pub async fn receive(
    State(st): State<AppState>,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Response {
    // The request taken apart, not its parts extracted one by one (which would clone them).
    let (parts, body) = req.into_parts();
    let answer = handle(&st, id, parts.method, parts.uri, parts.headers, body).await;
    let status = match &answer {
        Ok(_) => 202,
        Err(p) => p.status.as_u16(),
    };
    metrics::counter!("hookflow_webhook_requests_total", "status" => status_label(status))
        .increment(1);
    match answer {
        Ok(delivery_id) => {
            let mut res = StatusCode::ACCEPTED.into_response();
            let h = res.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            if let Ok(v) = HeaderValue::from_str(&delivery_id) {
                h.insert("x-delivery-id", v);
            }
            res
        }
        Err(p) => {
            let unread_body = p.status == StatusCode::PAYLOAD_TOO_LARGE;
            let mut res = p.into_response();
            if unread_body {
                // The body was not (fully) read: the connection cannot carry another request.
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            res
        }
    }
}

fn status_label(status: u16) -> &'static str {
    match status {
        202 => "202",
        400 => "400",
        401 => "401",
        405 => "405",
        406 => "406",
        413 => "413",
        415 => "415",
        429 => "429",
        503 => "503",
        _ => "other",
    }
}

async fn handle(
    st: &AppState,
    id: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<String, Problem> {
    let received_at = now_ms();
    let Some(hook) = lookup(st, &id).await? else {
        // Unknown webhook: nothing to record. Method first, as for a known one.
        return Err(if method != Method::POST {
            Rejection::method_not_allowed(method.as_str()).into()
        } else {
            Rejection::unauthorized().into()
        });
    };
    let raw_query = uri.query().unwrap_or("");
    let presented = query::api_key(raw_query).or_else(|| {
        headers
            .get(API_KEY_HEADER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    });
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut facts = RequestFacts {
        method: method.as_str().to_string(),
        key_hash: presented.as_deref().map(crypto::digest),
        accept: header_text(&headers, header::ACCEPT),
        content_type: header_text(&headers, header::CONTENT_TYPE),
        body_len: declared_len,
    };
    drop(presented);
    let max_body = st.limits.max_body;
    let mut precheck = check_request(&hook, &facts, max_body, received_at).err();

    // Read the body unless the declared length is already too large (then it is never read),
    // within the memory budget for bodies in flight: past it, answer 503 rather than buffer more.
    let mut _held = None;
    let bytes = if precheck.as_ref().is_some_and(|r| r.status == 413) {
        Bytes::new()
    } else {
        let kib = facts
            .body_len
            .unwrap_or(max_body)
            .min(max_body)
            .div_ceil(1024)
            .max(1);
        match st.ingest_buffer.clone().try_acquire_many_owned(kib as u32) {
            Ok(permit) => _held = Some(permit),
            Err(_) => {
                metrics::counter!("hookflow_ingest_shed_total").increment(1);
                return Err(Rejection::overloaded(1).into());
            }
        }
        match Limited::new(body, max_body as usize).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                let r = Rejection::too_large_streamed(max_body);
                if precheck.is_none() {
                    precheck = Some(r);
                }
                facts.body_len = Some(max_body + 1);
                Bytes::new()
            }
            Err(_) => {
                return Err(Problem::bad_request(
                    "the request body could not be read completely",
                ));
            }
        }
    };
    if facts.body_len.is_none() {
        facts.body_len = Some(bytes.len() as u64);
    }

    // Check 7, only worth doing when 1–5 passed (the journal decides 6 before it).
    let body_error = if precheck.is_none() {
        parse_error(facts.content_type.as_deref(), &bytes).await
    } else {
        None
    };

    let record = DeliveryRecord {
        id: new_id(),
        received_at,
        method: facts.method.clone(),
        content_type: facts.content_type.clone(),
        headers: recorded::headers_json(headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()))),
        query: serde_json::to_string(&hookflow_core::body::form_to_value(
            &query::without_api_key(raw_query),
        ))
        .unwrap_or_else(|_| "{}".into()),
        body_size: facts.body_len.map(|n| n as i64).unwrap_or(0),
        body: bytes,
    };
    let req = IngestRequest {
        webhook_id: hook.id.clone(),
        seen_version: hook.version,
        facts,
        precheck,
        body_error,
        record,
    };
    match st.journal.submit(req).await {
        Ok(Outcome::Accepted { delivery_id }) => Ok(delivery_id),
        Ok(Outcome::Rejected { rejection, .. }) => Err(rejection.into()),
        Err(overloaded) => Err(overloaded.into()),
    }
}

/// The webhook's check data: the journal's cache, else the database.
async fn lookup(st: &AppState, id: &str) -> Result<Option<Arc<WebhookAuth>>, Problem> {
    if let Some(h) = st.journal.cached(id) {
        return Ok(Some(h));
    }
    if uuid::Uuid::parse_str(id).is_err() {
        return Ok(None);
    }
    match st.store.webhook_auth(id).await {
        Ok(Some(a)) => Ok(Some(st.journal.remember(a))),
        Ok(None) => Ok(None),
        Err(e) => Err(Problem::from(Rejection::overloaded(1)).with_log(&e)),
    }
}

impl Problem {
    fn with_log(self, e: &dyn std::fmt::Display) -> Problem {
        tracing::warn!(error = %e, "webhook lookup failed");
        self
    }
}

fn header_text(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let values: Vec<String> = h
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// Why the body does not parse as its content type says, if it does not.
async fn parse_error(content_type: Option<&str>, body: &Bytes) -> Option<String> {
    let format = content_type.and_then(MediaType::parse)?.body_format()?;
    if body.len() <= INLINE_PARSE_MAX {
        return validate(format, body, &BodyLimits::default())
            .err()
            .map(|e| e.to_string());
    }
    let body = body.clone();
    tokio::task::spawn_blocking(move || validate(format, &body, &BodyLimits::default()))
        .await
        .unwrap_or(Ok(()))
        .err()
        .map(|e| e.to_string())
}
