//! Routing (SPEC §1/§4): which events a delivery matches and which workflows that starts, with
//! the reason for every event not matched and every workflow not started. Pure: the delivery
//! journal decides an incoming request with it, and a replay (SPEC §10) decides a stored one
//! with it again, so both give the same answers for the same events, filters and workflows.

use std::collections::HashMap;

use serde_json::{Value, json};

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
    /// The delivery's `routing` record: `{events, runs, not_started}`.
    pub json: Value,
    /// The runs it starts, in the order of `json.runs`.
    pub runs: Vec<Routed>,
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
    let mut event_json = Vec::new();
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
        event_json.push(json!({
            "id": id, "name": name, "matched": is_match, "reason": why,
        }));
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
                Some(reason) => not_started.push(json!({
                    "workflow_id": wf_id, "workflow": wf_name, "event": name, "reason": reason,
                })),
                None => {
                    let run_id = new_id();
                    started.push(json!({
                        "id": run_id, "workflow_id": wf_id, "workflow": wf_name, "event": name,
                    }));
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
        json: json!({ "events": event_json, "runs": started, "not_started": not_started }),
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
        let reasons: Vec<&str> = r.json["not_started"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["reason"].as_str().unwrap())
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
            r.json["events"][2]["reason"],
            json!("the filter failed: no")
        );
    }
}
