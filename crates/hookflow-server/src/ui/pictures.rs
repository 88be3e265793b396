//! The pictures pages show: a webhook's deliveries and a workflow's runs per hour (last 24 h)
//! and per day (last 30 days) with run duration percentiles, the workflow's diagram, and a run's
//! diagram coloured by step status — the store's aggregates turned into [`charts`] and
//! [`diagram`] input. Times are UTC.
//!
//! [`charts`]: super::charts
//! [`diagram`]: super::diagram

use std::collections::BTreeMap;

use hookflow_core::workflow::Workflow;
use hookflow_store::charts::Buckets;
use hookflow_store::runs::RunRecord;
use serde_json::{Value as Json, json};

use super::UiError;
use super::charts::{Chart, REASON_COLOURS, Series, stacked_bars};
use super::diagram::{diagram, step_states};
use crate::state::AppState;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// One time window of the charts: its buckets and how they are named.
struct Window {
    /// `hourly` or `daily` (the chart's id and the page's field).
    name: &'static str,
    range: Buckets,
    /// `chrono` format of a bucket's start.
    format: &'static str,
    tick_every: usize,
    x_label: &'static str,
    /// The chart's title after "Deliveries" or "Runs".
    title: &'static str,
}

impl Window {
    fn labels(&self) -> Vec<String> {
        (0..self.range.buckets)
            .map(|i| {
                let at = self.range.since_ms + i * self.range.bucket_ms;
                chrono::DateTime::from_timestamp_millis(at)
                    .map(|t| t.format(self.format).to_string())
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// The last 24 whole hours and 30 whole days up to now (the current hour or day included).
fn windows(now_ms: i64) -> [Window; 2] {
    let cut = |unit: i64, n: i64| {
        let end = (now_ms.div_euclid(unit) + 1) * unit;
        Buckets {
            since_ms: end - unit * n,
            bucket_ms: unit,
            buckets: n,
        }
    };
    [
        Window {
            name: "hourly",
            range: cut(HOUR_MS, 24),
            format: "%H:00",
            tick_every: 3,
            x_label: "hour (UTC), last 24 hours",
            title: "per hour, last 24 hours",
        },
        Window {
            name: "daily",
            range: cut(DAY_MS, 30),
            format: "%m-%d",
            tick_every: 5,
            x_label: "day (UTC), last 30 days",
            title: "per day, last 30 days",
        },
    ]
}

/// Counts per series name, each a row of buckets, in the order series are first named.
#[derive(Default)]
struct Rows {
    order: Vec<String>,
    rows: BTreeMap<String, Vec<i64>>,
}

impl Rows {
    fn add(&mut self, series: &str, bucket: i64, n: i64, buckets: i64) {
        if !(0..buckets).contains(&bucket) {
            return;
        }
        let row = self.rows.entry(series.to_string()).or_insert_with(|| {
            self.order.push(series.to_string());
            vec![0; buckets as usize]
        });
        row[bucket as usize] += n;
    }

    fn total(&self, series: &str) -> i64 {
        self.rows.get(series).map(|r| r.iter().sum()).unwrap_or(0)
    }

    /// The SVG chart of `what` in window `w`, of `series` (`(name, colour)`), rows that were never
    /// added drawn empty.
    fn svg(&self, what: &Counted, w: &Window, series: &[(String, String)]) -> Json {
        let chart = Chart {
            id: format!("{}-{}", what.id, w.name),
            title: format!("{} {}", what.title, w.title),
            desc: what.desc.to_string(),
            buckets: w.labels(),
            tick_every: w.tick_every,
            x_label: w.x_label.to_string(),
            series: series
                .iter()
                .map(|(label, colour)| Series {
                    label: label.clone(),
                    colour: colour.clone(),
                })
                .collect(),
            counts: series
                .iter()
                .map(|(s, _)| {
                    self.rows
                        .get(s)
                        .cloned()
                        .unwrap_or_else(|| vec![0; w.range.buckets as usize])
                })
                .collect(),
        };
        json!(stacked_bars(&chart))
    }
}

/// What a set of charts counts: the start of their ids and titles, and their description.
struct Counted {
    id: &'static str,
    title: &'static str,
    desc: &'static str,
}

const DELIVERIES: Counted = Counted {
    id: "deliveries",
    title: "Deliveries",
    desc: "Deliveries of this webhook by status, rejected ones by reason.",
};

const RUNS: Counted = Counted {
    id: "runs",
    title: "Runs",
    desc: "Runs of this workflow by status, counted when they were created.",
};

/// The name of a rejected delivery's series: one per reason.
fn rejected_series(reason: Option<&str>) -> String {
    match reason {
        Some(r) if !r.is_empty() => format!("rejected: {r}"),
        _ => "rejected".to_string(),
    }
}

/// `{hourly, daily}`: SVG charts of webhook `id`'s deliveries, stacked by accepted, rejected
/// (each reason its own series, the most frequent first) and duplicate.
pub async fn webhook_charts(st: &AppState, id: &str) -> Result<Json, UiError> {
    let mut out = json!({});
    for w in windows(hookflow_store::now_ms()) {
        let counts = st.store.delivery_counts(id, w.range).await?;
        let mut rows = Rows::default();
        for c in &counts {
            let series = match c.status.as_str() {
                "rejected" => rejected_series(c.reason.as_deref()),
                s => s.to_string(),
            };
            rows.add(&series, c.bucket, c.count, w.range.buckets);
        }
        let mut reasons: Vec<&String> = rows
            .order
            .iter()
            .filter(|s| s.starts_with("rejected"))
            .collect();
        reasons.sort_by_key(|s| (-rows.total(s), (*s).clone()));
        let mut series = vec![("accepted".to_string(), "#43a047".to_string())];
        if reasons.is_empty() {
            series.push(("rejected".into(), REASON_COLOURS[0].into()));
        }
        for (i, r) in reasons.iter().enumerate() {
            let colour = REASON_COLOURS[i % REASON_COLOURS.len()];
            series.push(((*r).clone(), colour.to_string()));
        }
        series.push(("duplicate".into(), "#90a4ae".into()));
        out[w.name] = rows.svg(&DELIVERIES, &w, &series);
    }
    Ok(out)
}

/// Run statuses as charted (a waiting run is running to its users), with their colours.
const RUN_SERIES: [(&str, &str); 5] = [
    ("succeeded", "#43a047"),
    ("failed", "#d32f2f"),
    ("running", "#1e88e5"),
    ("queued", "#90caf9"),
    ("cancelled", "#9e9e9e"),
];

/// `{hourly, daily, percentiles}`: SVG charts of workflow `id`'s runs by status, and the
/// duration percentiles of its runs finished in the last 30 days (`null` when none).
pub async fn workflow_charts(st: &AppState, id: &str) -> Result<Json, UiError> {
    let mut out = json!({});
    let series: Vec<(String, String)> = RUN_SERIES
        .iter()
        .map(|(s, c)| (s.to_string(), c.to_string()))
        .collect();
    let mut since = 0;
    for w in windows(hookflow_store::now_ms()) {
        since = w.range.since_ms;
        let mut rows = Rows::default();
        for c in st.store.run_counts(id, w.range).await? {
            let status = if c.status == "waiting" {
                "running"
            } else {
                c.status.as_str()
            };
            rows.add(status, c.bucket, c.count, w.range.buckets);
        }
        out[w.name] = rows.svg(&RUNS, &w, &series);
    }
    out["percentiles"] = match st.store.run_duration_percentiles(id, since).await? {
        None => Json::Null,
        Some(p) => json!({
            "runs": p.runs, "p50": ms_text(p.p50), "p95": ms_text(p.p95), "p99": ms_text(p.p99),
            "p50_ms": p.p50, "p95_ms": p.p95, "p99_ms": p.p99,
        }),
    };
    Ok(out)
}

/// A duration in words: `850 ms`, `1.25 s`, `3.0 min`.
fn ms_text(ms: i64) -> String {
    match ms {
        ..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.2} s", ms as f64 / 1000.0),
        _ => format!("{:.1} min", ms as f64 / 60_000.0),
    }
}

/// The diagram of a stored definition (JSON), `None` when there is none (an invalid document).
pub fn workflow_diagram(definition: Option<&str>) -> Option<String> {
    let w: Workflow = serde_json::from_str(definition?).ok()?;
    Some(diagram(&w, None))
}

/// The diagram of the workflow version `run` executes, coloured by its steps' statuses; `None`
/// when that version is not kept or not valid.
pub async fn run_diagram(st: &AppState, run: &RunRecord) -> Result<Option<String>, UiError> {
    let Some(w) = st
        .store
        .get_workflow_version(&run.workflow_id, run.workflow_version)
        .await?
        .and_then(|v| v.document.definition)
        .and_then(|d| serde_json::from_str::<Workflow>(&d).ok())
    else {
        return Ok(None);
    };
    let counts: Vec<(String, String, i64)> = st
        .store
        .step_status_counts(&run.id)
        .await?
        .into_iter()
        .map(|c| (c.step_id, c.status, c.count))
        .collect();
    Ok(Some(diagram(&w, Some(&step_states(&counts)))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_end_after_the_current_hour_and_day() {
        let now = 1_720_000_000_123; // 2024-07-03T09:46:40Z
        let [h, d] = windows(now);
        assert_eq!(h.range.until_ms(), 1_720_000_800_000);
        assert!(h.range.since_ms < now && now < h.range.until_ms());
        assert_eq!(h.labels()[23], "09:00");
        assert_eq!(d.labels()[29], "07-03");
        assert_eq!(d.range.buckets, 30);
    }

    #[test]
    fn durations_in_words() {
        assert_eq!(ms_text(850), "850 ms");
        assert_eq!(ms_text(1250), "1.25 s");
        assert_eq!(ms_text(180_000), "3.0 min");
    }
}
