//! hookflow's HTTP server: the webhook ingest endpoint (`/webhooks/{id}`), the management API
//! (`/api/v1`), the web UI (`/ui`), health, metrics and the OpenAPI document. It owns HTTP
//! concerns only — status codes, problem+json, pages, authentication — and leaves decisions
//! that need committed state to the store's delivery journal.
//!
//! Layout: [`net`] (connections, header and body bounds, under the router), [`ingest`] (SPEC §2),
//! [`api`] (SPEC §5) and [`ui`] (SPEC §7), thin adapters over [`manage`] (the management
//! services: the rules of every change, and their domain error), [`ops`] (health and metrics),
//! [`openapi`] (the document, generated from the routes), [`problem`] (the problem+json answer;
//! domain errors become one in [`manage::error`]), [`quota`] (shares of connections and memory
//! per client and per webhook), [`state`] (what every handler shares), [`sweep`] and
//! [`retention`] (background clean-up).
#![forbid(unsafe_code)]

pub mod api;
pub mod ingest;
pub mod manage;
pub mod net;
pub mod openapi;
pub mod ops;
pub mod problem;
pub mod quota;
pub mod retention;
pub mod state;
pub mod sweep;
pub mod ui;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get};
use hookflow_store::Store;
use hookflow_store::journal::{DeliveryJournal, JournalOptions};
use tokio::net::TcpListener;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use state::{App, AppState, Limits};

/// What `serve` needs beyond the store.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Base of every Webhook URL shown (`--public-url`); `None`: `http://<bound address>`.
    pub public_url: Option<String>,
    /// `HOOKFLOW_ADMIN_TOKEN`: always a valid admin token when set.
    pub admin_token: Option<String>,
    pub limits: Limits,
    /// Connection, header and body bounds.
    pub net: net::NetLimits,
    pub journal: JournalOptions,
    pub engine: hookflow_engine::EngineOptions,
    /// How long deliveries and runs are kept (`--retain-days`).
    pub retention: retention::Retention,
    /// How often expired dedup keys are deleted (`--dedup-sweep-seconds`).
    pub dedup_sweep_every: std::time::Duration,
}

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] hookflow_store::StoreError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Engine(#[from] hookflow_engine::EngineError),
}

/// Every route outside the management API and the web UI, with its OpenAPI operation: [`router`]
/// serves them and [`openapi::document`] describes them, both from this one list.
pub fn routes() -> OpenApiRouter<AppState> {
    // Every method reaches ingest, which answers all but POST with 405 and `Allow: POST`; the
    // document shows the POST.
    let (schemas, paths, _) = routes!(ingest::receive);
    OpenApiRouter::new()
        .routes((schemas, paths, any(ingest::receive)))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
}

/// Builds the router for `state`.
pub fn router(state: AppState) -> Router {
    let (root, _) = routes().split_for_parts();
    root.nest("/api/v1", api::router(state.clone()))
        .route("/", get(ui::root))
        .nest("/ui", ui::routes(state.clone()))
        .method_not_allowed_fallback(ops::method_not_allowed)
        .fallback(ops::not_found)
        .with_state(state)
}

/// Serves on `listener` until `shutdown` completes, then stops accepting, lets requests in
/// flight finish, commits everything the journal holds and closes the database. Nothing that
/// was answered is lost.
pub async fn serve(
    config: ServerConfig,
    store: Store,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr()?;
    let generated = store
        .bootstrap_admin_token(config.admin_token.as_deref())
        .await?;
    if let Some(token) = generated {
        // Printed once, on the first start with an empty database; never logged again.
        println!("hookflow admin token (shown only now, keep it safe): {token}");
    }
    // Before the journal starts, so that what its writer publishes on starting is kept.
    let metrics = ops::install_metrics();
    let sandbox = hookflow_engine::Engine::new_sandbox();
    let (journal, writer) =
        DeliveryJournal::start(&store, config.journal.clone(), sandbox.clone()).await?;
    let engine = hookflow_engine::Engine::new(
        store.clone(),
        journal.run_queue(),
        sandbox,
        config.engine.clone(),
    )?;
    let (stop_engine, engine_stopped) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(hookflow_engine::worker::run(
        engine.clone(),
        engine_stopped.clone(),
    ));
    let sweeper = tokio::spawn(sweep::run(
        journal.clone(),
        config.dedup_sweep_every,
        engine_stopped.clone(),
    ));
    let pruner = tokio::spawn(retention::run(
        store.clone(),
        config.retention,
        engine_stopped.clone(),
    ));
    let scheduler = tokio::spawn(hookflow_engine::schedule::run(
        engine.clone(),
        engine_stopped,
    ));
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_string();
    let state = AppState(Arc::new(App {
        admin_digest: store.admin_token_digest().await?,
        env_token_digest: config
            .admin_token
            .as_deref()
            .map(hookflow_store::crypto::digest),
        store: store.clone(),
        journal,
        engine,
        public_url,
        limits: Limits {
            rejected_body_max: config.journal.rejected_body_max,
            ..config.limits.clone()
        },
        budgets: ingest::IngestBudgets::new(config.limits.budgets.clone()),
        metrics,
        retention: config.retention,
    }));
    let app = net::deadline::bound(
        router(state),
        config.net.body_timeout,
        config.net.max_requests_in_flight,
    );
    tracing::info!(%addr, backend = store.backend_name(), "hookflow listening");
    println!("hookflow listening on http://{addr}");
    net::serve_http1(listener, app, &config.net, shutdown).await?;
    // Stop claiming runs; runs in flight reach their next record (or keep their lease and are
    // resumed later). Then every handle to the journal is gone with the router: the writer
    // commits what is queued and stops.
    let _ = stop_engine.send(true);
    let _ = workers.await;
    let _ = scheduler.await;
    let _ = sweeper.await;
    let _ = pruner.await;
    match tokio::time::timeout(std::time::Duration::from_secs(40), writer).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => tracing::error!("the delivery journal's writer stopped abnormally"),
        Err(_) => tracing::error!("the delivery journal's writer did not stop in time"),
    }
    store.close().await;
    tracing::info!("hookflow stopped");
    Ok(())
}
