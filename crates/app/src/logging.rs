//! Log output through `tracing`, to standard error so that command output on standard output
//! stays clean for pipes. The same subscriber turns spans into OpenTelemetry spans (see
//! [`crate::telemetry`]); JSON lines carry the trace and span id of the span they were logged in.

use std::fmt;
use std::io::IsTerminal;

use opentelemetry::trace::TraceContextExt as _;
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::{FilterExt as _, filter_fn};
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{LogConfig, LogFormat};
use crate::telemetry::Telemetry;

/// Environment variable whose filter, when set and not empty, replaces `log.filter`.
const FILTER_ENV: &str = "RUST_LOG";

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("log filter {filter:?} from {from} is not valid")]
    BadFilter {
        filter: String,
        from: &'static str,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("installing the log subscriber: {0}")]
    Install(String),
}

/// Installs the global subscriber described by `config`, its spans going to `telemetry`.
pub fn init(config: &LogConfig, telemetry: &Telemetry) -> Result<(), LoggingError> {
    let (filter, from) = match std::env::var(FILTER_ENV) {
        Ok(value) if !value.trim().is_empty() => (value, FILTER_ENV),
        _ => (config.filter.clone(), "log.filter"),
    };
    let parsed = || {
        EnvFilter::try_new(&filter).map_err(|source| LoggingError::BadFilter {
            filter: filter.clone(),
            from,
            source,
        })
    };
    let log_filter = parsed()?;
    // The cloud SDKs make the span of each API call (`RDS.CreateDBInstance`, with `rpc.service`
    // and `rpc.method`) at DEBUG: traces get those spans whatever the log filter says, the log
    // lines do not get the SDKs' debug events.
    let span_filter = parsed()?.or(filter_fn(is_cloud_call));
    let spans = tracing_opentelemetry::layer()
        .with_tracer(telemetry.tracer.clone())
        .with_filter(span_filter);
    let registry = tracing_subscriber::registry().with(spans);
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match config.format {
        LogFormat::Text => registry.with(lines.with_filter(log_filter)).try_init(),
        LogFormat::Json => registry
            .with(
                lines
                    .fmt_fields(JsonFields::new())
                    .event_format(WithTraceIds(tracing_subscriber::fmt::format().json()))
                    .with_filter(log_filter),
            )
            .try_init(),
    };
    installed.map_err(|err| LoggingError::Install(err.to_string()))
}

/// The span an AWS SDK makes around one API call (its operation span; not its inner spans).
fn is_cloud_call(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.is_span()
        && metadata.target().starts_with("aws_sdk_")
        && metadata.fields().field("rpc.method").is_some()
}

/// The JSON line of `tracing-subscriber`, with `trace_id` and `span_id` (W3C hex) added when the
/// event happened inside a span.
struct WithTraceIds(Format<Json>);

impl<S, N> FormatEvent<S, N> for WithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Read before formatting: the formatter holds span extensions while it writes.
        let ids = ctx.lookup_current().map(|_| {
            let cx = tracing::Span::current().context();
            let span = cx.span();
            let sc = span.span_context();
            sc.is_valid()
                .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
        });
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        if let Some(Some((trace_id, span_id))) = ids
            && let Some(end) = line.rfind('}')
        {
            // Hex ids need no escaping.
            line.insert_str(
                end,
                &format!(r#","trace_id":"{trace_id}","span_id":"{span_id}""#),
            );
        }
        writer.write_str(&line)
    }
}
