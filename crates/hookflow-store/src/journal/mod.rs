//! The delivery journal: where a webhook request becomes durable. Requests are queued to one
//! writer, which takes everything pending, decides the checks that need committed state (the
//! webhook as it is now, the rate windows), writes all of it in one transaction and commits —
//! one fsync for the whole batch (group commit). Only after that commit does any request of the
//! batch get its answer, so a 202 always means "on disk".
//!
//! The queue is bounded: when it is full the request is refused at once with 503 and
//! `Retry-After` instead of growing memory.
//!
//! The journal never sees an API key: only its SHA-256 digest, which is not recorded.

mod dedup;
mod postgres;
mod sqlite;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use bytes::Bytes;
use hookflow_core::expr::Sandbox;
use hookflow_core::filters::{self, Recorded};
use hookflow_core::ingest::rate::{RateClock, Windows};
use hookflow_core::ingest::{Rejection, RequestFacts, WebhookAuth, check_request};
use hookflow_core::recorded::cap_headers;
use tokio::sync::{mpsc, oneshot};

use crate::db::Backend;
use crate::{Result, Store, StoreError, clean, clean_opt};

/// Tunables of the journal (SPEC §8: every limit is configurable).
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// Requests waiting for the writer before new ones get 503.
    pub queue_capacity: usize,
    /// Most requests committed in one transaction.
    pub max_batch: usize,
    /// Largest accepted body (SPEC §2 check 5).
    pub max_body: u64,
    /// Rejected deliveries kept per webhook (newest).
    pub rejected_keep: i64,
    /// Bytes of a rejected request's body that are kept.
    pub rejected_body_max: usize,
    /// Bytes of a rejected request's header names and values that are kept (in order; the
    /// record says how many headers were cut).
    pub rejected_header_max: usize,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            queue_capacity: 8192,
            max_batch: 2048,
            max_body: 1_048_576,
            rejected_keep: 1000,
            rejected_body_max: 64 * 1024,
            rejected_header_max: 8 * 1024,
        }
    }
}

/// What is recorded of a request, whatever the decision.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub id: String,
    pub received_at: i64,
    pub method: String,
    pub content_type: Option<String>,
    /// JSON array of `[name, value]` pairs (credential headers already masked, see
    /// [`hookflow_core::recorded`]).
    pub headers: String,
    /// JSON object of the query without `api_key`.
    pub query: String,
    pub body: Bytes,
    /// The body's full size (it may not all have been read, e.g. on 413).
    pub body_size: i64,
}

/// A request handed to the journal by the HTTP layer.
#[derive(Debug)]
pub struct IngestRequest {
    pub webhook_id: String,
    /// The `version` of the webhook the HTTP layer checked against.
    pub seen_version: i64,
    pub facts: RequestFacts,
    /// The HTTP layer's verdict on checks 1–5 (`None`: passed).
    pub precheck: Option<Rejection>,
    /// The `precheck` rejection stands whatever the webhook's committed state: the request was
    /// already answered (see [`DeliveryJournal::record_answered`]), so it is only recorded.
    pub answered: bool,
    /// Why the body does not parse (check 7), if it does not.
    pub body_error: Option<String>,
    /// The duplicate-detection key the HTTP layer computed (SPEC §9), if the webhook it checked
    /// against has `dedup`.
    pub dedup: Option<DedupKey>,
    /// Check 5b's verdict (SPEC §9) on a webhook that verifies signatures; an enforced failure
    /// refuses the request before the rate limits are counted.
    pub verification: Option<Box<hookflow_core::verify::Verdict>>,
    pub record: DeliveryRecord,
    /// The trace the request continues, when traces are exported (README, "Traces").
    pub trace: Option<Box<DeliveryTrace>>,
}

impl IngestRequest {
    /// The request as recorded, for evaluating filters and keys on it: `webhook_name` is the
    /// name of the webhook it came to, `verification` check 5b's verdict as JSON.
    pub fn recorded<'a>(
        &'a self,
        webhook_name: &'a str,
        verification: Option<&'a str>,
    ) -> Recorded<'a> {
        self.record
            .recorded((&self.webhook_id, webhook_name), verification)
    }
}

impl DeliveryRecord {
    /// See [`IngestRequest::recorded`]; `webhook` is the webhook's `(id, name)`.
    pub fn recorded<'a>(
        &'a self,
        webhook: (&'a str, &'a str),
        verification: Option<&'a str>,
    ) -> Recorded<'a> {
        Recorded {
            webhook,
            delivery_id: &self.id,
            received_at: self.received_at,
            content_type: self.content_type.as_deref(),
            headers: &self.headers,
            query: &self.query,
            body: &self.body,
            verification,
        }
    }
}

/// The W3C `traceparent`s of an accepted request's spans, kept with what it writes.
#[derive(Debug, Clone)]
pub struct DeliveryTrace {
    /// The delivery's span: kept on its row.
    pub delivery: String,
    /// The routing span: the parent of every run the delivery starts, kept on their rows.
    pub routing: String,
}

/// A request's key for duplicate detection, as computed before it was queued. The journal uses
/// it when the committed webhook's key expression is still `expression`, and computes the key
/// again otherwise.
#[derive(Debug, Clone)]
pub struct DedupKey {
    pub expression: String,
    /// The key's text ([`hookflow_core::dedup::key_text`]); `None`: the request has no key and is
    /// processed normally.
    pub key: Option<String>,
}

/// The journal's decision on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted {
        delivery_id: String,
    },
    /// Answered 202 like an accepted request, recorded, but starts no run: its dedup key was
    /// accepted before within the window, by `duplicate_of` (SPEC §9).
    Duplicate {
        delivery_id: String,
        duplicate_of: String,
    },
    /// `delivery_id` is `None` when nothing was recorded (the webhook no longer exists).
    Rejected {
        delivery_id: Option<String>,
        rejection: Rejection,
    },
}

pub(crate) struct Job {
    req: IngestRequest,
    reply: oneshot::Sender<Result<Outcome, Rejection>>,
    queued_at: Instant,
}

/// A write of the engine's, committed by the same writer as deliveries: on SQLite there is one
/// writer anyway, and sharing its transactions gives the engine group commit too.
#[derive(Debug, Clone)]
pub enum EngineOp {
    /// Claim up to `n` due or abandoned runs for `node`.
    Claim {
        node: String,
        n: i64,
        lease_ms: i64,
    },
    SaveStep(crate::runs::StepRecord),
    Finish {
        id: String,
        node: String,
        status: String,
        outputs: Option<String>,
        error: Option<String>,
    },
    /// Back to the queue until `at` (a sleep, a backoff, a sub-run).
    Release {
        id: String,
        node: String,
        at: i64,
    },
    /// Enqueue a sub-workflow run unless its id exists: [`EngineReply::Affected`] 1 when it was
    /// inserted, 0 when it existed (a replay), [`EngineReply::LimitReached`] when its root run's
    /// tree has started `max_per_root` runs already.
    InsertSubRun {
        run: crate::runs::NewRun,
        max_per_root: i64,
    },
    /// Make a waiting run due now.
    Wake {
        id: String,
    },
    /// Delete at most `limit` dedup keys whose window has ended: [`EngineReply::Affected`] with
    /// how many. Through the writer because on SQLite the keys live in its connection.
    SweepDedupKeys {
        limit: i64,
    },
}

impl EngineOp {
    /// The op with the text it records free of NUL characters (see [`crate::text`]).
    fn cleaned(mut self) -> EngineOp {
        match &mut self {
            EngineOp::SaveStep(s) => s.clean(),
            EngineOp::Finish {
                status,
                outputs,
                error,
                ..
            } => {
                clean(status);
                clean_opt(outputs);
                clean_opt(error);
            }
            EngineOp::InsertSubRun { run, .. } => run.clean(),
            EngineOp::Claim { .. }
            | EngineOp::Release { .. }
            | EngineOp::Wake { .. }
            | EngineOp::SweepDedupKeys { .. } => {}
        }
        self
    }
}

/// What an [`EngineOp`] returned.
#[derive(Debug)]
pub enum EngineReply {
    Runs(Vec<crate::runs::RunRecord>),
    /// Rows changed.
    Affected(u64),
    /// A limit refused the write (see the op).
    LimitReached,
}

pub(crate) struct EngineJob {
    op: EngineOp,
    reply: oneshot::Sender<Result<EngineReply, String>>,
    queued_at: Instant,
}

/// What the writer's queue carries.
pub(crate) enum Work {
    Ingest(Job),
    Engine(EngineJob),
}

impl Work {
    /// When the job was queued, if someone waits for its answer.
    fn awaited_since(&self) -> Option<Instant> {
        match self {
            Work::Ingest(j) if j.req.answered => None,
            Work::Ingest(j) => Some(j.queued_at),
            Work::Engine(j) => Some(j.queued_at),
        }
    }
}

/// When the oldest job of a batch that waits for its answer was queued: a writer that must
/// wait for its database gives up in time for that job's answer (see the PostgreSQL writer).
pub(crate) fn oldest(batch: &[Work]) -> Option<Instant> {
    batch.iter().filter_map(Work::awaited_since).min()
}

/// Why the journal's last batch could not be committed (`None` once a batch commits again):
/// a full disk, an I/O error, an unreachable database. `/healthz` reports it.
pub type LastWriteError = Arc<Mutex<Option<String>>>;

/// The webhooks the ingest path has seen, by id. Only a hint for the first checks: every decision
/// is re-made inside the journal's transaction when the committed row's `version` differs.
pub type AuthCache = Arc<RwLock<HashMap<String, Arc<WebhookAuth>>>>;

/// Handle to the journal's writer. Cloning is cheap; the writer stops (after committing what was
/// queued) when every handle is dropped.
#[derive(Clone)]
pub struct DeliveryJournal {
    tx: mpsc::Sender<Work>,
    cache: AuthCache,
    capacity: usize,
    last_error: LastWriteError,
}

impl DeliveryJournal {
    /// Starts the writer on a thread of its own, with its own connection, so its round trips
    /// to the database never queue behind HTTP work. Returns the handle and a receiver that
    /// resolves when the writer has stopped — once every handle is dropped and the queue is
    /// drained.
    pub async fn start(
        store: &Store,
        opts: JournalOptions,
        sandbox: Arc<Sandbox>,
        runs_ready: Arc<tokio::sync::Notify>,
    ) -> Result<(DeliveryJournal, oneshot::Receiver<()>)> {
        let cache: AuthCache = Arc::new(RwLock::new(
            store
                .all_webhook_auths()
                .await?
                .into_iter()
                .map(|(k, v)| (k, Arc::new(v)))
                .collect(),
        ));
        let (tx, rx) = mpsc::channel(opts.queue_capacity);
        let last_error = LastWriteError::default();
        let done = match &store.db {
            Backend::Sqlite(_) => sqlite::spawn(
                &store.data_dir,
                rx,
                WriterCtx {
                    cache: cache.clone(),
                    opts: opts.clone(),
                    sandbox,
                    runs_ready,
                    last_error: last_error.clone(),
                },
            )?,
            Backend::Postgres(pool) => postgres::spawn(
                pool,
                rx,
                WriterCtx {
                    cache: cache.clone(),
                    opts: opts.clone(),
                    sandbox,
                    runs_ready,
                    last_error: last_error.clone(),
                },
            )?,
        };
        Ok((
            DeliveryJournal {
                tx,
                cache,
                capacity: opts.queue_capacity,
                last_error,
            },
            done,
        ))
    }

    /// Records `req` and returns the decision once it is committed. `Err` is a 503 answer:
    /// the queue is full or the database could not commit; nothing was recorded.
    pub async fn submit(&self, req: IngestRequest) -> Result<Outcome, Rejection> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Work::Ingest(Job {
                req,
                reply,
                queued_at: Instant::now(),
            }))
            .map_err(|_| Rejection::overloaded(1))?;
        metrics::gauge!("hookflow_journal_queue_depth")
            .set((self.capacity - self.tx.capacity()) as f64);
        answer.await.unwrap_or(Err(Rejection::overloaded(1)))
    }

    /// Hands a rejection that is answered without waiting (`req.answered`, a `precheck` set) to
    /// the writer, to be recorded with the next batch; `false` when the queue has no room for it
    /// above the half kept for requests that wait for their answer. Nothing waits for the commit.
    pub fn record_answered(&self, req: IngestRequest) -> bool {
        debug_assert!(req.answered && req.precheck.is_some());
        if self.queue_depth() >= self.capacity / 2 {
            return false;
        }
        let (reply, _answer) = oneshot::channel();
        self.tx
            .try_send(Work::Ingest(Job {
                req,
                reply,
                queued_at: Instant::now(),
            }))
            .is_ok()
    }

    /// Commits an engine write with the next batch and returns its result. Waits for room in
    /// the queue rather than failing (the engine is the one producer that must not give up).
    pub async fn engine(&self, op: EngineOp) -> Result<EngineReply> {
        let (reply, answer) = oneshot::channel();
        let op = op.cleaned();
        self.tx
            .send(Work::Engine(EngineJob {
                op,
                reply,
                queued_at: Instant::now(),
            }))
            .await
            .map_err(|_| StoreError::Internal("the journal writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Internal("the journal writer has stopped".into()))?
            .map_err(StoreError::Internal)
    }

    /// Why the last batch could not be committed, if it could not.
    pub fn last_write_error(&self) -> Option<String> {
        self.last_error.lock().ok()?.clone()
    }

    /// The cached check data of a webhook.
    pub fn cached(&self, id: &str) -> Option<Arc<WebhookAuth>> {
        self.cache.read().ok()?.get(id).cloned()
    }

    /// Remembers (or refreshes) a webhook's check data.
    pub fn remember(&self, auth: WebhookAuth) -> Arc<WebhookAuth> {
        let auth = Arc::new(auth);
        if let Ok(mut c) = self.cache.write() {
            c.insert(auth.id.clone(), auth.clone());
        }
        auth
    }

    /// Forgets a webhook (deleted).
    pub fn forget(&self, id: &str) {
        if let Ok(mut c) = self.cache.write() {
            c.remove(id);
        }
    }

    /// Requests waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.capacity - self.tx.capacity()
    }
}

/// A webhook of the batch as committed, with its current window counts (rows locked until the
/// transaction ends on PostgreSQL).
pub(crate) struct Loaded {
    pub auth: Arc<WebhookAuth>,
    pub windows: Windows,
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

/// What a journal writer works with.
pub(crate) struct WriterCtx {
    pub cache: AuthCache,
    pub opts: JournalOptions,
    /// Evaluates event filters and dedup keys ([`hookflow_core::filters`]).
    pub sandbox: Arc<Sandbox>,
    /// Told when a batch enqueued runs, so this node's workers claim them at once.
    pub runs_ready: Arc<tokio::sync::Notify>,
    pub last_error: LastWriteError,
}

pub use hookflow_core::routing::RouteRow;

/// A [`RouteRow`] from a row of [`ROUTES_SQL`], read with `$get` (sqlx's `try_get`, rusqlite's
/// `get`).
macro_rules! route_row {
    ($r:expr, $get:ident) => {{
        let r = $r;
        let workflow_id: Option<String> = r.$get("workflow_id")?;
        $crate::journal::RouteRow {
            event_id: r.$get("event_id")?,
            event_name: r.$get("event_name")?,
            filter: r.$get("filter")?,
            target: match workflow_id {
                Some(wid) => Some((
                    wid,
                    r.$get("workflow_name")?,
                    r.$get("valid")?,
                    r.$get("enabled")?,
                    r.$get("disabled")?,
                )),
                None => None,
            },
        }
    }};
}
pub(crate) use route_row;

/// A run the routing of a delivery starts, written in the delivery's transaction.
pub(crate) struct RoutedRun {
    pub id: String,
    pub workflow_id: String,
    pub workflow_name: String,
    pub delivery_id: String,
    pub event_id: String,
    /// The delivery's routing span (see [`DeliveryTrace`]).
    pub traceparent: Option<String>,
}

/// SPEC §1/§4 routing of accepted requests ([`hookflow_core::routing::route`]). Returns the
/// routing JSON of each request (None for rejected ones) and the runs to insert.
pub(crate) fn route(
    reqs: &[&IngestRequest],
    outcomes: &[Outcome],
    loaded: &HashMap<String, Loaded>,
    routes: &HashMap<String, Vec<RouteRow>>,
    sandbox: &Sandbox,
) -> (Vec<Option<String>>, Vec<RoutedRun>) {
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
        runs.extend(decided.runs.into_iter().map(|r| RoutedRun {
            id: r.id.unwrap_or_default(),
            workflow_id: r.workflow_id,
            workflow_name: r.workflow_name,
            delivery_id: delivery_id.clone(),
            event_id: r.event_id,
            traceparent: req.trace.as_ref().map(|t| t.routing.clone()),
        }));
        routing.push(Some(decided.json.to_string()));
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
            let (status, http_status, reason, body, headers) = match outcome {
                Outcome::Accepted { .. } => (
                    "accepted",
                    202,
                    None,
                    rec.body.clone(),
                    Cow::Borrowed(rec.headers.as_str()),
                ),
                Outcome::Duplicate { .. } => (
                    "duplicate",
                    202,
                    None,
                    rec.body.clone(),
                    Cow::Borrowed(rec.headers.as_str()),
                ),
                Outcome::Rejected {
                    delivery_id: Some(_),
                    rejection,
                } => (
                    "rejected",
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
                status,
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

/// Brings the ingest cache in line with what a transaction read.
pub(crate) fn refresh_cache(cache: &AuthCache, ids: &[&str], loaded: &HashMap<String, Loaded>) {
    let stale = {
        let Ok(c) = cache.read() else { return };
        ids.iter().any(|id| match (c.get(*id), loaded.get(*id)) {
            (Some(a), Some(h)) => a.version != h.auth.version,
            (None, None) => false,
            _ => true,
        })
    };
    if stale && let Ok(mut c) = cache.write() {
        for id in ids {
            match loaded.get(*id) {
                Some(h) => {
                    c.insert(id.to_string(), h.auth.clone());
                }
                None => {
                    c.remove(*id);
                }
            }
        }
    }
}

/// What a batch's transaction returns: the ingest outcomes and the engine replies, each in the
/// order of their jobs.
pub(crate) type BatchResult = Result<(Vec<Outcome>, Vec<Result<EngineReply, String>>)>;

/// Splits a batch into its ingest requests and engine ops (each in order).
pub(crate) fn split(batch: &[Work]) -> (Vec<&IngestRequest>, Vec<&EngineOp>) {
    let mut reqs = Vec::new();
    let mut ops = Vec::new();
    for w in batch {
        match w {
            Work::Ingest(j) => reqs.push(&j.req),
            Work::Engine(j) => ops.push(&j.op),
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
                    Work::Engine(j) => {
                        let r = replies
                            .next()
                            .unwrap_or_else(|| Err("no reply for an engine write".into()));
                        let _ = j.reply.send(r);
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
                    Work::Engine(j) => {
                        let _ = j.reply.send(Err(format!("commit failed: {e}")));
                    }
                }
            }
        }
    }
}

/// The SQL that keeps only the newest `$2` rejected deliveries of webhook `$1`.
pub(crate) const PRUNE_SQL: &str = "DELETE FROM deliveries WHERE webhook_id = $1 \
    AND status = 'rejected' AND id <= (SELECT id FROM deliveries WHERE webhook_id = $1 \
    AND status = 'rejected' ORDER BY id DESC LIMIT 1 OFFSET $2)";

/// Creates both rate windows of `$1` if missing and resets a window that has passed; returns
/// `(period, count)` of the current windows. On PostgreSQL it also locks both rows until commit,
/// which is what keeps limits exact across nodes.
pub(crate) const TOUCH_RATES_SQL: &str = "INSERT INTO rate_windows \
    (webhook_id, period, window_start, count) VALUES ($1, 'minute', $2, 0), ($1, 'day', $3, 0) \
    ON CONFLICT (webhook_id, period) DO UPDATE SET \
    count = CASE WHEN rate_windows.window_start = excluded.window_start \
    THEN rate_windows.count ELSE 0 END, window_start = excluded.window_start \
    RETURNING period, count";

pub(crate) const WRITE_RATES_SQL: &str = "UPDATE rate_windows SET count = CASE \
    WHEN period = 'minute' THEN $2 ELSE $3 END WHERE webhook_id = $1";

pub(crate) const LIMITED_SQL: &str = "UPDATE webhooks SET last_limited_at = $2 WHERE id = $1";

/// The webhook columns the journal checks against.
pub(crate) const WEBHOOK_SQL: &str = "SELECT id, name, content_type, rate_limit_per_minute, \
    rate_limit_per_day, key_hash, prev_key_hash, prev_key_expires_at, version, \
    dedup_key, dedup_window_seconds, verification, verification_sealed FROM webhooks WHERE id = $1";

/// The columns of a delivery row, in the order [`Row`]s are bound.
pub(crate) const INSERT_COLUMNS: &str = "INSERT INTO deliveries (id, webhook_id, received_at, \
    status, http_status, reason, method, content_type, headers, query, body, body_size, \
    body_truncated, routing, duplicate_of, verification, traceparent, dedup_key_hash, \
    dedup_expires_at) VALUES ";
pub(crate) const INSERT_WIDTH: usize = 19;

/// The events bound to a webhook and, for each, the workflows whose triggers name it.
pub(crate) const ROUTES_SQL: &str = "SELECT e.id AS event_id, e.name AS event_name, e.filter, \
    w.id AS workflow_id, w.name AS workflow_name, w.valid, w.enabled, t.disabled \
    FROM events e LEFT JOIN triggers t ON (t.event_ref = e.id OR t.event_ref = e.name) \
    LEFT JOIN workflows w ON w.id = t.workflow_id WHERE e.webhook_id = $1 \
    ORDER BY e.id, t.workflow_id, t.position";

pub(crate) fn digest(v: Vec<u8>) -> Result<[u8; 32]> {
    v.try_into()
        .map_err(|_| StoreError::Internal("a key digest is not 32 bytes".into()))
}
