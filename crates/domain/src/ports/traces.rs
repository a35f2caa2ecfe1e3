/// Carries a trace across the gap between the request that starts an operation and the engine
/// steps that run it later, perhaps after a restart or on another replica: the request's trace
/// context is stored with the operation, and each step's span continues it, so one trace shows a
/// provision from the platform's call to the backend's last request.
///
/// The context is a W3C `traceparent` value (`00-<trace id>-<span id>-<flags>`); it names spans,
/// never carries data, and is not a secret.
pub trait TraceContext: Send + Sync {
    /// The `traceparent` of the current span, or `None` when nothing is traced.
    fn current(&self) -> Option<String>;

    /// Makes `span`, not yet entered, a child of the span `traceparent` names. A value that does
    /// not parse is ignored: the span then starts a trace of its own.
    fn continue_in(&self, span: &tracing::Span, traceparent: &str);
}

/// For processes that export no traces (and tests): nothing is stored, nothing is continued.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTraceContext;

impl TraceContext for NoTraceContext {
    fn current(&self) -> Option<String> {
        None
    }

    fn continue_in(&self, _span: &tracing::Span, _traceparent: &str) {}
}
