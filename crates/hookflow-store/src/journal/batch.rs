//! What one batch decides and writes, the same on either backend: SPEC §2's checks against the
//! committed webhook and the rate windows ([`decide`]), routing of the accepted requests
//! ([`route`]), the delivery rows to insert ([`rows`]) and answering the batch's jobs
//! ([`finish`]). The writers (`sqlite.rs`, `postgres.rs`) read, call these and write.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hookflow_core::expr::Sandbox;
use hookflow_core::filters;
use hookflow_core::ingest::rate::{RateClock, Windows};
use hookflow_core::ingest::{Rejection, WebhookAuth, check_request};
use hookflow_core::recorded::cap_headers;

use super::sql::RouteRow;
use super::{
    IngestRequest, JournalOptions, LastWriteError, Outcome, Work, WriteFailed, WriterAnswer,
    WriterOp, dedup,
};
use crate::Result;
use crate::runs::{NewRun, TriggerKind};

/// A webhook of the batch as committed, with its current window counts (rows locked until the
/// transaction ends on PostgreSQL).
pub(crate) struct Loaded {
    pub auth: Arc<WebhookAuth>,
    pub windows: Windows,
}

impl Loaded {
    /// Webhook `auth` with the `(period, count)` rows of its current windows
    /// (`sql::TOUCH_RATES_SQL`).
    pub fn new(auth: WebhookAuth, windows: impl IntoIterator<Item = (String, i64)>) -> Loaded {
        let (mut minute, mut day) = (0, 0);
        for (period, count) in windows {
            if period == "minute" {
                minute = count;
            } else {
                day = count;
            }
        }
        Loaded {
            auth: Arc::new(auth),
            windows: Windows { minute, day },
        }
    }
}

/// What a batch writes, decided from what it read.
pub(crate) struct Plan {
    pub outcomes: Vec<Outcome>,
    /// New window counts of webhooks that accepted requests: (id, minute, day).
    pub counts: Vec<(String, i64, i64)>,
    /// Webhooks whose limit refused a request in this batch.
    pub limited: Vec<String>,
    /// Webhooks that got rejected deliveries (their retention must be enforced).
    pub rejected: Vec<String>,
}

/// SPEC §1/§4 routing of accepted requests ([`hookflow_core::routing::route`]). Returns the
/// routing JSON of each request (None for rejected ones) and the runs to enqueue in the
/// delivery's transaction (each continuing the delivery's routing span, see
/// [`DeliveryTrace`](super::DeliveryTrace)).
pub(crate) fn route(
    reqs: &[&IngestRequest],
    outcomes: &[Outcome],
    loaded: &HashMap<String, Loaded>,
    routes: &HashMap<String, Vec<RouteRow>>,
    sandbox: &Sandbox,
) -> (Vec<Option<String>>, Vec<NewRun>) {
    let mut routing = Vec::with_capacity(reqs.len());
    let mut runs = Vec::new();
    for (req, outcome) in reqs.iter().zip(outcomes) {
        let Outcome::Accepted { delivery_id } = outcome else {
            routing.push(None);
            continue;
        };
        let rows = routes
            .get(&req.webhook_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let decided = hookflow_core::routing::route(
            rows,
            |with_filter| match loaded.get(&req.webhook_id) {
                Some(hook) => {
                    let verification = req.verification.as_ref().map(|v| v.to_json());
                    let recorded = req.recorded(&hook.auth.name, verification.as_deref());
                    filters::evaluate(sandbox, &recorded, with_filter)
                }
                None => Vec::new(),
            },
            None,
            || Some(crate::new_id()),
        );
        runs.extend(decided.runs.into_iter().map(|r| NewRun {
            delivery_id: Some(delivery_id.clone()),
            event_id: Some(r.event_id),
            traceparent: req.trace.as_ref().map(|t| t.routing.clone()),
            ..NewRun::new(
                r.id.unwrap_or_default(),
                TriggerKind::Webhook,
                r.workflow_id,
                r.workflow_name,
            )
        }));
        let record = serde_json::to_string(&decided.record).unwrap_or_else(|_| "{}".into());
        routing.push(Some(record));
    }
    (routing, runs)
}

/// The distinct webhook ids of a batch.
///
/// Sorted: the batch locks rate-window rows in this order, and one order on every node means two
/// nodes' batches cannot deadlock on PostgreSQL.
pub(crate) fn distinct_ids<'a>(reqs: &'a [&'a IngestRequest]) -> Vec<&'a str> {
    let mut ids: Vec<&str> = reqs.iter().map(|r| r.webhook_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// SPEC §2 for a batch, in arrival order: checks 1–5 again where the webhook changed since the
/// HTTP layer looked, then the rate windows (6), then the body (7). Pure: the same decision on
/// either backend.
pub(crate) fn decide(
    reqs: &[&IngestRequest],
    loaded: &mut HashMap<String, Loaded>,
    opts: &JournalOptions,
    clock: RateClock,
) -> Plan {
    let mut outcomes = Vec::with_capacity(reqs.len());
    let mut accepted: HashSet<&str> = HashSet::new();
    let mut limited: HashSet<&str> = HashSet::new();
    let mut rejected: HashSet<&str> = HashSet::new();
    for req in reqs {
        let Some(hook) = loaded.get_mut(&req.webhook_id) else {
            outcomes.push(Outcome::Rejected {
                delivery_id: None,
                rejection: Rejection::unauthorized(),
            });
            continue;
        };
        let pre = if hook.auth.version == req.seen_version || req.answered {
            req.precheck.clone()
        } else {
            check_request(&hook.auth, &req.facts, opts.max_body, clock.now).err()
        };
        let rejection = if let Some(r) = pre {
            Some(r)
        } else if let Some(v) = req.verification.as_ref().filter(|v| v.refuses()) {
            Some(Rejection::signature(&v.detail))
        } else if let Err(limit) = hook.windows.check(&hook.auth, &clock) {
            limited.insert(&req.webhook_id);
            Some(limit)
        } else {
            req.body_error
                .as_ref()
                .map(|e| Rejection::bad_body(e.clone()))
        };
        outcomes.push(match rejection {
            Some(rejection) => {
                rejected.insert(&req.webhook_id);
                Outcome::Rejected {
                    delivery_id: Some(req.record.id.clone()),
                    rejection,
                }
            }
            None => {
                hook.windows.count();
                accepted.insert(&req.webhook_id);
                Outcome::Accepted {
                    delivery_id: req.record.id.clone(),
                }
            }
        });
    }
    let own = |set: HashSet<&str>| set.into_iter().map(str::to_string).collect::<Vec<_>>();
    Plan {
        counts: accepted
            .iter()
            .map(|id| {
                let w = loaded[*id].windows;
                (id.to_string(), w.minute, w.day)
            })
            .collect(),
        outcomes,
        limited: own(limited),
        rejected: own(rejected),
    }
}

/// One delivery row as written: status, HTTP status, reason, the body kept.
pub(crate) struct Row<'a> {
    pub req: &'a IngestRequest,
    /// JSON: the events matched and the runs started (accepted requests only).
    pub routing: Option<String>,
    pub status: &'static str,
    pub http_status: i64,
    /// The rejection's detail, free of NUL characters (see [`crate::text`]).
    pub reason: Option<Cow<'a, str>>,
    pub body: Bytes,
    pub truncated: bool,
    /// The headers kept (a rejected request's cut to `rejected_header_max`).
    pub headers: Cow<'a, str>,
    /// A duplicate's first delivery (SPEC §9).
    pub duplicate_of: Option<&'a str>,
    /// Check 5b's verdict as JSON, if the webhook verifies signatures.
    pub verification: Option<String>,
    /// The delivery span's `traceparent` (README, "Traces").
    pub traceparent: Option<&'a str>,
    /// The dedup key this delivery holds: its hash and the end of its window.
    pub dedup_key_hash: Option<[u8; 32]>,
    pub dedup_expires_at: Option<i64>,
}

/// The rows to insert for a decided batch (nothing for requests to webhooks that are gone).
/// `held` is the key each request holds by index (see `dedup::mark_duplicates`; shorter when
/// no request claimed one).
pub(crate) fn rows<'a>(
    reqs: &[&'a IngestRequest],
    outcomes: &'a [Outcome],
    held: &[Option<dedup::HeldKey>],
    routing: &mut [Option<String>],
    opts: &JournalOptions,
) -> Vec<Row<'a>> {
    reqs.iter()
        .zip(outcomes)
        .zip(routing.iter_mut())
        .enumerate()
        .filter_map(|(i, ((req, outcome), routing))| {
            let held = held.get(i).copied().flatten();
            let rec = &req.record;
            let (http_status, reason, body, headers) = match outcome {
                // A duplicate is recorded whole, as the request it repeats was.
                Outcome::Accepted { .. } | Outcome::Duplicate { .. } => (
                    202,
                    None,
                    rec.body.clone(),
                    Cow::Borrowed(rec.headers.as_str()),
                ),
                Outcome::Rejected {
                    delivery_id: Some(_),
                    rejection,
                } => (
                    rejection.status as i64,
                    Some(crate::text(&rejection.detail)),
                    rec.body.slice(..rec.body.len().min(opts.rejected_body_max)),
                    cap_headers(&rec.headers, opts.rejected_header_max),
                ),
                Outcome::Rejected {
                    delivery_id: None, ..
                } => return None,
            };
            Some(Row {
                req,
                duplicate_of: match outcome {
                    Outcome::Duplicate { duplicate_of, .. } => Some(duplicate_of.as_str()),
                    _ => None,
                },
                routing: routing.take(),
                status: outcome.status(),
                http_status,
                reason,
                truncated: (body.len() as i64) < rec.body_size,
                body,
                headers,
                verification: req.verification.as_ref().map(|v| v.to_json()),
                traceparent: req.trace.as_ref().map(|t| t.delivery.as_str()),
                dedup_key_hash: held.map(|(hash, _)| hash),
                dedup_expires_at: held.map(|(_, until)| until),
            })
        })
        .collect()
}

/// What a batch's transaction returns: the ingest outcomes and the other operations' answers,
/// each in the order of their jobs.
pub(crate) type BatchResult = Result<(Vec<Outcome>, Vec<Result<WriterAnswer, String>>)>;

/// Splits a batch into its ingest requests and other operations (each in order).
pub(crate) fn split(batch: &[Work]) -> (Vec<&IngestRequest>, Vec<&WriterOp>) {
    let mut reqs = Vec::new();
    let mut ops = Vec::new();
    for w in batch {
        match w {
            Work::Ingest(j) => reqs.push(&j.req),
            Work::Op(j) => ops.push(&j.op),
        }
    }
    (reqs, ops)
}

/// Answers a batch and records its metrics.
pub(crate) fn finish(
    batch: &mut Vec<Work>,
    result: BatchResult,
    started: Instant,
    last_error: &LastWriteError,
) {
    metrics::histogram!("hookflow_journal_batch_size").record(batch.len() as f64);
    metrics::histogram!("hookflow_journal_commit_seconds").record(started.elapsed().as_secs_f64());
    if let Ok(mut last) = last_error.lock() {
        *last = result.as_ref().err().map(|e| e.to_string());
    }
    match result {
        Ok((outcomes, replies)) => {
            let mut outcomes = outcomes.into_iter();
            let mut replies = replies.into_iter();
            for w in batch.drain(..) {
                match w {
                    Work::Ingest(j) => {
                        let o = outcomes.next().ok_or_else(|| Rejection::overloaded(1));
                        let _ = j.reply.send(o);
                    }
                    Work::Op(j) => {
                        let r = replies
                            .next()
                            .unwrap_or_else(|| Err("no reply for a write".into()));
                        let _ = j.reply.send(r.map_err(WriteFailed::Op));
                    }
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, batch = batch.len(), "journal commit failed; answering 503");
            metrics::counter!("hookflow_journal_commit_failures_total").increment(1);
            for w in batch.drain(..) {
                match w {
                    Work::Ingest(j) => {
                        let _ = j.reply.send(Err(Rejection::overloaded(1)));
                    }
                    Work::Op(j) => {
                        let failed = WriteFailed::Batch(format!("commit failed: {e}"));
                        let _ = j.reply.send(Err(failed));
                    }
                }
            }
        }
    }
}
