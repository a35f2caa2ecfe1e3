//! Every request: a tracing span carrying the request identity (so every log line of the request
//! has it), the identity echoed back, and Prometheus counts and latency by route template and status.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tracing::Instrument;

use crate::headers::{REQUEST_IDENTITY, request_identity};

/// Request metrics, registered in the registry `/metrics` serves.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    latency: HistogramVec,
}

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
        Ok(Self { requests, latency })
    }
}

/// Middleware around every route.
pub async fn observe(
    State(metrics): State<Option<Arc<HttpMetrics>>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let (identity, from_platform) = request_identity(&req);
    // Route templates, not paths: instance ids would make one series per instance.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_identity = %identity,
        method = %method,
        route = %route,
    );
    let mut response = next.run(req).instrument(span.clone()).await;
    let status = response.status();
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request served"
        );
    });
    if from_platform && let Ok(value) = HeaderValue::from_str(&identity) {
        response.headers_mut().insert(REQUEST_IDENTITY, value);
    }
    if let Some(metrics) = metrics {
        metrics
            .requests
            .with_label_values(&[route, method.as_str(), status.as_str()])
            .inc();
        metrics
            .latency
            .with_label_values(&[route, method.as_str()])
            .observe(elapsed.as_secs_f64());
    }
    response
}
