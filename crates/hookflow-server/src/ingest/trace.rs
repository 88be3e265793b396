//! The spans of a webhook request (README, "Traces"): the request's server span (under the
//! caller's `traceparent`, else a new trace), the delivery's span (the journal's commit) and the
//! routing span, whose `traceparent` the runs it starts keep. Only ids, names and outcomes go into
//! attributes: never a key, a header value or the body.

use axum::http::{HeaderMap, Method};
use hookflow_engine::trace::{self, Attribute, Kind, Span};
use hookflow_store::journal::{DeliveryTrace, Outcome};
use opentelemetry::trace::SpanContext;

/// The span of one `POST /webhooks/{id}` request, if traces are exported.
pub(super) struct RequestSpan(Span);

impl RequestSpan {
    /// Starts it under the request's valid `traceparent` (a malformed one is ignored).
    pub(super) fn start(method: &Method, path: &str, headers: &HeaderMap) -> Option<RequestSpan> {
        if !trace::enabled() {
            return None;
        }
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let parent =
            text(trace::TRACEPARENT).and_then(|t| trace::parse(t, text(trace::TRACESTATE)));
        trace::start(
            format!("{method} /webhooks/{{id}}"),
            Kind::Server,
            parent.as_ref(),
            vec![
                Attribute::new("http.request.method", method.to_string()),
                Attribute::new("http.route", "/webhooks/{id}"),
                Attribute::new("url.path", path.to_string()),
            ],
        )
        .map(RequestSpan)
    }

    pub(super) fn context(&self) -> SpanContext {
        self.0.context()
    }

    /// Ends it with the answer's status (a 5xx marks it failed, as the HTTP conventions ask).
    pub(super) fn finish(mut self, status: u16) {
        self.0
            .set(Attribute::new("http.response.status_code", status as i64));
        if status >= 500 {
            self.0.fail("the request was not accepted");
        }
    }
}

/// The delivery's and the routing's spans of a request handed to the journal.
pub(super) struct JournalSpans {
    delivery: Span,
    routing: Span,
}

impl JournalSpans {
    pub(super) fn start(parent: &SpanContext, webhook_id: &str, delivery_id: &str) -> Option<Self> {
        let ids = || {
            vec![
                Attribute::new("hookflow.webhook.id", webhook_id.to_string()),
                Attribute::new("hookflow.delivery.id", delivery_id.to_string()),
            ]
        };
        let delivery = trace::start("delivery", Kind::Internal, Some(parent), ids())?;
        let routing = trace::start("route", Kind::Internal, Some(&delivery.context()), ids())?;
        Some(JournalSpans { delivery, routing })
    }

    /// The `traceparent`s the journal keeps with the delivery and its runs.
    pub(super) fn stored(&self) -> DeliveryTrace {
        DeliveryTrace {
            delivery: trace::header(&self.delivery.context()),
            routing: trace::header(&self.routing.context()),
        }
    }

    /// Ends both with the journal's decision.
    pub(super) fn finish(mut self, outcome: Option<&Outcome>) {
        let status = outcome.map_or("overloaded", Outcome::status);
        for span in [&mut self.routing, &mut self.delivery] {
            span.set(Attribute::new("hookflow.delivery.status", status));
        }
        if outcome.is_none() {
            self.delivery.fail("the journal refused the request");
        }
        // The routing span ends first: it lies within the delivery's.
        drop(self.routing);
        drop(self.delivery);
    }
}
