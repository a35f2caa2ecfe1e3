//! OpenTelemetry traces: every `tracing` span becomes an OpenTelemetry span, exported over OTLP
//! when an endpoint is configured (`telemetry.otlp.endpoint` or the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`). Without one, spans still
//! get trace and span ids (a W3C `traceparent` a client sends is continued), so log lines can be
//! matched with the traces of the platform that called; nothing is sent anywhere.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use pgbroker_domain::ports::TraceContext;
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The service name when neither `telemetry.service_name` nor `OTEL_SERVICE_NAME` sets one.
const DEFAULT_SERVICE_NAME: &str = "pgbroker";
const SERVICE_NAME_ENV: &str = "OTEL_SERVICE_NAME";
const ENDPOINT_ENVS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];
const PROTOCOL_ENVS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
];

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Trace export over OTLP; off unless an endpoint is set here or in the environment.
    pub otlp: OtlpConfig,
    /// `service.name` of the exported spans; `OTEL_SERVICE_NAME` when unset, else `pgbroker`.
    pub service_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpConfig {
    /// Collector URL, e.g. `http://otel-collector:4317` (gRPC) or `http://otel-collector:4318`
    /// (HTTP; `/v1/traces` is added). When unset, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is used; with neither, no traces are exported.
    pub endpoint: Option<String>,
    /// `grpc` or `http/protobuf`; when unset, `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`, else `grpc`.
    pub protocol: Option<OtlpProtocol>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OtlpProtocol {
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(
        "{variable}={value:?} is not an OTLP protocol pgbroker exports with (grpc, http/protobuf)"
    )]
    BadProtocol {
        variable: &'static str,
        value: String,
    },
    #[error("building the OTLP {protocol} span exporter")]
    Exporter {
        protocol: &'static str,
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
}

/// Where spans go, decided from the configuration and the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// `None`: the exporter reads the `OTEL_*` endpoint variables itself.
    pub endpoint: Option<String>,
    pub protocol: OtlpProtocol,
}

impl TelemetryConfig {
    /// What to export to, or `None` when export is off. `env` reads an environment variable.
    pub fn export(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Export>, TelemetryError> {
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let configured = self.otlp.endpoint.clone().filter(|e| !e.trim().is_empty());
        if configured.is_none() && ENDPOINT_ENVS.iter().all(|name| set(name).is_none()) {
            return Ok(None);
        }
        let protocol = match self.otlp.protocol {
            Some(protocol) => protocol,
            None => match PROTOCOL_ENVS
                .iter()
                .find_map(|name| set(name).map(|v| (*name, v)))
            {
                None => OtlpProtocol::Grpc,
                Some((_, v)) if v.trim() == "grpc" => OtlpProtocol::Grpc,
                Some((_, v)) if v.trim() == "http/protobuf" => OtlpProtocol::HttpProtobuf,
                Some((variable, value)) => {
                    return Err(TelemetryError::BadProtocol { variable, value });
                }
            },
        };
        Ok(Some(Export {
            endpoint: configured,
            protocol,
        }))
    }

    fn service_name(&self) -> Option<String> {
        self.service_name.clone().or_else(|| {
            // The SDK's resource detector reads OTEL_SERVICE_NAME itself.
            std::env::var(SERVICE_NAME_ENV)
                .ok()
                .filter(|v| !v.is_empty())
                .map_or(Some(DEFAULT_SERVICE_NAME.to_string()), |_| None)
        })
    }
}

/// The installed tracer provider; [`Telemetry::shutdown`] sends what is still buffered.
pub struct Telemetry {
    provider: SdkTracerProvider,
    pub tracer: SdkTracer,
    pub exporting: Option<Export>,
}

impl Telemetry {
    /// Builds the provider. Must run inside the Tokio runtime (the gRPC client starts on it).
    pub fn new(config: &TelemetryConfig) -> Result<Self, TelemetryError> {
        let exporting = config.export(|name| std::env::var(name).ok())?;
        let mut resource = Resource::builder();
        if let Some(name) = config.service_name() {
            resource = resource.with_service_name(name);
        }
        let mut builder = SdkTracerProvider::builder().with_resource(resource.build());
        if let Some(export) = &exporting {
            builder = builder.with_batch_exporter(exporter(export)?);
        }
        let provider = builder.build();
        let tracer = provider.tracer("pgbroker");
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        Ok(Self {
            provider,
            tracer,
            exporting,
        })
    }

    /// Exports the spans still buffered and stops the exporter.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            // Stderr, not tracing: the subscriber may already be gone.
            eprintln!("warning: exporting the last spans failed: {e}");
        }
    }
}

fn exporter(export: &Export) -> Result<SpanExporter, TelemetryError> {
    let built = match export.protocol {
        OtlpProtocol::Grpc => {
            let builder = SpanExporter::builder().with_tonic();
            match &export.endpoint {
                Some(endpoint) => builder.with_endpoint(endpoint.clone()).build(),
                None => builder.build(),
            }
        }
        OtlpProtocol::HttpProtobuf => {
            let builder = SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary);
            match &export.endpoint {
                // Like OTEL_EXPORTER_OTLP_ENDPOINT, the configured URL is the collector's base.
                Some(endpoint) => builder
                    .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
                    .build(),
                None => builder.build(),
            }
        }
    };
    built.map_err(|source| TelemetryError::Exporter {
        protocol: match export.protocol {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
        },
        source,
    })
}

/// Continues the trace of a W3C `traceparent` (and `tracestate`) request header in `span`, the
/// span of the request; the OSB door calls it before the request's first event.
pub fn continue_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    if !headers.contains_key(TRACEPARENT) {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    // Fails only when the span is disabled or already started: then there is nothing to do.
    let _ = span.set_parent(parent);
}

/// The domain's [`TraceContext`] over the OpenTelemetry layer: an operation keeps the
/// `traceparent` of the span that started it, and its steps' spans continue it.
#[derive(Debug, Clone, Copy, Default)]
pub struct OtelTraceContext;

impl TraceContext for OtelTraceContext {
    fn current(&self) -> Option<String> {
        let context = tracing::Span::current().context();
        let mut carrier = HashMap::new();
        // Writes nothing for a span OpenTelemetry does not know (no valid span context).
        TraceContextPropagator::new().inject_context(&context, &mut carrier);
        carrier.remove(TRACEPARENT)
    }

    fn continue_in(&self, span: &tracing::Span, traceparent: &str) {
        let carrier = HashMap::from([(TRACEPARENT.to_string(), traceparent.to_string())]);
        let parent = TraceContextPropagator::new().extract(&carrier);
        if parent.span().span_context().is_valid() {
            // Fails only when the span is disabled or already started: nothing to continue then.
            let _ = span.set_parent(parent);
        }
    }
}

const TRACEPARENT: &str = "traceparent";

struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn export_is_off_without_an_endpoint() {
        let config = TelemetryConfig::default();
        assert_eq!(config.export(env(&[])).unwrap(), None);
        let blank = [("OTEL_EXPORTER_OTLP_ENDPOINT", " ")];
        assert_eq!(config.export(env(&blank)).unwrap(), None);
    }

    #[test]
    fn the_standard_variables_turn_export_on_and_pick_the_protocol() {
        let config = TelemetryConfig::default();
        let vars = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")];
        assert_eq!(
            config.export(env(&vars)).unwrap(),
            Some(Export {
                endpoint: None,
                protocol: OtlpProtocol::Grpc
            })
        );
        let vars = [
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://c:4318/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ];
        let export = config.export(env(&vars)).unwrap().unwrap();
        assert_eq!(export.protocol, OtlpProtocol::HttpProtobuf);
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ];
        let err = config.export(env(&vars)).unwrap_err().to_string();
        assert!(err.contains("http/json"), "{err}");
    }

    #[test]
    fn the_configuration_wins_over_the_environment() {
        let config = TelemetryConfig {
            otlp: OtlpConfig {
                endpoint: Some("http://mine:4318".into()),
                protocol: Some(OtlpProtocol::HttpProtobuf),
            },
            service_name: None,
        };
        let vars = [("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")];
        assert_eq!(
            config.export(env(&vars)).unwrap(),
            Some(Export {
                endpoint: Some("http://mine:4318".into()),
                protocol: OtlpProtocol::HttpProtobuf
            })
        );
    }
}
