//! The aggregates the UI's pictures are drawn from: a webhook's deliveries and a workflow's runs
//! counted per time bucket (one `GROUP BY` each, bucketed by integer arithmetic on the
//! millisecond timestamps, so one SQL text serves SQLite and PostgreSQL), a workflow's run
//! duration percentiles, and a run's step statuses per step id.

use crate::query::Record;
use crate::{Result, Store, StoreError};

/// A time range cut into `buckets` equal buckets of `bucket_ms`, from `since_ms` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub since_ms: i64,
    pub bucket_ms: i64,
    pub buckets: i64,
}

impl Buckets {
    /// The end of the range (exclusive).
    pub fn until_ms(&self) -> i64 {
        self.since_ms + self.bucket_ms * self.buckets
    }
}

/// How many deliveries of one status (and reason) arrived in one bucket.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryCount {
    /// The bucket's index, `0..buckets`.
    pub bucket: i64,
    /// `accepted`, `rejected` or `duplicate`.
    pub status: String,
    /// A rejected delivery's reason.
    pub reason: Option<String>,
    #[sqlx(rename = "n")]
    pub count: i64,
}

/// How many runs of one status were created in one bucket.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunCount {
    pub bucket: i64,
    /// As stored: `queued`, `running`, `waiting`, `succeeded`, `failed`, `cancelled`.
    pub status: String,
    #[sqlx(rename = "n")]
    pub count: i64,
}

/// Nearest-rank percentiles of the durations (ms) of finished runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Percentiles {
    /// How many finished runs they are of.
    pub runs: i64,
    pub p50: i64,
    pub p95: i64,
    pub p99: i64,
}

/// How many records a step of a run has with one status (a step in a loop has one per
/// iteration).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StepStatusCount {
    pub step_id: String,
    pub status: String,
    #[sqlx(rename = "n")]
    pub count: i64,
}

/// How far before a row's timestamp its time-ordered id may say it was made (the id is taken on
/// another node or a little later): the id bound only narrows the index range, the timestamp
/// decides.
const ID_SLACK_MS: i64 = 3_600_000;

const DELIVERY_COUNTS_SQL: &str = "SELECT (received_at - $2) / $3 AS bucket, status, reason, \
     COUNT(*) AS n FROM deliveries \
     WHERE webhook_id = $1 AND id >= $4 AND received_at >= $2 AND received_at < $5 \
     GROUP BY 1, 2, 3";

const RUN_COUNTS_SQL: &str = "SELECT (created_at - $2) / $3 AS bucket, status, \
     COUNT(*) AS n FROM runs \
     WHERE workflow_id = $1 AND id >= $4 AND created_at >= $2 AND created_at < $5 \
     GROUP BY 1, 2";

/// Nearest rank: the `ceil(p/100 * n)`-th smallest, in integer arithmetic (0 when none finished).
const PERCENTILES_SQL: &str = "WITH d AS (SELECT finished_at - started_at AS ms, \
     ROW_NUMBER() OVER (ORDER BY finished_at - started_at) AS rn, COUNT(*) OVER () AS n \
     FROM runs WHERE workflow_id = $1 AND id >= $3 AND created_at >= $2 \
     AND finished_at IS NOT NULL AND started_at IS NOT NULL) \
     SELECT COUNT(*) AS runs, \
     COALESCE(MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN ms END), 0) AS p50, \
     COALESCE(MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN ms END), 0) AS p95, \
     COALESCE(MAX(CASE WHEN rn = (99 * n + 99) / 100 THEN ms END), 0) AS p99 FROM d";

const STEP_STATUSES_SQL: &str = "SELECT step_id, status, COUNT(*) AS n FROM run_steps \
     WHERE run_id = $1 GROUP BY step_id, status ORDER BY step_id, status";

impl Store {
    /// Webhook `webhook_id`'s deliveries in `range`, counted per bucket, status and reason.
    pub async fn delivery_counts(
        &self,
        webhook_id: &str,
        range: Buckets,
    ) -> Result<Vec<DeliveryCount>> {
        self.bucket_counts(DELIVERY_COUNTS_SQL, webhook_id, range)
            .await
    }

    /// Workflow `workflow_id`'s runs created in `range`, counted per bucket and status.
    pub async fn run_counts(&self, workflow_id: &str, range: Buckets) -> Result<Vec<RunCount>> {
        self.bucket_counts(RUN_COUNTS_SQL, workflow_id, range).await
    }

    /// Runs a per-bucket count query: `$1` the webhook's or workflow's id, then the range as
    /// [`DELIVERY_COUNTS_SQL`] and [`RUN_COUNTS_SQL`] take it.
    async fn bucket_counts<T: Record>(
        &self,
        sql: &'static str,
        id: &str,
        range: Buckets,
    ) -> Result<Vec<T>> {
        check(range)?;
        let floor = crate::v7_floor(range.since_ms - ID_SLACK_MS);
        let args = [
            id.into(),
            range.since_ms.into(),
            range.bucket_ms.into(),
            (&floor).into(),
            range.until_ms().into(),
        ];
        self.all(sql, &args).await
    }

    /// Duration percentiles of workflow `workflow_id`'s finished runs created since `since_ms`;
    /// `None` when none has finished.
    pub async fn run_duration_percentiles(
        &self,
        workflow_id: &str,
        since_ms: i64,
    ) -> Result<Option<Percentiles>> {
        let floor = crate::v7_floor(since_ms - ID_SLACK_MS);
        let args = [workflow_id.into(), since_ms.into(), (&floor).into()];
        let p: Option<Percentiles> = self.one(PERCENTILES_SQL, &args).await?;
        Ok(p.filter(|p| p.runs > 0))
    }

    /// How many step records of run `run_id` have each status, per step id.
    pub async fn step_status_counts(&self, run_id: &str) -> Result<Vec<StepStatusCount>> {
        self.all(STEP_STATUSES_SQL, &[run_id.into()]).await
    }
}

/// At most a few thousand buckets of a positive width: a chart, not a table scan by another name.
fn check(range: Buckets) -> Result<()> {
    if range.bucket_ms <= 0 || !(1..=10_000).contains(&range.buckets) {
        return Err(StoreError::Invalid(format!(
            "a chart needs 1 to 10000 buckets of a positive width, not {range:?}"
        )));
    }
    Ok(())
}
