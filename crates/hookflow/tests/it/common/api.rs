//! The management API and webhook ingest through `reqwest`: API calls with the admin token,
//! webhooks, events, workflows, deliveries (following cursors), secrets and runs.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::http::{Answer, pct};
use super::poll::eventually;
use super::server::Server;

impl Server {
    /// A management API call with the admin token.
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self
            .client
            .request(method.clone(), self.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e:?}"));
        Answer::from_response(resp).await
    }

    pub async fn api_get(&self, path: &str) -> Answer {
        self.api(Method::GET, path, None).await
    }

    pub async fn api_post(&self, path: &str, body: Value) -> Answer {
        self.api(Method::POST, path, Some(body)).await
    }

    pub async fn api_patch(&self, path: &str, body: Value) -> Answer {
        self.api(Method::PATCH, path, Some(body)).await
    }

    pub async fn api_delete(&self, path: &str) -> Answer {
        self.api(Method::DELETE, path, None).await
    }

    /// Creates a webhook (201 expected). `None` limits are left out of the request, so the
    /// server's defaults apply.
    pub async fn create_webhook(
        &self,
        name: &str,
        content_type: &str,
        per_minute: Option<i64>,
        per_day: Option<i64>,
    ) -> Value {
        let mut body = json!({"name": name, "content_type": content_type});
        if let Some(m) = per_minute {
            body["rate_limit_per_minute"] = json!(m);
        }
        if let Some(d) = per_day {
            body["rate_limit_per_day"] = json!(d);
        }
        self.create_webhook_from(body).await
    }

    /// `POST /api/v1/webhooks` with this body (201 expected); returns the webhook, which has an
    /// id and an API key.
    pub async fn create_webhook_from(&self, body: Value) -> Value {
        let a = self.post_webhook(body).await;
        a.expect_status(201);
        let hook = a.json();
        assert!(hook["id"].is_string(), "webhook without id: {hook}");
        assert!(
            hook["api_key"].is_string(),
            "webhook without api_key: {hook}"
        );
        hook
    }

    /// `a` must be a problem with `status`, recorded as a rejected delivery of `hook`: the
    /// problem and the delivery.
    pub async fn expect_refused(&self, hook: &Value, a: &Answer, status: u16) -> (Value, Value) {
        let problem = a.expect_problem(status);
        let id = hook["id"].as_str().expect("webhook id");
        (problem, self.expect_rejection_recorded(id, a).await)
    }

    /// `POST /api/v1/webhooks` with this body, whatever the answer.
    pub async fn post_webhook(&self, body: Value) -> Answer {
        self.api_post("/api/v1/webhooks", body).await
    }

    /// A webhook with no rate limits, for tests that send more than 5 accepted requests.
    pub async fn unlimited_webhook(&self, name: &str, content_type: &str) -> Value {
        self.create_webhook(name, content_type, Some(0), Some(0))
            .await
    }

    /// `http://127.0.0.1:PORT/webhooks/{id}?api_key=<percent-encoded key>` on the current port.
    pub fn hook_url(&self, hook: &Value) -> String {
        self.hook_url_with_key(hook, hook["api_key"].as_str().expect("api_key"))
    }

    /// The path and query that reach `hook` with `key`: `/webhooks/{id}?api_key=<encoded key>`.
    pub fn hook_target(hook: &Value, key: &str) -> String {
        let id = hook["id"].as_str().expect("id");
        format!("/webhooks/{id}?api_key={}", pct(key))
    }

    pub fn hook_url_with_key(&self, hook: &Value, key: &str) -> String {
        format!("{}{}", self.base_url, Self::hook_target(hook, key))
    }

    /// POSTs `body` to the webhook with its key, `Accept: application/json` and `content_type`.
    pub async fn post_hook(&self, hook: &Value, content_type: &str, body: Vec<u8>) -> Answer {
        post_to(&self.client, &self.hook_url(hook), content_type, body).await
    }

    /// A JSON webhook named `name`, with the default rate limits.
    pub async fn json_webhook(&self, name: &str) -> Value {
        self.create_webhook(name, "application/json", None, None)
            .await
    }

    /// The id of a new [`Server::json_webhook`].
    pub async fn json_webhook_id(&self, name: &str) -> String {
        let hook = self.json_webhook(name).await;
        hook["id"].as_str().expect("webhook id").to_string()
    }

    /// [`Server::post_hook`], which must be accepted (202).
    pub async fn post_accepted(&self, hook: &Value, content_type: &str, body: Vec<u8>) -> Answer {
        let a = self.post_hook(hook, content_type, body).await;
        a.expect_status(202);
        a
    }

    /// [`Server::post_hook`], which must be refused with a problem of `status`: the problem.
    pub async fn post_refused(
        &self,
        hook: &Value,
        content_type: &str,
        body: Vec<u8>,
        status: u16,
    ) -> Value {
        self.post_hook(hook, content_type, body)
            .await
            .expect_problem(status)
    }

    /// POSTs `{}` as JSON to the webhook with its key: the smallest valid delivery.
    pub async fn post_empty(&self, hook: &Value) -> Answer {
        self.post_hook(hook, "application/json", b"{}".to_vec())
            .await
    }

    /// Like [`Server::post_hook`], with `key` as the API key (a wrong one, say).
    pub async fn post_hook_with_key(
        &self,
        hook: &Value,
        key: &str,
        content_type: &str,
        body: &[u8],
    ) -> Answer {
        let url = self.hook_url_with_key(hook, key);
        post_to(&self.client, &url, content_type, body.to_vec()).await
    }

    /// `PATCH /api/v1/webhooks/{id}` with this body, whatever the answer.
    pub async fn patch_webhook(&self, id: &str, body: Value) -> Answer {
        self.api_patch(&format!("/api/v1/webhooks/{id}"), body)
            .await
    }

    /// `POST /api/v1/webhooks/{id}/rotate-key` without a grace period (200 expected): the
    /// webhook with its new key.
    pub async fn rotate_key(&self, hook: &Value) -> Value {
        let id = hook["id"].as_str().expect("webhook id");
        let a = self
            .api_post(&format!("/api/v1/webhooks/{id}/rotate-key"), json!({}))
            .await;
        a.expect_status(200);
        a.json()
    }

    /// `GET /api/v1/webhooks/{id}` (200 expected): the webhook.
    pub async fn webhook(&self, id: &str) -> Value {
        let a = self.api_get(&format!("/api/v1/webhooks/{id}")).await;
        a.expect_status(200);
        a.json()
    }

    /// The ids of a webhook's deliveries, newest first.
    pub async fn delivery_ids(&self, hook_id: &str) -> Vec<String> {
        let all = self.deliveries(hook_id).await;
        all.iter()
            .map(|d| d["id"].as_str().expect("delivery id").to_string())
            .collect()
    }

    /// All deliveries of a webhook, newest first, following `next_cursor` (pages of 500).
    pub async fn deliveries(&self, hook_id: &str) -> Vec<Value> {
        self.all_pages(&format!("/api/v1/webhooks/{hook_id}/deliveries?limit=500"))
            .await
    }

    /// Every item of a list call (`path` with its query, including `limit=500`), following
    /// `next_cursor`; each page holds at most 500 items.
    pub async fn all_pages(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut page_path = path.to_string();
            if let Some(c) = &cursor {
                page_path.push_str(&format!("&cursor={}", pct(c)));
            }
            let a = self.api_get(&page_path).await;
            a.expect_status(200);
            let page = a.json();
            let page_items = page["items"]
                .as_array()
                .unwrap_or_else(|| panic!("{path}: a page without items: {page}"));
            assert!(
                page_items.len() <= 500,
                "a page holds at most `limit` items, got {}",
                page_items.len()
            );
            items.extend(page_items.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) if !page_items.is_empty() => cursor = Some(c.to_string()),
                _ => return items,
            }
        }
        panic!("{path}: too many pages");
    }

    /// `GET /healthz` (no token), whatever its status.
    pub async fn healthz(&self) -> Answer {
        let resp = self.client.get(self.url("/healthz")).send().await;
        Answer::from_response(resp.expect("GET /healthz")).await
    }

    /// Creates or replaces secret `name` (`PUT /api/v1/secrets/{name}`, 200 expected).
    pub async fn set_secret(&self, name: &str, value: &str) {
        self.api(
            Method::PUT,
            &format!("/api/v1/secrets/{name}"),
            Some(json!({ "value": value })),
        )
        .await
        .expect_status(200);
    }

    /// One delivery with its body (`GET /api/v1/deliveries/{id}`, 200 expected).
    pub async fn delivery(&self, id: &str) -> Value {
        let a = self
            .api_get(&format!("/api/v1/deliveries/{}", pct(id)))
            .await;
        a.expect_status(200);
        a.json()
    }

    /// Waits until the webhook's deliveries hold a rejected one with this answer's status and a
    /// `reason` equal to the answer's `detail`, and returns it (full, with body).
    pub async fn expect_rejection_recorded(&self, hook_id: &str, answer: &Answer) -> Value {
        let detail = answer.json()["detail"]
            .as_str()
            .expect("problem detail")
            .to_string();
        let status = answer.status;
        let found = eventually(Duration::from_secs(10), || async {
            let all = self.deliveries(hook_id).await;
            all.iter()
                .find(|d| {
                    d["status"] == "rejected"
                        && d["http_status"] == json!(status)
                        && d["reason"] == json!(detail)
                })
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "no rejected delivery with http_status {status} and reason {detail:?} \
                         among {} deliveries: {:?}",
                        all.len(),
                        all.iter()
                            .take(5)
                            .map(|d| (
                                d["status"].clone(),
                                d["http_status"].clone(),
                                d["reason"].clone()
                            ))
                            .collect::<Vec<_>>()
                    )
                })
        })
        .await;
        assert_eq!(found["webhook_id"], json!(hook_id));
        self.delivery(found["id"].as_str().expect("delivery id"))
            .await
    }
}

/// POSTs `body` to `url` through `client` with `Accept: application/json` and `content_type`.
pub async fn post_to(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Answer {
    let resp = client
        .post(url)
        .header("accept", "application/json")
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("POST webhook");
    Answer::from_response(resp).await
}

/// Turns workflow `id` off (`PATCH /api/v1/workflows/{id}`, 200 expected); returns it.
pub async fn disable_workflow(s: &Server, id: &str) -> Value {
    set_workflow_enabled(s, id, false).await
}

/// Turns workflow `id` on or off (`PATCH /api/v1/workflows/{id}`, 200 expected); returns it.
pub async fn set_workflow_enabled(s: &Server, id: &str, enabled: bool) -> Value {
    let path = format!("/api/v1/workflows/{id}");
    let a = s.api_patch(&path, json!({ "enabled": enabled })).await;
    a.expect_status(200);
    a.json()
}

/// `POST /api/v1/events` (201 expected); returns the event.
pub async fn create_event(s: &Server, body: Value) -> Value {
    let a = s.api_post("/api/v1/events", body).await;
    a.expect_status(201);
    a.json()
}

/// A YAML workflow document sent to `path` (`POST /api/v1/workflows`, `PUT …/{id}`).
pub async fn send_workflow(s: &Server, method: Method, path: &str, yaml: &str) -> Answer {
    let resp = s
        .client
        .request(method, s.url(path))
        .bearer_auth(&s.token)
        .header("content-type", "application/yaml")
        .body(yaml.to_string())
        .send()
        .await
        .expect("send workflow");
    Answer::from_response(resp).await
}

/// `POST /api/v1/workflows` with a YAML document (201 expected); returns the workflow.
pub async fn create_workflow(s: &Server, yaml: &str) -> Value {
    let a = send_workflow(s, Method::POST, "/api/v1/workflows", yaml).await;
    a.expect_status(201);
    let w = a.json();
    assert!(w["id"].is_string(), "workflow without id: {w}");
    w
}

/// A workflow named `name` whose `for_each` runs one `set_variables` step `n` times: `n + 1` step
/// records.
pub fn many_steps_yaml(name: &str, n: usize) -> String {
    let items: Vec<usize> = (0..n).collect();
    format!(
        "name: {name}\nsteps:\n  - id: each\n    type: for_each\n    items: {items:?}\n    \
         steps:\n      - {{id: one, type: set_variables, values: {{}}}}\n"
    )
}

/// A fresh server with one workflow, which must be valid: the server and the workflow's id.
pub async fn server_with_workflow(yaml: &str) -> (Server, String) {
    let s = Server::start().await;
    let wf = valid_workflow(&s, yaml).await;
    (s, wf)
}

/// Saves `yaml`, which must be invalid with an error at `path` whose message contains `needle`;
/// returns the workflow as saved.
pub async fn refused(s: &Server, yaml: &str, path: &str, needle: &str) -> Value {
    let w = create_workflow(s, yaml).await;
    assert_eq!(w["validation"]["status"], json!("invalid"), "{yaml}\n{w}");
    let errors = w["validation"]["errors"].as_array().expect("errors");
    assert!(
        errors.iter().any(|e| e["path"] == json!(path)
            && e["message"].as_str().is_some_and(|m| m.contains(needle))),
        "expected an error at {path} containing {needle:?}, got {errors:#?}"
    );
    w
}

/// A workflow that must be valid.
pub async fn valid_workflow(s: &Server, yaml: &str) -> String {
    let w = create_workflow(s, yaml).await;
    assert_eq!(
        w["validation"]["status"],
        json!("valid"),
        "workflow must be valid: {}\n{yaml}",
        w["validation"]
    );
    w["id"].as_str().expect("id").to_string()
}

/// POSTs `body` to the webhook with extra headers; 202 expected; returns the X-Delivery-Id.
pub async fn send(s: &Server, hook: &Value, body: &Value, headers: &[(&str, &str)]) -> String {
    let mut req = s
        .client
        .post(s.hook_url(hook))
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .body(body.to_string());
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let a = Answer::from_response(req.send().await.expect("POST webhook")).await;
    a.accepted_id()
}
