//! `POST /webhooks/{id}` (SPEC §2): checks 1–5 and 7 here, check 6 and the durable record in the
//! delivery journal. Every request to a known webhook is handed to the journal — accepted ones
//! to be stored with a 202, rejected ones to be recorded with their reason — and answered only
//! with the journal's committed decision.

mod budget;
mod refuse;
mod trace;
mod verify;

use std::net::IpAddr;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hookflow_core::body::{BodyLimits, validate};
use hookflow_core::filters::dedup_key;
use hookflow_core::ingest::{Rejection, RequestFacts, WebhookAuth, check_request};
use hookflow_core::media::MediaType;
use hookflow_core::{query, recorded};
use hookflow_store::journal::{DedupKey, DeliveryRecord, IngestRequest, Outcome};
use hookflow_store::{crypto, new_id, now_ms};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::Arc;
use tokio::time::Instant;

use crate::net;
use crate::net::deadline::{BodyTimeout, InFlight};
use crate::openapi::ProblemDocument;
use crate::problem::Problem;
use crate::state::AppState;

pub use budget::{BudgetLimits, IngestBudgets, Short};
use refuse::{refuse_known, refuse_unknown};

/// The header that may carry the key instead of the query string.
const API_KEY_HEADER: &str = "x-api-key";
/// How long a webhook not in the journal's cache may be looked up in the database.
pub(crate) const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);
/// Bodies larger than this are checked on a blocking thread, off the async workers.
const INLINE_PARSE_MAX: usize = 64 * 1024;

/// Deliver a request to a webhook
///
/// Checks, in order; the first that fails decides the answer: method is POST (405), webhook
/// exists and the key matches (401, the same for an unknown webhook and a wrong key), `Accept`
/// admits `application/json` (406), `Content-Type` equals the webhook's configured type (415),
/// body at most the size limit (413), the signature when the webhook has `verification` (401 with
/// a `detail` naming what was wrong; in `log_only` mode accepted with the verdict recorded), rate
/// limits (429) — so forged requests spend no quota, body parses as its content type (400). The
/// request needs an `Accept` header that admits `application/json` and a `Content-Type` (also
/// with an empty body). An accepted request is committed to disk before the 202 is sent.
/// Rejections of a known webhook are recorded as deliveries with their reason. Any other method
/// on this path is answered 405 with `Allow: POST`.
#[utoipa::path(post, path = "/webhooks/{id}", tag = "ingest", operation_id = "receiveWebhook",
    params(
        ("id" = String, Path, description = "The webhook's id."),
        ("api_key" = Option<String>, Query, allow_reserved,
            description = "The webhook's key, raw or percent-encoded (a raw `+` is a plus, not a \
                space). Either this or `X-Api-Key`."),
        ("X-Api-Key" = Option<String>, Header,
            description = "The webhook's key, keeping it out of access logs."),
    ),
    request_body(
        description = "Any body of the webhook's configured content type; an empty body is \
            allowed. `Content-Type` is required even when the body is empty.",
        content(
            (Option<serde_json::Value> = "application/json"),
            (Option<Object> = "application/x-www-form-urlencoded"),
            (Option<String> = "application/xml"),
        )
    ),
    responses(
        (status = 202, description = "Accepted and durably recorded; empty body.",
            headers(
                ("X-Delivery-Id" = String,
                    description = "The delivery's id (see `GET /api/v1/deliveries/{id}`)."),
                ("X-Duplicate-Of" = String,
                    description = "Only on a duplicate (SPEC §9): the id of the delivery first \
                        accepted with the same dedup key within the webhook's window. The \
                        duplicate is recorded (its own id is `X-Delivery-Id`) and starts no run."),
            )),
        (status = 400, description = "The body does not parse as its content type says, or could \
            not be read.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "Unknown webhook or wrong/missing key (the key is not needed \
            when the webhook's verification has `require_api_key: false`), or — check 5b — the \
            signature does not verify (`detail` starts with `signature verification failed:`).",
            body = ProblemDocument, content_type = "application/problem+json"),
        (status = 405, description = "Method is not POST.", body = ProblemDocument,
            content_type = "application/problem+json",
            headers(("Allow" = String, description = "`POST`."))),
        (status = 406, description = "`Accept` is missing or does not admit `application/json`.",
            body = ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the limit (default 1 MiB); a larger \
            `Content-Length` is refused unread.", body = ProblemDocument,
            content_type = "application/problem+json"),
        (status = 415, description = "`Content-Type` is missing or differs from the webhook's; \
            `detail` names both.", body = ProblemDocument,
            content_type = "application/problem+json"),
        (status = 429, description = "A rate limit of the webhook is exhausted.",
            body = ProblemDocument, content_type = "application/problem+json",
            headers(("Retry-After" = u64,
                description = "Whole seconds until the refusing window resets."))),
        (status = 503, description = "Overloaded or the database is unavailable; retry later.",
            body = ProblemDocument, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ))]
pub async fn receive(
    State(st): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    req: axum::extract::Request,
) -> Response {
    let received = Instant::now();
    // The request taken apart, not its parts extracted one by one (which would clone them).
    let (parts, body) = req.into_parts();
    let client = net::client_ip(&parts.extensions).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let span = trace::RequestSpan::start(&parts.method, parts.uri.path(), &parts.headers);
    let incoming = Incoming {
        trace: span.as_ref().map(trace::RequestSpan::context),
        received,
        client,
        place: parts.extensions.get::<InFlight>().cloned(),
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
    };
    // A path that is not text (`/webhooks/%ff`) names no webhook: the same answer as an unknown id.
    let answer = match id {
        Ok(Path(id)) => handle(&st, id, incoming).await,
        Err(_) => Err(refuse_unknown(&st, incoming).await),
    };
    let status = match &answer {
        Ok(_) => 202,
        Err(p) => p.status.as_u16(),
    };
    metrics::counter!("hookflow_webhook_requests_total", "status" => status_label(status))
        .increment(1);
    if let Some(span) = span {
        span.finish(status);
    }
    match answer {
        Ok(Accepted {
            delivery_id,
            duplicate_of,
        }) => {
            let mut res = StatusCode::ACCEPTED.into_response();
            let h = res.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            if let Ok(v) = HeaderValue::from_str(&delivery_id) {
                h.insert("x-delivery-id", v);
            }
            if let Some(Ok(v)) = duplicate_of.as_deref().map(HeaderValue::from_str) {
                h.insert("x-duplicate-of", v);
            }
            res
        }
        Err(p) => p.into_response(),
    }
}

fn status_label(status: u16) -> &'static str {
    match status {
        202 => "202",
        400 => "400",
        401 => "401",
        405 => "405",
        406 => "406",
        408 => "408",
        413 => "413",
        415 => "415",
        429 => "429",
        503 => "503",
        _ => "other",
    }
}

/// A 202: the delivery recorded and, for a duplicate (SPEC §9), the first delivery with its key.
struct Accepted {
    delivery_id: String,
    duplicate_of: Option<String>,
}

/// A webhook request as it arrived.
struct Incoming {
    received: Instant,
    client: IpAddr,
    /// Its place among the requests handled at once: given back once it is refused.
    place: Option<InFlight>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
    /// The request's span, when traces are exported.
    trace: Option<opentelemetry::trace::SpanContext>,
}

impl Incoming {
    /// A refused request leaves the count of requests in flight before it waits for its body
    /// (at most [`REFUSED_BODY_WAIT`], from the budget of unauthenticated requests): requests
    /// without a key cannot take the places of valid ones.
    fn give_back_place(&self) {
        if let Some(p) = &self.place {
            p.release();
        }
    }
}

async fn handle(st: &AppState, id: String, req: Incoming) -> Result<Accepted, Problem> {
    let received_at = now_ms();
    let Some(mut hook) = lookup(st, &id).await? else {
        return Err(refuse_unknown(st, req).await);
    };
    let raw_query = req.uri.query().unwrap_or("");
    let presented = query::api_key(raw_query).or_else(|| {
        req.headers
            .get(API_KEY_HEADER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    });
    let declared_len = req
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut facts = RequestFacts {
        method: req.method.as_str().to_string(),
        key_hash: presented.as_deref().map(crypto::digest),
        accept: header_text(&req.headers, header::ACCEPT),
        content_type: header_text(&req.headers, header::CONTENT_TYPE),
        body_len: declared_len,
    };
    drop(presented);
    let max_body = st.limits.max_body;
    let mut precheck = check_request(&hook, &facts, max_body, received_at).err();
    if precheck.as_ref().is_some_and(|r| r.status == 401)
        && st.budgets.may_recheck(&id, req.received.into_std())
    {
        // The cached view may be older than a key rotated on another node: the database decides
        // before a key is refused (at most once per webhook every `RECHECK_EVERY`, so a flood of
        // wrong keys costs no database reads).
        hook = match refresh(st, &id).await? {
            Some(fresh) => fresh,
            None => return Err(refuse_unknown(st, req).await),
        };
        precheck = check_request(&hook, &facts, max_body, received_at).err();
    }
    if let Some(r) = precheck.as_ref().filter(|r| matches!(r.status, 401 | 405)) {
        // Refused before the body matters: answered without waiting for the disk, from the
        // small budget of unauthenticated requests.
        let rejection = r.clone();
        return Err(refuse_known(st, &hook, facts, rejection, received_at, req).await);
    }

    // Read the body unless the declared length is already too large (then it is never read),
    // within the memory budget for bodies in flight: past it, answer 503 rather than buffer more.
    let mut close = false;
    let mut _held = None;
    let bytes = if precheck.as_ref().is_some_and(|r| r.status == 413) {
        close = true;
        Bytes::new()
    } else {
        let want = facts.body_len.unwrap_or(max_body).min(max_body);
        match st.budgets.body(req.client, &hook.id, want) {
            Ok(held) => _held = Some(held),
            Err(short) => {
                metrics::counter!("hookflow_ingest_shed_total").increment(1);
                return Err(Problem::from(Rejection::overloaded(1))
                    .with_detail(short_detail(short, &st.budgets.limits))
                    .closing());
            }
        }
        match Limited::new(req.body, max_body as usize).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                let r = Rejection::too_large_streamed(max_body);
                if precheck.is_none() {
                    precheck = Some(r);
                }
                facts.body_len = Some(max_body + 1);
                close = true;
                Bytes::new()
            }
            Err(e) => {
                return Err(match BodyTimeout::find(e.as_ref()) {
                    Some(t) => t.problem(),
                    None => Problem::bad_request("the request body could not be read completely"),
                }
                .closing());
            }
        }
    };
    if facts.body_len.is_none() {
        facts.body_len = Some(bytes.len() as u64);
    }
    // Check 5b over the exact bytes received (a body cut at the size limit is not verified).
    let verification = if close {
        None
    } else {
        verify::verdict(st, &hook, &req.headers, &bytes, req.received)
            .await
            .map(Box::new)
    };

    // Check 7, only worth doing when 1–5 passed (the journal decides 6 before it).
    let body_error = if precheck.is_none() {
        parse_error(facts.content_type.as_deref(), &bytes).await
    } else {
        None
    };

    let record = delivery_record(&facts, &req.headers, raw_query, received_at, bytes);
    let mut ingest = IngestRequest {
        webhook_id: hook.id.clone(),
        seen_version: hook.version,
        facts,
        answered: false,
        dedup: None,
        verification,
        record,
        precheck,
        body_error,
        trace: None,
    };
    // A request whose signature failed takes no part in duplicate detection (the journal skips
    // it): its key is not worth computing.
    let verified = ingest
        .verification
        .as_ref()
        .is_none_or(|v| v.verdict == hookflow_core::verify::VerdictKind::Valid);
    if ingest.precheck.is_none() && ingest.body_error.is_none() && verified {
        ingest = with_dedup_key(st, &hook, ingest).await;
    }
    let spans = (req.trace.as_ref())
        .and_then(|parent| trace::JournalSpans::start(parent, &hook.id, &ingest.record.id));
    ingest.trace = spans.as_ref().map(|s| Box::new(s.stored()));
    let outcome = st.journal.submit(ingest).await;
    if let Some(spans) = spans {
        spans.finish(outcome.as_ref().ok());
    }
    let answer = match outcome {
        Ok(Outcome::Accepted { delivery_id }) => {
            count_delivery(&hook.id, DeliveryCount::Accepted);
            Ok(Accepted {
                delivery_id,
                duplicate_of: None,
            })
        }
        Ok(Outcome::Duplicate {
            delivery_id,
            duplicate_of,
        }) => {
            count_delivery(&hook.id, DeliveryCount::Duplicate);
            Ok(Accepted {
                delivery_id,
                duplicate_of: Some(duplicate_of),
            })
        }
        Ok(Outcome::Rejected { rejection, .. }) => {
            count_delivery(&hook.id, DeliveryCount::Rejected);
            Err(rejection.into())
        }
        Err(overloaded) => Err(overloaded.into()),
    };
    answer.map_err(|p: Problem| if close { p.closing() } else { p })
}

/// Computes the request's duplicate-detection key when its webhook has `dedup` (SPEC §9), off
/// the journal's writer; a large body's on a blocking thread, like its parse check.
async fn with_dedup_key(
    st: &AppState,
    hook: &Arc<WebhookAuth>,
    mut req: IngestRequest,
) -> IngestRequest {
    let Some(dedup) = &hook.dedup else {
        return req;
    };
    let expression = dedup.expression().to_string();
    let key = if req.record.body.len() <= INLINE_PARSE_MAX {
        let recorded = req.record.recorded((&hook.id, &hook.name), None);
        dedup_key(&st.engine.sandbox, &recorded, &expression)
    } else {
        let (sandbox, hook, record) = (st.engine.sandbox.clone(), hook.clone(), req.record.clone());
        let expr = expression.clone();
        tokio::task::spawn_blocking(move || {
            dedup_key(
                &sandbox,
                &record.recorded((&hook.id, &hook.name), None),
                &expr,
            )
        })
        .await
        .unwrap_or(None)
    };
    req.dedup = Some(DedupKey { expression, key });
    req
}

/// The outcomes `hookflow_deliveries_total` counts, per webhook (its id: never a key).
#[derive(Clone, Copy)]
pub enum DeliveryCount {
    Accepted,
    Rejected,
    /// A repeat of an accepted request within a webhook's deduplication window (SPEC §9).
    Duplicate,
}

impl DeliveryCount {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryCount::Accepted => "accepted",
            DeliveryCount::Rejected => "rejected",
            DeliveryCount::Duplicate => "duplicate",
        }
    }
}

/// Counts one request a known webhook received, by outcome.
pub fn count_delivery(webhook_id: &str, outcome: DeliveryCount) {
    metrics::counter!(
        "hookflow_deliveries_total",
        "webhook" => webhook_id.to_string(),
        "status" => outcome.as_str()
    )
    .increment(1);
}

fn delivery_record(
    facts: &RequestFacts,
    headers: &HeaderMap,
    raw_query: &str,
    received_at: i64,
    body: Bytes,
) -> DeliveryRecord {
    DeliveryRecord {
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
        body,
    }
}

fn short_detail(short: Short, l: &BudgetLimits) -> String {
    let mib = |b: u64| b / 1_048_576;
    match short {
        Short::Total => format!(
            "the server holds {} MiB of webhook bodies, the most allowed (--ingest-memory-mb); \
             nothing was recorded, retry later",
            mib(l.bodies)
        ),
        Short::Client => format!(
            "this client address has {} MiB of webhook bodies in flight, the most allowed \
             (--ingest-memory-per-client-mb); nothing was recorded, retry later",
            mib(l.bodies_per_client)
        ),
        Short::Webhook => format!(
            "this webhook has {} MiB of bodies in flight, the most allowed \
             (--ingest-memory-per-webhook-mb); nothing was recorded, retry later",
            mib(l.bodies_per_webhook)
        ),
    }
}

/// The webhook's check data: the journal's cache, else the database — which gets
/// [`LOOKUP_TIMEOUT`], so that while it cannot be reached the answer is a prompt 503.
async fn lookup(st: &AppState, id: &str) -> Result<Option<Arc<WebhookAuth>>, Problem> {
    if let Some(h) = st.journal.cached(id) {
        return Ok(Some(h));
    }
    refresh(st, id).await
}

/// The webhook's check data as committed (and cached from now on).
async fn refresh(st: &AppState, id: &str) -> Result<Option<Arc<WebhookAuth>>, Problem> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Ok(None);
    }
    match tokio::time::timeout(LOOKUP_TIMEOUT, st.store.webhook_auth(id)).await {
        Ok(Ok(Some(a))) => Ok(Some(st.journal.remember(a))),
        Ok(Ok(None)) => Ok(None),
        Ok(Err(e)) => Err(Problem::from(Rejection::overloaded(1)).with_log(&e)),
        Err(_) => Err(Problem::from(Rejection::overloaded(1)).with_log(&"no answer in time")),
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
