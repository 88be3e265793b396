//! Replaying stored deliveries (SPEC §10): accepted deliveries routed again through their
//! webhook's events, filters and workflows as they are now — the journal's own routing
//! ([`hookflow_core::routing::route`]) — and the runs that starts enqueued, marked `replay_of`,
//! in one transaction per call. A dry run decides the same and writes nothing.

use crate::db::on_db;
use crate::deliveries::Delivery;
use crate::journal::{RouteRow, route_rows};
use crate::run_queue::insert_runs_sqlx;
use crate::run_queue::sql::OnConflict;
use crate::runs::{NewRun, TriggerKind};
use crate::{Result, Store, StoreError, new_id, now_ms};
use hookflow_core::expr::Sandbox;
use hookflow_core::routing::{Routed, RoutingRecord, route};

/// Most deliveries [`Store::replay`] is given at once: one transaction each, so a bulk replay
/// commits in bounded steps between which ingest batches commit.
pub const REPLAY_BATCH: usize = 100;

/// What replaying one delivery decided (and, unless a dry run, started).
#[derive(Debug, Clone)]
pub struct Replayed {
    pub delivery_id: String,
    /// Same shape and reasons as a delivery's own `routing`.
    pub routing: RoutingRecord,
    /// The runs started (ids `None` in a dry run).
    pub runs: Vec<Routed>,
}

/// A replay request: which workflows may start, and whether to start anything.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions<'a> {
    /// Only these workflows start (the others are reported as not started).
    pub only: Option<&'a [String]>,
    pub dry_run: bool,
}

impl Store {
    /// Routes the accepted ones of `deliveries` (all of webhook `(id, name)`) again and, unless a
    /// dry run, enqueues the runs that starts with `started_by` `replay` and `replay_of` — all in
    /// one transaction (at most [`REPLAY_BATCH`] deliveries). Filters are evaluated before the
    /// transaction; it re-reads the routes and decides again only if they changed meanwhile, so
    /// runs start on committed events and workflows without holding the write lock for filters.
    pub async fn replay(
        &self,
        webhook: (&str, &str),
        deliveries: &[Delivery],
        opts: ReplayOptions<'_>,
        sandbox: &Sandbox,
    ) -> Result<Vec<Replayed>> {
        if deliveries.len() > REPLAY_BATCH {
            return Err(StoreError::Internal(format!(
                "at most {REPLAY_BATCH} deliveries are replayed at once"
            )));
        }
        let accepted: Vec<&Delivery> = deliveries
            .iter()
            .filter(|d| d.status == "accepted" && d.webhook_id == webhook.0)
            .collect();
        let decide = |rows: &[RouteRow]| -> Vec<Replayed> {
            accepted
                .iter()
                .map(|d| {
                    let decided = route(
                        rows,
                        |with_filter| {
                            hookflow_core::filters::evaluate(
                                sandbox,
                                &d.recorded(webhook.1),
                                with_filter,
                            )
                        },
                        opts.only,
                        || (!opts.dry_run).then(new_id),
                    );
                    Replayed {
                        delivery_id: d.id.clone(),
                        routing: decided.record,
                        runs: decided.runs,
                    }
                })
                .collect()
        };
        on_db!(&self.db, |p| {
            let rows = route_rows!(p, webhook.0);
            let mut replayed = decide(&rows);
            if opts.dry_run || replayed.iter().all(|r| r.runs.is_empty()) {
                return Ok(replayed);
            }
            let mut tx = p.begin_with(self.db.begin_write()).await?;
            let now_rows = route_rows!(&mut *tx, webhook.0);
            if now_rows != rows {
                replayed = decide(&now_rows);
            }
            let runs: Vec<NewRun> = replayed
                .iter()
                .flat_map(|r| r.runs.iter().map(move |run| (r, run)))
                .map(|(r, run)| NewRun {
                    event_id: Some(run.event_id.clone()),
                    replay_of: Some(r.delivery_id.clone()),
                    ..NewRun::new(
                        run.id.clone().unwrap_or_default(),
                        TriggerKind::Replay,
                        run.workflow_id.clone(),
                        run.workflow_name.clone(),
                    )
                })
                .collect();
            insert_runs_sqlx!(&mut *tx, now_ms(), &runs, OnConflict::Fresh);
            tx.commit().await?;
            Ok::<_, StoreError>(replayed)
        })
    }
}
