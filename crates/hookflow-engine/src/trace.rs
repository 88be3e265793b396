//! Traces (README, "Traces"): W3C trace context read and written, and the spans hookflow
//! starts. Nothing here does anything until [`install`] was called (`--otlp-endpoint`): without
//! it every function answers `None` at the cost of one atomic load.
//!
//! Spans are created directly with the `opentelemetry` API rather than through `tracing`: the
//! trace of a request crosses the journal (a run may execute later, on another node), so each
//! span's parent is given explicitly — a stored `traceparent` or the span around it — never an
//! ambient "current span".

use std::borrow::Cow;
use std::sync::OnceLock;

use hookflow_core::workflow::{Step, StepKind};
use hookflow_store::runs::RunRecord;
use opentelemetry::global::{BoxedSpan, BoxedTracer};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue};

use crate::EngineError;
use crate::exec::{Flow, RunState};

pub use opentelemetry::KeyValue as Attribute;
pub use opentelemetry::trace::SpanKind as Kind;

/// The W3C header carrying a span's context (<https://www.w3.org/TR/trace-context/>).
pub const TRACEPARENT: &str = "traceparent";
/// Vendor-specific trace data travelling with `traceparent`.
pub const TRACESTATE: &str = "tracestate";

static TRACER: OnceLock<BoxedTracer> = OnceLock::new();

/// Makes every span from now on go to `tracer` (once; later calls are ignored).
pub fn install(tracer: BoxedTracer) {
    let _ = TRACER.set(tracer);
}

/// Whether spans are exported.
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

/// A `traceparent` header's span context (a remote parent), if it is a valid version-00 one
/// (or a later version's first four fields, as the W3C text asks); `tracestate` travels with it
/// when it parses. Anything malformed answers `None`: the request starts a new trace.
pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<SpanContext> {
    let parts: Vec<&str> = traceparent.trim().split('-').collect();
    let [version, trace, span, flags, ..] = parts[..] else {
        return None;
    };
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !hex(version, 2) || version == "ff" || (version == "00" && parts.len() != 4) {
        return None;
    }
    if !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()? & 1;
    let state = tracestate
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        state,
    ))
}

/// `ctx` as a `traceparent` header value.
pub fn header(ctx: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        ctx.trace_id(),
        ctx.span_id(),
        ctx.trace_flags().to_u8()
    )
}

/// A span being timed; it ends (and is queued for export) when dropped.
pub struct Span(BoxedSpan);

impl Span {
    /// Its context: the parent of the spans under it, and what `traceparent` carries on.
    pub fn context(&self) -> SpanContext {
        self.0.span_context().clone()
    }

    pub fn set(&mut self, attribute: KeyValue) {
        self.0.set_attribute(attribute);
    }

    /// Marks it failed, with a fixed description (never an error's text: it may hold data).
    pub fn fail(&mut self, description: &'static str) {
        self.0.set_status(Status::error(description));
    }

    pub fn succeed(&mut self) {
        self.0.set_status(Status::Ok);
    }
}

/// Starts a span under `parent` (a new trace without one), if spans are exported.
pub fn start(
    name: impl Into<Cow<'static, str>>,
    kind: SpanKind,
    parent: Option<&SpanContext>,
    attributes: Vec<KeyValue>,
) -> Option<Span> {
    let tracer = TRACER.get()?;
    let cx = match parent {
        Some(p) => Context::new().with_remote_span_context(p.clone()),
        None => Context::new(),
    };
    let builder = tracer
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attributes);
    Some(Span(tracer.build_with_context(builder, &cx)))
}

/// The stored `traceparent` of a delivery or run, as the parent of the spans continuing it.
pub fn stored(traceparent: Option<&str>) -> Option<SpanContext> {
    traceparent.and_then(|t| parse(t, None))
}

/// The span of one execution of a run (a run resumed after a sleep has one per execution),
/// under the `traceparent` it was stored with: the routing span of its delivery, the step that
/// started a sub-run, or none (a new trace).
pub(crate) fn run_span(run: &RunRecord) -> Option<Span> {
    if !enabled() {
        return None;
    }
    let mut attributes = vec![
        KeyValue::new("hookflow.run.id", run.id.clone()),
        KeyValue::new("hookflow.workflow.id", run.workflow_id.clone()),
        KeyValue::new("hookflow.workflow.name", run.workflow_name.clone()),
        KeyValue::new("hookflow.run.trigger", run.trigger_kind.as_str()),
        KeyValue::new("hookflow.run.claims", run.claims),
    ];
    if let Some(d) = run.trigger_delivery_id() {
        attributes.push(KeyValue::new("hookflow.delivery.id", d.to_string()));
    }
    let parent = stored(run.traceparent.as_deref());
    start(
        format!("run {}", run.workflow_name),
        SpanKind::Internal,
        parent.as_ref(),
        attributes,
    )
}

/// The span of a step about to be executed, under `st.trace`; none for a step a resumed run
/// only replays (it has a finished record: its span was exported when it ran).
pub(crate) fn step_span(st: &RunState, step: &Step, path: &str) -> Option<Span> {
    if !enabled() || st.recorded.get(path).is_some_and(|r| r.status.has_result()) {
        return None;
    }
    let mut attributes = vec![
        KeyValue::new("hookflow.run.id", st.run.id.clone()),
        KeyValue::new("hookflow.workflow.name", st.run.workflow_name.clone()),
        KeyValue::new("hookflow.step.id", step.id.clone()),
        KeyValue::new("hookflow.step.type", step.kind.type_name()),
        KeyValue::new("hookflow.step.path", path.to_string()),
    ];
    let kind = match &step.kind {
        StepKind::HttpRequest { method, .. } => {
            attributes.push(KeyValue::new(
                "http.request.method",
                method.to_ascii_uppercase(),
            ));
            SpanKind::Client
        }
        _ => SpanKind::Internal,
    };
    start(
        format!("step {}", step.id),
        kind,
        st.trace.as_ref(),
        attributes,
    )
}

/// Ends a run's or a step's span with how it ended, as `key` (`succeeded`, `failed`, `waiting`,
/// `cancelled`, `lost`, `interrupted`).
pub(crate) fn end(mut span: Span, key: &'static str, flow: &Result<Flow, EngineError>) {
    let status = match flow {
        Ok(Flow::Continue | Flow::Complete(_) | Flow::Break(_) | Flow::NextIteration) => {
            span.succeed();
            "succeeded"
        }
        Ok(Flow::Fail(_)) => {
            span.fail("failed");
            "failed"
        }
        Ok(Flow::Suspend(_)) => "waiting",
        Ok(Flow::Cancelled) => "cancelled",
        Ok(Flow::Lost) => "lost",
        Err(_) => {
            span.fail("interrupted; it will be resumed");
            "interrupted"
        }
    };
    span.set(KeyValue::new(key, status));
}

/// Adds `traceparent` (and `tracestate`) for the step's span to an outgoing request, unless the
/// workflow sets `traceparent` itself in `headers`.
pub(crate) fn propagate(
    req: reqwest::RequestBuilder,
    ctx: Option<&SpanContext>,
    headers: &serde_json::Value,
) -> reqwest::RequestBuilder {
    let Some(ctx) = ctx else { return req };
    let own = headers
        .as_object()
        .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case(TRACEPARENT)));
    if own {
        return req;
    }
    let req = req.header(TRACEPARENT, header(ctx));
    match ctx.trace_state().header() {
        state if state.is_empty() => req,
        state => req.header(TRACESTATE, state),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_back() {
        let t = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let c = parse(t, Some("congo=t61rcWkgMzE")).expect("valid");
        assert!(c.is_remote() && c.is_sampled());
        assert_eq!(c.trace_state().get("congo"), Some("t61rcWkgMzE"));
        assert_eq!(header(&c), t);
        // a later version may add fields
        assert!(
            parse(
                "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-x",
                None
            )
            .is_some()
        );
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
            "not a traceparent",
        ] {
            assert!(parse(bad, None).is_none(), "{bad:?}");
        }
    }
}
