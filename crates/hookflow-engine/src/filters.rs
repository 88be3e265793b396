//! Event filters, evaluated by the delivery journal inside the delivery's transaction (so the
//! routing decision is made on committed events and workflows). Only `trigger` is in scope.

use std::sync::Arc;

use hookflow_core::expr::Sandbox;
use hookflow_core::ingest::WebhookAuth;
use hookflow_core::trigger::{Delivered, webhook_trigger, webhook_trigger_fields};
use hookflow_store::journal::{DeliveryRecord, FilterEvaluator, IngestRequest};
use serde_json::{Value, json};

/// Evaluates filters with the expression sandbox.
pub struct ExprFilters {
    pub sandbox: Arc<Sandbox>,
}

/// RFC 3339 of unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The trigger variables of a request as the journal holds it (no event yet).
fn request_context(
    webhook: &WebhookAuth,
    rec: &DeliveryRecord,
    verification: Option<Value>,
) -> Value {
    let headers: Vec<(String, String)> = serde_json::from_str(&rec.headers).unwrap_or_default();
    let received = rfc3339(rec.received_at);
    let trigger = webhook_trigger(&Delivered {
        webhook_id: &webhook.id,
        webhook_name: &webhook.name,
        event_id: "",
        event_name: "",
        delivery_id: &rec.id,
        received_at: &received,
        content_type: rec.content_type.as_deref(),
        headers: &headers,
        query: serde_json::from_str(&rec.query).unwrap_or(Value::Null),
        body: &rec.body,
        verification,
    });
    json!({ "trigger": trigger })
}

/// A request's duplicate-detection key by `expression` (SPEC §9): `None` when the expression
/// gives no value or fails — such a request is processed normally.
pub fn dedup_key(
    sandbox: &Sandbox,
    webhook: &WebhookAuth,
    record: &DeliveryRecord,
    expression: &str,
) -> Option<String> {
    // Only the trigger fields the key reads are built (a header preset parses no body): this
    // runs for every request of a deduplicating webhook.
    let fields = sandbox.fields_read(expression, "trigger").ok()?;
    let wanted = |name: &str| fields.as_ref().is_none_or(|f| f.contains(name));
    let headers: Vec<(String, String)> = if wanted("headers") || wanted("request_headers") {
        serde_json::from_str(&record.headers).unwrap_or_default()
    } else {
        Vec::new()
    };
    let query = if wanted("query") {
        serde_json::from_str(&record.query).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let received = if wanted("received_at") {
        rfc3339(record.received_at)
    } else {
        String::new()
    };
    let trigger = webhook_trigger_fields(
        &Delivered {
            webhook_id: &webhook.id,
            webhook_name: &webhook.name,
            event_id: "",
            event_name: "",
            delivery_id: &record.id,
            received_at: &received,
            content_type: record.content_type.as_deref(),
            headers: &headers,
            query,
            body: &record.body,
            verification: None,
        },
        wanted,
    );
    sandbox
        .eval(expression, &json!({ "trigger": trigger }))
        .ok()
        .and_then(|v| hookflow_core::dedup::key_text(&v))
}

/// The `trigger` variables of a stored delivery of webhook `(webhook_id, webhook_name)` for
/// event `(event_id, event_name)`: what its runs see, and what its filters were evaluated on.
pub fn stored_trigger(
    webhook: (&str, &str),
    event: (&str, &str),
    delivery: &hookflow_store::deliveries::Delivery,
) -> Value {
    let headers: Vec<(String, String)> =
        serde_json::from_str(&delivery.headers).unwrap_or_default();
    let received = rfc3339(delivery.received_at);
    webhook_trigger(&Delivered {
        webhook_id: webhook.0,
        webhook_name: webhook.1,
        event_id: event.0,
        event_name: event.1,
        delivery_id: &delivery.id,
        received_at: &received,
        content_type: delivery.content_type.as_deref(),
        headers: &headers,
        query: serde_json::from_str(&delivery.query).unwrap_or(Value::Null),
        body: delivery.body.as_deref().unwrap_or_default(),
        verification: delivery
            .verification
            .as_deref()
            .and_then(|v| serde_json::from_str(v).ok()),
    })
}

/// What event `(event_id, event_name)`'s proposed `filter` says of a stored delivery of webhook
/// `(webhook_id, webhook_name)` — the same trigger variables and evaluation as routing gives it
/// (SPEC §10, trying a filter): matched, or why it could not be evaluated.
pub fn test_filter(
    sandbox: &Sandbox,
    webhook: (&str, &str),
    event: (&str, &str),
    delivery: &hookflow_store::deliveries::Delivery,
    filter: &str,
) -> Result<bool, String> {
    let trigger = stored_trigger(webhook, event, delivery);
    sandbox
        .eval_bool(filter, &json!({ "trigger": trigger }))
        .map_err(|e| e.to_string())
}

impl FilterEvaluator for ExprFilters {
    fn dedup_key(
        &self,
        webhook: &WebhookAuth,
        req: &IngestRequest,
        expression: &str,
    ) -> Option<String> {
        dedup_key(&self.sandbox, webhook, &req.record, expression)
    }

    fn evaluate(
        &self,
        webhook: &WebhookAuth,
        req: &IngestRequest,
        filters: &[(&str, &str, &str)],
    ) -> Vec<Result<bool, String>> {
        let verification = req.verification.as_ref().map(|v| v.to_value());
        let mut ctx = request_context(webhook, &req.record, verification);
        filters
            .iter()
            .map(|(id, name, filter)| {
                ctx["trigger"]["event"] = json!({ "id": id, "name": name });
                self.sandbox
                    .eval_bool(filter, &ctx)
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    fn evaluate_stored(
        &self,
        webhook: (&str, &str),
        delivery: &hookflow_store::deliveries::Delivery,
        filters: &[(&str, &str, &str)],
    ) -> Vec<Result<bool, String>> {
        filters
            .iter()
            .map(|(id, name, filter)| {
                test_filter(&self.sandbox, webhook, (id, name), delivery, filter)
            })
            .collect()
    }
}
