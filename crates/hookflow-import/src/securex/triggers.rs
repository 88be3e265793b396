//! Triggers of a workflow and what they need: webhook events (with their webhooks) and
//! schedules (as cron), from the export's `triggers`, `events`, `webhooks` and `schedules`.

use serde_json::{Value, json};

use super::export::{Corpus, str_of};
use super::mapping::CONTENT_TYPES;
use crate::report::Gap;
use crate::{EventSpec, WebhookSpec};

/// What a workflow's triggers need.
#[derive(Default)]
pub struct Triggers {
    pub triggers: Vec<Value>,
    pub webhooks: Vec<WebhookSpec>,
    pub events: Vec<EventSpec>,
    pub gaps: Vec<Gap>,
}

impl Triggers {
    /// Records a gap; what a trigger that cannot be imported ends with.
    fn gap(&mut self, category: &str, message: String) -> Option<String> {
        self.gaps.push(Gap::new(category, message));
        None
    }
}

/// The triggers of workflow `uid`.
pub fn triggers_of(corpus: &Corpus, uid: &str) -> Triggers {
    let mut out = Triggers::default();
    for t in corpus.triggers.values() {
        if str_of(t, &["workflow_id"]) != Some(uid) {
            continue;
        }
        let disabled = t["disabled"].as_bool() == Some(true);
        let ref_id = str_of(t, &["ref_id"]).unwrap_or_default();
        let kind = str_of(t, &["type"]).unwrap_or_default();
        let event = match kind {
            "event" => webhook_event(corpus, ref_id, &mut out),
            "schedule" => schedule_event(corpus, ref_id, &mut out),
            other => {
                out.gaps.push(Gap::new(
                    "trigger",
                    format!("trigger of type {other:?} is not supported"),
                ));
                None
            }
        };
        if let Some(name) = event {
            let mut trig = json!({"event": name});
            if disabled {
                trig["disabled"] = json!(true);
            }
            out.triggers.push(trig);
        }
    }
    out
}

fn webhook_event(corpus: &Corpus, id: &str, out: &mut Triggers) -> Option<String> {
    let Some(e) = corpus.events.get(id) else {
        return out.gap("trigger", format!("event {id} is not in the export"));
    };
    let name = str_of(e, &["name"]).unwrap_or(id).to_string();
    let ty = str_of(e, &["type"]).unwrap_or_default();
    if ty != "webhook.event" {
        return out.gap(
            "trigger",
            format!(
                "event \"{name}\" is of type {ty}: only webhook and schedule events are imported"
            ),
        );
    }
    let wid = str_of(e, &["webhook_id"])
        .or_else(|| str_of(e, &["properties", "webhook_id"]))
        .unwrap_or_default();
    let Some(w) = corpus.webhooks.get(wid) else {
        return out.gap(
            "trigger",
            format!("webhook {wid} of event \"{name}\" is not in the export"),
        );
    };
    let wname = str_of(w, &["name"]).unwrap_or(wid).to_string();
    let ct = str_of(w, &["properties", "request_content_type"]).unwrap_or("application/json");
    let norm = |s: &str| s.to_ascii_lowercase().replace(' ', "");
    let content_type = match CONTENT_TYPES.iter().find(|c| norm(c) == norm(ct)) {
        Some(c) => c.to_string(),
        None => {
            out.gaps.push(Gap::new(
                "webhook_content_type",
                format!("webhook \"{wname}\" takes {ct}, which hookflow webhooks do not: it is created as application/json"),
            ));
            "application/json".to_string()
        }
    };
    out.webhooks.push(WebhookSpec {
        name: wname.clone(),
        content_type,
    });
    out.events.push(EventSpec {
        name: name.clone(),
        webhook: Some(wname),
        schedule: None,
        timezone: None,
    });
    Some(name)
}

fn schedule_event(corpus: &Corpus, id: &str, out: &mut Triggers) -> Option<String> {
    let Some(s) = corpus.schedules.get(id) else {
        return out.gap("schedule", format!("schedule {id} is not in the export"));
    };
    let name = str_of(s, &["name"]).unwrap_or(id).to_string();
    let p = &s["properties"];
    match cron(p) {
        Ok(cron) => {
            let tz = str_of(p, &["timezone"])
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            out.events.push(EventSpec {
                name: name.clone(),
                webhook: None,
                schedule: Some(cron),
                timezone: tz,
            });
            Some(name)
        }
        Err(why) => {
            out.gaps
                .push(Gap::new("schedule", format!("schedule \"{name}\": {why}")));
            None
        }
    }
}

fn num(v: &Value) -> Option<u32> {
    v.as_u64()
        .map(|n| n as u32)
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A schedule as a 5-field cron: from `starttime` (HH:MM), every `interval_hours` hours and
/// `interval_minutes` minutes, `number_of_times` a day (once when absent).
pub fn cron(p: &Value) -> Result<String, String> {
    let start = str_of(p, &["starttime"]).unwrap_or("00:00");
    let (h, m) = start
        .split_once(':')
        .and_then(|(h, m)| Some((h.trim().parse::<u32>().ok()?, m.trim().parse::<u32>().ok()?)))
        .filter(|(h, m)| *h < 24 && *m < 60)
        .ok_or_else(|| format!("start time {start:?} is not HH:MM"))?;
    let every =
        num(&p["interval_hours"]).unwrap_or(0) * 60 + num(&p["interval_minutes"]).unwrap_or(0);
    let times = num(&p["number_of_times"]).unwrap_or(1).max(1);
    if every == 0 || times == 1 {
        return Ok(format!("{m} {h} * * *"));
    }
    let mut minutes: Vec<u32> = (0..times)
        .map(|k| h * 60 + m + k * every)
        .filter(|t| *t < 24 * 60)
        .collect();
    minutes.dedup();
    let mins: std::collections::BTreeSet<u32> = minutes.iter().map(|t| t % 60).collect();
    let hours: std::collections::BTreeSet<u32> = minutes.iter().map(|t| t / 60).collect();
    if mins.len() == 1 {
        let hs: Vec<String> = hours.iter().map(u32::to_string).collect();
        return Ok(format!(
            "{} {} * * *",
            mins.iter().next().expect("one"),
            hs.join(",")
        ));
    }
    if hours.len() == 1 {
        let ms: Vec<String> = mins.iter().map(u32::to_string).collect();
        return Ok(format!(
            "{} {} * * *",
            ms.join(","),
            hours.iter().next().expect("one")
        ));
    }
    Err(format!(
        "runs {times} times a day every {every} minutes from {start}, which one cron expression cannot say"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let p = json!({"starttime": "00:00", "interval_hours": 12, "interval_minutes": 0, "number_of_times": 2});
        assert_eq!(cron(&p).unwrap(), "0 0,12 * * *");
        let p = json!({"starttime": "08:30"});
        assert_eq!(cron(&p).unwrap(), "30 8 * * *");
        let p = json!({"starttime": "08:00", "interval_minutes": 15, "number_of_times": 4});
        assert_eq!(cron(&p).unwrap(), "0,15,30,45 8 * * *");
        let p = json!({"starttime": "08:00", "interval_minutes": 45, "number_of_times": 4});
        assert!(cron(&p).is_err());
    }
}
