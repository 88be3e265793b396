//! Operations endpoints that need no token: `/healthz` (the database, the journal's last write,
//! free disk space), `/metrics` (Prometheus text, no keys or secrets in it), `/api/openapi.json`
//! (the document [`crate::openapi`] generates).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

use crate::problem::Problem;
use crate::state::AppState;

/// Buckets of the histograms measured in seconds.
const SECONDS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets of `hookflow_journal_batch_size`, a count of requests: 1, 2, 4, … 4096.
const BATCH_SIZE_BUCKETS: [f64; 13] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

/// Installs the process-wide metrics recorder once; later calls (a second server in the same
/// process) get no handle and serve an empty page.
pub fn install_metrics() -> Option<PrometheusHandle> {
    let recorder = PrometheusBuilder::new()
        .set_buckets(&SECONDS_BUCKETS)
        .ok()?
        .set_buckets_for_metric(
            Matcher::Full("hookflow_journal_batch_size".into()),
            &BATCH_SIZE_BUCKETS,
        )
        .ok()?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).ok()?;
    metrics::describe_counter!(
        "hookflow_webhook_requests_total",
        "Webhook requests answered, by HTTP status (202 accepted, others rejected)"
    );
    metrics::describe_counter!(
        "hookflow_deliveries_total",
        "Requests of known webhooks by webhook id and outcome (accepted, rejected, duplicate)"
    );
    metrics::describe_histogram!(
        "hookflow_journal_batch_size",
        "Requests committed together in one journal transaction"
    );
    metrics::describe_histogram!(
        "hookflow_journal_commit_seconds",
        "Time to write and commit (fsync) one journal batch"
    );
    metrics::describe_histogram!(
        "hookflow_journal_checkpoint_seconds",
        "SQLite: time to copy the WAL into the database file and sync it, beside the writer"
    );
    metrics::describe_histogram!(
        "hookflow_journal_catch_up_checkpoint_seconds",
        "SQLite: time the writer paused to copy the rest of a long WAL itself"
    );
    metrics::describe_gauge!(
        "hookflow_ingest_buffered_kib",
        "KiB of webhook bodies held in memory (being read or waiting for the journal)"
    );
    metrics::describe_counter!(
        "hookflow_ingest_shed_total",
        "Webhook requests refused with 503 because the body memory budget was used up"
    );
    metrics::describe_gauge!(
        "hookflow_journal_queue_depth",
        "Requests waiting for the journal's writer"
    );
    metrics::describe_gauge!(
        "hookflow_dedup_keys",
        "SQLite: duplicate-detection keys in their window, by place (memory up to \
         --dedup-memory-keys, disk: the dedup_keys table)"
    );
    metrics::describe_counter!(
        "hookflow_retention_pruned_total",
        "Rows deleted past --retain-days, by table (runs, run_steps, deliveries, \
         workflow_versions)"
    );
    Some(handle)
}

/// How long `/healthz` waits for the database's answer.
const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// What `/healthz` answers.
#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: HealthStatus,
    /// The backend: `sqlite` or `postgres`.
    pub database: &'static str,
    /// Webhook requests waiting to be committed.
    pub journal_queue_depth: usize,
    /// Megabytes free on the data directory's filesystem.
    #[schema(required = true)]
    pub disk_free_mb: Option<u64>,
    pub retention: crate::retention::RetentionView,
    /// Why the server is unavailable (503 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    Unavailable,
}

/// Health check
///
/// 200 when the database answers, the journal's last write succeeded and the data directory's
/// filesystem has `--min-free-disk-mb` free; else 503, with every reason in `problems`.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "health",
    responses(
        (status = 200, description = "The server and its database work.", body = Health),
        (status = 503, description = "Not healthy: the database does not answer within 800 ms, \
            the delivery journal's last write failed (e.g. the disk is full), or the data \
            directory's filesystem has less than `--min-free-disk-mb` free. `problems` says \
            which.", body = Health),
    ))]
pub async fn healthz(State(st): State<AppState>) -> Response {
    let mut problems: Vec<String> = Vec::new();
    match tokio::time::timeout(HEALTH_PROBE_TIMEOUT, st.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            problems.push(format!("the database is unreachable: {e}"));
        }
        Err(_) => problems.push(format!(
            "the database is unreachable: no answer within {} ms",
            HEALTH_PROBE_TIMEOUT.as_millis()
        )),
    }
    if let Some(e) = st.journal.last_write_error() {
        problems.push(format!("the delivery journal's last write failed: {e}"));
    }
    let free = free_disk_bytes(st.store.data_dir());
    match &free {
        &Ok(free) if free < st.limits.min_free_disk_bytes => problems.push(format!(
            "low disk space: {} MB free on the data directory's filesystem, less than \
             --min-free-disk-mb {}",
            free / 1_048_576,
            st.limits.min_free_disk_bytes / 1_048_576
        )),
        Ok(_) => {}
        Err(e) => problems.push(format!(
            "the free space of the data directory cannot be read: {e}"
        )),
    }
    let healthy = problems.is_empty();
    let body = crate::manage::to_json(&Health {
        status: if healthy {
            HealthStatus::Ok
        } else {
            HealthStatus::Unavailable
        },
        database: st.store.backend_name(),
        journal_queue_depth: st.journal.queue_depth(),
        disk_free_mb: free.as_ref().ok().map(|f| f / 1_048_576),
        retention: st.retention.view(),
        problems,
    });
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// Bytes available to this process on the filesystem holding `dir`.
#[cfg(unix)]
fn free_disk_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

#[cfg(not(unix))]
fn free_disk_bytes(_dir: &std::path::Path) -> std::io::Result<u64> {
    Ok(u64::MAX)
}

/// Prometheus metrics
///
/// Prometheus text format: `hookflow_webhook_requests_total{status}`,
/// `hookflow_deliveries_total{webhook, status}` (requests of each known webhook by its id and
/// outcome: `accepted`, `rejected`, `duplicate`), `hookflow_runs_finished_total{status}`,
/// `hookflow_journal_batch_size`, `hookflow_journal_commit_seconds`,
/// `hookflow_journal_queue_depth`, on SQLite `hookflow_journal_checkpoint_seconds`,
/// `hookflow_journal_catch_up_checkpoint_seconds` and `hookflow_dedup_keys{place}` (keys in their
/// window in `memory` and on `disk`). Carries no keys or secrets.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Metrics.", body = String,
        content_type = "text/plain")))]
pub async fn metrics(State(st): State<AppState>) -> Response {
    metrics::gauge!("hookflow_journal_queue_depth").set(st.journal.queue_depth() as f64);
    metrics::gauge!("hookflow_ingest_buffered_kib").set(st.budgets.bodies_held_kib() as f64);
    let text = st.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// This document
///
/// Generated from the routes and types the server is built from.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object)))]
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::json(),
    )
        .into_response()
}

pub async fn not_found() -> Problem {
    Problem::not_found("there is nothing at this address")
}

/// A known address asked with a method it does not take; the router adds `Allow`.
pub async fn method_not_allowed(method: axum::http::Method) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not allowed here; the Allow header lists the methods this address takes"
        ),
    )
}
