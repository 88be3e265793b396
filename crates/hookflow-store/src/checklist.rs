//! What the troubleshooting checklist of a webhook reads (SPEC §9 "Why is nothing running?"):
//! its last accepted and last rejected requests, the commonest rejections of a recent period,
//! and the chain behind it — its events, the workflows whose triggers name them (the same join
//! routing uses), and each workflow's last run. A handful of indexed reads; no writes.

use sqlx::Row;

use crate::db::on_db;
use crate::deliveries::{Delivery, StatusFilter};
use crate::journal::ROUTES_SQL;
use crate::{Result, Store, names_nothing};

/// Rejections of one kind (same status and reason) since the period's start.
#[derive(Debug, Clone)]
pub struct RejectionCount {
    pub http_status: i64,
    pub reason: Option<String>,
    pub count: i64,
}

/// A workflow one of the webhook's events triggers.
#[derive(Debug, Clone)]
pub struct ChainWorkflow {
    pub id: String,
    pub name: String,
    pub valid: bool,
    pub enabled: bool,
    pub trigger_disabled: bool,
    /// `(run id, status, created_at)` of its newest run, whatever started it.
    pub last_run: Option<(String, crate::run_queue::RunStatus, i64)>,
}

/// One event bound to the webhook and what it triggers.
#[derive(Debug, Clone)]
pub struct ChainEvent {
    pub id: String,
    pub name: String,
    pub filter: Option<String>,
    pub workflows: Vec<ChainWorkflow>,
}

/// Everything the checklist is made from.
#[derive(Debug, Clone, Default)]
pub struct ChecklistFacts {
    pub last_accepted: Option<Delivery>,
    pub last_rejected: Option<Delivery>,
    /// Commonest first, at most [`TOP_REJECTIONS`].
    pub rejections: Vec<RejectionCount>,
    pub events: Vec<ChainEvent>,
    /// `(verdict, detail)` of the signature verification of the newest requests that had one,
    /// newest first, from at most [`VERDICT_SAMPLE`] requests.
    pub verdicts: Vec<(String, String)>,
}

/// How many of the newest requests the verification verdicts are counted over.
pub const VERDICT_SAMPLE: i64 = 1000;

/// How many kinds of rejection the checklist lists.
pub const TOP_REJECTIONS: i64 = 5;

impl Store {
    /// The checklist's facts for `webhook_id`; rejections are counted from `since` (unix ms).
    pub async fn checklist_facts(&self, webhook_id: &str, since: i64) -> Result<ChecklistFacts> {
        if names_nothing(webhook_id) {
            return Ok(ChecklistFacts::default());
        }
        let last = |status| async move {
            let (mut newest, _) = self.list_deliveries(webhook_id, status, 1, None).await?;
            Ok::<_, crate::StoreError>(newest.pop())
        };
        let (accepted, rejected) = (
            last(StatusFilter::Accepted).await?,
            last(StatusFilter::Rejected).await?,
        );
        let mut facts = on_db!(&self.db, |p| {
            let rows = sqlx::query(
                "SELECT http_status, reason, COUNT(*) AS n FROM deliveries \
                 WHERE webhook_id = $1 AND status = 'rejected' AND received_at >= $2 \
                 GROUP BY http_status, reason ORDER BY n DESC, http_status LIMIT $3",
            )
            .bind(webhook_id)
            .bind(since)
            .bind(TOP_REJECTIONS)
            .fetch_all(p)
            .await?;
            let rejections = rows
                .iter()
                .map(|r| {
                    Ok(RejectionCount {
                        http_status: r.try_get("http_status")?,
                        reason: r.try_get("reason")?,
                        count: r.try_get("n")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            let rows = sqlx::query(ROUTES_SQL)
                .bind(webhook_id)
                .fetch_all(p)
                .await?;
            let mut events: Vec<ChainEvent> = Vec::new();
            for r in &rows {
                let id: String = r.try_get("event_id")?;
                if events.last().is_none_or(|e| e.id != id) {
                    events.push(ChainEvent {
                        id,
                        name: r.try_get("event_name")?,
                        filter: r.try_get("filter")?,
                        workflows: Vec::new(),
                    });
                }
                let Some(wf_id) = r.try_get::<Option<String>, _>("workflow_id")? else {
                    continue; // an event no trigger names, or a trigger of a deleted workflow
                };
                let Some(name) = r.try_get::<Option<String>, _>("workflow_name")? else {
                    continue;
                };
                let event = events.last_mut().expect("pushed above");
                event.workflows.push(ChainWorkflow {
                    id: wf_id,
                    name,
                    valid: r.try_get::<Option<bool>, _>("valid")?.unwrap_or(false),
                    enabled: r.try_get::<Option<bool>, _>("enabled")?.unwrap_or(false),
                    trigger_disabled: r.try_get::<Option<bool>, _>("disabled")?.unwrap_or(false),
                    last_run: None,
                });
            }
            // The newest requests whatever their verdict (bounded, by the webhook's index).
            let rows = sqlx::query(
                "SELECT verification FROM deliveries WHERE webhook_id = $1 \
                 ORDER BY id DESC LIMIT $2",
            )
            .bind(webhook_id)
            .bind(VERDICT_SAMPLE)
            .fetch_all(p)
            .await?;
            let mut verdicts = Vec::new();
            for r in &rows {
                let Some(text) = r.try_get::<Option<String>, _>("verification")? else {
                    continue;
                };
                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                verdicts.push((
                    v["verdict"].as_str().unwrap_or("?").to_string(),
                    v["detail"].as_str().unwrap_or_default().to_string(),
                ));
            }
            Ok::<_, sqlx::Error>(ChecklistFacts {
                last_accepted: accepted,
                last_rejected: rejected,
                rejections,
                events,
                verdicts,
            })
        })?;
        for wf in facts.events.iter_mut().flat_map(|e| e.workflows.iter_mut()) {
            wf.last_run = self.last_run_of(&wf.id).await?;
        }
        Ok(facts)
    }

    /// `(id, status, created_at)` of a workflow's newest run.
    async fn last_run_of(
        &self,
        workflow_id: &str,
    ) -> Result<Option<(String, crate::run_queue::RunStatus, i64)>> {
        on_db!(&self.db, |p| {
            let row = sqlx::query(
                "SELECT id, status, created_at FROM runs WHERE workflow_id = $1 \
                 ORDER BY id DESC LIMIT 1",
            )
            .bind(workflow_id)
            .fetch_optional(p)
            .await?;
            Ok(match row {
                Some(r) => Some((
                    r.try_get("id")?,
                    r.try_get("status")?,
                    r.try_get("created_at")?,
                )),
                None => None,
            })
        })
    }
}
