//! What the troubleshooting checklist of a webhook reads (SPEC §9 "Why is nothing running?"):
//! its last accepted and last rejected requests, the commonest rejections of a recent period,
//! and the chain behind it — its events, the workflows whose triggers name them (the same join
//! routing uses), and each workflow's last run. A handful of indexed reads; no writes.

use crate::db::on_db;
use crate::deliveries::{Delivery, StatusFilter};
use crate::journal::route_rows;
use crate::run_queue::RunStatus;
use crate::{Result, Store, StoreError, names_nothing};

/// Rejections of one kind (same status and reason) since the period's start.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RejectionCount {
    pub http_status: i64,
    pub reason: Option<String>,
    #[sqlx(rename = "n")]
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
    pub last_run: Option<(String, RunStatus, i64)>,
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

/// The commonest rejections of webhook `$1` since `$2`, at most `$3` (along the partial index
/// `deliveries_not_accepted`, which `status <> 'accepted'` names).
pub(crate) const REJECTIONS_SQL: &str = "SELECT http_status, reason, COUNT(*) AS n \
    FROM deliveries WHERE webhook_id = $1 AND status <> 'accepted' AND status = 'rejected' \
    AND received_at >= $2 GROUP BY http_status, reason ORDER BY n DESC, http_status LIMIT $3";

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
        let rejections = self
            .all(
                REJECTIONS_SQL,
                &[webhook_id.into(), since.into(), TOP_REJECTIONS.into()],
            )
            .await?;
        let routes = on_db!(&self.db, |p| Ok::<_, StoreError>(route_rows!(
            p, webhook_id
        )))?;
        let mut events: Vec<ChainEvent> = Vec::new();
        for r in routes {
            if events.last().is_none_or(|e| e.id != r.event_id) {
                events.push(ChainEvent {
                    id: r.event_id,
                    name: r.event_name,
                    filter: r.filter,
                    workflows: Vec::new(),
                });
            }
            // None: an event no trigger names, or a trigger of a deleted workflow.
            let Some((id, name, valid, enabled, trigger_disabled)) = r.target else {
                continue;
            };
            let last_run = self.last_run_of(&id).await?;
            let event = events.last_mut().expect("pushed above");
            event.workflows.push(ChainWorkflow {
                id,
                name,
                valid,
                enabled,
                trigger_disabled,
                last_run,
            });
        }
        // The newest requests whatever their verdict (bounded, by the webhook's index).
        let sql = "SELECT verification FROM deliveries WHERE webhook_id = $1 \
            ORDER BY id DESC LIMIT $2";
        let recorded: Vec<(Option<String>,)> = self
            .all(sql, &[webhook_id.into(), VERDICT_SAMPLE.into()])
            .await?;
        let verdicts = recorded
            .into_iter()
            .filter_map(|(text,)| {
                let v: serde_json::Value = serde_json::from_str(&text?).unwrap_or_default();
                Some((
                    v["verdict"].as_str().unwrap_or("?").to_string(),
                    v["detail"].as_str().unwrap_or_default().to_string(),
                ))
            })
            .collect();
        Ok(ChecklistFacts {
            last_accepted: accepted,
            last_rejected: rejected,
            rejections,
            events,
            verdicts,
        })
    }

    /// `(id, status, created_at)` of a workflow's newest run.
    async fn last_run_of(&self, workflow_id: &str) -> Result<Option<(String, RunStatus, i64)>> {
        let sql = "SELECT id, status, created_at FROM runs WHERE workflow_id = $1 \
            ORDER BY id DESC LIMIT 1";
        self.one(sql, &[workflow_id.into()]).await
    }
}
