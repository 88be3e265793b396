//! Routing (SPEC §1/§4): which events a delivery matches and which workflows that starts, with
//! the reason for every event not matched and every workflow not started. Pure: the delivery
//! journal decides an incoming request with it, and a replay (SPEC §10) decides a stored one
//! with it again, so both give the same answers for the same events, filters and workflows.

use std::collections::HashMap;

use serde::Serialize;

/// An event of a webhook and one workflow trigger on it (if any), as the store reads them
/// (ordered by event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRow {
    pub event_id: String,
    pub event_name: String,
    pub filter: Option<String>,
    /// `(workflow id, name, valid, enabled, trigger disabled)`.
    pub target: Option<(String, String, bool, bool, bool)>,
}

/// A run routing starts.
#[derive(Debug, Clone)]
pub struct Routed {
    /// Its id (`None` in a dry run, which starts nothing).
    pub id: Option<String>,
    pub workflow_id: String,
    pub workflow_name: String,
    pub event_id: String,
    pub event_name: String,
}

/// What routing decided for one delivery.
#[derive(Debug, Clone)]
pub struct Routing {
    /// The delivery's `routing` record.
    pub record: RoutingRecord,
    /// The runs it starts, in the order of `record.runs`.
    pub runs: Vec<Routed>,
}

/// A delivery's `routing` record, stored as JSON with the delivery and answered by the API:
/// `{events, not_started, runs}`. Typed rather than built as a `serde_json::Value`, because the
/// journal's writer serialises one for every accepted delivery; the members are in the order a
/// `Value` (sorted keys) wrote them, so the stored text is the same as before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutingRecord {
    pub events: Vec<EventVerdict>,
    pub not_started: Vec<NotStarted>,
    pub runs: Vec<StartedRun>,
}

/// Whether the delivery matched an event, and why not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventVerdict {
    pub id: String,
    pub matched: bool,
    pub name: String,
    pub reason: Option<String>,
}

/// A workflow triggered by a matched or unmatched event that did not start, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotStarted {
    pub event: String,
    pub reason: String,
    pub workflow: String,
    pub workflow_id: String,
}

/// A run routing started (`id` is `null` in a dry run).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartedRun {
    pub event: String,
    pub id: Option<String>,
    pub workflow: String,
    pub workflow_id: String,
}

/// Routes one delivery through `rows`. `evaluate` gets each distinct event that has a filter, as
/// `(event id, event name, filter)`, and answers in the same order whether the delivery passes
/// it (`Err`: why it could not be evaluated; a missing answer counts as false). `only`, when
/// given, names the workflows that may start (a replay to named workflows); `new_id` gives each
/// started run its id.
pub fn route(
    rows: &[RouteRow],
    evaluate: impl FnOnce(&[(&str, &str, &str)]) -> Vec<Result<bool, String>>,
    only: Option<&[String]>,
    mut new_id: impl FnMut() -> Option<String>,
) -> Routing {
    // Distinct events, in order, with their filters evaluated once each.
    let mut events: Vec<(&str, &str, Option<&str>)> = Vec::new();
    for r in rows {
        if events.last().map(|e| e.0) != Some(r.event_id.as_str()) {
            events.push((&r.event_id, &r.event_name, r.filter.as_deref()));
        }
    }
    let with_filter: Vec<(&str, &str, &str)> = events
        .iter()
        .filter_map(|(id, name, f)| f.map(|f| (*id, *name, f)))
        .collect();
    let verdicts = if with_filter.is_empty() {
        Vec::new()
    } else {
        evaluate(&with_filter)
    };
    let mut matched: HashMap<&str, Result<bool, String>> = HashMap::new();
    for ((id, _, _), v) in with_filter.iter().zip(verdicts) {
        matched.insert(id, v);
    }
    let mut event_verdicts = Vec::new();
    let mut started = Vec::new();
    let mut not_started = Vec::new();
    let mut runs = Vec::new();
    for (id, name, filter) in &events {
        let verdict = match filter {
            None => Ok(true),
            Some(_) => matched.remove(id).unwrap_or(Ok(false)),
        };
        let (is_match, why) = match &verdict {
            Ok(true) => (true, None),
            Ok(false) => (false, Some("the filter is false".to_string())),
            Err(e) => (false, Some(format!("the filter failed: {e}"))),
        };
        event_verdicts.push(EventVerdict {
            id: id.to_string(),
            matched: is_match,
            name: name.to_string(),
            reason: why.clone(),
        });
        for r in rows.iter().filter(|r| r.event_id == *id) {
            let Some((wf_id, wf_name, valid, enabled, trigger_disabled)) = &r.target else {
                continue;
            };
            let reason = if !is_match {
                why.clone()
            } else if !valid {
                Some("the workflow is invalid".to_string())
            } else if !enabled {
                Some("the workflow is disabled".to_string())
            } else if *trigger_disabled {
                Some("the workflow's trigger on this event is disabled".to_string())
            } else if only.is_some_and(|names| !names.contains(wf_name)) {
                Some("the replay names other workflows".to_string())
            } else {
                None
            };
            match reason {
                Some(reason) => not_started.push(NotStarted {
                    event: name.to_string(),
                    reason,
                    workflow: wf_name.clone(),
                    workflow_id: wf_id.clone(),
                }),
                None => {
                    let run_id = new_id();
                    started.push(StartedRun {
                        event: name.to_string(),
                        id: run_id.clone(),
                        workflow: wf_name.clone(),
                        workflow_id: wf_id.clone(),
                    });
                    runs.push(Routed {
                        id: run_id,
                        workflow_id: wf_id.clone(),
                        workflow_name: wf_name.clone(),
                        event_id: id.to_string(),
                        event_name: name.to_string(),
                    });
                }
            }
        }
    }
    Routing {
        record: RoutingRecord {
            events: event_verdicts,
            not_started,
            runs: started,
        },
        runs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(event: &str, filter: Option<&str>, wf: Option<(&str, bool, bool, bool)>) -> RouteRow {
        RouteRow {
            event_id: format!("id-{event}"),
            event_name: event.into(),
            filter: filter.map(str::to_string),
            target: wf.map(|(n, valid, enabled, off)| {
                (format!("wf-{n}"), n.to_string(), valid, enabled, off)
            }),
        }
    }

    #[test]
    fn every_workflow_not_started_has_its_reason() {
        let rows = vec![
            row("a", None, Some(("ok", true, true, false))),
            row("a", None, Some(("invalid", false, true, false))),
            row("a", None, Some(("off", true, false, false))),
            row("a", None, Some(("trigger-off", true, true, true))),
            row("a", None, Some(("other", true, true, false))),
            row("b", Some("false"), Some(("ok", true, true, false))),
            row("c", Some("boom"), None),
        ];
        let only = vec!["ok".to_string(), "invalid".to_string()];
        let mut n = 0;
        let r = route(
            &rows,
            |f| {
                assert_eq!(f.len(), 2);
                vec![Ok(false), Err("no".into())]
            },
            Some(&only),
            || {
                n += 1;
                Some(format!("run-{n}"))
            },
        );
        assert_eq!(r.runs.len(), 1);
        assert_eq!(r.runs[0].id.as_deref(), Some("run-1"));
        let reasons: Vec<&str> = r
            .record
            .not_started
            .iter()
            .map(|n| n.reason.as_str())
            .collect();
        assert_eq!(
            reasons,
            [
                "the workflow is invalid",
                "the workflow is disabled",
                "the workflow's trigger on this event is disabled",
                "the replay names other workflows",
                "the filter is false",
            ]
        );
        assert_eq!(
            r.record.events[2].reason.as_deref(),
            Some("the filter failed: no")
        );
    }

    /// The stored text is what the record built as a `serde_json::Value` was: members sorted,
    /// `null` for no reason and for a dry run's run id.
    #[test]
    fn the_record_is_written_as_before() {
        let rows = vec![
            row("a", None, Some(("ok", true, true, false))),
            row("a", None, Some(("off", true, false, false))),
            row("b", Some("false"), None),
        ];
        let text = |id: Option<String>| {
            let r = route(&rows, |_| vec![Ok(false)], None, || id.clone());
            serde_json::to_string(&r.record).unwrap()
        };
        let expected = |id: &str| {
            let value = serde_json::json!({
                "events": [
                    {"id": "id-a", "name": "a", "matched": true, "reason": null},
                    {"id": "id-b", "name": "b", "matched": false, "reason": "the filter is false"},
                ],
                "runs": [{"id": serde_json::from_str::<serde_json::Value>(id).unwrap(),
                    "workflow_id": "wf-ok", "workflow": "ok", "event": "a"}],
                "not_started": [{"workflow_id": "wf-off", "workflow": "off", "event": "a",
                    "reason": "the workflow is disabled"}],
            });
            value.to_string()
        };
        assert_eq!(text(Some("run-1".into())), expected("\"run-1\""));
        assert_eq!(text(None), expected("null"));
        assert!(text(None).starts_with(r#"{"events":[{"id":"id-a","matched":true,"#));
    }
}
