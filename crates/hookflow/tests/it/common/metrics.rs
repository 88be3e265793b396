//! The Prometheus `/metrics` text: reading one counter, and a server's finished-run counts.

use serde_json::Value;

use super::http::Answer;
use super::server::Server;

/// The value of the Prometheus counter `name` with exactly these `labels` (`k="v"` pairs as
/// printed) in a `/metrics` text; 0 when absent.
pub fn metric_value(metrics: &str, name: &str, labels: &str) -> f64 {
    let want = if labels.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{labels}}}")
    };
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(k, _)| *k == want)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0.0)
}

impl Server {
    /// `GET /metrics` as text.
    pub async fn metrics(&self) -> String {
        let resp = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics");
        let a = Answer::from_response(resp).await;
        a.expect_status(200);
        a.text()
    }

    /// Runs this node finished with `status` (its `hookflow_runs_finished_total`).
    pub async fn runs_finished(&self, status: &str) -> u64 {
        let m = self.metrics().await;
        metric_value(
            &m,
            "hookflow_runs_finished_total",
            &format!("status=\"{status}\""),
        ) as u64
    }

    /// Every run matching `query` (e.g. `workflow_id=…&status=succeeded`), following cursors.
    pub async fn all_runs(&self, query: &str) -> Vec<Value> {
        self.all_pages(&format!("/api/v1/runs?{query}&limit=500"))
            .await
    }
}
