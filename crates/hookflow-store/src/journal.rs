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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use bytes::Bytes;
use hookflow_core::ingest::{
    DAY_MS, MINUTE_MS, Rejection, RequestFacts, WebhookAuth, check_request, window,
};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use crate::db::{Backend, on_db};
use crate::webhooks::raw_from_row;
use crate::{Result, Store, StoreError, now_ms};

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
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            queue_capacity: 8192,
            max_batch: 2048,
            max_body: 1_048_576,
            rejected_keep: 1000,
            rejected_body_max: 64 * 1024,
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
    /// JSON array of `[name, value]` pairs (key headers already masked).
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
    /// Why the body does not parse (check 7), if it does not.
    pub body_error: Option<String>,
    pub record: DeliveryRecord,
}

/// The journal's decision on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted {
        delivery_id: String,
    },
    /// `delivery_id` is `None` when nothing was recorded (the webhook no longer exists).
    Rejected {
        delivery_id: Option<String>,
        rejection: Rejection,
    },
}

struct Job {
    req: IngestRequest,
    reply: oneshot::Sender<Result<Outcome, Rejection>>,
}

/// The webhooks the ingest path has seen, by id. Only a hint for the first checks: every decision
/// is re-made inside the journal's transaction when the committed row's `version` differs.
pub type AuthCache = Arc<RwLock<HashMap<String, Arc<WebhookAuth>>>>;

/// Handle to the journal's writer. Cloning is cheap; the writer stops (after committing what was
/// queued) when every handle is dropped.
#[derive(Clone)]
pub struct DeliveryJournal {
    tx: mpsc::Sender<Job>,
    cache: AuthCache,
    capacity: usize,
}

impl DeliveryJournal {
    /// Starts the writer on a thread of its own (with its own single-threaded runtime and its
    /// own connection), so its round trips to the database never queue behind HTTP work. Returns
    /// the handle and a future that resolves when the writer has stopped — once every handle is
    /// dropped and the queue is drained.
    pub async fn start(
        store: &Store,
        opts: JournalOptions,
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
        let (ready_tx, ready) = oneshot::channel::<Result<()>>();
        let (done_tx, done) = oneshot::channel::<()>();
        let store = store.clone();
        let thread_cache = cache.clone();
        let thread_opts = opts.clone();
        std::thread::Builder::new()
            .name("hookflow-journal".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(StoreError::Internal(format!(
                            "cannot start the journal's runtime: {e}"
                        ))));
                        return;
                    }
                };
                rt.block_on(async move {
                    match store.writer_backend().await {
                        Ok(db) => {
                            let _ = ready_tx.send(Ok(()));
                            writer_loop(db, rx, thread_cache, thread_opts).await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                let _ = done_tx.send(());
            })
            .map_err(|e| StoreError::Internal(format!("cannot start the journal thread: {e}")))?;
        ready
            .await
            .map_err(|_| StoreError::Internal("the journal thread died at start".into()))??;
        Ok((
            DeliveryJournal {
                tx,
                cache,
                capacity: opts.queue_capacity,
            },
            done,
        ))
    }

    /// Records `req` and returns the decision once it is committed. `Err` is a 503 answer:
    /// the queue is full or the database could not commit; nothing was recorded.
    pub async fn submit(&self, req: IngestRequest) -> Result<Outcome, Rejection> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Job { req, reply })
            .map_err(|_| Rejection::overloaded(1))?;
        metrics::gauge!("hookflow_journal_queue_depth")
            .set((self.capacity - self.tx.capacity()) as f64);
        answer.await.unwrap_or(Err(Rejection::overloaded(1)))
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

impl Store {
    /// The connections the journal writes with, made on the journal's own runtime: on SQLite a
    /// pool of exactly one connection (the only writer of deliveries), on PostgreSQL a small pool
    /// of the same database.
    async fn writer_backend(&self) -> Result<Backend> {
        Ok(match &self.db {
            Backend::Sqlite(_) => Backend::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .connect_with(crate::db::sqlite_options(&self.data_dir))
                    .await
                    .map_err(StoreError::Unavailable)?,
            ),
            Backend::Postgres(p) => Backend::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(std::time::Duration::from_secs(5))
                    .connect_lazy_with(p.connect_options().as_ref().clone()),
            ),
        })
    }
}

async fn writer_loop(
    db: Backend,
    mut rx: mpsc::Receiver<Job>,
    cache: AuthCache,
    opts: JournalOptions,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(opts.max_batch);
    while rx.recv_many(&mut batch, opts.max_batch).await > 0 {
        let started = Instant::now();
        let reqs: Vec<&IngestRequest> = batch.iter().map(|j| &j.req).collect();
        let result = commit_batch(&db, &reqs, &opts, &cache).await;
        metrics::histogram!("hookflow_journal_batch_size").record(batch.len() as f64);
        metrics::histogram!("hookflow_journal_commit_seconds")
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = batch.len(), "journal commit failed; answering 503");
                metrics::counter!("hookflow_journal_commit_failures_total").increment(1);
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(Rejection::overloaded(1)));
                }
            }
        }
    }
    on_db!(&db, |p| p.close().await);
}

/// Per-webhook state inside one batch.
struct HookState {
    auth: Arc<WebhookAuth>,
    minute: i64,
    day: i64,
    counted: bool,
    limited: bool,
    rejected: bool,
}

const DELIVERY_COLUMNS: usize = 13;
const INSERT_CHUNK: usize = 64;

/// A multi-row insert. SQLite gets anonymous `?` parameters: sqlx looks up every parameter's name
/// when binding, which is linear in the number of *named* parameters (quadratic for a large
/// insert with `$N`), and free for anonymous ones.
fn insert_sql(rows: usize, numbered: bool) -> String {
    let mut sql = String::from(
        "INSERT INTO deliveries (id, webhook_id, received_at, status, http_status, reason, \
         method, content_type, headers, query, body, body_size, body_truncated) VALUES ",
    );
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..DELIVERY_COLUMNS {
            if c > 0 {
                sql.push(',');
            }
            if numbered {
                sql.push('$');
                sql.push_str(&(r * DELIVERY_COLUMNS + c + 1).to_string());
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

/// One row to insert, decided.
struct Decided<'a> {
    req: &'a IngestRequest,
    outcome: Outcome,
}

async fn commit_batch(
    db: &Backend,
    reqs: &[&IngestRequest],
    opts: &JournalOptions,
    cache: &AuthCache,
) -> Result<Vec<Outcome>> {
    let now = now_ms();
    let (minute_start, minute_left) = window(now, MINUTE_MS);
    let (day_start, day_left) = window(now, DAY_MS);
    on_db!(db, |p| {
        let mut tx = p.begin_with(db.begin_write()).await?;

        // 1. The webhooks of this batch as committed now.
        let ids: Vec<&str> = {
            let mut seen = HashSet::new();
            reqs.iter()
                .map(|r| r.webhook_id.as_str())
                .filter(|id| seen.insert(*id))
                .collect()
        };
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT w.id, w.name, w.content_type, w.rate_limit_per_minute, w.rate_limit_per_day, \
             w.key_hash, w.key_sealed, w.prev_key_hash, w.prev_key_expires_at, w.version, \
             w.last_limited_at, w.created_at, w.updated_at, NULL AS m_start, NULL AS m_count, \
             NULL AS d_start, NULL AS d_count FROM webhooks w WHERE w.id IN ({})",
            placeholders.join(",")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(&mut *tx).await?;
        let mut hooks: HashMap<String, HookState> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let raw = raw_from_row!(r);
            hooks.insert(
                raw.auth.id.clone(),
                HookState {
                    auth: Arc::new(raw.auth),
                    minute: 0,
                    day: 0,
                    counted: false,
                    limited: false,
                    rejected: false,
                },
            );
        }
        refresh_cache(cache, &ids, &hooks);

        // 2. Checks 1–5 on the committed webhook; for candidates, lock and read rate windows.
        let mut decided: Vec<Decided> = Vec::with_capacity(reqs.len());
        for req in reqs {
            let Some(hook) = hooks.get_mut(&req.webhook_id) else {
                decided.push(Decided {
                    req,
                    outcome: Outcome::Rejected {
                        delivery_id: None,
                        rejection: Rejection::unauthorized(),
                    },
                });
                continue;
            };
            let pre = if hook.auth.version == req.seen_version {
                req.precheck.clone()
            } else {
                check_request(&hook.auth, &req.facts, opts.max_body, now).err()
            };
            if let Some(rejection) = pre {
                hook.rejected = true;
                decided.push(Decided {
                    req,
                    outcome: Outcome::Rejected {
                        delivery_id: Some(req.record.id.clone()),
                        rejection,
                    },
                });
                continue;
            }
            if !hook.counted {
                // Touch both windows: this locks the rows (PostgreSQL) until commit, so the
                // counts read here stay exact across nodes.
                let rows = sqlx::query(
                    "INSERT INTO rate_windows (webhook_id, period, window_start, count) \
                     VALUES ($1, 'minute', $2, 0), ($1, 'day', $3, 0) \
                     ON CONFLICT (webhook_id, period) DO UPDATE SET \
                     count = CASE WHEN rate_windows.window_start = excluded.window_start \
                     THEN rate_windows.count ELSE 0 END, \
                     window_start = excluded.window_start RETURNING period, count",
                )
                .bind(&req.webhook_id)
                .bind(minute_start)
                .bind(day_start)
                .fetch_all(&mut *tx)
                .await?;
                for r in &rows {
                    let period: String = r.try_get(0)?;
                    let count: i64 = r.try_get(1)?;
                    if period == "minute" {
                        hook.minute = count;
                    } else {
                        hook.day = count;
                    }
                }
                hook.counted = true;
            }
            let per_minute = hook.auth.rate_limit_per_minute;
            let per_day = hook.auth.rate_limit_per_day;
            let rejection = if per_minute > 0 && hook.minute >= per_minute {
                hook.limited = true;
                Some(Rejection::rate_limited(per_minute, "minute", minute_left))
            } else if per_day > 0 && hook.day >= per_day {
                hook.limited = true;
                Some(Rejection::rate_limited(per_day, "day", day_left))
            } else {
                req.body_error
                    .as_ref()
                    .map(|e| Rejection::bad_body(e.clone()))
            };
            let outcome = match rejection {
                Some(rejection) => {
                    hook.rejected = true;
                    Outcome::Rejected {
                        delivery_id: Some(req.record.id.clone()),
                        rejection,
                    }
                }
                None => {
                    hook.minute += 1;
                    hook.day += 1;
                    Outcome::Accepted {
                        delivery_id: req.record.id.clone(),
                    }
                }
            };
            decided.push(Decided { req, outcome });
        }

        // 3. New window counts, and when a limit last refused.
        for (id, hook) in &hooks {
            if hook.counted {
                sqlx::query(
                    "UPDATE rate_windows SET count = CASE WHEN period = 'minute' THEN $2 \
                     ELSE $3 END WHERE webhook_id = $1",
                )
                .bind(id)
                .bind(hook.minute)
                .bind(hook.day)
                .execute(&mut *tx)
                .await?;
            }
            if hook.limited {
                sqlx::query("UPDATE webhooks SET last_limited_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        }

        // 4. The deliveries themselves, many rows per statement.
        let recorded: Vec<&Decided> = decided
            .iter()
            .filter(|d| match &d.outcome {
                Outcome::Accepted { .. } => true,
                Outcome::Rejected { delivery_id, .. } => delivery_id.is_some(),
            })
            .collect();
        for chunk in recorded.chunks(INSERT_CHUNK) {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(insert_sql(
                chunk.len(),
                matches!(db, Backend::Postgres(_)),
            )));
            for d in chunk {
                let rec = &d.req.record;
                let (status, http, reason, body) = match &d.outcome {
                    Outcome::Accepted { .. } => ("accepted", 202i64, None, rec.body.clone()),
                    Outcome::Rejected { rejection, .. } => (
                        "rejected",
                        rejection.status as i64,
                        Some(rejection.detail.clone()),
                        rec.body.slice(..rec.body.len().min(opts.rejected_body_max)),
                    ),
                };
                let truncated = (body.len() as i64) < rec.body_size;
                q = q
                    .bind(&rec.id)
                    .bind(&d.req.webhook_id)
                    .bind(rec.received_at)
                    .bind(status)
                    .bind(http)
                    .bind(reason)
                    .bind(&rec.method)
                    .bind(&rec.content_type)
                    .bind(&rec.headers)
                    .bind(&rec.query)
                    .bind(body.to_vec())
                    .bind(rec.body_size)
                    .bind(truncated);
            }
            q.execute(&mut *tx).await?;
        }

        // 5. Bounded retention of rejected requests.
        for (id, hook) in &hooks {
            if hook.rejected {
                sqlx::query(
                    "DELETE FROM deliveries WHERE webhook_id = $1 AND status = 'rejected' \
                     AND id <= (SELECT id FROM deliveries WHERE webhook_id = $1 \
                     AND status = 'rejected' ORDER BY id DESC LIMIT 1 OFFSET $2)",
                )
                .bind(id)
                .bind(opts.rejected_keep)
                .execute(&mut *tx)
                .await?;
            }
        }

        tx.commit().await?;
        Ok::<Vec<Outcome>, StoreError>(decided.into_iter().map(|d| d.outcome).collect())
    })
}

/// Brings the ingest cache in line with what the transaction read.
fn refresh_cache(cache: &AuthCache, ids: &[&str], hooks: &HashMap<String, HookState>) {
    let stale = {
        let Ok(c) = cache.read() else { return };
        ids.iter().any(|id| match (c.get(*id), hooks.get(*id)) {
            (Some(a), Some(h)) => a.version != h.auth.version,
            (None, None) => false,
            _ => true,
        })
    };
    if stale && let Ok(mut c) = cache.write() {
        for id in ids {
            match hooks.get(*id) {
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
