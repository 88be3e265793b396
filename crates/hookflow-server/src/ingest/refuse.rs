//! Answering a request refused for its key or method, or sent to a webhook that does not
//! exist: what is recorded of it (its body up to the kept size, read within a bound and only
//! while the budget of unauthenticated requests has room), and an answer that comes no sooner
//! than the floor, so that its timing does not tell a known webhook from an unknown one.

use std::net::IpAddr;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::http::Method;
use bytes::Bytes;
use hookflow_core::ingest::{Rejection, RequestFacts, WebhookAuth};
use hookflow_core::query;
use hookflow_store::crypto;
use hookflow_store::journal::IngestRequest;
use http_body_util::BodyExt;
use tokio::time::Instant;

use super::{DeliveryCount, Incoming, count_delivery, delivery_record};
use crate::problem::Problem;
use crate::state::AppState;

/// How long a refused request's body may take to arrive for its record; after that the record
/// keeps what came, and the connection is closed.
const REFUSED_BODY_WAIT: Duration = Duration::from_secs(2);

/// The answer to a request for a webhook that does not exist: 405 or 401, like a known one, and
/// at the same moment ([`answer_at_floor`]). Its body is read as a refused one of a known
/// webhook's is, and dropped.
pub(super) async fn refuse_unknown(st: &AppState, req: Incoming) -> Problem {
    req.give_back_place();
    // Work like a known webhook's key check, so the two cost the same.
    let presented = query::api_key(req.uri.query().unwrap_or(""));
    std::hint::black_box(presented.as_deref().map(crypto::digest));
    let rejection = if req.method != Method::POST {
        Rejection::method_not_allowed(req.method.as_str())
    } else {
        Rejection::unauthorized()
    };
    let limit = st.limits.rejected_body_max as u64;
    let (_, complete) = read_refused_body(st, "", req.client, req.body, limit).await;
    answer_at_floor(st, req.received, rejection, complete).await
}

/// A request refused for its key or method by a known webhook: recorded (its body up to the
/// kept size, if the unauthenticated budget has room) without waiting for the commit, and
/// answered at the same moment as an unknown webhook's.
pub(super) async fn refuse_known(
    st: &AppState,
    hook: &WebhookAuth,
    mut facts: RequestFacts,
    rejection: Rejection,
    received_at: i64,
    req: Incoming,
) -> Problem {
    req.give_back_place();
    count_delivery(&hook.id, DeliveryCount::Rejected);
    let limit = st.limits.rejected_body_max as u64;
    let (bytes, complete) = read_refused_body(st, &hook.id, req.client, req.body, limit).await;
    if facts.body_len.is_none() && complete {
        facts.body_len = Some(bytes.len() as u64);
    }
    if st.budgets.may_record(&hook.id, received_at / 1000) {
        let raw_query = req.uri.query().unwrap_or("");
        let record = delivery_record(&facts, &req.headers, raw_query, received_at, bytes);
        let queued = st.journal.record_answered(IngestRequest {
            webhook_id: hook.id.clone(),
            seen_version: hook.version,
            facts,
            precheck: Some(rejection.clone()),
            answered: true,
            body_error: None,
            dedup: None,
            verification: None,
            record,
            trace: None,
        });
        if !queued {
            metrics::counter!("hookflow_rejections_unrecorded_total", "why" => "queue")
                .increment(1);
        }
    } else {
        metrics::counter!("hookflow_rejections_unrecorded_total", "why" => "rate").increment(1);
    }
    answer_at_floor(st, req.received, rejection, complete).await
}

/// Reads up to `limit` bytes of a refused request's body for its record, if the budget of
/// unauthenticated requests has room and the body comes within [`REFUSED_BODY_WAIT`]. Answers
/// what was read and whether that is the whole body.
async fn read_refused_body(
    st: &AppState,
    webhook: &str,
    client: IpAddr,
    mut body: Body,
    limit: u64,
) -> (Bytes, bool) {
    if body.is_end_stream() {
        return (Bytes::new(), true);
    }
    let want = body.size_hint().exact().unwrap_or(limit).min(limit);
    let Ok(_held) = st.budgets.unauthenticated(client, webhook, want) else {
        metrics::counter!("hookflow_refused_bodies_unread_total").increment(1);
        return (Bytes::new(), false);
    };
    let mut buf = bytes::BytesMut::new();
    let read = tokio::time::timeout(REFUSED_BODY_WAIT, async {
        while (buf.len() as u64) < limit {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        buf.extend_from_slice(&data);
                    }
                }
                Some(Err(_)) => return false,
                None => return true,
            }
        }
        body.is_end_stream()
    })
    .await;
    buf.truncate(limit as usize);
    (buf.freeze(), read.unwrap_or(false))
}

/// Answers `rejection` no earlier than `--unauthorized-delay-ms` after the request arrived, so
/// that the time of a 401 does not tell a known webhook from an unknown one.
async fn answer_at_floor(
    st: &AppState,
    received: Instant,
    rejection: Rejection,
    complete: bool,
) -> Problem {
    tokio::time::sleep_until(received + st.limits.unauthorized_delay).await;
    let p = Problem::from(rejection);
    if complete { p } else { p.closing() }
}
