//! Every request: a tracing span carrying the request identity (so every log line of the request
//! has it), the identity echoed back, and Prometheus counts and latency by route template and status.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::future::{Either, Ready, ready};
use pgbroker_domain::Reason;
use pin_project_lite::pin_project;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};
use tower::{Layer, Service};
use tracing::Span;

use crate::error::{ApiError, FailureReason};
use crate::headers::{REQUEST_IDENTITY, RequestIdentity};

/// Told the reason of every request that failed with one (the app counts them in
/// `pgbroker_failures_total`, beside the operations that failed).
pub type OnFailure = Arc<dyn Fn(Reason) + Send + Sync>;

/// Called with each request's span and headers before anything is logged in it: the app
/// continues a trace the caller sent (W3C `traceparent`) there, so this door stays free of the
/// tracing backend.
pub type OnRequestSpan = Arc<dyn Fn(&Span, &axum::http::HeaderMap) + Send + Sync>;

/// Request metrics, registered in the registry `/metrics` serves.
#[derive(Clone)]
pub struct HttpMetrics {
    /// Tells this instance's series apart in the per-thread cache (tests build many routers).
    id: usize,
    requests: IntCounterVec,
    latency: HistogramVec,
    on_failure: Option<OnFailure>,
}

/// One series of each metric: a request's route, method and status.
struct Series {
    requests: IntCounter,
    latency: Histogram,
}

/// Series keyed by (metrics id, status, method), then route template.
type SeriesCache = HashMap<(usize, u16, &'static str), HashMap<Box<str>, Series>>;

thread_local! {
    /// Series already looked up on this thread. Looking one up (`with_label_values`) hashes the
    /// labels and takes a lock every thread shares; in the load benchmark that was a fifth of
    /// the time of `GET /v2/catalog`. Bounded: route templates, methods (see [`method_label`])
    /// and status codes are each a short list.
    static SERIES: RefCell<SeriesCache> = RefCell::new(HashMap::new());
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

impl HttpMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "pgbroker_http_requests_total",
                "HTTP requests by route template, method and status code",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "pgbroker_http_request_duration_seconds",
                "HTTP request latency by route template and method",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0, 60.0,
            ]),
            &["route", "method"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            requests,
            latency,
            on_failure: None,
        })
    }

    /// Reports the reason of each failed request to `on_failure`.
    pub fn with_on_failure(mut self, on_failure: Option<OnFailure>) -> Self {
        self.on_failure = on_failure;
        self
    }

    fn failed(&self, reason: Reason) {
        if let Some(on_failure) = &self.on_failure {
            on_failure(reason);
        }
    }

    fn record(&self, route: &str, method: &Method, status: StatusCode, seconds: f64) {
        let method = method_label(method);
        SERIES.with_borrow_mut(|cache| {
            let routes = cache.entry((self.id, status.as_u16(), method)).or_default();
            if !routes.contains_key(route) {
                let series = Series {
                    requests: self
                        .requests
                        .with_label_values(&[route, method, status.as_str()]),
                    latency: self.latency.with_label_values(&[route, method]),
                };
                routes.insert(route.into(), series);
            }
            if let Some(series) = routes.get(route) {
                series.requests.inc();
                series.latency.observe(seconds);
            }
        });
    }
}

/// The method as a label: a client can send any token as a method, and each would be a new
/// series for as long as the process lives.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Observes every route (`Router::layer` wraps each route, so the matched route template is
/// known). A tower service rather than `middleware::from_fn`, which clones and boxes the rest
/// of the route's stack for every request: in the load benchmark that, not the work below,
/// was most of the difference between `GET /v2/catalog` and a bare handler.
#[derive(Clone)]
pub struct ObserveLayer {
    metrics: Option<Arc<HttpMetrics>>,
    on_span: Option<OnRequestSpan>,
}

impl ObserveLayer {
    pub fn new(metrics: Option<Arc<HttpMetrics>>) -> Self {
        Self {
            metrics,
            on_span: None,
        }
    }

    /// Calls `on_span` with each request's span (see [`OnRequestSpan`]).
    pub fn with_on_span(mut self, on_span: Option<OnRequestSpan>) -> Self {
        self.on_span = on_span;
        self
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            metrics: self.metrics.clone(),
            on_span: self.on_span.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Option<Arc<HttpMetrics>>,
    on_span: Option<OnRequestSpan>,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Observed<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        let identity = RequestIdentity::of(&req);
        // Route templates, not paths: instance ids would make one series per instance.
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = req.method().clone();
        let route_text = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
        // `otel.*` and `http.*` name the span the way OpenTelemetry's HTTP conventions do.
        let span = tracing::info_span!(
            "request",
            otel.name = %format_args!("{} {}", method_label(&method), route_text),
            otel.kind = "server",
            request_identity = %identity,
            method = %method,
            route = %route_text,
            http.response.status_code = tracing::field::Empty,
        );
        if let Some(on_span) = &self.on_span {
            on_span(&span, req.headers());
        }
        let called = span.in_scope(|| catch_unwind(AssertUnwindSafe(|| self.inner.call(req))));
        let inner = match called {
            Ok(future) => Either::Right(future),
            Err(_) => Either::Left(ready(Ok(span.in_scope(panicked)))),
        };
        Observed {
            inner,
            span,
            started,
            identity,
            route,
            method,
            metrics: self.metrics.clone(),
        }
    }
}

const UNMATCHED: &str = "unmatched";

/// A bug must not leave the platform with an empty 500 (nor take the server down); the request
/// is still logged and counted, as a 500.
fn panicked() -> Response {
    tracing::error!("a request handler panicked");
    ApiError::coded(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "the broker hit an internal error; the request may be retried",
    )
    .into_response()
}

pin_project! {
    /// A route's response future, observed.
    pub struct Observed<F, E> {
        #[pin]
        inner: Either<Ready<Result<Response, E>>, F>,
        span: Span,
        started: Instant,
        // A platform's is echoed back.
        identity: RequestIdentity,
        route: Option<MatchedPath>,
        method: Method,
        metrics: Option<Arc<HttpMetrics>>,
    }
}

impl<F, E> Future for Observed<F, E>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.span.enter();
            // After a panic the future is not polled again: this poll returns the 500.
            match catch_unwind(AssertUnwindSafe(|| this.inner.poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(result)) => result,
                Err(_) => Ok(panicked()),
            }
        };
        let mut response = match result {
            Ok(response) => response,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let status = response.status();
        let elapsed = this.started.elapsed();
        this.span
            .record("http.response.status_code", status.as_u16());
        this.span.in_scope(|| {
            tracing::info!(
                status = status.as_u16(),
                elapsed_ms = elapsed.as_secs_f64() * 1000.0,
                "request served"
            );
        });
        if let RequestIdentity::Platform(value) = this.identity {
            response
                .headers_mut()
                .insert(REQUEST_IDENTITY, value.clone());
        }
        if let Some(metrics) = this.metrics {
            let route = this.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
            metrics.record(route, this.method, status, elapsed.as_secs_f64());
            if let Some(FailureReason(reason)) = response.extensions().get::<FailureReason>() {
                metrics.failed(*reason);
            }
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(registry: &Registry, route: &str, method: &str, status: &str) -> u64 {
        let families = registry.gather();
        let family = families
            .iter()
            .find(|f| f.name() == "pgbroker_http_requests_total")
            .unwrap();
        family
            .get_metric()
            .iter()
            .filter(|m| {
                let label = |name: &str| {
                    m.get_label()
                        .iter()
                        .find(|l| l.name() == name)
                        .map(|l| l.value().to_owned())
                };
                label("route").as_deref() == Some(route)
                    && label("method").as_deref() == Some(method)
                    && label("status").as_deref() == Some(status)
            })
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
    }

    #[test]
    fn each_registry_counts_its_own_requests_through_the_thread_cache() {
        let (a, b) = (Registry::new(), Registry::new());
        let (metrics_a, metrics_b) = (HttpMetrics::new(&a).unwrap(), HttpMetrics::new(&b).unwrap());
        for _ in 0..3 {
            metrics_a.record("/v2/catalog", &Method::GET, StatusCode::OK, 0.001);
        }
        metrics_b.record("/v2/catalog", &Method::GET, StatusCode::OK, 0.001);
        metrics_b.record("/v2/catalog", &Method::GET, StatusCode::UNAUTHORIZED, 0.001);
        assert_eq!(count(&a, "/v2/catalog", "GET", "200"), 3);
        assert_eq!(count(&b, "/v2/catalog", "GET", "200"), 1);
        assert_eq!(count(&b, "/v2/catalog", "GET", "401"), 1);
        assert_eq!(count(&a, "/v2/catalog", "GET", "401"), 0);
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let registry = Registry::new();
        let metrics = HttpMetrics::new(&registry).unwrap();
        for method in [&b"FOO"[..], b"BAR"] {
            let method = Method::from_bytes(method).unwrap();
            metrics.record("unmatched", &method, StatusCode::NOT_FOUND, 0.001);
        }
        assert_eq!(count(&registry, "unmatched", "OTHER", "404"), 2);
        assert_eq!(method_label(&Method::DELETE), "DELETE");
    }
}
