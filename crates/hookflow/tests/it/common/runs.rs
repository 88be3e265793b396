//! Runs through the management API: manual runs (`POST /api/v1/workflows/{id}/runs?wait=`),
//! waiting for a run to end, and reading a run record (its status, step records, errors).

use std::time::Duration;

use serde_json::{Value, json};

use super::http::Answer;
use super::poll::eventually;
use super::server::Server;

/// Starts a manual run, answering within `wait` seconds (`?wait=`); the raw answer.
pub async fn start_run(s: &Server, wf: &str, inputs: Value, wait: f64) -> Answer {
    s.api_post(
        &format!("/api/v1/workflows/{wf}/runs?wait={wait}"),
        json!({ "inputs": inputs }),
    )
    .await
}

/// Whether a run (its record) has ended.
pub fn finished(run: &Value) -> bool {
    is_final(&run["status"])
}

/// Polls `GET /api/v1/runs/{id}` until the run has finished (within `limit`).
pub async fn wait_run_within(s: &Server, id: &str, limit: Duration) -> Value {
    eventually(limit, || async {
        let run = get_run(s, id).await;
        if finished(&run) {
            Ok(run)
        } else {
            Err(format!("run not finished: {run}"))
        }
    })
    .await
}

/// Runs a workflow to its end: `?wait=10`, then polling if it answered 202.
pub async fn run_to_end(s: &Server, wf: &str, inputs: Value) -> Value {
    let a = start_run(s, wf, inputs, 10.0).await;
    match a.status {
        200 => {
            let run = a.json();
            assert!(finished(&run), "a 200 answer holds a finished run: {run}");
            run
        }
        202 => {
            let id = a.json()["id"].as_str().expect("run id").to_string();
            wait_run_within(s, &id, Duration::from_secs(60)).await
        }
        _ => {
            a.expect_status(200);
            unreachable!()
        }
    }
}

/// Runs a workflow to its end ([`run_to_end`]) and asserts how it ended.
pub async fn run_expecting(s: &Server, wf: &str, inputs: Value, status: &str) -> Value {
    let run = run_to_end(s, wf, inputs).await;
    expect_status(&run, status);
    run
}

#[track_caller]
pub fn expect_status(run: &Value, status: &str) {
    assert_eq!(
        run["status"],
        json!(status),
        "run expected {status}: {}",
        serde_json::to_string_pretty(run).unwrap()
    );
}

/// Every record of step `id` (one per loop iteration), in start order.
pub fn records<'a>(run: &'a Value, id: &str) -> Vec<&'a Value> {
    run["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("run without steps: {run}"))
        .iter()
        .filter(|s| s["id"] == json!(id))
        .collect()
}

/// The one record of step `id`.
#[track_caller]
pub fn step<'a>(run: &'a Value, id: &str) -> &'a Value {
    let r = records(run, id);
    assert_eq!(r.len(), 1, "expected one record of step {id}: {run}");
    r[0]
}

#[track_caller]
pub fn error_contains(what: &Value, needle: &str) {
    let e = what["error"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error containing {needle:?}, got none: {what}"));
    assert!(
        e.contains(needle),
        "expected an error containing {needle:?}, got {e:?}"
    );
}

/// `GET /api/v1/runs/{id}` (with steps).
pub async fn get_run(s: &Server, id: &str) -> Value {
    let a = s.api_get(&format!("/api/v1/runs/{id}")).await;
    a.expect_status(200);
    a.json()
}

pub fn is_final(status: &Value) -> bool {
    matches!(status.as_str(), Some("succeeded" | "failed" | "cancelled"))
}

/// The runs of a workflow (`GET /api/v1/runs?workflow_id=`).
pub async fn runs_of(s: &Server, workflow_id: &str) -> Vec<Value> {
    let a = s
        .api_get(&format!("/api/v1/runs?workflow_id={workflow_id}&limit=500"))
        .await;
    a.expect_status(200);
    a.json()["items"].as_array().cloned().unwrap_or_default()
}

/// The first run of workflow `name` (by name) among the runs matching `query` (e.g.
/// `status=failed`), as listed (without steps).
pub async fn listed_run(s: &Server, query: &str, name: &str) -> Value {
    let runs = s.all_runs(query).await;
    runs.into_iter()
        .find(|r| r["workflow"] == json!(name))
        .unwrap_or_else(|| panic!("no run of {name} with {query}"))
}

/// Waits (30 s at most) until delivery `delivery_id` lists a run; the first run's id.
pub async fn first_run_id(s: &Server, delivery_id: &str) -> String {
    eventually(Duration::from_secs(30), || async {
        let d = s.delivery(delivery_id).await;
        d["runs"][0]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no run yet: {d}"))
    })
    .await
}

/// The finished run a webhook delivery started (its first), with steps; waits 30 s at most.
pub async fn run_of_delivery(s: &Server, delivery_id: &str) -> Value {
    eventually(Duration::from_secs(30), || async {
        let d = s.delivery(delivery_id).await;
        let id = d["runs"][0]["id"].as_str().map(str::to_string);
        let Some(id) = id else {
            return Err(format!("no run yet: {d}"));
        };
        let run = get_run(s, &id).await;
        if is_final(&run["status"]) {
            Ok(run)
        } else {
            Err(format!("run not finished: {run}"))
        }
    })
    .await
}

/// Waits (30 s at most) until the delivery lists `count` runs, all finished; returns the
/// delivery.
pub async fn finished_delivery(s: &Server, delivery_id: &str, count: usize) -> Value {
    eventually(Duration::from_secs(30), || async {
        let d = s.delivery(delivery_id).await;
        let runs = d["runs"].as_array().cloned().unwrap_or_default();
        if runs.len() == count && runs.iter().all(|r| is_final(&r["status"])) {
            Ok(d)
        } else {
            Err(format!(
                "delivery {delivery_id}: want {count} finished runs, have {:?}",
                runs.iter()
                    .map(|r| (r["workflow"].clone(), r["status"].clone()))
                    .collect::<Vec<_>>()
            ))
        }
    })
    .await
}
