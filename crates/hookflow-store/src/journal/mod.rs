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

//!
//! Files by role: this file is the handle (submit, the bounded queue, the writer's other
//! operations: the run queue's writes, see [`crate::run_queue`], and the dedup key sweep) and the
//! types requests and answers travel in; `batch.rs` what a batch decides and writes (the same on
//! both backends), `sqlite.rs` and `postgres.rs` the writers, `sql.rs` the statements,
//! `cache.rs` the webhooks' check data the HTTP layer reads, `dedup.rs` duplicate detection,
//! `checkpoint.rs` SQLite's WAL checkpoints beside the writer.

mod batch;
mod cache;
mod checkpoint;
mod dedup;
mod memory_keys;
mod postgres;
mod sql;
mod sqlite;

pub use cache::AuthCache;
#[cfg(test)]
pub(crate) use sql::PRUNE_SQL;
pub use sql::RouteRow;
pub(crate) use sql::{ROUTES_SQL, route_row, route_rows};

use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use bytes::Bytes;
use hookflow_core::expr::Sandbox;
use hookflow_core::filters::Recorded;
use hookflow_core::ingest::{Rejection, RequestFacts};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::db::Backend;
use crate::run_queue::{QueueAnswer, QueueOp, RunQueue};
use crate::{Result, Store, StoreError};

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
    /// SQLite: most duplicate-detection keys held in memory; more go to the `dedup_keys` table
    /// (`--dedup-memory-keys`).
    pub dedup_memory_keys: usize,
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
            dedup_memory_keys: 1_000_000,
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

impl Outcome {
    /// The delivery's status as recorded and answered: `accepted`, `duplicate` or `rejected`
    /// (SPEC §9).
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Accepted { .. } => "accepted",
            Outcome::Duplicate { .. } => "duplicate",
            Outcome::Rejected { .. } => "rejected",
        }
    }
}

pub(crate) struct Job {
    req: IngestRequest,
    reply: oneshot::Sender<Result<Outcome, Rejection>>,
    queued_at: Instant,
}

/// A write committed by the journal's writer with the next batch besides the deliveries: on
/// SQLite there is one writer anyway, and sharing its transactions gives them group commit too.
// Held by value: one op per job, moved once into the writer's queue; a sweep step is rare.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum WriterOp {
    /// A write of the run queue ([`RunQueue`]).
    Queue(QueueOp),
    /// Delete at most `limit` dedup keys whose window has ended. Through the writer because on
    /// SQLite the keys live in its connection.
    SweepDedupKeys { limit: i64 },
}

/// What a [`WriterOp`] returned.
#[derive(Debug)]
pub(crate) enum WriterAnswer {
    Queue(QueueAnswer),
    Swept(Swept),
}

/// What one step of the dedup key sweep did ([`DeliveryJournal::sweep_dedup_keys`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Keys deleted.
    pub deleted: u64,
    /// Whether the pass is complete (no ended key is left to delete).
    pub done: bool,
}

pub(crate) struct OpJob {
    op: WriterOp,
    reply: oneshot::Sender<Result<WriterAnswer, WriteFailed>>,
    queued_at: Instant,
}

/// Why a [`WriterOp`] got no answer.
#[derive(Debug)]
pub(crate) enum WriteFailed {
    /// Its own statement failed (on SQLite, the rest of the batch was committed).
    Op(String),
    /// The whole batch could not be committed: the database could not be reached or written.
    Batch(String),
}

/// What the writer's queue carries.
// Held by value: boxing the ingest job would cost an allocation per webhook request.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Work {
    Ingest(Job),
    Op(OpJob),
}

impl Work {
    /// When the job was queued, if someone waits for its answer.
    fn awaited_since(&self) -> Option<Instant> {
        match self {
            Work::Ingest(j) if j.req.answered => None,
            Work::Ingest(j) => Some(j.queued_at),
            Work::Op(j) => Some(j.queued_at),
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

/// Handle to the journal's writer. Cloning is cheap; the writer stops (after committing what was
/// queued) when every handle is dropped.
#[derive(Clone)]
pub struct DeliveryJournal {
    tx: mpsc::Sender<Work>,
    /// The run queue's "runs ready" signal, told by the writer when a batch enqueued runs.
    runs_ready: Arc<Notify>,
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
    ) -> Result<(DeliveryJournal, oneshot::Receiver<()>)> {
        let runs_ready = Arc::new(Notify::new());
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
        let ctx = WriterCtx {
            cache: cache.clone(),
            opts: opts.clone(),
            sandbox,
            runs_ready: runs_ready.clone(),
            last_error: last_error.clone(),
        };
        let done = match &store.db {
            Backend::Sqlite(_) => sqlite::spawn(&store.data_dir, rx, ctx)?,
            Backend::Postgres(pool) => postgres::spawn(pool, rx, ctx)?,
        };
        Ok((
            DeliveryJournal {
                tx,
                runs_ready,
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
        if !self.queue(req, reply) {
            return Err(Rejection::overloaded(1));
        }
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
        self.queue(req, reply)
    }

    /// Hands `req` to the writer, its decision to go to `reply`; `false` if the queue is full.
    fn queue(
        &self,
        req: IngestRequest,
        reply: oneshot::Sender<Result<Outcome, Rejection>>,
    ) -> bool {
        let job = Job {
            req,
            reply,
            queued_at: Instant::now(),
        };
        self.tx.try_send(Work::Ingest(job)).is_ok()
    }

    /// The run queue, written by this journal's writer.
    pub fn run_queue(&self) -> RunQueue {
        RunQueue::new(Writer(self.tx.clone()), self.runs_ready.clone())
    }

    /// Deletes at most `limit` dedup keys whose window has ended, with the next batch.
    pub async fn sweep_dedup_keys(&self, limit: i64) -> Result<Swept> {
        match Writer(self.tx.clone())
            .write(WriterOp::SweepDedupKeys { limit })
            .await?
        {
            WriterAnswer::Swept(swept) => Ok(swept),
            other => Err(StoreError::Internal(format!(
                "the dedup key sweep got an unexpected answer: {other:?}"
            ))),
        }
    }

    /// Why the last batch could not be committed, if it could not.
    pub fn last_write_error(&self) -> Option<String> {
        self.last_error.lock().ok()?.clone()
    }

    /// Requests waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.capacity - self.tx.capacity()
    }
}

/// A handle that queues [`WriterOp`]s to the writer.
#[derive(Clone)]
pub(crate) struct Writer(mpsc::Sender<Work>);

impl Writer {
    /// Commits `op` with the next batch and returns its answer. Waits for room in the queue
    /// rather than failing (the engine is the one producer that must not give up).
    pub(crate) async fn write(&self, op: WriterOp) -> Result<WriterAnswer> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Internal("the journal writer has stopped".into());
        self.0
            .send(Work::Op(OpJob {
                op,
                reply,
                queued_at: Instant::now(),
            }))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?.map_err(|e| match e {
            WriteFailed::Op(e) => StoreError::Internal(e),
            // Answered as the database's unavailability (503, retry), as a write of the pool's
            // would be.
            WriteFailed::Batch(e) => {
                StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(e)))
            }
        })
    }
}

/// What a journal writer works with.
pub(crate) struct WriterCtx {
    pub cache: AuthCache,
    pub opts: JournalOptions,
    /// Evaluates event filters and dedup keys ([`hookflow_core::filters`]).
    pub sandbox: Arc<Sandbox>,
    /// Told when a batch enqueued runs, so this node's workers claim them at once.
    pub runs_ready: Arc<Notify>,
    pub last_error: LastWriteError,
}
