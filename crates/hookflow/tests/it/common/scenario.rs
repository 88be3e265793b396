//! The setup most routing tests start from, in one expression: a webhook, events on it and
//! workflows triggered by them, each created through the management API with the same checks
//! the single helpers make (201, an id, a valid workflow).
//!
//! ```ignore
//! let sc = Scenario::new(&s, "fan")
//!     .event("alerts")
//!     .workflow(&echo_yaml("fan-a", "alerts"))
//!     .await;
//! let delivery_id = sc.send(&s, &json!({"n": 1})).await;
//! ```

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use serde_json::{Value, json};

use super::api::{create_event, send, valid_workflow};
use super::server::Server;

/// A webhook → events → workflows setup, created when awaited (or by [`Scenario::build`]).
pub struct Scenario<'a> {
    server: &'a Server,
    webhook: Value,
    events: Vec<Value>,
    workflows: Vec<String>,
}

/// What a [`Scenario`] created. It does not borrow the server, so a test may stop, kill and
/// restart it afterwards.
#[derive(Debug, Clone)]
pub struct Built {
    /// The webhook as created (with `id` and `api_key`).
    pub hook: Value,
    /// The webhook's id.
    pub hook_id: String,
    /// The events as created, in the order given.
    pub events: Vec<Value>,
    /// The workflows' ids, in the order given.
    pub workflows: Vec<String>,
}

impl<'a> Scenario<'a> {
    /// A JSON webhook named `name` without rate limits (so a test may send many requests); no
    /// events, no workflows.
    pub fn new(server: &'a Server, name: &str) -> Scenario<'a> {
        Scenario {
            server,
            webhook: json!({
                "name": name,
                "content_type": "application/json",
                "rate_limit_per_minute": 0,
                "rate_limit_per_day": 0,
            }),
            events: Vec::new(),
            workflows: Vec::new(),
        }
    }

    /// More fields of the webhook's creation request (`dedup`, `verification`, limits, …), each
    /// replacing the default.
    pub fn webhook(mut self, fields: Value) -> Self {
        let fields = fields.as_object().expect("webhook fields are an object");
        for (k, v) in fields {
            self.webhook[k] = v.clone();
        }
        self
    }

    /// An event `name` of the webhook, without a filter.
    pub fn event(self, name: &str) -> Self {
        self.event_with(json!({ "name": name }))
    }

    /// An event `name` of the webhook with this filter.
    pub fn filtered_event(self, name: &str, filter: &str) -> Self {
        self.event_with(json!({ "name": name, "filter": filter }))
    }

    /// An event of the webhook: its creation request without `webhook_id`, which is filled in.
    pub fn event_with(mut self, body: Value) -> Self {
        assert!(body.is_object(), "an event is an object: {body}");
        self.events.push(body);
        self
    }

    /// A workflow (YAML) that must save as valid.
    pub fn workflow(mut self, yaml: &str) -> Self {
        self.workflows.push(yaml.to_string());
        self
    }

    /// Creates the webhook, then the events, then the workflows.
    pub async fn build(self) -> Built {
        let s = self.server;
        let hook = s.create_webhook_from(self.webhook).await;
        let hook_id = hook["id"].as_str().expect("webhook id").to_string();
        let mut events = Vec::new();
        for mut body in self.events {
            body["webhook_id"] = json!(hook_id);
            events.push(create_event(s, body).await);
        }
        let mut workflows = Vec::new();
        for yaml in &self.workflows {
            workflows.push(valid_workflow(s, yaml).await);
        }
        Built {
            hook,
            hook_id,
            events,
            workflows,
        }
    }
}

impl<'a> IntoFuture for Scenario<'a> {
    type Output = Built;
    type IntoFuture = Pin<Box<dyn Future<Output = Built> + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.build())
    }
}

impl Built {
    /// The id of the only (or first) workflow.
    pub fn workflow(&self) -> &str {
        self.workflows.first().expect("the scenario has a workflow")
    }

    /// POSTs `body` as JSON to the webhook (202 expected); returns the X-Delivery-Id.
    pub async fn send(&self, s: &Server, body: &Value) -> String {
        send(s, &self.hook, body, &[]).await
    }
}
