//! `--otlp-endpoint` (README, "Traces"): exports hookflow's spans over OTLP/HTTP (protobuf) to an
//! OpenTelemetry collector, in batches sent from the SDK's own thread with a blocking client —
//! never from the async workers that answer webhooks.

use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

/// The exporter while the server runs; [`Exporter::shutdown`] sends what is left.
pub struct Exporter(SdkTracerProvider);

/// Starts exporting to `endpoint`: a collector's OTLP/HTTP base URL (`http://host:4318`, to which
/// `/v1/traces` is added) or the full URL of its traces path. Spans are sent every `interval`.
pub fn start(endpoint: &str, interval: Duration) -> anyhow::Result<Exporter> {
    let url = traces_url(endpoint);
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(url.clone())
        .with_timeout(Duration::from_secs(10))
        .build()
        .with_context(|| format!("cannot export traces to {url}"))?;
    let batches = BatchConfigBuilder::default()
        .with_scheduled_delay(interval)
        .build();
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(batches)
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            Resource::builder()
                .with_service_name("hookflow")
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build(),
        )
        .build();
    let tracer = provider.tracer("hookflow");
    hookflow_engine::trace::install(opentelemetry::global::BoxedTracer::new(Box::new(tracer)));
    tracing::info!(endpoint = %url, "exporting traces over OTLP/HTTP");
    Ok(Exporter(provider))
}

impl Exporter {
    /// Sends the spans not exported yet and stops (on the blocking pool: it waits for the
    /// exporter's thread).
    pub async fn shutdown(self) {
        let provider = self.0;
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "could not send the last spans");
        }
    }
}

/// `endpoint` with the OTLP/HTTP traces path, unless it names a path already.
fn traces_url(endpoint: &str) -> String {
    let trimmed = endpoint.trim().trim_end_matches('/');
    let has_path = trimmed
        .split_once("://")
        .is_some_and(|(_, rest)| rest.contains('/'));
    if has_path {
        trimmed.to_string()
    } else {
        format!("{trimmed}/v1/traces")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn traces_url() {
        assert_eq!(
            super::traces_url("http://collector:4318"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            super::traces_url("http://collector:4318/"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            super::traces_url("https://example.com/otlp/v1/traces"),
            "https://example.com/otlp/v1/traces"
        );
    }
}
