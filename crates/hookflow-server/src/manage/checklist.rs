//! "Why is nothing running?" (SPEC §9): the replaced product's troubleshooting checklist for one
//! webhook, answered from the data, in the order a person would check — do requests arrive, are
//! some refused and why, is a rate limit in the way, is an event bound to the webhook, does each
//! event trigger a workflow, is each workflow valid and enabled with its trigger enabled, how did
//! its last run end, and what did the last accepted request start. Each item links to the page
//! where its problem is fixed. Answered by the API (`GET /api/v1/webhooks/{id}/checklist`) and
//! shown on the webhook's page.

use hookflow_store::checklist::{ChainEvent, ChainWorkflow, ChecklistFacts};
use hookflow_store::deliveries::Delivery;
use hookflow_store::runs::RunStatus;
use hookflow_store::webhooks::Webhook;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{ManageResult, rfc3339, webhooks};
use crate::state::AppState;

/// A webhook's troubleshooting checklist.
#[derive(Serialize, ToSchema)]
pub struct Checklist {
    pub webhook_id: String,
    pub items: Vec<Item>,
}

/// The checklist of webhook `id`; 404 if there is none.
pub async fn of(st: &AppState, id: &str) -> ManageResult<Checklist> {
    let w = webhooks::find(st, id).await?;
    let items = checklist(st, &w).await?;
    Ok(Checklist {
        webhook_id: w.id,
        items,
    })
}

/// The period rejections are counted over.
pub const REJECTIONS_PERIOD_MS: i64 = 24 * 3600 * 1000;

/// One check: what is checked, whether it passes, what the data says, where to fix it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = ChecklistItem)]
pub struct Item {
    /// `requests_arrive`, `rejections`, `verification`, `rate_limits`, `event_bound`,
    /// `event_triggers_workflow`, `workflow_valid`, `workflow_enabled`, `trigger_enabled`,
    /// `last_run` or `last_request_started_runs`.
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
    /// The UI page where the problem is seen or fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The event the item is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The workflow the item is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

impl Item {
    fn new(check: &'static str, ok: bool, detail: impl Into<String>) -> Item {
        Item {
            check,
            ok,
            detail: detail.into(),
            link: None,
            event: None,
            workflow: None,
        }
    }

    fn link(mut self, to: impl Into<String>) -> Item {
        self.link = Some(to.into());
        self
    }

    fn about(mut self, event: &ChainEvent, workflow: Option<&ChainWorkflow>) -> Item {
        self.event = Some(event.name.clone());
        self.workflow = workflow.map(|w| w.name.clone());
        self
    }

    pub fn to_json(&self) -> Value {
        super::to_json(self)
    }
}

/// The checklist of `w` now.
pub async fn checklist(st: &AppState, w: &Webhook) -> ManageResult<Vec<Item>> {
    let now = hookflow_store::now_ms();
    let facts = st
        .store
        .checklist_facts(&w.id, now - REJECTIONS_PERIOD_MS)
        .await?;
    Ok(items(w, &facts))
}

/// The items for `w` from `facts` (a pure function of the data).
pub fn items(w: &Webhook, facts: &ChecklistFacts) -> Vec<Item> {
    let hook_page = format!("/ui/webhooks/{}", w.id);
    let mut out = vec![
        arrival(facts, &hook_page),
        rejections(facts, &hook_page),
        verification(w, facts),
        rate_limits(w),
    ];
    if facts.events.is_empty() {
        out.push(
            Item::new(
                "event_bound",
                false,
                "no event uses this webhook: a request is recorded but starts nothing; create \
                 an event for it",
            )
            .link(format!("/ui/events/new?webhook_id={}", w.id)),
        );
    } else {
        let names: Vec<&str> = facts.events.iter().map(|e| e.name.as_str()).collect();
        out.push(
            Item::new(
                "event_bound",
                true,
                format!(
                    "used by {}: {}",
                    plural(names.len(), "event"),
                    names.join(", ")
                ),
            )
            .link("/ui/events-webhooks"),
        );
    }
    for e in &facts.events {
        out.extend(chain(e));
    }
    if let Some(r) = facts.last_accepted.as_ref() {
        out.push(last_routing(r));
    }
    out
}

fn arrival(facts: &ChecklistFacts, hook_page: &str) -> Item {
    let rejected = facts.last_rejected.as_ref().map(|r| {
        format!(
            "; last refused {} ({} {})",
            rfc3339(r.received_at),
            r.http_status,
            r.reason.as_deref().unwrap_or("")
        )
    });
    match facts.last_accepted.as_ref() {
        Some(a) => Item::new(
            "requests_arrive",
            true,
            format!(
                "last accepted {} (delivery {}){}",
                rfc3339(a.received_at),
                a.id,
                rejected.unwrap_or_default()
            ),
        )
        .link(format!("/ui/deliveries/{}", a.id)),
        None if facts.last_rejected.is_some() => Item::new(
            "requests_arrive",
            false,
            format!(
                "no request has been accepted yet, but requests arrive and are refused{}",
                rejected.unwrap_or_default()
            ),
        )
        .link(hook_page),
        None => Item::new(
            "requests_arrive",
            false,
            "nothing has arrived yet: configure the sender with the Webhook URL (it contains \
             the key) and send a request",
        )
        .link(hook_page),
    }
}

fn rejections(facts: &ChecklistFacts, hook_page: &str) -> Item {
    if facts.rejections.is_empty() {
        return Item::new(
            "rejections",
            true,
            "no request refused in the last 24 hours",
        );
    }
    let kinds: Vec<String> = facts
        .rejections
        .iter()
        .map(|r| {
            format!(
                "{} × {} {}",
                r.count,
                r.http_status,
                r.reason.as_deref().unwrap_or("(no reason recorded)")
            )
        })
        .collect();
    let item = Item::new(
        "rejections",
        false,
        format!(
            "refused in the last 24 hours, commonest first: {}",
            kinds.join("; ")
        ),
    );
    match facts.last_rejected.as_ref() {
        Some(r) => item.link(format!("/ui/deliveries/{}", r.id)),
        None => item.link(hook_page),
    }
}

/// The verdicts of the newest verified requests (SPEC §9); in `log_only` mode failures are
/// accepted, so this is where they show before verification is enforced.
fn verification(w: &Webhook, facts: &ChecklistFacts) -> Item {
    let edit = format!("/ui/webhooks/{}/edit", w.id);
    let Some(v) = w.verification.as_ref() else {
        return Item::new(
            "verification",
            true,
            "no signature verification: requests are checked by their API key only",
        )
        .link(edit);
    };
    let log_only = matches!(v.mode, hookflow_core::verify::Mode::LogOnly);
    let mode = if log_only { "log_only" } else { "enforce" };
    let count = |k: &str| facts.verdicts.iter().filter(|(v, _)| v == k).count();
    let (valid, invalid, missing) = (count("valid"), count("invalid"), count("missing"));
    let mut detail = format!(
        "{} in {mode} mode: of the newest {} verified requests, {valid} valid, {invalid} invalid, \
         {missing} without a signature",
        v.scheme.as_str(),
        facts.verdicts.len()
    );
    if let Some((_, why)) = facts.verdicts.iter().find(|(v, _)| v != "valid") {
        detail.push_str(&format!(" (newest failure: {why})"));
    }
    let ok = invalid + missing == 0;
    if !ok && log_only {
        detail
            .push_str("; they were accepted (log_only): fix the sender's secret before enforcing");
    } else if !ok {
        detail.push_str("; they were refused with 401");
    } else if log_only && valid > 0 {
        detail.push_str("; every request verifies: verification can be enforced");
    }
    Item::new("verification", ok, detail).link(edit)
}

fn rate_limits(w: &Webhook) -> Item {
    let part = |used: i64, limit: i64, window: &str| {
        if limit == 0 {
            format!("{used} this {window} (no limit)")
        } else {
            format!("{used} of {limit} this {window}")
        }
    };
    let full = |used: i64, limit: i64| limit > 0 && used >= limit;
    let at_limit =
        full(w.usage.minute, w.rate_limit_per_minute) || full(w.usage.day, w.rate_limit_per_day);
    let mut detail = format!(
        "{}; {}",
        part(w.usage.minute, w.rate_limit_per_minute, "minute"),
        part(w.usage.day, w.rate_limit_per_day, "day (UTC)")
    );
    match w.usage.last_limited_at {
        Some(t) => detail.push_str(&format!("; last limited {}", rfc3339(t))),
        None => detail.push_str("; never limited"),
    }
    if at_limit {
        detail.insert_str(
            0,
            "a limit is reached, more requests are refused with 429: ",
        );
    }
    Item::new("rate_limits", !at_limit, detail).link(format!("/ui/webhooks/{}/edit", w.id))
}

/// The checks of one event and of each workflow it triggers.
fn chain(e: &ChainEvent) -> Vec<Item> {
    let filter = match e.filter.as_deref() {
        Some(f) => format!(" (filter: {f})"),
        None => String::new(),
    };
    if e.workflows.is_empty() {
        return vec![
            Item::new(
                "event_triggers_workflow",
                false,
                format!(
                    "event {}{filter} triggers no workflow: add a trigger on it to a workflow",
                    e.name
                ),
            )
            .about(e, None)
            .link("/ui/workflows"),
        ];
    }
    let names: Vec<&str> = e.workflows.iter().map(|w| w.name.as_str()).collect();
    let mut out = vec![
        Item::new(
            "event_triggers_workflow",
            true,
            format!("event {}{filter} triggers {}", e.name, names.join(", ")),
        )
        .about(e, None)
        .link("/ui/workflows"),
    ];
    for w in &e.workflows {
        let page = format!("/ui/workflows/{}", w.id);
        let item = |check, ok, detail: String| {
            Item::new(check, ok, detail)
                .about(e, Some(w))
                .link(page.clone())
        };
        let (name, event) = (&w.name, &e.name);
        // (check, passes, what it says when it passes, what it says when it does not)
        for (check, ok, good, bad) in [
            (
                "workflow_valid",
                w.valid,
                format!("workflow {name} is valid"),
                format!(
                    "workflow {name} is not valid and starts no run: open it to see its errors"
                ),
            ),
            (
                "workflow_enabled",
                w.enabled,
                format!("workflow {name} is enabled"),
                format!("workflow {name} is disabled and starts no run: enable it"),
            ),
            (
                "trigger_enabled",
                !w.trigger_disabled,
                format!("the trigger of workflow {name} on event {event} is enabled"),
                format!(
                    "the trigger of workflow {name} on event {event} is disabled (disabled: true)"
                ),
            ),
        ] {
            out.push(item(check, ok, if ok { good } else { bad }));
        }
        out.push(last_run(w, e));
    }
    out
}

fn last_run(w: &ChainWorkflow, e: &ChainEvent) -> Item {
    let (ok, detail, link) = match w.last_run.as_ref() {
        None => (
            false,
            format!("workflow {} has not run yet", w.name),
            format!("/ui/workflows/{}", w.id),
        ),
        Some((id, status, at)) => (
            !matches!(status, RunStatus::Failed | RunStatus::Cancelled),
            format!(
                "the last run of workflow {} ({}) is {status}",
                w.name,
                rfc3339(*at)
            ),
            format!("/ui/runs/{id}"),
        ),
    };
    Item::new("last_run", ok, detail)
        .about(e, Some(w))
        .link(link)
}

/// What the last accepted request started, from its own routing record.
fn last_routing(r: &Delivery) -> Item {
    let routing: Value = r
        .routing
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null);
    let runs = routing["runs"].as_array().map_or(0, Vec::len);
    let mut why = Vec::new();
    let mut unmatched = Vec::new();
    for e in routing["events"].as_array().into_iter().flatten() {
        if e["matched"] != json!(true) {
            unmatched.push(e["name"].clone());
            why.push(format!(
                "event {} did not match: {}",
                e["name"].as_str().unwrap_or("?"),
                e["reason"].as_str().unwrap_or("no reason recorded")
            ));
        }
    }
    // A workflow of an event that did not match did not start for that same reason.
    let not_started = routing["not_started"].as_array().into_iter().flatten();
    for n in not_started.filter(|n| !unmatched.contains(&n["event"])) {
        why.push(format!(
            "workflow {} did not start: {}",
            n["workflow"].as_str().unwrap_or("?"),
            n["reason"].as_str().unwrap_or("no reason recorded")
        ));
    }
    let mut detail = format!(
        "the last accepted request ({}) started {}",
        rfc3339(r.received_at),
        plural(runs, "run")
    );
    if !why.is_empty() {
        detail.push_str(": ");
        detail.push_str(&why.join("; "));
    }
    Item::new("last_request_started_runs", runs > 0, detail)
        .link(format!("/ui/deliveries/{}", r.id))
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
