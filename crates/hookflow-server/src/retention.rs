//! The retention pruner (`serve --retain-days`): a pass soon after start, then one every
//! [`Retention::every`] (10 minutes), deleting what is older than the cutoff in the store's small transactions
//! ([`hookflow_store::retention`], which alone decides what may go) with a pause between two,
//! like the dedup sweeper: ingest's commits never wait for more than one batch. Counts the rows
//! pruned per table (`hookflow_retention_pruned_total`).

use std::time::Duration;

use hookflow_store::{Store, StoreError, now_ms};
use tokio::sync::watch;

/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;
/// The first pass, after start.
const FIRST: Duration = Duration::from_secs(1);
/// Rows one transaction deletes (about: a batch of runs takes their steps with them).
const CHUNK: i64 = 500;
/// Pause between two transactions of a pass.
const PAUSE: Duration = Duration::from_millis(20);

/// How far back history goes (`serve --retain-days`): deliveries received and runs finished
/// before `kept_since` are deleted, with their steps, except what a run that has not finished
/// still needs.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Retention)]
pub struct RetentionView {
    /// Days of history kept; 0: kept forever.
    pub retain_days: u32,
    /// Now less `retain_days`; null when history is kept forever.
    #[schema(format = DateTime, required = true)]
    pub kept_since: Option<String>,
}

/// How long history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `--retain-days`; 0: forever.
    pub days: u32,
    /// Between two passes (a hidden `serve` flag, so tests see passes come quickly).
    pub every: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            days: 90,
            every: Duration::from_secs(600),
        }
    }
}

impl Retention {
    /// What was received or finished before this (unix ms) may be deleted at `now`; `None`:
    /// nothing is.
    pub fn cutoff(&self, now: i64) -> Option<i64> {
        (self.days > 0).then(|| now - i64::from(self.days) * DAY_MS)
    }

    /// As list answers and `/healthz` show it.
    pub fn view(&self) -> RetentionView {
        RetentionView {
            retain_days: self.days,
            kept_since: self.cutoff(now_ms()).map(crate::manage::rfc3339),
        }
    }

    /// What the web UI's deliveries and runs pages say.
    pub fn sentence(&self) -> String {
        match self.days {
            0 => "History is kept forever (--retain-days 0).".to_string(),
            1 => "History is kept for 1 day: older deliveries and runs are deleted.".to_string(),
            n => format!("History is kept for {n} days: older deliveries and runs are deleted."),
        }
    }
}

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pruned {
    pub runs: u64,
    pub steps: u64,
    pub deliveries: u64,
    pub versions: u64,
}

/// Prunes every [`Retention::every`] until `stop` turns true (never, when history is kept forever).
pub async fn run(store: Store, retention: Retention, mut stop: watch::Receiver<bool>) {
    if retention.days == 0 {
        return;
    }
    let mut wait = FIRST;
    while crate::sweep::waited(wait, &mut stop).await {
        prune(&store, retention, &stop).await;
        wait = retention.every;
    }
}

fn counted(table: &'static str, n: u64) -> u64 {
    if n > 0 {
        metrics::counter!("hookflow_retention_pruned_total", "table" => table).increment(n);
    }
    n
}

/// One pass: runs (with their steps) first, which frees their deliveries and versions, then
/// deliveries, then versions; each until none is left, an error, or `stop`.
pub async fn prune(store: &Store, retention: Retention, stop: &watch::Receiver<bool>) -> Pruned {
    let mut done = Pruned::default();
    let Some(cutoff) = retention.cutoff(now_ms()) else {
        return done;
    };
    // Runs per transaction, adjusted so that a batch deletes about CHUNK rows.
    let mut runs_per_batch = 100;
    while !*stop.borrow() {
        match store.prune_runs(cutoff, runs_per_batch).await {
            Ok(p) if p.runs == 0 => break,
            Ok(p) => {
                done.runs += counted("runs", p.runs);
                done.steps += counted("run_steps", p.steps);
                let rows_per_run = ((p.runs + p.steps) / p.runs).max(1) as i64;
                runs_per_batch = (CHUNK / rows_per_run).clamp(1, CHUNK);
            }
            Err(e) => {
                failed("runs", e);
                break;
            }
        }
        tokio::time::sleep(PAUSE).await;
    }
    done.deliveries =
        until_done(stop, "deliveries", || store.prune_deliveries(cutoff, CHUNK)).await;
    done.versions = until_done(stop, "workflow_versions", || store.prune_versions(CHUNK)).await;
    if done.runs + done.deliveries + done.versions > 0 {
        tracing::info!(
            runs = done.runs,
            steps = done.steps,
            deliveries = done.deliveries,
            versions = done.versions,
            retain_days = retention.days,
            "pruned history past retention"
        );
    }
    done
}

fn failed(table: &str, e: StoreError) {
    tracing::warn!(error = %e, "pruning old {table} failed; retrying at the next pass");
}

/// Calls `batch` (one transaction deleting up to [`CHUNK`] rows of `table`) until it deletes
/// fewer, fails, or `stop` turns true; answers the rows deleted.
async fn until_done<F, Fut>(stop: &watch::Receiver<bool>, table: &'static str, mut batch: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    while !*stop.borrow() {
        match batch().await {
            Ok(n) => {
                total += counted(table, n);
                if n < CHUNK as u64 {
                    break;
                }
            }
            Err(e) => {
                failed(table, e);
                break;
            }
        }
        tokio::time::sleep(PAUSE).await;
    }
    total
}
