//! `hookflow serve`: its options (SPEC §6), logging, and the one place they become a
//! [`ServerConfig`] handed to `hookflow_server::serve` with a listener and a shutdown signal
//! (SIGINT or SIGTERM).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use hookflow_server::ingest::BudgetLimits;
use hookflow_server::net::NetLimits;
use hookflow_server::{Limits, ServerConfig};
use hookflow_store::journal::JournalOptions;
use hookflow_store::{Store, StoreOptions};

const MIB: u64 = 1_048_576;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOOKFLOW_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Directory for the embedded database and the master key file.
    #[arg(long, env = "HOOKFLOW_DATA_DIR", default_value = "./hookflow-data")]
    pub data_dir: PathBuf,
    /// Base of every Webhook URL shown (default: http://<listen address>).
    #[arg(long, env = "HOOKFLOW_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// PostgreSQL URL (postgres://…) instead of the embedded SQLite database.
    #[arg(
        long = "database",
        env = "HOOKFLOW_DATABASE_URL",
        hide_env_values = true
    )]
    pub database: Option<String>,
    /// Database connections of this node (PostgreSQL pool size).
    #[arg(long, env = "HOOKFLOW_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Largest webhook body accepted, in bytes.
    #[arg(long, env = "HOOKFLOW_MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: u64,
    /// Days of history kept: deliveries (accepted, rejected, duplicate) received and runs
    /// finished longer ago are deleted, with their steps, except what a run that has not
    /// finished still needs. 0 keeps everything forever.
    #[arg(long, env = "HOOKFLOW_RETAIN_DAYS", default_value_t = 90)]
    pub retain_days: u32,
    /// Seconds between two retention passes (for tests).
    #[arg(
        long,
        env = "HOOKFLOW_RETAIN_EVERY_SECONDS",
        default_value_t = 600,
        hide = true
    )]
    pub retain_every_seconds: u64,
    /// Rejected deliveries kept per webhook (the newest).
    #[arg(long, env = "HOOKFLOW_REJECTED_KEEP", default_value_t = 1000)]
    pub rejected_keep: i64,
    /// Bytes of a rejected request's body that are kept.
    #[arg(long, env = "HOOKFLOW_REJECTED_BODY_BYTES", default_value_t = 65_536)]
    pub rejected_body_bytes: usize,
    /// Bytes of a rejected request's header names and values that are kept (the rest is cut).
    #[arg(long, env = "HOOKFLOW_REJECTED_HEADER_BYTES", default_value_t = 8192)]
    pub rejected_header_bytes: usize,
    /// Webhook requests that may wait for the journal before new ones get 503.
    #[arg(long, env = "HOOKFLOW_INGEST_QUEUE", default_value_t = 8192)]
    pub ingest_queue: usize,
    /// SQLite: most duplicate-detection keys in their window held in memory (about 160 bytes
    /// each); more are kept in the database's `dedup_keys` table, where each costs a b-tree
    /// write. PostgreSQL keeps every key in that table.
    #[arg(long, env = "HOOKFLOW_DEDUP_MEMORY_KEYS", default_value_t = 1_000_000)]
    pub dedup_memory_keys: usize,
    /// Megabytes of webhook bodies held in memory at once before new requests get 503.
    #[arg(long, env = "HOOKFLOW_INGEST_MEMORY_MB", default_value_t = 256)]
    pub ingest_memory_mb: u64,
    /// Megabytes of webhook bodies one client address may have in memory at once.
    #[arg(
        long,
        env = "HOOKFLOW_INGEST_MEMORY_PER_CLIENT_MB",
        default_value_t = 64
    )]
    pub ingest_memory_per_client_mb: u64,
    /// Megabytes of bodies one webhook may have in memory at once.
    #[arg(
        long,
        env = "HOOKFLOW_INGEST_MEMORY_PER_WEBHOOK_MB",
        default_value_t = 128
    )]
    pub ingest_memory_per_webhook_mb: u64,
    /// Megabytes for reading the bodies of refused requests (unknown webhook, wrong key or
    /// method) for their record; a client address gets 1/16, a webhook 1/4.
    #[arg(long, env = "HOOKFLOW_UNAUTHENTICATED_MEMORY_MB", default_value_t = 16)]
    pub unauthenticated_memory_mb: u64,
    /// Refused requests (wrong key or method) recorded per webhook and second on this node
    /// (0: all).
    #[arg(
        long,
        env = "HOOKFLOW_REJECTED_RECORDS_PER_SECOND",
        default_value_t = 100
    )]
    pub rejected_records_per_second: u32,
    /// A webhook's 401 is answered no earlier than this after the request arrived (known and
    /// unknown webhooks answer alike).
    #[arg(long, env = "HOOKFLOW_UNAUTHORIZED_DELAY_MS", default_value_t = 5)]
    pub unauthorized_delay_ms: u64,
    /// Open client connections at once (kept below the open-files limit less a reserve).
    #[arg(long, env = "HOOKFLOW_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: u64,
    /// Open connections from one client address.
    #[arg(
        long,
        env = "HOOKFLOW_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 256
    )]
    pub max_connections_per_client: u64,
    /// Requests handled at once; more get 503 at once.
    #[arg(long, env = "HOOKFLOW_MAX_REQUESTS_IN_FLIGHT", default_value_t = 2048)]
    pub max_requests_in_flight: usize,
    /// Seconds a client has to send a request's headers; also the longest a kept-alive
    /// connection may sit idle.
    #[arg(long, env = "HOOKFLOW_HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    pub header_timeout_seconds: u64,
    /// When every connection slot is taken, a connection that has waited this many milliseconds
    /// for a request (silent, half a header section, idle keep-alive) is closed to make room for
    /// a new one. A connection in the middle of a request never is.
    #[arg(long, env = "HOOKFLOW_EVICT_IDLE_AFTER_MS", default_value_t = 1000)]
    pub evict_idle_after_ms: u64,
    /// Largest request header section in bytes (request line included).
    #[arg(long, env = "HOOKFLOW_MAX_HEADER_BYTES", default_value_t = 16_384)]
    pub max_header_bytes: usize,
    /// Most header fields in one request.
    #[arg(long, env = "HOOKFLOW_MAX_HEADERS", default_value_t = 100)]
    pub max_headers: usize,
    /// Seconds a client has to send a whole request body.
    #[arg(long, env = "HOOKFLOW_BODY_TIMEOUT_SECONDS", default_value_t = 30)]
    pub body_timeout_seconds: u64,
    /// Below this many free megabytes on the data directory's filesystem, /healthz answers 503.
    #[arg(long, env = "HOOKFLOW_MIN_FREE_DISK_MB", default_value_t = 64)]
    pub min_free_disk_mb: u64,
    /// Workflow runs executed at once by this node.
    #[arg(long, env = "HOOKFLOW_WORKERS", default_value_t = 64)]
    pub workers: usize,
    /// Seconds a node holds a run without renewing; after that another node takes it over.
    #[arg(long, env = "HOOKFLOW_RUN_LEASE_SECONDS", default_value_t = 60)]
    pub run_lease_seconds: u64,
    /// Comma-separated address ranges outbound http_request steps may not reach
    /// (e.g. "127.0.0.0/8,::1/128,10.0.0.0/8,169.254.0.0/16"); with any, 0.0.0.0/8 and :: are
    /// denied too.
    #[arg(long, env = "HOOKFLOW_DENY_NETWORKS", default_value = "")]
    pub deny_networks: String,
    /// Runs one run started by a webhook, a schedule or by hand may start through run_workflow
    /// steps, its sub-runs' sub-runs included; past it, run_workflow steps fail.
    #[arg(long, env = "HOOKFLOW_MAX_RUNS_PER_ROOT", default_value_t = 1000)]
    pub max_runs_per_root: u32,
    /// Largest step input, output or error, and run outputs or error, recorded whole; a larger
    /// one is recorded cut (a marker with its size and a 1 KiB preview).
    #[arg(
        long,
        env = "HOOKFLOW_MAX_STEP_RECORD_BYTES",
        default_value_t = 262_144
    )]
    pub max_step_record_bytes: usize,
    /// Most one run's step records may hold in all; past it, values are recorded as markers
    /// (also the most a loop's output list or a json_path result holds in memory, and the
    /// largest inputs a run_workflow step may pass).
    #[arg(
        long,
        env = "HOOKFLOW_MAX_RUN_RECORD_BYTES",
        default_value_t = 16_777_216
    )]
    pub max_run_record_bytes: usize,
    /// Request content types webhooks may be configured with besides the four of SPEC §2,
    /// comma-separated (e.g. "text/plain,application/cloudevents+json"): application/*+json
    /// bodies parse as JSON, text/* bodies reach runs as a string.
    #[arg(long, env = "HOOKFLOW_EXTRA_CONTENT_TYPES", default_value = "")]
    pub extra_content_types: String,
    /// Seconds between two deletions of the duplicate-detection keys whose window has passed
    /// (an expired key still stored is harmless: the next request with it takes it over).
    #[arg(long, env = "HOOKFLOW_DEDUP_SWEEP_SECONDS", default_value_t = 30)]
    pub dedup_sweep_seconds: u64,
    /// Log format: text or json.
    #[arg(long, env = "HOOKFLOW_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Export traces over OTLP/HTTP to this OpenTelemetry collector (`http://host:4318`; the
    /// path /v1/traces is added unless the URL has one). Not set: no spans are made.
    #[arg(long, env = "HOOKFLOW_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Milliseconds between two exports of the spans finished meanwhile.
    #[arg(long, env = "HOOKFLOW_OTLP_EXPORT_INTERVAL_MS", default_value_t = 5000)]
    pub otlp_export_interval_ms: u64,
    #[command(flatten)]
    pub python: crate::python_args::PythonArgs,
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOOKFLOW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // No colour codes in files, pipes and journals.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// `hookflow serve`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logs(&args.log_format);
    let exporter = match args
        .otlp_endpoint
        .as_deref()
        .filter(|e| !e.trim().is_empty())
    {
        Some(endpoint) => Some(crate::otlp::start(
            endpoint,
            Duration::from_millis(args.otlp_export_interval_ms.max(1)),
        )?),
        None => None,
    };
    let store = Store::open(&StoreOptions {
        data_dir: args.data_dir.clone(),
        // An empty variable (as compose files often leave it) means "not set".
        database_url: args.database.clone().filter(|u| !u.trim().is_empty()),
        master_key: std::env::var("HOOKFLOW_MASTER_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty()),
        max_connections: args.db_max_connections,
    })
    .await
    .context("cannot open the database")?;
    let python = args.python.runner(&args.data_dir).await?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let config = ServerConfig {
        public_url: args.public_url.filter(|u| !u.trim().is_empty()),
        admin_token: std::env::var("HOOKFLOW_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        limits: Limits {
            max_body: args.max_body_bytes,
            budgets: BudgetLimits {
                bodies: args.ingest_memory_mb.max(2) * MIB,
                bodies_per_client: args.ingest_memory_per_client_mb.max(1) * MIB,
                bodies_per_webhook: args.ingest_memory_per_webhook_mb.max(1) * MIB,
                unauthenticated: args.unauthenticated_memory_mb.max(1) * MIB,
                rejected_records_per_second: args.rejected_records_per_second,
            },
            unauthorized_delay: Duration::from_millis(args.unauthorized_delay_ms),
            min_free_disk_bytes: args.min_free_disk_mb.saturating_mul(1_048_576),
            extra_content_types: hookflow_core::media::extra_content_types(
                &args.extra_content_types,
            )
            .map_err(|e| anyhow::anyhow!("--extra-content-types: {e}"))?,
            ..Limits::default()
        },
        net: NetLimits {
            max_connections: args.max_connections.max(1),
            max_connections_per_client: args.max_connections_per_client.max(1),
            max_requests_in_flight: args.max_requests_in_flight.max(1),
            header_timeout: Duration::from_secs(args.header_timeout_seconds.max(1)),
            // hyper needs room for at least a request line and a few fields.
            max_header_bytes: args.max_header_bytes.max(1024),
            max_headers: args.max_headers.max(8),
            body_timeout: Duration::from_secs(args.body_timeout_seconds.max(1)),
            evict_idle_after: Duration::from_millis(args.evict_idle_after_ms),
        },
        journal: JournalOptions {
            queue_capacity: args.ingest_queue.max(1),
            max_body: args.max_body_bytes,
            rejected_keep: args.rejected_keep.max(0),
            rejected_body_max: args.rejected_body_bytes,
            rejected_header_max: args.rejected_header_bytes,
            dedup_memory_keys: args.dedup_memory_keys,
            ..JournalOptions::default()
        },
        engine: hookflow_engine::EngineOptions {
            workers: args.workers.max(1),
            lease_ms: (args.run_lease_seconds.max(1) * 1000) as i64,
            deny_networks: args
                .deny_networks
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            max_runs_per_root: i64::from(args.max_runs_per_root),
            record: hookflow_engine::record::RecordLimits {
                step_bytes: args.max_step_record_bytes.max(1024),
                run_bytes: args
                    .max_run_record_bytes
                    .max(args.max_step_record_bytes.max(1024)),
            },
            python: Some(python),
            ..hookflow_engine::EngineOptions::default()
        },
        retention: hookflow_server::retention::Retention {
            days: args.retain_days,
            every: Duration::from_secs(args.retain_every_seconds.max(1)),
        },
        dedup_sweep_every: Duration::from_secs(args.dedup_sweep_seconds.max(1)),
    };
    let served = hookflow_server::serve(config, store, listener, shutdown_signal()).await;
    if let Some(exporter) = exporter {
        exporter.shutdown().await;
    }
    served?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested: finishing requests in flight");
}
