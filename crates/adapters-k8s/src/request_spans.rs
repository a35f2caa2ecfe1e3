//! A span per Kubernetes API request the backend or the operator makes inside a traced piece of
//! work (an engine step, a reconcile), with the request's W3C `traceparent` header, so the API
//! server's own traces (its `APIServerTracing` feature) join the broker's. Requests made outside
//! any span, such as the watches that keep the caches, are passed through untouched: they are
//! not part of any one operation, and a watch lasting minutes would only make noise.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use pgbroker_domain::ports::TraceContext;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::field::Empty;

/// The layer that adds the spans; `traces` writes the `traceparent` of each.
#[derive(Clone)]
pub struct RequestSpans {
    traces: Arc<dyn TraceContext>,
}

impl RequestSpans {
    pub fn new(traces: Arc<dyn TraceContext>) -> Self {
        Self { traces }
    }
}

impl<S> Layer<S> for RequestSpans {
    type Service = Spanned<S>;

    fn layer(&self, inner: S) -> Spanned<S> {
        Spanned {
            inner,
            traces: self.traces.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Spanned<S> {
    inner: S,
    traces: Arc<dyn TraceContext>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> Service<Request<B>> for Spanned<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if tracing::Span::current().is_none() {
            return Box::pin(self.inner.call(request));
        }
        let target = Target::of(request.uri().path());
        let span = tracing::info_span!(
            "k8s.request",
            otel.name = %format_args!("k8s {} {}", request.method(), target.resource),
            otel.kind = "client",
            http.request.method = %request.method(),
            url.path = request.uri().path(),
            k8s.resource = target.resource,
            k8s.namespace = target.namespace,
            http.response.status_code = Empty,
            otel.status_code = Empty,
        );
        let traceparent = span.in_scope(|| self.traces.current());
        if let Some(value) = traceparent.and_then(|v| HeaderValue::from_str(&v).ok()) {
            request.headers_mut().insert("traceparent", value);
        }
        let sent = self.inner.call(request);
        let recorded = span.clone();
        Box::pin(
            async move {
                let answered = sent.await;
                match &answered {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        recorded.record("http.response.status_code", status);
                        // A 404 or 409 is an answer the backend acts on, not a failure.
                        if status >= 500 {
                            recorded.record("otel.status_code", "ERROR");
                        }
                    }
                    Err(_) => {
                        recorded.record("otel.status_code", "ERROR");
                    }
                }
                answered
            }
            .instrument(span),
        )
    }
}

/// The resource and namespace a request path names (`/api/v1/namespaces/ns/secrets/x`,
/// `/apis/group/version/...`); empty for discovery and other non-resource paths.
#[derive(Debug, PartialEq, Eq)]
struct Target<'a> {
    resource: &'a str,
    namespace: &'a str,
}

impl<'a> Target<'a> {
    fn of(path: &'a str) -> Self {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let rest = match segments.as_slice() {
            ["api", _version, rest @ ..] => rest,
            ["apis", _group, _version, rest @ ..] => rest,
            _ => &[],
        };
        match rest {
            ["namespaces", namespace, resource, ..] => Self {
                resource,
                namespace,
            },
            [resource, ..] => Self {
                resource,
                namespace: "",
            },
            [] => Self {
                resource: "",
                namespace: "",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_names_its_resource_and_namespace() {
        let of = |path| {
            let t = Target::of(path);
            (t.resource, t.namespace)
        };
        assert_eq!(of("/api/v1/namespaces/ns/secrets/x"), ("secrets", "ns"));
        assert_eq!(
            of("/apis/postgresql.cnpg.io/v1/namespaces/ns/clusters/c/status"),
            ("clusters", "ns")
        );
        // A namespace itself, and a list of every namespace.
        assert_eq!(of("/api/v1/namespaces/pg-1"), ("namespaces", ""));
        assert_eq!(of("/api/v1/namespaces"), ("namespaces", ""));
        assert_eq!(
            of("/apis/pgbroker.io/v1alpha1/postgresqlservers"),
            ("postgresqlservers", "")
        );
        assert_eq!(of("/version"), ("", ""));
        assert_eq!(of("/apis"), ("", ""));
    }
}
