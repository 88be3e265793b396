//! hookflow's engine: takes runs from the run queue (a lease per run, renewed while it runs),
//! executes their workflow step by step and records every step as it finishes. A run is
//! *replayed* when it is resumed — after a sleep, a retry backoff, a sub-workflow, or a crash on
//! another node: steps already recorded are not executed again, their recorded outputs are used,
//! so execution continues after the last completed step (at-least-once per step).
//!
//! Layout: [`worker`] (claiming, leases, concurrency), [`exec`] (the replaying interpreter, with
//! [`prepare`] loading a run, [`control`] for control steps and [`leaf`] for recording and
//! replaying leaf steps), [`steps`] (what each leaf step does, one file per step family, the
//! `python` step run by `hookflow_python`), [`schedule`] (firing cron events; their times and
//! the redaction of secret values are core's),
//! [`deny`] (the outbound deny list, checked on every address connected to), [`record`] (how
//! much a run records and holds).
#![forbid(unsafe_code)]

pub(crate) mod control;
pub mod deny;
pub mod exec;
pub(crate) mod leaf;
pub(crate) mod prepare;
pub mod record;
pub mod schedule;
pub mod steps;
pub mod trace;
pub mod worker;

use std::sync::Arc;

use hookflow_core::expr::{ExprLimits, Sandbox};
use hookflow_store::Store;
use hookflow_store::run_queue::RunQueue;

/// Tunables (SPEC §8: configurable).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Runs executed at once on this node.
    pub workers: usize,
    /// How long a claimed run stays this node's without a renewal (SPEC §8: 60 s).
    pub lease_ms: i64,
    /// Iterations of a `for_each`/`while` unless the step sets `max_iterations`.
    pub max_iterations: u32,
    /// Nesting of `run_workflow` calls.
    pub max_depth: i64,
    /// Runs one root run and the runs under it may start in all (`--max-runs-per-root`).
    pub max_runs_per_root: i64,
    /// How much one step and one run may record.
    pub record: record::RecordLimits,
    /// Default timeout of an `http_request`.
    pub http_timeout_ms: u64,
    /// Address ranges outbound calls may not reach (`10.0.0.0/8`, `127.0.0.0/8`, ...).
    pub deny_networks: Vec<String>,
    /// Runs `python` steps (checked at startup); `None`: python steps fail.
    pub python: Option<Arc<hookflow_python::Python>>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            workers: 64,
            lease_ms: 60_000,
            max_iterations: 500,
            max_depth: 8,
            max_runs_per_root: 1000,
            record: record::RecordLimits::default(),
            http_timeout_ms: 30_000,
            deny_networks: Vec::new(),
            python: None,
        }
    }
}

/// Errors of the engine's own machinery (a step's failure is not one: it is recorded).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] hookflow_store::StoreError),
    #[error("{0}")]
    Invalid(String),
}

/// What the engine shares between its tasks.
pub struct Engine {
    pub store: Store,
    /// Where runs are claimed, recorded and ended: every write of the engine goes through the
    /// delivery journal's writer (one writer, one fsync per batch, for deliveries and runs
    /// alike), and its "runs ready" signal wakes the workers.
    pub queue: RunQueue,
    pub sandbox: Arc<Sandbox>,
    pub http: reqwest::Client,
    /// This process's id, owner of its leases.
    pub node: String,
    pub opts: EngineOptions,
    pub(crate) deny: Arc<deny::DenyList>,
    /// Runs executing on this node: the leases the renewal extends.
    pub(crate) executing: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Runs whose lease this node could not renew: they stop at their next step.
    pub(crate) lost: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Parsed definitions by workflow id and version.
    pub(crate) definitions: std::sync::Mutex<
        std::collections::HashMap<(String, i64), Arc<hookflow_core::workflow::Workflow>>,
    >,
    /// The secrets as last read (the `secrets` object of the expressions), with the generation
    /// of the secrets they were read at or after ([`hookflow_store::runs::RunContext`]).
    pub(crate) secrets: std::sync::Mutex<Option<HeldSecrets>>,
}

/// The `secrets` object of the expressions, and the generation of the secrets it was read at or
/// after (`None`: the secrets were never changed).
pub(crate) type HeldSecrets = (
    Option<String>,
    Arc<serde_json::Map<String, serde_json::Value>>,
);

impl Engine {
    /// An engine taking its runs from `queue`, checking expressions with `sandbox`.
    pub fn new(
        store: Store,
        queue: RunQueue,
        sandbox: Arc<Sandbox>,
        opts: EngineOptions,
    ) -> Result<Arc<Engine>, EngineError> {
        let deny =
            Arc::new(deny::DenyList::parse(&opts.deny_networks).map_err(EngineError::Invalid)?);
        let mut http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if !deny.is_empty() {
            // The addresses checked are the ones connected to: this resolver checks them, and
            // no proxy stands between (a proxy's address is not the destination's).
            http = http
                .dns_resolver(Arc::new(deny::DenyingResolver { deny: deny.clone() }))
                .no_proxy();
        }
        let http = http
            .build()
            .map_err(|e| EngineError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Arc::new(Engine {
            store,
            queue,
            sandbox,
            http,
            node: uuid::Uuid::now_v7().to_string(),
            opts,
            deny,
            definitions: Default::default(),
            secrets: Default::default(),
            executing: Default::default(),
            lost: Default::default(),
        }))
    }

    /// The sandbox every part of the server shares (filters, validation, runs).
    pub fn new_sandbox() -> Arc<Sandbox> {
        Arc::new(Sandbox::new(ExprLimits::default()))
    }
}
