//! Replay and dry runs (SPEC §10): one stored accepted delivery routed again through today's
//! events, filters and workflows, or every accepted delivery of a time range, in bounded
//! batches. The routing is the journal's own (see [`hookflow_store::replay`]); this module
//! checks what may be replayed and shapes what it started.

use std::collections::BTreeMap;

use hookflow_core::routing::RoutingRecord;
use hookflow_store::deliveries::Delivery;
use hookflow_store::replay::{REPLAY_BATCH, ReplayOptions, Replayed};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::runs::{drop_long_text, runs_json};
use super::{ManageError, ManageResult, deliveries, to_json, webhooks};
use crate::state::AppState;

/// Most deliveries one bulk replay covers (SPEC §10).
pub const MOST: i64 = 10_000;

/// What a replay of one delivery started (or would start).
#[derive(Serialize, ToSchema)]
pub struct Replay {
    /// Same shape and reasons as a delivery's own `routing`: `events` [{id, name, matched,
    /// reason}], `runs` [{id, workflow_id, workflow, event}] (`id` null in a dry run),
    /// `not_started` [{workflow_id, workflow, event, reason}].
    #[schema(value_type = Object)]
    pub routing: RoutingRecord,
    /// The runs started (as `GET /api/v1/runs` shows them); in a dry run, each run that would
    /// start: {workflow, workflow_id, event, trigger} with the trigger variables it would see.
    #[schema(value_type = Vec<Object>)]
    pub runs: Vec<Value>,
    pub dry_run: bool,
}

/// What a replay of a time range started (or would start).
#[derive(Serialize, ToSchema)]
pub struct ReplaySummary {
    /// Accepted deliveries replayed.
    pub deliveries: i64,
    /// Runs started (would start, in a dry run).
    pub runs_started: i64,
    /// Runs started per workflow name.
    pub workflows: BTreeMap<String, i64>,
    pub dry_run: bool,
}

/// Replays delivery `id`: `{routing, runs}`, where `runs` are the
/// runs started, or for a dry run `[{workflow, workflow_id, event, trigger}]`.
pub async fn replay_delivery(
    st: &AppState,
    id: &str,
    workflows: Option<&[String]>,
    dry_run: bool,
) -> ManageResult<Value> {
    let d = deliveries::find(st, id).await?;
    match d.status.as_str() {
        "accepted" => {}
        "duplicate" => {
            return Err(ManageError::Conflict(format!(
                "delivery {id} is a duplicate of {}: duplicates are never replayed",
                d.duplicate_of.as_deref().unwrap_or("an earlier delivery")
            )));
        }
        other => {
            return Err(ManageError::Conflict(format!(
                "delivery {id} was {other} (HTTP {}): only accepted deliveries are replayed",
                d.http_status
            )));
        }
    }
    let only = workflow_names(st, workflows).await?;
    let webhook = webhook_of(st, &d.webhook_id).await?;
    let opts = ReplayOptions {
        only: only.as_deref(),
        dry_run,
    };
    let mut replayed = replay(st, &webhook, std::slice::from_ref(&d), opts).await?;
    let Some(r) = replayed.pop() else {
        return Err(ManageError::Conflict(
            "only accepted deliveries are replayed".into(),
        ));
    };
    let runs = if dry_run {
        would_start(&webhook, &d, &r)
    } else {
        let mut records = Vec::with_capacity(r.runs.len());
        for run in &r.runs {
            if let Some(rec) = st.store.get_run(run.id.as_deref().unwrap_or("")).await? {
                records.push(rec);
            }
        }
        runs_json(st, &records, None).await?
    };
    Ok(to_json(&Replay {
        routing: r.routing,
        runs,
        dry_run,
    }))
}

/// An RFC 3339 time as unix milliseconds; 400 naming `field` otherwise.
pub fn instant(field: &str, text: &str) -> ManageResult<i64> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            ManageError::Malformed(format!(
                "{field} must be an RFC 3339 time like 2026-01-31T12:00:00Z, got {text:?} ({e})"
            ))
        })
}

/// Replays the accepted deliveries webhook `id` received from `from` (included) to `to`
/// (excluded), [`REPLAY_BATCH`] per transaction, yielding between batches so that ingest and
/// other requests keep being served.
pub async fn replay_range(
    st: &AppState,
    id: &str,
    (from, to): (i64, i64),
    workflows: Option<&[String]>,
    dry_run: bool,
) -> ManageResult<Value> {
    if from >= to {
        return Err(ManageError::Malformed("from must be before to".into()));
    }
    let w = webhooks::find(st, id).await?;
    let webhook = (w.id, w.name);
    let only = workflow_names(st, workflows).await?;
    let total = st.store.count_accepted_between(id, from, to).await?;
    if total > MOST {
        return Err(ManageError::invalid(format!(
            "the range holds {total} accepted deliveries; at most {MOST} are replayed per call: \
             narrow it"
        )));
    }
    let opts = ReplayOptions {
        only: only.as_deref(),
        dry_run,
    };
    let (mut deliveries, mut runs_started) = (0i64, 0i64);
    let mut per_workflow: BTreeMap<String, i64> = BTreeMap::new();
    let mut after: Option<String> = None;
    while deliveries < MOST {
        let want = (REPLAY_BATCH as i64).min(MOST - deliveries);
        let page = st
            .store
            .accepted_between(id, (from, to), after.as_deref(), want)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for r in replay(st, &webhook, &page, opts).await? {
            deliveries += 1;
            for run in r.runs {
                runs_started += 1;
                *per_workflow.entry(run.workflow_name).or_default() += 1;
            }
        }
        if (page.len() as i64) < want {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(to_json(&ReplaySummary {
        deliveries,
        runs_started,
        workflows: per_workflow,
        dry_run,
    }))
}

/// `(id, name)` of webhook `id`; 409 if it is gone (its deliveries cannot be routed).
async fn webhook_of(st: &AppState, id: &str) -> ManageResult<(String, String)> {
    let w = st.store.get_webhook(id).await?.ok_or_else(|| {
        ManageError::Conflict(format!(
            "webhook {id} no longer exists: its deliveries cannot be routed"
        ))
    })?;
    Ok((w.id, w.name))
}

/// The names of the workflows a replay is limited to (ids are accepted too); 422 naming those
/// that do not exist.
async fn workflow_names(
    st: &AppState,
    given: Option<&[String]>,
) -> ManageResult<Option<Vec<String>>> {
    let Some(given) = given else { return Ok(None) };
    if given.is_empty() {
        return Err(ManageError::invalid(
            "workflows is empty: leave it out to replay to every workflow",
        ));
    }
    let (mut names, mut unknown) = (Vec::new(), Vec::new());
    for g in given {
        match st.store.get_workflow(g).await? {
            Some(w) => names.push(w.document.name),
            None => unknown.push(g.as_str()),
        }
    }
    if !unknown.is_empty() {
        return Err(ManageError::invalid(format!(
            "there is no workflow named {}",
            unknown
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(Some(names))
}

/// Routes `deliveries` again (and enqueues the runs, unless a dry run), waking this node's
/// workers for them.
async fn replay(
    st: &AppState,
    webhook: &(String, String),
    deliveries: &[Delivery],
    opts: ReplayOptions<'_>,
) -> ManageResult<Vec<Replayed>> {
    let replayed = st
        .store
        .replay(
            (&webhook.0, &webhook.1),
            deliveries,
            opts,
            &st.engine.sandbox,
        )
        .await?;
    if !opts.dry_run && replayed.iter().any(|r| !r.runs.is_empty()) {
        st.engine.queue.notify_ready();
    }
    Ok(replayed)
}

/// A dry run's `runs`: each run that would start, with the trigger variables it would see.
fn would_start(webhook: &(String, String), d: &Delivery, r: &Replayed) -> Vec<Value> {
    r.runs
        .iter()
        .map(|run| {
            let mut t = match d
                .recorded(&webhook.1)
                .trigger((&run.event_id, &run.event_name))
            {
                Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            drop_long_text(&mut t, Some(d));
            json!({
                "workflow": run.workflow_name,
                "workflow_id": run.workflow_id,
                "event": run.event_name,
                "trigger": t,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_rfc3339() {
        assert_eq!(instant("from", " 1970-01-01T00:00:01Z ").unwrap(), 1000);
        assert_eq!(instant("to", "1970-01-01T01:00:00+01:00").unwrap(), 0);
        let ManageError::Malformed(m) = instant("from", "yesterday").unwrap_err() else {
            panic!("a malformed time is a 400");
        };
        assert!(
            m.starts_with(
                "from must be an RFC 3339 time like 2026-01-31T12:00:00Z, got \"yesterday\""
            ),
            "{m}"
        );
    }
}
