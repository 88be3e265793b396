//! The aggregates the UI's pictures are drawn from: a webhook's deliveries and a workflow's runs
//! counted per time bucket (one `GROUP BY` each, bucketed by integer arithmetic on the
//! millisecond timestamps, so one SQL text serves SQLite and PostgreSQL), a workflow's run
//! duration percentiles, and a run's step statuses per step id.

use sqlx::Row;

use crate::db::on_db;
use crate::{Result, Store, StoreError, names_nothing};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCount {
    /// The bucket's index, `0..buckets`.
    pub bucket: i64,
    /// `accepted`, `rejected` or `duplicate`.
    pub status: String,
    /// A rejected delivery's reason.
    pub reason: Option<String>,
    pub count: i64,
}

/// How many runs of one status were created in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCount {
    pub bucket: i64,
    /// As stored: `queued`, `running`, `waiting`, `succeeded`, `failed`, `cancelled`.
    pub status: String,
    pub count: i64,
}

/// Nearest-rank percentiles of the durations (ms) of finished runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    /// How many finished runs they are of.
    pub runs: i64,
    pub p50: i64,
    pub p95: i64,
    pub p99: i64,
}

/// How many records a step of a run has with one status (a step in a loop has one per
/// iteration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepStatusCount {
    pub step_id: String,
    pub status: String,
    pub count: i64,
}

/// How far before a row's timestamp its time-ordered id may say it was made (the id is taken on
/// another node or a little later): the id bound only narrows the index range, the timestamp
/// decides.
const ID_SLACK_MS: i64 = 3_600_000;

/// The smallest UUID v7 text made at or after `ms`: ids sort as text by creation time, so
/// `id >= v7_floor(t)` is a range of the `(owner, id)` indexes.
fn v7_floor(ms: i64) -> String {
    let ms = ms.max(0) as u64 & 0xffff_ffff_ffff;
    format!(
        "{:08x}-{:04x}-0000-0000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

const DELIVERY_COUNTS_SQL: &str = "SELECT (received_at - $2) / $3 AS bucket, status, reason, \
     COUNT(*) AS n FROM deliveries \
     WHERE webhook_id = $1 AND id >= $4 AND received_at >= $2 AND received_at < $5 \
     GROUP BY 1, 2, 3";

const RUN_COUNTS_SQL: &str = "SELECT (created_at - $2) / $3 AS bucket, status, \
     COUNT(*) AS n FROM runs \
     WHERE workflow_id = $1 AND id >= $4 AND created_at >= $2 AND created_at < $5 \
     GROUP BY 1, 2";

/// Nearest rank: the `ceil(p/100 * n)`-th smallest, in integer arithmetic.
const PERCENTILES_SQL: &str = "WITH d AS (SELECT finished_at - started_at AS ms, \
     ROW_NUMBER() OVER (ORDER BY finished_at - started_at) AS rn, COUNT(*) OVER () AS n \
     FROM runs WHERE workflow_id = $1 AND id >= $3 AND created_at >= $2 \
     AND finished_at IS NOT NULL AND started_at IS NOT NULL) \
     SELECT COUNT(*) AS runs, \
     MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN ms END) AS p50, \
     MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN ms END) AS p95, \
     MAX(CASE WHEN rn = (99 * n + 99) / 100 THEN ms END) AS p99 FROM d";

const STEP_STATUSES_SQL: &str = "SELECT step_id, status, COUNT(*) AS n FROM run_steps \
     WHERE run_id = $1 GROUP BY step_id, status ORDER BY step_id, status";

/// Runs a per-bucket count query (`$1` the webhook's or workflow's id, then the range as
/// [`DELIVERY_COUNTS_SQL`] and [`RUN_COUNTS_SQL`] take it) and maps each row with `$make`.
macro_rules! bucket_counts {
    ($store:expr, $sql:expr, $id:expr, $range:expr, |$r:ident| $make:expr) => {
        on_db!(&$store.db, |p| {
            let rows = sqlx::query($sql)
                .bind($id)
                .bind($range.since_ms)
                .bind($range.bucket_ms)
                .bind(v7_floor($range.since_ms - ID_SLACK_MS))
                .bind($range.until_ms())
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|$r| Ok($make))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    };
}

impl Store {
    /// Webhook `webhook_id`'s deliveries in `range`, counted per bucket, status and reason.
    pub async fn delivery_counts(
        &self,
        webhook_id: &str,
        range: Buckets,
    ) -> Result<Vec<DeliveryCount>> {
        check(range)?;
        if names_nothing(webhook_id) {
            return Ok(Vec::new());
        }
        bucket_counts!(self, DELIVERY_COUNTS_SQL, webhook_id, range, |r| {
            DeliveryCount {
                bucket: r.try_get("bucket")?,
                status: r.try_get("status")?,
                reason: r.try_get("reason")?,
                count: r.try_get("n")?,
            }
        })
    }

    /// Workflow `workflow_id`'s runs created in `range`, counted per bucket and status.
    pub async fn run_counts(&self, workflow_id: &str, range: Buckets) -> Result<Vec<RunCount>> {
        check(range)?;
        if names_nothing(workflow_id) {
            return Ok(Vec::new());
        }
        bucket_counts!(self, RUN_COUNTS_SQL, workflow_id, range, |r| RunCount {
            bucket: r.try_get("bucket")?,
            status: r.try_get("status")?,
            count: r.try_get("n")?,
        })
    }

    /// Duration percentiles of workflow `workflow_id`'s finished runs created since `since_ms`;
    /// `None` when none has finished.
    pub async fn run_duration_percentiles(
        &self,
        workflow_id: &str,
        since_ms: i64,
    ) -> Result<Option<Percentiles>> {
        if names_nothing(workflow_id) {
            return Ok(None);
        }
        on_db!(&self.db, |p| {
            let r = sqlx::query(PERCENTILES_SQL)
                .bind(workflow_id)
                .bind(since_ms)
                .bind(v7_floor(since_ms - ID_SLACK_MS))
                .fetch_one(p)
                .await?;
            let runs: i64 = r.try_get("runs")?;
            let get = |c: &str| -> Result<i64, sqlx::Error> {
                Ok(r.try_get::<Option<i64>, _>(c)?.unwrap_or(0))
            };
            Ok::<_, StoreError>((runs > 0).then_some(Percentiles {
                runs,
                p50: get("p50")?,
                p95: get("p95")?,
                p99: get("p99")?,
            }))
        })
    }

    /// How many step records of run `run_id` have each status, per step id.
    pub async fn step_status_counts(&self, run_id: &str) -> Result<Vec<StepStatusCount>> {
        if names_nothing(run_id) {
            return Ok(Vec::new());
        }
        on_db!(&self.db, |p| {
            let rows = sqlx::query(STEP_STATUSES_SQL)
                .bind(run_id)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(StepStatusCount {
                        step_id: r.try_get("step_id")?,
                        status: r.try_get("status")?,
                        count: r.try_get("n")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_floor_sorts_below_every_id_made_from_that_millisecond() {
        let before = crate::now_ms();
        let id = crate::new_id();
        let after = crate::now_ms();
        assert!(v7_floor(before).as_str() <= id.as_str(), "{id}");
        assert!(v7_floor(after + 1).as_str() > id.as_str(), "{id}");
        assert_eq!(v7_floor(-5), "00000000-0000-0000-0000-000000000000");
    }
}
